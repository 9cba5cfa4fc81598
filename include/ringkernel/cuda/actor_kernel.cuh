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
/// One 16-byte LL vector (two LL words: data, flag, data, flag), read whole with one uncached load; each
/// aligned 8-byte half arrives whole, which is all the LL protocol needs. Weak, not volatile: a warp's
/// volatile loads of host memory wait for each other (8 took 4.5 us on an H100, weak ones 1.6 us; probe
/// sysmem_ops.cu), and the flags, not the load, make the values safe to use.
__device__ __forceinline__ uint4 ll_load(const void* p) {
  uint4 v;
  // No "memory" clobber: nothing else in the kernel reads what this reads, and a clobber would make the
  // compiler reload every memory-resident local after each of these loads.
  asm volatile("ld.global.cv.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}
/// Stores one 16-byte LL vector to host memory (volatile: not held back in a cache until a fence). Ordered
/// before later fences by being volatile asm, like them.
__device__ __forceinline__ void ll_store(void* p, uint4 v) {
  asm volatile("st.volatile.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w));
}
/// How long a send to the host waits for room in a full K2H ring. The host runtime drains K2H by itself (its
/// pump naps at most ~200 us), so a full ring is back-pressure that clears; the bound is for a host that has
/// stopped draining, and after one timed-out wait later sends try once until one lands again.
inline constexpr std::uint64_t kK2hWaitNs = 5'000'000;

} // namespace detail

#ifdef RK_KERNEL_PROFILE
/// Stage timestamps (globaltimer ns) of slot 0's batches, for the probes in benchmarks/gpu/probes/ only: poll
/// issued, poll loads issued, batch validated, handlers done, replies ready to write, replies written, batch
/// published; then, inside a handler's K2K send: route read, cluster route read, message pushed; then batch
/// set up, HLC merge done, a send entered, its header built, handler returned - these (7-9, 11-14) for the
/// batch's first message only; 15: the host loads landed (the profile build waits for them there, before the
/// validation); the last entry is the batch's message count, not a time. Host batches are
/// recorded, or K2K ones with RK_PROFILE_K2K. Define RK_KERNEL_PROFILE to the number of rows before including
/// this header.
inline constexpr int kProfileStamps = 17;
__device__ std::uint64_t rk_profile[RK_KERNEL_PROFILE][kProfileStamps];
__device__ unsigned rk_profile_rows;
#define RK_PROFILE_STAMP(i) (prof[i] = globaltimer_ns())
#define RK_CTX_STAMP(i) (env_.prof != nullptr ? (void)(env_.prof[i] = globaltimer_ns()) : (void)0)
#else
#define RK_PROFILE_STAMP(i) ((void)0)
#define RK_CTX_STAMP(i) ((void)0)
#endif

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
  const std::uint32_t* route_tenants = nullptr;  ///< Per actor id: its tenant once routed, else kUnroutedTenant.
  std::uint32_t tenant = 0;              ///< This actor's tenant (TenantId).
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
  bool k2h_stalled = false;              ///< A wait for K2H room timed out and no send has landed since.
#ifdef RK_KERNEL_PROFILE
  std::uint64_t* prof = nullptr;         ///< The batch's stamps (RK_CTX_STAMP).
#endif
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
  /// Used by the kernel, not by handlers: returns the message being handled (`payload` follows its header) to
  /// the host marked msg_flags::kUnhandled, where it is dead-lettered (no handler for its type, or a payload of
  /// the wrong size) and the call that sent it fails at once, as on the other backends.
  __device__ void hand_back_unhandled(const std::byte* payload) { hand_back(*current_, payload, msg_flags::kUnhandled); }
  /// Used by the kernel: returns a K2K message addressed to the inbox's earlier actor (msg_flags::kStaleRoute).
  __device__ void hand_back_stale(const std::byte* payload) { hand_back(*current_, payload, msg_flags::kStaleRoute); }

private:
  // Writes a message (`payload`, 8-byte aligned, follows `header`) to the host marked with `mark` for the host
  // runtime to dead-letter; counted as a dropped reply when the K2H ring stays full.
  __device__ void hand_back(const MessageHeader& header, const std::byte* payload, std::uint8_t mark) {
    MessageHeader h = header;
    h.flags = static_cast<std::uint8_t>(h.flags | mark);
    const std::uint32_t bytes = static_cast<std::uint32_t>(sizeof(MessageHeader)) + h.payload_len;
    const std::uint32_t flag = ll_flag(env_.k2h->ring(), env_.k2h->next_position());
    std::byte* slot = bytes <= env_.k2h->slot_size() ? env_.k2h->try_claim() : nullptr;
    if (slot == nullptr && bytes <= env_.k2h->slot_size()) slot = claim_waiting();
    if (slot == nullptr) {
      ++*env_.replies_dropped;
      return;
    }
    env_.k2h_stalled = false;
    // Straight to the claimed slot (a rare path: no shared-memory buffering). Slots are claimed in order, so
    // replies buffered before it still land ahead of it for the host. The staged payload is 8-byte aligned.
    uint2 w[sizeof(MessageHeader) / 8];
    std::memcpy(w, &h, sizeof(h));
    const auto* p8 = reinterpret_cast<const uint2*>(__builtin_assume_aligned(payload, 8));
    auto* dst = reinterpret_cast<uint4*>(slot);
    for (std::uint32_t i = 0; i < (bytes + 7u) / 8u; ++i) {
      const uint2 v = i < sizeof(MessageHeader) / 8 ? w[i] : p8[i - sizeof(MessageHeader) / 8];
      detail::ll_store(dst + i, make_uint4(v.x, flag, v.y, flag));
    }
  }

private:
  template <Message T>
  __device__ ErrorCode deliver(ActorId to, const T& msg, std::uint8_t flags, std::uint32_t correlation) {
    RK_CTX_STAMP(12);
    MessageHeader h = make_header<T>(self(), to);
    h.flags = static_cast<std::uint8_t>(flags | (current_->flags & msg_flags::kTraceSampled));
    h.correlation_id = correlation;
    h.tenant = current_->tenant;
    h.priority = current_->priority;
    h.message_id = (*env_.next_message_id)++;
    h.hlc = now().packed;
    // Both at 8-byte offsets of an 8-aligned header (a byte array alone would be copied byte by byte).
    std::memcpy(h.trace_id, __builtin_assume_aligned(current_->trace_id, 8), sizeof(h.trace_id));
    std::memcpy(h.span_id, __builtin_assume_aligned(current_->span_id, 8), sizeof(h.span_id));
    RK_CTX_STAMP(13);
    if (to == kHostActor) return to_host(h, msg);
    if (to >= env_.route_count) {
      ++*env_.k2k_refused;
      return ErrorCode::ActorNotFound;
    }
    // The slot image, built here so the push writes it with 16-byte stores.
    constexpr std::uint32_t kImageVecs = (sizeof(MessageHeader) + sizeof(T) + 15) / 16;
    union Image {
      uint4 v[kImageVecs];
      std::byte b[kImageVecs * 16];
    } image;
    image.v[kImageVecs - 1] = make_uint4(0, 0, 0, 0);  // the bytes past the payload
    std::memcpy(image.b, &h, sizeof(MessageHeader));
    std::memcpy(image.b + sizeof(MessageHeader), &msg, sizeof(T));
    // The host rewrites routes as actors come and go, so they are read uncached; with clusters, the cluster
    // route is read in the same L2 round trip (issued before either is used).
    RingView route;
    ClusterRoute cr{};
    detail::copy_uncached_view(&route, env_.routes + to);
    std::uint32_t to_tenant = __ldcv(env_.route_tenants + to);
    if (env_.cluster_size > 1) detail::copy_uncached_n<sizeof(cr)>(&cr, env_.croutes + to);
    RK_CTX_STAMP(7);
    if (route.control == nullptr) {
      ++*env_.k2k_refused;
      return ErrorCode::ActorNotFound;
    }
    if (to_tenant == kUnroutedTenant) {  // read before its publication (the loads above are not ordered)
      ringkernel::detail::fence_acquire(MemoryScope::Device);
      to_tenant = __ldcv(env_.route_tenants + to);
    }
    if (env_.tenant != kSystemTenant && to_tenant != kSystemTenant && env_.tenant != to_tenant) {
      // As on the host: refused, and dead-lettered there (the message goes back marked for it).
      ++*env_.k2k_refused;
      hand_back(h, image.b + sizeof(MessageHeader), msg_flags::kTenantRefused);
      return ErrorCode::TenantViolation;
    }
    if (env_.cluster_size > 1) {
      // The receiving block writes its cluster route before its global route, with a fence in between. A
      // target in this cluster is always reached through its shared-memory inbox, which keeps per-sender order.
      if (cr.tag == 0) {
        // Every actor of a clustered runtime publishes a non-zero cluster route before its global route; a zero
        // one means this read overtook that publication (two plain loads are not ordered): order and re-read,
        // so the first message does not take the global path and a later one the cluster path.
        ringkernel::detail::fence_acquire(MemoryScope::Device);
        detail::copy_uncached_n<sizeof(cr)>(&cr, env_.croutes + to);
      }
      RK_CTX_STAMP(8);
      if (cr.tag == env_.group_tag && cr.cluster == env_.cluster_id) {
        auto* local = env_.smem_base + static_cast<std::size_t>(cr.warp) * env_.slot_bytes;
        auto* remote = static_cast<std::byte*>(cooperative_groups::this_cluster().map_shared_rank(
            static_cast<void*>(local), cr.rank));
        RingView inbox = ring_layout(remote, RingKind::Mpsc, kClusterInboxSlots, env_.cinbox_slot_size);
        inbox.scope = MemoryScope::Cluster;
        // The receiver's own slots bound it too (the cluster inbox's may be larger): what it is sent fits its
        // other queues, the one a message without a handler goes back through included.
        const ErrorCode rc = sizeof(MessageHeader) + sizeof(T) <= env_.cinbox_slot_size &&
                                     sizeof(MessageHeader) + sizeof(T) <= route.slot_size
                                 ? MpscProducer(inbox).try_push_image(image.v, kImageVecs)
                                 : ErrorCode::MessageTooLarge;
        RK_CTX_STAMP(9);
        if (rc != ErrorCode::Ok) ++*env_.k2k_refused;
        return rc;
      }
    }
    const ErrorCode rc = sizeof(MessageHeader) + sizeof(T) <= route.slot_size
                             ? MpscProducer(route).try_push_image(image.v, kImageVecs)
                             : ErrorCode::MessageTooLarge;
    RK_CTX_STAMP(9);
    if (rc != ErrorCode::Ok) ++*env_.k2k_refused;
    return rc;
  }

  template <Message T>
  __device__ ErrorCode to_host(const MessageHeader& h, const T& msg) {
    if (sizeof(MessageHeader) + sizeof(T) > env_.k2h->slot_size()) {
      ++*env_.replies_dropped;
      return ErrorCode::MessageTooLarge;
    }
    const std::uint32_t flag = ll_flag(env_.k2h->ring(), env_.k2h->next_position());
    std::byte* slot = env_.k2h->try_claim();
    if (slot == nullptr) slot = claim_waiting();
    if (slot == nullptr) {
      ++*env_.replies_dropped;
      return ErrorCode::QueueFull;
    }
    env_.k2h_stalled = false;  // the host drains again: the next full ring is waited for
    // The K2H ring is an LL ring: every 8 bytes of the message go out as one 16-byte vector with the
    // position's flag twice, so the host can read the reply as soon as it lands, without a system fence here.
    // The image is built locally, then written with 16-byte stores (a byte-wise memcpy would become one PCIe
    // write per byte): into the batch's shared-memory reply buffer when there is room (the warp copies it out
    // after the batch), else straight to the mapped slot. Positions are claimed in order either way.
    constexpr std::size_t kVecs = (sizeof(MessageHeader) + sizeof(T) + 7) / 8;
    std::uint32_t raw[kVecs * 2];
    std::memcpy(raw, &h, sizeof(MessageHeader));
    std::memcpy(reinterpret_cast<std::byte*>(raw) + sizeof(MessageHeader), &msg, sizeof(T));
    if constexpr ((sizeof(MessageHeader) + sizeof(T)) % 8 != 0) {
      std::memset(reinterpret_cast<std::byte*>(raw) + sizeof(MessageHeader) + sizeof(T), 0,
                  kVecs * 8 - sizeof(MessageHeader) - sizeof(T));
    }
    uint4 image[kVecs];
#pragma unroll
    for (std::size_t i = 0; i < kVecs; ++i) image[i] = make_uint4(raw[2 * i], flag, raw[2 * i + 1], flag);
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
    if (dst != reinterpret_cast<uint4*>(slot)) {
#pragma unroll
      for (std::size_t i = 0; i < kVecs; ++i) dst[i] = image[i];
    } else {
#pragma unroll
      for (std::size_t i = 0; i < kVecs; ++i) detail::ll_store(dst + i, image[i]);
    }
    return ErrorCode::Ok;
  }

  // The K2H ring is full. Replies buffered in shared memory hold claimed slots the host cannot see yet (with
  // a ring no larger than the buffer, nothing could ever free up), so they go out first; then the block waits
  // for the host to free slots (each try re-reads the host's position: a PCIe round trip), up to kK2hWaitNs.
  __device__ std::byte* claim_waiting() {
    std::uint32_t off = 0;
    for (std::uint32_t j = 0; j < env_.reply_count; ++j) {
      uint4* dst = reinterpret_cast<uint4*>(env_.reply_dst[j]);
      for (std::uint32_t v = 0; v < env_.reply_vecs[j]; ++v) detail::ll_store(dst + v, env_.reply_buf[off + v]);
      off += env_.reply_vecs[j];
    }
    env_.reply_count = env_.reply_used = env_.reply_uniform = 0;
    const std::uint64_t give_up = globaltimer_ns() + (env_.k2h_stalled ? 0 : detail::kK2hWaitNs);
    for (;;) {
      if (std::byte* slot = env_.k2h->try_claim()) return slot;
      if (globaltimer_ns() >= give_up) {
        env_.k2h_stalled = true;
        return nullptr;
      }
    }
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

/// Opens an MPSC inbox that close_inbox closed for an earlier consumer (lane 0): consumption resumes at the
/// closed head (what was queued was read out by the host meanwhile), then producers may claim again. Returns the
/// consumer position: the stored one when the inbox was not closed (already reopened by a Load that timed out
/// on the host but was applied).
__device__ inline std::uint64_t reopen_inbox(const RingView& r) {
  namespace rd = ringkernel::detail;
  std::uint64_t h = rd::load_relaxed(&r.control->head, r.scope);
  if ((h & kRingClosed) == 0) return rd::load_relaxed(&r.control->tail, r.scope);
  const std::uint64_t tail = h & ~kRingClosed;
  rd::store_relaxed(&r.control->tail, tail, r.scope);
  rd::store_relaxed(&r.control->tail_seen, tail, r.scope);
  rd::fence_release(r.scope);  // producers that see the inbox open see its new consumer position
  while ((h & kRingClosed) != 0 && !rd::compare_exchange_weak_relaxed(&r.control->head, h, h & ~kRingClosed, r.scope)) {
  }
  return tail;
}

/// Leading ready slots in a warp ballot of publish flags (lane i = position base + i).
__device__ __forceinline__ unsigned ready_prefix(unsigned ballot) {
  return ballot == ~0u ? 32u : static_cast<unsigned>(__ffs(~ballot) - 1);
}

/// 16-byte loads of LL vectors each lane keeps in flight per poll of the host inbox: one poll reads up to
/// 32 x 8 x 16 bytes of LL words, i.e. 2 KiB of messages (8 slots of 256 bytes). 16 made the kernel spill.
inline constexpr unsigned kLlLoads = 8;

/// True when bits [first, first + count) of a poll's ballot words are all set. The words are selected by an
/// unrolled compare, not indexed, so that they stay in registers when every lane asks for different bits.
__device__ __forceinline__ bool bits_set(const unsigned (&bits)[kLlLoads], unsigned first, unsigned count) {
  const unsigned end = first + count;
  bool all = true;
#pragma unroll
  for (unsigned k = 0; k < kLlLoads; ++k) {
    const unsigned lo = first > k * 32u ? first : k * 32u;
    const unsigned hi = end < k * 32u + 32u ? end : k * 32u + 32u;
    if (lo < hi) {
      const unsigned width = hi - lo;
      const unsigned mask = (width == 32u ? ~0u : (1u << width) - 1u) << (lo - k * 32u);
      all = all && (bits[k] & mask) == mask;
    }
  }
  return all && end <= 32u * kLlLoads;
}

/// The low `n` bits set (n <= 32).
__device__ __forceinline__ unsigned low_bits(unsigned n) { return n >= 32u ? ~0u : (1u << n) - 1u; }

/// All lanes copy `bytes` (rounded up to 16) with uncached 16-byte loads: the source is memory the host
/// rewrote (mapped descriptors and initial states), which a previous read may have left in a cache.
__device__ __forceinline__ void warp_copy_uncached(void* dst, const void* src, std::size_t bytes, unsigned lane) {
  auto* d = static_cast<uint4*>(dst);
  const auto* s = static_cast<const uint4*>(src);
  for (std::size_t i = lane; i < (bytes + 15) / 16; i += 32) d[i] = __ldcv(s + i);
}

/// Copies two regions (`n0` and `n1` bytes, multiples of 16 or the tail of a 16-byte vector) from mapped memory
/// with every lane's loads issued before its stores: a Load's descriptor and state arrive in one PCIe round
/// trip (copying them one after the other, or with a store after each load, costs one per region and per 512
/// bytes). Weak uncached loads, like ll_load: volatile ones would wait for each other.
__device__ __forceinline__ void warp_gather_uncached(void* dst0, const void* src0, unsigned n0, void* dst1,
                                                     const void* src1, unsigned n1, unsigned lane) {
  constexpr unsigned kInFlight = 8;
  const unsigned v0 = (n0 + 15u) / 16u, total = v0 + (n1 + 15u) / 16u;
  for (unsigned first = 0; first < total; first += 32u * kInFlight) {
    uint4 r[kInFlight];
#pragma unroll
    for (unsigned k = 0; k < kInFlight; ++k) {
      const unsigned i = first + k * 32u + lane;
      if (i < total) r[k] = ll_load(i < v0 ? static_cast<const uint4*>(src0) + i : static_cast<const uint4*>(src1) + (i - v0));
    }
#pragma unroll
    for (unsigned k = 0; k < kInFlight; ++k) {
      const unsigned i = first + k * 32u + lane;
      if (i < total) (i < v0 ? static_cast<uint4*>(dst0)[i] : static_cast<uint4*>(dst1)[i - v0]) = r[k];
    }
  }
}

/// Whether `A`'s state is kept in shared memory while the actor runs (the host sizes shared memory by the same
/// rule: cuda::state_in_shared).
template <class A>
inline constexpr bool kStateInShared = state_in_shared(sizeof(A), alignof(A));

/// While device (K2K) traffic keeps a block busy, its host inbox and command word - PCIe reads of about a
/// microsecond that stall the warp - are polled only every this many iterations, so device hops are not paced
/// by PCIe (H100: 8 -> 64 took a K2K hop from about 4.1 to 3.1 us). A host message waits at most this many
/// fast polls (a few microseconds) while device traffic lasts.
inline constexpr unsigned kHostPollEvery = 64;
/// Polls a block stays in device-fast mode after a K2K batch (tens of microseconds): in a conversation
/// between device actors the next message is a hop away, and a PCIe poll in between would delay it.
inline constexpr unsigned kK2kFastPolls = 64;
/// An idle warp keeps two reads of its next host slot in flight, this far apart (about half a PCIe read round
/// trip on an H100): a message that lands is seen within about half a round trip instead of up to a whole one.
/// More than two made it slower (probe ll_request_reply: x2 2.06-2.25 us, x1 2.38-2.72, x3 3.05-3.25, x4 4.1+).
inline constexpr std::uint64_t kIdleReadGapNs = 900;
/// A busy block publishes its counters to the host at most this often (they are posted PCIe writes).
inline constexpr std::uint64_t kCounterFlushNs = 100'000;
/// An idle block publishes its counters once this long has passed since its last batch: not right after a
/// batch, where the system fence would delay the poll that picks up the next request of a conversation.
inline constexpr std::uint64_t kCounterIdleNs = 5'000;

} // namespace detail


/// The persistent kernel for actor type `A`: each warp is one actor slot (one warp per block, or up to
/// kMaxWarpsPerBlock independent warps sharing a block for small actors). Each poll reads the next slots of
/// the host inbox (an LL ring: the messages themselves, validated by their flags, in one PCIe round trip; more
/// slots per poll while batches come full) together with the device K2K inbox's flags and the command word.
/// A ready batch is staged in shared memory, lane 0 runs the handlers in order (actor semantics: one message
/// at a time), the warp writes the batch's replies to the K2H LL ring (no fence needed for the host to read
/// them), and then publishes the consumed positions and counters. Warps of a block never synchronize with
/// each other.
template <class A>
__global__ void __launch_bounds__(32 * kMaxWarpsPerBlock)
    actor_kernel(const SlotDescriptor* slots, SlotControl* controls, RingView* routes, ClusterRoute* croutes,
                 std::uint32_t* route_tenants, std::uint32_t route_count, KernelShape shape) {
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
  const void* const init_src = ctl->init_state;  // fixed per slot: a Load reads the state with its descriptor
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
  unsigned hwant = 1;         // host inbox slots a poll reads: grows while batches come full, shrinks when not
  unsigned max_want = 1;      // bounded by the loads of one poll and the staging buffer
  std::uint32_t sleep_ns = 64;
  SpscProducer k2h(d.outbox);
  // The host inbox's geometry in registers (set on Load): the poll runs on them every iteration, and `d` lives in
  // local memory.
  const std::byte* in_slots = nullptr;
  std::uint64_t in_mask = 0;
  std::uint32_t in_slot_size = 0, in_lap_shift = 0;
  std::uint32_t step_slots = 0, step_vecs = 0;  // 32 LL vectors = step_slots slots + step_vecs vectors
  A* actor = nullptr;
  BlockEnv env;
  env.k2h = &k2h;
  env.hlc = &hlc;
  env.next_message_id = &next_message_id;
  env.replies_dropped = &dropped;
  env.k2k_refused = &k2k_refused;
  env.routes = routes;
  env.croutes = croutes;
  env.route_tenants = route_tenants;
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
  // Counters the host may rely on: after a system fence, `k2h_counted` says which replies they cover (the
  // host waits for it to cover the replies it consumed before reading them; see device_processed).
  auto publish_counters = [&](std::uint64_t now) {
    flush_counters(now);
    rd::fence_release(MemoryScope::System);
    rd::store_relaxed(&ctl->k2h_counted, k2h.next_position());
  };
  std::uint64_t last_batch = 0;  // device time of the last batch (lane 0)
  // What a poll that handles nothing does (lane 0): counters once the block has been idle a while, and the
  // heartbeat at most once per ms (a PCIe write).
  auto idle_chores = [&] {
    const std::uint64_t now = globaltimer_ns();
    if (dirty && now - last_batch > detail::kCounterIdleNs) publish_counters(now);
    if (now - last_heartbeat > 1'000'000u) {
      rd::store_relaxed(&ctl->heartbeat, now);
      last_heartbeat = now;
    }
  };

  // The cluster inbox is built once, before any sender can know it: it is never reset while the kernel runs,
  // because a sender that read the route of a slot's previous actor may still be writing into it (messages
  // addressed to an earlier occupant are dropped when consumed). Shared memory of other blocks in the cluster
  // may only be touched once they have started.
  if (shape.cluster_size > 1) {
    reset_cluster_inbox();
    cooperative_groups::this_cluster().sync();
  }
  // The idle warp's two staggered reads of the next host slot (idle_reads below): the LL vector, the command
  // word / ordering limit (lanes 0 and 1) and the K2K flag. They live across the whole loop: a read left in
  // flight when the other one found a message must not have its registers reused before it lands (the
  // reuse would wait for it), so each set is only overwritten by its own next read.
  uint4 ra = make_uint4(0, 0, 0, 0), rb = make_uint4(0, 0, 0, 0);
  std::uint64_t wa = 0, wb = 0, ka = 0, kb = 0;
  // A read of idle_reads that found something: the next poll uses it instead of reading again.
  bool have_read = false;
  uint4 read_v = make_uint4(0, 0, 0, 0);
  std::uint64_t read_word = 0, read_kflag = 0;
  auto idle_read = [&](uint4& v, std::uint64_t& w, std::uint64_t& k) {
    // Ties the set's previous values to this point (it landed long ago), so they stay live until overwritten.
    asm volatile("" : "+r"(v.x), "+r"(v.y), "+r"(v.z), "+r"(v.w), "+l"(w), "+l"(k));
    w = 0;
    if (lane < 2) w = rd::load_relaxed(lane == 0 ? &ctl->cmd_seq : &ctl->limit);
    k = 0;
    if (d.k2k.control != nullptr) k = rd::load_relaxed(&d.k2k.seq[(ktail + lane) & d.k2k.mask], MemoryScope::Device);
    if (lane < in_slot_size / 8u) {
      v = detail::ll_load(reinterpret_cast<const uint4*>(in_slots + ((tail & in_mask) * in_slot_size << 1)) + lane);
    }
  };
  // Whether a read shows anything for the full poll: a command, a K2K message, a complete header of the next
  // host message, or a cluster-inbox message (shared memory, read now).
  auto idle_read_found = [&](const uint4& v, std::uint64_t w, std::uint64_t k) {
    const std::uint64_t cmd = __shfl_sync(~0u, w, 0);
    const std::uint32_t flag = ll_flag(tail, in_lap_shift);
    const bool header = lane >= sizeof(MessageHeader) / 8u || (v.y == flag && v.w == flag);
    const bool kr = d.k2k.control != nullptr && k == ktail + lane + 1;
    const bool cr = cview.control != nullptr &&
                    rd::load_relaxed(&cview.seq[(ctail + lane) & cview.mask], MemoryScope::Cluster) == ctail + lane + 1;
    return cmd != seen_cmd || __all_sync(~0u, header) || __any_sync(~0u, kr || cr);
  };
  auto spin_until = [](std::uint64_t t) {
    while (globaltimer_ns() < t) {
    }
  };
  // Idle, spinning (not backing off), host inbox slots of at most 256 bytes (one 16-byte LL vector per lane):
  // two reads in flight, each checked when it lands and issued again; returns with have_read set. `b_issued`:
  // the poll that just found nothing issued rb half a round trip after its own read (see the loop), so the
  // stagger already runs.
  auto idle_reads = [&](bool b_issued) {
    if (!b_issued) {
      idle_read(rb, wb, kb);
      spin_until(globaltimer_ns() + detail::kIdleReadGapNs);
    }
    idle_read(ra, wa, ka);
    for (;;) {
      if (idle_read_found(rb, wb, kb)) {
        read_v = rb, read_word = wb, read_kflag = kb;
        break;
      }
      idle_read(rb, wb, kb);
      if (idle_read_found(ra, wa, ka)) {
        read_v = ra, read_word = wa, read_kflag = ka;
        break;
      }
      idle_read(ra, wa, ka);
      if (lane == 0) idle_chores();
      dirty = __shfl_sync(~0u, dirty, 0);
    }
    have_read = true;
  };
#ifdef RK_KERNEL_PROFILE
  std::uint64_t prof[kProfileStamps] = {};
  env.prof = prof;
#endif
  for (;;) {
    RK_PROFILE_STAMP(0);
    const bool active = state == static_cast<std::uint32_t>(ActorState::Active);
    const bool poll_host = k2k_recent == 0 || host_skip >= detail::kHostPollEvery;
    // Issue every read of this poll before using any (all relaxed, so none holds the others back): the
    // command word, the K2K flags (device memory), the host inbox's next slots and the ordering limit.
    // The command word (lane 0) and the ordering limit (lane 1) share a line of the control block: read by one
    // instruction, they are one PCIe request.
    // have_read: idle_reads already read all of this (one slot, relaxed, as below) when it saw something.
    const bool use_read = have_read;
    have_read = false;
    std::uint64_t word = use_read ? read_word : 0;
    if (!use_read && poll_host && lane < 2) word = rd::load_relaxed(lane == 0 ? &ctl->cmd_seq : &ctl->limit);
    // K2K flags: relaxed when the host side is polled too (an acquire would hold the PCIe loads back; a
    // fence follows only if a K2K batch is taken), acquire when they are all this poll reads.
    const std::uint64_t kpos = ktail + lane;
    bool kready = false;
    if (active && d.k2k.control != nullptr) {
      const std::uint64_t* kflag = &d.k2k.seq[kpos & d.k2k.mask];
      kready = (use_read    ? read_kflag
                : poll_host ? rd::load_relaxed(kflag, MemoryScope::Device)
                            : rd::load_acquire(kflag, MemoryScope::Device)) == kpos + 1;
    }
    // The cluster inbox is this block's shared memory: polling it costs nothing next to the reads above.
    bool cready = false;
    if (active && cview.control != nullptr) {
      const std::uint64_t cpos = ctail + lane;
      cready = rd::load_relaxed(&cview.seq[cpos & cview.mask], MemoryScope::Cluster) == cpos + 1;
    }
    // The host inbox is an LL ring: the poll reads the next `hwant` slots whole (speculatively), so the read
    // that finds a message has also fetched it - one PCIe round trip per message, not flag then payload.
    // Lane l's k-th load is LL vector k * 32 + l of the run of slots (8 message bytes each).
    const unsigned lvps = in_slot_size / 8u;  // LL vectors per slot
    const unsigned ltotal = poll_host && active ? hwant * lvps : 0u;
    // A one-slot poll of a spinning, otherwise idle warp: half a round trip after its read, a second read (rb)
    // goes out, so a message landing just after the first read passed is not left for the next poll.
    const bool light = !backoff && active && poll_host && k2k_recent == 0 && hwant == 1u && lvps <= 32u;
    const std::uint64_t poll_start = light && !use_read ? globaltimer_ns() : 0;
    uint4 lv[detail::kLlLoads];
    std::uint64_t limit = UINT64_MAX;
    if (use_read) {
      lv[0] = read_v;  // hwant is 1 and a slot is at most 32 vectors: load 0 is the whole poll
    } else if (ltotal != 0) {
      // Slot and vector of load k, stepped by 32 vectors per load (no division per load: this is the poll's
      // critical path, and a single warp feels every instruction).
      unsigned i = lane / lvps, o = lane - i * lvps;
#pragma unroll
      for (unsigned k = 0; k < detail::kLlLoads; ++k) {
        if (k * 32u + lane < ltotal) {
          lv[k] = detail::ll_load(reinterpret_cast<const uint4*>(in_slots + (((tail + i) & in_mask) * in_slot_size << 1)) + o);
        }
        i += step_slots;
        o += step_vecs;
        if (o >= lvps) {
          o -= lvps;
          ++i;
        }
      }
    }
    const bool b_issued = poll_start != 0;
    if (b_issued) {
      spin_until(poll_start + detail::kIdleReadGapNs);
      idle_read(rb, wb, kb);
    }
    RK_PROFILE_STAMP(1);
    std::uint64_t seq = poll_host ? __shfl_sync(~0u, word, 0) : seen_cmd;
    // The limit read with the command word; a message sent after a command that set it carries
    // msg_flags::kAfterCommand and makes the batch re-read it below.
    if (ltotal != 0) limit = __shfl_sync(~0u, word, 1);
    if (seq != seen_cmd) {
      // The word carries the command (next_command_word). The fence makes the relaxed read that saw it an
      // acquire: what the host wrote before it (descriptor, state, flags) is read after it, by every lane once
      // the warp barrier follows.
      const auto cmd = static_cast<std::uint32_t>(command_of(seq));
      if (lane == 0) rd::fence_acquire(MemoryScope::System);
      __syncwarp();
      bool init_k2k = false;
      bool fresh_actor = false;  // Load of an actor new to this slot (not a restart)
      bool load_active = false;  // Load straight to Active (kLoadActivate)
      std::uint32_t loaded_id = 0;  // the actor a Load brings in
      if (cmd == static_cast<std::uint32_t>(SlotCommand::Exit)) {
        if (lane == 0) {
          // The last counters (published lazily while running), released by the acknowledgement.
          flush_counters(globaltimer_ns());
          rd::store_release(&ctl->k2h_counted, k2h.next_position());  // after the counters, for metrics()
          rd::store_release(&ctl->ack_seq, seq);
        }
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
      const bool reload = cmd == static_cast<std::uint32_t>(SlotCommand::Reload);
      // Not for an instance that failed on the device since the host decided (on_stop runs for healthy ones).
      if (reload && lane == 0 && actor != nullptr && state != static_cast<std::uint32_t>(ActorState::Failed)) {
        // A restart: the running instance's on_stop first (what it sends goes out with this command's
        // acknowledgement), then the Load below replaces it.
        env.now_ms = wall0 + (globaltimer_ns() - timer0) / 1'000'000u;
        MessageHeader none{};
        DeviceContext ctx(env, &none);
        detail::run_hook_on_device(*actor, ctx, false);
      }
      if (cmd == static_cast<std::uint32_t>(SlotCommand::Load) || reload) {
        const bool first_load = actor == nullptr;  // the slot's first Load since the kernel started
        __syncwarp();  // on_stop is done with the state the copy below replaces
        // One PCIe round trip reads all a Load needs: the load options and the actor id (control block words),
        // the descriptor, and a small state (its source is fixed per slot, known before the descriptor).
        std::uint32_t ctl_word = 0;
        if (lane == 0) ctl_word = rd::load_relaxed(&ctl->load_flags);
        if (lane == 1) ctl_word = rd::load_relaxed(&ctl->actor_id);
        static_assert(sizeof(SlotDescriptor) % 16 == 0);
        // Small states live in shared memory while the actor runs: a handler's read-modify-write of its state
        // then costs shared-memory latency instead of an L2 round trip per access (global stores do not stay
        // in L1). Larger states stay in the slot's device memory (copied there after the descriptor, or by the
        // host's copy engine when large: then the slot's init_state is null).
        if constexpr (detail::kStateInShared<A>) {
          actor = reinterpret_cast<A*>(state_smem);
          detail::warp_gather_uncached(loaded, slots + slot_index, sizeof(SlotDescriptor), state_smem,
                                       init_src, init_src != nullptr ? sizeof(A) : 0u, lane);
        } else {
          detail::warp_gather_uncached(loaded, slots + slot_index, sizeof(SlotDescriptor), nullptr, nullptr, 0u,
                                       lane);
        }
        __syncwarp();
        // Word copies (without the alignments the compiler copied it byte by byte: 176 loads and stores).
        std::memcpy(__builtin_assume_aligned(static_cast<void*>(&d), alignof(SlotDescriptor)),
                    __builtin_assume_aligned(static_cast<const void*>(loaded), 16), sizeof(SlotDescriptor));
        const std::uint32_t flags = __shfl_sync(~0u, ctl_word, 0);
        loaded_id = __shfl_sync(~0u, ctl_word, 1);
        if constexpr (!detail::kStateInShared<A>) {
          actor = static_cast<A*>(d.state);
          if ((flags & kLoadStateInPlace) == 0) detail::warp_copy_uncached(actor, init_src, sizeof(A), lane);
        } else if (init_src == nullptr) {
          detail::warp_copy_uncached(actor, d.state, sizeof(A), lane);  // the host copied it into the slot
        }
        // A new actor's K2K inbox: the warp zeroes its control block and sequence words (lane 0 finishes the
        // ring in the switch below).
        fresh_actor = (flags & kLoadInitK2k) != 0;
        load_active = (flags & kLoadActivate) != 0;
        // A recycled inbox (kLoadReopenK2k) is reopened below instead: stale senders may still push into it.
        init_k2k = fresh_actor && d.k2k.control != nullptr && (flags & kLoadReopenK2k) == 0;
        if (init_k2k) {
          const std::uint64_t words =
              static_cast<std::uint64_t>(d.k2k.slots - reinterpret_cast<std::byte*>(d.k2k.control)) / 16;
          auto* z = reinterpret_cast<uint4*>(d.k2k.control);
          for (std::uint64_t i = lane; i < words; i += 32) z[i] = make_uint4(0, 0, 0, 0);
          __syncwarp();
        }
        // The positions to resume from: a new actor's rings are new (all at 0); a restarted one keeps the slot
        // and its rings, whose positions this block alone has moved since its first Load (kept in registers).
        if (fresh_actor || first_load) {
          tail = 0;
          ktail = 0;
          k2h = SpscProducer(d.outbox, 0, 0);
        }
        in_slots = d.inbox.slots;
        in_mask = d.inbox.mask;
        in_slot_size = d.inbox.slot_size;
        in_lap_shift = d.inbox.lap_shift;
        if (in_slot_size != 0) {
          step_slots = 32u / (in_slot_size / 8u);
          step_vecs = 32u - step_slots * (in_slot_size / 8u);
        }
        const std::uint32_t slot_size = d.inbox.slot_size != 0 ? d.inbox.slot_size : 64u;
        // One poll reads at most 32 x kLlLoads LL vectors (slot_size / 8 per slot) into the staging area.
        max_want = staging_bytes / slot_size;
        if (max_want > 32u * detail::kLlLoads / (slot_size / 8u)) max_want = 32u * detail::kLlLoads / (slot_size / 8u);
        if (max_want > 32u) max_want = 32u;  // the validation checks one slot per lane
        if (max_want == 0) max_want = 1;
        hwant = 1;
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
          case SlotCommand::Load:
          case SlotCommand::Reload: {
            env.self = loaded_id;
            env.tenant = d.tenant;
            env.k2h_stalled = false;  // a wait that timed out for the slot's earlier actor says nothing of this one
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
            } else if (fresh_actor && d.k2k.control != nullptr) {
              // A new actor given a terminated one's inbox (closed then; the host dead-lettered its contents):
              // consumption resumes past them and the inbox opens again. A sender still holding the old route
              // may push into it; such messages carry the old destination and are handed back (below).
              ktail = detail::reopen_inbox(d.k2k);
            }
            // Likewise the slot's cluster inbox, closed when its previous actor terminated.
            if (fresh_actor && cview.control != nullptr) ctail = detail::reopen_inbox(cview);
            // Publish a new actor's route. A restarted one's stays: the host clears it when the actor is released,
            // not across restarts, so messages other actors send during a restart wait in the inbox.
            if (fresh_actor && d.k2k.control != nullptr && env.self < route_count) {
              // The tenant and the cluster route first: a sender that sees the global route and not yet these
              // (kUnroutedTenant, a zero tag) orders and reads them again.
              route_tenants[env.self] = env.tenant;
              if (cview.control != nullptr) {
                croutes[env.self] = ClusterRoute{shape.group_tag, env.cluster_id,
                                                 cooperative_groups::this_cluster().block_rank(), warp};
              }
              rd::fence_release(MemoryScope::Device);
              routes[env.self] = d.k2k;
              rd::fence_release(MemoryScope::Device);
            }
            DeviceContext ctx(env, &none);
            detail::run_hook_on_device(*actor, ctx, true);
            state = static_cast<std::uint32_t>(load_active ? ActorState::Active : ActorState::Launched);
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
             cmd == static_cast<std::uint32_t>(SlotCommand::Load) || reload) &&
            actor != nullptr) {
          __syncwarp();
          auto* dst = static_cast<uint4*>(d.state);
          const auto* src = reinterpret_cast<const uint4*>(actor);
          for (std::size_t i = lane; i < (sizeof(A) + 15) / 16; i += 32) dst[i] = src[i];
        }
      }
      __syncwarp();
      if (lane == 0) {
        // One system fence, after the warp barrier, orders the counters, the state word and a written-back
        // state before both acknowledgements (a release store each would be a PCIe-ordered fence each; a
        // Load used to wait for three).
        rd::fence_release(MemoryScope::System);
        rd::store_relaxed(&ctl->k2h_counted, k2h.next_position());  // covers the counters, for metrics()
        rd::store_relaxed(&ctl->ack_seq, seq);
      }
      seen_cmd = seq;
      state = __shfl_sync(~0u, state, 0);
      ktail = __shfl_sync(~0u, ktail, 0);
      ctail = __shfl_sync(~0u, ctail, 0);
      k2k_recent = 0;
      continue;
    }
    unsigned n = 0;
    bool after_command = false;
#ifdef RK_KERNEL_PROFILE
    if (ltotal != 0) {
      // Waits for every load of the poll (an instruction that reads them all), so that the stamp separates the
      // read from the validation below.
      unsigned acc = 0, sink;
#pragma unroll
      for (unsigned k = 0; k < detail::kLlLoads; ++k) {
        if (k * 32u + lane < ltotal) acc ^= lv[k].x ^ lv[k].y ^ lv[k].z ^ lv[k].w;
      }
      asm volatile("mov.u32 %0, %1;" : "=r"(sink) : "r"(acc));
      RK_PROFILE_STAMP(15);
    }
#endif
    if (ltotal != 0) {
      // Validate: a vector is this lap's when both its flags are; its 8 message bytes go to the staging area
      // (slot i at staging + i * slot_size, as for the other sources). A slot is ready when the vectors its
      // header and payload need are all valid; the batch is the ready prefix.
      unsigned valid[detail::kLlLoads];
      auto* staged8 = reinterpret_cast<uint2*>(staging);
      unsigned i = lane / lvps, o = lane - i * lvps;
      // The last poll's lanes have read their headers from the staging area (a ballot orders the warp's
      // execution, not its shared-memory accesses: racecheck saw this write overtake such a read).
      __syncwarp();
#pragma unroll
      for (unsigned k = 0; k < detail::kLlLoads; ++k) {
        const unsigned idx = k * 32u + lane;
        bool ok = false;
        if (idx < ltotal) {
          const std::uint32_t flag = ll_flag(tail + i, in_lap_shift);
          ok = lv[k].y == flag && lv[k].w == flag;
          staged8[idx] = make_uint2(lv[k].x, lv[k].z);
        }
        valid[k] = __ballot_sync(~0u, ok);
        i += step_slots;
        o += step_vecs;
        if (o >= lvps) {
          o -= lvps;
          ++i;
        }
      }
      __syncwarp();
      // Lane j checks slot j (hwant <= 32): its header's vectors valid, a length that fits, the vectors that
      // length needs valid. The batch is the prefix of ready slots. (A loop over the slots on every lane, with
      // the ballot words indexed at run time from local memory, took 3.8 us for 16 slots.)
      constexpr unsigned kHeaderVecs = sizeof(MessageHeader) / 8u;
      bool ready = false, marked = false;
      if (lane < hwant && detail::bits_set(valid, lane * lvps, kHeaderVecs)) {
        const auto* hdr = reinterpret_cast<const MessageHeader*>(reinterpret_cast<const std::byte*>(staging) +
                                                                 std::size_t{lane} * in_slot_size);
        const unsigned len = hdr->payload_len;
        // A torn header (a length past the slot) is not ready: no producer writes one.
        ready = len <= in_slot_size - sizeof(MessageHeader) &&
                detail::bits_set(valid, lane * lvps, (static_cast<unsigned>(sizeof(MessageHeader)) + len + 7u) / 8u);
        marked = ready && (hdr->flags & msg_flags::kAfterCommand) != 0;
      }
      n = detail::ready_prefix(__ballot_sync(~0u, ready));
      after_command = (__ballot_sync(~0u, marked) & detail::low_bits(n)) != 0;
    }
    const unsigned kn = detail::ready_prefix(__ballot_sync(~0u, kready));
    const unsigned cn = detail::ready_prefix(__ballot_sync(~0u, cready));
    host_skip = poll_host ? 0u : host_skip + 1u;
    if (n == 0 && kn == 0 && cn == 0) {
      if (k2k_recent != 0) --k2k_recent;
      if (!poll_host) continue;  // the host side was not polled: do that before calling it idle
      hwant = 1;                 // an idle poll reads one slot
      if (lane == 0) idle_chores();
      dirty = __shfl_sync(~0u, dirty, 0);
      if (light) idle_reads(b_issued);
      else detail::idle_wait(backoff, max_sleep, sleep_ns);
      continue;
    }
    sleep_ns = 64;
    // Host messages first (they carry the lifecycle ordering limit), then the global K2K inbox, then the
    // cluster inbox.
    enum class Source : unsigned { Host, K2k, Cluster };
    const Source sp = n != 0 ? Source::Host : kn != 0 ? Source::K2k : Source::Cluster;
    const bool from_host = sp == Source::Host;
    RK_PROFILE_STAMP(2);
    if (from_host) {
      hwant = n == hwant ? (hwant * 2u > max_want ? max_want : hwant * 2u) : (n * 2u < hwant ? hwant / 2u : hwant);
      if (after_command && lane == 0) {
        // The sender saw a command's limit before writing this message: order a fresh read after the message.
        rd::fence_acquire(MemoryScope::System);
        limit = rd::load_acquire(&ctl->limit);
      }
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
    // Stage a device batch (host messages were staged by the poll): each lane keeps kInFlight 16-byte loads in
    // flight before storing any, K2K slots through L2 (written by another SM; L1 is not coherent).
    const unsigned vecs_per_slot = ring.slot_size / 16u;
    const unsigned total = from_host ? 0u : n * vecs_per_slot;
    constexpr unsigned kInFlight = 8;
    for (unsigned first = 0; first < total; first += 32u * kInFlight) {
      uint4 r[kInFlight];
#pragma unroll
      for (unsigned k = 0; k < kInFlight; ++k) {
        const unsigned idx = first + k * 32u + lane;
        if (idx < total) {
          const unsigned i = idx / vecs_per_slot;
          const uint4* src = reinterpret_cast<const uint4*>(ring.slot(base + i)) + (idx - i * vecs_per_slot);
          r[k] = sp == Source::K2k ? __ldcg(src) : *src;
        }
      }
#pragma unroll
      for (unsigned k = 0; k < kInFlight; ++k) {
        const unsigned idx = first + k * 32u + lane;
        if (idx < total) staging[idx] = r[k];
      }
    }
    limit = from_host ? __shfl_sync(~0u, limit, 0) : UINT64_MAX;
    if (limit <= base) n = 0;
    else if (limit - base < n) n = static_cast<unsigned>(limit - base);
    __syncwarp();

    unsigned done = 0;
    unsigned handed_back = 0;  // messages of the batch for an earlier owner of the inbox: not this actor's work
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
      RK_PROFILE_STAMP(10);
      for (; done < n && !failed; ++done) {
        // Staged slots are 16-byte aligned; saying so turns the handler's payload copy and the header reads
        // into vector loads (unknown alignment made them byte loads: dozens of dependent shared loads).
        const auto* slot = static_cast<const std::byte*>(__builtin_assume_aligned(staging + done * vecs_per_slot, 16));
        const auto& h = *reinterpret_cast<const MessageHeader*>(slot);
        if (sp != Source::Host && h.destination != env.self) {
          // Sent through a route read before the inbox's previous actor terminated: back to the host, which
          // dead-letters it (the sender's push had succeeded).
          DeviceContext(env, &h).hand_back_stale(slot + sizeof(MessageHeader));
          ++handed_back;
          continue;
        }
        hlc = hlc_next_update(hlc, h.hlc, env.now_ms);
#ifdef RK_KERNEL_PROFILE
        if (done == 0) RK_PROFILE_STAMP(11);
#endif
        DeviceContext ctx(env, &h);
        const ErrorCode rc =
            dispatch_message<16>(*actor, ctx, h, slot + sizeof(MessageHeader), typename A::messages{});
        if (rc != ErrorCode::Ok) {
          ++unknown;
          ctx.hand_back_unhandled(slot + sizeof(MessageHeader));
        }
        if (ctx.failed()) failed = true;
#ifdef RK_KERNEL_PROFILE
        if (done == 0) {
          RK_PROFILE_STAMP(14);
          env.prof = nullptr;  // the sends of later messages are not stamped: the first message's stay
        }
#endif
      }
#ifdef RK_KERNEL_PROFILE
      env.prof = prof;
#endif
      env.reply_buf = nullptr;
      RK_PROFILE_STAMP(3);
      processed += done - handed_back;
      dirty = true;
    }
    // Publishing the batch. Replies are LL vectors: the host reads each as soon as it lands, so they need no
    // fence. Then the freed inbox positions (a K2K batch frees its slots after a device- or cluster-scope fence:
    // other SMs' senders reuse them). The counters follow later (publish_counters: when idle, at least every
    // kCounterFlushNs when busy, at once on a failure), off the path of the next request.
    const bool replied = __shfl_sync(~0u, k2h.staged() != 0, 0);
    const std::uint32_t replies = __shfl_sync(~0u, env.reply_count, 0);
    const std::uint32_t uniform = __shfl_sync(~0u, env.reply_uniform, 0);
    if (replies != 0) {
      // The warp writes the batch's buffered replies to their K2H slots: coalesced 16-byte stores.
      __syncwarp();
      RK_PROFILE_STAMP(4);
      if (uniform != 0) {
        // All replies the same size (the common case): every lane stores a different vector of the batch.
        const std::uint32_t total_vecs = replies * uniform;
        for (std::uint32_t idx = lane; idx < total_vecs; idx += 32u) {
          const std::uint32_t j = idx / uniform;
          detail::ll_store(reinterpret_cast<uint4*>(reply_dst[j]) + (idx - j * uniform), reply_buf[idx]);
        }
      } else {
        std::uint32_t off = 0;
        for (std::uint32_t j = 0; j < replies; ++j) {
          const std::uint32_t vecs = reply_vecs[j];
          uint4* dst = reinterpret_cast<uint4*>(reply_dst[j]);
          for (std::uint32_t v = lane; v < vecs; v += 32u) detail::ll_store(dst + v, reply_buf[off + v]);
          off += vecs;
        }
      }
    }
    RK_PROFILE_STAMP(5);
    if (n != 0 && !from_host) {
      rd::fence_release(sp == Source::Cluster ? MemoryScope::Cluster : MemoryScope::Device);
      __syncwarp();
    }
    if (lane == 0 && n != 0) {
      env.reply_count = 0;
      if (replied) k2h.publish();
      if (from_host) {
        // The staged messages were read (their values used) before this store, so the host may reuse the slots.
        tail += done;
        rd::store_relaxed(&d.inbox.control->tail, tail);
      } else if (sp == Source::K2k) {
        ktail += done;
        rd::store_relaxed(&d.k2k.control->tail, ktail, MemoryScope::Device);
      } else {
        ctail += done;
        rd::store_relaxed(&cview.control->tail, ctail, MemoryScope::Cluster);
      }
      const std::uint64_t now = globaltimer_ns();
      last_batch = now;
      if (failed) {
        // Hand the message the handler failed on to the host (it dead-letters it), before the state says so.
        if (d.failed_msg != nullptr && vecs_per_slot * 16u <= d.failed_capacity) {
          const uint4* src = staging + (done - 1) * vecs_per_slot;
          uint4* dst = static_cast<uint4*>(d.failed_msg);
          for (unsigned v = 0; v < vecs_per_slot; ++v) dst[v] = src[v];
        }
        state = static_cast<std::uint32_t>(ActorState::Failed);
        rd::store_relaxed(&ctl->errors, ++errors);
        rd::store_relaxed(&ctl->last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
      }
      if (failed) {
        publish_counters(now);
        rd::store_relaxed(&ctl->state, state);  // after the fence: the failed message and counters come first
      } else if (now - last_flush > detail::kCounterFlushNs) {
        publish_counters(now);
      }
#ifdef RK_KERNEL_PROFILE
      RK_PROFILE_STAMP(6);
      prof[kProfileStamps - 1] = done;
#ifdef RK_PROFILE_K2K
      const bool record = !from_host;
#else
      const bool record = from_host;
#endif
      if (record && slot_index == 0) {
        const unsigned row = atomicAdd(&rk_profile_rows, 1u);
        if (row < RK_KERNEL_PROFILE) {
          for (int i = 0; i < kProfileStamps; ++i) rk_profile[row][i] = prof[i];
        }
      }
#endif
    }
    tail = __shfl_sync(~0u, tail, 0);
    ktail = __shfl_sync(~0u, ktail, 0);
    ctail = __shfl_sync(~0u, ctail, 0);
    if (n == 0 && lane == 0) idle_chores();  // held at the ordering limit: idle until the command comes
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
