// Actor-to-actor messaging on the CPU backend: chains, fan-in, FIFO, replies, pub/sub, HLC and tracing.
#include "test_actors.hpp"

#include <cstring>
#include <map>

namespace rkt {
namespace {

struct Hop {
  static constexpr auto type_id = message_type("t.Hop");
  std::uint64_t v;
  std::uint32_t hops;
};

/// Forwards Hop to the next actor (by id, or by name when set), or to the host at the end of the chain.
struct Forwarder {
  using messages = message_list<Hop>;
  ActorId next_id = kHostActor;
  std::string next_name;
  Forwarder(ActorId id, std::string name) : next_id(id), next_name(std::move(name)) {}
  void handle(auto& ctx, const Hop& m) {
    Hop out{m.v + 1, m.hops + 1};
    if (!next_name.empty()) (void)ctx.send(std::string_view(next_name), out);
    else (void)ctx.send(next_id, out);
  }
};

TEST(Messaging, ChainOfFourByIdAndByName) {
  auto rt = make_runtime(2);
  auto d = rt.launch<Forwarder>("chain/d", {}, kHostActor, std::string());
  ASSERT_TRUE(d.ok());
  auto c = rt.launch<Forwarder>("chain/c", {}, ActorId{0}, std::string("chain/d"));  // by name
  ASSERT_TRUE(c.ok());
  auto b = rt.launch<Forwarder>("chain/b", {}, c->id(), std::string());  // by id
  ASSERT_TRUE(b.ok());
  auto a = rt.launch<Forwarder>("chain/a", {}, ActorId{0}, std::string("chain/b"));
  ASSERT_TRUE(a.ok());
  const int n = scaled(200);
  for (int i = 0; i < n; ++i) ASSERT_TRUE(a->send(Hop{static_cast<std::uint64_t>(i) * 10, 0}).ok());
  for (int i = 0; i < n; ++i) {
    auto env = d->receive(kLong);
    ASSERT_TRUE(env.ok()) << env.error().describe();
    auto hop = env->as<Hop>();
    ASSERT_TRUE(hop.ok());
    EXPECT_EQ(hop->hops, 4u);
    EXPECT_EQ(hop->v, static_cast<std::uint64_t>(i) * 10 + 4);  // single path: order preserved
  }
  EXPECT_EQ(c->metrics()->sent, static_cast<std::uint64_t>(n));
  EXPECT_EQ(rt.dead_letters().size(), 0u);
}

struct Produce {
  static constexpr auto type_id = message_type("t.Produce");
  std::uint32_t count;
  std::uint32_t id;
};

/// Sends `count` Seq messages to "agg", retrying on back-pressure (never blocks the worker for long).
struct Producer {
  using messages = message_list<Produce>;
  void handle(auto& ctx, const Produce& m) {
    for (std::uint32_t i = 0; i < m.count; ++i) {
      while (!ctx.send(std::string_view("agg"), Seq{m.id, i})) std::this_thread::yield();
    }
  }
};

/// Sums what it receives and checks per-sender FIFO.
struct Aggregator {
  using messages = message_list<Seq, Get>;
  std::map<std::uint32_t, std::int64_t> last;
  std::uint64_t total = 0, count = 0, order_violations = 0;
  void handle(auto&, const Seq& m) {
    auto it = last.find(m.sender);
    const std::int64_t prev = it == last.end() ? -1 : it->second;
    if (static_cast<std::int64_t>(m.n) != prev + 1) ++order_violations;
    last[m.sender] = m.n;
    total += m.n;
    ++count;
  }
  void handle(auto& ctx, const Get&) {
    (void)ctx.reply(Outcome{static_cast<std::uint32_t>(count), static_cast<std::uint32_t>(order_violations)});
    (void)ctx.send(kHostActor, Sum{total});  // a second reply would be an expired one
  }
};

TEST(Messaging, FanInHasExactTotalsAndPerSenderFifo) {
  // The producers retry inside their handler until the aggregator drains, so the aggregator gets a worker of
  // its own (a handler spinning on a mailbox served by its own worker would never see it drain).
  auto rt = make_runtime(4);
  LaunchOptions small;
  small.worker = 0;
  small.mailbox_capacity = 64;  // forces back-pressure on the producers under load
  small.backpressure.policy = OverflowPolicy::Reject;
  auto agg = rt.launch<Aggregator>("agg", small);
  ASSERT_TRUE(agg.ok());
  const std::uint32_t per = static_cast<std::uint32_t>(scaled(3000));
  std::vector<ActorHandle> producers;
  for (std::uint32_t p = 1; p <= 3; ++p) {
    LaunchOptions po;
    po.worker = static_cast<int>(p);
    auto h = rt.launch<Producer>("prod" + std::to_string(p), po);
    ASSERT_TRUE(h.ok());
    producers.push_back(*h);
  }
  for (std::uint32_t p = 0; p < 3; ++p) ASSERT_TRUE(producers[p].send(Produce{per, p + 1}).ok());
  ASSERT_TRUE(eventually([&] { return agg->metrics()->processed == 3ull * per; }, std::chrono::milliseconds(20000)));
  auto out = agg->call<Outcome>(Get{}, kLong);
  ASSERT_TRUE(out.ok()) << out.error().describe();
  EXPECT_EQ(out->code, 3 * per);
  EXPECT_EQ(out->extra, 0u) << "per-sender FIFO violated";
  auto sum = agg->receive(kLong);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->as<Sum>()->total, 3ull * per * (per - 1) / 2);
  // Refused sends were retried, and each refusal dead-lettered a copy; none was processed twice.
  // Lifetime counter, not the queue's contents: the queue is bounded and evicts under many refusals.
  EXPECT_EQ(rt.dead_letters().stats().count(DeadLetterReason::QueueFull), agg->metrics()->rejected);
}

struct Ask {
  static constexpr auto type_id = message_type("t.Ask");
  ActorId target;
  std::uint64_t v;
};

/// Pings `target` and reports the Pong it gets back to the host.
struct Asker {
  using messages = message_list<Ask, Pong>;
  void handle(auto& ctx, const Ask& m) { (void)ctx.send(m.target, Ping{m.v}); }
  void handle(auto& ctx, const Pong& m) {
    (void)ctx.send(kHostActor, Outcome{static_cast<std::uint32_t>(m.v), ctx.message().source});
  }
};
/// Replies to Ping with Pong{v * 2}.
struct Doubler {
  using messages = message_list<Ping>;
  void handle(auto& ctx, const Ping& m) { (void)ctx.reply(Pong{m.v * 2}); }
};

TEST(Messaging, RepliesBetweenActors) {
  auto rt = make_runtime(2);
  auto dbl = rt.launch<Doubler>("dbl");
  auto ask = rt.launch<Asker>("ask");
  ASSERT_TRUE(dbl.ok() && ask.ok());
  for (std::uint64_t i = 1; i <= 20; ++i) ASSERT_TRUE(ask->send(Ask{dbl->id(), i}).ok());
  for (std::uint64_t i = 1; i <= 20; ++i) {
    auto env = ask->receive(kLong);
    ASSERT_TRUE(env.ok()) << env.error().describe();
    auto o = env->as<Outcome>();
    EXPECT_EQ(o->code, i * 2);
    EXPECT_EQ(o->extra, dbl->id());
  }
  EXPECT_EQ(dbl->metrics()->sent, 20u);
}

/// Publishes Ping on "sensors/<v>/temp" when it gets Ping from the host.
struct Publisher {
  using messages = message_list<Ping>;
  void handle(auto& ctx, const Ping& m) {
    (void)ctx.publish("sensors/room" + std::to_string(m.v) + "/temp", Ping{m.v}, /*retain=*/m.v == 99);
  }
};

TEST(Messaging, PubSubFromActorAndHostWithWildcardsAndRetained) {
  auto rt = make_runtime(2);
  auto star_log = std::make_shared<Log>();
  auto hash_log = std::make_shared<Log>();
  auto star = rt.launch<Recorder>("sub/star", {}, star_log);
  auto hash = rt.launch<Recorder>("sub/hash", {}, hash_log);
  auto pub = rt.launch<Publisher>("pub");
  ASSERT_TRUE(star.ok() && hash.ok() && pub.ok());
  ASSERT_TRUE(rt.subscribe("sensors/*/temp", star->id()).ok());
  ASSERT_TRUE(rt.subscribe("sensors/#", hash->id()).ok());
  // From the host.
  auto r1 = rt.publish("sensors/room1/temp", Ping{1});
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->delivered, 2u);
  auto r2 = rt.publish("sensors/room1/humidity", Ping{2});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->delivered, 1u);  // only '#'
  auto r3 = rt.publish("other/room1/temp", Ping{3});
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->delivered, 0u);
  EXPECT_EQ(rt.publish("bad//topic", Ping{4}).error().code(), ErrorCode::NameInvalid);
  // From an actor (retained for v == 99).
  ASSERT_TRUE(pub->send(Ping{5}).ok());
  ASSERT_TRUE(pub->send(Ping{99}).ok());
  ASSERT_TRUE(eventually([&] { return star_log->count.load() == 3 && hash_log->count.load() == 4; }));
  auto sv = star_log->copy();
  EXPECT_EQ(sv[0].second, 1u);
  EXPECT_EQ(sv[1].second, 5u);
  EXPECT_EQ(sv[2].second, 99u);
  // A late subscriber gets the retained message at once.
  auto late_log = std::make_shared<Log>();
  auto late = rt.launch<Recorder>("sub/late", {}, late_log);
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE(rt.subscribe("sensors/+x/#", late->id()).error().code() == ErrorCode::NameInvalid);
  ASSERT_TRUE(rt.subscribe("#/temp", late->id()).ok());
  ASSERT_TRUE(eventually([&] { return late_log->count.load() == 1; }));
  EXPECT_EQ(late_log->copy()[0].second, 99u);
  // A terminated subscriber is unsubscribed.
  ASSERT_TRUE(star->terminate().ok());
  ASSERT_TRUE(star->wait_for(ActorState::Terminated, kLong).ok());
  auto r4 = rt.publish("sensors/room7/temp", Ping{7});
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(r4->delivered, 2u);  // hash + late
  EXPECT_EQ(r4->failed, 0u);
}

struct Stamp {
  static constexpr auto type_id = message_type("t.Stamp");
  std::uint64_t sender_now;
  ActorId next;
};
struct StampInfo {
  static constexpr auto type_id = message_type("t.StampInfo");
  std::uint64_t sender_now, header_hlc, receiver_now;
};

/// With `next` set: stamps its clock and forwards to `next`; otherwise reports what it observed to the host.
struct Stamper {
  using messages = message_list<Stamp>;
  void handle(auto& ctx, const Stamp& m) {
    if (m.next != kHostActor) {
      const std::uint64_t now = ctx.now().packed;
      (void)ctx.send(m.next, Stamp{now, kHostActor});
    } else {
      const std::uint64_t hdr = ctx.message().hlc;
      (void)ctx.send(kHostActor, StampInfo{m.sender_now, hdr, ctx.now().packed});
    }
  }
};

TEST(Messaging, HlcCausality) {
  auto rt = make_runtime(2);
  auto a = rt.launch<Stamper>("a");
  auto b = rt.launch<Stamper>("b");
  ASSERT_TRUE(a.ok() && b.ok());
  std::uint64_t prev_clock = rt.clock().peek();
  for (int i = 0; i < scaled(200); ++i) {
    const std::uint64_t before = rt.clock().peek();
    EXPECT_GE(before, prev_clock);
    ASSERT_TRUE(a->send(Stamp{0, b->id()}).ok());
    auto env = b->receive(kLong);
    ASSERT_TRUE(env.ok()) << env.error().describe();
    auto info = env->as<StampInfo>();
    ASSERT_TRUE(info.ok());
    EXPECT_GT(info->header_hlc, info->sender_now);   // send stamp after the sender's earlier event
    EXPECT_GT(info->receiver_now, info->header_hlc); // receive after send
    EXPECT_GT(env->header.hlc, info->receiver_now);  // b's send to the host after its receive
    prev_clock = rt.clock().peek();
    EXPECT_GT(prev_clock, before);                   // the host send ticked the runtime clock
  }
  // The host's clock merges what it receives: a later host event is after the last reply.
  auto r = a->send(Stamp{0, b->id()});
  ASSERT_TRUE(r.ok());
  auto env = b->receive(kLong);
  ASSERT_TRUE(env.ok());
  EXPECT_GT(rt.clock().tick().packed, env->header.hlc);
}

TEST(Messaging, TraceContextPropagatesThroughAChain) {
  auto rt = make_runtime(2);
  auto d = rt.launch<Forwarder>("t/d", {}, kHostActor, std::string());
  auto c = rt.launch<Forwarder>("t/c", {}, d->id(), std::string());
  auto b = rt.launch<Forwarder>("t/b", {}, ActorId{0}, std::string("t/c"));
  ASSERT_TRUE(d.ok() && c.ok() && b.ok());
  TraceContext tc;
  for (int i = 0; i < 16; ++i) tc.trace_id[i] = static_cast<std::uint8_t>(0xA0 + i);
  for (int i = 0; i < 8; ++i) tc.span_id[i] = static_cast<std::uint8_t>(0x10 + i);
  SendOptions so;
  so.trace = &tc;
  so.sampled = true;
  ASSERT_TRUE(b->send(Hop{1, 0}, so).ok());
  ASSERT_TRUE(b->send(Hop{2, 0}).ok());  // untraced
  auto env = d->receive(kLong);
  ASSERT_TRUE(env.ok()) << env.error().describe();
  EXPECT_EQ(std::memcmp(env->header.trace_id, tc.trace_id, 16), 0);
  EXPECT_NE(env->header.flags & msg_flags::kTraceSampled, 0);
  EXPECT_EQ(env->as<Hop>()->hops, 3u);
  auto plain = d->receive(kLong);
  ASSERT_TRUE(plain.ok());
  const std::uint8_t zero[16] = {};
  EXPECT_EQ(std::memcmp(plain->header.trace_id, zero, 16), 0);
  EXPECT_EQ(plain->header.flags & msg_flags::kTraceSampled, 0);
}

TEST(Messaging, SendToMissingActorFromAnActorIsDeadLettered) {
  auto rt = make_runtime();
  auto f = rt.launch<Forwarder>("f", {}, ActorId{4000}, std::string());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->send(Hop{1, 0}).ok());
  ASSERT_TRUE(eventually([&] { return letters(rt, DeadLetterReason::ActorNotFound).size() == 1; }));
  EXPECT_EQ(letters(rt, DeadLetterReason::ActorNotFound)[0].envelope.header.destination, 4000u);
}

// A replay whose resend fails again keeps exactly one letter (re-queued with its retry counted): the failed
// send must not file a second copy, which the next replay would deliver as well. Both kinds of resend: to an
// actor that still does not exist, and to the host receive queue of an actor that is still full.
TEST(Messaging, AFailedReplayLeavesOneLetterNotTwo) {
  auto rt = make_runtime();
  auto f = rt.launch<Forwarder>("f", {}, ActorId{4000}, std::string());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->send(Hop{1, 0}).ok());
  LaunchOptions o;
  o.outbox_capacity = 2;
  auto c = rt.launch<Counter>("c", o);
  ASSERT_TRUE(c.ok());
  for (std::uint64_t v : {1u, 2u, 3u}) ASSERT_TRUE(c->send(Add{v}).ok());
  ASSERT_TRUE(eventually([&] {
    return letters(rt, DeadLetterReason::ActorNotFound).size() == 1 && letters(rt, DeadLetterReason::QueueFull).size() == 1;
  }));
  for (int round = 1; round <= 2; ++round) {
    const auto report = rt.replay_dead_letters();
    EXPECT_EQ(report.replayed, 0u);
    EXPECT_EQ(report.failed, 2u) << "round " << round;
    EXPECT_EQ(rt.dead_letters().size(), 2u) << "round " << round << ": a failed resend filed another letter";
  }
  for (const DeadLetter& d : rt.dead_letters().snapshot()) EXPECT_EQ(d.retries, 2u);
  EXPECT_EQ(c->metrics()->dropped, 1u) << "a failed resend counted as another drop";
  // Once there is room, the replay delivers the reply exactly once.
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c->receive(kLong).ok());
  const auto report = rt.replay_dead_letters([](const DeadLetter& d) { return d.reason == DeadLetterReason::QueueFull; });
  EXPECT_EQ(report.replayed, 1u);
  auto third = c->receive(kLong);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->as<Sum>()->total, 6u);
  EXPECT_FALSE(c->try_receive().ok()) << "delivered twice";
}

TEST(Messaging, ReplayDeadLettersAfterTheCauseIsFixed) {
  auto rt = make_runtime();
  LaunchOptions o;
  o.auto_activate = false;
  o.mailbox_capacity = 2;
  o.backpressure.policy = OverflowPolicy::DropToDeadLetter;
  auto h = rt.launch<Counter>("c", o);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Inc{1}).ok());
  ASSERT_TRUE(h->send(Inc{2}).ok());
  EXPECT_EQ(h->send(Inc{4}).error().code(), ErrorCode::Dropped);
  ASSERT_TRUE(h->activate().ok());
  ASSERT_TRUE(eventually([&] { return h->metrics()->processed == 2; }));
  auto rep = rt.replay_dead_letters();
  EXPECT_EQ(rep.replayed, 1u);
  auto t = h->call<Sum>(Get{}, kLong);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->total, 7u);
  EXPECT_EQ(rt.dead_letters().size(), 0u);
}

}  // namespace
}  // namespace rkt
