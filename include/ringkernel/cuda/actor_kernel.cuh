/// @file cuda/actor_kernel.cuh
/// @brief The persistent actor kernel and the device context its handlers see. Include from nvcc code only.
///
/// Users keep their actor type in a header shared with host code and add, in one `.cu` file linked into
/// their program:
///
/// @code
/// #include <ringkernel/cuda/actor_kernel.cuh>
/// #include "counter.hpp"
/// RINGKERNEL_CUDA_ACTOR(Counter)
/// @endcode
///
/// That instantiates `actor_kernel<Counter>` (the same `handle(auto& ctx, const Msg&)` overloads the CPU
/// backend runs, now compiled for the GPU) and registers it, so `Runtime::launch<Counter>` works on
/// `Backend::Cuda`. Device actors must be trivially copyable: their state is built on the host (from the
/// launch arguments) and copied to device memory on every (re)start.
#pragma once

#include <cooperative_groups.h>
#include <cuda_runtime.h>

// Handlers are `RK_HOST_DEVICE` templates instantiated with both the host Context (host-only calls) and the
// DeviceContext; nvcc warns (20014) about the host instantiation even though it never runs on the device.
// Code including this header after the actor types should include it first for the same effect.
#pragma nv_diag_suppress 20011
#pragma nv_diag_suppress 20014

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <typeinfo>

#include "ringkernel/actor.hpp"
#include "ringkernel/cuda/slot.hpp"
#include "ringkernel/hlc.hpp"
#include "ringkernel/lifecycle.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/ring.hpp"

namespace ringkernel::cuda {

/// Device nanosecond timer (same clock on every SM).
__device__ __forceinline__ std::uint64_t globaltimer_ns() {
  std::uint64_t t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
  return t;
}

namespace detail {
// Copies memory another agent rewrote (the host, another block), bypassing L1 so no stale line is read; all
// loads are issued before any is used (one L2 round trip, not one per word). A K2K send reads its routes so.
template <std::size_t Bytes>
__device__ __forceinline__ void copy_uncached_n(void* dst, const void* src) {
  static_assert(Bytes % 8 == 0);
  constexpr std::size_t kWords = Bytes / 8;
  unsigned long long w[kWords];
  const auto* s8 = static_cast<const unsigned long long*>(src);
#pragma unroll
  for (std::size_t i = 0; i < kWords; ++i) w[i] = __ldcv(s8 + i);
  std::memcpy(dst, w, Bytes);
}
__device__ __forceinline__ void copy_uncached_view(RingView* dst, const RingView* src) {
  copy_uncached_n<sizeof(RingView)>(dst, src);
}
} // namespace detail

/// Per-block state every handler invocation shares (kept in registers/local memory by the kernel).
struct BlockEnv {
  ActorId self = 0;                      ///< The actor in this slot.
  SpscProducer* k2h = nullptr;           ///< Reply ring to the host.
  std::uint64_t now_ms = 0;              ///< Host-consistent wall clock (ms), read once per batch: the clock has
                                         ///< ms resolution, and a timer read plus 64-bit division per message costs.
  std::uint64_t* hlc = nullptr;          ///< Actor HLC.
  std::uint64_t* next_message_id = nullptr;  ///< Message id counter.
  std::uint64_t* replies_dropped = nullptr;  ///< Replies lost to a full K2H ring.
  std::uint64_t* k2k_refused = nullptr;      ///< K2K sends refused (full, unknown actor).
  const RingView* routes = nullptr;      ///< K2K routing table: actor id -> device inbox (control == nullptr: none).
  const ClusterRoute* croutes = nullptr; ///< Per actor id: its cluster inbox (kernels launched in clusters).
  std::uint32_t route_count = 0;         ///< Entries in `routes` and `croutes`.
  // Thread-block clusters: actors of the same kernel and cluster exchange K2K messages through each other's
  // shared memory (every block of a kernel has the same layout, so a slot's inbox is at the same offset).
  std::uint32_t cluster_size = 1;        ///< Blocks per cluster (1: no cluster inboxes).
  std::uint32_t group_tag = 0;           ///< This kernel's tag in ClusterRoute.
  std::uint32_t cluster_id = 0;          ///< This block's cluster.
  std::uint32_t slot_bytes = 0;          ///< Shared memory per slot (KernelShape::slot_bytes).
  std::uint32_t cinbox_slot_size = 0;    ///< Slot size of the cluster inboxes.
  std::byte* smem_base = nullptr;        ///< This block's dynamic shared memory (slot 0's cluster inbox).
  // Replies to the host made during a batch are built in shared memory and written to the K2H ring by the
  // whole warp after the batch (coalesced PCIe writes); null outside a batch (lifecycle hooks write directly).
  uint4* reply_buf = nullptr;            ///< Shared-memory images of the batch's host replies.
  std::byte** reply_dst = nullptr;       ///< Claimed K2H slot of each buffered reply.
  std::uint32_t* reply_vecs = nullptr;   ///< 16-byte vectors of each buffered reply.
  std::uint32_t reply_count = 0;         ///< Buffered replies in this batch.
  std::uint32_t reply_used = 0;          ///< Vectors of reply_buf in use.
  std::uint32_t reply_uniform = 0;       ///< Vectors per reply when all buffered replies have the same size, else 0.
  std::uint32_t reply_cap_slots = 0;     ///< Most buffered replies (KernelShape::reply_slots).
  std::uint32_t reply_cap_vecs = 0;      ///< Vectors reply_buf holds (KernelShape::reply_bytes / 16).
};

/// What a handler sees on the GPU: the message being handled, its own id and clock, replies to the host or
/// to the sending actor, and sends to other device actors (K2K). Mirrors the host `Context` where the
/// operation exists on the device.
class DeviceContext {
public:
  /// Built by the kernel for each message.
  __device__ DeviceContext(BlockEnv& env, const MessageHeader* current) : env_(env), current_(current) {}

  /// This actor's id.
  __device__ ActorId self() const { return env_.self; }
  /// Header of the message being handled.
  __device__ const MessageHeader& message() const { return *current_; }
  /// Host-consistent wall clock in ms (host wall time at launch + device timer since), as of this batch.
  __device__ std::uint64_t physical_ms() const { return env_.now_ms; }
  /// Ticks and returns the actor's hybrid logical clock (same packing as the host HLC).
  __device__ HlcTimestamp now() {
    *env_.hlc = hlc_next_tick(*env_.hlc, env_.now_ms);
    return HlcTimestamp{*env_.hlc, 0};
  }
  /// Replies to the sender of the current message: the host (through K2H, completing a `call`) or another
  /// device actor (through its K2K inbox).
  template <Message T>
  __device__ ErrorCode reply(const T& msg) {
    return deliver(current_->source, msg, static_cast<std::uint8_t>(msg_flags::kReply), current_->correlation_id);
  }
  /// Sends to a device actor by id (K2K, device memory), or to the host's receive queue with kHostActor.
  /// A full inbox is reported as QueueFull (nothing is overwritten); an unknown id as ActorNotFound.
  template <Message T>
  __device__ ErrorCode send(ActorId to, const T& msg) {
    return deliver(to, msg, 0, 0);
  }
  /// Marks the current handler as failed; the block stops and the host supervisor decides.
  __device__ void fail(const char* /*reason*/ = nullptr) { failed_ = true; }
  /// True once fail() was called in this handler.
  __device__ bool failed() const { return failed_; }

private:
  template <Message T>
  __device__ ErrorCode deliver(ActorId to, const T& msg, std::uint8_t flags, std::uint32_t correlation) {
    MessageHeader h = make_header<T>(self(), to);
    h.flags = static_cast<std::uint8_t>(flags | (current_->flags & msg_flags::kTraceSampled));
    h.correlation_id = correlation;
    h.tenant = current_->tenant;
    h.priority = current_->priority;
    h.message_id = (*env_.next_message_id)++;
    h.hlc = now().packed;
    std::memcpy(h.trace_id, current_->trace_id, sizeof(h.trace_id));
    std::memcpy(h.span_id, current_->span_id, sizeof(h.span_id));
    if (to == kHostActor) return to_host(h, msg);
    if (to >= env_.route_count) {
      ++*env_.k2k_refused;
      return ErrorCode::ActorNotFound;
    }
    RingView route;
    detail::copy_uncached_view(&route, env_.routes + to);  // the host rewrites entries as actors come and go
    if (route.control == nullptr) {
      ++*env_.k2k_refused;
      return ErrorCode::ActorNotFound;
    }
    if (env_.cluster_size > 1) {
      // The receiving block writes its cluster route before its global route, with a fence in between. A
      // target in this cluster is always reached through its shared-memory inbox, which keeps per-sender order.
      ClusterRoute cr;
      detail::copy_uncached_n<sizeof(cr)>(&cr, env_.croutes + to);
      if (cr.tag == 0) {
        // Every actor of a clustered runtime publishes a non-zero cluster route before its global route; a zero
        // one means this read overtook that publication (two plain loads are not ordered): order and re-read,
        // so the first message does not take the global path and a later one the cluster path.
        ringkernel::detail::fence_acquire(MemoryScope::Device);
        detail::copy_uncached_n<sizeof(cr)>(&cr, env_.croutes + to);
      }
      if (cr.tag == env_.group_tag && cr.cluster == env_.cluster_id) {
        auto* local = env_.smem_base + static_cast<std::size_t>(cr.warp) * env_.slot_bytes;
        auto* remote = static_cast<std::byte*>(cooperative_groups::this_cluster().map_shared_rank(
            static_cast<void*>(local), cr.rank));
        RingView inbox = ring_layout(remote, RingKind::Mpsc, kClusterInboxSlots, env_.cinbox_slot_size);
        inbox.scope = MemoryScope::Cluster;
        const ErrorCode rc = MpscProducer(inbox).try_push(h, &msg);
        if (rc != ErrorCode::Ok) ++*env_.k2k_refused;
        return rc;
      }
    }
    const ErrorCode rc = MpscProducer(route).try_push(h, &msg);
    if (rc != ErrorCode::Ok) ++*env_.k2k_refused;
    return rc;
  }

  template <Message T>
  __device__ ErrorCode to_host(const MessageHeader& h, const T& msg) {
    if (sizeof(MessageHeader) + sizeof(T) > env_.k2h->slot_size()) {
      ++*env_.replies_dropped;
      return ErrorCode::MessageTooLarge;
    }
    std::byte* slot = env_.k2h->try_claim();
    if (slot == nullptr) {
      ++*env_.replies_dropped;
      return ErrorCode::QueueFull;
    }
    // Build the slot image locally, then write it with 16-byte stores (a byte-wise memcpy would become one
    // PCIe write per byte): into the batch's shared-memory reply buffer when there is room (the warp copies
    // it out after the batch), else straight to the mapped slot. Positions are claimed in order either way.
    constexpr std::size_t kVecs = (sizeof(MessageHeader) + sizeof(T) + 15) / 16;
    uint4 image[kVecs];
    std::memcpy(static_cast<void*>(image), &h, sizeof(MessageHeader));
    std::memcpy(reinterpret_cast<std::byte*>(image) + sizeof(MessageHeader), &msg, sizeof(T));
    uint4* dst = reinterpret_cast<uint4*>(slot);
    if (env_.reply_buf != nullptr && env_.reply_count < env_.reply_cap_slots &&
        env_.reply_used + kVecs <= env_.reply_cap_vecs) {
      dst = env_.reply_buf + env_.reply_used;
      env_.reply_dst[env_.reply_count] = slot;
      env_.reply_vecs[env_.reply_count] = static_cast<std::uint32_t>(kVecs);
      if (env_.reply_count == 0) env_.reply_uniform = static_cast<std::uint32_t>(kVecs);
      else if (env_.reply_uniform != kVecs) env_.reply_uniform = 0;
      ++env_.reply_count;
      env_.reply_used += static_cast<std::uint32_t>(kVecs);
    }
#pragma unroll
    for (std::size_t i = 0; i < kVecs; ++i) dst[i] = image[i];
    return ErrorCode::Ok;
  }

  BlockEnv& env_;
  const MessageHeader* current_;
  bool failed_ = false;
};

namespace detail {

template <class A>
__device__ void run_hook_on_device(A& a, DeviceContext& ctx, bool start) {
  if (start) {
    if constexpr (requires(A & x, DeviceContext & c) { x.on_start(c); }) a.on_start(ctx);
  } else {
    if constexpr (requires(A & x, DeviceContext & c) { x.on_stop(c); }) a.on_stop(ctx);
  }
}

__device__ __forceinline__ void idle_wait(bool backoff, std::uint32_t cap, std::uint32_t& sleep_ns) {
  if (backoff) {
    __nanosleep(sleep_ns);
    sleep_ns = sleep_ns * 2 > cap ? cap : sleep_ns * 2;
  }
}

/// Closes an MPSC inbox whose consumer stops for good (kRingClosed: senders find it full), then waits until
/// every position claimed before is published, or until `give_up` (a claimed push completes within
/// microseconds; the bound only guards against a sender that died mid-push).
__device__ inline void close_inbox(const RingView& r, std::uint64_t tail, std::uint64_t give_up) {
  namespace rd = ringkernel::detail;
  std::uint64_t head = rd::load_relaxed(&r.control->head, r.scope);
  while ((head & kRingClosed) == 0 &&
         !rd::compare_exchange_weak_relaxed(&r.control->head, head, head | kRingClosed, r.scope)) {
  }
  head &= ~kRingClosed;
  for (std::uint64_t p = tail; p < head; ++p) {
    while (rd::load_acquire(&r.seq[p & r.mask], r.scope) != p + 1 && globaltimer_ns() < give_up) {
    }
  }
}

/// Leading ready slots in a warp ballot of publish flags (lane i = position base + i).
__device__ __forceinline__ unsigned ready_prefix(unsigned ballot) {
  return ballot == ~0u ? 32u : static_cast<unsigned>(__ffs(~ballot) - 1);
}

/// All lanes copy `bytes` (rounded up to 16) with uncached 16-byte loads: the source is memory the host
/// rewrote (mapped descriptors and initial states), which a previous read may have left in a cache.
__device__ __forceinline__ void warp_copy_uncached(void* dst, const void* src, std::size_t bytes, unsigned lane) {
  auto* d = static_cast<uint4*>(dst);
  const auto* s = static_cast<const uint4*>(src);
  for (std::size_t i = lane; i < (bytes + 15) / 16; i += 32) d[i] = __ldcv(s + i);
}

/// Whether `A`'s state is kept in shared memory while the actor runs (the host sizes shared memory by the same
/// rule: cuda::state_in_shared).
template <class A>
inline constexpr bool kStateInShared = state_in_shared(sizeof(A), alignof(A));

/// Rows of 32 publish flags one poll may check (a batch of up to 256 messages).
inline constexpr unsigned kMaxBatchRows = 8;
/// While device (K2K) traffic keeps a block busy, its host inbox and command word - PCIe reads of about a
/// microsecond that stall the warp - are polled only every this many iterations, so device hops are not paced
/// by PCIe (H100: 8 -> 64 took a K2K hop from about 4.1 to 3.1 us). A host message waits at most this many
/// fast polls (a few microseconds) while device traffic lasts.
inline constexpr unsigned kHostPollEvery = 64;
/// Polls a block stays in device-fast mode after a K2K batch (tens of microseconds): in a conversation
/// between device actors the next message is a hop away, and a PCIe poll in between would delay it.
inline constexpr unsigned kK2kFastPolls = 64;
/// A busy block publishes its counters to the host at most this often (they are posted PCIe writes).
inline constexpr std::uint64_t kCounterFlushNs = 100'000;

} // namespace detail

/// The persistent kernel for actor type `A`: each warp is one actor slot (one warp per block, or up to
/// kMaxWarpsPerBlock independent warps sharing a block for small actors). Each poll reads the host inbox's
/// publish flags warp-wide (relaxed rows first, then one acquire row, so all are in flight in one PCIe round
/// trip) together with the device K2K inbox's flags and the command word. A ready batch (several rows of 32
/// host messages while they keep coming, 32 from K2K) is staged into shared memory with coalesced 16-byte
/// loads, lane 0 runs the handlers in order (actor semantics: one message at a time), and the batch's replies
/// and consumed positions are published with one fence: system scope when host memory was touched, device
/// scope when the batch stayed on the GPU. Warps of a block never synchronize with each other.
template <class A>
__global__ void __launch_bounds__(32 * kMaxWarpsPerBlock)
    actor_kernel(const SlotDescriptor* slots, SlotControl* controls, RingView* routes, ClusterRoute* croutes,
                 std::uint32_t route_count, KernelShape shape) {
  // Dynamic shared memory, per warp (KernelShape::slot_bytes): inbox staging, the batch's reply images, their
  // destinations and sizes, the descriptor read on Load, and a small state.
  extern __shared__ uint4 block_smem[];
  const unsigned warp = threadIdx.x / 32u;
  const unsigned slot_index = blockIdx.x * shape.warps_per_block + warp;
  const std::uint32_t staging_bytes = shape.staging_bytes;
  auto* const warp_smem = reinterpret_cast<std::byte*>(block_smem) + static_cast<std::size_t>(warp) * shape.slot_bytes();
  uint4* const staging = reinterpret_cast<uint4*>(warp_smem + shape.cluster_inbox_bytes);
  uint4* const reply_buf = staging + staging_bytes / 16u;
  auto* const reply_dst = reinterpret_cast<std::byte**>(reply_buf + shape.reply_bytes / 16u);
  auto* const reply_vecs =
      reinterpret_cast<std::uint32_t*>(reinterpret_cast<std::byte*>(reply_dst) + (shape.reply_slots * 8u + 15u) / 16u * 16u);
  uint4* const loaded = reinterpret_cast<uint4*>(reinterpret_cast<std::byte*>(reply_vecs) +
                                                 (shape.reply_slots * 4u + 15u) / 16u * 16u);
  uint4* const state_smem = loaded + (sizeof(SlotDescriptor) + 15u) / 16u;
  namespace rd = ringkernel::detail;
  SlotDescriptor d{};                 // filled by the first Load: the host writes it when an actor moves in
  SlotControl* ctl = controls + slot_index;
  const unsigned lane = threadIdx.x & 31u;
  const std::uint64_t timer0 = globaltimer_ns();

  // Everything in `ctl` is host memory: every read is a PCIe round trip (~1 us), so the loop keeps all
  // per-slot settings and counters in registers and issues its few reads so that they overlap.
  const std::uint64_t wall0 = ctl->wall_ms_at_launch;
  const bool backoff = ctl->idle_policy == static_cast<std::uint32_t>(IdlePolicy::Backoff);
  const std::uint32_t max_sleep = ctl->max_sleep_ns;
  std::uint64_t seen_cmd = 0;
  std::uint64_t tail = 0;   // host inbox consumer position
  std::uint64_t ktail = 0;  // K2K inbox consumer position
  std::uint32_t state = static_cast<std::uint32_t>(ActorState::Created);
  std::uint64_t hlc = 0;
  std::uint64_t next_message_id = 1;
  std::uint64_t last_heartbeat = 0, last_flush = 0;
  std::uint64_t processed = 0, errors = 0, unknown = 0, dropped = 0;
  std::uint64_t k2k_refused = 0;
  bool dirty = false;         // counters changed since the last flush to the host
  unsigned k2k_recent = 0;    // polls left in device-fast mode after the last K2K batch (replies come soon)
  unsigned host_skip = 0;     // polls without the host side in device-fast mode
  unsigned rows = 1;          // host flag rows polled: grows while batches come full, shrinks when they don't
  unsigned max_rows = 1;      // bounded by the staging buffer for this actor's slot size
  std::uint32_t sleep_ns = 64;
  SpscProducer k2h(d.outbox);
  A* actor = nullptr;
  BlockEnv env;
  env.k2h = &k2h;
  env.hlc = &hlc;
  env.next_message_id = &next_message_id;
  env.replies_dropped = &dropped;
  env.k2k_refused = &k2k_refused;
  env.routes = routes;
  env.croutes = croutes;
  env.route_count = route_count;
  env.cluster_size = shape.cluster_size;
  env.group_tag = shape.group_tag;
  env.cluster_id = blockIdx.x / shape.cluster_size;
  env.slot_bytes = shape.slot_bytes();
  env.cinbox_slot_size = shape.max_slot_size();
  env.smem_base = reinterpret_cast<std::byte*>(block_smem);
  // The cluster inbox: this slot's shared-memory K2K ring that actors of the same cluster write into;
  // `cview.control == nullptr` without clusters.
  RingView cview{};
  std::uint64_t ctail = 0;
  auto reset_cluster_inbox = [&] {
    if (shape.cluster_inbox_bytes == 0) return;
    auto* z = reinterpret_cast<uint4*>(warp_smem);
    const std::uint32_t header = static_cast<std::uint32_t>(
        ring_layout(warp_smem, RingKind::Mpsc, kClusterInboxSlots, env.cinbox_slot_size).slots - warp_smem);
    for (std::uint32_t i = lane; i < header / 16u; i += 32u) z[i] = make_uint4(0, 0, 0, 0);
    __syncwarp();
    int ok = 0;
    if (lane == 0) {
      RingView v{};
      ok = ring_init(warp_smem, shape.cluster_inbox_bytes, RingKind::Mpsc, kClusterInboxSlots,
                     env.cinbox_slot_size, &v, /*zeroed=*/true) == ErrorCode::Ok;
    }
    ok = __shfl_sync(~0u, ok, 0);
    __syncwarp();
    cview = RingView{};
    if (ok != 0) {  // without it (misaligned shared memory) same-cluster senders use the global inbox
      cview = ring_layout(warp_smem, RingKind::Mpsc, kClusterInboxSlots, env.cinbox_slot_size);
      cview.scope = MemoryScope::Cluster;
    }
    ctail = 0;
  };

  auto flush_counters = [&](std::uint64_t now) {
    rd::store_relaxed(&ctl->processed, processed);
    rd::store_relaxed(&ctl->hlc, hlc);
    rd::store_relaxed(&ctl->unknown_types, unknown);
    rd::store_relaxed(&ctl->replies_dropped, dropped);
    rd::store_relaxed(&ctl->k2k_refused, k2k_refused);
    dirty = false;
    last_flush = now;
  };

  // The cluster inbox is built once, before any sender can know it: it is never reset while the kernel runs,
  // because a sender that read the route of a slot's previous actor may still be writing into it (messages
  // addressed to an earlier occupant are dropped when consumed). Shared memory of other blocks in the cluster
  // may only be touched once they have started.
  if (shape.cluster_size > 1) {
    reset_cluster_inbox();
    cooperative_groups::this_cluster().sync();
  }
  for (;;) {
    const bool active = state == static_cast<std::uint32_t>(ActorState::Active);
    const bool poll_host = k2k_recent == 0 || host_skip >= detail::kHostPollEvery;
    // Issue every read of this poll before using any: the command word, the K2K flags (device memory), the
    // host flag rows beyond the first (relaxed) and finally row 0 with acquire, which would hold back any
    // load issued after it.
    std::uint64_t seq = seen_cmd;
    if (poll_host && lane == 0) seq = rd::load_relaxed(&ctl->cmd_seq);
    // K2K flags: relaxed when the host side is polled too (an acquire would hold the PCIe loads back; a
    // fence follows only if a K2K batch is taken), acquire when they are all this poll reads.
    const std::uint64_t kpos = ktail + lane;
    bool kready = false;
    if (active && d.k2k.control != nullptr) {
      const std::uint64_t* kflag = &d.k2k.seq[kpos & d.k2k.mask];
      kready = (poll_host ? rd::load_relaxed(kflag, MemoryScope::Device) : rd::load_acquire(kflag, MemoryScope::Device)) ==
               kpos + 1;
    }
    // The cluster inbox is this block's shared memory: polling it costs nothing next to the reads above.
    bool cready = false;
    if (active && cview.control != nullptr) {
      const std::uint64_t cpos = ctail + lane;
      cready = rd::load_relaxed(&cview.seq[cpos & cview.mask], MemoryScope::Cluster) == cpos + 1;
    }
    bool hready[detail::kMaxBatchRows] = {};
    if (poll_host && active) {
#pragma unroll
      for (unsigned r = 1; r < detail::kMaxBatchRows; ++r) {
        const std::uint64_t pos = tail + r * 32u + lane;
        if (r < rows) hready[r] = rd::load_relaxed(&d.inbox.seq[pos & d.inbox.mask]) == pos + 1;
      }
      hready[0] = rd::load_acquire(&d.inbox.seq[(tail + lane) & d.inbox.mask]) == tail + lane + 1;
    }
    seq = __shfl_sync(~0u, seq, 0);
    if (seq != seen_cmd) {
      std::uint32_t cmd = 0;
      if (lane == 0) {
        seq = rd::load_acquire(&ctl->cmd_seq);
        cmd = rd::load_relaxed(&ctl->cmd);
      }
      seq = __shfl_sync(~0u, seq, 0);
      cmd = __shfl_sync(~0u, cmd, 0);
      bool init_k2k = false;
      bool fresh_actor = false;  // Load of an actor new to this slot (not a restart)
      if (cmd == static_cast<std::uint32_t>(SlotCommand::Exit)) {
        if (lane == 0) rd::store_release(&ctl->ack_seq, seq);
        // Blocks of a cluster leave together: another block may still write into this one's shared memory
        // until it has seen Exit too (every slot gets Exit at shutdown).
        if (shape.cluster_size > 1) cooperative_groups::this_cluster().sync();
        // Then nothing writes the cluster inbox any more: it goes to its mirror, where the host reads what an
        // actor still had queued once the kernel has ended (shared memory ends with the block).
        if (cview.control != nullptr && d.cluster_mirror != nullptr) {
          rd::fence_acquire(MemoryScope::Cluster);
          auto* dst = static_cast<uint4*>(d.cluster_mirror);
          const auto* src = reinterpret_cast<const uint4*>(warp_smem);
          for (std::uint32_t i = lane; i < shape.cluster_inbox_bytes / 16u; i += 32u) dst[i] = src[i];
        }
        return;
      }
      if (cmd == static_cast<std::uint32_t>(SlotCommand::Load)) {
        // The host rewrote the mapped descriptor and initial state before this command (lane 0's acquire
        // above, then the warp barrier, order these reads after those writes).
        __syncwarp();
        static_assert(sizeof(SlotDescriptor) % 16 == 0);
        detail::warp_copy_uncached(loaded, slots + slot_index, sizeof(SlotDescriptor), lane);
        __syncwarp();
        std::memcpy(static_cast<void*>(&d), loaded, sizeof(SlotDescriptor));
        // Small states live in shared memory while the actor runs: a handler's read-modify-write of its state
        // then costs shared-memory latency instead of an L2 round trip per access (global stores do not stay
        // in L1). Larger states stay in the slot's device memory.
        std::uint32_t flags = 0;
        if (lane == 0) flags = rd::load_relaxed(&ctl->load_flags);
        flags = __shfl_sync(~0u, flags, 0);
        if constexpr (detail::kStateInShared<A>) {
          actor = reinterpret_cast<A*>(state_smem);
        } else {
          actor = static_cast<A*>(d.state);
        }
        // Large states were copied into device memory by the host's copy engine before the command.
        if ((flags & kLoadStateInPlace) == 0) {
          detail::warp_copy_uncached(actor, d.init_state, sizeof(A), lane);
        } else if (static_cast<void*>(actor) != d.state) {
          detail::warp_copy_uncached(actor, d.state, sizeof(A), lane);
        }
        // A new actor's K2K inbox: the warp zeroes its control block and sequence words (lane 0 finishes the
        // ring in the switch below).
        fresh_actor = (flags & kLoadInitK2k) != 0;
        init_k2k = fresh_actor && d.k2k.control != nullptr;
        if (init_k2k) {
          const std::uint64_t words =
              static_cast<std::uint64_t>(d.k2k.slots - reinterpret_cast<std::byte*>(d.k2k.control)) / 16;
          auto* z = reinterpret_cast<uint4*>(d.k2k.control);
          for (std::uint64_t i = lane; i < words; i += 32) z[i] = make_uint4(0, 0, 0, 0);
          __syncwarp();
        }
        // The consumer/producer positions to resume from, one lane each so the reads overlap.
        std::uint64_t pos = 0;
        if (lane == 0) pos = rd::load_relaxed(&d.inbox.control->tail);
        if (lane == 1) pos = rd::load_relaxed(&d.outbox.control->head);
        if (lane == 2) pos = rd::load_relaxed(&d.outbox.control->tail);
        if (lane == 3 && d.k2k.control != nullptr && !init_k2k) {
          pos = rd::load_relaxed(&d.k2k.control->tail, MemoryScope::Device);
        }
        tail = __shfl_sync(~0u, pos, 0);
        const std::uint64_t out_head = __shfl_sync(~0u, pos, 1);
        const std::uint64_t out_tail = __shfl_sync(~0u, pos, 2);
        ktail = __shfl_sync(~0u, pos, 3);
        k2h = SpscProducer(d.outbox, out_head, out_tail);
        const std::uint32_t slot_size = d.inbox.slot_size != 0 ? d.inbox.slot_size : 64u;
        max_rows = staging_bytes / slot_size / 32u;
        if (max_rows > detail::kMaxBatchRows) max_rows = detail::kMaxBatchRows;
        if (max_rows == 0) max_rows = 1;
        rows = 1;
        __syncwarp();  // the state copy by every lane is complete before on_start runs on lane 0
      }
      if (cmd == static_cast<std::uint32_t>(SlotCommand::Close) && lane == 0) {
        // Terminated: senders still holding this actor's routes find its inboxes full from now on (until the
        // host unroutes it), and what they claimed before is published before the host reads the inboxes.
        const std::uint64_t give_up = globaltimer_ns() + 2'000'000u;
        if (d.k2k.control != nullptr) detail::close_inbox(d.k2k, ktail, give_up);
        if (cview.control != nullptr) detail::close_inbox(cview, ctail, give_up);
      }
      if ((cmd == static_cast<std::uint32_t>(SlotCommand::Close) ||
           cmd == static_cast<std::uint32_t>(SlotCommand::Mirror)) &&
          cview.control != nullptr && d.cluster_mirror != nullptr) {
        // The cluster inbox is this block's shared memory: copied where the host's copy engine can read it.
        __syncwarp();
        rd::fence_acquire(MemoryScope::Cluster);  // order the copy after the senders' published slots
        auto* dst = static_cast<uint4*>(d.cluster_mirror);
        const auto* src = reinterpret_cast<const uint4*>(warp_smem);
        for (std::uint32_t i = lane; i < shape.cluster_inbox_bytes / 16u; i += 32u) dst[i] = src[i];
        __threadfence_system();
      }
      if (lane == 0) {
        MessageHeader none{};
        env.now_ms = wall0 + (globaltimer_ns() - timer0) / 1'000'000u;
        switch (static_cast<SlotCommand>(cmd)) {
          case SlotCommand::Load: {
            env.self = rd::load_relaxed(&ctl->actor_id);
            // The counters are the actor's, kept across its restarts but not handed to the slot's next occupant.
            if (fresh_actor) processed = errors = unknown = dropped = k2k_refused = 0;
            if (init_k2k) {
              // A new actor: its K2K inbox is built here, in device memory, and routed (a restart keeps both,
              // with whatever other actors queued meanwhile). The warp zeroed the header words above.
              RingView fresh{};
              const std::uint32_t capacity = static_cast<std::uint32_t>(d.k2k.mask + 1);
              (void)ring_init(d.k2k.control, ring_storage_bytes(RingKind::Mpsc, capacity, d.k2k.slot_size),
                              RingKind::Mpsc, capacity, d.k2k.slot_size, &fresh, /*zeroed=*/true);
              ktail = 0;
              // The slot's cluster inbox was closed when its previous actor terminated: what was queued there
              // was dead-lettered by the host, so consumption resumes past it; then the inbox opens again.
              if (cview.control != nullptr) {
                std::uint64_t h = rd::load_relaxed(&cview.control->head, MemoryScope::Cluster);
                if ((h & kRingClosed) != 0) {
                  ctail = h & ~kRingClosed;
                  rd::store_relaxed(&cview.control->tail, ctail, MemoryScope::Cluster);
                  rd::fence_release(MemoryScope::Cluster);
                }
                while ((h & kRingClosed) != 0 && !rd::compare_exchange_weak_relaxed(&cview.control->head, h,
                                                                                     h & ~kRingClosed,
                                                                                     MemoryScope::Cluster)) {
                }
              }
            }
            // (Re)publish the route: the host clears it when the actor is released, not across restarts, so
            // messages other actors send during a restart wait in the inbox.
            if (d.k2k.control != nullptr && env.self < route_count) {
              if (cview.control != nullptr) {
                // The cluster route first: a sender reads it only after seeing the global route.
                croutes[env.self] = ClusterRoute{shape.group_tag, env.cluster_id,
                                                 cooperative_groups::this_cluster().block_rank(), warp};
                rd::fence_release(MemoryScope::Device);
              }
              routes[env.self] = d.k2k;
              rd::fence_release(MemoryScope::Device);
            }
            DeviceContext ctx(env, &none);
            detail::run_hook_on_device(*actor, ctx, true);
            state = static_cast<std::uint32_t>(ActorState::Launched);
            break;
          }
          case SlotCommand::Activate: state = static_cast<std::uint32_t>(ActorState::Active); break;
          case SlotCommand::Deactivate: state = static_cast<std::uint32_t>(ActorState::Deactivated); break;
          case SlotCommand::Unload: {
            DeviceContext ctx(env, &none);
            detail::run_hook_on_device(*actor, ctx, false);
            state = static_cast<std::uint32_t>(ActorState::Terminated);
            break;
          }
          default: break;
        }
        k2h.publish();
        flush_counters(globaltimer_ns());
        rd::store_relaxed(&ctl->state, state);
      }
      if constexpr (detail::kStateInShared<A>) {
        // A loaded-but-inactive or paused actor's state must be readable by the host (checkpoints copy it from
        // device memory), so a state kept in shared memory is written back - after on_start for Load - before
        // the command is acknowledged.
        if ((cmd == static_cast<std::uint32_t>(SlotCommand::Deactivate) ||
             cmd == static_cast<std::uint32_t>(SlotCommand::Load)) &&
            actor != nullptr) {
          __syncwarp();
          auto* dst = static_cast<uint4*>(d.state);
          const auto* src = reinterpret_cast<const uint4*>(actor);
          for (std::size_t i = lane; i < (sizeof(A) + 15) / 16; i += 32) dst[i] = src[i];
          __threadfence_system();
        }
      }
      __syncwarp();
      if (lane == 0) rd::store_release(&ctl->ack_seq, seq);
      seen_cmd = seq;
      state = __shfl_sync(~0u, state, 0);
      ktail = __shfl_sync(~0u, ktail, 0);
      ctail = __shfl_sync(~0u, ctail, 0);
      k2k_recent = 0;
      continue;
    }
    unsigned n = 0;
    if (poll_host && active) {
      bool gap = false;  // uniform across the warp: every lane sees the same ballots
#pragma unroll
      for (unsigned r = 0; r < detail::kMaxBatchRows; ++r) {
        if (r < rows && !gap) {
          const unsigned p = detail::ready_prefix(__ballot_sync(~0u, hready[r]));
          n += p;
          gap = p < 32u;
        }
      }
    }
    const unsigned kn = detail::ready_prefix(__ballot_sync(~0u, kready));
    const unsigned cn = detail::ready_prefix(__ballot_sync(~0u, cready));
    host_skip = poll_host ? 0u : host_skip + 1u;
    if (n == 0 && kn == 0 && cn == 0) {
      if (k2k_recent != 0) --k2k_recent;
      if (!poll_host) continue;  // the host side was not polled: do that before calling it idle
      if (lane == 0) {
        const std::uint64_t now = globaltimer_ns();
        if (dirty) flush_counters(now);
        if (now - last_heartbeat > 1'000'000u) {  // at most one heartbeat write per ms over PCIe
          rd::store_relaxed(&ctl->heartbeat, now);
          last_heartbeat = now;
        }
      }
      dirty = false;
      detail::idle_wait(backoff, max_sleep, sleep_ns);
      continue;
    }
    sleep_ns = 64;
    // Host messages first (they carry the lifecycle ordering limit), then the global K2K inbox, then the
    // cluster inbox.
    enum class Source : unsigned { Host, K2k, Cluster };
    const Source sp = n != 0 ? Source::Host : kn != 0 ? Source::K2k : Source::Cluster;
    const bool from_host = sp == Source::Host;
    if (from_host) {
      // Rows past the first were read relaxed: a fence makes the flags they saw order the staging loads.
      if (n > 32u) rd::fence_acquire(MemoryScope::System);
      rows = n == rows * 32u ? (rows * 2u > max_rows ? max_rows : rows * 2u) : (n < rows * 16u && rows > 1u ? rows / 2u : rows);
    } else if (sp == Source::K2k) {
      n = kn;
      if (poll_host) rd::fence_acquire(MemoryScope::Device);
    } else {
      n = cn;
      rd::fence_acquire(MemoryScope::Cluster);
    }
    if (!from_host) k2k_recent = detail::kK2kFastPolls;
    __syncwarp();
    const RingView& ring = from_host ? d.inbox : sp == Source::K2k ? d.k2k : cview;
    const std::uint64_t base = from_host ? tail : sp == Source::K2k ? ktail : ctail;
    // The ordering limit is read after the publish flags (a limit the host set before publishing a message is
    // then seen), relaxed so it travels in the same round trip as the staging loads.
    std::uint64_t limit = UINT64_MAX;
    if (from_host && lane == 0) limit = rd::load_relaxed(&ctl->limit);
    // Stage the batch: each lane keeps kInFlight 16-byte loads in flight before storing any, so a batch
    // costs a few PCIe round trips rather than one per slot. Host slots are read uncached (host-written);
    // K2K slots through L2 (written by another SM; L1 is not coherent).
    const unsigned vecs_per_slot = ring.slot_size / 16u;
    const unsigned total = n * vecs_per_slot;
    constexpr unsigned kInFlight = 8;
    for (unsigned first = 0; first < total; first += 32u * kInFlight) {
      uint4 r[kInFlight];
#pragma unroll
      for (unsigned k = 0; k < kInFlight; ++k) {
        const unsigned idx = first + k * 32u + lane;
        if (idx < total) {
          const unsigned i = idx / vecs_per_slot;
          const uint4* src = reinterpret_cast<const uint4*>(ring.slot(base + i)) + (idx - i * vecs_per_slot);
          r[k] = from_host ? __ldcv(src) : sp == Source::K2k ? __ldcg(src) : *src;
        }
      }
#pragma unroll
      for (unsigned k = 0; k < kInFlight; ++k) {
        const unsigned idx = first + k * 32u + lane;
        if (idx < total) staging[idx] = r[k];
      }
    }
    limit = __shfl_sync(~0u, limit, 0);
    if (limit <= base) n = 0;
    else if (limit - base < n) n = static_cast<unsigned>(limit - base);
    __syncwarp();

    unsigned done = 0;
    bool failed = false;
    if (lane == 0 && n != 0) {
      env.now_ms = wall0 + (globaltimer_ns() - timer0) / 1'000'000u;
      env.reply_buf = reply_buf;
      env.reply_dst = reply_dst;
      env.reply_vecs = reply_vecs;
      env.reply_cap_slots = shape.reply_slots;
      env.reply_cap_vecs = shape.reply_bytes / 16u;
      env.reply_count = 0;
      env.reply_used = 0;
      env.reply_uniform = 0;
      for (; done < n && !failed; ++done) {
        const auto* slot = reinterpret_cast<const std::byte*>(staging + done * vecs_per_slot);
        const auto& h = *reinterpret_cast<const MessageHeader*>(slot);
        if (sp == Source::Cluster && h.destination != env.self) continue;  // sent to the slot's previous actor
        hlc = hlc_next_update(hlc, h.hlc, env.now_ms);
        DeviceContext ctx(env, &h);
        const ErrorCode rc =
            dispatch_message(*actor, ctx, h, slot + sizeof(MessageHeader), typename A::messages{});
        if (rc != ErrorCode::Ok) ++unknown;
        if (ctx.failed()) failed = true;
      }
      env.reply_buf = nullptr;
      processed += done;
      dirty = true;
    }
    // One fence publishes the batch: the replies (K2H head), the counters and the freed inbox slots. System
    // scope (about a PCIe round trip) only when host memory was written; a batch that stayed on the GPU uses
    // device scope. Every lane fences, because every lane wrote buffered replies.
    const bool touched_host = __shfl_sync(~0u, from_host || k2h.staged() != 0, 0);
    const std::uint32_t replies = __shfl_sync(~0u, env.reply_count, 0);
    const std::uint32_t uniform = __shfl_sync(~0u, env.reply_uniform, 0);
    std::uint64_t now = 0;
    if (lane == 0 && n != 0) {
      now = globaltimer_ns();
      if (touched_host) flush_counters(now);  // a host that sees a reply sees it counted
    }
    if (replies != 0) {
      // The warp writes the batch's buffered replies to their K2H slots: coalesced 16-byte stores.
      __syncwarp();
      if (uniform != 0) {
        // All replies the same size (the common case): every lane stores a different vector of the batch.
        const std::uint32_t total_vecs = replies * uniform;
        for (std::uint32_t idx = lane; idx < total_vecs; idx += 32u) {
          const std::uint32_t j = idx / uniform;
          reinterpret_cast<uint4*>(reply_dst[j])[idx - j * uniform] = reply_buf[idx];
        }
      } else {
        std::uint32_t off = 0;
        for (std::uint32_t j = 0; j < replies; ++j) {
          const std::uint32_t vecs = reply_vecs[j];
          uint4* dst = reinterpret_cast<uint4*>(reply_dst[j]);
          for (std::uint32_t v = lane; v < vecs; v += 32u) dst[v] = reply_buf[off + v];
          off += vecs;
        }
      }
    }
    if (n != 0) {
      rd::fence_release(touched_host            ? MemoryScope::System
                        : sp == Source::Cluster ? MemoryScope::Cluster
                                                : MemoryScope::Device);
      __syncwarp();
    }
    if (lane == 0 && n != 0) {
      env.reply_count = 0;
      if (touched_host) k2h.publish(/*fenced=*/true);
      if (from_host) {
        tail += done;
        rd::store_relaxed(&d.inbox.control->tail, tail);
      } else if (sp == Source::K2k) {
        ktail += done;
        rd::store_relaxed(&d.k2k.control->tail, ktail, MemoryScope::Device);
      } else {
        ctail += done;
        rd::store_relaxed(&cview.control->tail, ctail, MemoryScope::Cluster);
      }
      if (failed) {
        // Hand the message the handler failed on to the host (it dead-letters it), before the state says so.
        if (d.failed_msg != nullptr && vecs_per_slot * 16u <= d.failed_capacity) {
          const uint4* src = staging + (done - 1) * vecs_per_slot;
          uint4* dst = static_cast<uint4*>(d.failed_msg);
          for (unsigned v = 0; v < vecs_per_slot; ++v) dst[v] = src[v];
        }
        state = static_cast<std::uint32_t>(ActorState::Failed);
        flush_counters(now);
        rd::store_relaxed(&ctl->errors, ++errors);
        rd::store_relaxed(&ctl->last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
        rd::store_release(&ctl->state, state);
      } else if (now - last_flush > detail::kCounterFlushNs) {
        flush_counters(now);
      }
    }
    tail = __shfl_sync(~0u, tail, 0);
    ktail = __shfl_sync(~0u, ktail, 0);
    ctail = __shfl_sync(~0u, ctail, 0);
    state = __shfl_sync(~0u, state, 0);
    dirty = __shfl_sync(~0u, dirty, 0);
    if (n == 0) detail::idle_wait(backoff, max_sleep, sleep_ns);
  }
}

/// Builds and registers the entry for `A`.
template <Actor A>
bool register_device_actor() {
  static_assert(std::is_trivially_copyable_v<A>,
                "a CUDA actor's state must be trivially copyable: it is built on the host and copied to the GPU");
  DeviceActorEntry e;
  e.type_key = typeid(A).name();
  e.kernel = reinterpret_cast<const void*>(&actor_kernel<A>);
  e.state_size = sizeof(A);
  e.state_align = alignof(A);
  return register_device_actor_entry(e);
}

} // namespace ringkernel::cuda

#define RK_CUDA_CONCAT_INNER(a, b) a##b
#define RK_CUDA_CONCAT(a, b) RK_CUDA_CONCAT_INNER(a, b)
/// Compiles actor type `A` for the GPU and registers it with the CUDA backend. Use once per type, in a .cu file.
#define RINGKERNEL_CUDA_ACTOR(A)                                                                             \
  [[maybe_unused]] static const bool RK_CUDA_CONCAT(rk_cuda_actor_registered_, __COUNTER__) =             \
      ::ringkernel::cuda::register_device_actor<A>();
