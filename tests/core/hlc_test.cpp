// Tests for ringkernel/hlc.hpp: packing, pure step functions, HlcClock, and causality properties.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include "ringkernel/hlc.hpp"

namespace rk = ringkernel;

namespace {

// Injectable physical clocks. PhysicalClockFn is a plain function pointer, so each fake clock reads its own
// global slot; the template parameter picks the slot (one per simulated node).
std::atomic<std::uint64_t> g_fake_ms[4];

template <int I>
std::uint64_t fake_clock() noexcept {
  return g_fake_ms[I].load(std::memory_order_relaxed);
}

void set_fake(int i, std::uint64_t ms) { g_fake_ms[i].store(ms, std::memory_order_relaxed); }

// A realistic epoch time (2024-01-01 in ms) keeps arithmetic far away from 48-bit limits.
constexpr std::uint64_t kEpoch2024Ms = 1'704'067'200'000ull;

// Generates packed timestamps whose physical part is a realistic ms value (< 2^48 - 2^20, leaving headroom
// so "current + 1" and "wall" never wrap the 64-bit word).
rc::Gen<std::uint64_t> gen_packed() {
  return rc::gen::map(rc::gen::pair(rc::gen::inRange<std::uint64_t>(0, rk::kHlcMaxPhysical - (1u << 20)),
                                    rc::gen::inRange<std::uint64_t>(0, rk::kHlcLogicalMask + 1)),
                      [](std::pair<std::uint64_t, std::uint64_t> p) { return rk::hlc_pack(p.first, p.second); });
}
rc::Gen<std::uint64_t> gen_physical() {
  return rc::gen::inRange<std::uint64_t>(0, rk::kHlcMaxPhysical - (1u << 20));
}

} // namespace

// ---------------------------------------------------------------------------------------------------------
// Packing
// ---------------------------------------------------------------------------------------------------------

static_assert(rk::hlc_pack(1, 0) == 0x10000);
static_assert(rk::hlc_physical(rk::hlc_pack(123456789, 42)) == 123456789);
static_assert(rk::hlc_logical(rk::hlc_pack(123456789, 42)) == 42);
static_assert(rk::kHlcLogicalMask == 0xFFFF);
static_assert(rk::kHlcMaxPhysical == 0xFFFF'FFFF'FFFFull);

TEST(HlcPackTest, RoundTripsAndMasksLogical) {
  EXPECT_EQ(rk::hlc_pack(0, 0), 0u);
  EXPECT_EQ(rk::hlc_pack(kEpoch2024Ms, 7), (kEpoch2024Ms << 16) | 7);
  EXPECT_EQ(rk::hlc_physical(rk::hlc_pack(rk::kHlcMaxPhysical, rk::kHlcLogicalMask)), rk::kHlcMaxPhysical);
  EXPECT_EQ(rk::hlc_logical(rk::hlc_pack(rk::kHlcMaxPhysical, rk::kHlcLogicalMask)), rk::kHlcLogicalMask);
  // The logical argument is masked to 16 bits instead of corrupting the physical part.
  EXPECT_EQ(rk::hlc_pack(5, 0x1'0003), rk::hlc_pack(5, 3));
  // Ordering of packed words is (physical, logical) lexicographic.
  EXPECT_LT(rk::hlc_pack(5, 0xFFFF), rk::hlc_pack(6, 0));
  EXPECT_LT(rk::hlc_pack(5, 1), rk::hlc_pack(5, 2));
}

RC_GTEST_PROP(HlcPackProp, RoundTrip, ()) {
  const auto phys = *rc::gen::inRange<std::uint64_t>(0, rk::kHlcMaxPhysical + 1);
  const auto logical = *rc::gen::inRange<std::uint64_t>(0, rk::kHlcLogicalMask + 1);
  const std::uint64_t p = rk::hlc_pack(phys, logical);
  RC_ASSERT(rk::hlc_physical(p) == phys);
  RC_ASSERT(rk::hlc_logical(p) == logical);
  const rk::HlcTimestamp ts{p, 3};
  RC_ASSERT(ts.physical() == phys);
  RC_ASSERT(ts.logical() == logical);
}

// ---------------------------------------------------------------------------------------------------------
// Pure step functions
// ---------------------------------------------------------------------------------------------------------

TEST(HlcStepTest, TickJumpsToWallTimeWhenAhead) {
  const std::uint64_t cur = rk::hlc_pack(100, 9);
  EXPECT_EQ(rk::hlc_next_tick(cur, 101), rk::hlc_pack(101, 0));
}

TEST(HlcStepTest, TickIncrementsLogicalWhenWallIsNotAhead) {
  EXPECT_EQ(rk::hlc_next_tick(rk::hlc_pack(100, 9), 100), rk::hlc_pack(100, 10));
  EXPECT_EQ(rk::hlc_next_tick(rk::hlc_pack(100, 9), 50), rk::hlc_pack(100, 10));  // wall went backwards
}

TEST(HlcStepTest, TickLogicalOverflowCarriesIntoPhysical) {
  const std::uint64_t cur = rk::hlc_pack(100, rk::kHlcLogicalMask);
  const std::uint64_t next = rk::hlc_next_tick(cur, 100);
  EXPECT_GT(next, cur);
  EXPECT_EQ(rk::hlc_physical(next), 101u);
  EXPECT_EQ(rk::hlc_logical(next), 0u);
}

TEST(HlcStepTest, UpdateTakesMaxPlusOne) {
  // Received ahead of local and wall.
  EXPECT_EQ(rk::hlc_next_update(rk::hlc_pack(100, 1), rk::hlc_pack(105, 3), 101), rk::hlc_pack(105, 4));
  // Local ahead of received and wall.
  EXPECT_EQ(rk::hlc_next_update(rk::hlc_pack(110, 1), rk::hlc_pack(105, 3), 101), rk::hlc_pack(110, 2));
  // Wall ahead of both.
  EXPECT_EQ(rk::hlc_next_update(rk::hlc_pack(100, 1), rk::hlc_pack(105, 3), 200), rk::hlc_pack(200, 0));
  // Equal local and received.
  EXPECT_EQ(rk::hlc_next_update(rk::hlc_pack(100, 7), rk::hlc_pack(100, 7), 100), rk::hlc_pack(100, 8));
}

RC_GTEST_PROP(HlcStepProp, NextTickIsStrictlyGreaterAndNotBehindWall, ()) {
  const std::uint64_t cur = *gen_packed();
  const std::uint64_t wall = *gen_physical();
  const std::uint64_t next = rk::hlc_next_tick(cur, wall);
  RC_ASSERT(next > cur);
  RC_ASSERT(next >= rk::hlc_pack(wall, 0));
  // Minimal step: either exactly wall time or exactly one more than before.
  RC_ASSERT(next == rk::hlc_pack(wall, 0) || next == cur + 1);
}

RC_GTEST_PROP(HlcStepProp, NextUpdateDominatesBothInputsAndWall, ()) {
  const std::uint64_t cur = *gen_packed();
  const std::uint64_t recv = *gen_packed();
  const std::uint64_t wall = *gen_physical();
  const std::uint64_t next = rk::hlc_next_update(cur, recv, wall);
  RC_ASSERT(next > cur);
  RC_ASSERT(next > recv);
  RC_ASSERT(next >= rk::hlc_pack(wall, 0));
  RC_ASSERT(next == rk::hlc_pack(wall, 0) || next == std::max(cur, recv) + 1);
}

RC_GTEST_PROP(HlcStepProp, SequencesOfStepsAreStrictlyMonotonic, ()) {
  // Arbitrary interleaving of ticks and updates under an arbitrary (even backwards-jumping) wall clock.
  const auto steps = *rc::gen::container<std::vector<std::tuple<bool, std::uint64_t, std::uint64_t>>>(
      rc::gen::tuple(rc::gen::arbitrary<bool>(), gen_physical(), gen_packed()));
  std::uint64_t clock = *gen_packed();
  for (const auto& [is_update, wall, recv] : steps) {
    const std::uint64_t next = is_update ? rk::hlc_next_update(clock, recv, wall) : rk::hlc_next_tick(clock, wall);
    RC_ASSERT(next > clock);
    if (is_update) RC_ASSERT(next > recv);
    clock = next;
  }
}

// ---------------------------------------------------------------------------------------------------------
// HlcTimestamp total order
// ---------------------------------------------------------------------------------------------------------

TEST(HlcTimestampTest, OrdersByTimeThenNode) {
  const rk::HlcTimestamp a{rk::hlc_pack(10, 0), 5};
  const rk::HlcTimestamp b{rk::hlc_pack(10, 1), 1};
  const rk::HlcTimestamp c{rk::hlc_pack(10, 1), 2};
  EXPECT_LT(a, b);  // time wins over node
  EXPECT_LT(b, c);  // node breaks ties
  EXPECT_EQ(c, (rk::HlcTimestamp{rk::hlc_pack(10, 1), 2}));
  EXPECT_NE(b, c);
}

namespace {
rc::Gen<rk::HlcTimestamp> gen_ts() {
  // Small ranges so that ties on time and on node actually occur.
  return rc::gen::map(rc::gen::pair(rc::gen::inRange<std::uint64_t>(0, 4), rc::gen::inRange<std::uint16_t>(0, 3)),
                      [](std::pair<std::uint64_t, std::uint16_t> p) { return rk::HlcTimestamp{p.first, p.second}; });
}
} // namespace

RC_GTEST_PROP(HlcTimestampProp, TotalOrder, ()) {
  const auto a = *gen_ts();
  const auto b = *gen_ts();
  const auto c = *gen_ts();
  // Totality / trichotomy: exactly one of <, ==, > holds.
  RC_ASSERT((a < b) + (a == b) + (a > b) == 1);
  // Antisymmetry.
  if (a <= b && b <= a) RC_ASSERT(a == b);
  // Transitivity.
  if (a <= b && b <= c) RC_ASSERT(a <= c);
  if (a < b && b < c) RC_ASSERT(a < c);
  // Consistency with the (packed, node) lexicographic definition.
  RC_ASSERT((a < b) == (a.packed < b.packed || (a.packed == b.packed && a.node < b.node)));
}

RC_GTEST_PROP(HlcTimestampProp, TotalOrderOnArbitraryValues, (std::uint64_t pa, std::uint64_t pb, std::uint16_t na,
                                                              std::uint16_t nb)) {
  const rk::HlcTimestamp a{pa, na};
  const rk::HlcTimestamp b{pb, nb};
  RC_ASSERT((a < b) + (a == b) + (a > b) == 1);
  RC_ASSERT((a < b) == (b > a));
}

// ---------------------------------------------------------------------------------------------------------
// HlcClock
// ---------------------------------------------------------------------------------------------------------

TEST(HlcClockTest, DefaultsAndSystemClock) {
  rk::HlcClock clock(7);
  EXPECT_EQ(clock.node(), 7);
  EXPECT_EQ(clock.peek(), 0u);
  EXPECT_EQ(clock.drift_rejections(), 0u);
  const std::uint64_t before = rk::system_physical_ms();
  const rk::HlcTimestamp t = clock.tick();
  const std::uint64_t after = rk::system_physical_ms();
  EXPECT_EQ(t.node, 7);
  EXPECT_GE(t.physical(), before);
  EXPECT_LE(t.physical(), after);
  EXPECT_EQ(clock.peek(), t.packed);
  // Sanity: the system clock is after 2024 and fits 48 bits.
  EXPECT_GT(before, kEpoch2024Ms);
  EXPECT_LE(before, rk::kHlcMaxPhysical);
}

TEST(HlcClockTest, TickIsStrictlyMonotonic) {
  rk::HlcClock clock(1);
  std::uint64_t prev = clock.tick().packed;
  for (int i = 0; i < 10000; ++i) {
    const std::uint64_t t = (i % 2 == 0 ? clock.tick() : clock.now()).packed;
    ASSERT_GT(t, prev);
    prev = t;
  }
  EXPECT_EQ(clock.peek(), prev);
}

TEST(HlcClockTest, PeekDoesNotAdvance) {
  set_fake(0, kEpoch2024Ms);
  rk::HlcClock clock(0, rk::HlcClock::kDefaultMaxDriftMs, &fake_clock<0>);
  const auto t = clock.tick();
  EXPECT_EQ(t.packed, rk::hlc_pack(kEpoch2024Ms, 0));
  EXPECT_EQ(clock.peek(), t.packed);
  EXPECT_EQ(clock.peek(), t.packed);
  EXPECT_EQ(clock.tick().packed, t.packed + 1);
}

TEST(HlcClockTest, TickManyReservesConsecutiveTimestamps) {
  set_fake(1, kEpoch2024Ms);
  rk::HlcClock clock(3, rk::HlcClock::kDefaultMaxDriftMs, &fake_clock<1>);
  const std::uint64_t before = clock.tick().packed;
  const rk::HlcTimestamp first = clock.tick_many(100);
  EXPECT_EQ(first.packed, before + 1);
  EXPECT_EQ(first.node, 3);
  // The clock stands at the last reserved value: the next tick follows the whole range.
  EXPECT_EQ(clock.peek(), first.packed + 99);
  EXPECT_EQ(clock.tick().packed, first.packed + 100);
  // A wall clock that moved ahead starts the range at wall time, as tick() would.
  set_fake(1, kEpoch2024Ms + 5);
  EXPECT_EQ(clock.tick_many(10).packed, rk::hlc_pack(kEpoch2024Ms + 5, 0));
  EXPECT_EQ(clock.peek(), rk::hlc_pack(kEpoch2024Ms + 5, 9));
  // n = 0 reserves one, like tick().
  const std::uint64_t one = clock.tick_many(0).packed;
  EXPECT_EQ(one, rk::hlc_pack(kEpoch2024Ms + 5, 10));
  EXPECT_EQ(clock.peek(), one);
}

TEST(HlcClockTest, FrozenPhysicalClockCarriesLogicalOverflow) {
  set_fake(0, kEpoch2024Ms);
  rk::HlcClock clock(2, rk::HlcClock::kDefaultMaxDriftMs, &fake_clock<0>);
  std::uint64_t prev = 0;
  bool carried = false;
  for (int i = 0; i < 70000; ++i) {
    const rk::HlcTimestamp t = clock.tick();
    ASSERT_GT(t.packed, prev) << "tick " << i;
    if (t.physical() > kEpoch2024Ms) carried = true;
    prev = t.packed;
  }
  EXPECT_TRUE(carried);
  // 70000 ticks starting at (P, 0): the last one is P + 1 ms, logical 70000 - 65536 - 1.
  EXPECT_EQ(rk::hlc_physical(prev), kEpoch2024Ms + 1);
  EXPECT_EQ(rk::hlc_logical(prev), 70000u - 65536u - 1u);
  // When wall time passes the clock it jumps back to (wall, 0).
  set_fake(0, kEpoch2024Ms + 5);
  EXPECT_EQ(clock.tick().packed, rk::hlc_pack(kEpoch2024Ms + 5, 0));
}

TEST(HlcClockTest, WallClockGoingBackwardsNeverMovesClockBack) {
  set_fake(0, kEpoch2024Ms + 1000);
  rk::HlcClock clock(0, rk::HlcClock::kDefaultMaxDriftMs, &fake_clock<0>);
  const auto a = clock.tick();
  set_fake(0, kEpoch2024Ms);  // NTP step backwards by a second
  const auto b = clock.tick();
  EXPECT_GT(b, a);
  EXPECT_EQ(b.physical(), kEpoch2024Ms + 1000);
}

TEST(HlcClockTest, UpdateMergesAboveBoth) {
  set_fake(0, kEpoch2024Ms);
  rk::HlcClock clock(3, rk::HlcClock::kDefaultMaxDriftMs, &fake_clock<0>);
  const auto local = clock.tick();
  const std::uint64_t remote = rk::hlc_pack(kEpoch2024Ms + 500, 17);  // 0.5 s ahead: within drift bound
  const auto merged = clock.update(remote);
  ASSERT_TRUE(merged.ok()) << merged.error().describe();
  EXPECT_GT(merged->packed, local.packed);
  EXPECT_GT(merged->packed, remote);
  EXPECT_EQ(merged->packed, remote + 1);
  EXPECT_EQ(merged->node, 3);
  EXPECT_EQ(clock.peek(), merged->packed);
  // A later tick stays above the merged value.
  EXPECT_GT(clock.tick().packed, remote);

  // An older received timestamp still advances the clock.
  const std::uint64_t before = clock.peek();
  const auto old = clock.update(rk::hlc_pack(kEpoch2024Ms - 10'000, 0));
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->packed, before + 1);
}

TEST(HlcClockTest, DriftRejectionLeavesClockUnchangedAndCounts) {
  set_fake(0, kEpoch2024Ms);
  rk::HlcClock clock(4, /*max_drift_ms=*/1000, &fake_clock<0>);
  const auto t = clock.tick();
  const auto r = clock.update(rk::hlc_pack(kEpoch2024Ms + 1001, 0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), rk::ErrorCode::ClockDrift);
  EXPECT_EQ(r.error().context(), "HlcClock::update");
  EXPECT_NE(r.error().message().find("1001"), std::string::npos) << r.error().message();
  EXPECT_EQ(clock.peek(), t.packed);
  EXPECT_EQ(clock.drift_rejections(), 1u);

  // Exactly at the bound is accepted (the check is "more than max_drift ahead").
  const auto edge = clock.update(rk::hlc_pack(kEpoch2024Ms + 1000, rk::kHlcLogicalMask));
  ASSERT_TRUE(edge.ok());
  EXPECT_EQ(clock.drift_rejections(), 1u);

  // Further rejections keep counting and still leave the clock alone.
  const std::uint64_t before = clock.peek();
  EXPECT_FALSE(clock.update(rk::hlc_pack(kEpoch2024Ms + 50'000, 0)).ok());
  EXPECT_FALSE(clock.update(~std::uint64_t{0}).ok());
  EXPECT_EQ(clock.peek(), before);
  EXPECT_EQ(clock.drift_rejections(), 3u);
}

TEST(HlcClockTest, UnboundedDriftAcceptsFutureTimestamps) {
  // max_drift_ms = UINT64_MAX means "no drift limit"; `wall + max_drift` must not wrap around and reject.
  set_fake(0, kEpoch2024Ms);
  rk::HlcClock clock(0, std::numeric_limits<std::uint64_t>::max(), &fake_clock<0>);
  const std::uint64_t future = rk::hlc_pack(kEpoch2024Ms + 3'600'000, 0);
  const auto r = clock.update(future);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->packed, future + 1);
  EXPECT_EQ(clock.drift_rejections(), 0u);
  // Even a timestamp equal to the current wall time was rejected by the wrapping check.
  EXPECT_TRUE(clock.update(rk::hlc_pack(kEpoch2024Ms, 0)).ok());
}

TEST(HlcClockTest, RestoreNeverGoesBackwards) {
  set_fake(0, kEpoch2024Ms);
  rk::HlcClock clock(0, rk::HlcClock::kDefaultMaxDriftMs, &fake_clock<0>);
  const std::uint64_t checkpoint = rk::hlc_pack(kEpoch2024Ms + 10, 3);
  clock.restore(checkpoint);
  EXPECT_EQ(clock.peek(), checkpoint);
  EXPECT_GT(clock.tick().packed, checkpoint);  // resumes after the checkpoint although wall time is behind
  const std::uint64_t now = clock.peek();
  clock.restore(checkpoint);  // older checkpoint: ignored
  EXPECT_EQ(clock.peek(), now);
  clock.restore(0);
  EXPECT_EQ(clock.peek(), now);
  clock.restore(now + 100);
  EXPECT_EQ(clock.peek(), now + 100);
}

RC_GTEST_PROP(HlcClockProp, RestoreIsAMax, ()) {
  set_fake(1, kEpoch2024Ms);
  rk::HlcClock clock(0, rk::HlcClock::kDefaultMaxDriftMs, &fake_clock<1>);
  const auto values = *rc::gen::container<std::vector<std::uint64_t>>(gen_packed());
  std::uint64_t expect = 0;
  for (const std::uint64_t v : values) {
    clock.restore(v);
    expect = std::max(expect, v);
    RC_ASSERT(clock.peek() == expect);
  }
}

TEST(HlcClockTest, ConcurrentTicksAreUniqueAndPerThreadIncreasing) {
  constexpr int kThreads = 4;
#if defined(RINGKERNEL_SANITIZER_BUILD)
  constexpr int kPerThread = 20'000;
#else
  constexpr int kPerThread = 100'000;
#endif
  rk::HlcClock clock(9);
  std::vector<std::vector<std::uint64_t>> seen(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = seen[t];
      mine.reserve(kPerThread);
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      for (int i = 0; i < kPerThread; ++i) mine.push_back(clock.tick().packed);
    });
  }
  for (auto& th : threads) th.join();

  std::vector<std::uint64_t> all;
  for (const auto& v : seen) {
    ASSERT_EQ(v.size(), static_cast<std::size_t>(kPerThread));
    for (std::size_t i = 1; i < v.size(); ++i) ASSERT_GT(v[i], v[i - 1]);
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "duplicate timestamp";
  EXPECT_EQ(clock.peek(), all.back());
}

TEST(HlcClockTest, ConcurrentUpdatesAndTicksStayAboveEverythingReceived) {
  constexpr int kThreads = 4;
#if defined(RINGKERNEL_SANITIZER_BUILD)
  constexpr int kPerThread = 5'000;
#else
  constexpr int kPerThread = 50'000;
#endif
  set_fake(2, kEpoch2024Ms);
  rk::HlcClock clock(0, rk::HlcClock::kDefaultMaxDriftMs, &fake_clock<2>);
  std::atomic<bool> bad{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::uint64_t prev = 0;
      for (int i = 0; i < kPerThread; ++i) {
        std::uint64_t got = 0;
        if ((i + t) % 3 == 0) {
          const std::uint64_t recv = rk::hlc_pack(kEpoch2024Ms + static_cast<std::uint64_t>(i % 1000), t);
          const auto r = clock.update(recv);
          if (!r.ok() || r->packed <= recv) bad = true;
          got = r.ok() ? r->packed : 0;
        } else {
          got = clock.tick().packed;
        }
        if (got <= prev) bad = true;
        prev = got;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(clock.drift_rejections(), 0u);
}

// ---------------------------------------------------------------------------------------------------------
// Causality across nodes with skewed physical clocks
// ---------------------------------------------------------------------------------------------------------

RC_GTEST_PROP(HlcCausalityProp, ChainOfThreeNodesPreservesHappensBefore, ()) {
  constexpr std::uint64_t kDrift = 60'000;
  // Per-node skews relative to true time, pairwise below the drift bound.
  const auto skew_a = *rc::gen::inRange<std::uint64_t>(0, kDrift / 2);
  const auto skew_b = *rc::gen::inRange<std::uint64_t>(0, kDrift / 2);
  const auto skew_c = *rc::gen::inRange<std::uint64_t>(0, kDrift / 2);
  std::uint64_t true_ms = kEpoch2024Ms;
  auto sync = [&] {
    set_fake(0, true_ms + skew_a);
    set_fake(1, true_ms + skew_b);
    set_fake(2, true_ms + skew_c);
  };
  sync();
  rk::HlcClock a(1, kDrift, &fake_clock<0>);
  rk::HlcClock b(2, kDrift, &fake_clock<1>);
  rk::HlcClock c(3, kDrift, &fake_clock<2>);
  rk::HlcClock* nodes[] = {&a, &b, &c};

  // A random message chain: each step a node ticks locally or forwards the last message to another node.
  const auto steps = *rc::gen::container<std::vector<std::tuple<int, int, std::uint64_t>>>(
      rc::gen::tuple(rc::gen::inRange(0, 3), rc::gen::inRange(0, 3), rc::gen::inRange<std::uint64_t>(0, 3)));
  std::uint64_t last_send = nodes[0]->tick().packed;
  int holder = 0;
  for (const auto& [local_events, dest, advance_ms] : steps) {
    true_ms += advance_ms;  // time passes (possibly not at all)
    sync();
    for (int i = 0; i < local_events; ++i) nodes[holder]->tick();  // unrelated local events
    const rk::HlcTimestamp send = nodes[holder]->tick();
    RC_ASSERT(send.packed > last_send);  // the holder had received last_send, so its sends come later
    const auto recv = nodes[dest]->update(send.packed);
    RC_ASSERT(recv.ok());
    RC_ASSERT(recv->packed > send.packed);  // receive happens after send
    RC_ASSERT(nodes[dest]->peek() == recv->packed);
    last_send = recv->packed;
    holder = dest;
  }
  // The three clocks never rejected anything: skews were within the bound.
  RC_ASSERT(a.drift_rejections() + b.drift_rejections() + c.drift_rejections() == 0u);
}

RC_GTEST_PROP(HlcCausalityProp, SendReceiveAcrossSkewedPair, ()) {
  // Pure-function form with arbitrary skew below the bound, either direction.
  constexpr std::uint64_t kDrift = 60'000;
  const auto base = *rc::gen::inRange<std::uint64_t>(kDrift, rk::kHlcMaxPhysical - 4 * kDrift);
  const auto skew_sender = *rc::gen::inRange<std::uint64_t>(0, kDrift);
  const std::uint64_t sender_state = *gen_packed() % rk::hlc_pack(base + skew_sender, 0);
  const std::uint64_t receiver_state = *gen_packed() % rk::hlc_pack(base, 0);
  const std::uint64_t send = rk::hlc_next_tick(sender_state, base + skew_sender);
  const std::uint64_t recv = rk::hlc_next_update(receiver_state, send, base);
  RC_ASSERT(recv > send);
  RC_ASSERT(recv > receiver_state);
  RC_ASSERT(rk::hlc_physical(send) <= base + kDrift);  // would pass HlcClock's drift check
}
