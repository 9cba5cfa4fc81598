#include "ringkernel/hlc.hpp"

#include <chrono>

namespace ringkernel {

std::uint64_t system_physical_ms() noexcept {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) &
         kHlcMaxPhysical;
}

HlcTimestamp HlcClock::tick() noexcept { return tick_many(1); }

HlcTimestamp HlcClock::tick_many(std::uint32_t n) noexcept {
  const std::uint64_t extra = n > 1 ? n - 1 : 0;
  std::uint64_t current = detail::load_relaxed(&state_);
  std::uint64_t first = 0;
  do {
    first = hlc_next_tick(current, physical_());
  } while (!detail::compare_exchange_weak(&state_, current, first + extra));
  return HlcTimestamp{first, node_};
}

Result<HlcTimestamp> HlcClock::update(std::uint64_t received_packed) noexcept {
  const std::uint64_t wall = physical_();
  // Compare the difference, not `wall + max_drift_ms_`, which wraps for a huge (unbounded) drift setting.
  if (hlc_physical(received_packed) > wall && hlc_physical(received_packed) - wall > max_drift_ms_) {
    detail::fetch_add_relaxed(&drift_rejections_, std::uint64_t{1});
    return make_error(ErrorCode::ClockDrift,
                      "received timestamp is " + std::to_string(hlc_physical(received_packed) - wall) +
                          " ms ahead of local wall time (max drift " + std::to_string(max_drift_ms_) + " ms)",
                      "HlcClock::update");
  }
  std::uint64_t current = detail::load_relaxed(&state_);
  std::uint64_t next = 0;
  do {
    next = hlc_next_update(current, received_packed, wall);
  } while (!detail::compare_exchange_weak(&state_, current, next));
  return HlcTimestamp{next, node_};
}

void HlcClock::restore(std::uint64_t packed) noexcept {
  std::uint64_t current = detail::load_relaxed(&state_);
  while (current < packed && !detail::compare_exchange_weak(&state_, current, packed)) {
  }
}

} // namespace ringkernel
