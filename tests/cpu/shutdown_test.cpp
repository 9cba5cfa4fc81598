// Runtime shutdown on the CPU backend: bounded time, no message vanishes, stuck handlers, use after shutdown.
#include "test_actors.hpp"

#include <optional>

namespace rkt {
namespace {

TEST(Shutdown, ManyBusyActorsFinishWithinTheDeadlineAndNoMessageVanishes) {
  auto rt = make_runtime(2);
  auto log = std::make_shared<Log>();
  const int actors = 16;
  const std::uint32_t per = static_cast<std::uint32_t>(scaled(400));
  std::vector<ActorHandle> hs;
  for (int i = 0; i < actors; ++i) {
    LaunchOptions o;
    o.auto_activate = (i % 4) != 0;  // a quarter never processes: their queues must be dead-lettered
    auto h = rt.launch<Recorder>("busy/" + std::to_string(i), o, log, std::uint32_t{5});
    ASSERT_TRUE(h.ok());
    hs.push_back(*h);
  }
  std::uint64_t sent = 0;
  for (std::uint32_t i = 0; i < per; ++i) {
    for (auto& h : hs) {
      if (h.send(Seq{h.id(), i})) ++sent;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto st = rt.shutdown(std::chrono::milliseconds(3000));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::milliseconds(3500));
  const std::uint64_t shut = letters(rt, DeadLetterReason::Shutdown).size();
  const std::uint64_t processed = log->count.load();
  EXPECT_EQ(processed + shut, sent) << "processed " << processed << " dead-lettered " << shut;
  EXPECT_GE(shut, static_cast<std::uint64_t>(actors / 4) * per);
  if (st.ok()) {
    for (auto& h : hs) EXPECT_EQ(h.status()->state, ActorState::Terminated);
  } else {
    EXPECT_EQ(st.error().code(), ErrorCode::Timeout);
  }
  EXPECT_FALSE(rt.running());
}

TEST(Shutdown, StuckHandlerMakesShutdownTimeOutInsteadOfHanging) {
  auto gate = std::make_shared<Gate>();
  auto rt = make_runtime(2);
  auto h = rt.launch<Counter>("stuck", {}, std::shared_ptr<Hooks>(), gate);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Hold{1}).ok());
  ASSERT_TRUE(eventually([&] { return gate->entered.load() == 1; }));
  auto other = rt.launch<Counter>("fine");
  ASSERT_TRUE(other.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto st = rt.shutdown(std::chrono::milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::Timeout);
  EXPECT_GE(took, std::chrono::milliseconds(200));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  EXPECT_EQ(other->status()->state, ActorState::Terminated);
  gate->open = true;  // let the abandoned thread finish so the process exits cleanly
}

TEST(Shutdown, OperationsAfterShutdownFail) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c");
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(rt.shutdown().ok());
  EXPECT_FALSE(rt.running());
  EXPECT_EQ(rt.launch<Counter>("d").error().code(), ErrorCode::ShuttingDown);
  EXPECT_EQ(h->send(Inc{1}).error().code(), ErrorCode::ShuttingDown);
  EXPECT_EQ(h->call<Sum>(Get{}, std::chrono::milliseconds(100)).error().code(), ErrorCode::ShuttingDown);
  EXPECT_EQ(h->activate().error().code(), ErrorCode::ActorTerminated);
  EXPECT_EQ(h->status()->state, ActorState::Terminated);
  EXPECT_TRUE(rt.shutdown().ok());  // idempotent
}

TEST(Shutdown, PendingCallIsAnsweredWhenItsActorIsShutDown) {
  auto rt = make_runtime();
  LaunchOptions o;
  o.auto_activate = false;
  auto h = rt.launch<Counter>("c", o);
  ASSERT_TRUE(h.ok());
  std::atomic<int> code{-1};
  std::thread caller([&] {
    auto r = h->call<Sum>(Get{}, std::chrono::milliseconds(10000));
    code = static_cast<int>(r.ok() ? ErrorCode::Ok : r.error().code());
  });
  ASSERT_TRUE(eventually([&] { return h->metrics()->queue_depth == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt.shutdown().ok());
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(3000));
  EXPECT_EQ(code.load(), static_cast<int>(ErrorCode::ShuttingDown));
  EXPECT_EQ(letters(rt, DeadLetterReason::Shutdown).size(), 1u);
}

TEST(Shutdown, DestructorWithoutExplicitShutdown) {
  auto hooks = std::make_shared<Hooks>();
  std::optional<ActorHandle> kept;
  {
    auto rt = make_runtime();
    auto h = rt.launch<Counter>("c", {}, hooks);
    ASSERT_TRUE(h.ok());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(h->send(Inc{1}).ok());
    kept = *h;
  }
  EXPECT_EQ(hooks->stops.load(), 1);
  // A handle that outlives its runtime stays safe.
  EXPECT_EQ(kept->send(Inc{1}).error().code(), ErrorCode::ShuttingDown);
  EXPECT_EQ(kept->status()->state, ActorState::Terminated);
  EXPECT_EQ(kept->metrics()->processed, 100u);
}

TEST(Shutdown, MoveAssignmentShutsDownTheReplacedRuntime) {
  auto hooks = std::make_shared<Hooks>();
  auto rt = make_runtime();
  ASSERT_TRUE(rt.launch<Counter>("c", {}, hooks).ok());
  rt = make_runtime();
  EXPECT_EQ(hooks->stops.load(), 1);
  EXPECT_TRUE(rt.running());
  EXPECT_TRUE(rt.launch<Counter>("c").ok());
}

}  // namespace
}  // namespace rkt
