// Runtime::snapshot / Runtime::restore_snapshot on the CPU backend (core + cpu only: also run by the sanitizer and
// coverage stages through the label checkpoint-cpu).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ckpt_actors.hpp"

using namespace ckpt_test;
using namespace std::chrono_literals;

namespace {

Sum get_sum(rk::ActorHandle& h) {
  auto r = h.call<Sum>(Get{0}, 2s);
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().describe());
  return r ? *r : Sum{};
}

} // namespace


TEST(RuntimeSnapshot, RoundTripStateQueuesNamesAndClock) {
  const auto cat = catalog();
  auto rt = make_runtime();
  auto a = rt.launch<Counter>("counter.a");
  auto b = rt.launch<Counter>("counter.b");
  ASSERT_TRUE(a && b);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(a->send(Add{static_cast<std::uint64_t>(i)}));
  EXPECT_EQ(get_sum(*a).total, 55u);
  // Queued while paused: must travel in the checkpoint and run after restore.
  ASSERT_TRUE(b->deactivate());
  ASSERT_TRUE(b->wait_for(rk::ActorState::Deactivated, 2s));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b->send(Add{100}));
  // Waiting in the host receive queue of a.
  ASSERT_TRUE(a->send(Echo{7}));
  ASSERT_TRUE(a->send(Echo{8}));
  ASSERT_TRUE(eventually([&] { return a->status()->metrics.processed >= 13; }));

  auto snap = rt.snapshot(cat);
  ASSERT_TRUE(snap) << snap.error().describe();
  ASSERT_EQ(snap->actors.size(), 2u);
  EXPECT_EQ(snap->actors[0].name, "counter.a");
  EXPECT_EQ(snap->actors[0].state, rk::ActorState::Active);
  EXPECT_EQ(snap->actors[0].outbox.size(), 2u);
  EXPECT_EQ(snap->actors[1].state, rk::ActorState::Deactivated);
  EXPECT_EQ(snap->actors[1].inbox.size(), 5u);
  EXPECT_GT(snap->hlc, 0u);
  // The source keeps running after the snapshot.
  ASSERT_TRUE(a->send(Add{1}));
  EXPECT_EQ(get_sum(*a).total, 56u);

  auto rt2 = make_runtime();
  ASSERT_TRUE(rt2.restore_snapshot(*snap, cat));
  EXPECT_GE(rt2.clock().peek(), snap->hlc);
  auto a2 = rt2.find("counter.a");
  auto b2 = rt2.find("counter.b");
  ASSERT_TRUE(a2 && b2);
  EXPECT_EQ(a2->id(), a->id());
  EXPECT_EQ(b2->id(), b->id());
  EXPECT_EQ(get_sum(*a2).total, 55u);
  auto e1 = a2->receive(1s);
  auto e2 = a2->receive(1s);
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ(e1->as<Echo>()->value, 7u);
  EXPECT_EQ(e2->as<Echo>()->value, 8u);
  EXPECT_EQ(b2->status()->state, rk::ActorState::Deactivated);
  ASSERT_TRUE(b2->activate());
  EXPECT_EQ(get_sum(*b2).total, 500u);
  // New actors get fresh ids after the restored ones.
  auto c2 = rt2.launch<Counter>("counter.c");
  ASSERT_TRUE(c2);
  EXPECT_GT(c2->id(), b2->id());
}

// Actors terminated while the restore refills their queues (an observer terminates each as soon as it is
// launched, on the thread that launches it): every queued message is either still there or dead-lettered, none
// written into rings the terminated actor already handed back. Timing decides which; the count holds either way.
TEST(RuntimeSnapshot, ActorsTerminatedDuringRestoreLoseNoQueuedMessage) {
  const auto cat = catalog();
  auto rt = make_runtime();
  auto a = rt.launch<Counter>("counter.a");
  auto b = rt.launch<Counter>("counter.b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(b->deactivate());
  ASSERT_TRUE(b->wait_for(rk::ActorState::Deactivated, 2s));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b->send(Add{100}));
  ASSERT_TRUE(a->send(Echo{7}));
  ASSERT_TRUE(a->send(Echo{8}));
  ASSERT_TRUE(eventually([&] { return a->status()->metrics.processed >= 2; }));
  auto snap = rt.snapshot(cat);
  ASSERT_TRUE(snap) << snap.error().describe();

  for (int round = 0; round < 20; ++round) {
    auto rt2 = make_runtime();
    rk::Runtime* target = &rt2;
    rt2.on_event([target](const rk::RuntimeEvent& e) {
      if (e.kind != rk::RuntimeEvent::Kind::Launched) return;
      if (auto h = target->handle(e.actor)) (void)h->terminate();
    });
    ASSERT_TRUE(rt2.restore_snapshot(*snap, cat));
    auto a2 = rt2.handle(a->id());
    auto b2 = rt2.handle(b->id());
    ASSERT_TRUE(a2 && b2);
    ASSERT_TRUE(a2->wait_for(rk::ActorState::Terminated, 2s));
    ASSERT_TRUE(b2->wait_for(rk::ActorState::Terminated, 2s));
    std::size_t replies = 0;
    while (a2->try_receive()) ++replies;
    const auto letters = rt2.dead_letters().snapshot();
    std::size_t adds = 0, echoes = 0;
    for (const auto& l : letters) {
      if (l.envelope.header.type_id == Add::type_id) ++adds;
      if (l.envelope.header.type_id == Echo::type_id) ++echoes;
    }
    EXPECT_EQ(adds, 5u) << "round " << round << ": b's queued messages, dead-lettered when it terminated";
    EXPECT_EQ(replies + echoes, 2u) << "round " << round << ": a's replies, received or dead-lettered";
  }
}

TEST(RuntimeSnapshot, NoMessageLostOrDuplicatedUnderLoad) {
  const auto cat = catalog();
  auto rt = make_runtime();
  constexpr int kRelays = 4;
#if defined(RINGKERNEL_SANITIZER_BUILD)
  constexpr std::uint64_t kTokens = 300;
#else
  constexpr std::uint64_t kTokens = 1500;
#endif
  constexpr std::uint32_t kHops = 400;
  std::vector<rk::ActorHandle> relays;
  rk::LaunchOptions opts;
  opts.mailbox_capacity = 4096;
  for (int i = 0; i < kRelays; ++i) {
    auto h = rt.launch<Relay>("relay." + std::to_string(i), opts);
    ASSERT_TRUE(h);
    relays.push_back(*h);
  }
  for (int i = 0; i < kRelays; ++i) ASSERT_TRUE(relays[i].send(SetNext{relays[(i + 1) % kRelays].id()}));
  std::uint64_t expect_sum = 0;
  for (std::uint64_t t = 1; t <= kTokens; ++t) {
    ASSERT_TRUE(relays[t % kRelays].send(Token{kHops, t}));
    expect_sum += t;
  }
  // Tokens are circulating: take two checkpoints mid-flight.
  auto s1 = rt.snapshot(cat);
  ASSERT_TRUE(s1) << s1.error().describe();
  auto s2 = rt.snapshot(cat);
  ASSERT_TRUE(s2) << s2.error().describe();
  auto totals = [&](std::vector<rk::ActorHandle>& hs) {
    Sum all{0, 0};
    for (auto& h : hs) {
      auto s = get_sum(h);
      all.total += s.total;
      all.count += s.count;
    }
    return all;
  };
  // The original finishes every token exactly once.
  ASSERT_TRUE(eventually([&] { return totals(relays).count >= kTokens; }, 20s));
  EXPECT_EQ(totals(relays).count, kTokens);
  EXPECT_EQ(totals(relays).total, expect_sum);
  std::uint64_t in_flight = 0;
  for (const auto& a : s1->actors) in_flight += a.inbox.size();
  RecordProperty("tokens_in_flight_at_cut", static_cast<int>(in_flight));

  for (auto* snap : {&*s1, &*s2}) {
    auto rt2 = make_runtime();
    ASSERT_TRUE(rt2.restore_snapshot(*snap, cat));
    std::vector<rk::ActorHandle> restored;
    for (int i = 0; i < kRelays; ++i) restored.push_back(*rt2.find("relay." + std::to_string(i)));
    ASSERT_TRUE(eventually([&] { return totals(restored).count >= kTokens; }, 20s));
    std::this_thread::sleep_for(20ms);  // anything duplicated would show up now
    EXPECT_EQ(totals(restored).count, kTokens);
    EXPECT_EQ(totals(restored).total, expect_sum);
    EXPECT_EQ(rt2.metrics().dead_letters, 0u);
  }
}

TEST(RuntimeSnapshot, CustomSerializedActorAndSpawnedIds) {
  const auto cat = catalog();
  auto rt = make_runtime(1);
  auto j = rt.launch<Journal>("journal");
  ASSERT_TRUE(j);
  for (std::uint64_t v : {3u, 5u, 9u}) ASSERT_TRUE(j->send(Add{v}));
  EXPECT_EQ(get_sum(*j).count, 3u);
  auto snap = rt.snapshot(cat);
  ASSERT_TRUE(snap) << snap.error().describe();
  auto rt2 = make_runtime(1);
  ASSERT_TRUE(rt2.restore_snapshot(*snap, cat));
  auto j2 = rt2.find("journal");
  ASSERT_TRUE(j2);
  const auto s = get_sum(*j2);
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.total, 17u);
}

TEST(RuntimeSnapshot, RejectsBadInputWithoutPartialRestore) {
  const auto cat = catalog();
  auto rt = make_runtime(1);
  ASSERT_TRUE(rt.launch<Counter>("c1"));
  ASSERT_TRUE(rt.launch<Journal>("j1"));
  auto snap = rt.snapshot(cat);
  ASSERT_TRUE(snap);

  {  // a damaged custom state fails in validation: nothing is launched
    auto bad = *snap;
    bad.actors[1].state_bytes.resize(3);
    auto rt2 = make_runtime(1);
    auto st = rt2.restore_snapshot(bad, cat);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), rk::ErrorCode::Corrupt);
    EXPECT_TRUE(rt2.actors().empty());
    ASSERT_TRUE(rt2.restore_snapshot(*snap, cat));  // and the runtime is still usable for a good one
  }
  {  // wrong size for a trivially copyable state
    auto bad = *snap;
    bad.actors[0].state_bytes.push_back(std::byte{1});
    auto rt2 = make_runtime(1);
    EXPECT_EQ(rt2.restore_snapshot(bad, cat).error().code(), rk::ErrorCode::Corrupt);
    EXPECT_TRUE(rt2.actors().empty());
  }
  {  // unknown type
    rk::ActorCatalog empty;
    auto rt2 = make_runtime(1);
    EXPECT_EQ(rt2.restore_snapshot(*snap, empty).error().code(), rk::ErrorCode::InvalidArgument);
    EXPECT_TRUE(rt2.actors().empty());
  }
  {  // malformed queued message, bad geometry, bad ids, duplicate names, ids beyond max_actors
    auto rt2 = make_runtime(1);
    auto bad = *snap;
    bad.actors[0].inbox.push_back(rk::Envelope::of(Add{1}));
    bad.actors[0].inbox.back().payload.pop_back();
    EXPECT_EQ(rt2.restore_snapshot(bad, cat).error().code(), rk::ErrorCode::Corrupt);
    bad = *snap;
    bad.actors[0].opts.slot_size = 100;
    EXPECT_EQ(rt2.restore_snapshot(bad, cat).error().code(), rk::ErrorCode::Corrupt);
    bad = *snap;
    bad.actors[1].id = bad.actors[0].id;
    EXPECT_EQ(rt2.restore_snapshot(bad, cat).error().code(), rk::ErrorCode::Corrupt);
    bad = *snap;
    bad.actors[1].name = bad.actors[0].name;
    EXPECT_EQ(rt2.restore_snapshot(bad, cat).error().code(), rk::ErrorCode::Corrupt);
    bad = *snap;
    bad.actors[0].state = rk::ActorState::Failed;
    EXPECT_EQ(rt2.restore_snapshot(bad, cat).error().code(), rk::ErrorCode::Corrupt);
    bad = *snap;
    bad.next_actor_id = 1u << 30;
    EXPECT_EQ(rt2.restore_snapshot(bad, cat).error().code(), rk::ErrorCode::InvalidArgument);
    EXPECT_TRUE(rt2.actors().empty());
  }
  {  // a runtime that already has actors
    auto rt2 = make_runtime(1);
    ASSERT_TRUE(rt2.launch<Counter>("other"));
    EXPECT_EQ(rt2.restore_snapshot(*snap, cat).error().code(), rk::ErrorCode::InvalidArgument);
  }
}

TEST(RuntimeSnapshot, UncataloguedTypeFailsAndActorsKeepRunning) {
  auto cat = catalog();
  auto rt = make_runtime(1);
  auto c = rt.launch<Counter>("c");
  ASSERT_TRUE(c);
  ASSERT_TRUE(rt.launch<Opaque>("opaque"));
  auto snap = rt.snapshot(cat);
  ASSERT_FALSE(snap);
  EXPECT_EQ(snap.error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_NE(snap.error().message().find("opaque"), std::string::npos);
  ASSERT_TRUE(c->send(Add{4}));
  EXPECT_EQ(get_sum(*c).total, 4u);
  EXPECT_EQ(c->status()->state, rk::ActorState::Active);
}

TEST(RuntimeSnapshot, TerminatedActorsAreSkippedAndShutdownRefused) {
  const auto cat = catalog();
  auto rt = make_runtime(1);
  auto a = rt.launch<Counter>("a");
  auto b = rt.launch<Counter>("b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->terminate());
  ASSERT_TRUE(a->wait_for(rk::ActorState::Terminated, 2s));
  auto snap = rt.snapshot(cat);
  ASSERT_TRUE(snap);
  ASSERT_EQ(snap->actors.size(), 1u);
  EXPECT_EQ(snap->actors[0].name, "b");
  auto rt2 = make_runtime(1);
  ASSERT_TRUE(rt2.restore_snapshot(*snap, cat));
  EXPECT_EQ(rt2.find("b")->id(), b->id());
  EXPECT_FALSE(rt2.find("a"));
  (void)rt.shutdown();
  EXPECT_EQ(rt.snapshot(cat).error().code(), rk::ErrorCode::ShuttingDown);
  EXPECT_EQ(rt.restore_snapshot(*snap, cat).error().code(), rk::ErrorCode::ShuttingDown);
}

namespace {
struct Nap { static constexpr auto type_id = rk::message_type("ckpt.Nap"); std::uint32_t ms; };
struct Sleeper {
  using messages = rk::message_list<Nap, Get>;
  std::uint64_t naps = 0;
  void handle(auto&, const Nap& n) { std::this_thread::sleep_for(std::chrono::milliseconds(n.ms)); ++naps; }
  void handle(auto& ctx, const Get&) { ctx.reply(Sum{naps, naps}); }
};
} // namespace

TEST(RuntimeSnapshot, BusyActorTimesOutAndEveryoneResumes) {
  auto cat = catalog();
  cat.add<Sleeper>();
  auto rt = make_runtime(2);
  auto s = rt.launch<Sleeper>("sleeper");
  auto c = rt.launch<Counter>("counter");
  ASSERT_TRUE(s && c);
  ASSERT_TRUE(s->send(Nap{400}));
  ASSERT_TRUE(eventually([&] { return s->status()->metrics.processed == 0 && s->status()->heartbeat_age_ns > 0; }));
  std::this_thread::sleep_for(20ms);  // the nap is running
  auto snap = rt.snapshot(cat, 50ms);
  ASSERT_FALSE(snap);
  EXPECT_EQ(snap.error().code(), rk::ErrorCode::Timeout);
  EXPECT_NE(snap.error().message().find("sleeper"), std::string::npos) << snap.error().describe();
  // Nobody stays paused: both actors answer again.
  ASSERT_TRUE(c->send(Add{2}));
  EXPECT_EQ(get_sum(*c).total, 2u);
  auto after = s->call<Sum>(Get{0}, 3s);
  ASSERT_TRUE(after) << after.error().describe();
  EXPECT_EQ(after->count, 1u);
  // Once idle, the snapshot succeeds.
  auto ok = rt.snapshot(cat);
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->actors.size(), 2u);
}

namespace {

DigestIs digest_of(rk::ActorHandle& h) {
  auto r = h.call<DigestIs>(Digest{0}, 10s);
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().describe());
  return r ? *r : DigestIs{};
}

} // namespace

// snapshot_streamed leaves large trivially copyable states out of the snapshot and lets the consumer read them in
// ranges while every actor stays paused; restore_snapshot takes over a prepared state instead of loading bytes.
TEST(RuntimeSnapshot, StreamedStatesAreReadInRangesWhileActorsStayPaused) {
  const auto cat = catalog();
  auto rt = make_runtime();
  auto blob = rt.launch<Blob>("blob");
  auto counter = rt.launch<Counter>("counter");
  ASSERT_TRUE(blob && counter);
  ASSERT_TRUE(blob->send(Fill{3}));
  ASSERT_TRUE(counter->send(Add{5}));
  const DigestIs before = digest_of(*blob);
  EXPECT_EQ(get_sum(*counter).total, 5u);

  std::vector<std::byte> copy(Blob::kBytes);
  auto st = rt.snapshot_streamed(cat, 1024, [&](rk::SystemSnapshot& snap, rk::StateReader& states) -> rk::Status {
    EXPECT_EQ(snap.actors.size(), 2u);
    const rk::ActorSnapshot& b = snap.actors[0];
    const rk::ActorSnapshot& c = snap.actors[1];
    EXPECT_EQ(b.streamed_size, Blob::kBytes);
    EXPECT_TRUE(b.state_bytes.empty());
    EXPECT_EQ(c.streamed_size, 0u);  // smaller than stream_min: copied as before
    EXPECT_EQ(c.state_bytes.size(), sizeof(Counter));
    // Sent now, applied only after the cut: the reads below must not see it.
    EXPECT_TRUE(blob->send(Stamp{0xDEADBEEF}));
    std::this_thread::sleep_for(20ms);
    auto staging = states.staging(1 << 20);
    EXPECT_NE(staging, nullptr);
    for (std::size_t off = 0; off < Blob::kBytes; off += 1 << 20) {
      const std::size_t n = std::min<std::size_t>(1 << 20, Blob::kBytes - off);
      if (auto r = states.read(b, off, {staging.get(), n}); !r) return r;
      std::memcpy(copy.data() + off, staging.get(), n);
    }
    // Outside the state, or an actor that is not streamed: refused.
    std::byte one[2];
    EXPECT_EQ(states.read(b, Blob::kBytes - 1, one).error().code(), rk::ErrorCode::InvalidArgument);
    EXPECT_EQ(states.read(c, 0, {one, 1}).error().code(), rk::ErrorCode::InvalidArgument);
    return {};
  });
  ASSERT_TRUE(st) << st.error().describe();
  std::uint64_t h = 1469598103934665603ull;
  for (std::byte x : copy) h = (h ^ static_cast<std::uint8_t>(x)) * 1099511628211ull;
  EXPECT_EQ(h, before.hash);
  // The actors resumed and the stamp sent during the cut ran after it.
  const DigestIs after = digest_of(*blob);
  EXPECT_EQ(after.stamp, 0xDEADBEEFu);
  EXPECT_EQ(after.uniform, 1u);

  // A consumer error is returned and the actors still resume.
  auto failing = rt.snapshot_streamed(cat, 1024, [](rk::SystemSnapshot&, rk::StateReader&) -> rk::Status {
    return rk::make_error(rk::ErrorCode::Internal, "storage full");
  });
  ASSERT_FALSE(failing);
  EXPECT_EQ(failing.error().code(), rk::ErrorCode::Internal);
  EXPECT_EQ(get_sum(*counter).total, 5u);

  // Restore with a prepared state (what the streaming decoder builds): taken over, not copied.
  auto snap = rt.snapshot(cat);
  ASSERT_TRUE(snap) << snap.error().describe();
  rk::ActorSnapshot& b = snap->actors[0];
  ASSERT_EQ(b.state_bytes.size(), Blob::kBytes);
  const rk::ActorCodec* codec = cat.find(b.type_key);
  ASSERT_NE(codec, nullptr);
  EXPECT_EQ(codec->raw_size, sizeof(Blob));
  EXPECT_EQ(cat.find(typeid(Journal).name())->raw_size, 0u);
  rk::ActorType t = codec->make_type(b.name);
  void* obj = t.create();
  std::memcpy(obj, b.state_bytes.data(), Blob::kBytes);
  b.prepared = std::make_shared<rk::PreparedState>(b.type_key, obj, t.destroy, sizeof(Blob));
  b.state_bytes.clear();
  auto rt2 = make_runtime();
  ASSERT_TRUE(rt2.restore_snapshot(*snap, cat));
  EXPECT_EQ(b.prepared->get(), nullptr);  // taken over
  auto blob2 = rt2.find("blob");
  ASSERT_TRUE(blob2);
  EXPECT_EQ(digest_of(*blob2).hash, after.hash);
  // The same snapshot again: its prepared state is gone, so the restore is refused before launching anything.
  auto rt3 = make_runtime();
  auto again = rt3.restore_snapshot(*snap, cat);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_TRUE(rt3.actors().empty());
}
