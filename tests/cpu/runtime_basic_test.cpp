// End-to-end basics of the runtime on the CPU backend: building, launching, sending, receiving, calls.
#include <stdexcept>

#include "test_actors.hpp"

namespace rkt {
namespace {

TEST(RuntimeBuild, DefaultsBuildACpuRuntime) {
  auto rt = Runtime::builder().workers(2).build();
  ASSERT_TRUE(rt.ok()) << rt.error().describe();
  EXPECT_EQ(rt->backend(), Backend::Cpu);
  EXPECT_EQ(rt->workers(), 2u);
  EXPECT_TRUE(rt->running());
}

TEST(RuntimeBuild, UnavailableBackendIsNamed) {
  // Metal is never compiled in: the error names it.
  EXPECT_FALSE(backend_available(Backend::Metal));
  auto mt = Runtime::builder().backend(Backend::Metal).build();
  ASSERT_FALSE(mt.ok());
  EXPECT_EQ(mt.error().code(), ErrorCode::BackendUnavailable);
  EXPECT_NE(mt.error().message().find("metal"), std::string::npos) << mt.error().describe();
}

TEST(RuntimeBuild, CudaBackendEitherBuildsOrSaysWhyNot) {
  // Whether CUDA works depends on the build (nvcc found) and on the machine (a usable GPU).
  auto rt = Runtime::builder().workers(1).backend(Backend::Cuda).build();
  if (rt.ok()) {
    EXPECT_EQ(rt->backend(), Backend::Cuda);
    EXPECT_TRUE(backend_available(Backend::Cuda));
    return;
  }
  EXPECT_EQ(rt.error().code(), ErrorCode::BackendUnavailable) << rt.error().describe();
  EXPECT_FALSE(rt.error().message().empty());
#if !defined(RINGKERNEL_HAS_CUDA)
  // Not compiled in: the error names the backend.
  EXPECT_NE(rt.error().message().find("cuda"), std::string::npos) << rt.error().describe();
  EXPECT_FALSE(backend_available(Backend::Cuda));
#endif
}

TEST(RuntimeBuild, BadConfigValuesAreRejected) {
  auto a = Runtime::builder().max_actors(0).build();
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), ErrorCode::InvalidArgument);
  auto b = Runtime::builder().workers(1000).build();
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::InvalidArgument);
  RuntimeConfig cfg;
  cfg.drain_budget = 0;
  auto c = Runtime::builder().config(cfg).build();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::InvalidArgument);
}

TEST(RuntimeBuild, ParseBackendNames) {
  EXPECT_EQ(*parse_backend("cpu"), Backend::Cpu);
  EXPECT_EQ(*parse_backend("webgpu"), Backend::WebGpu);
  auto bad = parse_backend("tpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(backend_available(Backend::Cpu));
}

TEST(Launch, MalformedNamesAreRejected) {
  auto rt = make_runtime();
  for (const char* bad : {"", "has space", "a//b", "/lead", "trail/", "bang!"}) {
    auto h = rt.launch<Counter>(bad);
    ASSERT_FALSE(h.ok()) << "'" << bad << "' accepted";
    EXPECT_EQ(h.error().code(), ErrorCode::NameInvalid) << bad;
  }
  EXPECT_EQ(rt.metrics().actors_launched, 0u);
}

TEST(Launch, DuplicateNameIsTakenAndFreedAfterTermination) {
  auto rt = make_runtime();
  auto a = rt.launch<Counter>("svc/counter");
  ASSERT_TRUE(a.ok());
  auto b = rt.launch<Counter>("svc/counter");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::NameTaken);
  ASSERT_TRUE(a->terminate().ok());
  ASSERT_TRUE(a->wait_for(ActorState::Terminated, kLong).ok());
  auto c = rt.launch<Counter>("svc/counter");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_NE(c->id(), a->id());
}

TEST(Launch, BadCapacitiesAreRejected) {
  auto rt = make_runtime();
  LaunchOptions o;
  o.mailbox_capacity = 3;
  EXPECT_EQ(rt.launch<Counter>("a", o).error().code(), ErrorCode::InvalidArgument);
  o = {};
  o.mailbox_capacity = 0;
  EXPECT_EQ(rt.launch<Counter>("b", o).error().code(), ErrorCode::InvalidArgument);
  o = {};
  o.slot_size = 100;
  EXPECT_EQ(rt.launch<Counter>("c", o).error().code(), ErrorCode::InvalidArgument);
  o = {};
  o.outbox_capacity = 6;
  EXPECT_EQ(rt.launch<Counter>("d", o).error().code(), ErrorCode::InvalidArgument);
  o = {};
  o.backpressure.low_water = 0.9;
  o.backpressure.high_water = 0.5;
  EXPECT_EQ(rt.launch<Counter>("e", o).error().code(), ErrorCode::InvalidArgument);
  o = {};
  o.backpressure.high_water = 0.0;
  EXPECT_EQ(rt.launch<Counter>("f", o).error().code(), ErrorCode::InvalidArgument);
  // None of the refused names stayed bound.
  EXPECT_TRUE(rt.launch<Counter>("a").ok());
}

TEST(Launch, MessageLargerThanSlotIsRefusedAtLaunch) {
  auto rt = make_runtime();
  auto h = rt.launch<BigActor>("big");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code(), ErrorCode::MessageTooLarge);
  EXPECT_NE(h.error().message().find("512"), std::string::npos) << h.error().describe();
  LaunchOptions o;
  o.slot_size = 640;  // 64 header + 512 payload fits
  auto ok = rt.launch<BigActor>("big", o);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
}

TEST(Launch, MaxActorsIsEnforced) {
  RuntimeConfig cfg;
  cfg.max_actors = 2;
  auto rt = make_runtime(1, cfg);
  ASSERT_TRUE(rt.launch<Counter>("one").ok());
  ASSERT_TRUE(rt.launch<Counter>("two").ok());
  auto three = rt.launch<Counter>("three");
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.error().code(), ErrorCode::InvalidArgument);
}

// Ids are not reused yet (docs/ARCHITECTURE.md, "Terminated actors are kept"): max_actors bounds the launches of
// a runtime's life, and the refusal says so instead of failing somewhere else.
TEST(Launch, TerminatedActorsStillCountTowardMaxActors) {
  RuntimeConfig cfg;
  cfg.max_actors = 2;
  auto rt = make_runtime(1, cfg);
  for (const char* name : {"one", "two"}) {
    auto h = rt.launch<Counter>(name);
    ASSERT_TRUE(h.ok()) << h.error().describe();
    ASSERT_TRUE(h->terminate().ok());
    ASSERT_TRUE(h->wait_for(ActorState::Terminated, kLong).ok());
  }
  auto three = rt.launch<Counter>("three");
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.error().code(), ErrorCode::InvalidArgument);
  EXPECT_NE(three.error().describe().find("max_actors = 2"), std::string::npos) << three.error().describe();
}

TEST(Messaging, SendAndReceiveFromTheActor) {
  auto rt = make_runtime();
  auto h = rt.launch<Echo>("echo");
  ASSERT_TRUE(h.ok());
  auto empty = h->try_receive();
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ErrorCode::QueueEmpty);
  ASSERT_TRUE(h->send(Ping{42}).ok());
  auto env = h->receive(kLong);
  ASSERT_TRUE(env.ok()) << env.error().describe();
  auto pong = env->as<Pong>();
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(pong->v, 42u);
  EXPECT_EQ(env->header.source, h->id());
  EXPECT_EQ(env->header.destination, kHostActor);
}

TEST(Messaging, ReceiveTimesOutWhenNothingArrives) {
  auto rt = make_runtime();
  auto h = rt.launch<Echo>("echo");
  ASSERT_TRUE(h.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = h->receive(std::chrono::milliseconds(30));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Timeout);
  EXPECT_GE(elapsed, std::chrono::milliseconds(30));
  EXPECT_LT(elapsed, std::chrono::milliseconds(3000));
}

TEST(Messaging, ReceiveManyReturnsEverythingInOrder) {
  auto rt = make_runtime();
  auto h = rt.launch<Echo>("echo");
  ASSERT_TRUE(h.ok());
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(h->send(Ping{i}).ok());
  // The call is handled after the five pings (FIFO), so their Pongs are in the outbox when it returns.
  auto seen = h->call<Sum>(Get{}, kLong);
  ASSERT_TRUE(seen.ok()) << seen.error().describe();
  EXPECT_EQ(seen->total, 5u);
  auto got = h->receive_many(10);
  ASSERT_EQ(got.size(), 5u);
  for (std::uint64_t i = 0; i < 5; ++i) EXPECT_EQ(got[i].as<Pong>()->v, i);
  EXPECT_TRUE(h->receive_many(10).empty());
  EXPECT_TRUE(h->receive_many(0).empty());
}

TEST(Messaging, ReceiveEachVisitsInPlaceInOrderAndRespectsMax) {
  auto rt = make_runtime();
  auto h = rt.launch<Echo>("echo");
  ASSERT_TRUE(h.ok());
  for (std::uint64_t i = 0; i < 7; ++i) ASSERT_TRUE(h->send(Ping{i}).ok());
  ASSERT_TRUE(h->call<Sum>(Get{}, kLong).ok());  // FIFO: the seven Pongs are queued once this returns
  std::vector<std::uint64_t> seen;
  auto visit = [&](const MessageHeader& hdr, std::span<const std::byte> payload) {
    ASSERT_EQ(hdr.type_id, Pong::type_id);
    ASSERT_EQ(payload.size(), sizeof(Pong));
    Pong p{};
    std::memcpy(&p, payload.data(), sizeof(p));
    seen.push_back(p.v);
  };
  EXPECT_EQ(h->receive_each(4, visit), 4u);
  EXPECT_EQ(h->receive_each(100, visit), 3u);
  EXPECT_EQ(h->receive_each(100, visit), 0u);
  EXPECT_EQ(h->receive_each(0, visit), 0u);
  ASSERT_EQ(seen.size(), 7u);
  for (std::uint64_t i = 0; i < 7; ++i) EXPECT_EQ(seen[i], i);
}

TEST(Messaging, ReceiveEachLeavesTheMessageItsVisitorThrewOnQueued) {
  auto rt = make_runtime();
  auto h = rt.launch<Echo>("echo");
  ASSERT_TRUE(h.ok());
  for (std::uint64_t i = 0; i < 6; ++i) ASSERT_TRUE(h->send(Ping{i}).ok());
  ASSERT_TRUE(h->call<Sum>(Get{}, kLong).ok());  // FIFO: the six Pongs are queued once this returns
  std::vector<std::uint64_t> seen;
  bool thrown = false;
  auto visit = [&](const MessageHeader&, std::span<const std::byte> payload) {
    Pong p{};
    std::memcpy(&p, payload.data(), sizeof(p));
    if (p.v == 2 && !thrown) {
      thrown = true;
      throw std::runtime_error("visitor failed");
    }
    seen.push_back(p.v);
  };
  EXPECT_THROW((void)h->receive_each(100, visit), std::runtime_error);
  ASSERT_EQ(seen.size(), 2u);  // 0 and 1 were consumed; 2 and later stay queued
  EXPECT_EQ(h->receive_each(100, visit), 4u);
  ASSERT_EQ(seen.size(), 6u);
  for (std::uint64_t i = 0; i < 6; ++i) EXPECT_EQ(seen[i], i);
}

TEST(Messaging, ReceivingFromTheSameActorInsideItsVisitorIsRefusedNotDeadlocked) {
  auto rt = make_runtime();
  auto h = rt.launch<Echo>("echo");
  auto other = rt.launch<Echo>("other");
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(other.ok());
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(h->send(Ping{i}).ok());
  ASSERT_TRUE(other->send(Ping{7}).ok());
  ASSERT_TRUE(h->call<Sum>(Get{}, kLong).ok());  // FIFO: the Pongs are queued once these return
  ASSERT_TRUE(other->call<Sum>(Get{}, kLong).ok());
  std::vector<std::uint64_t> seen;
  std::size_t inner_each = 99, inner_many = 99, from_other = 0;
  bool refused = false, blocking_refused = false, called = false, nested_refused = false;
  const std::size_t n = h->receive_each(100, [&](const MessageHeader&, std::span<const std::byte> payload) {
    Pong p{};
    std::memcpy(&p, payload.data(), sizeof(p));
    seen.push_back(p.v);
    if (seen.size() != 1) return;
    inner_each = h->receive_each(100, [](const MessageHeader&, std::span<const std::byte>) {});
    inner_many = h->receive_many(100).size();
    auto r = h->try_receive();
    refused = !r && r.error().code() == ErrorCode::InvalidArgument;
    auto b = h->receive(std::chrono::milliseconds(50));
    blocking_refused = !b && b.error().code() == ErrorCode::InvalidArgument;
    // Another actor's queue, a send and a call to this one are fine from here. Inside that actor's visitor,
    // this one's queue is still held: refused there too (nested visitors).
    from_other = other->receive_each(100, [&](const MessageHeader&, std::span<const std::byte>) {
      auto nested = h->try_receive();
      nested_refused = !nested && nested.error().code() == ErrorCode::InvalidArgument;
    });
    called = h->call<Sum>(Get{}, kLong).ok();
  });
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(inner_each, 0u);
  EXPECT_EQ(inner_many, 0u);
  EXPECT_TRUE(refused);
  EXPECT_TRUE(blocking_refused);
  EXPECT_EQ(from_other, 1u);
  EXPECT_TRUE(nested_refused) << "a receive from the outer visitor's actor inside a nested visitor";
  EXPECT_TRUE(called);
}

TEST(Calls, TypedReplyCarriesTheState) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("counter");
  ASSERT_TRUE(h.ok());
  for (std::uint64_t i = 1; i <= 10; ++i) {
    auto r = h->call<Sum>(Add{i}, kLong);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->total, i * (i + 1) / 2);
  }
  EXPECT_EQ(rt.metrics().calls, 10u);
  EXPECT_GT(rt.metrics().call_p50_ns, 0u);
  // `processed` is counted when the handler returns, just after its reply left.
  EXPECT_TRUE(eventually([&] { return h->metrics()->processed == 10u; }));
}

TEST(Calls, WrongReplyTypeIsAnError) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("counter");
  ASSERT_TRUE(h.ok());
  auto r = h->call<Pong>(Add{1}, kLong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::UnknownMessageType);
  // The message was still handled.
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, 1u);
}

TEST(Calls, TimeoutThenLateReplyIsDeadLetteredAsExpired) {
  auto rt = make_runtime();
  auto gate = std::make_shared<Gate>();
  auto h = rt.launch<Counter>("slow", {}, std::shared_ptr<Hooks>(), gate);
  ASSERT_TRUE(h.ok());
  auto r = h->call<Sum>(Hold{7}, std::chrono::milliseconds(50));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Timeout);
  EXPECT_EQ(rt.metrics().call_timeouts, 1u);
  gate->open = true;
  ASSERT_TRUE(eventually([&] { return letters(rt, DeadLetterReason::Expired).size() == 1; }));
  auto late = letters(rt, DeadLetterReason::Expired).front();
  EXPECT_EQ(late.envelope.as<Sum>()->total, 7u);
  EXPECT_EQ(late.envelope.header.source, h->id());
  // The runtime keeps working afterwards; the late reply did not land in the receive queue.
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, 7u);
  EXPECT_FALSE(h->try_receive().ok());
}

// Each thread's calls reuse one pending-call record; concurrent callers must still each get the reply to their
// own request. Thread t adds 1 << 16t, so the reply to its k-th call carries exactly k in its 16-bit field.
TEST(Calls, ConcurrentCallersEachGetTheirOwnReplies) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("counter");
  ASSERT_TRUE(h.ok());
  constexpr int kThreads = 4;
  constexpr std::uint64_t kCalls = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (std::uint64_t k = 1; k <= kCalls; ++k) {
        auto r = h->call<Sum>(Add{std::uint64_t{1} << (16 * t)}, kLong);
        if (!r.ok() || ((r->total >> (16 * t)) & 0xFFFF) != k) wrong.fetch_add(1);
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(rt.metrics().calls, kThreads * kCalls);
}

// The thread's reused call record goes through every way a call can end - refused send, timeout with a late
// reply, shutdown while calls are in flight - and the next call, on the same or a new runtime, still gets
// exactly its own reply.
TEST(Calls, EveryWayACallEndsLeavesTheNextCallItsOwnReply) {
  {
    auto rt = make_runtime();
    auto gone = rt.launch<Counter>("gone");
    ASSERT_TRUE(gone.ok());
    ASSERT_TRUE(gone->terminate().ok());
    auto refused = gone->call<Sum>(Add{1}, kLong);
    ASSERT_FALSE(refused.ok());
    auto gate = std::make_shared<Gate>();
    auto slow = rt.launch<Counter>("slow", {}, std::shared_ptr<Hooks>(), gate);
    ASSERT_TRUE(slow.ok());
    auto timed_out = slow->call<Sum>(Hold{5}, std::chrono::milliseconds(30));
    ASSERT_FALSE(timed_out.ok());
    EXPECT_EQ(timed_out.error().code(), ErrorCode::Timeout);
    auto h = rt.launch<Counter>("counter");
    ASSERT_TRUE(h.ok());
    gate->open = true;  // the late reply is dead-lettered while the next calls run
    for (std::uint64_t i = 1; i <= 50; ++i) {
      auto r = h->call<Sum>(Add{1}, kLong);
      ASSERT_TRUE(r.ok()) << r.error().describe();
      EXPECT_EQ(r->total, i);
    }
    EXPECT_TRUE(eventually([&] { return letters(rt, DeadLetterReason::Expired).size() == 1; }));
  }
  // Callers on several threads while the runtime shuts down: each call either has its own reply or an error.
  constexpr int kThreads = 3;
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  std::atomic<bool> stop{false};  // outlives the runtime's scope: the callers read it until they are joined
  {
    auto rt = make_runtime();
    auto h = rt.launch<Counter>("counter");
    ASSERT_TRUE(h.ok());
    for (int t = 0; t < kThreads; ++t) {
      callers.emplace_back([&, t, handle = *h]() mutable {
        for (std::uint64_t k = 1; !stop.load(); ++k) {
          auto r = handle.call<Sum>(Add{std::uint64_t{1} << (16 * t)}, std::chrono::milliseconds(200));
          if (!r.ok()) break;
          if (((r->total >> (16 * t)) & 0xFFFF) != (k & 0xFFFF)) wrong.fetch_add(1);
        }
        // The same thread's record, on a new runtime.
        auto fresh = make_runtime();
        auto c = fresh.launch<Counter>("after");
        for (std::uint64_t k = 1; c.ok() && k <= 20; ++k) {
          auto r = c->call<Sum>(Add{1}, kLong);
          if (!r.ok() || r->total != k) wrong.fetch_add(1);
        }
        if (!c.ok()) wrong.fetch_add(1);
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(rt.shutdown().ok());
    stop = true;
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Calls, HandlerThatNeverRepliesTimesOut) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("silent");
  ASSERT_TRUE(h.ok());
  auto r = h->call<Sum>(Inc{1}, std::chrono::milliseconds(40));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Timeout);
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, 1u);
}

TEST(Messaging, SendManyCountsAcceptedMessages) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("counter");
  ASSERT_TRUE(h.ok());
  std::vector<Inc> batch;
  std::uint64_t expect = 0;
  for (std::uint64_t i = 1; i <= 300; ++i) {
    batch.push_back(Inc{i});
    expect += i;
  }
  auto n = h->send_many(std::span<const Inc>(batch));
  ASSERT_TRUE(n.ok()) << n.error().describe();
  EXPECT_EQ(*n, 300u);
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, expect);
  EXPECT_EQ(h->metrics()->received, 301u);

  // A deactivated actor with a Reject mailbox of 16 accepts exactly 16.
  LaunchOptions o;
  o.mailbox_capacity = 16;
  o.auto_activate = false;
  o.backpressure.policy = OverflowPolicy::Reject;
  auto small = rt.launch<Counter>("small", o);
  ASSERT_TRUE(small.ok());
  auto m = small->send_many(std::span<const Inc>(batch.data(), 20));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, 16u);
  auto none = small->send_many(std::span<const Inc>(batch.data(), 4));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::QueueFull);
  ASSERT_TRUE(small->activate().ok());
  ASSERT_TRUE(eventually([&] { return small->metrics()->processed == 16; }));
  auto total = small->call<Sum>(Get{}, kLong);
  ASSERT_TRUE(total.ok()) << total.error().describe();
  EXPECT_EQ(total->total, 136u);  // 1 + ... + 16
}

TEST(Messaging, UnknownMessageTypeIsDeadLetteredAndFailsACallPromptly) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("counter");
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Unknown{5}).ok());
  ASSERT_TRUE(eventually([&] { return letters(rt, DeadLetterReason::UnknownMessageType).size() == 1; }));
  EXPECT_EQ(letters(rt, DeadLetterReason::UnknownMessageType)[0].envelope.as<Unknown>()->v, 5u);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = h->call<Sum>(Unknown{6}, kLong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::UnknownMessageType);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2000));
  EXPECT_EQ(letters(rt, DeadLetterReason::UnknownMessageType).size(), 2u);
  // An unknown type is not a failure: no restart.
  EXPECT_EQ(h->metrics()->restarts, 0u);
  EXPECT_EQ(h->status()->state, ActorState::Active);
}

TEST(Messaging, FindByNameAndHandleById) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("svc/a");
  ASSERT_TRUE(h.ok());
  auto f = rt.find("svc/a");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->id(), h->id());
  EXPECT_EQ(f->name(), "svc/a");
  ASSERT_TRUE(f->send(Inc{3}).ok());
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, 3u);
  EXPECT_FALSE(rt.find("svc/b").ok());
  auto byid = rt.handle(h->id());
  ASSERT_TRUE(byid.ok());
  EXPECT_EQ(byid->name(), "svc/a");
  auto bad = rt.handle(9999);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::ActorNotFound);
  EXPECT_EQ(rt.handle(kHostActor).error().code(), ErrorCode::ActorNotFound);
}

TEST(Messaging, HandleToUnknownIdReportsActorNotFound) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c");
  ASSERT_TRUE(h.ok());
  ActorHandle ghost(nullptr, 77);
  auto s = ghost.send(Inc{1});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ghost.try_receive().error().code(), ErrorCode::ActorNotFound);
  EXPECT_EQ(ghost.status().error().code(), ErrorCode::ActorNotFound);
  EXPECT_EQ(ghost.credits(), 0u);
  EXPECT_EQ(ghost.activate().error().code(), ErrorCode::ActorNotFound);
}

TEST(Messaging, MetricsCountSendsAndProcessing) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c");
  ASSERT_TRUE(h.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(h->send(Inc{1}).ok());
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, 20u);
  ASSERT_TRUE(eventually([&] { return h->metrics()->processed == 21u; }));
  auto m = h->metrics();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->received, 21u);
  EXPECT_EQ(m->processed, 21u);
  EXPECT_EQ(m->sent, 1u);
  EXPECT_EQ(m->queue_depth, 0u);
  EXPECT_EQ(m->queue_capacity, 1024u);
  auto rm = rt.metrics();
  EXPECT_EQ(rm.actors_live, 1u);
  EXPECT_EQ(rm.actors_launched, 1u);
  EXPECT_EQ(rm.messages_sent, 21u);
  EXPECT_EQ(rm.messages_processed, 21u);
  auto all = rt.actors();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "c");
  EXPECT_EQ(all[0].type_name, "c");
}

}  // namespace
}  // namespace rkt
