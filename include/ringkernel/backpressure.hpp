/// @file backpressure.hpp
/// @brief Mailbox back-pressure: high/low water marks with hysteresis and what to do with an overflowing send.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace ringkernel {

/// What a send does when the destination mailbox is at its high-water mark (or full).
enum class OverflowPolicy : std::uint8_t {
  Block,             ///< Wait (up to `block_timeout`) until the mailbox drains to the low-water mark.
  Reject,            ///< Fail at once with QueueFull.
  DropOldest,        ///< Evict the oldest queued message to the dead-letter queue, then enqueue (a host
                     ///< sender waits up to `block_timeout` for the consumer to finish its current message).
  DropToDeadLetter,  ///< Put the new message in the dead-letter queue and report Dropped.
};

/// Stable name of a policy.
std::string_view to_string(OverflowPolicy p) noexcept;

/// Back-pressure settings of one mailbox. Water marks are fractions of capacity in (0, 1].
struct BackpressureConfig {
  OverflowPolicy policy = OverflowPolicy::Block;        ///< Overflow behaviour.
  double high_water = 1.0;                              ///< Pressure starts at this fill level.
  double low_water = 0.5;                               ///< Pressure ends (Block resumes) at this level.
  std::chrono::milliseconds block_timeout{1000};        ///< Longest a Block (or host DropOldest) send waits before QueueFull.
};

/// Hysteresis between the water marks, in slots: pressured from `high` until depth falls to `low`.
class WatermarkGauge {
public:
  /// Gauge for a mailbox of `capacity` slots; marks are clamped so that 1 <= low <= high <= capacity.
  WatermarkGauge(std::uint64_t capacity, double high_water, double low_water) noexcept;
  /// Updates with the current depth; returns true while pressured.
  bool update(std::uint64_t depth) noexcept;
  /// True while pressured.
  [[nodiscard]] bool pressured() const noexcept { return pressured_; }
  /// High mark in slots.
  [[nodiscard]] std::uint64_t high() const noexcept { return high_; }
  /// Low mark in slots.
  [[nodiscard]] std::uint64_t low() const noexcept { return low_; }
  /// Times pressure started.
  [[nodiscard]] std::uint64_t episodes() const noexcept { return episodes_; }

private:
  std::uint64_t high_;
  std::uint64_t low_;
  bool pressured_ = false;
  std::uint64_t episodes_ = 0;
};

} // namespace ringkernel
