// CUDA backend, host side: one persistent kernel per device actor type (one 32-thread block per actor slot),
// inboxes (H2K) and K2H rings in pinned mapped memory using the core ring layout, lifecycle commands through
// each slot's mapped control block, and one pump thread that delivers K2H traffic to the runtime (replies to
// calls, host receive queues), applies due lifecycle commands and notices device-side failures.
// Only the CUDA runtime API is used (cudart is linked statically and loads the driver at run time), so
// programs built with this backend still start on machines without a GPU; the backend then reports itself
// unavailable.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime_state.hpp"
#include "ringkernel/cuda/slot.hpp"

namespace ringkernel::cuda {

namespace {
std::mutex& entries_mu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, DeviceActorEntry>& entries() {
  static std::map<std::string, DeviceActorEntry> m;
  return m;
}
} // namespace

bool register_device_actor_entry(const DeviceActorEntry& entry) {
  std::lock_guard lk(entries_mu());
  entries()[entry.type_key] = entry;
  return true;
}

} // namespace ringkernel::cuda

namespace ringkernel::detail {
namespace {

using cuda::SlotCommand;
using cuda::SlotControl;
using cuda::SlotDescriptor;

Error cuda_error(cudaError_t e, const std::string& what) {
  return make_error(ErrorCode::BackendUnavailable, std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e),
                    "cuda: " + what);
}

// The per-thread local memory (stack) the device reserves for kernels is one process-wide setting. A launch
// that needs more makes the driver grow it, and growing it waits for every kernel already running: next to
// persistent actor kernels that is forever (a hang in launch, not an error). So a runtime reserves enough for
// every registered actor kernel before it launches any, and a launch that would still need more fails.
struct StackReserve {
  std::mutex mu;
  std::map<int, std::uint32_t> live_kernels;  // per device: persistent kernels of this process that may still run
};
StackReserve& stack_reserve() {
  static StackReserve r;
  return r;
}
// What a kernel of `local_bytes` local memory per thread gets reserved: with headroom, because the figure is
// the kernel's own frame and a handler calling non-inlined device functions needs their frames too.
std::size_t stack_with_headroom(std::size_t local_bytes) { return (local_bytes + 256 + 255) / 256 * 256; }
// Checks, with StackReserve::mu held, that the current device reserves at least `bytes` of local memory per
// thread, growing the reservation when no persistent kernel runs on it; an error names `who` otherwise.
Status reserve_stack_locked(int device, std::size_t bytes, const std::string& who) {
  std::size_t reserved = 0;
  if (auto e = cudaDeviceGetLimit(&reserved, cudaLimitStackSize); e != cudaSuccess) {
    return cuda_error(e, "stack size limit");
  }
  if (bytes <= reserved) return {};
  if (stack_reserve().live_kernels[device] != 0) {
    return make_error(ErrorCode::BackendUnavailable,
                      who + " needs " + std::to_string(bytes) + " bytes of local memory per thread, more than the " +
                          std::to_string(reserved) +
                          " the device reserves, and growing that reservation would wait forever for the running "
                          "persistent actor kernels (actor types registered before the runtime is built are "
                          "reserved for up front)",
                      "cuda launch");
  }
  if (auto e = cudaDeviceSetLimit(cudaLimitStackSize, bytes); e != cudaSuccess) {
    return cuda_error(e, std::to_string(bytes) + " bytes of stack per thread for " + who);
  }
  return {};
}
Status reserve_stack(int device, std::size_t bytes, const std::string& who) {
  std::lock_guard lk(stack_reserve().mu);
  return reserve_stack_locked(device, bytes, who);
}

// Pinned mapped memory for rings. One arena is allocated before any kernel starts and carved up first-fit:
// cudaHostAlloc costs ~100 us (actor creation latency), and freeing pinned memory may synchronize with the
// device, which never finishes while persistent kernels run. Overflow allocations come from cudaHostAlloc and
// their frees are parked until the kernels have stopped.
struct MappedPool {
  std::mutex mu;
  std::byte* base = nullptr;
  std::size_t size = 0;
  std::map<std::size_t, std::size_t> free_blocks;  // offset -> length
  std::map<std::size_t, std::size_t> used_blocks;  // offset -> length
  std::vector<void*> parked;
  std::ptrdiff_t device_delta = 0;  // device pointer - host pointer of the arena (mapped memory)
  std::size_t used_bytes() {
    std::lock_guard lk(mu);
    std::size_t n = 0;
    for (const auto& [off, len] : used_blocks) n += len;
    return n;
  }
  bool kernels_stopped = false;
  bool kernels_stuck = false;

  // First fit from the bottom; `high`: from the top instead, for the small control blocks of rings. A control
  // block outlives its ring's slots (see OwnedRing::release_slots), so packing them at the top keeps them from
  // splitting the holes that slots leave for the next ring of the same geometry.
  void* take(std::size_t bytes, bool high = false) {
    bytes = (bytes + 255) / 256 * 256;
    std::lock_guard lk(mu);
    const auto carve = [&](auto it, bool from_top) -> void* {
      const std::size_t off = it->first;
      const std::size_t len = it->second;
      free_blocks.erase(it);
      const std::size_t at = from_top ? off + len - bytes : off;
      if (len > bytes) free_blocks.emplace(from_top ? off : off + bytes, len - bytes);
      used_blocks.emplace(at, bytes);
      return base + at;  // zero: the arena starts cleared and give_back clears what comes back
    };
    if (high) {
      for (auto it = free_blocks.rbegin(); it != free_blocks.rend(); ++it) {
        if (it->second >= bytes) return carve(std::prev(it.base()), true);
      }
      return nullptr;
    }
    for (auto it = free_blocks.begin(); it != free_blocks.end(); ++it) {
      if (it->second >= bytes) return carve(it, false);
    }
    return nullptr;
  }
  // `clear`: zero the block for its next user (host memory only; a block that was never written needs none).
  bool give_back(void* p, bool clear = true) {
    auto* b = static_cast<std::byte*>(p);
    std::size_t off = 0, len = 0;
    {
      std::lock_guard lk(mu);
      if (base == nullptr || b < base || b >= base + size) return false;
      auto used = used_blocks.find(static_cast<std::size_t>(b - base));
      if (used == used_blocks.end()) return true;
      off = used->first;
      len = used->second;
      used_blocks.erase(used);
    }
    // Cleared here, off the path of creating an actor (a ring's LL slots must not hold an earlier ring's flags),
    // and outside the lock, so that a concurrent take() does not wait for it. Meanwhile the block is neither
    // used nor free.
    if (clear) std::memset(b, 0, len);
    std::lock_guard lk(mu);
    auto [it, inserted] = free_blocks.emplace(off, len);
    auto next = std::next(it);
    if (next != free_blocks.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_blocks.erase(next);
    }
    if (it != free_blocks.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_blocks.erase(it);
      }
    }
    return true;
  }
};

// cudaFree and cudaFreeHost wait for the whole device to go idle, which never happens while any runtime's
// persistent kernels run: with two CUDA runtimes in one process, the first to shut down would hang in a free.
// So frees wait here until no executor of the process has kernels that may be running.
class DeviceGraveyard {
public:
  static DeviceGraveyard& get() {
    static DeviceGraveyard g;
    return g;
  }
  // An executor may launch kernels from now on.
  void executor_started() {
    std::lock_guard lk(mu_);
    ++running_;
  }
  // Its kernels all left (a stuck executor never calls this: nothing is freed after it, deliberately).
  void executor_stopped() {
    std::lock_guard lk(mu_);
    if (running_ > 0) --running_;
    if (running_ == 0) flush_locked();
  }
  void free_host(void* p) { defer(p, true); }
  void free_device(void* p) { defer(p, false); }

private:
  void defer(void* p, bool host) {
    if (p == nullptr) return;
    std::lock_guard lk(mu_);
    pending_.emplace_back(p, host);
    if (running_ == 0) flush_locked();
  }
  void flush_locked() {
    for (auto [p, host] : pending_) (void)(host ? cudaFreeHost(p) : cudaFree(p));
    pending_.clear();
  }
  std::mutex mu_;
  int running_ = 0;
  std::vector<std::pair<void*, bool>> pending_;
};

void* mapped_alloc_at(std::size_t bytes, void* ctx, bool high) {
  auto* pool = static_cast<MappedPool*>(ctx);
  if (void* p = pool->take(bytes, high)) return p;
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocMapped | cudaHostAllocPortable) != cudaSuccess) return nullptr;
  std::memset(p, 0, bytes);
  return p;
}
void* mapped_alloc(std::size_t bytes, void* ctx) { return mapped_alloc_at(bytes, ctx, false); }
void* mapped_control_alloc(std::size_t bytes, void* ctx) { return mapped_alloc_at(bytes, ctx, true); }
void mapped_free(void* p, void* ctx) {
  auto* pool = static_cast<MappedPool*>(ctx);
  if (pool->give_back(p)) return;
  std::lock_guard lk(pool->mu);
  if (pool->kernels_stopped) DeviceGraveyard::get().free_host(p);
  else if (!pool->kernels_stuck) pool->parked.push_back(p);
  // kernels_stuck: a kernel never left; freeing could hang, so the memory is deliberately leaked.
}

// A view with device pointers for mapped memory (identical to host pointers under UVA, asked anyway): rings in
// the mapped arena are offset as the arena is (asked once; the driver call costs microseconds per create).
// The control block and the slots are mapped separately: a split ring's two allocations may come one from
// the arena, one from cudaHostAlloc.
Result<RingView> device_view(const RingView& host, const MappedPool& arena) {
  const auto delta_of = [&](const void* ptr) -> Result<std::ptrdiff_t> {
    const auto* p = static_cast<const std::byte*>(ptr);
    if (arena.base != nullptr && p >= arena.base && p < arena.base + arena.size) return arena.device_delta;
    void* dev = nullptr;
    if (auto e = cudaHostGetDevicePointer(&dev, const_cast<void*>(ptr), 0); e != cudaSuccess) {
      return cuda_error(e, "map ring");
    }
    return static_cast<std::byte*>(dev) - p;
  };
  auto control = delta_of(host.control);
  if (!control) return control.error();
  auto slots = delta_of(host.slots);
  if (!slots) return slots.error();
  RingView d = host;
  d.control = reinterpret_cast<RingControl*>(reinterpret_cast<std::byte*>(host.control) + *control);
  d.seq = host.seq != nullptr ? reinterpret_cast<std::uint64_t*>(reinterpret_cast<std::byte*>(host.seq) + *control)
                              : nullptr;
  d.slots = host.slots + *slots;
  return d;
}

struct Group;

// Set while this thread is inside RuntimeState::drain for the CUDA executor (or is its pump thread).
thread_local bool t_in_drain = false;

struct DeviceCell {
  Group* group = nullptr;
  std::uint32_t slot = 0;
  RingView k2k{};  // device-memory inbox other device actors send to
  OwnedRing k2h;
  std::mutex consume_mu;  // one consumer of k2h at a time: the pump, or a caller/receiver polling directly
  SpscConsumer consumer;
  std::uint64_t cmd_seq = 0;
  bool failure_reported = false;
  bool loaded = false;  // its K2K inbox exists (built by the block on the first Load)
  bool k2k_reused = false;  // the K2K inbox was a terminated actor's: the first Load reopens it
  bool k2k_closed = false;  // Close acknowledged: the inbox is read out and refuses senders (recyclable)
  std::uint64_t load_word = 0;  // command word of the last Load sent (0: none yet, the block never touched the slot)
  bool released = false;  // the slot was given back (under consume_mu): its control block is another actor's
  bool unloaded = false;  // the last Unload was acknowledged and no Load followed: the block no longer uses the rings
  // LL replies decoded for delivery (under consume_mu): up to 256 per batch, at most 64 KiB; not cleared (it is
  // allocated while an actor is created, and every byte read was decoded first).
  std::size_t decoded_bytes;
  std::unique_ptr<std::byte[]> decoded;
  DeviceCell(OwnedRing ring)
      : k2h(std::move(ring)), consumer(k2h.view()),
        decoded_bytes(std::size_t{k2h.view().slot_size} *
                      std::clamp<std::uint32_t>(65536u / k2h.view().slot_size, 1u, 256u)),
        decoded(std::make_unique_for_overwrite<std::byte[]>(decoded_bytes)) {}
};

struct Group {
  cuda::DeviceActorEntry entry;
  cuda::KernelShape shape;          // shared-memory layout and warps per block of this type's kernel
  std::uint32_t slots = 0;
  std::size_t stride = 0;
  cudaStream_t stream = nullptr;
  SlotControl* ctl = nullptr;       // mapped, host pointer
  SlotControl* ctl_dev = nullptr;   // same memory, device pointer
  // Descriptors and initial states live in mapped memory: (re)loading an actor is host stores plus one
  // command, with no copy-engine round trip (the block reads them over PCIe once per Load).
  SlotDescriptor* desc = nullptr;   // mapped, host pointer
  SlotDescriptor* desc_dev = nullptr;
  std::byte* init = nullptr;        // mapped, host pointer, slots * stride; null for in-place (large) states
  std::byte* init_dev = nullptr;
  bool in_place = false;            // states above kInPlaceStateBytes: the host copies them into `state`
  std::byte* failed = nullptr;      // mapped, host pointer, slots * kMaxStagedSlot: each slot's failing message
  std::byte* failed_dev = nullptr;
  std::byte* state = nullptr;       // device memory, slots * stride
  std::byte* cmirror = nullptr;     // device memory, slots * shape.cluster_inbox_bytes (clusters only)
  std::vector<ActorCell*> occupant;
};

class CudaExecutor final : public Executor {
public:
  CudaExecutor(RuntimeState& rt, int device) : rt_(rt), device_(device) {}

  Status init() {
    DeviceGraveyard::get().executor_started();  // balanced by a clean stop()
    started_ = true;
    if (auto e = cudaSetDevice(device_); e != cudaSuccess) return cuda_error(e, "cudaSetDevice");
    if (auto e = cudaGetDeviceProperties(&prop_, device_); e != cudaSuccess) return cuda_error(e, "properties");
    if (prop_.canMapHostMemory == 0) {
      return make_error(ErrorCode::BackendUnavailable, "device cannot map host memory", "cuda");
    }
    if (auto e = cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking); e != cudaSuccess) {
      return cuda_error(e, "copy stream");
    }
    const std::size_t arena = rt_.cfg.cuda_mapped_arena_mb * std::size_t{1} << 20;
    if (arena != 0) {
      void* p = nullptr;
      if (auto e = cudaHostAlloc(&p, arena, cudaHostAllocMapped | cudaHostAllocPortable); e != cudaSuccess) {
        return cuda_error(e, "mapped ring arena of " + std::to_string(rt_.cfg.cuda_mapped_arena_mb) + " MiB");
      }
      std::memset(p, 0, arena);  // handed out as zeroed memory (MappedPool::take)
      pool_->base = static_cast<std::byte*>(p);
      pool_->size = arena;
      pool_->free_blocks.emplace(0, arena);
      void* mapped = nullptr;
      if (auto e = cudaHostGetDevicePointer(&mapped, p, 0); e != cudaSuccess) return cuda_error(e, "map ring arena");
      pool_->device_delta = static_cast<std::byte*>(mapped) - static_cast<std::byte*>(p);
      // Device-memory arena for K2K inboxes; allocated before any persistent kernel runs (cudaMalloc and
      // cudaFree may wait for the device, which never goes idle while actors run).
      void* dp = nullptr;
      if (auto e = cudaMalloc(&dp, arena); e != cudaSuccess) return cuda_error(e, "device ring arena");
      dev_pool_->base = static_cast<std::byte*>(dp);
      dev_pool_->size = arena;
      dev_pool_->free_blocks.emplace(0, arena);
    }
    route_count_ = rt_.cfg.max_actors + 1;
    if (auto e = cudaMalloc(reinterpret_cast<void**>(&routes_), sizeof(RingView) * route_count_); e != cudaSuccess) {
      return cuda_error(e, "K2K routing table");
    }
    // Asynchronous on the copy stream: a synchronous cudaMemset runs on the legacy stream, which another
    // runtime's persistent kernels could make wait forever (it did under compute-sanitizer).
    if (auto e = cudaMemsetAsync(routes_, 0, sizeof(RingView) * route_count_, copy_stream_); e != cudaSuccess) {
      return cuda_error(e, "K2K routing table");
    }
    if (auto e = cudaMalloc(reinterpret_cast<void**>(&croutes_), sizeof(cuda::ClusterRoute) * route_count_);
        e != cudaSuccess) {
      return cuda_error(e, "cluster routing table");
    }
    if (auto e = cudaMemsetAsync(croutes_, 0, sizeof(cuda::ClusterRoute) * route_count_, copy_stream_);
        e != cudaSuccess) {
      return cuda_error(e, "cluster routing table");
    }
    // Per actor id, the tenant its route belongs to (kUnroutedTenant, all bytes 0xff, until one is published).
    if (auto e = cudaMalloc(reinterpret_cast<void**>(&route_tenants_), sizeof(std::uint32_t) * route_count_);
        e != cudaSuccess) {
      return cuda_error(e, "route tenants");
    }
    if (auto e = cudaMemsetAsync(route_tenants_, 0xff, sizeof(std::uint32_t) * route_count_, copy_stream_);
        e != cudaSuccess) {
      return cuda_error(e, "route tenants");
    }
    if (auto e = cudaStreamSynchronize(copy_stream_); e != cudaSuccess) return cuda_error(e, "routing tables");
    if (rt_.cfg.cuda_cluster_size > 1 && prop_.major < 9) {
      return make_error(ErrorCode::BackendUnavailable,
                        std::string("cuda_cluster_size > 1 needs thread-block clusters (compute capability 9.0+); ") +
                            prop_.name + " is " + std::to_string(prop_.major) + "." + std::to_string(prop_.minor),
                        "cuda");
    }
    // Load every registered actor kernel now. With CUDA's lazy module loading, the first launch of a kernel
    // loads its module, which waits for the device to go idle - and a device running persistent actor
    // kernels never does, so a second actor type launched later would hang.
    std::size_t most_local = 0;
    {
      std::lock_guard ek(cuda::entries_mu());
      for (const auto& [key, entry] : cuda::entries()) {
        cudaFuncAttributes attr{};
        if (auto e = cudaFuncGetAttributes(&attr, entry.kernel); e != cudaSuccess) {
          return cuda_error(e, std::string("load actor kernel ") + key);
        }
        most_local = std::max(most_local, attr.localSizeBytes);
        const auto shape = shape_of(entry);
        if (auto e = cudaFuncSetAttribute(entry.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(shape.block_bytes()));
            e != cudaSuccess) {
          return cuda_error(e, std::string("shared memory attribute of ") + key + " (" +
                                   std::to_string(shape.block_bytes()) + " bytes per block)");
        }
      }
    }
    // Best effort: when it cannot be reserved now (memory, or another runtime's kernels running), the launch
    // of an actor type that needs it grows it then or says why it cannot.
    if (!reserve_stack(device_, stack_with_headroom(most_local), "the registered actor kernels")) {
      (void)cudaGetLastError();
    }
    pump_ = std::thread([this] { pump(); });
    return {};
  }

  ~CudaExecutor() override {
    stop(std::chrono::steady_clock::now() + std::chrono::seconds(2));
    // Rings carved from the arena belong to cells the runtime destroys before its executor; the arena goes
    // last, and only if no kernel can still read it.
    if (pool_->kernels_stopped) {
      auto& gy = DeviceGraveyard::get();
      for (auto& g : groups_) {
        (void)cudaStreamDestroy(g->stream);
        gy.free_host(g->desc);
        gy.free_device(g->state);
        gy.free_device(g->cmirror);
        gy.free_host(g->init);
        gy.free_host(g->failed);
        gy.free_host(g->ctl);
      }
      groups_.clear();
      retired_.clear();
      gy.free_host(pool_->base);
      gy.free_device(dev_pool_->base);
      gy.free_device(routes_);
      gy.free_device(croutes_);
      gy.free_device(route_tenants_);
      staging_->release_all();
    }
  }

  [[nodiscard]] unsigned workers() const noexcept override { return 1; }
  [[nodiscard]] bool hosts_handlers() const noexcept override { return false; }
  [[nodiscard]] RingAllocator inbox_allocator() override { return mapped_allocator(); }
  [[nodiscard]] RingKind inbox_kind() const override { return RingKind::MpscLl; }

  // Rings are split (control block apart from the slots): the slots of a terminated actor's mailbox and reply
  // ring go to the next actors while their heads and tails stay readable (release()).
  RingAllocator mapped_allocator() {
    return RingAllocator{&mapped_alloc,         &mapped_free, pool_.get(), "pinned mapped", /*zeroed=*/true,
                         &mapped_control_alloc, &mapped_free};
  }
  void attach(ActorCell& /*cell*/) override {}

  void schedule(ActorCell& cell) override {
    // Due lifecycle commands are applied in the calling thread (launch() returns with the actor loaded and
    // active, without a wake-up of the pump thread on the way); the pump keeps what must wait for a barrier,
    // and everything raised from inside a drain (supervision cascades), so drains never nest in one thread.
    if (cell.pending_commands.load() != 0 && !t_in_drain && !stopping_.load()) {
      t_in_drain = true;
      (void)rt_.drain(cell, 0);
      t_in_drain = false;
    }
    if (cell.pending_commands.load() != 0 && !cell.scheduled.exchange(true)) {
      std::lock_guard lk(mu_);
      due_.push_back(&cell);
    } else if (cell.direct_pollers.load(std::memory_order_relaxed) != 0) {
      // A caller spinning on this actor consumes its device->host traffic itself: waking the pump (a futex
      // call, microseconds) would only slow that caller down. poller_left wakes it when the caller stops.
      return;
    }
    wake();
  }

  void poller_left(ActorCell& /*cell*/) override { wake(); }

  void wake() {
    wake_.store(true, std::memory_order_release);
    if (sleeping_.load(std::memory_order_acquire)) cv_.notify_one();
  }

  Status prepare(ActorCell& cell) override {
    std::lock_guard lk(groups_mu_);
    cuda::DeviceActorEntry entry;
    {
      std::lock_guard ek(cuda::entries_mu());
      auto it = cuda::entries().find(cell.type.type_key);
      if (it == cuda::entries().end()) {
        return make_error(ErrorCode::BackendUnavailable,
                          "actor type '" + cell.type.type_name +
                              "' has no device code: add RINGKERNEL_CUDA_ACTOR(<type>) to a .cu file of the program",
                          "cuda");
      }
      entry = it->second;
    }
    if (const auto most = shape_of(entry).max_slot_size(); cell.opts.slot_size > most) {
      return make_error(ErrorCode::InvalidArgument,
                        "slot_size " + std::to_string(cell.opts.slot_size) + " exceeds the CUDA backend's " +
                            std::to_string(most) + "-byte staging slot" +
                            (rt_.cfg.cuda_actors_per_block > 1 ? " for warp-sized actors (cuda_actors_per_block > 1)"
                                                               : ""),
                        "cuda");
    }
    if (cell.opts.backpressure.policy == OverflowPolicy::DropOldest) {
      // Evicting needs the consumer side of the mailbox, which the actor's block holds on the GPU: a host
      // evictor would move the inbox tail under the kernel.
      return make_error(ErrorCode::InvalidArgument,
                        "OverflowPolicy::DropOldest is not available for CUDA actors (their mailbox is consumed on "
                        "the GPU); use Block, Reject or DropToDeadLetter",
                        "cuda");
    }
    auto g = group_for(entry, cell.type.type_name);
    if (!g) return g.error();
    Group& group = **g;
    auto free_it = std::find(group.occupant.begin(), group.occupant.end(), nullptr);
    if (free_it == group.occupant.end()) {
      return make_error(ErrorCode::QueueFull,
                        "all " + std::to_string(group.slots) + " CUDA slots for '" + cell.type.type_name +
                            "' are in use (RuntimeConfig::cuda_slots_per_type)",
                        "cuda");
    }
    const auto slot = static_cast<std::uint32_t>(free_it - group.occupant.begin());
    auto k2h = OwnedRing::create(RingKind::SpscLl, cell.opts.outbox_capacity, cell.opts.slot_size, mapped_allocator());
    if (!k2h) return k2h.error().with_context("cuda K2H ring");
    auto in_dev = device_view(cell.inbox.view(), *pool_);
    if (!in_dev) return in_dev.error();
    auto out_dev = device_view(k2h->view(), *pool_);
    if (!out_dev) return out_dev.error();
    bool k2k_reused = false;
    auto k2k = take_device_ring(cell.opts.mailbox_capacity, cell.opts.slot_size, &k2k_reused);
    if (!k2k) return k2k.error();
    SlotDescriptor d{};
    d.control = group.ctl_dev + slot;
    d.inbox = *in_dev;
    d.outbox = *out_dev;
    d.k2k = *k2k;
    d.tenant = cell.opts.tenant;
    d.state = group.state + slot * group.stride;
    d.failed_msg = group.failed_dev + std::size_t{slot} * kMaxStagedSlot;
    d.failed_capacity = kMaxStagedSlot;
    d.cluster_mirror = group.cmirror != nullptr
                           ? group.cmirror + std::size_t{slot} * group.shape.cluster_inbox_bytes
                           : nullptr;
    // The slot is free (its block ignores the descriptor until the next Load command), so plain stores do.
    // The block builds the K2K inbox and publishes its route on the first Load (no copy-engine round trip).
    std::memcpy(static_cast<void*>(group.desc + slot), &d, sizeof(d));
    SlotControl& ctl = group.ctl[slot];
    detail::store_relaxed(&ctl.actor_id, cell.id);
    detail::store_relaxed(&ctl.limit, UINT64_MAX);
    auto* dc = new DeviceCell(std::move(k2h).value());
    dc->group = &group;
    dc->slot = slot;
    dc->k2k = *k2k;
    dc->k2k_reused = k2k_reused;
    dc->cmd_seq = detail::load_acquire(&ctl.ack_seq);
    cell.device = dc;
    *free_it = &cell;
    {
      std::lock_guard plk(mu_);
      live_.push_back(&cell);
      ++live_generation_;
    }
    return {};
  }

  Status device_command(ActorCell& cell, int command, const void* host_state) override {
    auto* dc = static_cast<DeviceCell*>(cell.device);
    if (dc == nullptr) return make_error(ErrorCode::Internal, "cell has no device slot", cell.name);
    if (stopping_.load()) return make_error(ErrorCode::ShuttingDown, "CUDA executor stopped", cell.name);
    Group& g = *dc->group;
    const SlotControl& ctl = g.ctl[dc->slot];
    // A Load that timed out may have been applied after all: then the slot holds this actor (its inbox built,
    // its positions moved), and a later Load must resume it rather than start it afresh.
    if (!dc->loaded && dc->load_word != 0 && detail::load_acquire(&ctl.ack_seq) >= dc->load_word) dc->loaded = true;
    // kDeviceReload: on_stop of the running instance, then the Load below, as one device command. A slot that
    // never loaded has no instance to stop: a plain load.
    bool reload = (command & kDeviceReload) != 0 && dc->loaded;
    command &= ~kDeviceReload;
    const bool load = command == kDeviceLoad || command == kDeviceLoadActive;
    if (reload && !load) return make_error(ErrorCode::Internal, "reload without a state to load", cell.name);
    if (reload && g.in_place) {
      // A large state is written into the slot's memory by the host, and the running instance works on that
      // memory: it stops first (Unload), then the new state is copied and loaded.
      if (auto st = send_slot_command(g, dc->slot, dc->cmd_seq, SlotCommand::Unload, cell.name, &cell); !st) return st;
      reload = false;
    }
    if (load) {
      if (host_state == nullptr) return make_error(ErrorCode::Internal, "no state to load", cell.name);
      std::uint32_t flags = dc->loaded ? 0u : std::uint32_t{cuda::kLoadInitK2k};
      if (!dc->loaded && dc->k2k_reused) flags |= cuda::kLoadReopenK2k;
      if (command == kDeviceLoadActive) flags |= cuda::kLoadActivate;
      if (g.in_place) {
        // A large state goes through the copy engine (tens of GB/s) rather than being read by one warp over
        // PCIe; the copy completes before the command is published.
        if (auto st = copy_state(cell, g.state + dc->slot * g.stride, host_state, g.entry.state_size,
                                 cudaMemcpyHostToDevice);
            !st) {
          return st;
        }
        flags |= cuda::kLoadStateInPlace;
      } else {
        // The block copies it into device memory when it applies Load (ordered by the command's release).
        std::memcpy(g.init + dc->slot * g.stride, host_state, g.entry.state_size);
      }
      detail::store_relaxed(&g.ctl[dc->slot].load_flags, flags);
      dc->failure_reported = false;
    }
    const SlotCommand cmd = reload ? SlotCommand::Reload : load ? SlotCommand::Load : static_cast<SlotCommand>(command);
    auto st = send_slot_command(g, dc->slot, dc->cmd_seq, cmd, cell.name, &cell);
    if (load) dc->load_word = dc->cmd_seq;  // acknowledged or not (see above)
    if (st && load) dc->loaded = true;
    if (load || command == kDeviceUnload) dc->unloaded = !load && st.ok();
    if (st && (load || command == kDeviceUnload || command == kDeviceDeactivate)) {
      // Messages the device published before acknowledging (replies, what on_start or on_stop sent) are
      // delivered before the state change becomes visible, so a host that sees the new state also sees them.
      std::lock_guard lk(dc->consume_mu);
      while (drain_k2h(cell, *dc) != 0) {
      }
    }
    return st;
  }

  // A paused actor's live state is in the slot's device memory (the block writes a shared-memory copy back
  // before it acknowledges Deactivate), so checkpoints read it with the copy engine.
  Status read_state(ActorCell& cell, std::size_t offset, std::span<std::byte> dst) override {
    auto* dc = static_cast<DeviceCell*>(cell.device);
    if (dc == nullptr) return Executor::read_state(cell, offset, dst);
    Group& g = *dc->group;
    if (offset > g.entry.state_size || dst.size() > g.entry.state_size - offset) {
      return make_error(ErrorCode::InvalidArgument, "state range out of bounds", cell.name);
    }
    return copy_state(cell, dst.data(), g.state + dc->slot * g.stride + offset, dst.size(), cudaMemcpyDeviceToHost);
  }

  Status sync_state_to_host(ActorCell& cell) override {
    auto* dc = static_cast<DeviceCell*>(cell.device);
    if (dc == nullptr || cell.state == nullptr) return {};
    return read_state(cell, 0, {static_cast<std::byte*>(cell.state), dc->group->entry.state_size});
  }

  // K2K messages wait in device memory (the global inbox) and in the block's shared memory (the cluster inbox,
  // which the block copies to its mirror on command); both are read with the copy engine and parsed here.
  Status device_inbox(ActorCell& cell, bool close, std::vector<Envelope>& out) override {
    auto* dc = static_cast<DeviceCell*>(cell.device);
    if (dc == nullptr || !dc->loaded) return {};
    Group& g = *dc->group;
    bool cluster = g.cmirror != nullptr;
    if (stopping_.load()) {
      // The kernels were told to leave. Once they have, nothing sends any more and both inboxes can be read as
      // they are (every block mirrors its cluster inboxes when it leaves).
      std::lock_guard lk(pool_->mu);
      if (!pool_->kernels_stopped) {
        return make_error(ErrorCode::ShuttingDown, "the device kernels did not stop; K2K inboxes unreadable",
                          cell.name);
      }
    } else if (close || cluster) {
      const auto cmd = close ? SlotCommand::Close : SlotCommand::Mirror;
      if (auto st = send_slot_command(g, dc->slot, dc->cmd_seq, cmd, cell.name); !st) return st;
      if (close) dc->k2k_closed = true;
    }
    auto parse = [&](const void* src, std::uint32_t capacity, std::uint32_t slot_size) -> Status {
      // The control block first: an empty inbox (the usual case) costs one small copy, not the whole ring.
      RingControl ctl{};
      if (auto st = copy_state(cell, &ctl, src, sizeof ctl, cudaMemcpyDeviceToHost); !st) return st;
      if ((ctl.head & ~kRingClosed) == ctl.tail) return Status{};
      const std::size_t bytes = ring_storage_bytes(RingKind::Mpsc, capacity, slot_size);
      auto buf = host_staging(bytes);
      if (auto st = copy_state(cell, buf.get(), src, bytes, cudaMemcpyDeviceToHost); !st) return st;
      for (Envelope& e : detail::peek_ring(ring_layout(buf.get(), RingKind::Mpsc, capacity, slot_size))) {
        if (e.header.destination == cell.id) {
          out.push_back(std::move(e));
        } else if (close) {
          // Inboxes outlive their actors (a cluster inbox its slot's, a K2K inbox is reused): a message for an
          // earlier owner, pushed through a route read before it terminated, is its dead letter. A snapshot
          // leaves it; the owner hands it back when it comes to it.
          if (ActorCell* dest = rt_.cell(e.header.destination)) dest->dropped.fetch_add(1, std::memory_order_relaxed);
          rt_.dead_letter(e.header, e.payload.data(), DeadLetterReason::ActorTerminated,
                          "K2K message for actor " + std::to_string(e.header.destination) +
                              " arrived after it terminated (found in the inbox of '" + cell.name + "')");
        }
      }
      return {};
    };
    // Global first: a sender reaches an actor through one of the two only, and the kernel drains global first.
    if (auto st = parse(dc->k2k.control, static_cast<std::uint32_t>(dc->k2k.mask + 1), dc->k2k.slot_size); !st) {
      return st;
    }
    if (!cluster) return {};
    return parse(g.cmirror + std::size_t{dc->slot} * g.shape.cluster_inbox_bytes, cuda::kClusterInboxSlots,
                 g.shape.max_slot_size());
  }

  // Page-locked, so the copy engine reads and writes it directly (no internal bounce buffer). Buffers are
  // pooled rather than freed: cudaFreeHost waits for the device to go idle, which a device running persistent
  // actor kernels never does. The pool frees them once the kernels have stopped.
  std::shared_ptr<std::byte[]> host_staging(std::size_t bytes) override {
    void* p = staging_->take(bytes);
    if (p == nullptr && cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
      (void)cudaGetLastError();
      return Executor::host_staging(bytes);
    }
    return {static_cast<std::byte*>(p), [pool = staging_, bytes](std::byte* q) { pool->give(q, bytes); }};
  }

  void device_memory(RuntimeMetrics& m) const override {
    std::size_t free = 0, total = 0;
    // cudaMemGetInfo does not wait for the device (the persistent kernels never finish).
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
      m.device_memory_total_bytes = total;
      m.device_memory_used_bytes = total - free;
    }
    m.device_ring_bytes = dev_pool_->used_bytes();
    m.mapped_ring_bytes = pool_->used_bytes();
  }

  std::uint32_t poll_deliveries(ActorCell& cell) override {
    auto* dc = static_cast<DeviceCell*>(cell.device);
    if (dc == nullptr) return 0;
    std::unique_lock lk(dc->consume_mu, std::try_to_lock);  // someone else is consuming: they deliver
    if (!lk.owns_lock()) return 0;
    return drain_k2h(cell, *dc);
  }

  [[nodiscard]] std::optional<std::uint64_t> device_processed(const ActorCell& cell) const override {
    const auto* dc = static_cast<const DeviceCell*>(cell.device);
    if (dc == nullptr) return detail::load_relaxed(&cell.cb.processed);
    const SlotControl& ctl = dc->group->ctl[dc->slot];
    // Replies overtake the counters (they need no fence): wait, briefly, until the block's counters cover every
    // reply this host has consumed, so a caller that has its reply also sees it counted.
    const std::uint64_t consumed = detail::load_acquire(&dc->k2h.view().control->tail);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
    while (detail::load_acquire(&ctl.k2h_counted) < consumed && std::chrono::steady_clock::now() < deadline) {
    }
    return detail::load_relaxed(&ctl.processed);
  }

  void set_limit(ActorCell& cell, std::uint64_t limit) override {
    auto* dc = static_cast<DeviceCell*>(cell.device);
    if (dc != nullptr) detail::store_release(&dc->group->ctl[dc->slot].limit, limit);
  }

  void release(ActorCell& cell) override {
    auto* dc = static_cast<DeviceCell*>(cell.device);
    if (dc == nullptr) return;
    // Unroute first so device senders get ActorNotFound. A closed K2K inbox is then kept for the next actor
    // with the same geometry (reopened by its block): a sender that read the route just before finds it closed
    // (full) or, once reopened, pushes a message the new owner hands back as stale. Other inboxes are not reused
    // before shutdown (nothing marks what a sender may still write into them).
    const RingView none{};
    bool unrouted = false;
    if (!stopping_.load()) {
      std::lock_guard clk(copy_mu_);
      static const cuda::ClusterRoute no_cluster{};
      static const std::uint32_t no_tenant = cuda::kUnroutedTenant;
      if (cudaMemcpyAsync(routes_ + cell.id, &none, sizeof(RingView), cudaMemcpyHostToDevice, copy_stream_) ==
              cudaSuccess &&
          cudaMemcpyAsync(croutes_ + cell.id, &no_cluster, sizeof(no_cluster), cudaMemcpyHostToDevice, copy_stream_) ==
              cudaSuccess &&
          cudaMemcpyAsync(route_tenants_ + cell.id, &no_tenant, sizeof(no_tenant), cudaMemcpyHostToDevice,
                          copy_stream_) == cudaSuccess) {
        unrouted = cudaStreamSynchronize(copy_stream_) == cudaSuccess;
      }
    }
    if (unrouted && dc->k2k.control != nullptr) {
      if (dc->k2k_closed || (dc->k2k_reused && dc->load_word == 0)) {
        // Closed (by this actor's Close, or still from its previous owner when no Load was ever sent).
        std::lock_guard rlk(recycle_mu_);
        recycled_k2k_[{static_cast<std::uint32_t>(dc->k2k.mask + 1), dc->k2k.slot_size}].push_back(dc->k2k);
      } else if (dc->load_word == 0) {
        // Never sent a Load (a launch that failed after prepare): the device never saw this memory.
        (void)dev_pool_->give_back(dc->k2k.control, /*clear=*/false);
      }
      // Otherwise (loaded, not closed: a Load timed out, or terminated without Close) it stays allocated.
    }
    {
      std::lock_guard lk(mu_);
      std::erase(live_, &cell);
      std::erase(due_, &cell);
      ++live_generation_;
      retired_.emplace_back(dc);  // the pump may hold a pointer this iteration; freed with the executor
    }
    // The rings go back to the arena for the next actors once the block can no longer touch them: it never
    // loaded this actor, or acknowledged its Unload. (A block that never acknowledged keeps its rings: the memory
    // is lost rather than handed to another actor while the block may still use it.)
    const bool reclaim = !stopping_.load() && (dc->load_word == 0 || dc->unloaded);
    {
      // The device's final count stays readable once the slot is gone (metrics fall back to the host's): copied
      // before the slot can be reused, and the pump no longer mirrors this slot's counters afterwards.
      std::lock_guard clk(dc->consume_mu);
      // What the block published before it stopped (normally nothing: the Unload drained it), so that nothing
      // it sent is lost: all of it once the block or the whole kernel has stopped (at shutdown, stragglers are
      // finished after the kernels left), one pass otherwise (a block still running could keep the ring full
      // for ever).
      bool kernels_gone = false;
      if (stopping_.load()) {
        std::lock_guard plk(pool_->mu);
        kernels_gone = pool_->kernels_stopped;
      }
      if (reclaim || kernels_gone) {
        while (drain_k2h(cell, *dc) != 0) {
        }
      } else {
        (void)drain_k2h(cell, *dc);
      }
      dc->released = true;
      detail::store_relaxed(&cell.cb.processed, detail::load_acquire(&dc->group->ctl[dc->slot].processed));
    }
    {
      std::lock_guard glk(groups_mu_);
      dc->group->occupant[dc->slot] = nullptr;
    }
    // Host senders are done (finish() waited for them after raising terminate_requested), the mailbox was read
    // out, and every K2H consumer checks `released` under consume_mu. Both rings keep their control blocks:
    // metrics, commands and diagnostics still read heads and tails.
    if (reclaim) {
      {
        std::lock_guard clk(dc->consume_mu);
        dc->k2h.release_slots();
        dc->decoded.reset();
      }
      cell.inbox.release_slots();
    }
    cell.device = nullptr;
  }

  bool stop(std::chrono::steady_clock::time_point deadline) override {
    if (stopping_.exchange(true)) return clean_;
    running_.store(false);
    cv_.notify_all();
    if (pump_.joinable()) pump_.join();
    bool ok = true;
    std::lock_guard lk(groups_mu_);
    for (auto& g : groups_) {
      for (std::uint32_t s = 0; s < g->slots; ++s) {
        const std::uint64_t word = detail::load_relaxed(&g->ctl[s].cmd_seq);
        detail::store_release(&g->ctl[s].cmd_seq, cuda::next_command_word(word, SlotCommand::Exit));
      }
    }
    for (auto& g : groups_) {
      cudaError_t q = cudaErrorNotReady;
      while ((q = cudaStreamQuery(g->stream)) == cudaErrorNotReady && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
      if (q != cudaSuccess) ok = false;
    }
    // The groups (slot controls, descriptors, states) stay until the destructor: the runtime may still finish
    // straggling cells after stop(), which releases their slots and reads their counters.
    {
      std::lock_guard glk(pool_->mu);
      if (ok) {
        pool_->kernels_stopped = true;
        std::lock_guard sk(stack_reserve().mu);
        stack_reserve().live_kernels[device_] -= live_kernels_;
        live_kernels_ = 0;
        for (void* p : pool_->parked) DeviceGraveyard::get().free_host(p);
      } else {
        pool_->kernels_stuck = true;
      }
      pool_->parked.clear();
    }
    // Not ok: a kernel did not leave; its memory stays allocated (the runtime reports the timeout).
    clean_ = ok;
    if (ok && started_) DeviceGraveyard::get().executor_stopped();
    return ok;
  }

private:
  static constexpr std::uint32_t kMaxStagedSlot = 1024;  // a batch stages at least 32 slots
  static_assert(cuda::KernelShape::make(1, 0, 1).max_slot_size() == kMaxStagedSlot);

  cuda::KernelShape shape_of(const cuda::DeviceActorEntry& entry) const {
    return cuda::KernelShape::make(rt_.cfg.cuda_actors_per_block, entry.state_size, entry.state_align,
                                   rt_.cfg.cuda_cluster_size);
  }
  // States above this size are copied by the copy engine on Load instead of through mapped memory: a warp
  // reading mapped memory moves a few GB/s at best, and a mapped copy of every slot would pin as much host
  // memory as the states take on the device.
  static constexpr std::size_t kInPlaceStateBytes = 64 * 1024;

  // One synchronous state copy on the copy stream (shared by checkpoint readers and launches).
  Status copy_state(const ActorCell& cell, void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
    std::lock_guard lk(copy_mu_);
    if (auto e = cudaMemcpyAsync(dst, src, bytes, kind, copy_stream_); e != cudaSuccess) {
      return cuda_error(e, "actor state copy").with_context(cell.name);
    }
    if (auto e = cudaStreamSynchronize(copy_stream_); e != cudaSuccess) {
      return cuda_error(e, "actor state copy").with_context(cell.name);
    }
    return {};
  }

  Result<Group*> group_for(const cuda::DeviceActorEntry& entry, const std::string& type_name) {
    for (auto& g : groups_) {
      if (g->entry.kernel == entry.kernel) return g.get();
    }
    // A kernel launched now would never be told to leave.
    if (stopping_.load()) return make_error(ErrorCode::ShuttingDown, "CUDA executor stopped", "cuda launch");
    // The caller's thread may have another device current.
    if (auto e = cudaSetDevice(device_); e != cudaSuccess) return cuda_error(e, "cudaSetDevice");
    auto g = std::make_unique<Group>();
    g->entry = entry;
    g->shape = shape_of(entry);
    g->shape.group_tag = static_cast<std::uint32_t>(groups_.size()) + 1;
    const std::uint32_t per_block = g->shape.warps_per_block;
    const std::uint32_t cluster = g->shape.cluster_size;
    const std::uint32_t per_launch_unit = per_block * cluster;
    g->slots = (rt_.cfg.cuda_slots_per_type + per_launch_unit - 1) / per_launch_unit * per_launch_unit;
    const std::uint32_t blocks = g->slots / per_block;
    g->stride = (entry.state_size + 127) / 128 * 128;
    g->occupant.assign(g->slots, nullptr);
    const std::size_t smem = g->shape.block_bytes();
    if (auto e = cudaFuncSetAttribute(entry.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(smem));
        e != cudaSuccess) {
      return cuda_error(e, "shared memory attribute");
    }
    // Co-residency: a persistent kernel whose blocks cannot all be resident at once would hang waiting for
    // blocks that never start. Count every block already running plus this kernel's.
    int per_sm = 0;
    if (auto e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, entry.kernel, static_cast<int>(32 * per_block), smem);
        e != cudaSuccess) {
      return cuda_error(e, "occupancy");
    }
    const std::uint64_t fit = static_cast<std::uint64_t>(per_sm) * static_cast<std::uint64_t>(prop_.multiProcessorCount);
    if (resident_blocks_ + blocks > fit) {
      return make_error(ErrorCode::InvalidArgument,
                        "co-residency check failed: " + std::to_string(resident_blocks_ + blocks) +
                            " persistent blocks requested (" + std::to_string(per_block) +
                            " actor slots each) but only " + std::to_string(fit) + " fit on " + prop_.name + " (" +
                            std::to_string(per_sm) + " per SM x " + std::to_string(prop_.multiProcessorCount) +
                            " SMs); lower cuda_slots_per_type or raise cuda_actors_per_block",
                        "cuda launch");
    }
    // One launch configuration for the occupancy query and the launch (the cluster attribute only with clusters).
    cudaLaunchAttribute cluster_attr{};
    cluster_attr.id = cudaLaunchAttributeClusterDimension;
    cluster_attr.val.clusterDim.x = cluster;
    cluster_attr.val.clusterDim.y = 1;
    cluster_attr.val.clusterDim.z = 1;
    cudaLaunchConfig_t lc{};
    lc.gridDim = dim3(blocks);
    lc.blockDim = dim3(32 * per_block);
    lc.dynamicSmemBytes = smem;
    lc.attrs = &cluster_attr;
    lc.numAttrs = cluster > 1 ? 1 : 0;
    if (cluster > 1) {
      // Clusters must also fit: all blocks of a cluster are placed on one GPC at once.
      int clusters = 0;
      if (auto e = cudaOccupancyMaxActiveClusters(&clusters, entry.kernel, &lc); e != cudaSuccess) {
        return cuda_error(e, "cluster occupancy");
      }
      if (resident_clusters_ + blocks / cluster > static_cast<std::uint64_t>(clusters)) {
        return make_error(ErrorCode::InvalidArgument,
                          "co-residency check failed: " + std::to_string(resident_clusters_ + blocks / cluster) +
                              " clusters of " + std::to_string(cluster) + " blocks requested but only " +
                              std::to_string(clusters) + " fit on " + prop_.name +
                              "; lower cuda_slots_per_type or cuda_cluster_size",
                          "cuda launch");
      }
    }
    // Its local memory, before anything is allocated for it (see reserve_stack_locked; checked again at launch).
    cudaFuncAttributes attr{};
    if (auto e = cudaFuncGetAttributes(&attr, entry.kernel); e != cudaSuccess) return cuda_error(e, "kernel attributes");
    const std::size_t stack = stack_with_headroom(attr.localSizeBytes);
    const std::string kernel_name = "the kernel of '" + type_name + "'";
    if (auto st = reserve_stack(device_, stack, kernel_name); !st) return st.error();
    const std::size_t ctl_bytes = sizeof(SlotControl) * g->slots;
    if (auto e = cudaHostAlloc(reinterpret_cast<void**>(&g->ctl), ctl_bytes, cudaHostAllocMapped | cudaHostAllocPortable);
        e != cudaSuccess) {
      return cuda_error(e, "slot controls");
    }
    std::memset(static_cast<void*>(g->ctl), 0, ctl_bytes);
    const std::uint64_t wall = system_physical_ms();
    for (std::uint32_t s = 0; s < g->slots; ++s) {
      g->ctl[s].limit = UINT64_MAX;
      g->ctl[s].idle_policy = static_cast<std::uint32_t>(rt_.cfg.cuda_spin ? cuda::IdlePolicy::Spin : cuda::IdlePolicy::Backoff);
      g->ctl[s].max_sleep_ns = 20'000;
      g->ctl[s].wall_ms_at_launch = wall;
    }
    if (auto e = cudaHostGetDevicePointer(reinterpret_cast<void**>(&g->ctl_dev), g->ctl, 0); e != cudaSuccess) {
      return cuda_error(e, "map slot controls");
    }
    if (auto e = cudaHostAlloc(reinterpret_cast<void**>(&g->desc), sizeof(SlotDescriptor) * g->slots,
                               cudaHostAllocMapped | cudaHostAllocPortable);
        e != cudaSuccess) {
      return cuda_error(e, "descriptors");
    }
    std::memset(static_cast<void*>(g->desc), 0, sizeof(SlotDescriptor) * g->slots);
    if (auto e = cudaHostGetDevicePointer(reinterpret_cast<void**>(&g->desc_dev), g->desc, 0); e != cudaSuccess) {
      return cuda_error(e, "map descriptors");
    }
    g->in_place = entry.state_size > kInPlaceStateBytes;
    if (!g->in_place) {
      if (auto e = cudaHostAlloc(reinterpret_cast<void**>(&g->init), g->stride * g->slots,
                                 cudaHostAllocMapped | cudaHostAllocPortable);
          e != cudaSuccess) {
        return cuda_error(e, "actor initial states");
      }
      if (auto e = cudaHostGetDevicePointer(reinterpret_cast<void**>(&g->init_dev), g->init, 0); e != cudaSuccess) {
        return cuda_error(e, "map actor initial states");
      }
      for (std::uint32_t s = 0; s < g->slots; ++s) g->ctl[s].init_state = g->init_dev + s * g->stride;
    }
    if (auto e = cudaHostAlloc(reinterpret_cast<void**>(&g->failed), std::size_t{kMaxStagedSlot} * g->slots,
                               cudaHostAllocMapped | cudaHostAllocPortable);
        e != cudaSuccess) {
      return cuda_error(e, "failed-message buffers");
    }
    std::memset(g->failed, 0, std::size_t{kMaxStagedSlot} * g->slots);
    if (auto e = cudaHostGetDevicePointer(reinterpret_cast<void**>(&g->failed_dev), g->failed, 0); e != cudaSuccess) {
      return cuda_error(e, "map failed-message buffers");
    }
    if (auto e = cudaMalloc(reinterpret_cast<void**>(&g->state), g->stride * g->slots); e != cudaSuccess) {
      return cuda_error(e, "actor state");
    }
    if (g->shape.cluster_inbox_bytes != 0) {
      if (auto e = cudaMalloc(reinterpret_cast<void**>(&g->cmirror),
                              std::size_t{g->shape.cluster_inbox_bytes} * g->slots);
          e != cudaSuccess) {
        return cuda_error(e, "cluster inbox mirrors");
      }
    }
    if (auto e = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking); e != cudaSuccess) {
      return cuda_error(e, "kernel stream");
    }
    // Never cudaDeviceSynchronize here: other persistent kernels of this runtime are running and never finish.
    if (auto e = cudaStreamSynchronize(copy_stream_); e != cudaSuccess) return cuda_error(e, "setup");
    const SlotDescriptor* desc = g->desc_dev;
    SlotControl* controls = g->ctl_dev;
    RingView* routes = routes_;
    std::uint32_t route_count = route_count_;
    cuda::ClusterRoute* croutes = croutes_;
    std::uint32_t* route_tenants = route_tenants_;
    cuda::KernelShape shape = g->shape;
    void* args[] = {&desc, &controls, &routes, &croutes, &route_tenants, &route_count, &shape};
    lc.stream = g->stream;
    {
      // Checked and counted with the launch under one lock: no other runtime changes the reservation between
      // (if a launch blocked anyway, this lock would block other runtimes' launches and stops too).
      std::lock_guard sk(stack_reserve().mu);
      if (auto st = reserve_stack_locked(device_, stack, kernel_name); !st) return st.error();
      if (auto e = cudaLaunchKernelExC(&lc, entry.kernel, args); e != cudaSuccess) {
        return cuda_error(e, "launch persistent kernel");
      }
      ++stack_reserve().live_kernels[device_];
      ++live_kernels_;
    }
    resident_blocks_ += blocks;
    if (cluster > 1) resident_clusters_ += blocks / cluster;
    groups_.push_back(std::move(g));
    return groups_.back().get();
  }

  // Device memory for an MPSC K2K inbox: a terminated actor's of the same geometry (`*reused`: the block
  // reopens it), else new from the arena (the block initialises it on the actor's first Load).
  Result<RingView> take_device_ring(std::uint32_t capacity, std::uint32_t slot_size, bool* reused) {
    *reused = false;
    {
      std::lock_guard rlk(recycle_mu_);
      auto it = recycled_k2k_.find({capacity, slot_size});
      if (it != recycled_k2k_.end() && !it->second.empty()) {
        const RingView v = it->second.back();
        it->second.pop_back();
        *reused = true;
        return v;
      }
    }
    const std::uint64_t bytes = ring_storage_bytes(RingKind::Mpsc, capacity, slot_size);
    if (bytes == 0) return make_error(ErrorCode::InvalidArgument, "bad K2K ring geometry", "cuda");
    auto* dev = static_cast<std::byte*>(dev_pool_->take(bytes));
    if (dev == nullptr) {
      return make_error(ErrorCode::QueueFull,
                        "device ring arena exhausted (" + std::to_string(rt_.cfg.cuda_mapped_arena_mb) +
                            " MiB; RuntimeConfig::cuda_mapped_arena_mb)",
                        "cuda");
    }
    RingView v = ring_layout(dev, RingKind::Mpsc, capacity, slot_size);
    v.scope = MemoryScope::Device;  // only device actors produce into and consume from it
    return v;
  }

  // `cell`: the actor in the slot, whose K2H ring this thread keeps draining while it waits. The block may be
  // in the middle of a batch whose replies fill the ring, and the thread waiting may be the pump (which would
  // otherwise drain it): without this the block would wait out kK2hWaitNs and drop replies before it gets to
  // the command.
  Status send_slot_command(Group& g, std::uint32_t slot, std::uint64_t& seq, SlotCommand cmd, const std::string& who,
                           ActorCell* cell = nullptr) {
    SlotControl& ctl = g.ctl[slot];
    // cmd_seq is written only by the host; counting from it (not from ack_seq) keeps a command that timed out
    // from being reissued under the same number, which the device would ignore.
    const std::uint64_t next = cuda::next_command_word(detail::load_relaxed(&ctl.cmd_seq), cmd);
    detail::store_release(&ctl.cmd_seq, next);
    seq = next;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + rt_.cfg.cuda_command_timeout;
    // Busy-polled for the first microseconds, the usual time a block takes (a yield is a system call of about a
    // microsecond, and the acknowledgement would wait for it); yielding after that.
    const auto spin_until = start + std::chrono::microseconds(50);
    while (detail::load_acquire(&ctl.ack_seq) < next) {
      if (std::chrono::steady_clock::now() >= deadline) {
        const cudaError_t ke = cudaStreamQuery(g.stream);
        return make_error(ErrorCode::Timeout,
                          "device did not acknowledge command " + std::to_string(static_cast<unsigned>(cmd)) +
                              " within " + std::to_string(rt_.cfg.cuda_command_timeout.count()) + " ms (kernel: " +
                              (ke == cudaErrorNotReady ? std::string("running") : std::string(cudaGetErrorString(ke))) +
                              ")\n" + dump(),
                          who);
      }
      if (cell != nullptr && cell->device != nullptr) {
        auto* dc = static_cast<DeviceCell*>(cell->device);
        std::unique_lock lk(dc->consume_mu, std::try_to_lock);
        if (lk.owns_lock() && drain_k2h(*cell, *dc) != 0) continue;
      }
      if (std::chrono::steady_clock::now() >= spin_until) std::this_thread::yield();
    }
    return {};
  }

  // Delivers one batch of the cell's K2H ring (caller holds consume_mu): slots are handed on in place and
  // freed after delivery.
  std::uint32_t drain_k2h(ActorCell& cell, DeviceCell& dc) {
    if (dc.released) return 0;  // its ring may be handed back already (release())
    const std::byte* slots[256];
    const std::uint32_t n = dc.consumer.peek_into(256, dc.decoded.get(), dc.decoded_bytes, slots);
    if (n == 0) return 0;
    rt_.deliver_many_to_host(cell, slots, n);
    dc.consumer.consume(n);
    return n;
  }

  // A cmd_seq/ack_seq word for people: its counter and the command it carries.
  static std::string command_text(std::uint64_t word) {
    static constexpr const char* kNames[] = {"none", "load", "activate", "deactivate", "unload",
                                             "exit", "close", "mirror", "reload"};
    const auto c = static_cast<std::uint32_t>(cuda::command_of(word));
    return std::to_string(word >> 8) + ":" + (c < std::size(kNames) ? kNames[c] : std::to_string(c).c_str());
  }

  std::string dump() {
    std::lock_guard glk(groups_mu_);  // occupants stay (and keep their rings) while it reads them
    std::string out =
        "slot dump (block: actor state cmd command:sent/acknowledged inbox head/tail k2h head/tail heartbeat_ms_ago):\n";
    std::uint64_t newest = 0;
    for (auto& g : groups_) {
      for (std::uint32_t s = 0; s < g->slots; ++s) newest = std::max(newest, detail::load_relaxed(&g->ctl[s].heartbeat));
    }
    for (auto& g : groups_) {
      for (std::uint32_t s = 0; s < g->slots; ++s) {
        const SlotControl& c = g->ctl[s];
        ActorCell* cell = g->occupant[s];
        out += "  " + std::string(g->entry.type_key) + "[" + std::to_string(s) + "]: actor " + std::to_string(c.actor_id) +
               " state " + std::string(to_string(static_cast<ActorState>(detail::load_relaxed(&c.state)))) + " cmd " +
               command_text(detail::load_relaxed(&c.cmd_seq)) + "/" + command_text(detail::load_relaxed(&c.ack_seq));
        if (cell != nullptr) {
          auto* dc = static_cast<DeviceCell*>(cell->device);
          out += " inbox " + std::to_string(detail::load_relaxed(&cell->inbox.view().control->head)) + "/" +
                 std::to_string(detail::load_relaxed(&cell->inbox.view().control->tail));
          if (dc != nullptr) {
            out += " k2h " + std::to_string(detail::load_relaxed(&dc->k2h.view().control->head)) + "/" +
                   std::to_string(detail::load_relaxed(&dc->k2h.view().control->tail));
          }
        }
        const std::uint64_t hb = detail::load_relaxed(&c.heartbeat);
        out += " heartbeat " + (hb == 0 ? std::string("never") : std::to_string((newest - hb) / 1'000'000u) + " ms") + "\n";
      }
    }
    return out;
  }

  void pump() {
    (void)cudaSetDevice(device_);
    t_in_drain = true;  // the pump drains from its own loop only
    auto last_work = std::chrono::steady_clock::now();
    std::vector<ActorCell*> cells;
    std::uint64_t cells_generation = ~std::uint64_t{0};
    while (running_.load()) {
      bool worked = false;
      std::deque<ActorCell*> due;
      {
        std::lock_guard lk(mu_);
        if (cells_generation != live_generation_) {  // re-copy only when actors came or went
          cells = live_;
          cells_generation = live_generation_;
        }
        if (!due_.empty()) due.swap(due_);
      }
      const std::uint64_t pass_ns = steady_ns();  // one clock read per pass, not per actor
      for (ActorCell* c : cells) {
        auto* dc = static_cast<DeviceCell*>(c->device);
        if (dc == nullptr) continue;
        SlotControl& ctl = dc->group->ctl[dc->slot];
        // A caller or receiver spinning on this actor consumes its replies itself; leave them (and the lock) to it.
        if (c->direct_pollers.load(std::memory_order_relaxed) == 0) {
          std::unique_lock clk(dc->consume_mu, std::try_to_lock);
          if (clk.owns_lock()) {
            worked = drain_k2h(*c, *dc) != 0 || worked;
            // Not once the slot was released: its counters may already be the next actor's. (While the actor
            // lives, metrics read the device's count directly.)
            if (!dc->released) detail::store_relaxed(&c->cb.processed, detail::load_relaxed(&ctl.processed));
          }
        }
        detail::store_relaxed(&c->cb.hlc, detail::load_relaxed(&ctl.hlc));
        detail::store_relaxed(&c->cb.heartbeat_ns, pass_ns);
        const auto dev_state = static_cast<ActorState>(detail::load_acquire(&ctl.state));
        if (dev_state == ActorState::Failed && !dc->failure_reported &&
            control_state(c->cb) == ActorState::Active) {
          dc->failure_reported = true;
          // The block copied the message it failed on before publishing the state (acquired above).
          std::byte* msg = dc->group->failed + std::size_t{dc->slot} * kMaxStagedSlot;
          rt_.device_failed(*c, msg, "a device handler called fail()");
          std::memset(msg, 0, sizeof(MessageHeader));  // consumed: a later failure without a message shows none
          worked = true;
        }
      }
      for (ActorCell* c : due) {
        c->scheduled.store(false);
        rt_.drain(*c, 0);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (c->pending_commands.load() != 0) schedule(*c);
        worked = true;
      }
      const auto now = std::chrono::steady_clock::now();
      if (worked || wake_.exchange(false)) {
        last_work = now;
        continue;
      }
      if (now - last_work < rt_.cfg.idle_spin) continue;
      // Nothing can signal the host when the device writes K2H, so an idle pump naps briefly instead of
      // sleeping until woken; a host send wakes it at once (schedule()).
      std::unique_lock lk(mu_);
      sleeping_.store(true, std::memory_order_release);
      cv_.wait_for(lk, std::chrono::microseconds(200), [&] { return !running_.load() || wake_.load() || !due_.empty(); });
      sleeping_.store(false, std::memory_order_release);
      last_work = std::chrono::steady_clock::now();
    }
  }

  RuntimeState& rt_;
  int device_;
  cudaDeviceProp prop_{};
  cudaStream_t copy_stream_ = nullptr;
  std::mutex copy_mu_;  // copy_stream_ is used from launching, releasing and checkpointing threads
  std::mutex groups_mu_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::uint64_t resident_blocks_ = 0;
  std::uint32_t live_kernels_ = 0;  // this executor's share of StackReserve::live_kernels
  std::uint64_t resident_clusters_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ActorCell*> live_;
  std::uint64_t live_generation_ = 0;
  std::unique_ptr<MappedPool> pool_ = std::make_unique<MappedPool>();
  // Page-locked staging buffers handed out by host_staging (shared: a buffer may be returned after the executor
  // is gone).
  struct StagingPool {
    std::mutex mu;
    std::multimap<std::size_t, void*> free;
    bool kernels_stopped = false;
    void* take(std::size_t bytes) {
      std::lock_guard lk(mu);
      auto it = free.lower_bound(bytes);
      if (it == free.end() || it->first != bytes) return nullptr;
      void* p = it->second;
      free.erase(it);
      return p;
    }
    void give(void* p, std::size_t bytes) {
      std::lock_guard lk(mu);
      if (kernels_stopped) DeviceGraveyard::get().free_host(p);
      else free.emplace(bytes, p);
    }
    void release_all() {  // only once no persistent kernel runs
      std::lock_guard lk(mu);
      kernels_stopped = true;
      for (auto& [bytes, p] : free) DeviceGraveyard::get().free_host(p);
      free.clear();
    }
  };
  std::shared_ptr<StagingPool> staging_ = std::make_shared<StagingPool>();
  std::unique_ptr<MappedPool> dev_pool_ = std::make_unique<MappedPool>();
  // Closed K2K inboxes of terminated actors by (capacity, slot size), for the next actor of that geometry.
  std::mutex recycle_mu_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<RingView>> recycled_k2k_;
  RingView* routes_ = nullptr;
  cuda::ClusterRoute* croutes_ = nullptr;  // per actor id: its cluster inbox (kernels launched in clusters)
  std::uint32_t* route_tenants_ = nullptr;  // per actor id: the tenant of its published route
  std::uint32_t route_count_ = 0;
  std::deque<ActorCell*> due_;
  std::vector<std::unique_ptr<DeviceCell>> retired_;
  std::atomic<bool> wake_{false};
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> running_{true};
  std::atomic<bool> stopping_{false};
  bool clean_ = true;
  bool started_ = false;  // registered with the DeviceGraveyard
  std::thread pump_;
};

bool cuda_probe() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}
bool cuda_has_device_actors() {
  std::lock_guard lk(cuda::entries_mu());
  return !cuda::entries().empty();
}
[[maybe_unused]] const bool cuda_probe_registered =
    (g_cuda_probe = &cuda_probe, g_cuda_has_device_actors = &cuda_has_device_actors, true);

} // namespace

Result<std::unique_ptr<Executor>> make_cuda_executor(RuntimeState& rt) {
  int n = 0;
  if (auto e = cudaGetDeviceCount(&n); e != cudaSuccess || n == 0) {
    return make_error(ErrorCode::BackendUnavailable,
                      e != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(e)
                                       : std::string("no CUDA device present"),
                      "cuda");
  }
  if (rt.cfg.cuda_device < 0 || rt.cfg.cuda_device >= n) {
    return make_error(ErrorCode::InvalidArgument,
                      "cuda_device " + std::to_string(rt.cfg.cuda_device) + " out of range (" + std::to_string(n) +
                          " devices)",
                      "cuda");
  }
  if (rt.cfg.cuda_slots_per_type == 0) {
    return make_error(ErrorCode::InvalidArgument, "cuda_slots_per_type must be > 0", "cuda");
  }
  if (rt.cfg.cuda_cluster_size == 0 || rt.cfg.cuda_cluster_size > cuda::kMaxClusterSize) {
    return make_error(ErrorCode::InvalidArgument,
                      "cuda_cluster_size must be 1.." + std::to_string(cuda::kMaxClusterSize) + ", got " +
                          std::to_string(rt.cfg.cuda_cluster_size),
                      "cuda");
  }
  if (rt.cfg.cuda_actors_per_block == 0 || rt.cfg.cuda_actors_per_block > cuda::kMaxWarpsPerBlock) {
    return make_error(ErrorCode::InvalidArgument,
                      "cuda_actors_per_block must be 1.." + std::to_string(cuda::kMaxWarpsPerBlock) + ", got " +
                          std::to_string(rt.cfg.cuda_actors_per_block),
                      "cuda");
  }
  auto ex = std::make_unique<CudaExecutor>(rt, rt.cfg.cuda_device);
  if (auto st = ex->init(); !st) return st.error();
  return std::unique_ptr<Executor>(std::move(ex));
}

} // namespace ringkernel::detail
