/// @file demo.hpp
/// @brief `ringkernel demo`: a sensor pipeline of actors that doubles as an end-to-end correctness check.
///
/// The pipeline (all names are registry names; every hop after the host is actor-to-actor):
///
///   host --send_many--> ingest-0..N-1 --> transform --> flaky --> aggregate <--call-- host latency probe
///                              \______ rejected readings ______________^
///
/// The host knows exactly what it sent, so after the run it can check that every reading either reached
/// `aggregate` or is in the dead-letter queue: nothing may be lost or duplicated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ringkernel/runtime.hpp"

namespace ringkernel::cli {

/// Options of `ringkernel demo` (defaults are what the help text promises).
struct DemoOptions {
  Backend backend = Backend::Auto;  ///< --backend
  double seconds = 5.0;             ///< --seconds: how long the host feeds readings.
  unsigned workers = 0;             ///< --workers: executor threads (0 = one per hardware thread).
  unsigned ingest = 2;              ///< --ingest: number of ingest actors.
  std::uint64_t rate = 0;           ///< --rate: target readings/s from the host; 0 = as fast as possible.
  std::uint32_t fail_every = 5000;  ///< --fail-every: `flaky` fails on every K-th message it handles.
  bool progress = true;             ///< Live progress on stderr (--no-progress turns it off).
  std::optional<std::string> json;  ///< --json FILE: also write the results as JSON.
};

/// Runs the demo; returns the process exit code (0 = ran and verified, 1 = runtime error or mismatch).
int run_demo(const DemoOptions& opts);

}  // namespace ringkernel::cli
