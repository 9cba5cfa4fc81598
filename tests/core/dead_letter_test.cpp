#include "ringkernel/dead_letter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace rk = ringkernel;
using rk::DeadLetter;
using rk::DeadLetterQueue;
using rk::DeadLetterReason;
using rk::Envelope;
using rk::ErrorCode;

namespace {

struct Payload {
  static constexpr auto type_id = rk::message_type("test.DeadPayload");
  std::uint64_t value;
};

Envelope env(std::uint64_t v, rk::ActorId dst = 1) { return Envelope::of(Payload{v}, rk::kHostActor, dst); }

std::uint64_t value_of(const Envelope& e) {
  auto p = e.as<Payload>();
  EXPECT_TRUE(p.ok());
  return p.ok() ? p->value : ~std::uint64_t{0};
}

std::vector<std::uint64_t> values(const std::vector<DeadLetter>& letters) {
  std::vector<std::uint64_t> out;
  for (const auto& l : letters) out.push_back(value_of(l.envelope));
  return out;
}

// Injected clock: PhysicalClockFn is a plain function pointer, so it reads a global.
std::atomic<std::uint64_t> g_now{1'000'000};
std::uint64_t fake_clock() noexcept { return g_now.load(); }

rk::Status refuse(const Envelope&) { return rk::make_error(ErrorCode::QueueFull, "still full", "test"); }

} // namespace

TEST(DeadLetterReason, NamesAreDistinctAndStable) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < rk::kDeadLetterReasonCount; ++i) {
    const auto name = rk::to_string(static_cast<DeadLetterReason>(i));
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown_reason");
    names.emplace(name);
  }
  EXPECT_EQ(names.size(), rk::kDeadLetterReasonCount);
  EXPECT_EQ(rk::to_string(DeadLetterReason::QueueFull), "queue_full");
  EXPECT_EQ(rk::to_string(DeadLetterReason::RetriesExhausted), "retries_exhausted");
  EXPECT_EQ(rk::to_string(DeadLetterReason::TooLarge), "too_large");
}

TEST(DeadLetterQueue, PushRecordsEverything) {
  g_now = 5000;
  DeadLetterQueue q(4, 3, 0, &fake_clock);
  q.push(env(10, 42), DeadLetterReason::ActorNotFound, "no actor 42");
  g_now = 5007;
  q.push(env(11), DeadLetterReason::QueueFull);
  auto all = q.snapshot();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].envelope.header.destination, 42u);
  EXPECT_EQ(value_of(all[0].envelope), 10u);
  EXPECT_EQ(all[0].reason, DeadLetterReason::ActorNotFound);
  EXPECT_EQ(all[0].detail, "no actor 42");
  EXPECT_EQ(all[0].at_ms, 5000u);
  EXPECT_EQ(all[0].retries, 0u);
  EXPECT_EQ(all[1].at_ms, 5007u);
  EXPECT_LT(all[0].seq, all[1].seq);
  EXPECT_EQ(q.size(), 2u);
}

TEST(DeadLetterQueue, EvictsOldestWhenFull) {
  DeadLetterQueue q(3);
  for (std::uint64_t i = 0; i < 5; ++i) q.push(env(i), DeadLetterReason::HandlerFailed);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(values(q.snapshot()), (std::vector<std::uint64_t>{2, 3, 4}));
  const auto s = q.stats();
  EXPECT_EQ(s.pushed, 5u);
  EXPECT_EQ(s.evicted, 2u);
}

TEST(DeadLetterQueue, ZeroCapacityClampsToOne) {
  DeadLetterQueue q(0);
  EXPECT_EQ(q.capacity(), 1u);
  q.push(env(1), DeadLetterReason::Shutdown);
  q.push(env(2), DeadLetterReason::Shutdown);
  EXPECT_EQ(values(q.snapshot()), (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(q.stats().evicted, 1u);
}

TEST(DeadLetterQueue, SnapshotFilter) {
  DeadLetterQueue q(10);
  q.push(env(1, 7), DeadLetterReason::QueueFull);
  q.push(env(2, 8), DeadLetterReason::HandlerFailed);
  q.push(env(3, 7), DeadLetterReason::HandlerFailed);
  auto to7 = q.snapshot([](const DeadLetter& l) { return l.envelope.header.destination == 7; });
  EXPECT_EQ(values(to7), (std::vector<std::uint64_t>{1, 3}));
  auto failed = q.snapshot([](const DeadLetter& l) { return l.reason == DeadLetterReason::HandlerFailed; });
  EXPECT_EQ(values(failed), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_TRUE(q.snapshot([](const DeadLetter&) { return false; }).empty());
  // A filter may call back into the queue (it runs without the lock).
  auto reentrant = q.snapshot([&](const DeadLetter&) { return q.size() == 3; });
  EXPECT_EQ(reentrant.size(), 3u);
  EXPECT_EQ(q.size(), 3u);  // Snapshots do not remove.
}

TEST(DeadLetterQueue, ReplaySuccessRemovesMatchingOnly) {
  DeadLetterQueue q(10);
  for (std::uint64_t i = 0; i < 6; ++i) q.push(env(i, i % 2 == 0 ? 1 : 2), DeadLetterReason::ActorTerminated);
  std::vector<std::uint64_t> resent;
  auto rep = q.replay([](const DeadLetter& l) { return l.envelope.header.destination == 1; },
                      [&](const Envelope& e) -> rk::Status {
                        resent.push_back(value_of(e));
                        return {};
                      });
  EXPECT_EQ(rep.replayed, 3u);
  EXPECT_EQ(rep.failed, 0u);
  EXPECT_EQ(rep.exhausted, 0u);
  EXPECT_EQ(resent, (std::vector<std::uint64_t>{0, 2, 4}));  // Oldest first.
  EXPECT_EQ(values(q.snapshot()), (std::vector<std::uint64_t>{1, 3, 5}));
  EXPECT_EQ(q.stats().replayed, 3u);
}

TEST(DeadLetterQueue, ReplayFailureRequeuesWithRetryCount) {
  DeadLetterQueue q(10, 3);
  q.push(env(1), DeadLetterReason::QueueFull);
  q.push(env(2), DeadLetterReason::QueueFull);
  const auto before = q.snapshot();
  auto rep = q.replay([](const DeadLetter& l) { return value_of(l.envelope) == 1; }, &refuse);
  EXPECT_EQ(rep.replayed, 0u);
  EXPECT_EQ(rep.failed, 1u);
  EXPECT_EQ(rep.exhausted, 0u);
  const auto after = q.snapshot();
  ASSERT_EQ(after.size(), 2u);
  // The failed letter went to the back, keeping its identity, reason and timestamp.
  EXPECT_EQ(value_of(after[1].envelope), 1u);
  EXPECT_EQ(after[1].retries, 1u);
  EXPECT_EQ(after[1].seq, before[0].seq);
  EXPECT_EQ(after[1].at_ms, before[0].at_ms);
  EXPECT_EQ(after[1].reason, DeadLetterReason::QueueFull);
  EXPECT_EQ(after[0].retries, 0u);
}

TEST(DeadLetterQueue, ReplayExhaustsAfterMaxRetries) {
  DeadLetterQueue q(10, 2);
  q.push(env(1), DeadLetterReason::QueueFull);
  // Two failures are survived (retries 0 -> 1 -> 2); the third drops it.
  for (int round = 0; round < 2; ++round) {
    auto rep = q.replay({}, &refuse);
    EXPECT_EQ(rep.failed, 1u) << round;
    EXPECT_EQ(rep.exhausted, 0u) << round;
  }
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q.snapshot()[0].retries, 2u);
  auto last = q.replay({}, &refuse);
  EXPECT_EQ(last.failed, 0u);
  EXPECT_EQ(last.exhausted, 1u);
  EXPECT_EQ(q.size(), 0u);
  const auto s = q.stats();
  EXPECT_EQ(s.exhausted, 1u);
  EXPECT_EQ(s.count(DeadLetterReason::RetriesExhausted), 1u);
  EXPECT_EQ(s.count(DeadLetterReason::QueueFull), 1u);
}

TEST(DeadLetterQueue, ZeroMaxRetriesDropsOnFirstFailure) {
  DeadLetterQueue q(4, 0);
  q.push(env(1), DeadLetterReason::HandlerFailed);
  auto rep = q.replay({}, &refuse);
  EXPECT_EQ(rep.exhausted, 1u);
  EXPECT_EQ(q.size(), 0u);
}

TEST(DeadLetterQueue, ReplayMixedOutcomesAndReentrantResend) {
  DeadLetterQueue q(10, 5);
  for (std::uint64_t i = 1; i <= 4; ++i) q.push(env(i), DeadLetterReason::ActorNotFound);
  // Odd values fail; the resend also pushes a fresh letter (re-entry: it runs outside the lock).
  auto rep = q.replay({}, [&](const Envelope& e) -> rk::Status {
    if (value_of(e) % 2 == 1) return rk::make_error(ErrorCode::ActorNotFound, "still missing", "test");
    q.push(env(100 + value_of(e)), DeadLetterReason::UnknownMessageType);
    return {};
  });
  EXPECT_EQ(rep.replayed, 2u);
  EXPECT_EQ(rep.failed, 2u);
  EXPECT_EQ(rep.exhausted, 0u);
  EXPECT_EQ(values(q.snapshot()), (std::vector<std::uint64_t>{1, 102, 3, 104}));
}

TEST(DeadLetterQueue, EmptyResendReplaysNothing) {
  DeadLetterQueue q(4);
  q.push(env(1), DeadLetterReason::Expired);
  auto rep = q.replay({}, DeadLetterQueue::ResendFn{});
  EXPECT_EQ(rep.replayed + rep.failed + rep.exhausted, 0u);
  EXPECT_EQ(q.size(), 1u);
}

TEST(DeadLetterQueue, ExpiryUsesInjectedClock) {
  g_now = 10'000;
  DeadLetterQueue q(10, 3, 100, &fake_clock);
  q.push(env(1), DeadLetterReason::QueueFull);
  g_now = 10'050;
  q.push(env(2), DeadLetterReason::QueueFull);
  g_now = 10'100;  // Letter 1 is exactly max_age old: not yet "older than".
  EXPECT_EQ(q.expire(), 0u);
  g_now = 10'101;
  EXPECT_EQ(q.expire(), 1u);
  EXPECT_EQ(values(q.snapshot()), (std::vector<std::uint64_t>{2}));
  g_now = 20'000;
  EXPECT_EQ(q.expire(), 1u);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.stats().expired, 2u);
}

TEST(DeadLetterQueue, NoExpiryWhenMaxAgeIsZero) {
  g_now = 1;
  DeadLetterQueue q(10, 3, 0, &fake_clock);
  q.push(env(1), DeadLetterReason::QueueFull);
  g_now = 1'000'000'000;
  EXPECT_EQ(q.expire(), 0u);
  EXPECT_EQ(q.size(), 1u);
}

TEST(DeadLetterQueue, PerReasonStats) {
  DeadLetterQueue q(2);  // Eviction must not change per-reason counts.
  q.push(env(1), DeadLetterReason::TenantViolation);
  q.push(env(2), DeadLetterReason::TenantViolation);
  q.push(env(3), DeadLetterReason::DroppedOldest);
  q.push(env(4), DeadLetterReason::Shutdown);
  const auto s = q.stats();
  EXPECT_EQ(s.count(DeadLetterReason::TenantViolation), 2u);
  EXPECT_EQ(s.count(DeadLetterReason::DroppedOldest), 1u);
  EXPECT_EQ(s.count(DeadLetterReason::Shutdown), 1u);
  EXPECT_EQ(s.count(DeadLetterReason::QueueFull), 0u);
  std::uint64_t sum = 0;
  for (auto c : s.by_reason) sum += c;
  EXPECT_EQ(sum, s.pushed + s.exhausted);
  EXPECT_EQ(s.evicted, 2u);
}

TEST(DeadLetterConcurrency, ParallelPushAndReplayCountExactly) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  constexpr std::size_t kCapacity = 64;
  DeadLetterQueue q(kCapacity, 1'000'000);
  std::atomic<std::uint64_t> resent{0};
  std::atomic<std::uint64_t> replayed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        q.push(env(static_cast<std::uint64_t>(i)), static_cast<DeadLetterReason>(t % rk::kDeadLetterReasonCount));
        if (i % 50 == 0) {
          auto rep = q.replay([](const DeadLetter& l) { return value_of(l.envelope) % 3 == 0; },
                              [&](const Envelope&) -> rk::Status {
                                resent.fetch_add(1);
                                return {};
                              });
          replayed.fetch_add(rep.replayed);
          EXPECT_EQ(rep.failed + rep.exhausted, 0u);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto s = q.stats();
  constexpr std::uint64_t kTotal = kThreads * kPerThread;
  EXPECT_EQ(s.pushed, kTotal);
  EXPECT_EQ(s.replayed, replayed.load());
  EXPECT_EQ(resent.load(), replayed.load());
  // Every letter is accounted for exactly once.
  EXPECT_EQ(s.pushed, s.evicted + s.replayed + q.size());
  EXPECT_LE(q.size(), kCapacity);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(s.count(static_cast<DeadLetterReason>(t % rk::kDeadLetterReasonCount)),
              static_cast<std::uint64_t>(kPerThread));
  }
  // Sequence numbers are unique.
  std::set<std::uint64_t> seqs;
  for (const auto& l : q.snapshot()) seqs.insert(l.seq);
  EXPECT_EQ(seqs.size(), q.size());
}
