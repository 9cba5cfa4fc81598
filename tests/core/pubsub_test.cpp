#include "ringkernel/pubsub.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rk = ringkernel;
using rk::ActorId;
using rk::Envelope;
using rk::ErrorCode;
using rk::PubSub;

namespace {

struct Tick {
  static constexpr auto type_id = rk::message_type("test.Tick");
  std::uint64_t value;
};

Envelope tick(std::uint64_t v) { return Envelope::of(Tick{v}); }

std::uint64_t value_of(const Envelope& e) {
  auto t = e.as<Tick>();
  EXPECT_TRUE(t.ok());
  return t.ok() ? t->value : ~std::uint64_t{0};
}

// Records actor deliveries; actors listed in `refuse` fail with QueueFull.
struct Mailboxes {
  std::mutex mu;
  std::vector<std::tuple<ActorId, std::string, std::uint64_t>> got;
  std::vector<ActorId> refuse;

  PubSub::DeliverFn fn() {
    return [this](ActorId a, const std::string& topic, const Envelope& e) -> rk::Status {
      std::lock_guard lock(mu);
      for (ActorId r : refuse) {
        if (r == a) return rk::make_error(ErrorCode::QueueFull, "mailbox full", "test");
      }
      got.emplace_back(a, topic, value_of(e));
      return {};
    };
  }
};

void expect_invalid(const rk::Status& st) {
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::NameInvalid);
  EXPECT_FALSE(st.error().message().empty());
  EXPECT_FALSE(st.error().context().empty());
}

} // namespace

TEST(PubSubValidate, Topics) {
  for (const char* t : {"a", "sensors/room-1/temp", "A_b.c/9"}) EXPECT_TRUE(PubSub::validate_topic(t).ok()) << t;
  const std::string too_long(PubSub::kMaxTopicLength + 1, 'x');
  for (const std::string& t : {std::string(), std::string("/a"), std::string("a/"), std::string("a//b"),
                               std::string("a/*"), std::string("a/#"), std::string("a b"), too_long}) {
    SCOPED_TRACE(t);
    expect_invalid(PubSub::validate_topic(t));
  }
  EXPECT_TRUE(PubSub::validate_topic(std::string(PubSub::kMaxTopicLength, 'x')).ok());
}

TEST(PubSubValidate, Patterns) {
  for (const char* p : {"a", "*", "#", "a/*/c", "a/#", "#/c", "a/#/c", "*/*/#", "#/#"}) {
    EXPECT_TRUE(PubSub::validate_pattern(p).ok()) << p;
  }
  for (const char* p : {"", "a*", "a/b#", "**", "a//#", "/#", "#/", "a?"}) {
    SCOPED_TRACE(p);
    expect_invalid(PubSub::validate_pattern(p));
  }
  auto st = PubSub::validate_pattern("a/b*");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("whole segment"), std::string::npos) << st.error().message();
}

TEST(PubSubMatch, Table) {
  struct Case {
    const char* pattern;
    const char* topic;
    bool match;
  };
  const Case cases[] = {
      {"a/b/c", "a/b/c", true},   {"a/b/c", "a/b", false},      {"a/b", "a/b/c", false},
      {"a/*/c", "a/x/c", true},   {"a/*/c", "a/c", false},      {"a/*/c", "a/x/y/c", false},
      {"*", "a", true},           {"*", "a/b", false},          {"*/*", "a/b", true},
      {"a/#", "a", true},         {"a/#", "a/b/c/d", true},     {"a/#", "b/a", false},
      {"#", "x/y/z", true},       {"#/c", "c", true},           {"#/c", "a/b/c", true},
      {"#/c", "a/b/c/d", false},  {"a/#/c", "a/c", true},       {"a/#/c", "a/x/y/c", true},
      {"a/#/c", "a/x/y", false},  {"#/b/#/d", "b/d", true},     {"#/b/#/d", "x/b/b/y/d", true},
      {"#/b/#/d", "x/b/y", false}, {"#/*/c", "c", false},       {"#/*/c", "a/b/c", true},
      {"a/*/#", "a", false},      {"a/*/#", "a/b", true},       {"a/b", "a/bc", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(PubSub::topic_match(c.pattern, c.topic), c.match) << c.pattern << " vs " << c.topic;
  }
}

TEST(PubSub, PublishReachesMatchingActorsAndCallbacks) {
  Mailboxes mb;
  PubSub ps(mb.fn());
  std::vector<std::string> host_seen;
  ASSERT_TRUE(ps.subscribe("sensors/*/temp", ActorId{1}).ok());
  ASSERT_TRUE(ps.subscribe("sensors/#", ActorId{2}).ok());
  ASSERT_TRUE(ps.subscribe("other", ActorId{3}).ok());
  ASSERT_TRUE(ps.subscribe("#/temp", [&](const std::string& t, const Envelope& e) {
                  host_seen.push_back(t + "=" + std::to_string(value_of(e)));
                }).ok());
  EXPECT_EQ(ps.subscription_count(), 4u);

  auto r = ps.publish("sensors/room1/temp", tick(21));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->delivered, 3u);
  EXPECT_EQ(r->failed, 0u);
  auto r2 = ps.publish("sensors/room1/humidity", tick(40));
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->delivered, 1u);
  auto r3 = ps.publish("nobody/listens", tick(0));
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->delivered + r3->failed, 0u);

  using G = std::vector<std::tuple<ActorId, std::string, std::uint64_t>>;
  EXPECT_EQ(mb.got, (G{{1, "sensors/room1/temp", 21}, {2, "sensors/room1/temp", 21}, {2, "sensors/room1/humidity", 40}}));
  EXPECT_EQ(host_seen, (std::vector<std::string>{"sensors/room1/temp=21"}));
  auto s = ps.stats();
  EXPECT_EQ(s.published, 3u);
  EXPECT_EQ(s.delivered, 4u);
  EXPECT_EQ(s.failed, 0u);
}

TEST(PubSub, InvalidInputsAreRejected) {
  Mailboxes mb;
  PubSub ps(mb.fn());
  auto bad_sub = ps.subscribe("a/b*", ActorId{1});
  ASSERT_FALSE(bad_sub.ok());
  EXPECT_EQ(bad_sub.error().code(), ErrorCode::NameInvalid);
  auto empty_cb = ps.subscribe("a", PubSub::CallbackFn{});
  ASSERT_FALSE(empty_cb.ok());
  EXPECT_EQ(empty_cb.error().code(), ErrorCode::InvalidArgument);
  auto bad_pub = ps.publish("a/#", tick(1));
  ASSERT_FALSE(bad_pub.ok());
  EXPECT_EQ(bad_pub.error().code(), ErrorCode::NameInvalid);
  expect_invalid(ps.clear_retained("a//b"));
  EXPECT_EQ(ps.subscription_count(), 0u);
  EXPECT_EQ(ps.stats().published, 0u);

  PubSub no_delivery(PubSub::DeliverFn{});
  auto actor = no_delivery.subscribe("a", ActorId{1});
  ASSERT_FALSE(actor.ok());
  EXPECT_EQ(actor.error().code(), ErrorCode::BackendUnavailable);
  EXPECT_TRUE(no_delivery.subscribe("a", [](const std::string&, const Envelope&) {}).ok());
}

TEST(PubSub, FailedDeliveriesAreCountedAndDoNotStopOthers) {
  Mailboxes mb;
  mb.refuse = {2, 4};
  PubSub ps(mb.fn());
  for (ActorId a = 1; a <= 5; ++a) ASSERT_TRUE(ps.subscribe("t", a).ok());
  auto r = ps.publish("t", tick(9));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->delivered, 3u);
  EXPECT_EQ(r->failed, 2u);
  ASSERT_EQ(mb.got.size(), 3u);
  EXPECT_EQ(std::get<0>(mb.got[0]), 1u);
  EXPECT_EQ(std::get<0>(mb.got[1]), 3u);
  EXPECT_EQ(std::get<0>(mb.got[2]), 5u);
  EXPECT_EQ(ps.stats().failed, 2u);
  EXPECT_EQ(ps.stats().delivered, 3u);
}

TEST(PubSub, RetainedMessagesReachLateSubscribers) {
  Mailboxes mb;
  PubSub ps(mb.fn());
  ASSERT_TRUE(ps.publish("cfg/a", tick(1), true).ok());
  ASSERT_TRUE(ps.publish("cfg/a", tick(2), true).ok());  // Replaces the first.
  ASSERT_TRUE(ps.publish("cfg/b/c", tick(3), true).ok());
  ASSERT_TRUE(ps.publish("cfg/d", tick(4), false).ok());  // Not retained.
  EXPECT_EQ(ps.retained_count(), 2u);

  ASSERT_TRUE(ps.subscribe("cfg/#", ActorId{7}).ok());
  using G = std::vector<std::tuple<ActorId, std::string, std::uint64_t>>;
  EXPECT_EQ(mb.got, (G{{7, "cfg/a", 2}, {7, "cfg/b/c", 3}}));

  std::vector<std::uint64_t> host;
  ASSERT_TRUE(ps.subscribe("cfg/*", [&](const std::string&, const Envelope& e) { host.push_back(value_of(e)); }).ok());
  EXPECT_EQ(host, (std::vector<std::uint64_t>{2}));  // cfg/b/c has two segments after cfg.
  EXPECT_EQ(ps.stats().delivered, 3u);
}

TEST(PubSub, ClearRetained) {
  Mailboxes mb;
  PubSub ps(mb.fn());
  ASSERT_TRUE(ps.publish("x", tick(1), true).ok());
  ASSERT_TRUE(ps.publish("y", tick(2), true).ok());
  ASSERT_TRUE(ps.clear_retained("x").ok());
  ASSERT_TRUE(ps.clear_retained("x").ok());  // Idempotent.
  EXPECT_EQ(ps.retained_count(), 1u);
  ASSERT_TRUE(ps.subscribe("#", ActorId{1}).ok());
  ASSERT_EQ(mb.got.size(), 1u);
  EXPECT_EQ(std::get<1>(mb.got[0]), "y");
}

TEST(PubSub, FailedRetainedDeliveryDoesNotFailSubscribe) {
  Mailboxes mb;
  mb.refuse = {1};
  PubSub ps(mb.fn());
  ASSERT_TRUE(ps.publish("r", tick(5), true).ok());
  auto sub = ps.subscribe("r", ActorId{1});
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(ps.subscription_count(), 1u);
  EXPECT_EQ(ps.stats().failed, 1u);
  EXPECT_EQ(ps.stats().delivered, 0u);
}

TEST(PubSub, UnsubscribeAndUnsubscribeActor) {
  Mailboxes mb;
  PubSub ps(mb.fn());
  auto s1 = ps.subscribe("a", ActorId{1});
  ASSERT_TRUE(s1.ok());
  ASSERT_TRUE(ps.subscribe("b", ActorId{1}).ok());
  ASSERT_TRUE(ps.subscribe("a", ActorId{2}).ok());
  int host = 0;
  auto h = ps.subscribe("a", [&](const std::string&, const Envelope&) { ++host; });
  ASSERT_TRUE(h.ok());
  EXPECT_NE(*s1, *h);

  ASSERT_TRUE(ps.unsubscribe(*s1).ok());
  auto again = ps.unsubscribe(*s1);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::InvalidArgument);
  EXPECT_FALSE(again.error().message().empty());

  auto r = ps.publish("a", tick(1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->delivered, 2u);  // Actor 2 and the host callback.

  EXPECT_EQ(ps.unsubscribe_actor(1), 1u);  // The remaining "b" subscription.
  EXPECT_EQ(ps.unsubscribe_actor(1), 0u);
  ASSERT_TRUE(ps.unsubscribe(*h).ok());
  auto r2 = ps.publish("a", tick(2));
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->delivered, 1u);  // Only actor 2 remains.
  EXPECT_EQ(ps.subscription_count(), 1u);
  EXPECT_EQ(host, 1);
}

TEST(PubSub, CallbacksMayReenter) {
  Mailboxes mb;
  PubSub ps(mb.fn());
  std::uint64_t self = 0;
  std::vector<std::string> chain;
  // A relay: republishes "in/x" as "out/x", subscribes a new actor, then removes itself. Deadlocks if
  // callbacks ran under the broker's lock.
  auto relay = ps.subscribe("in/*", [&](const std::string& topic, const Envelope& e) {
    chain.push_back(topic);
    auto r = ps.publish("out/" + topic.substr(3), e, true);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(ps.subscribe("out/#", ActorId{9}).ok());
    EXPECT_TRUE(ps.unsubscribe(self).ok());
  });
  ASSERT_TRUE(relay.ok());
  self = *relay;
  ASSERT_TRUE(ps.subscribe("out/*", [&](const std::string& topic, const Envelope&) { chain.push_back(topic); }).ok());

  ASSERT_TRUE(ps.publish("in/x", tick(3)).ok());
  ASSERT_TRUE(ps.publish("in/y", tick(4)).ok());  // Relay is gone.
  EXPECT_EQ(chain, (std::vector<std::string>{"in/x", "out/x"}));
  using G = std::vector<std::tuple<ActorId, std::string, std::uint64_t>>;
  EXPECT_EQ(mb.got, (G{{9, "out/x", 3}}));  // Via the retained copy, on subscribe.
  EXPECT_EQ(ps.subscription_count(), 2u);
}

TEST(PubSubConcurrency, ParallelPublishersCountExactly) {
  std::atomic<std::uint64_t> actor_deliveries{0};
  PubSub ps([&](ActorId a, const std::string&, const Envelope&) -> rk::Status {
    actor_deliveries.fetch_add(1);
    if (a == 99) return rk::make_error(ErrorCode::ActorTerminated, "gone", "test");
    return {};
  });
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::atomic<std::uint64_t> host_sum{0};
  ASSERT_TRUE(ps.subscribe("t/#", ActorId{1}).ok());
  ASSERT_TRUE(ps.subscribe("t/*/even", ActorId{99}).ok());
  ASSERT_TRUE(ps.subscribe("#", [&](const std::string&, const Envelope& e) { host_sum.fetch_add(value_of(e)); }).ok());

  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> report_delivered{0}, report_failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string topic = "t/" + std::to_string(t) + (i % 2 == 0 ? "/even" : "/odd");
        auto r = ps.publish(topic, tick(1), i % 10 == 0);
        ASSERT_TRUE(r.ok());
        report_delivered += r->delivered;
        report_failed += r->failed;
        // Churn: a short-lived subscription that must not disturb the counts of the others.
        auto s = ps.subscribe("churn/" + std::to_string(t), ActorId{5});
        ASSERT_TRUE(s.ok());
        ASSERT_TRUE(ps.unsubscribe(*s).ok());
      }
    });
  }
  for (auto& th : threads) th.join();

  constexpr std::uint64_t kTotal = kThreads * kPerThread;
  constexpr std::uint64_t kEven = kTotal / 2;
  EXPECT_EQ(host_sum.load(), kTotal);
  EXPECT_EQ(report_failed.load(), kEven);                 // Actor 99 refuses every "even" message.
  EXPECT_EQ(report_delivered.load(), kTotal + kTotal);    // Actor 1 and the host callback get all.
  EXPECT_EQ(actor_deliveries.load(), kTotal + kEven);
  const auto s = ps.stats();
  EXPECT_EQ(s.published, kTotal);
  EXPECT_EQ(s.delivered, 2 * kTotal);
  EXPECT_EQ(s.failed, kEven);
  EXPECT_EQ(ps.subscription_count(), 3u);
  EXPECT_EQ(ps.retained_count(), static_cast<std::size_t>(kThreads));  // Only even i%10==0 topics retained.
}
