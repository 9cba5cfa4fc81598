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
// Copies memory another agent (a host copy) rewrote, bypassing L1 so no stale line is read. Both buffers
// are 8-byte aligned and sized in whole 8-byte words (rounding up stays inside the 128-byte strides used).
__device__ __forceinline__ void copy_uncached(void* dst, const void* src, std::size_t bytes) {
  auto* d8 = static_cast<unsigned long long*>(dst);
  const auto* s8 = static_cast<const unsigned long long*>(src);
  for (std::size_t i = 0; i < (bytes + 7) / 8; ++i) d8[i] = __ldcv(s8 + i);
}
__device__ __forceinline__ void copy_uncached_view(RingView* dst, const RingView* src) {
  static_assert(sizeof(RingView) % 8 == 0);
  copy_uncached(dst, src, sizeof(RingView));
}
} // namespace detail

/// Per-block state every handler invocation shares (kept in registers/local memory by the kernel).
struct BlockEnv {
  ActorId self = 0;                      ///< The actor in this slot.
  SpscProducer* k2h = nullptr;           ///< Reply ring to the host.
  std::uint64_t wall0_ms = 0;            ///< Host wall clock at kernel launch.
  std::uint64_t timer0_ns = 0;           ///< Device timer at kernel start.
  std::uint64_t* hlc = nullptr;          ///< Actor HLC.
  std::uint64_t* next_message_id = nullptr;  ///< Message id counter.
  std::uint64_t* replies_dropped = nullptr;  ///< Replies lost to a full K2H ring.
  std::uint64_t* k2k_refused = nullptr;      ///< K2K sends refused (full, unknown actor).
  const RingView* routes = nullptr;      ///< K2K routing table: actor id -> device inbox (control == nullptr: none).
  std::uint32_t route_count = 0;         ///< Entries in `routes`.
};

/// What a handler sees on the GPU: the message being handled, its own id and clock, replies to the host or
/// to the sending actor, and sends to other device actors (K2K). Mirrors the host `Context` where the
/// operation exists on the device.
class DeviceContext {
public:
  /// Built by the kernel for each message.
  __device__ DeviceContext(const BlockEnv& env, const MessageHeader* current) : env_(env), current_(current) {}

  /// This actor's id.
  __device__ ActorId self() const { return env_.self; }
  /// Header of the message being handled.
  __device__ const MessageHeader& message() const { return *current_; }
  /// Host-consistent wall clock in ms (host wall time at launch + device timer since).
  __device__ std::uint64_t physical_ms() const {
    return env_.wall0_ms + (globaltimer_ns() - env_.timer0_ns) / 1'000'000u;
  }
  /// Ticks and returns the actor's hybrid logical clock (same packing as the host HLC).
  __device__ HlcTimestamp now() {
    *env_.hlc = hlc_next_tick(*env_.hlc, physical_ms());
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
    // Build the slot image locally, then write it to mapped host memory with 16-byte stores: a byte-wise
    // memcpy would become one PCIe write per byte.
    constexpr std::size_t kVecs = (sizeof(MessageHeader) + sizeof(T) + 15) / 16;
    uint4 image[kVecs];
    std::memcpy(static_cast<void*>(image), &h, sizeof(MessageHeader));
    std::memcpy(reinterpret_cast<std::byte*>(image) + sizeof(MessageHeader), &msg, sizeof(T));
    uint4* dst = reinterpret_cast<uint4*>(slot);
#pragma unroll
    for (std::size_t i = 0; i < kVecs; ++i) dst[i] = image[i];
    return ErrorCode::Ok;
  }

  const BlockEnv& env_;
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

} // namespace detail

/// The persistent kernel for actor type `A`: one 32-thread block per actor slot. The warp polls its inbox
/// together (one lane per slot, one acquire per lane), stages the ready batch into shared memory with
/// coalesced 16-byte loads, lane 0 runs the handlers in order (actor semantics: one message at a time),
/// and the batch's replies and the inbox tail are each published with one release store.
template <class A>
__global__ void __launch_bounds__(32) actor_kernel(const SlotDescriptor* slots, SlotControl* controls,
                                                   const RingView* routes, std::uint32_t route_count) {
  extern __shared__ uint4 staging[];  // kWarpBatch slots of `slot_size` bytes
  SlotDescriptor d{};                 // filled by the first Load: the host writes it when an actor moves in
  SlotControl* ctl = controls + blockIdx.x;
  const unsigned lane = threadIdx.x & 31u;
  const std::uint64_t timer0 = globaltimer_ns();

  // Everything in `ctl` is host memory: every read is a PCIe round trip (~1 us), so the loop keeps all
  // per-slot settings and counters in registers and issues its few reads so that they overlap.
  const std::uint64_t wall0 = ctl->wall_ms_at_launch;
  const bool backoff = ctl->idle_policy == static_cast<std::uint32_t>(IdlePolicy::Backoff);
  const std::uint32_t max_sleep = ctl->max_sleep_ns;
  std::uint64_t seen_cmd = 0;
  std::uint64_t tail = 0;
  std::uint32_t state = static_cast<std::uint32_t>(ActorState::Created);
  std::uint64_t hlc = 0;
  std::uint64_t next_message_id = 1;
  std::uint64_t last_heartbeat = 0;
  std::uint64_t processed = 0, errors = 0, unknown = 0, dropped = 0;
  std::uint64_t k2k_refused = 0;
  std::uint64_t ktail = 0;  // K2K inbox consumer position
  std::uint32_t sleep_ns = 64;
  SpscProducer k2h(d.outbox);
  A* actor = nullptr;
  BlockEnv env;
  env.k2h = &k2h;
  env.wall0_ms = wall0;
  env.timer0_ns = timer0;
  env.hlc = &hlc;
  env.next_message_id = &next_message_id;
  env.replies_dropped = &dropped;
  env.k2k_refused = &k2k_refused;
  env.routes = routes;
  env.route_count = route_count;

  for (;;) {
    // Poll: lane 0 reads the command word while every lane reads one inbox publish flag; the reads are
    // independent, so the poll costs about one PCIe round trip.
    std::uint64_t seq = 0;
    if (lane == 0) seq = ringkernel::detail::load_relaxed(&ctl->cmd_seq);
    const std::uint64_t pos = tail + lane;
    const bool active = state == static_cast<std::uint32_t>(ActorState::Active);
    bool ready = active && ringkernel::detail::load_acquire(&d.inbox.seq[pos & d.inbox.mask]) == pos + 1;
    // The K2K inbox lives in device memory: polling it alongside costs no PCIe traffic.
    const std::uint64_t kpos = ktail + lane;
    const bool kready = active && d.k2k.control != nullptr &&
                        ringkernel::detail::load_acquire(&d.k2k.seq[kpos & d.k2k.mask]) == kpos + 1;
    seq = __shfl_sync(~0u, seq, 0);
    if (seq != seen_cmd) {
      std::uint32_t cmd = 0;
      if (lane == 0) {
        seq = ringkernel::detail::load_acquire(&ctl->cmd_seq);
        cmd = ringkernel::detail::load_relaxed(&ctl->cmd);
      }
      seq = __shfl_sync(~0u, seq, 0);
      cmd = __shfl_sync(~0u, cmd, 0);
      if (cmd == static_cast<std::uint32_t>(SlotCommand::Exit)) {
        if (lane == 0) ringkernel::detail::store_release(&ctl->ack_seq, seq);
        return;
      }
      if (cmd == static_cast<std::uint32_t>(SlotCommand::Load)) {
        // The host rewrote the descriptor and the initial state with copies before this command: read both
        // past L1 (they may be cached from the previous occupant).
        detail::copy_uncached(&d, slots + blockIdx.x, sizeof(SlotDescriptor));
        actor = static_cast<A*>(d.state);
      }
      if (lane == 0) {
        MessageHeader none{};
        switch (static_cast<SlotCommand>(cmd)) {
          case SlotCommand::Load: {
            env.self = ringkernel::detail::load_relaxed(&ctl->actor_id);
            detail::copy_uncached(actor, d.init_state, sizeof(A));
            k2h = SpscProducer(d.outbox);
            tail = ringkernel::detail::load_relaxed(&d.inbox.control->tail);
            ktail = d.k2k.control != nullptr ? ringkernel::detail::load_relaxed(&d.k2k.control->tail) : 0;
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
        ringkernel::detail::store_relaxed(&ctl->state, state);
        ringkernel::detail::store_relaxed(&ctl->hlc, hlc);
        ringkernel::detail::store_release(&ctl->ack_seq, seq);
      }
      seen_cmd = seq;
      state = __shfl_sync(~0u, state, 0);
      tail = __shfl_sync(~0u, tail, 0);
      ktail = __shfl_sync(~0u, ktail, 0);
      continue;
    }
    const unsigned ballot = __ballot_sync(~0u, ready);
    const unsigned kballot = __ballot_sync(~0u, kready);
    unsigned n = ballot == ~0u ? 32u : static_cast<unsigned>(__ffs(~ballot) - 1);
    const unsigned kn = kballot == ~0u ? 32u : static_cast<unsigned>(__ffs(~kballot) - 1);
    if (n == 0 && kn == 0) {
      if (lane == 0) {
        const std::uint64_t now = globaltimer_ns();
        if (now - last_heartbeat > 1'000'000u) {  // at most one heartbeat write per ms over PCIe
          ringkernel::detail::store_relaxed(&ctl->heartbeat, now);
          last_heartbeat = now;
        }
      }
      detail::idle_wait(backoff, max_sleep, sleep_ns);
      continue;
    }
    sleep_ns = 64;
    __syncwarp();
    // Host messages first (they carry the lifecycle ordering limit), else device messages.
    const bool from_host = n != 0;
    const RingView& ring = from_host ? d.inbox : d.k2k;
    const std::uint64_t base = from_host ? tail : ktail;
    if (!from_host) n = kn;
    // For host messages, read the ordering limit after the publish flags (a limit the host set before
    // publishing a message is then seen) in the same round trip as staging: 16 bytes per lane per step.
    std::uint64_t limit = UINT64_MAX;
    if (from_host && lane == 0) limit = ringkernel::detail::load_acquire(&ctl->limit);
    const unsigned vecs_per_slot = ring.slot_size / 16u;
    for (unsigned i = 0; i < n; ++i) {
      const uint4* src = reinterpret_cast<const uint4*>(ring.slot(base + i));
      // L2-only loads: a K2K slot was written by another SM, and L1 is not coherent across SMs.
      for (unsigned v = lane; v < vecs_per_slot; v += 32u) staging[i * vecs_per_slot + v] = __ldcg(src + v);
    }
    limit = __shfl_sync(~0u, limit, 0);
    if (limit <= base) n = 0;
    else if (limit - base < n) n = static_cast<unsigned>(limit - base);
    __syncwarp();

    if (lane == 0 && n != 0) {
      unsigned done = 0;
      bool failed = false;
      for (; done < n && !failed; ++done) {
        const auto* slot = reinterpret_cast<const std::byte*>(staging + done * vecs_per_slot);
        const auto& h = *reinterpret_cast<const MessageHeader*>(slot);
        hlc = hlc_next_update(hlc, h.hlc, wall0 + (globaltimer_ns() - timer0) / 1'000'000u);
        DeviceContext ctx(env, &h);
        const ErrorCode rc =
            dispatch_message(*actor, ctx, h, slot + sizeof(MessageHeader), typename A::messages{});
        if (rc != ErrorCode::Ok) ++unknown;
        if (ctx.failed()) failed = true;
      }
      processed += done;
      // One system-scope fence publishes the replies (K2H head) and the freed inbox slots (tail) together:
      // each release fence over PCIe costs about a round trip.
      ringkernel::detail::fence_release();
      k2h.publish(/*fenced=*/true);
      if (from_host) {
        tail += done;
        ringkernel::detail::store_relaxed(&d.inbox.control->tail, tail);
      } else {
        ktail += done;
        ringkernel::detail::store_relaxed(&d.k2k.control->tail, ktail);
      }
      ringkernel::detail::store_relaxed(&ctl->processed, processed);
      ringkernel::detail::store_relaxed(&ctl->hlc, hlc);
      ringkernel::detail::store_relaxed(&ctl->unknown_types, unknown);
      ringkernel::detail::store_relaxed(&ctl->replies_dropped, dropped);
      ringkernel::detail::store_relaxed(&ctl->k2k_refused, k2k_refused);
      if (failed) {
        state = static_cast<std::uint32_t>(ActorState::Failed);
        ringkernel::detail::store_relaxed(&ctl->errors, ++errors);
        ringkernel::detail::store_relaxed(&ctl->last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
        ringkernel::detail::store_release(&ctl->state, state);
      }
    }
    tail = __shfl_sync(~0u, tail, 0);
    ktail = __shfl_sync(~0u, ktail, 0);
    state = __shfl_sync(~0u, state, 0);
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
