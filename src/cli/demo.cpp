#include "demo.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "demo_actors.hpp"
#include "demo_webgpu.hpp"
#include "report.hpp"

namespace ringkernel::cli {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------------------
// Host side (the domain, messages, actors and ReadingSource are in demo_actors.hpp)

/// What the host knows it sent (exactly; written by the producer thread only).
struct SentTotals {
  std::uint64_t readings = 0;
  std::uint64_t invalid = 0;
  std::uint64_t valid = 0;
  std::int64_t valid_sum_milli = 0;
};

/// What the dead-letter queue says was lost from the pipeline, decoded per message type.
struct Lost {
  std::uint64_t valid = 0;          ///< Readings that were valid and never reached the aggregate.
  std::int64_t valid_sum_milli = 0; ///< Their calibrated values.
  std::uint64_t invalid = 0;        ///< Invalid readings whose Rejected count never arrived.
  std::uint64_t handler_failed = 0; ///< Letters with reason handler_failed (one per injected failure).
  std::uint64_t other = 0;          ///< Letters that are not pipeline data (e.g. a late reply).
};

bool is_valid(const RawReading& r) { return r.sensor < kSensors && r.raw >= kRawMin && r.raw <= kRawMax; }

Lost account_dead_letters(DeadLetterQueue& dlq) {
  Lost lost;
  for (const DeadLetter& d : dlq.snapshot()) {
    const Envelope& e = d.envelope;
    if (d.reason == DeadLetterReason::HandlerFailed) ++lost.handler_failed;
    if (auto raw = e.as<RawReading>()) {
      if (is_valid(*raw)) {
        ++lost.valid;
        lost.valid_sum_milli += calibrate(raw->sensor, raw->raw);
      } else {
        ++lost.invalid;
      }
    } else if (auto v = e.as<Validated>()) {
      ++lost.valid;
      lost.valid_sum_milli += calibrate(v->sensor, v->raw);
    } else if (auto s = e.as<Scaled>()) {
      ++lost.valid;
      lost.valid_sum_milli += s->milli;
    } else if (e.is<Rejected>()) {
      ++lost.invalid;
    } else {
      ++lost.other;
    }
  }
  return lost;
}

/// Host-measured call samples, shared by the probe thread (writer) and the progress printer (reader).
struct Samples {
  std::mutex mu;
  std::vector<std::uint64_t> ns;  // after warm-up only
  std::uint64_t failures = 0;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void print_error(const char* what, const Error& e) {
  std::fprintf(stderr, "ringkernel demo: %s: %s\n", what, e.describe().c_str());
}

}  // namespace

int run_demo(const DemoOptions& opts) {
  // Total readings allowed in the pipeline at once. Every in-flight reading occupies at most one mailbox slot,
  // so keeping this below the smallest mailbox guarantees no actor-to-actor send ever meets a full mailbox:
  // the demo shows the runtime's speed, not its overflow handling.
  constexpr std::uint32_t kMailbox = 4096;
  constexpr std::uint64_t kWindow = 1024;
  const auto run_for = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts.seconds));
  const auto warmup = std::min<Clock::duration>(std::chrono::milliseconds(500), run_for / 5);

  RuntimeConfig cfg;
  cfg.backend = opts.backend;
  cfg.workers = opts.workers;
  // Big enough to keep every dead letter of a long run: the final check decodes each one.
  cfg.dead_letter_capacity = 1u << 18;
  // `flaky` fails by design, thousands of times a run: the budget must outlast the run or the supervisor
  // would (correctly) give up and leave it failed.
  cfg.root_supervision = SupervisorSpec{SupervisionStrategy::OneForOne, 1u << 30,
                                        std::chrono::milliseconds(static_cast<long>(opts.seconds * 1000) + 60'000)};
  auto built = Runtime::builder().config(cfg).build();
  if (!built) {
    print_error("cannot start the runtime", built.error());
    return 1;
  }
  Runtime& rt = *built;

  std::atomic<std::uint64_t> restart_events{0};
  rt.on_event([&](const RuntimeEvent& ev) {
    if (ev.kind == RuntimeEvent::Kind::Restarted) restart_events.fetch_add(1, std::memory_order_relaxed);
  });

  LaunchOptions lo;
  lo.mailbox_capacity = kMailbox;
  auto pipeline = launch_demo_pipeline(rt, lo, opts.ingest, opts.fail_every);
  if (!pipeline) {
    print_error("launch failed", pipeline.error());
    return 1;
  }
  std::vector<ActorHandle>& ingest = pipeline->ingest;
  ActorHandle agg = pipeline->aggregate;
  ActorHandle* flaky = &pipeline->flaky;

  const std::string backend_name(to_string(rt.backend()));
  if (opts.progress) {
    std::fprintf(stderr, "ringkernel demo: backend %s, %u workers, %u ingest actors, %.1f s%s\n",
                 backend_name.c_str(), rt.workers(), opts.ingest, opts.seconds,
                 opts.rate != 0 ? (", rate " + std::to_string(opts.rate) + " readings/s").c_str() : "");
  }

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent_now{0};      // progress display only
  std::atomic<std::uint64_t> probes_started{0};
  std::optional<Error> producer_error;
  SentTotals sent;
  Samples samples;
  const Clock::time_point t_start = Clock::now();

  // --- Producer: batches of readings to the ingest actors, round robin, within the in-flight window. ------
  std::thread producer([&] {
    ReadingSource src;
    // With a rate target, smaller batches keep the pacing smooth; unthrottled, 64 amortises the publication.
    const std::size_t batch_size =
        opts.rate == 0 ? 64 : static_cast<std::size_t>(std::clamp<std::uint64_t>(opts.rate / 1000, 1, 64));
    std::vector<RawReading> batch(batch_size);
    std::uint64_t completed = 0;  // cached lower bound of readings that left the pipeline
    // Readings that left the pipeline: handled by the aggregate (minus probe queries it may have answered,
    // which makes this a lower bound) or dead-lettered. Costs a metrics snapshot, so it runs only when the
    // cached bound says the window is full.
    auto refresh_completed = [&] {
      auto m = agg.metrics();
      const std::uint64_t processed = m ? m->processed : 0;
      const std::uint64_t probes = probes_started.load();
      return (processed > probes ? processed - probes : 0) + rt.dead_letters().stats().pushed;
    };
    std::size_t next_actor = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (opts.rate != 0) {
        const auto due = t_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                       static_cast<double>(sent.readings) / static_cast<double>(opts.rate)));
        // A batch due after the end of the run is not sent (the clock, not `stop`, decides: the main thread
        // may notice the deadline a little later than we do).
        if (due >= t_start + run_for) break;
        if (due > Clock::now()) std::this_thread::sleep_until(due);
      }
      while (sent.readings + batch_size > completed + kWindow && !stop.load(std::memory_order_relaxed)) {
        completed = refresh_completed();
        if (sent.readings + batch_size > completed + kWindow) std::this_thread::yield();
      }
      for (auto& r : batch) r = src.next();
      std::size_t off = 0;
      while (off < batch.size()) {
        auto n = ingest[next_actor].send_many(std::span<const RawReading>(batch).subspan(off));
        if (!n) {
          // QueueFull/Timeout can only mean the consumer is slow right now: try again. Anything else ends
          // the run (and the accounting still covers what was accepted).
          if (n.error().code() == ErrorCode::QueueFull || n.error().code() == ErrorCode::Timeout) continue;
          producer_error = n.error();
          stop.store(true);
          break;
        }
        for (std::size_t i = off; i < off + *n; ++i) {
          ++sent.readings;
          if (is_valid(batch[i])) {
            ++sent.valid;
            sent.valid_sum_milli += calibrate(batch[i].sensor, batch[i].raw);
          } else {
            ++sent.invalid;
          }
        }
        off += *n;
      }
      sent_now.store(sent.readings, std::memory_order_relaxed);
      next_actor = (next_actor + 1) % ingest.size();
    }
  });

  // --- Latency probe: host `call` to the aggregate, timed from before the call to after the reply. --------
  std::atomic<bool> stop_probe{false};
  std::thread probe([&] {
    while (!stop_probe.load(std::memory_order_relaxed)) {
      probes_started.fetch_add(1);
      const auto t0 = Clock::now();
      auto r = agg.call<Snapshot>(Query{0}, std::chrono::seconds(1));
      const auto t1 = Clock::now();
      {
        std::lock_guard lk(samples.mu);
        if (!r) ++samples.failures;
        else if (t0 - t_start >= warmup)
          samples.ns.push_back(static_cast<std::uint64_t>(std::chrono::nanoseconds(t1 - t0).count()));
      }
      // A pause between probes: the probe measures the pipeline, it should not become its main load.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });

  // --- Progress, once per second, until the run time is up. -----------------------------------------------
  const std::uint64_t processed_at_start = rt.metrics().messages_processed;
  {
    std::uint64_t last_processed = processed_at_start;
    std::size_t last_sample = 0;
    auto last_tick = t_start;
    while (!stop.load()) {
      const auto next = std::min(t_start + run_for, last_tick + std::chrono::seconds(1));
      std::this_thread::sleep_until(next);
      if (Clock::now() >= t_start + run_for) stop.store(true);
      if (!opts.progress) continue;
      const auto now = Clock::now();
      const double dt = std::chrono::duration<double>(now - last_tick).count();
      last_tick = now;
      const RuntimeMetrics m = rt.metrics();
      std::vector<std::uint64_t> window;
      std::uint64_t failures = 0;
      {
        std::lock_guard lk(samples.mu);
        window.assign(samples.ns.begin() + static_cast<std::ptrdiff_t>(last_sample), samples.ns.end());
        last_sample = samples.ns.size();
        failures = samples.failures;
      }
      const LatencySummary lat = summarize(window);
      auto fm = flaky->metrics();
      std::fprintf(stderr,
                   "[%5.1fs] %10.0f msgs/s | processed %12" PRIu64 " | readings %11" PRIu64
                   " | restarts %6" PRIu64 " | dead letters %6" PRIu64 " | call p50 %7.1f us p99 %8.1f us%s\n",
                   seconds_since(t_start), dt > 0 ? static_cast<double>(m.messages_processed - last_processed) / dt : 0.0,
                   m.messages_processed, sent_now.load(), fm ? fm->restarts : 0, m.dead_letters,
                   static_cast<double>(lat.p50_ns) / 1000.0, static_cast<double>(lat.p99_ns) / 1000.0,
                   failures != 0 ? (" | call failures " + std::to_string(failures)).c_str() : "");
      last_processed = m.messages_processed;
    }
  }
  producer.join();
  const double run_seconds = seconds_since(t_start);
  stop_probe.store(true);
  probe.join();
  if (producer_error) print_error("sending stopped early", *producer_error);

  // --- Drain: wait until every reading is accounted for (in the aggregate or in the dead-letter queue). ----
  DemoReport rep;
  Snapshot snap{};
  Lost lost;
  bool drained = false;
  const auto drain_deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < drain_deadline) {
    auto s = agg.call<Snapshot>(Query{0}, std::chrono::seconds(1));
    if (!s) {
      print_error("query of the aggregate failed", s.error());
      break;
    }
    snap = *s;
    lost = account_dead_letters(rt.dead_letters());
    if (snap.accepted + snap.rejected + lost.valid + lost.invalid >= sent.readings) {
      drained = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const std::uint64_t messages_processed = rt.metrics().messages_processed - processed_at_start;

  // Per-sensor statistics must add up to the totals: a second, independent path through the aggregate.
  std::uint64_t per_sensor_count = 0;
  std::int64_t per_sensor_sum = 0;
  bool per_sensor_ok = true;
  for (std::uint32_t s = 0; s < kSensors; ++s) {
    auto st = agg.call<SensorStats>(SensorQuery{s, 0}, std::chrono::seconds(1));
    if (!st) {
      print_error("per-sensor query failed", st.error());
      per_sensor_ok = false;
      break;
    }
    per_sensor_count += st->count;
    per_sensor_sum += st->sum_milli;
  }

  // --- Verification: aggregate == what the host sent minus what was dead-lettered. ------------------------
  const std::uint64_t restarts = [&] {
    auto m = flaky->metrics();
    return m ? m->restarts : 0;
  }();
  const DeadLetterStats dl_before_shutdown = rt.dead_letters().stats();
  const std::uint64_t expect_accepted = sent.valid - lost.valid;
  const std::int64_t expect_sum = sent.valid_sum_milli - lost.valid_sum_milli;
  const std::uint64_t expect_rejected = sent.invalid - lost.invalid;
  std::string why;
  if (dl_before_shutdown.evicted != 0) why = "dead-letter queue evicted letters; losses cannot be accounted";
  else if (!drained) why = "pipeline did not drain within 10 s";
  else if (snap.accepted != expect_accepted)
    why = "accepted " + std::to_string(snap.accepted) + " != expected " + std::to_string(expect_accepted);
  else if (snap.sum_milli != expect_sum)
    why = "sum " + std::to_string(snap.sum_milli) + " != expected " + std::to_string(expect_sum);
  else if (snap.rejected != expect_rejected)
    why = "rejected " + std::to_string(snap.rejected) + " != expected " + std::to_string(expect_rejected);
  else if (!per_sensor_ok || per_sensor_count != snap.accepted || per_sensor_sum != snap.sum_milli)
    why = "per-sensor statistics do not add up to the totals";
  else if (restarts != lost.handler_failed)
    why = "flaky restarts " + std::to_string(restarts) + " != injected failures " +
          std::to_string(lost.handler_failed);
  rep.verified = why.empty() && !producer_error;
  if (why.empty() && producer_error) why = "sending stopped early: " + producer_error->describe();
  rep.verification =
      rep.verified
          ? "aggregate " + std::to_string(snap.accepted) + " = sent " + std::to_string(sent.valid) +
                " valid - " + std::to_string(lost.valid) + " dead-lettered; sums, rejects (" +
                std::to_string(snap.rejected) + "), per-sensor totals and restarts match"
          : why;

  if (!rep.verified) {
    // Where did it stop? One line per actor, before shutdown tears the system down.
    std::vector<ActorHandle> all{pipeline->aggregate, pipeline->flaky, pipeline->transform};
    all.insert(all.end(), ingest.begin(), ingest.end());
    for (auto& h : all) {
      auto st = h.status();
      if (!st) continue;
      std::fprintf(stderr,
                   "ringkernel demo: actor %-10s %-11s received %8" PRIu64 " processed %8" PRIu64 " queued %6" PRIu64
                   " errors %" PRIu64 " restarts %" PRIu64 "\n",
                   st->name.c_str(), std::string(to_string(st->state)).c_str(), st->metrics.received,
                   st->metrics.processed, st->metrics.queue_depth, st->metrics.errors, st->metrics.restarts);
    }
  }

  // --- Shut down and report. ------------------------------------------------------------------------------
  const auto t_sd = Clock::now();
  Status sd = rt.shutdown();
  rep.shutdown_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_sd).count();
  rep.shutdown_ok = sd.ok();
  rep.shutdown = sd ? "ok" : sd.error().describe();

  {
    std::lock_guard lk(samples.mu);
    rep.call = summarize(samples.ns);
    rep.call_failures = samples.failures;
  }
  rep.backend = backend_name;
  rep.workers = rt.workers();
  rep.ingest_actors = opts.ingest;
  rep.run_seconds = run_seconds;
  rep.rate_target = opts.rate;
  rep.readings_sent = sent.readings;
  rep.readings_invalid = sent.invalid;
  rep.messages_processed = messages_processed;
  rep.readings_per_s = run_seconds > 0 ? static_cast<double>(sent.readings) / run_seconds : 0;
  rep.messages_per_s = run_seconds > 0 ? static_cast<double>(messages_processed) / run_seconds : 0;
  rep.flaky_restarts = restarts;
  rep.restart_events = restart_events.load();
  const DeadLetterStats dl = rt.dead_letters().stats();  // after shutdown: includes anything it dead-lettered
  rep.dead_letters = dl.by_reason;
  for (std::uint64_t n : dl.by_reason) rep.dead_letters_total += n;
  rep.agg_accepted = snap.accepted;
  rep.agg_rejected = snap.rejected;
  rep.agg_min_milli = snap.accepted != 0 ? snap.min_milli : 0;
  rep.agg_max_milli = snap.accepted != 0 ? snap.max_milli : 0;

  print_table(rep);
  bool json_ok = true;
  if (opts.json) json_ok = write_json(rep, *opts.json);
  return rep.verified && rep.shutdown_ok && json_ok ? 0 : 1;
}

}  // namespace ringkernel::cli
