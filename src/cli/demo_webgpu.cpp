// The demo's actors as IR programs for the WebGPU backend. Each handler mirrors the C++ handler of the same name
// in demo_actors.hpp line by line; the comments say where the IR form differs and why.
#include "demo_webgpu.hpp"

#if defined(RINGKERNEL_HAS_WEBGPU)

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "ringkernel/webgpu/webgpu.hpp"

namespace ringkernel::cli {
namespace {

namespace wg = ringkernel::webgpu;
namespace dsl = ringkernel::ir::dsl;
using U32 = wg::Val<std::uint32_t>;
using I32 = wg::Val<std::int32_t>;
using U64 = wg::Val<std::uint64_t>;
using I64 = wg::Val<std::int64_t>;

U32 lo64(I64 v) { return wg::lo(dsl::bitcast<std::uint64_t>(v)); }
U32 hi64(I64 v) { return wg::hi(dsl::bitcast<std::uint64_t>(v)); }
I64 state_i64(const wg::ActorContext& m, std::uint32_t i) { return dsl::bitcast<std::int64_t>(m.state_u64(i)); }
I64 const_i64(const wg::ActorContext& m, std::int64_t v) { return {&m.ir(), m.ir().const_int(ir::Type::i64(), v)}; }

// --- Ingest: state words 0 = transform id, 1 = aggregate id --------------------------------------------------
wg::ActorSpec ingest_spec(std::uint32_t actors) {
  wg::ActorSpec s;
  s.name = "demo_ingest";
  s.state_words = 2;
  s.max_payload_words = sizeof(RawReading) / 4;
  s.max_outputs = 1;
  s.max_actors = actors;
  s.handlers.push_back({RawReading::type_id, [](wg::ActorContext& m) {
    const U32 sensor = m.payload<std::uint32_t>(offsetof(RawReading, sensor));
    const U32 seq = m.payload<std::uint32_t>(offsetof(RawReading, seq));
    const I32 raw = m.payload<std::int32_t>(offsetof(RawReading, raw));
    m.if_(sensor >= kSensors || raw < kRawMin || raw > kRawMax,
          [&] { m.send(m.state_word(1).load(), Rejected::type_id, {sensor, seq}); },
          [&] { m.send(m.state_word(0).load(), Validated::type_id, {sensor, seq, dsl::bitcast<std::uint32_t>(raw), m.u32(0)}); });
  }});
  return s;
}

// calibrate() of demo_actors.hpp in the IR, exact for every input: 64-bit product, division by 16 truncating
// toward zero (as C++ does) written as shifts of the magnitude, because the WGSL lowering has no 64-bit
// division, then the same clip.
I64 calibrate_ir(const wg::ActorContext& m, U32 sensor, I32 raw) {
  const I64 gain = dsl::cast<std::int64_t>(sensor) * std::int64_t{25} + std::int64_t{1000};
  const I64 x = dsl::cast<std::int64_t>(raw) * gain;
  const I64 q = dsl::select(x >= std::int64_t{0}, x >> std::int64_t{4}, -((-x) >> std::int64_t{4}));
  const I64 milli = q + const_i64(m, kMinMilli);
  return dsl::select(milli < kMinMilli, const_i64(m, kMinMilli), dsl::select(milli > kMaxMilli, const_i64(m, kMaxMilli), milli));
}

// --- Transform: state word 0 = flaky id --------------------------------------------------------------------------
wg::ActorSpec transform_spec() {
  wg::ActorSpec s;
  s.name = "demo_transform";
  s.state_words = 1;
  s.max_payload_words = sizeof(Scaled) / 4;
  s.max_outputs = 1;
  s.max_actors = 1;
  s.handlers.push_back({Validated::type_id, [](wg::ActorContext& m) {
    const U32 sensor = m.payload<std::uint32_t>(offsetof(Validated, sensor));
    const I64 milli = calibrate_ir(m, sensor, m.payload<std::int32_t>(offsetof(Validated, raw)));
    m.send(m.state_word(0).load(), Scaled::type_id,
           {sensor, m.payload<std::uint32_t>(offsetof(Validated, seq)), lo64(milli), hi64(milli)});
  }});
  return s;
}

// --- Flaky: state words 0 = aggregate id, 1 = fail_every, 2 = seen ----------------------------------------------
wg::ActorSpec flaky_spec() {
  wg::ActorSpec s;
  s.name = "demo_flaky";
  s.state_words = 3;
  s.max_payload_words = sizeof(Scaled) / 4;
  s.max_outputs = 1;
  s.max_actors = 1;
  s.handlers.push_back({Scaled::type_id, [](wg::ActorContext& m) {
    const U32 every = m.state_word(1).load();
    // `fail_every != 0 && ++seen % fail_every == 0`: seen only counts when failures are on; the divisor is kept
    // non-zero because both sides of the IR's && are evaluated.
    const U32 seen = dsl::select(every != 0u, m.state_word(2).load() + 1u, m.state_word(2).load());
    m.state_word(2) = seen;
    m.if_(every != 0u && seen % dsl::max(every, 1u) == 0u, [&] { m.fail(); },
          [&] {
            std::vector<U32> words;
            for (std::uint32_t w = 0; w < sizeof(Scaled) / 4; ++w) words.push_back(m.payload<std::uint32_t>(w * 4));
            m.send(m.state_word(0).load(), Scaled::type_id, words);
          });
  }});
  return s;
}

// --- Aggregate: sensor s at words 8s..8s+7 (count, sum, min, max; 64-bit each), rejected at 64..65 ---------------
constexpr std::uint32_t kPerSensorWords = 8;
constexpr std::uint32_t kRejectedWord = kSensors * kPerSensorWords;

wg::ActorSpec aggregate_spec() {
  wg::ActorSpec s;
  s.name = "demo_aggregate";
  s.state_words = kRejectedWord + 2;
  s.max_payload_words = sizeof(Snapshot) / 4;  // the largest reply (Snapshot and SensorStats are 40 bytes)
  static_assert(sizeof(SensorStats) == sizeof(Snapshot));
  s.max_outputs = 1;
  s.max_actors = 1;
  // Aggregate::PerSensor's initial min/max (INT64_MAX / INT64_MIN).
  s.initial_state.assign(s.state_words, 0);
  for (std::uint32_t i = 0; i < kSensors; ++i) {
    s.initial_state[i * kPerSensorWords + 4] = 0xFFFFFFFFu;
    s.initial_state[i * kPerSensorWords + 5] = 0x7FFFFFFFu;
    s.initial_state[i * kPerSensorWords + 7] = 0x80000000u;
  }
  s.handlers.push_back({Scaled::type_id, [](wg::ActorContext& m) {
    // sensors[s.sensor % kSensors]: the per-sensor block at a computed state index.
    const U32 at = (m.payload<std::uint32_t>(offsetof(Scaled, sensor)) % kSensors) * kPerSensorWords;
    const I64 milli = m.payload<std::int64_t>(offsetof(Scaled, milli));
    auto get = [&](std::uint32_t k) { return dsl::bitcast<std::int64_t>(m.state_u64_at(at + k)); };
    auto put = [&](std::uint32_t k, I64 v) { m.set_state_u64_at(at + k, dsl::bitcast<std::uint64_t>(v)); };
    put(0, get(0) + std::int64_t{1});
    put(2, get(2) + milli);
    put(4, dsl::min(get(4), milli));
    put(6, dsl::max(get(6), milli));
  }});
  s.handlers.push_back({Rejected::type_id, [](wg::ActorContext& m) {
    m.set_state_u64(kRejectedWord, m.state_u64(kRejectedWord) + std::uint64_t{1});
  }});
  s.handlers.push_back({Query::type_id, [](wg::ActorContext& m) {
    // The loop over the sensors is unrolled while building the IR.
    I64 accepted = state_i64(m, 0), sum = state_i64(m, 2), mn = state_i64(m, 4), mx = state_i64(m, 6);
    for (std::uint32_t i = 1; i < kSensors; ++i) {
      accepted = accepted + state_i64(m, i * kPerSensorWords);
      sum = sum + state_i64(m, i * kPerSensorWords + 2);
      mn = dsl::min(mn, state_i64(m, i * kPerSensorWords + 4));
      mx = dsl::max(mx, state_i64(m, i * kPerSensorWords + 6));
    }
    const I64 rejected = state_i64(m, kRejectedWord);
    m.reply(Snapshot::type_id, {lo64(accepted), hi64(accepted), lo64(rejected), hi64(rejected), lo64(sum), hi64(sum),
                                lo64(mn), hi64(mn), lo64(mx), hi64(mx)});
  }});
  s.handlers.push_back({SensorQuery::type_id, [](wg::ActorContext& m) {
    const U32 sensor = m.payload<std::uint32_t>(offsetof(SensorQuery, sensor));
    const U32 at = (sensor % kSensors) * kPerSensorWords;
    std::vector<U32> words{sensor, m.u32(0)};
    for (std::uint32_t k = 0; k < kPerSensorWords; ++k) words.push_back(m.state_word_at(at + k).load());
    m.reply(SensorStats::type_id, words);
  }});
  return s;
}

}  // namespace

Result<Pipeline> launch_webgpu_pipeline(Runtime& rt, const LaunchOptions& lo, unsigned ingest_actors,
                                        std::uint32_t fail_every) {
  // Which adapter runs the demo matters for reading its numbers (a CPU renderer or a GPU).
  if (auto info = wg::probe()) {
    std::fprintf(stderr, "ringkernel demo: WebGPU adapter %s [%s, %s]\n", info->adapter.c_str(), info->backend.c_str(),
                 info->hardware ? "hardware GPU" : "software/other");
  }
  auto aggregate_p = wg::compile(aggregate_spec());
  if (!aggregate_p) return aggregate_p.error();
  auto flaky_p = wg::compile(flaky_spec());
  if (!flaky_p) return flaky_p.error();
  auto transform_p = wg::compile(transform_spec());
  if (!transform_p) return transform_p.error();
  auto ingest_p = wg::compile(ingest_spec(ingest_actors == 0 ? 1 : ingest_actors));
  if (!ingest_p) return ingest_p.error();
  // Launch arguments (the ids each actor forwards to) become the first state words of each actor.
  auto aggregate = wg::launch(rt, kAggregate, *aggregate_p, lo);
  if (!aggregate) return aggregate.error();
  auto flaky = wg::launch(rt, kFlaky, *flaky_p, lo, {aggregate->id(), fail_every, 0});
  if (!flaky) return flaky.error();
  auto transform = wg::launch(rt, kTransform, *transform_p, lo, {flaky->id()});
  if (!transform) return transform.error();
  Pipeline p{*aggregate, *flaky, *transform, {}};
  for (unsigned i = 0; i < ingest_actors; ++i) {
    auto h = wg::launch(rt, "ingest-" + std::to_string(i), *ingest_p, lo, {transform->id(), aggregate->id()});
    if (!h) return h.error();
    p.ingest.push_back(*h);
  }
  return p;
}

}  // namespace ringkernel::cli

#else  // built without the WebGPU component

namespace ringkernel::cli {
Result<Pipeline> launch_webgpu_pipeline(Runtime&, const LaunchOptions&, unsigned, std::uint32_t) {
  return make_error(ErrorCode::BackendUnavailable,
                    "this ringkernel was built without the WebGPU component (run scripts/fetch-wgpu.sh and rebuild)",
                    "demo");
}
}  // namespace ringkernel::cli

#endif
