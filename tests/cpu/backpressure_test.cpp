// Mailbox back-pressure on the CPU backend: every overflow policy, credits, and exact accounting under load.
#include "test_actors.hpp"

#include <map>
#include <set>

namespace rkt {
namespace {

LaunchOptions mailbox(std::uint32_t cap, OverflowPolicy p, bool active = false,
                      std::chrono::milliseconds block = std::chrono::milliseconds(1000)) {
  LaunchOptions o;
  o.mailbox_capacity = cap;
  o.auto_activate = active;
  o.backpressure.policy = p;
  o.backpressure.block_timeout = block;
  return o;
}

TEST(Backpressure, RejectReturnsQueueFull) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c", mailbox(8, OverflowPolicy::Reject));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->credits(), 8u);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(h->send(Inc{1}).ok());
  EXPECT_EQ(h->credits(), 0u);
  auto r = h->send(Inc{1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::QueueFull);
  EXPECT_EQ(h->metrics()->rejected, 1u);
  EXPECT_EQ(rt.dead_letters().size(), 0u);  // a host send that fails is reported, not dead-lettered
  ASSERT_TRUE(h->activate().ok());
  ASSERT_TRUE(eventually([&] { return h->credits() == 8u; }));
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, 8u);
}

TEST(Backpressure, HighWaterMarkLimitsCredits) {
  auto rt = make_runtime();
  auto o = mailbox(16, OverflowPolicy::Reject);
  o.backpressure.high_water = 0.5;
  o.backpressure.low_water = 0.25;
  auto h = rt.launch<Counter>("c", o);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->credits(), 8u);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(h->send(Inc{1}).ok());
  EXPECT_EQ(h->send(Inc{1}).error().code(), ErrorCode::QueueFull);
  EXPECT_EQ(h->credits(), 0u);
}

TEST(Backpressure, BlockTimesOutWhenNobodyDrains) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c", mailbox(4, OverflowPolicy::Block, false, std::chrono::milliseconds(60)));
  ASSERT_TRUE(h.ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(h->send(Inc{1}).ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = h->send(Inc{1});
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::QueueFull);
  EXPECT_GE(waited, std::chrono::milliseconds(60));
  EXPECT_LT(waited, std::chrono::milliseconds(3000));
  EXPECT_EQ(h->metrics()->queue_depth, 4u);
}

TEST(Backpressure, BlockWaitsForTheConsumerAndSucceeds) {
  auto rt = make_runtime();
  auto gate = std::make_shared<Gate>();
  auto h = rt.launch<Counter>("c", mailbox(4, OverflowPolicy::Block, true, std::chrono::milliseconds(5000)),
                              std::shared_ptr<Hooks>(), gate);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Hold{1}).ok());
  ASSERT_TRUE(eventually([&] { return gate->entered.load() == 1; }));
  // The message being handled keeps its slot until its batch is done: 3 more fill the mailbox.
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(h->send(Inc{10}).ok());
  EXPECT_EQ(h->credits(), 0u);
  std::atomic<int> code{-1};
  std::thread sender([&] {
    auto r = h->send(Inc{100});
    code = static_cast<int>(r.ok() ? ErrorCode::Ok : r.error().code());
  });
  gate->open = true;
  sender.join();
  EXPECT_EQ(code.load(), static_cast<int>(ErrorCode::Ok));
  auto t = h->call<Sum>(Get{}, kLong);
  ASSERT_TRUE(t.ok()) << t.error().describe();
  EXPECT_EQ(t->total, 131u);
}

TEST(Backpressure, BlockedSenderIsReleasedByTermination) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c", mailbox(2, OverflowPolicy::Block, false, std::chrono::milliseconds(5000)));
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Inc{1}).ok());
  ASSERT_TRUE(h->send(Inc{1}).ok());
  std::atomic<int> code{-1};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread sender([&] {
    auto r = h->send(Inc{1});
    code = static_cast<int>(r.ok() ? ErrorCode::Ok : r.error().code());
  });
  ASSERT_TRUE(h->terminate().ok());
  sender.join();
  EXPECT_EQ(code.load(), static_cast<int>(ErrorCode::ActorTerminated));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(4000));
}

TEST(Backpressure, DropOldestEvictsToTheDeadLetterQueue) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c", mailbox(4, OverflowPolicy::DropOldest));
  ASSERT_TRUE(h.ok());
  for (std::uint64_t i = 1; i <= 6; ++i) ASSERT_TRUE(h->send(Inc{i}).ok());
  auto evicted = letters(rt, DeadLetterReason::DroppedOldest);
  ASSERT_EQ(evicted.size(), 2u);
  EXPECT_EQ(evicted[0].envelope.as<Inc>()->v, 1u);
  EXPECT_EQ(evicted[1].envelope.as<Inc>()->v, 2u);
  EXPECT_EQ(h->metrics()->dropped, 2u);
  ASSERT_TRUE(h->activate().ok());
  ASSERT_TRUE(eventually([&] { return h->metrics()->processed == 4; }));
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, 3u + 4u + 5u + 6u);
}

TEST(Backpressure, DropToDeadLetterReturnsDropped) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c", mailbox(2, OverflowPolicy::DropToDeadLetter));
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Inc{1}).ok());
  ASSERT_TRUE(h->send(Inc{2}).ok());
  auto r = h->send(Inc{3});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Dropped);
  auto dl = letters(rt, DeadLetterReason::QueueFull);
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl[0].envelope.as<Inc>()->v, 3u);
  EXPECT_EQ(h->metrics()->dropped, 1u);
  ASSERT_TRUE(h->activate().ok());
  ASSERT_TRUE(eventually([&] { return h->metrics()->processed == 2; }));
  EXPECT_EQ(h->call<Sum>(Get{}, kLong)->total, 3u);
}

struct Burst {
  static constexpr auto type_id = message_type("t.Burst");
  ActorId target;
  std::uint32_t n;
};
/// Sends `n` Inc to `target` and reports how many were accepted / refused.
struct Burster {
  using messages = message_list<Burst>;
  void handle(auto& ctx, const Burst& m) {
    std::uint32_t ok = 0, refused = 0;
    for (std::uint32_t i = 0; i < m.n; ++i) {
      if (ctx.send(m.target, Inc{1})) ++ok;
      else ++refused;
    }
    ctx.reply(Outcome{ok, refused});
  }
};

TEST(Backpressure, ActorSendToAFullBlockingMailboxNeverBlocksTheWorker) {
  auto rt = make_runtime(1);  // one worker: a blocked worker could never recover
  auto sink = rt.launch<Counter>("sink", mailbox(4, OverflowPolicy::Block, false, std::chrono::milliseconds(5000)));
  auto b = rt.launch<Burster>("burst");
  ASSERT_TRUE(sink.ok() && b.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = b->call<Outcome>(Burst{sink->id(), 10}, kLong);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2000));
  EXPECT_EQ(r->code, 4u);
  EXPECT_EQ(r->extra, 6u);
  EXPECT_EQ(letters(rt, DeadLetterReason::QueueFull).size(), 6u);
  EXPECT_EQ(sink->metrics()->rejected, 6u);
}

TEST(Backpressure, NothingLostOrDuplicatedUnderAFullMailbox) {
  auto rt = make_runtime(2);
  auto log = std::make_shared<Log>();
  LaunchOptions o;
  o.mailbox_capacity = 8;
  o.backpressure.policy = OverflowPolicy::DropOldest;
  auto h = rt.launch<Recorder>("slow", o, log, std::uint32_t{20});
  ASSERT_TRUE(h.ok());
  const std::uint32_t n = static_cast<std::uint32_t>(scaled(2000));
  std::set<std::uint32_t> refused;
  for (std::uint32_t i = 0; i < n; ++i) {
    auto r = h->send(Seq{1, i});
    if (!r) {
      ASSERT_EQ(r.error().code(), ErrorCode::QueueFull) << r.error().describe();
      refused.insert(i);
    }
  }
  auto dropped = letters(rt, DeadLetterReason::DroppedOldest);
  ASSERT_TRUE(eventually([&] { return log->count.load() + dropped.size() + refused.size() == n; }));
  std::vector<int> seen(n, 0);
  for (auto& [s, i] : log->copy()) seen[i]++;
  for (auto& d : dropped) seen[d.envelope.as<Seq>()->n]++;
  for (auto i : refused) seen[i]++;
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_EQ(seen[i], 1) << "message " << i;
  EXPECT_GT(dropped.size(), 0u) << refused.size() << " refused, " << log->count.load() << " processed";
  // Processed messages keep their order.
  auto items = log->copy();
  for (std::size_t i = 1; i < items.size(); ++i) EXPECT_LT(items[i - 1].second, items[i].second);
}

TEST(Backpressure, NothingLostWithConcurrentHostProducersAndReject) {
  auto rt = make_runtime(2);
  auto log = std::make_shared<Log>();
  LaunchOptions o;
  o.mailbox_capacity = 16;
  o.backpressure.policy = OverflowPolicy::Reject;
  auto h = rt.launch<Recorder>("sink", o, log);
  ASSERT_TRUE(h.ok());
  const std::uint32_t per = static_cast<std::uint32_t>(scaled(2000));
  std::vector<std::thread> ts;
  for (std::uint32_t p = 1; p <= 3; ++p) {
    ts.emplace_back([&, p] {
      for (std::uint32_t i = 0; i < per; ++i) {
        while (!h->send(Seq{p, i})) std::this_thread::yield();
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE(eventually([&] { return log->count.load() == 3ull * per; }));
  std::map<std::uint32_t, std::uint32_t> next;
  for (auto& [s, i] : log->copy()) {
    EXPECT_EQ(i, next[s]) << "sender " << s;
    next[s] = i + 1;
  }
  EXPECT_EQ(rt.dead_letters().size(), 0u);
}

}  // namespace
}  // namespace rkt
