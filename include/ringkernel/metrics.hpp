/// @file metrics.hpp
/// @brief Lock-free latency histograms and the metric snapshots the runtime reports.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace ringkernel {

/// Log-linear latency histogram in nanoseconds: 8 sub-buckets per power of two (<= 12.5% error), lock-free
/// recording from any thread, percentiles from a snapshot.
class LatencyHistogram {
public:
  /// Number of buckets (covers 1 ns .. ~2^40 ns).
  static constexpr std::size_t kBuckets = std::size_t{41} * 8;
  /// Records one sample.
  void record(std::uint64_t ns) noexcept;
  /// Samples recorded.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  /// Sum of samples (ns).
  [[nodiscard]] std::uint64_t sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  /// Largest sample (ns).
  [[nodiscard]] std::uint64_t max() const noexcept { return max_.load(std::memory_order_relaxed); }
  /// Upper bound (ns) of the bucket holding quantile `q` in [0, 1]; 0 when empty.
  [[nodiscard]] std::uint64_t percentile(double q) const noexcept;
  /// Clears all samples (not concurrent-safe with a consistent snapshot; counters may interleave).
  void reset() noexcept;
  /// Bucket index of a value.
  static std::size_t bucket_of(std::uint64_t ns) noexcept;
  /// Upper bound (ns) of a bucket.
  static std::uint64_t bucket_upper(std::size_t bucket) noexcept;
  /// Count in one bucket.
  [[nodiscard]] std::uint64_t bucket_count(std::size_t bucket) const noexcept {
    return buckets_[bucket].load(std::memory_order_relaxed);
  }

private:
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> max_{0};
};

/// Counters of one actor at a point in time.
struct ActorMetrics {
  std::uint64_t received = 0;          ///< Messages accepted into the mailbox.
  std::uint64_t processed = 0;         ///< Messages handled.
  std::uint64_t sent = 0;              ///< Messages this actor sent (replies included).
  std::uint64_t dropped = 0;           ///< Messages dropped or dead-lettered on the way to this actor.
  std::uint64_t rejected = 0;          ///< Sends refused (full, suspended, terminated).
  std::uint64_t tenant_violations = 0; ///< Cross-tenant sends refused.
  std::uint64_t errors = 0;            ///< Handler failures.
  std::uint64_t restarts = 0;          ///< Supervisor restarts.
  std::uint64_t stalls = 0;            ///< Watchdog stall detections.
  std::uint64_t queue_depth = 0;       ///< Messages waiting now.
  std::uint64_t queue_capacity = 0;    ///< Mailbox slots.
  std::uint64_t handler_p50_ns = 0;    ///< Median handler time.
  std::uint64_t handler_p99_ns = 0;    ///< 99th percentile handler time.
  std::uint32_t last_error = 0;        ///< ErrorCode of the last failure.
};

} // namespace ringkernel
