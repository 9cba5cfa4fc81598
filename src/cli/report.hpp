/// @file report.hpp
/// @brief The numbers `ringkernel demo` reports, and how they are printed (table on stdout, optional JSON).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ringkernel/dead_letter.hpp"

namespace ringkernel::cli {

/// Latency percentiles of host-measured samples, in nanoseconds.
struct LatencySummary {
  std::uint64_t samples = 0;  ///< Samples after warm-up.
  std::uint64_t p50_ns = 0;   ///< Median.
  std::uint64_t p99_ns = 0;   ///< 99th percentile.
  std::uint64_t max_ns = 0;   ///< Largest sample.
  double mean_ns = 0;         ///< Arithmetic mean.
};

/// Nearest-rank percentiles of `samples` (sorted in place).
LatencySummary summarize(std::vector<std::uint64_t>& samples);

/// Everything the demo prints at the end.
struct DemoReport {
  std::string backend;                 ///< Backend that actually ran.
  unsigned workers = 0;                ///< Executor threads.
  unsigned ingest_actors = 0;          ///< Number of ingest actors.
  double run_seconds = 0;              ///< Time the host was feeding readings.
  std::uint64_t rate_target = 0;       ///< --rate (0 = unthrottled).
  std::uint64_t readings_sent = 0;     ///< Readings the host sent (accepted by ingest mailboxes).
  std::uint64_t readings_invalid = 0;  ///< Of those, deliberately malformed ones.
  std::uint64_t messages_processed = 0;  ///< Handler invocations over all actors (every hop counts).
  double readings_per_s = 0;           ///< readings_sent / run_seconds.
  double messages_per_s = 0;           ///< messages_processed / run_seconds.
  LatencySummary call;                 ///< Host `call` round trips to `aggregate`, warm-up excluded.
  std::uint64_t call_failures = 0;     ///< Probe calls that returned an error (timeouts included).
  std::uint64_t flaky_restarts = 0;    ///< Supervisor restarts of `flaky` (its metrics).
  std::uint64_t restart_events = 0;    ///< Restarted events seen by the on_event observer.
  std::array<std::uint64_t, kDeadLetterReasonCount> dead_letters{};  ///< By reason (lifetime counts).
  std::uint64_t dead_letters_total = 0;  ///< Sum of the above.
  // Aggregate snapshot after the pipeline drained.
  std::uint64_t agg_accepted = 0;      ///< Readings the aggregate summed.
  std::uint64_t agg_rejected = 0;      ///< Invalid readings the aggregate counted.
  std::int64_t agg_min_milli = 0;      ///< Smallest calibrated value (milli-degrees).
  std::int64_t agg_max_milli = 0;      ///< Largest calibrated value (milli-degrees).
  bool verified = false;               ///< The accounting check passed.
  std::string verification;            ///< One line explaining the check.
  bool shutdown_ok = false;            ///< Runtime::shutdown returned Ok.
  std::string shutdown;                ///< "ok" or the error.
  double shutdown_ms = 0;              ///< How long shutdown took.
};

/// Prints the final table to stdout.
void print_table(const DemoReport& r);
/// Writes `r` as JSON to `path`; false (with a message on stderr) when the file cannot be written.
bool write_json(const DemoReport& r, const std::string& path);

}  // namespace ringkernel::cli
