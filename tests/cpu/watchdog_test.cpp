// The stall watchdog on the CPU backend.
#include "test_actors.hpp"

namespace rkt {
namespace {

TEST(Watchdog, LongHandlerRaisesAStallThatClearsAfterwards) {
  RuntimeConfig cfg;
  cfg.stall_timeout = std::chrono::milliseconds(40);
  cfg.watchdog_interval = std::chrono::milliseconds(10);
  auto rt = make_runtime(2, cfg);
  std::atomic<int> stalled_events{0};
  std::atomic<ActorId> stalled_actor{0};
  rt.on_event([&](const RuntimeEvent& e) {
    if (e.kind == RuntimeEvent::Kind::Stalled) {
      stalled_actor = e.actor;
      stalled_events.fetch_add(1);
    }
  });
  auto gate = std::make_shared<Gate>();
  auto h = rt.launch<Counter>("slow", {}, std::shared_ptr<Hooks>(), gate);
  auto fine = rt.launch<Counter>("fine");
  ASSERT_TRUE(h.ok() && fine.ok());
  ASSERT_TRUE(h->send(Hold{1}).ok());
  ASSERT_TRUE(eventually([&] { return stalled_events.load() == 1; }));
  EXPECT_EQ(stalled_actor.load(), h->id());
  EXPECT_TRUE(h->status()->stalled);
  EXPECT_EQ(h->metrics()->stalls, 1u);
  EXPECT_FALSE(fine->status()->stalled);
  // Still stalled a few watchdog rounds later, but counted once.
  ASSERT_TRUE(eventually([&] { return h->status()->heartbeat_age_ns > 80'000'000u; }));
  EXPECT_EQ(h->metrics()->stalls, 1u);
  EXPECT_EQ(stalled_events.load(), 1);
  gate->open = true;
  auto t = h->call<Sum>(Get{}, kLong);
  ASSERT_TRUE(t.ok()) << t.error().describe();
  EXPECT_EQ(t->total, 1u);
  EXPECT_FALSE(h->status()->stalled);
  // A second long handler is a second stall.
  gate->open = false;
  ASSERT_TRUE(h->send(Hold{1}).ok());
  ASSERT_TRUE(eventually([&] { return stalled_events.load() == 2; }));
  EXPECT_EQ(h->metrics()->stalls, 2u);
  gate->open = true;
  ASSERT_TRUE(h->call<Sum>(Get{}, kLong).ok());
}

TEST(Watchdog, DisabledWatchdogReportsNothing) {
  RuntimeConfig cfg;
  cfg.stall_timeout = std::chrono::milliseconds(0);
  auto rt = make_runtime(2, cfg);
  auto gate = std::make_shared<Gate>();
  auto h = rt.launch<Counter>("slow", {}, std::shared_ptr<Hooks>(), gate);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Hold{1}).ok());
  ASSERT_TRUE(eventually([&] { return gate->entered.load() == 1; }));
  EXPECT_FALSE(h->status()->stalled);
  gate->open = true;
  ASSERT_TRUE(h->call<Sum>(Get{}, kLong).ok());
  EXPECT_EQ(h->metrics()->stalls, 0u);
}

}  // namespace
}  // namespace rkt
