#include "ringkernel/metrics.hpp"

#include <bit>

namespace ringkernel {

// Buckets: values below 8 map one-to-one; above, each power of two [2^e, 2^(e+1)) splits into 8 equal parts.
std::size_t LatencyHistogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < 8) return static_cast<std::size_t>(ns);
  const unsigned e = 63u - static_cast<unsigned>(std::countl_zero(ns));  // ns >= 8, so e >= 3
  const std::uint64_t sub = (ns >> (e - 3)) & 7u;
  const std::size_t b = (static_cast<std::size_t>(e) - 2) * 8 + sub;
  return b < kBuckets ? b : kBuckets - 1;
}

std::uint64_t LatencyHistogram::bucket_upper(std::size_t bucket) noexcept {
  if (bucket < 8) return bucket;
  const std::size_t e = bucket / 8 + 2;
  const std::uint64_t sub = bucket % 8;
  return ((8 + sub + 1) << (e - 3)) - 1;
}

void LatencyHistogram::record(std::uint64_t ns) noexcept {
  buckets_[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(ns, std::memory_order_relaxed);
  std::uint64_t m = max_.load(std::memory_order_relaxed);
  while (ns > m && !max_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
  }
}

std::uint64_t LatencyHistogram::percentile(double q) const noexcept {
  std::uint64_t total = 0;
  for (const auto& b : buckets_) total += b.load(std::memory_order_relaxed);
  if (total == 0) return 0;
  if (q < 0.0) q = 0.0;
  if (q > 1.0) q = 1.0;
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
  if (rank >= total) rank = total - 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen > rank) {
      const std::uint64_t upper = bucket_upper(i);
      const std::uint64_t mx = max();
      return upper < mx ? upper : mx;
    }
  }
  return max();
}

void LatencyHistogram::reset() noexcept {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

} // namespace ringkernel
