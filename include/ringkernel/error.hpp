/// @file error.hpp
/// @brief The project's single error type: a code (usable on the device), a message and a context.
///
/// Errors are values. Host APIs return `Result<T>`; device code returns a bare `ErrorCode`, which is the
/// part of an `Error` that can cross the host/device boundary. Nothing in the library throws.
#pragma once

#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ringkernel/config.hpp"

namespace ringkernel {

/// Stable numeric error codes. The numeric values are part of the wire/device ABI: append, never renumber.
enum class ErrorCode : std::uint32_t {
  Ok = 0,                 ///< Not an error.
  InvalidArgument = 1,    ///< A parameter is out of range or malformed.
  MessageTooLarge = 2,    ///< The payload does not fit the queue's slot.
  QueueFull = 3,          ///< The queue has no free slot (back-pressure).
  QueueEmpty = 4,         ///< Nothing to receive.
  Timeout = 5,            ///< A deadline passed before the operation completed.
  ActorNotFound = 6,      ///< No actor with that id or name.
  ActorTerminated = 7,    ///< The actor has terminated or is terminating.
  ActorInactive = 8,      ///< The actor is not accepting messages (suspended).
  IllegalTransition = 9,  ///< A lifecycle command is not allowed in the current state.
  BackendUnavailable = 10,///< The requested backend is not compiled in or has no device.
  TenantViolation = 11,   ///< A message crossed tenants.
  ClockDrift = 12,        ///< A received HLC timestamp is too far ahead of the local clock.
  UnknownMessageType = 13,///< The actor has no handler for the message type.
  HandlerFailed = 14,     ///< A handler reported failure or threw.
  NameInvalid = 15,       ///< A registry name or pattern is malformed.
  NameTaken = 16,         ///< A registry name is already bound.
  ShuttingDown = 17,      ///< The runtime is shutting down.
  Overflow = 18,          ///< A counter or clock component would overflow.
  Corrupt = 19,           ///< Data failed a magic/version/layout check.
  Internal = 20,          ///< A bug: an invariant did not hold.
  RestartLimit = 21,      ///< A supervisor exceeded its restart budget.
  Dropped = 22,           ///< The message was dropped by a back-pressure policy.
};

/// Human-readable name of a code (stable, for logs and metrics labels).
std::string_view to_string(ErrorCode code) noexcept;

/// The one error type: what went wrong (`code`), why (`message`) and where (`context`).
class Error {
public:
  /// An error with a code and a message; `context` names the operation or object involved.
  Error(ErrorCode code, std::string message, std::string context = {})
      : code_(code), message_(std::move(message)), context_(std::move(context)) {}

  /// The machine-readable code.
  [[nodiscard]] ErrorCode code() const noexcept { return code_; }
  /// The human-readable explanation.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  /// Where it happened (operation, actor name, ...), possibly empty.
  [[nodiscard]] const std::string& context() const noexcept { return context_; }
  /// Returns a copy with `outer` prepended to the context ("outer: inner").
  [[nodiscard]] Error with_context(std::string_view outer) const;
  /// "<code>: <message> [<context>]" for logs.
  [[nodiscard]] std::string describe() const;

private:
  ErrorCode code_;
  std::string message_;
  std::string context_;
};

/// Either a value or an Error (a small stand-in for C++23 std::expected).
template <class T>
class [[nodiscard]] Result {
public:
  /// Success.
  Result(T value) : ok_(true) { new (&value_) T(std::move(value)); }  // NOLINT(google-explicit-constructor)
  /// Failure.
  Result(Error error) : ok_(false) { new (&error_) Error(std::move(error)); }  // NOLINT(google-explicit-constructor)
  /// Copy.
  Result(const Result& other) : ok_(other.ok_) {
    if (ok_) new (&value_) T(other.value_); else new (&error_) Error(other.error_);
  }
  /// Move.
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(other.ok_) {
    if (ok_) new (&value_) T(std::move(other.value_)); else new (&error_) Error(std::move(other.error_));
  }
  /// Copy assignment.
  Result& operator=(const Result& other) {
    if (this != &other) { destroy(); ok_ = other.ok_; if (ok_) new (&value_) T(other.value_); else new (&error_) Error(other.error_); }
    return *this;
  }
  /// Move assignment.
  Result& operator=(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) { destroy(); ok_ = other.ok_; if (ok_) new (&value_) T(std::move(other.value_)); else new (&error_) Error(std::move(other.error_)); }
    return *this;
  }
  ~Result() { destroy(); }

  /// True on success.
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  /// True on success.
  explicit operator bool() const noexcept { return ok_; }
  /// The value; only valid when ok().
  [[nodiscard]] T& value() & { return value_; }
  /// The value; only valid when ok().
  [[nodiscard]] const T& value() const& { return value_; }
  /// The value, moved out; only valid when ok().
  [[nodiscard]] T&& value() && { return std::move(value_); }
  /// The error; only valid when !ok().
  [[nodiscard]] const Error& error() const& { return error_; }
  /// Value access.
  T* operator->() { return &value_; }
  /// Value access.
  const T* operator->() const { return &value_; }
  /// Value access.
  T& operator*() & { return value_; }
  /// Value access.
  const T& operator*() const& { return value_; }
  /// The value, or `fallback` on error.
  [[nodiscard]] T value_or(T fallback) const& { return ok_ ? value_ : std::move(fallback); }

private:
  void destroy() noexcept { if (ok_) value_.~T(); else error_.~Error(); }
  bool ok_;
  union { T value_; Error error_; };
};

/// Result of an operation that produces no value. Not [[nodiscard]] as a type so handlers may fire-and-forget
/// replies (failures are still counted and dead-lettered); host APIs mark themselves [[nodiscard]] instead.
template <>
class Result<void> {
public:
  /// Success.
  Result() = default;
  /// Failure.
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  /// True on success.
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  /// True on success.
  explicit operator bool() const noexcept { return ok_; }
  /// The error; only valid when !ok().
  [[nodiscard]] const Error& error() const& { return error_; }

private:
  Error error_{ErrorCode::Ok, {}};
  bool ok_ = true;
};

/// Shorthand for `Result<void>`.
using Status = Result<void>;

/// Builds an Error; reads well at return sites: `return make_error(ErrorCode::QueueFull, "...", ctx);`.
inline Error make_error(ErrorCode code, std::string message, std::string context = {}) {
  return Error(code, std::move(message), std::move(context));
}

} // namespace ringkernel
