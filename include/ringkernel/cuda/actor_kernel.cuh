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

/// What a handler sees on the GPU: the message being handled, its own id and clock, and a reply path to
/// the host. Mirrors the host `Context` where the operation exists on the device.
class DeviceContext {
public:
  /// Built by the kernel for each message.
  __device__ DeviceContext(ActorId self, SpscProducer* k2h, std::uint64_t wall0_ms, std::uint64_t timer0_ns,
                           const MessageHeader* current, std::uint64_t* hlc, std::uint64_t* next_message_id,
                           std::uint64_t* replies_dropped)
      : self_(self), k2h_(k2h), wall0_ms_(wall0_ms), timer0_ns_(timer0_ns), current_(current), hlc_(hlc),
        next_message_id_(next_message_id), replies_dropped_(replies_dropped), k2h_slot_size_(k2h->slot_size()) {}

  /// This actor's id.
  __device__ ActorId self() const { return self_; }
  /// Header of the message being handled.
  __device__ const MessageHeader& message() const { return *current_; }
  /// Host-consistent wall clock in ms (host wall time at launch + device timer since).
  __device__ std::uint64_t physical_ms() const { return wall0_ms_ + (globaltimer_ns() - timer0_ns_) / 1'000'000u; }
  /// Ticks and returns the actor's hybrid logical clock (same packing as the host HLC).
  __device__ HlcTimestamp now() {
    *hlc_ = hlc_next_tick(*hlc_, physical_ms());
    return HlcTimestamp{*hlc_, 0};
  }
  /// Replies to the sender of the current message through the K2H ring (published once per batch).
  template <Message T>
  __device__ ErrorCode reply(const T& msg) {
    MessageHeader h = make_header<T>(self(), current_->source);
    h.flags = static_cast<std::uint8_t>(msg_flags::kReply | (current_->flags & msg_flags::kTraceSampled));
    h.correlation_id = current_->correlation_id;
    h.tenant = current_->tenant;
    h.priority = current_->priority;
    h.message_id = (*next_message_id_)++;
    h.hlc = now().packed;
    std::memcpy(h.trace_id, current_->trace_id, sizeof(h.trace_id));
    std::memcpy(h.span_id, current_->span_id, sizeof(h.span_id));
    if (sizeof(MessageHeader) + sizeof(T) > k2h_slot_size()) {
      ++*replies_dropped_;
      return ErrorCode::MessageTooLarge;
    }
    std::byte* slot = k2h_->try_claim();
    if (slot == nullptr) {
      ++*replies_dropped_;
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
  /// Bytes per K2H slot.
  __device__ std::uint32_t k2h_slot_size() const { return k2h_slot_size_; }
  /// Marks the current handler as failed; the block stops and the host supervisor decides.
  __device__ void fail(const char* /*reason*/ = nullptr) { failed_ = true; }
  /// True once fail() was called in this handler.
  __device__ bool failed() const { return failed_; }

private:
  ActorId self_;
  SpscProducer* k2h_;
  std::uint64_t wall0_ms_;
  std::uint64_t timer0_ns_;
  const MessageHeader* current_;
  std::uint64_t* hlc_;
  std::uint64_t* next_message_id_;
  std::uint64_t* replies_dropped_;
  std::uint32_t k2h_slot_size_;
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

// Copies memory another agent (a host copy) rewrote, bypassing L1 so no stale line is read. Both buffers
// are 128-byte aligned with 128-byte strides, so rounding the length up to 8 bytes stays inside them.
__device__ __forceinline__ void copy_uncached(void* dst, const void* src, std::size_t bytes) {
  auto* d8 = static_cast<unsigned long long*>(dst);
  const auto* s8 = static_cast<const unsigned long long*>(src);
  for (std::size_t i = 0; i < (bytes + 7) / 8; ++i) d8[i] = __ldcv(s8 + i);
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
__global__ void __launch_bounds__(32) actor_kernel(const SlotDescriptor* slots, SlotControl* controls) {
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
  ActorId self = 0;
  std::uint32_t sleep_ns = 64;
  SpscProducer k2h(d.outbox);
  A* actor = nullptr;

  for (;;) {
    // Poll: lane 0 reads the command word while every lane reads one inbox publish flag; the reads are
    // independent, so the poll costs about one PCIe round trip.
    std::uint64_t seq = 0;
    if (lane == 0) seq = ringkernel::detail::load_relaxed(&ctl->cmd_seq);
    const std::uint64_t pos = tail + lane;
    bool ready = state == static_cast<std::uint32_t>(ActorState::Active) &&
                 ringkernel::detail::load_acquire(&d.inbox.seq[pos & d.inbox.mask]) == pos + 1;
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
            self = ringkernel::detail::load_relaxed(&ctl->actor_id);
            detail::copy_uncached(actor, d.init_state, sizeof(A));
            k2h = SpscProducer(d.outbox);
            tail = ringkernel::detail::load_relaxed(&d.inbox.control->tail);
            DeviceContext ctx(self, &k2h, wall0, timer0, &none, &hlc, &next_message_id, &dropped);
            detail::run_hook_on_device(*actor, ctx, true);
            state = static_cast<std::uint32_t>(ActorState::Launched);
            break;
          }
          case SlotCommand::Activate: state = static_cast<std::uint32_t>(ActorState::Active); break;
          case SlotCommand::Deactivate: state = static_cast<std::uint32_t>(ActorState::Deactivated); break;
          case SlotCommand::Unload: {
            DeviceContext ctx(self, &k2h, wall0, timer0, &none, &hlc, &next_message_id, &dropped);
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
      continue;
    }
    const unsigned ballot = __ballot_sync(~0u, ready);
    unsigned n = ballot == ~0u ? 32u : static_cast<unsigned>(__ffs(~ballot) - 1);
    if (n == 0) {
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
    // Read the ordering limit after the publish flags (so a limit the host set before publishing a message is
    // seen) and stage the batch into shared memory with the same round trip: 16 bytes per lane per step.
    std::uint64_t limit = 0;
    if (lane == 0) limit = ringkernel::detail::load_acquire(&ctl->limit);
    const unsigned vecs_per_slot = d.inbox.slot_size / 16u;
    for (unsigned i = 0; i < n; ++i) {
      const uint4* src = reinterpret_cast<const uint4*>(d.inbox.slot(tail + i));
      for (unsigned v = lane; v < vecs_per_slot; v += 32u) staging[i * vecs_per_slot + v] = src[v];
    }
    limit = __shfl_sync(~0u, limit, 0);
    if (limit <= tail) n = 0;
    else if (limit - tail < n) n = static_cast<unsigned>(limit - tail);
    __syncwarp();

    if (lane == 0 && n != 0) {
      unsigned done = 0;
      bool failed = false;
      for (; done < n && !failed; ++done) {
        const auto* slot = reinterpret_cast<const std::byte*>(staging + done * vecs_per_slot);
        const auto& h = *reinterpret_cast<const MessageHeader*>(slot);
        hlc = hlc_next_update(hlc, h.hlc, wall0 + (globaltimer_ns() - timer0) / 1'000'000u);
        DeviceContext ctx(self, &k2h, wall0, timer0, &h, &hlc, &next_message_id, &dropped);
        const ErrorCode rc =
            dispatch_message(*actor, ctx, h, slot + sizeof(MessageHeader), typename A::messages{});
        if (rc != ErrorCode::Ok) ++unknown;
        if (ctx.failed()) failed = true;
      }
      // One system-scope fence publishes both the replies (K2H head) and the freed inbox slots (tail): each
      // release fence over PCIe costs about a round trip.
      tail += done;
      processed += done;
      ringkernel::detail::fence_release();
      k2h.publish(/*fenced=*/true);
      ringkernel::detail::store_relaxed(&d.inbox.control->tail, tail);
      ringkernel::detail::store_relaxed(&ctl->processed, processed);
      ringkernel::detail::store_relaxed(&ctl->hlc, hlc);
      ringkernel::detail::store_relaxed(&ctl->unknown_types, unknown);
      ringkernel::detail::store_relaxed(&ctl->replies_dropped, dropped);
      if (failed) {
        state = static_cast<std::uint32_t>(ActorState::Failed);
        ringkernel::detail::store_relaxed(&ctl->errors, ++errors);
        ringkernel::detail::store_relaxed(&ctl->last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
        ringkernel::detail::store_release(&ctl->state, state);
      }
    }
    tail = __shfl_sync(~0u, tail, 0);
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
