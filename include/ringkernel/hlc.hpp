/// @file hlc.hpp
/// @brief Hybrid logical clocks: a packed 64-bit timestamp (48-bit physical ms, 16-bit logical) plus node id.
///
/// Packing both parts into one word makes every clock step a single compare-and-swap on the host and lets the
/// device merge clocks with one 64-bit atomic max. Incrementing the packed word carries a logical overflow
/// into the physical part, so the clock stays strictly monotonic even beyond 65536 events per millisecond
/// (it then runs slightly ahead of wall time until wall time catches up).
#pragma once

#include <compare>
#include <cstdint>

#include "ringkernel/config.hpp"
#include "ringkernel/detail/atomic.hpp"

#include "ringkernel/error.hpp"

namespace ringkernel {

/// Bits of the packed word that hold the logical counter.
inline constexpr unsigned kHlcLogicalBits = 16;
/// Mask of the logical counter.
inline constexpr std::uint64_t kHlcLogicalMask = (std::uint64_t{1} << kHlcLogicalBits) - 1;
/// Largest representable physical time (ms since the Unix epoch).
inline constexpr std::uint64_t kHlcMaxPhysical = (std::uint64_t{1} << 48) - 1;

/// Packs physical milliseconds and a logical counter.
RK_HOST_DEVICE constexpr std::uint64_t hlc_pack(std::uint64_t physical_ms, std::uint64_t logical) noexcept {
  return (physical_ms << kHlcLogicalBits) | (logical & kHlcLogicalMask);
}
/// Physical part (ms since the Unix epoch) of a packed timestamp.
RK_HOST_DEVICE constexpr std::uint64_t hlc_physical(std::uint64_t packed) noexcept { return packed >> kHlcLogicalBits; }
/// Logical part of a packed timestamp.
RK_HOST_DEVICE constexpr std::uint64_t hlc_logical(std::uint64_t packed) noexcept { return packed & kHlcLogicalMask; }

/// Next value for a local event or send: greater than `current` and not behind wall time.
RK_HOST_DEVICE constexpr std::uint64_t hlc_next_tick(std::uint64_t current, std::uint64_t physical_ms) noexcept {
  const std::uint64_t wall = hlc_pack(physical_ms, 0);
  return wall > current ? wall : current + 1;
}
/// Next value on receiving `received`: greater than both `current` and `received`, not behind wall time.
RK_HOST_DEVICE constexpr std::uint64_t hlc_next_update(std::uint64_t current, std::uint64_t received,
                                                       std::uint64_t physical_ms) noexcept {
  const std::uint64_t wall = hlc_pack(physical_ms, 0);
  const std::uint64_t seen = (current > received ? current : received) + 1;
  return wall > seen ? wall : seen;
}

/// A timestamp with its node id; ordered by (packed time, node) — a total order across nodes.
struct HlcTimestamp {
  std::uint64_t packed = 0;  ///< hlc_pack(physical, logical).
  std::uint16_t node = 0;    ///< Node (runtime, device) that produced it.

  /// Physical milliseconds.
  [[nodiscard]] RK_HOST_DEVICE constexpr std::uint64_t physical() const noexcept { return hlc_physical(packed); }
  /// Logical counter.
  [[nodiscard]] RK_HOST_DEVICE constexpr std::uint64_t logical() const noexcept { return hlc_logical(packed); }
  /// Total order: time first, node id breaks ties.
  friend constexpr auto operator<=>(const HlcTimestamp&, const HlcTimestamp&) = default;
};

/// Source of physical time in milliseconds since the Unix epoch (injectable for tests).
using PhysicalClockFn = std::uint64_t (*)() noexcept;

/// Wall-clock milliseconds since the Unix epoch (the default physical clock).
std::uint64_t system_physical_ms() noexcept;

/// A thread-safe hybrid logical clock. Every step is one CAS on the packed word.
class HlcClock {
public:
  /// Default tolerated drift of a received timestamp ahead of local wall time.
  static constexpr std::uint64_t kDefaultMaxDriftMs = 60'000;

  /// A clock for `node`, rejecting received timestamps more than `max_drift_ms` ahead of wall time.
  explicit HlcClock(std::uint16_t node = 0, std::uint64_t max_drift_ms = kDefaultMaxDriftMs,
                    PhysicalClockFn physical = &system_physical_ms) noexcept
      : node_(node), max_drift_ms_(max_drift_ms), physical_(physical) {}

  /// Timestamp for a local event or a send; strictly greater than every earlier result of this clock.
  HlcTimestamp tick() noexcept;
  /// Reserves `n` (at least 1) consecutive timestamps, each strictly greater than every earlier result, with
  /// one clock read and one CAS; returns the first (the others are first + 1 ... first + n - 1). For a batch of
  /// sends, which would otherwise read the wall clock once per message.
  HlcTimestamp tick_many(std::uint32_t n) noexcept;
  /// Alias of tick(): reading the clock is an event.
  HlcTimestamp now() noexcept { return tick(); }
  /// Merges a received timestamp; fails with ClockDrift (clock unchanged) when it is too far ahead.
  Result<HlcTimestamp> update(std::uint64_t received_packed) noexcept;
  /// Last issued value without advancing (for snapshots and checkpoints).
  [[nodiscard]] std::uint64_t peek() const noexcept { return detail::load_acquire(&state_); }
  /// Restores a value from a checkpoint; never moves the clock backwards.
  void restore(std::uint64_t packed) noexcept;
  /// This clock's node id.
  [[nodiscard]] std::uint16_t node() const noexcept { return node_; }
  /// Count of received timestamps rejected for drift.
  [[nodiscard]] std::uint64_t drift_rejections() const noexcept { return detail::load_relaxed(&drift_rejections_); }

private:
  alignas(kCacheLine) std::uint64_t state_ = 0;
  std::uint64_t drift_rejections_ = 0;
  std::uint16_t node_;
  std::uint64_t max_drift_ms_;
  PhysicalClockFn physical_;
};

} // namespace ringkernel
