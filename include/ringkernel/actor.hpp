/// @file actor.hpp
/// @brief The one way to define an actor: state plus `handle(ctx, const Msg&)` overloads for a list of messages.
///
/// @code
/// struct Add { static constexpr auto type_id = ringkernel::message_type("demo.Add"); std::uint64_t v; };
/// struct Sum { static constexpr auto type_id = ringkernel::message_type("demo.Sum"); std::uint64_t total; };
///
/// struct Counter {
///   using messages = ringkernel::message_list<Add>;
///   std::uint64_t total = 0;
///   RK_HOST_DEVICE void handle(auto& ctx, const Add& m) { total += m.v; ctx.reply(Sum{total}); }
/// };
/// @endcode
///
/// Handlers take the context as a template parameter (`auto&`) so the same source compiles against the host
/// `Context` here and against a backend's device context; nothing in a handler signature is host-only.
/// Optional hooks `on_start(ctx)` and `on_stop(ctx)` run when the actor starts (and restarts) and stops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "ringkernel/backpressure.hpp"
#include "ringkernel/config.hpp"
#include "ringkernel/error.hpp"
#include "ringkernel/hlc.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/pubsub.hpp"
#include "ringkernel/supervisor.hpp"

namespace ringkernel {

/// The message types an actor handles: `using messages = message_list<A, B, C>;`.
template <class... Ms>
struct message_list {
  /// Number of message types.
  static constexpr std::size_t size = sizeof...(Ms);
};

namespace detail {
template <class... Ms>
constexpr bool unique_type_ids(message_list<Ms...>) {
  constexpr TypeId ids[] = {Ms::type_id..., 0};
  for (std::size_t i = 0; i < sizeof...(Ms); ++i)
    for (std::size_t j = i + 1; j < sizeof...(Ms); ++j)
      if (ids[i] == ids[j]) return false;
  return true;
}
template <class... Ms>
constexpr bool all_messages(message_list<Ms...>) { return (Message<Ms> && ...); }
template <class... Ms>
constexpr std::size_t largest_message(message_list<Ms...>) {
  std::size_t m = 0;
  ((m = sizeof(Ms) > m ? sizeof(Ms) : m), ...);
  return m;
}
template <class T>
struct is_message_list : std::false_type {};
template <class... Ms>
struct is_message_list<message_list<Ms...>> : std::true_type {};
} // namespace detail

/// An actor: a movable state type naming its messages with `using messages = message_list<...>`.
template <class A>
concept Actor = std::is_object_v<A> && std::is_destructible_v<A> && requires { typename A::messages; } &&
                detail::is_message_list<typename A::messages>::value;

/// Options for one send.
struct SendOptions {
  std::uint8_t priority = 0;        ///< Carried in the header for schedulers and observers.
  TenantId tenant = kSystemTenant;  ///< Tenant to send as (host sends); system tenant = trusted.
  const TraceContext* trace = nullptr;  ///< W3C trace context to propagate; nullptr = none/inherit.
  bool sampled = false;             ///< W3C sampled flag when `trace` is set.
};

/// Options for launching (or spawning) an actor.
struct LaunchOptions {
  std::uint32_t mailbox_capacity = 1024;  ///< Mailbox slots (power of two).
  std::uint32_t slot_size = 256;          ///< Bytes per slot including the 64-byte header (multiple of 64).
  std::uint32_t outbox_capacity = 1024;   ///< Slots of the queue the host receives from (power of two).
  bool auto_activate = true;              ///< Start processing at once; otherwise wait for activate().
  int worker = -1;                        ///< Placement: executor worker index, -1 = round robin.
  TenantId tenant = kSystemTenant;        ///< Tenant that owns the actor.
  bool restartable = true;                ///< False: a failure terminates the actor instead of restarting.
  SupervisorSpec supervision{};           ///< How this actor supervises the children it spawns.
  BackpressureConfig backpressure{};      ///< Mailbox back-pressure.
};

namespace detail {
struct RuntimeState;
struct ActorCell;
} // namespace detail

class Context;

/// Type-erased description of an actor type, built by `make_actor_type<A>(args...)`.
struct ActorType {
  std::string type_name;                                   ///< For status and errors.
  std::string type_key;                                    ///< typeid(A).name(): finds a backend's device code.
  std::function<void*()> create;                           ///< New state (constructed from the launch args).
  void (*destroy)(void*) noexcept = nullptr;               ///< Deletes a state.
  ErrorCode (*dispatch)(void*, Context&, const MessageHeader&, const std::byte*) = nullptr;  ///< Runs a handler.
  void (*on_start)(void*, Context&) = nullptr;             ///< Optional start hook.
  void (*on_stop)(void*, Context&) = nullptr;              ///< Optional stop hook.
  std::size_t largest_message = 0;                         ///< sizeof the largest handled message.
};

namespace detail {
/// 16 bytes, for payload copies in whole aligned words.
struct alignas(16) PayloadWord {
  std::uint64_t lo, hi;
};
/// Copies a payload of type `T` out of its slot. With `Align` 16 the source is 16-byte aligned and readable up
/// to the next 16-byte boundary (a ring slot: the persistent GPU kernel's staged messages), and is read in
/// aligned 16-byte words; a plain memcpy of a byte pointer compiles to one load per byte on the GPU.
template <std::size_t Align, class T>
RK_HOST_DEVICE inline void copy_payload(T* dst, const std::byte* src) {
  if constexpr (Align >= 16) {
    constexpr std::size_t kWords = (sizeof(T) + 15) / 16;
    PayloadWord w[kWords];
    const auto* s = reinterpret_cast<const PayloadWord*>(src);
    for (std::size_t i = 0; i < kWords; ++i) w[i] = s[i];
    std::memcpy(static_cast<void*>(dst), w, sizeof(T));
  } else {
    std::memcpy(static_cast<void*>(dst), src, sizeof(T));
  }
}
} // namespace detail

/// Calls the handler of `a` for the message in (`header`, `payload`). Host and device.
/// Returns UnknownMessageType when `A` has no handler for the type, InvalidArgument on a size mismatch.
/// `PayloadAlign` 16 promises what detail::copy_payload needs for its word copy.
template <std::size_t PayloadAlign = 1, class A, class Ctx, class... Ms>
RK_HOST_DEVICE ErrorCode dispatch_message(A& a, Ctx& ctx, const MessageHeader& header, const std::byte* payload,
                                          message_list<Ms...> /*list*/) {
  ErrorCode rc = ErrorCode::UnknownMessageType;
  (void)((header.type_id == Ms::type_id
              ? (rc = header.payload_len == sizeof(Ms) ? ErrorCode::Ok : ErrorCode::InvalidArgument,
                 rc == ErrorCode::Ok ? (void)[&] {
                   Ms m;
                   detail::copy_payload<PayloadAlign>(&m, payload);
                   a.handle(ctx, static_cast<const Ms&>(m));
                 }()
                                     : (void)0,
                 true)
              : false) ||
         ...);
  return rc;
}

/// Builds the type-erased description of actor `A`; `args` are copied and used for every (re)start.
template <Actor A, class... Args>
ActorType make_actor_type(std::string type_name, Args&&... args) {
  using List = typename A::messages;
  static_assert(detail::all_messages(List{}), "every type in A::messages must satisfy ringkernel::Message");
  static_assert(detail::unique_type_ids(List{}), "two message types in A::messages share a type_id");
  ActorType t;
  t.type_name = std::move(type_name);
  t.type_key = typeid(A).name();
  t.create = [... captured = std::forward<Args>(args)]() -> void* { return new A(captured...); };
  t.destroy = [](void* p) noexcept { delete static_cast<A*>(p); };
  t.dispatch = [](void* p, Context& ctx, const MessageHeader& h, const std::byte* payload) -> ErrorCode {
    return dispatch_message(*static_cast<A*>(p), ctx, h, payload, List{});
  };
  if constexpr (requires(A& a, Context& c) { a.on_start(c); }) {
    t.on_start = [](void* p, Context& c) { static_cast<A*>(p)->on_start(c); };
  }
  if constexpr (requires(A& a, Context& c) { a.on_stop(c); }) {
    t.on_stop = [](void* p, Context& c) { static_cast<A*>(p)->on_stop(c); };
  }
  t.largest_message = detail::largest_message(List{});
  return t;
}

namespace detail {
// Implemented by the runtime (src/core/runtime.cpp); the templates below only marshal bytes.
Result<ActorId> launch_actor(RuntimeState& rt, ActorId parent, std::string_view name, const LaunchOptions& opts,
                             ActorType type);
Status context_send(Context& ctx, ActorId to, TypeId type, const void* payload, std::size_t len,
                    const SendOptions& opts, std::uint32_t correlation, std::uint8_t flags);
Result<ActorId> resolve_name(RuntimeState& rt, std::string_view name);
Result<PublishReport> context_publish(Context& ctx, std::string_view topic, TypeId type, const void* payload,
                                      std::size_t len, bool retain);
} // namespace detail

/// What a host handler sees: who it is, the message being handled, and how to talk to the rest.
class Context {
public:
  /// This actor's id.
  [[nodiscard]] ActorId self() const noexcept;
  /// This actor's registered name.
  [[nodiscard]] const std::string& name() const noexcept;
  /// This actor's tenant.
  [[nodiscard]] TenantId tenant() const noexcept;
  /// Header of the message being handled (zeroed inside on_start/on_stop).
  [[nodiscard]] const MessageHeader& message() const noexcept { return *current_; }
  /// Ticks and returns this actor's hybrid logical clock.
  HlcTimestamp now() noexcept;

  /// Replies to the sender of the current message (the host, a pending `call`, or another actor).
  template <Message T>
  Status reply(const T& msg) {
    const std::uint8_t flags = msg_flags::kReply;
    return detail::context_send(*this, current_->source, T::type_id, &msg, sizeof(T), {}, current_->correlation_id,
                                flags);
  }
  /// Sends to an actor by id (kHostActor = the host's receive queue of this actor).
  template <Message T>
  Status send(ActorId to, const T& msg, const SendOptions& opts = {}) {
    return detail::context_send(*this, to, T::type_id, &msg, sizeof(T), opts, 0, 0);
  }
  /// Sends to an actor by registered name.
  template <Message T>
  Status send(std::string_view name, const T& msg, const SendOptions& opts = {}) {
    auto id = detail::resolve_name(*rt_, name);
    if (!id) return id.error();
    return send(*id, msg, opts);
  }
  /// Publishes to a topic; `retain` keeps it for future subscribers.
  template <Message T>
  Result<PublishReport> publish(std::string_view topic, const T& msg, bool retain = false) {
    return detail::context_publish(*this, topic, T::type_id, &msg, sizeof(T), retain);
  }
  /// Spawns a child actor supervised by this one (per this actor's LaunchOptions::supervision).
  template <Actor A, class... Args>
  Result<ActorId> spawn(std::string_view name, const LaunchOptions& opts = {}, Args&&... args) {
    return detail::launch_actor(*rt_, self(), name, opts,
                                make_actor_type<A>(std::string(name), std::forward<Args>(args)...));
  }
  /// Terminates a child (and its descendants).
  Status stop(ActorId child);
  /// Marks the current handler as failed; the supervisor decides what happens after it returns.
  void fail(std::string reason) {
    failed_ = true;
    failure_ = std::move(reason);
  }
  /// True once fail() was called in this handler.
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  /// The reason given to fail().
  [[nodiscard]] const std::string& failure() const noexcept { return failure_; }

  /// Built by the runtime only.
  Context(detail::RuntimeState* rt, detail::ActorCell* cell, const MessageHeader* current) noexcept
      : rt_(rt), cell_(cell), current_(current) {}

private:
  friend Status detail::context_send(Context&, ActorId, TypeId, const void*, std::size_t, const SendOptions&,
                                     std::uint32_t, std::uint8_t);
  friend Result<PublishReport> detail::context_publish(Context&, std::string_view, TypeId, const void*,
                                                       std::size_t, bool);
  detail::RuntimeState* rt_;
  detail::ActorCell* cell_;
  const MessageHeader* current_;
  bool failed_ = false;
  std::string failure_;
};

} // namespace ringkernel
