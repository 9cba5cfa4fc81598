/// @file lifecycle.hpp
/// @brief Actor lifecycle states, the legal transitions between them, and the per-actor control block.
///
/// Created -> Launched -> Active <-> Deactivated -> Terminating -> Terminated, and Failed from any live
/// state. A failed actor is either restarted by its supervisor (Failed -> Launched) or torn down
/// (Failed -> Terminating). The control block is a layout-fixed struct so the CUDA backend can keep it in
/// mapped memory and both sides update it with the same atomics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ringkernel/config.hpp"
#include "ringkernel/detail/atomic.hpp"
#include "ringkernel/error.hpp"

namespace ringkernel {

/// Where an actor is in its life.
enum class ActorState : std::uint32_t {
  Created = 0,      ///< Allocated, not yet started.
  Launched = 1,     ///< Started (on_start ran), not processing messages yet.
  Active = 2,       ///< Processing messages.
  Deactivated = 3,  ///< Paused: messages queue up but are not processed.
  Terminating = 4,  ///< Shutting down; no new messages accepted.
  Terminated = 5,   ///< Gone; final.
  Failed = 6,       ///< A handler failed; awaiting its supervisor's decision.
};

/// Stable lower-case name of a state.
std::string_view to_string(ActorState state) noexcept;

/// True when `from -> to` is a legal lifecycle transition.
RK_HOST_DEVICE constexpr bool lifecycle_allowed(ActorState from, ActorState to) noexcept {
  using S = ActorState;
  switch (from) {
    case S::Created: return to == S::Launched || to == S::Terminating || to == S::Failed;
    case S::Launched: return to == S::Active || to == S::Deactivated || to == S::Terminating || to == S::Failed;
    case S::Active: return to == S::Deactivated || to == S::Terminating || to == S::Failed;
    case S::Deactivated: return to == S::Active || to == S::Terminating || to == S::Failed;
    case S::Terminating: return to == S::Terminated || to == S::Failed;
    case S::Failed: return to == S::Launched || to == S::Terminating;
    case S::Terminated: return false;
  }
  return false;
}

/// True for states in which the actor can still receive messages.
RK_HOST_DEVICE constexpr bool lifecycle_accepts_messages(ActorState s) noexcept {
  return s == ActorState::Created || s == ActorState::Launched || s == ActorState::Active ||
         s == ActorState::Deactivated || s == ActorState::Failed;
}

/// Per-actor control block shared by the runtime and the executor (host or device); 128 bytes.
struct alignas(kCacheLine) ControlBlock {
  std::uint32_t state;        ///< ActorState.
  std::uint32_t actor_id;     ///< Owner.
  std::uint32_t last_error;   ///< ErrorCode of the most recent failure.
  std::uint32_t restarts;     ///< Times restarted by a supervisor.
  std::uint64_t processed;    ///< Messages handled.
  std::uint64_t errors;       ///< Handler failures.
  std::uint64_t heartbeat_ns; ///< Last time the executor polled this actor (steady clock, ns).
  std::uint64_t hlc;          ///< Actor-local HLC (packed).
  std::uint64_t reserved[10]; ///< Room for backend-specific counters without a layout change.
};
static_assert(sizeof(ControlBlock) == 128);
static_assert(offsetof(ControlBlock, processed) == 16);
static_assert(offsetof(ControlBlock, heartbeat_ns) == 32);
static_assert(offsetof(ControlBlock, hlc) == 40);

/// Current state of a control block (acquire).
RK_HOST_DEVICE inline ActorState control_state(const ControlBlock& cb) noexcept {
  return static_cast<ActorState>(detail::load_acquire(&cb.state));
}

/// Moves `cb` from its current state to `to` with one CAS; IllegalTransition (state unchanged) when the
/// current state does not allow it. `*previous` receives the state seen.
RK_HOST_DEVICE inline ErrorCode lifecycle_transition(ControlBlock& cb, ActorState to,
                                                     ActorState* previous = nullptr) noexcept {
  std::uint32_t cur = detail::load_acquire(&cb.state);
  for (;;) {
    if (previous != nullptr) *previous = static_cast<ActorState>(cur);
    if (!lifecycle_allowed(static_cast<ActorState>(cur), to)) return ErrorCode::IllegalTransition;
    if (detail::compare_exchange(&cb.state, cur, static_cast<std::uint32_t>(to))) return ErrorCode::Ok;
  }
}

} // namespace ringkernel
