// Actor lifecycle on the CPU backend: activation, deactivation, suspension, termination, hooks and events.
#include "test_actors.hpp"

namespace rkt {
namespace {

struct EventLog {
  std::mutex mu;
  std::vector<RuntimeEvent> events;
  void add(const RuntimeEvent& e) {
    std::lock_guard lk(mu);
    events.push_back(e);
  }
  std::vector<RuntimeEvent::Kind> kinds(ActorId id) {
    std::lock_guard lk(mu);
    std::vector<RuntimeEvent::Kind> out;
    for (auto& e : events) if (e.actor == id) out.push_back(e.kind);
    return out;
  }
  std::size_t count(ActorId id, RuntimeEvent::Kind k) {
    std::lock_guard lk(mu);
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(), [&](auto& e) { return e.actor == id && e.kind == k; }));
  }
};

TEST(Lifecycle, ManualActivation) {
  auto rt = make_runtime();
  auto log = std::make_shared<Log>();
  LaunchOptions o;
  o.auto_activate = false;
  auto h = rt.launch<Recorder>("rec", o, log);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->wait_for(ActorState::Launched, kLong).ok());
  for (std::uint32_t i = 0; i < 10; ++i) ASSERT_TRUE(h->send(Seq{1, i}).ok());
  EXPECT_EQ(h->status()->state, ActorState::Launched);
  EXPECT_EQ(log->count.load(), 0u);
  EXPECT_EQ(h->metrics()->queue_depth, 10u);
  ASSERT_TRUE(h->activate().ok());
  ASSERT_TRUE(h->wait_for(ActorState::Active, kLong).ok());
  ASSERT_TRUE(eventually([&] { return log->count.load() == 10; }));
  auto items = log->copy();
  for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(items[i].second, i);
}

TEST(Lifecycle, DeactivateQueuesAndActivateProcessesInOrder) {
  auto rt = make_runtime();
  auto log = std::make_shared<Log>();
  auto h = rt.launch<Recorder>("rec", {}, log);
  ASSERT_TRUE(h.ok());
  for (std::uint32_t i = 0; i < 10; ++i) ASSERT_TRUE(h->send(Seq{1, i}).ok());
  ASSERT_TRUE(h->deactivate().ok());
  for (std::uint32_t i = 10; i < 15; ++i) ASSERT_TRUE(h->send(Seq{1, i}).ok());
  ASSERT_TRUE(h->wait_for(ActorState::Deactivated, kLong).ok());
  // Messages sent before deactivate() were handled; the later five wait.
  EXPECT_EQ(log->count.load(), 10u);
  EXPECT_EQ(h->metrics()->queue_depth, 5u);
  ASSERT_TRUE(h->activate().ok());
  ASSERT_TRUE(eventually([&] { return log->count.load() == 15; }));
  auto items = log->copy();
  ASSERT_EQ(items.size(), 15u);
  for (std::uint32_t i = 0; i < 15; ++i) EXPECT_EQ(items[i].second, i);
}

TEST(Lifecycle, SuspendRefusesAndResumeAccepts) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c");
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Inc{1}).ok());
  ASSERT_TRUE(h->suspend().ok());
  auto refused = h->send(Inc{100});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::ActorInactive);
  EXPECT_TRUE(h->status()->suspended);
  EXPECT_EQ(h->metrics()->rejected, 1u);
  EXPECT_EQ(h->suspend().error().code(), ErrorCode::IllegalTransition);
  ASSERT_TRUE(h->wait_for(ActorState::Deactivated, kLong).ok());
  ASSERT_TRUE(h->resume().ok());
  EXPECT_EQ(h->resume().error().code(), ErrorCode::IllegalTransition);
  auto total = h->call<Sum>(Add{2}, kLong);
  ASSERT_TRUE(total.ok()) << total.error().describe();
  EXPECT_EQ(total->total, 3u);
  EXPECT_FALSE(h->status()->suspended);
}

TEST(Lifecycle, TerminateDrainsEarlierAndRefusesLaterMessages) {
  auto rt = make_runtime();
  auto log = std::make_shared<Log>();
  auto h = rt.launch<Recorder>("rec", {}, log);
  ASSERT_TRUE(h.ok());
  const std::uint32_t n = static_cast<std::uint32_t>(scaled(500));
  for (std::uint32_t i = 0; i < n; ++i) ASSERT_TRUE(h->send(Seq{1, i}).ok());
  ASSERT_TRUE(h->terminate().ok());
  auto late = h->send(Seq{1, n});
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code(), ErrorCode::ActorTerminated);
  ASSERT_TRUE(h->wait_for(ActorState::Terminated, kLong).ok());
  EXPECT_EQ(log->count.load(), n);
  EXPECT_EQ(letters(rt, DeadLetterReason::ActorTerminated).size(), 0u);
  EXPECT_EQ(h->terminate().error().code(), ErrorCode::ActorTerminated);
  EXPECT_FALSE(rt.find("rec").ok());
  EXPECT_EQ(rt.metrics().actors_live, 0u);
  auto call = h->call<Sum>(Get{}, kLong);
  ASSERT_FALSE(call.ok());
  EXPECT_EQ(call.error().code(), ErrorCode::ActorTerminated);
}

TEST(Lifecycle, IllegalTransitions) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->activate().error().code(), ErrorCode::IllegalTransition);
  ASSERT_TRUE(h->deactivate().ok());
  EXPECT_EQ(h->deactivate().error().code(), ErrorCode::IllegalTransition);
  ASSERT_TRUE(h->activate().ok());
  EXPECT_EQ(h->activate().error().code(), ErrorCode::IllegalTransition);
  ASSERT_TRUE(h->wait_for(ActorState::Active, kLong).ok());
  ASSERT_TRUE(h->terminate().ok());
  EXPECT_EQ(h->activate().error().code(), ErrorCode::ActorTerminated);
  EXPECT_EQ(h->deactivate().error().code(), ErrorCode::ActorTerminated);
  ASSERT_TRUE(h->wait_for(ActorState::Terminated, kLong).ok());
  EXPECT_EQ(h->restart().error().code(), ErrorCode::ActorTerminated);
}

TEST(Lifecycle, StartAndStopHooksRun) {
  auto rt = make_runtime();
  auto hooks = std::make_shared<Hooks>();
  auto h = rt.launch<Counter>("c", {}, hooks);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->wait_for(ActorState::Active, kLong).ok());
  EXPECT_EQ(hooks->constructed.load(), 1);
  EXPECT_EQ(hooks->starts.load(), 1);
  EXPECT_EQ(hooks->stops.load(), 0);
  ASSERT_TRUE(h->terminate().ok());
  ASSERT_TRUE(h->wait_for(ActorState::Terminated, kLong).ok());
  EXPECT_EQ(hooks->starts.load(), 1);
  EXPECT_EQ(hooks->stops.load(), 1);
}

TEST(Lifecycle, WaitForTimesOut) {
  auto rt = make_runtime();
  LaunchOptions o;
  o.auto_activate = false;
  auto h = rt.launch<Counter>("c", o);
  ASSERT_TRUE(h.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto w = h->wait_for(ActorState::Active, std::chrono::milliseconds(30));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code(), ErrorCode::Timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
  EXPECT_EQ(h->status()->state, ActorState::Launched);
}

TEST(Lifecycle, EventsAreObserved) {
  auto rt = make_runtime();
  auto events = std::make_shared<EventLog>();
  const auto obs = rt.on_event([events](const RuntimeEvent& e) { events->add(e); });
  LaunchOptions o;
  o.auto_activate = false;
  auto h = rt.launch<Counter>("c", o);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->activate().ok());
  ASSERT_TRUE(h->deactivate().ok());
  ASSERT_TRUE(h->activate().ok());
  // suspend()/resume() emit on the host thread at once, lifecycle events on the worker: wait so the
  // sequence is deterministic.
  ASSERT_TRUE(eventually([&] { return events->count(h->id(), RuntimeEvent::Kind::Activated) == 2; }));
  ASSERT_TRUE(h->suspend().ok());
  ASSERT_TRUE(h->resume().ok());
  ASSERT_TRUE(h->terminate().ok());
  ASSERT_TRUE(h->wait_for(ActorState::Terminated, kLong).ok());
  using K = RuntimeEvent::Kind;
  ASSERT_TRUE(eventually([&] { return events->count(h->id(), K::Terminated) == 1; }));
  const auto k = events->kinds(h->id());
  auto pos = [&](K kind) { return std::find(k.begin(), k.end(), kind) - k.begin(); };
  EXPECT_EQ(k.front(), K::Launched);
  EXPECT_EQ(k.back(), K::Terminated);
  EXPECT_EQ(events->count(h->id(), K::Activated), 3u);
  EXPECT_EQ(events->count(h->id(), K::Deactivated), 2u);
  EXPECT_EQ(events->count(h->id(), K::Suspended), 1u);
  EXPECT_EQ(events->count(h->id(), K::Resumed), 1u);
  EXPECT_LT(pos(K::Launched), pos(K::Activated));
  EXPECT_LT(pos(K::Activated), pos(K::Deactivated));
  rt.remove_observer(obs);
  auto h2 = rt.launch<Counter>("d");
  ASSERT_TRUE(h2.ok());
  ASSERT_TRUE(h2->wait_for(ActorState::Active, kLong).ok());
  EXPECT_TRUE(events->kinds(h2->id()).empty());
}

TEST(Lifecycle, TerminateOfADeactivatedActorDeadLettersItsQueue) {
  auto rt = make_runtime();
  LaunchOptions o;
  o.auto_activate = false;
  auto hooks = std::make_shared<Hooks>();
  auto h = rt.launch<Counter>("c", o, hooks);
  ASSERT_TRUE(h.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h->send(Inc{1}).ok());
  ASSERT_TRUE(h->terminate().ok());
  ASSERT_TRUE(h->wait_for(ActorState::Terminated, kLong).ok());
  // Nothing was processed, and nothing vanished.
  EXPECT_EQ(h->metrics()->processed + letters(rt, DeadLetterReason::ActorTerminated).size(), 3u);
  EXPECT_EQ(hooks->starts.load(), 1);
  EXPECT_EQ(hooks->stops.load(), 1);
}

// A terminated actor's ring slots go to the actors created after it, but not its receive queue's while replies
// are left in it: those stay intact while 30 actors come and go (the test fails when the slots are handed back
// at termination regardless), and the new actors each handle exactly their own message. Once the replies are
// received the queue's slots go too (that the pool then hands them out: tests/core/ring_test.cpp).
TEST(Lifecycle, RingsOfTerminatedActorsAreReusedWithoutTouchingWhatIsLeftToReceive) {
  auto rt = make_runtime();
  auto hooks = std::make_shared<Hooks>();
  auto old = rt.launch<Counter>("old", {}, hooks);
  ASSERT_TRUE(old.ok());
  constexpr std::uint64_t kLeft = 20;
  for (std::uint64_t v = 1; v <= kLeft; ++v) ASSERT_TRUE(old->send(Add{v}).ok());
  ASSERT_TRUE(eventually([&] { return old->metrics()->processed == kLeft; }));
  ASSERT_TRUE(old->terminate().ok());
  ASSERT_TRUE(old->wait_for(ActorState::Terminated, kLong).ok());
  const auto churn = [&](const std::string& prefix) {
    for (int i = 0; i < 30; ++i) {
      LaunchOptions o;
      o.auto_activate = i % 2 == 0;  // half of them terminate with their message still queued (dead-lettered)
      auto h = rt.launch<Counter>(prefix + std::to_string(i), o, hooks);
      ASSERT_TRUE(h.ok()) << h.error().describe();
      ASSERT_TRUE(h->send(Add{1000}).ok());
      if (o.auto_activate) {
        auto env = h->receive(kLong);
        ASSERT_TRUE(env.ok()) << env.error().describe();
        ASSERT_TRUE(env->as<Sum>().ok());
        EXPECT_EQ(env->as<Sum>()->total, 1000u) << prefix << i << " handled a message it was never sent";
      }
      ASSERT_TRUE(h->terminate().ok());
      ASSERT_TRUE(h->wait_for(ActorState::Terminated, kLong).ok());
    }
  };
  churn("a");
  std::uint64_t total = 0;
  for (std::uint64_t v = 1; v <= kLeft; ++v) {
    auto env = old->receive(kLong);
    ASSERT_TRUE(env.ok()) << "reply " << v << ": " << env.error().describe();
    total += v;
    ASSERT_TRUE(env->as<Sum>().ok());
    EXPECT_EQ(env->as<Sum>()->total, total) << "reply " << v << " was overwritten by a later actor";
  }
  auto none = old->receive(kLong);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::ActorTerminated);
  churn("b");  // the drained queue's slots, handed back by the receive, in use again
  EXPECT_EQ(letters(rt, DeadLetterReason::ActorTerminated).size(), 30u);
  EXPECT_FALSE(old->try_receive().ok());
}

// A terminated actor's receive queue is closed: its slots may already serve the next actor, so a late delivery
// "from" it (here a dead letter of its, replayed) fails instead of being written there (the replay keeps the
// letter).
TEST(Lifecycle, ReplayingATerminatedActorsHostBoundDeadLetterDoesNotReachTheNextActorsQueue) {
  auto rt = make_runtime();
  LaunchOptions o;
  o.outbox_capacity = 2;
  auto x = rt.launch<Counter>("x", o);
  ASSERT_TRUE(x.ok());
  for (std::uint64_t v : {1u, 2u, 3u}) ASSERT_TRUE(x->send(Add{v}).ok());
  ASSERT_TRUE(eventually([&] { return letters(rt, DeadLetterReason::QueueFull).size() == 1; }))
      << "the third reply finds the receive queue full";
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(x->receive(kLong).ok());
  ASSERT_TRUE(x->terminate().ok());
  ASSERT_TRUE(x->wait_for(ActorState::Terminated, kLong).ok());
  auto y = rt.launch<Counter>("y", o);  // the same geometry: x's slots, if they went back
  ASSERT_TRUE(y.ok());
  ASSERT_TRUE(y->send(Add{100}).ok());
  ASSERT_TRUE(eventually([&] { return y->metrics()->processed == 1; }));
  const auto report = rt.replay_dead_letters([](const DeadLetter& d) { return d.reason == DeadLetterReason::QueueFull; });
  EXPECT_EQ(report.replayed, 0u) << "delivered into a terminated actor's queue";
  EXPECT_EQ(report.failed, 1u);
  const auto kept = letters(rt, DeadLetterReason::QueueFull);
  EXPECT_EQ(kept.size(), 1u) << "the replay keeps the letter";
  if (!kept.empty()) {
    EXPECT_EQ(kept[0].retries, 1u);
  }
  auto env = y->receive(kLong);
  ASSERT_TRUE(env.ok()) << env.error().describe();
  ASSERT_TRUE(env->as<Sum>().ok());
  EXPECT_EQ(env->as<Sum>()->total, 100u) << "y's reply was overwritten by x's replayed one";
  EXPECT_FALSE(y->try_receive().ok());
  EXPECT_FALSE(x->try_receive().ok());
}

}  // namespace
}  // namespace rkt
