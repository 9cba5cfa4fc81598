#include "ringkernel/backpressure.hpp"
#include "ringkernel/supervisor.hpp"

#include <algorithm>
#include <cmath>

namespace ringkernel {

std::string_view to_string(SupervisionStrategy s) noexcept {
  switch (s) {
    case SupervisionStrategy::OneForOne: return "one_for_one";
    case SupervisionStrategy::OneForAll: return "one_for_all";
    case SupervisionStrategy::RestForOne: return "rest_for_one";
    case SupervisionStrategy::Escalate: return "escalate";
  }
  return "unknown";
}

void RestartBudget::prune(std::chrono::steady_clock::time_point now) {
  while (!history_.empty() && now - history_.front() >= spec_.window) history_.pop_front();
}

bool RestartBudget::try_consume(std::chrono::steady_clock::time_point now) {
  prune(now);
  if (history_.size() >= spec_.max_restarts) return false;
  history_.push_back(now);
  return true;
}

std::size_t RestartBudget::in_window(std::chrono::steady_clock::time_point now) {
  prune(now);
  return history_.size();
}

std::string_view to_string(OverflowPolicy p) noexcept {
  switch (p) {
    case OverflowPolicy::Block: return "block";
    case OverflowPolicy::Reject: return "reject";
    case OverflowPolicy::DropOldest: return "drop_oldest";
    case OverflowPolicy::DropToDeadLetter: return "drop_to_dead_letter";
  }
  return "unknown";
}

WatermarkGauge::WatermarkGauge(std::uint64_t capacity, double high_water, double low_water) noexcept {
  const std::uint64_t cap = std::max<std::uint64_t>(capacity, 1);
  const auto frac = [cap](double f) {
    if (!(f > 0.0)) f = 0.0;
    if (f > 1.0) f = 1.0;
    return static_cast<std::uint64_t>(std::ceil(f * static_cast<double>(cap)));
  };
  high_ = std::clamp<std::uint64_t>(frac(high_water), 1, cap);
  low_ = std::clamp<std::uint64_t>(frac(low_water), 1, high_);
}

bool WatermarkGauge::update(std::uint64_t depth) noexcept {
  if (!pressured_ && depth >= high_) {
    pressured_ = true;
    ++episodes_;
  } else if (pressured_ && depth <= low_) {
    pressured_ = false;
  }
  return pressured_;
}

} // namespace ringkernel
