/// @file demo_actors.hpp
/// @brief The demo's actor system (messages, actors, reading source), shared by `ringkernel demo` and
/// `ringkernel serve` so both run exactly the same pipeline.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <string_view>

#include <vector>

#include "ringkernel/actor.hpp"
#include "ringkernel/config.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/runtime.hpp"

namespace ringkernel::cli {

// ---------------------------------------------------------------------------------------------------------
// The domain: 12-bit ADC readings from a handful of temperature sensors.
//
// Values are integers (milli-degrees) on purpose: the host recomputes the expected sum in a different order
// than the aggregate adds it up, and only integer arithmetic makes "equal" mean equal.

constexpr std::uint32_t kSensors = 8;
constexpr std::int32_t kRawMin = 0;
constexpr std::int32_t kRawMax = 4095;
constexpr std::int64_t kMinMilli = -40'000;   // the sensors' physical range; anything outside is a spike
constexpr std::int64_t kMaxMilli = 125'000;

/// Raw ADC count -> milli-degrees, with a per-sensor gain, clipped to the physical range (the "filter").
/// Used by `transform` and by the host's expectation alike, so the check is about delivery, not arithmetic.
RK_HOST_DEVICE constexpr std::int64_t calibrate(std::uint32_t sensor, std::int32_t raw) {
  const std::int64_t gain = 1000 + 25 * static_cast<std::int64_t>(sensor);
  const std::int64_t milli = static_cast<std::int64_t>(raw) * gain / 16 + kMinMilli;
  // Not std::clamp: its library assertion becomes a trap in device code.
  return milli < kMinMilli ? kMinMilli : (milli > kMaxMilli ? kMaxMilli : milli);
}

constexpr std::string_view kTransform = "transform";
constexpr std::string_view kFlaky = "flaky";
constexpr std::string_view kAggregate = "aggregate";

// --- Messages (plain trivially copyable structs; the type id is a hash of the name) ----------------------

struct RawReading {  // host -> ingest
  static constexpr auto type_id = message_type("rk.demo.RawReading");
  std::uint32_t sensor;
  std::uint32_t seq;
  std::int32_t raw;
  std::uint32_t reserved;
};
struct Validated {  // ingest -> transform
  static constexpr auto type_id = message_type("rk.demo.Validated");
  std::uint32_t sensor;
  std::uint32_t seq;
  std::int32_t raw;
  std::uint32_t reserved;
};
struct Scaled {  // transform -> flaky -> aggregate
  static constexpr auto type_id = message_type("rk.demo.Scaled");
  std::uint32_t sensor;
  std::uint32_t seq;
  std::int64_t milli;
};
struct Rejected {  // ingest -> aggregate: invalid readings are counted, not silently dropped
  static constexpr auto type_id = message_type("rk.demo.Rejected");
  std::uint32_t sensor;
  std::uint32_t seq;
};
struct Query {  // host -> aggregate (call)
  static constexpr auto type_id = message_type("rk.demo.Query");
  std::uint32_t reserved;
};
struct Snapshot {  // aggregate -> host (reply to Query)
  static constexpr auto type_id = message_type("rk.demo.Snapshot");
  std::uint64_t accepted;
  std::uint64_t rejected;
  std::int64_t sum_milli;
  std::int64_t min_milli;
  std::int64_t max_milli;
};
struct SensorQuery {  // host -> aggregate (call)
  static constexpr auto type_id = message_type("rk.demo.SensorQuery");
  std::uint32_t sensor;
  std::uint32_t reserved;
};
struct SensorStats {  // aggregate -> host (reply to SensorQuery)
  static constexpr auto type_id = message_type("rk.demo.SensorStats");
  std::uint32_t sensor;
  std::uint32_t reserved;
  std::uint64_t count;
  std::int64_t sum_milli;
  std::int64_t min_milli;
  std::int64_t max_milli;
};

// --- Actors --------------------------------------------------------------------------------------------
// Handlers take `auto& ctx`, are RK_HOST_DEVICE and keep only plain data, so the same actors run on the CPU
// backend and, compiled by demo_cuda.cu, inside persistent GPU kernels. Actors address each other by id
// (kept in their state; ids survive restarts), which both backends route: on the GPU a send is a K2K push.
// Send results are not checked in handlers: a failed actor-to-actor send is dead-lettered (CPU) or counted
// as refused (GPU); the demo keeps the pipeline below every mailbox's capacity so neither happens.

/// Validates raw readings from the host and routes them: good ones to `transform`, bad ones (unknown
/// sensor, out-of-range ADC count) straight to `aggregate` as a Rejected count.
struct Ingest {
  using messages = message_list<RawReading>;
  ActorId transform = 0;
  ActorId aggregate = 0;
  RK_HOST_DEVICE void handle(auto& ctx, const RawReading& r) {
    if (r.sensor >= kSensors || r.raw < kRawMin || r.raw > kRawMax) {
      (void)ctx.send(aggregate, Rejected{r.sensor, r.seq});
      return;
    }
    (void)ctx.send(transform, Validated{r.sensor, r.seq, r.raw, 0});
  }
};

/// Converts counts to calibrated, clipped milli-degrees.
struct Transform {
  using messages = message_list<Validated>;
  ActorId flaky = 0;
  RK_HOST_DEVICE void handle(auto& ctx, const Validated& v) {
    (void)ctx.send(flaky, Scaled{v.sensor, v.seq, calibrate(v.sensor, v.raw)});
  }
};

/// A stage that fails on every K-th message it handles. The runtime dead-letters the failing message
/// (reason handler_failed) and the root supervisor (OneForOne) restarts the actor with fresh state; the
/// messages queued behind the failure stay queued for the restarted instance.
struct Flaky {
  using messages = message_list<Scaled>;
  ActorId aggregate = 0;
  std::uint32_t fail_every = 0;
  std::uint32_t seen = 0;
  Flaky(ActorId agg, std::uint32_t k) : aggregate(agg), fail_every(k) {}
  RK_HOST_DEVICE void handle(auto& ctx, const Scaled& s) {
    if (fail_every != 0 && ++seen % fail_every == 0) {
      ctx.fail("injected failure (every fail_every-th message)");
      return;
    }
    (void)ctx.send(aggregate, s);
  }
};

/// Running count/sum/min/max per sensor plus the number of rejected readings; answers queries by reply.
struct Aggregate {
  using messages = message_list<Scaled, Rejected, Query, SensorQuery>;
  struct PerSensor {
    std::uint64_t count = 0;
    std::int64_t sum = 0;
    std::int64_t min = INT64_MAX;
    std::int64_t max = INT64_MIN;
  };
  PerSensor sensors[kSensors]{};
  std::uint64_t rejected = 0;

  RK_HOST_DEVICE void handle(auto& /*ctx*/, const Scaled& s) {
    PerSensor& p = sensors[s.sensor % kSensors];  // ingest validated the id; the modulo keeps it memory safe
    ++p.count;
    p.sum += s.milli;
    p.min = s.milli < p.min ? s.milli : p.min;
    p.max = s.milli > p.max ? s.milli : p.max;
  }
  RK_HOST_DEVICE void handle(auto& /*ctx*/, const Rejected& /*r*/) { ++rejected; }
  RK_HOST_DEVICE void handle(auto& ctx, const Query& /*q*/) {
    Snapshot out{0, rejected, 0, INT64_MAX, INT64_MIN};
    for (const PerSensor& p : sensors) {
      out.accepted += p.count;
      out.sum_milli += p.sum;
      out.min_milli = p.min < out.min_milli ? p.min : out.min_milli;
      out.max_milli = p.max > out.max_milli ? p.max : out.max_milli;
    }
    (void)ctx.reply(out);
  }
  RK_HOST_DEVICE void handle(auto& ctx, const SensorQuery& q) {
    const PerSensor& p = sensors[q.sensor % kSensors];
    (void)ctx.reply(SensorStats{q.sensor, 0, p.count, p.sum, p.min, p.max});
  }
};

/// The launched pipeline.
struct Pipeline {
  ActorHandle aggregate;
  ActorHandle flaky;
  ActorHandle transform;
  std::vector<ActorHandle> ingest;
};

/// Launches the pipeline downstream first, so every id a handler forwards to exists before the first
/// reading arrives. Shared by `demo` and `serve` so both run the identical system.
inline Result<Pipeline> launch_pipeline(Runtime& rt, const LaunchOptions& lo, unsigned ingest_actors,
                                        std::uint32_t fail_every) {
  auto aggregate = rt.launch<Aggregate>(kAggregate, lo);
  if (!aggregate) return aggregate.error();
  auto flaky = rt.launch<Flaky>(kFlaky, lo, aggregate->id(), fail_every);
  if (!flaky) return flaky.error();
  auto transform = rt.launch<Transform>(kTransform, lo, Transform{flaky->id()});
  if (!transform) return transform.error();
  Pipeline p{*aggregate, *flaky, *transform, {}};
  for (unsigned i = 0; i < ingest_actors; ++i) {
    auto h = rt.launch<Ingest>("ingest-" + std::to_string(i), lo, Ingest{transform->id(), aggregate->id()});
    if (!h) return h.error();
    p.ingest.push_back(*h);
  }
  return p;
}

/// Deterministic readings: a fixed-seed xorshift, so two runs of the same length send the same data.
class ReadingSource {
public:
  RawReading next() {
    const std::uint64_t r = step();
    RawReading out{static_cast<std::uint32_t>(r % kSensors), seq_++, static_cast<std::int32_t>((r >> 8) % 4096), 0};
    // About 1 in 128 readings is malformed, half with an unknown sensor and half with an impossible count.
    if (((r >> 24) & 127) == 0) {
      if ((r >> 31) & 1) out.sensor = kSensors + static_cast<std::uint32_t>((r >> 32) % 16);
      else out.raw = kRawMax + 1 + static_cast<std::int32_t>((r >> 32) % 1000);
    }
    return out;
  }

private:
  std::uint64_t step() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  std::uint64_t s_ = 0x9E3779B97F4A7C15ull;
  std::uint32_t seq_ = 0;
};

}  // namespace ringkernel::cli
