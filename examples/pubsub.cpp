// pubsub: publishers name a topic, not a receiver. Subscribers use patterns with wildcards:
//   `*` matches exactly one segment, `#` matches zero or more segments.
// A retained message is kept per topic and delivered at once to anyone who subscribes later.
//
// Exits 0 when every subscriber received exactly what its pattern selects, 1 otherwise.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "ringkernel/runtime.hpp"

using namespace ringkernel;
using namespace std::chrono_literals;

struct Temperature {
  static constexpr auto type_id = message_type("pubsub.Temperature");
  std::uint32_t room;
  std::int32_t milli_c;
};
struct Humidity {
  static constexpr auto type_id = message_type("pubsub.Humidity");
  std::uint32_t room;
  std::uint32_t permille;
};
struct Threshold {
  static constexpr auto type_id = message_type("pubsub.Threshold");
  std::int32_t max_milli_c;
};
struct GetCounts {
  static constexpr auto type_id = message_type("pubsub.GetCounts");
  std::uint32_t unused;
};
struct Counts {
  static constexpr auto type_id = message_type("pubsub.Counts");
  std::uint32_t temperature;
  std::uint32_t humidity;
  std::uint32_t threshold;
  std::int32_t last_threshold;
};

// One actor type for every subscriber: it just counts what arrives, by message type.
struct Listener {
  using messages = message_list<Temperature, Humidity, Threshold, GetCounts>;
  Counts c{};
  void handle(auto&, const Temperature&) { ++c.temperature; }
  void handle(auto&, const Humidity&) { ++c.humidity; }
  void handle(auto&, const Threshold& t) {
    ++c.threshold;
    c.last_threshold = t.max_milli_c;
  }
  void handle(auto& ctx, const GetCounts&) { ctx.reply(c); }
};

int main() {
  auto rt = Runtime::builder().workers(2).build();
  if (!rt) {
    std::fprintf(stderr, "cannot build runtime: %s\n", rt.error().describe().c_str());
    return 1;
  }
  auto all_temps = rt->launch<Listener>("all-temps");
  auto kitchen = rt->launch<Listener>("kitchen");
  auto everything = rt->launch<Listener>("everything");
  if (!all_temps || !kitchen || !everything) return 1;

  // Subscriptions: by pattern, for actors (deliveries go to their mailboxes) and for host callbacks.
  bool subscribed = rt->subscribe("sensors/*/temp", all_temps->id()).ok() &&   // temp of any room
                    rt->subscribe("sensors/kitchen/#", kitchen->id()).ok() &&  // anything from the kitchen
                    rt->subscribe("#", everything->id()).ok();                 // every topic
  std::atomic<int> host_seen{0};
  subscribed = subscribed && rt->pubsub()
                                 .subscribe("sensors/#/humidity",
                                            [&](const std::string& topic, const Envelope&) {
                                              std::printf("  host callback got %s\n", topic.c_str());
                                              ++host_seen;
                                            })
                                 .ok();
  if (!subscribed) {
    std::fprintf(stderr, "subscribe failed\n");
    return 1;
  }
  // A malformed pattern is refused with a reason instead of silently matching nothing.
  auto bad = rt->subscribe("sensors/te#mp", kitchen->id());
  std::printf("bad pattern refused: %s\n", bad ? "NO" : bad.error().describe().c_str());

  // Retained: the current threshold is configuration that late joiners need too.
  auto cfg = rt->publish("config/threshold", Threshold{30'000}, /*retain=*/true);
  // Live readings.
  auto p1 = rt->publish("sensors/kitchen/temp", Temperature{1, 21'500});
  auto p2 = rt->publish("sensors/hall/temp", Temperature{2, 19'250});
  auto p3 = rt->publish("sensors/kitchen/humidity", Humidity{1, 450});
  auto p4 = rt->publish("alerts/none", Threshold{0});  // nobody but "#" listens here
  if (!cfg || !p1 || !p2 || !p3 || !p4) {
    std::fprintf(stderr, "publish failed\n");
    return 1;
  }
  std::printf("sensors/kitchen/temp reached %zu subscribers\n", p1->delivered);

  // A late subscriber gets the retained threshold immediately on subscribing, but no past readings.
  auto late = rt->launch<Listener>("late");
  if (!late || !rt->subscribe("config/#", late->id())) return 1;
  (void)rt->publish("config/threshold", Threshold{28'000}, true);  // replaces the retained value

  int failures = 0;
  auto expect = [&](Result<ActorHandle>& who, Counts want) {
    // Publishing from this thread enqueued the deliveries before this call, so the call sees them all.
    auto got = who->call<Counts>(GetCounts{0}, 1s);
    const bool ok = got && got->temperature == want.temperature && got->humidity == want.humidity &&
                    got->threshold == want.threshold && got->last_threshold == want.last_threshold;
    std::printf("  %-11s temp=%u humidity=%u threshold=%u (last %d) %s\n", who->name().c_str(),
                got ? got->temperature : 0, got ? got->humidity : 0, got ? got->threshold : 0,
                got ? got->last_threshold : 0, ok ? "ok" : "MISMATCH");
    failures += ok ? 0 : 1;
  };
  std::printf("received:\n");
  expect(all_temps, Counts{2, 0, 0, 0});
  expect(kitchen, Counts{1, 1, 0, 0});
  expect(everything, Counts{2, 1, 3, 28'000});  // two thresholds on config/ plus the one on alerts/none
  expect(late, Counts{0, 0, 2, 28'000});        // the retained 30'000 on subscribe, then the live 28'000
  if (host_seen.load() != 1) {
    std::printf("host callback saw %d messages, expected 1\n", host_seen.load());
    ++failures;
  }
  if (bad) ++failures;

  auto done = rt->shutdown();
  std::printf("%s; shutdown: %s\n", failures == 0 ? "pubsub works" : "pubsub example FAILED",
              done ? "ok" : done.error().describe().c_str());
  return failures == 0 && done ? 0 : 1;
}
