#include "ringkernel/error.hpp"

namespace ringkernel {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::Ok: return "ok";
    case ErrorCode::InvalidArgument: return "invalid_argument";
    case ErrorCode::MessageTooLarge: return "message_too_large";
    case ErrorCode::QueueFull: return "queue_full";
    case ErrorCode::QueueEmpty: return "queue_empty";
    case ErrorCode::Timeout: return "timeout";
    case ErrorCode::ActorNotFound: return "actor_not_found";
    case ErrorCode::ActorTerminated: return "actor_terminated";
    case ErrorCode::ActorInactive: return "actor_inactive";
    case ErrorCode::IllegalTransition: return "illegal_transition";
    case ErrorCode::BackendUnavailable: return "backend_unavailable";
    case ErrorCode::TenantViolation: return "tenant_violation";
    case ErrorCode::ClockDrift: return "clock_drift";
    case ErrorCode::UnknownMessageType: return "unknown_message_type";
    case ErrorCode::HandlerFailed: return "handler_failed";
    case ErrorCode::NameInvalid: return "name_invalid";
    case ErrorCode::NameTaken: return "name_taken";
    case ErrorCode::ShuttingDown: return "shutting_down";
    case ErrorCode::Overflow: return "overflow";
    case ErrorCode::Corrupt: return "corrupt";
    case ErrorCode::Internal: return "internal";
    case ErrorCode::RestartLimit: return "restart_limit";
    case ErrorCode::Dropped: return "dropped";
  }
  return "unknown_error";
}

Error Error::with_context(std::string_view outer) const {
  std::string ctx(outer);
  if (!context_.empty()) {
    ctx += ": ";
    ctx += context_;
  }
  return Error(code_, message_, std::move(ctx));
}

std::string Error::describe() const {
  std::string out(to_string(code_));
  out += ": ";
  out += message_;
  if (!context_.empty()) {
    out += " [";
    out += context_;
    out += "]";
  }
  return out;
}

} // namespace ringkernel
