/// @file supervisor.hpp
/// @brief Erlang-style supervision: restart strategies and a restart budget over a sliding time window.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string_view>

namespace ringkernel {

/// What a supervisor does when one of its children fails.
enum class SupervisionStrategy : std::uint8_t {
  OneForOne,   ///< Restart only the failed child.
  OneForAll,   ///< Restart every child.
  RestForOne,  ///< Restart the failed child and the children started after it.
  Escalate,    ///< Do not restart: the supervisor itself fails and its own supervisor decides.
};

/// Stable name of a strategy.
std::string_view to_string(SupervisionStrategy s) noexcept;

/// How an actor supervises its children (and how the runtime's root supervises top-level actors).
struct SupervisorSpec {
  SupervisionStrategy strategy = SupervisionStrategy::OneForOne;  ///< Restart strategy.
  std::uint32_t max_restarts = 3;                                  ///< Restarts allowed within `window`.
  std::chrono::milliseconds window{5000};                          ///< Sliding window for `max_restarts`.
};

/// Sliding-window restart budget: allows at most `max_restarts` restarts within any `window`.
class RestartBudget {
public:
  /// A budget for the given spec.
  explicit RestartBudget(SupervisorSpec spec = {}) : spec_(spec) {}
  /// Records a restart at `now` if the budget allows it; false (nothing recorded) when exhausted.
  bool try_consume(std::chrono::steady_clock::time_point now);
  /// Restarts counted in the window ending at `now`.
  [[nodiscard]] std::size_t in_window(std::chrono::steady_clock::time_point now);
  /// The spec in force.
  [[nodiscard]] const SupervisorSpec& spec() const noexcept { return spec_; }

private:
  void prune(std::chrono::steady_clock::time_point now);
  SupervisorSpec spec_;
  std::deque<std::chrono::steady_clock::time_point> history_;
};

} // namespace ringkernel
