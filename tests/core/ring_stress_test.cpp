// Multi-threaded stress tests for ringkernel/ring.hpp. Every message carries (producer id, sequence) in both
// the header and the payload; the consumer checks no loss, no duplicate, per-producer FIFO and untorn slots.
// These also run under TSan/ASan in CI on 2 cores, so N shrinks when RINGKERNEL_SANITIZER_BUILD is defined.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "ringkernel/ring.hpp"

namespace rk = ringkernel;
using rk::ErrorCode;
using rk::RingKind;

namespace {

#if defined(RINGKERNEL_SANITIZER_BUILD)
constexpr std::uint64_t kScale = 5;  // sanitizers are several times slower
#else
constexpr std::uint64_t kScale = 1;
#endif

constexpr std::uint64_t kSpscMessages = 1'000'000 / kScale;
constexpr std::uint64_t kMpscPerProducer = 200'000 / kScale;

struct Tag {
  static constexpr auto type_id = rk::message_type("stress.Tag");
  std::uint64_t producer;
  std::uint64_t seq;
  std::uint64_t check;  // producer ^ seq ^ constant: detects torn or stale payloads
};
constexpr std::uint64_t kCheck = 0x9E3779B97F4A7C15ull;

rk::MessageHeader header_of(const Tag& t) {
  rk::MessageHeader h = rk::make_header<Tag>(static_cast<rk::ActorId>(t.producer + 1), rk::kHostActor);
  h.message_id = t.seq;
  return h;
}

Tag tag_of(std::uint64_t producer, std::uint64_t seq) { return Tag{producer, seq, producer ^ seq ^ kCheck}; }

void write_tag(std::byte* slot, const Tag& t) { rk::ring_write_slot(slot, header_of(t), &t); }

// Consumer-side bookkeeping shared by all variants. Uses plain bools (single consumer thread) and reports
// the first violation rather than flooding the log.
struct Verifier {
  explicit Verifier(std::size_t producers) : next(producers, 0) {}
  std::vector<std::uint64_t> next;
  std::uint64_t received = 0;
  std::uint64_t violations = 0;
  std::string first_violation;

  void fail(const std::string& what) {
    if (violations++ == 0) first_violation = what;
  }
  void operator()(const rk::MessageHeader& h, const std::byte* payload) {
    Tag t;
    std::memcpy(&t, payload, sizeof t);
    ++received;
    if (!h.valid() || h.type_id != Tag::type_id || h.payload_len != sizeof(Tag)) return fail("bad header");
    if (t.check != (t.producer ^ t.seq ^ kCheck)) return fail("torn payload");
    if (t.producer >= next.size() || h.source != t.producer + 1 || h.message_id != t.seq) {
      return fail("header/payload mismatch");
    }
    if (t.seq != next[t.producer]) {
      return fail("producer " + std::to_string(t.producer) + ": expected seq " + std::to_string(next[t.producer]) +
                  ", got " + std::to_string(t.seq) + (t.seq < next[t.producer] ? " (duplicate)" : " (loss/reorder)"));
    }
    ++next[t.producer];
  }
};

void spin_pause(unsigned& spins) {
  // Two cores, up to five threads: give the CPU away quickly instead of burning a time slice.
  if (++spins > 64) {
    spins = 0;
    std::this_thread::yield();
  }
}

} // namespace

// ---------------------------------------------------------------------------------------------------------
// SPSC
// ---------------------------------------------------------------------------------------------------------

TEST(RingStressTest, Spsc1P1C) {
  constexpr std::uint32_t kCap = 256;
  auto made = rk::OwnedRing::create(RingKind::Spsc, kCap, 128);
  ASSERT_TRUE(made.ok());
  const rk::OwnedRing ring = std::move(made).value();

  std::atomic<std::uint64_t> fulls{0};
  std::atomic<bool> saw_full{false};
  std::uint64_t pushed_when_first_full = 0;  // written before saw_full is released
  std::thread producer([&] {
    rk::SpscProducer p(ring.view());
    std::uint64_t local_fulls = 0;
    unsigned spins = 0;
    for (std::uint64_t i = 0; i < kSpscMessages;) {
      const Tag t = tag_of(0, i);
      const ErrorCode rc = p.try_push(header_of(t), &t);
      if (rc == ErrorCode::Ok) {
        ++i;
      } else {
        if (rc != ErrorCode::QueueFull) std::abort();
        if (local_fulls++ == 0) {
          pushed_when_first_full = i;
          saw_full.store(true, std::memory_order_release);
        }
        spin_pause(spins);
      }
    }
    fulls = local_fulls;
  });

  Verifier v(1);
  rk::SpscConsumer c(ring.view());
  // The consumer starts only after the producer was refused: QueueFull must come exactly at capacity.
  while (!saw_full.load(std::memory_order_acquire)) std::this_thread::yield();
  EXPECT_EQ(pushed_when_first_full, kCap);
  EXPECT_EQ(ring.view().size_approx(), kCap);
  unsigned spins = 0;
  std::uint64_t max_seen = 0;
  while (v.received < kSpscMessages && v.violations == 0) {
    const std::uint64_t size = ring.view().size_approx();
    max_seen = std::max(max_seen, size);
    if (c.pop_batch(1 + static_cast<std::uint32_t>(v.received % 37), v) == 0) spin_pause(spins);
  }
  producer.join();
  EXPECT_EQ(v.violations, 0u) << v.first_violation;
  EXPECT_EQ(v.received, kSpscMessages);
  EXPECT_EQ(v.next[0], kSpscMessages);
  EXPECT_LE(max_seen, kCap) << "size_approx exceeded capacity";
  EXPECT_EQ(ring.view().size_approx(), 0u);
  EXPECT_EQ(c.pop_batch(1, v), 0u);
  EXPECT_GE(fulls.load(), 1u);
  RecordProperty("queue_full", std::to_string(fulls.load()));
}

TEST(RingStressTest, SpscBatched1P1C) {
  constexpr std::uint32_t kCap = 64;
  auto made = rk::OwnedRing::create(RingKind::Spsc, kCap, 128);
  ASSERT_TRUE(made.ok());
  const rk::OwnedRing ring = std::move(made).value();

  std::atomic<std::uint64_t> short_batches{0};
  std::thread producer([&] {
    rk::SpscProducer p(ring.view());
    std::uint64_t seq = 0;
    std::uint64_t shorts = 0;
    unsigned spins = 0;
    while (seq < kSpscMessages) {
      const std::uint64_t want64 = std::min<std::uint64_t>(1 + seq % 23, kSpscMessages - seq);
      const auto want = static_cast<std::uint32_t>(want64);
      const std::uint32_t got = p.push_batch(want, [&](std::byte* slot, std::uint32_t i) {
        write_tag(slot, tag_of(0, seq + i));
        return true;
      });
      if (got < want) {
        ++shorts;
        spin_pause(spins);
      }
      seq += got;
    }
    short_batches = shorts;
  });

  Verifier v(1);
  rk::SpscConsumer c(ring.view());
  unsigned spins = 0;
  while (v.received < kSpscMessages && v.violations == 0) {
    if (c.pop_batch(32, v) == 0) spin_pause(spins);
  }
  producer.join();
  EXPECT_EQ(v.violations, 0u) << v.first_violation;
  EXPECT_EQ(v.received, kSpscMessages);
  EXPECT_EQ(ring.view().size_approx(), 0u);
  RecordProperty("short_batches", std::to_string(short_batches.load()));
}

// ---------------------------------------------------------------------------------------------------------
// MPSC
// ---------------------------------------------------------------------------------------------------------

namespace {

enum class ProducerMode { Single, Batch };

struct MpscResult {
  Verifier verifier;
  std::uint64_t fulls;
  std::uint64_t max_size;
};

// Runs `producers` threads pushing `per_producer` messages each into one ring and one consumer (the calling
// thread). The consumer is held back until every producer has hit QueueFull at least once, so the full path
// is exercised deterministically: while it waits, the ring must hold exactly `capacity` messages.
MpscResult run_mpsc(std::size_t producers, std::uint32_t capacity, ProducerMode mode,
                    std::uint64_t per_producer = kMpscPerProducer, RingKind kind = RingKind::Mpsc) {
  auto made = rk::OwnedRing::create(kind, capacity, 128);
  EXPECT_TRUE(made.ok());
  const rk::OwnedRing ring = std::move(made).value();

  std::atomic<std::size_t> saw_full{0};
  std::atomic<std::uint64_t> fulls{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (std::size_t id = 0; id < producers; ++id) {
    threads.emplace_back([&, id] {
      rk::MpscProducer p(ring.view());  // one per thread (they are stateless; sharing works too)
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      std::uint64_t local_fulls = 0;
      unsigned spins = 0;
      std::uint64_t seq = 0;
      auto on_full = [&] {
        if (local_fulls++ == 0) saw_full.fetch_add(1);
        spin_pause(spins);
      };
      while (seq < per_producer) {
        if (mode == ProducerMode::Single) {
          const Tag t = tag_of(id, seq);
          const ErrorCode rc = p.try_push(header_of(t), &t);
          if (rc == ErrorCode::Ok) {
            ++seq;
          } else {
            if (rc != ErrorCode::QueueFull) std::abort();
            on_full();
          }
        } else {
          const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(1 + (seq + id) % 13,
                                                                               per_producer - seq));
          const std::uint32_t got =
              p.push_batch(want, [&](std::byte* slot, std::uint32_t i) { write_tag(slot, tag_of(id, seq + i)); });
          seq += got;
          if (got == 0) on_full();
        }
      }
      fulls.fetch_add(local_fulls);
    });
  }

  MpscResult result{Verifier(producers), 0, 0};
  Verifier& v = result.verifier;
  rk::MpscConsumer c(ring.view());
  go.store(true, std::memory_order_release);
  // Phase 1: don't consume until every producer has been refused. The ring is then exactly full.
  while (saw_full.load() < producers) std::this_thread::yield();
  EXPECT_EQ(ring.view().size_approx(), capacity);
  // Phase 2: drain concurrently with the producers.
  const std::uint64_t total = per_producer * producers;
  unsigned spins = 0;
  while (v.received < total && v.violations == 0) {
    // Only the consumer moves tail, so head - tail can never exceed the capacity here.
    result.max_size = std::max(result.max_size, ring.view().size_approx());
    if (c.pop_batch(1 + static_cast<std::uint32_t>(v.received % 61), v) == 0) spin_pause(spins);
  }
  for (auto& t : threads) t.join();
  result.fulls = fulls.load();
  EXPECT_EQ(ring.view().size_approx(), 0u);
  EXPECT_EQ(c.pop_batch(1, v), 0u);
  return result;
}

void check_mpsc(const MpscResult& r, std::size_t producers, std::uint32_t capacity,
                std::uint64_t per_producer = kMpscPerProducer) {
  EXPECT_EQ(r.verifier.violations, 0u) << r.verifier.first_violation;
  EXPECT_EQ(r.verifier.received, per_producer * producers);
  for (std::size_t id = 0; id < producers; ++id) EXPECT_EQ(r.verifier.next[id], per_producer) << id;
  EXPECT_GE(r.fulls, producers) << "every producer was refused at least once";
  EXPECT_LE(r.max_size, capacity);
}

} // namespace

TEST(RingStressTest, Mpsc4P1C) {
  constexpr std::uint32_t kCap = 128;
  const MpscResult r = run_mpsc(4, kCap, ProducerMode::Single);
  check_mpsc(r, 4, kCap);
  RecordProperty("queue_full", std::to_string(r.fulls));
}

TEST(RingStressTest, Mpsc4P1CBatchProducers) {
  constexpr std::uint32_t kCap = 128;
  const MpscResult r = run_mpsc(4, kCap, ProducerMode::Batch);
  check_mpsc(r, 4, kCap);
  RecordProperty("queue_full", std::to_string(r.fulls));
}

TEST(RingStressTest, Mpsc4P1CTinyRing) {
  // Capacity 2: maximal contention on the claim CAS and constant wrap-around.
  // Every message forces a hand-off between threads here, so it moves far fewer messages.
  constexpr std::uint32_t kCap = 2;
  constexpr std::uint64_t kPer = kMpscPerProducer / 20;
  const MpscResult r = run_mpsc(4, kCap, ProducerMode::Single, kPer);
  check_mpsc(r, 4, kCap, kPer);
}

// The LL kind (the CUDA backend's host->GPU inboxes): slots validate themselves word by word, so a consumer
// that reads a slot while its producer is still writing it must see it incomplete, never torn.
TEST(RingStressTest, MpscLl4P1C) {
  constexpr std::uint32_t kCap = 128;
  const MpscResult r = run_mpsc(4, kCap, ProducerMode::Single, kMpscPerProducer, RingKind::MpscLl);
  check_mpsc(r, 4, kCap);
}

TEST(RingStressTest, MpscLl4P1CBatchProducers) {
  constexpr std::uint32_t kCap = 128;
  const MpscResult r = run_mpsc(4, kCap, ProducerMode::Batch, kMpscPerProducer, RingKind::MpscLl);
  check_mpsc(r, 4, kCap);
}

TEST(RingStressTest, MpscLl4P1CTinyRing) {
  // Capacity 2: every slot is rewritten every other position, so stale words of the previous lap are always
  // there to be mistaken for new ones.
  constexpr std::uint32_t kCap = 2;
  constexpr std::uint64_t kPer = kMpscPerProducer / 20;
  const MpscResult r = run_mpsc(4, kCap, ProducerMode::Single, kPer, RingKind::MpscLl);
  check_mpsc(r, 4, kCap, kPer);
}

TEST(RingStressTest, MpscSharedProducerObject) {
  // One MpscProducer object used by three threads at once (documented as allowed).
  constexpr std::uint64_t kPer = kMpscPerProducer / 2;
  auto made = rk::OwnedRing::create(RingKind::Mpsc, 64, 128);
  ASSERT_TRUE(made.ok());
  const rk::OwnedRing ring = std::move(made).value();
  rk::MpscProducer shared(ring.view());
  std::vector<std::thread> threads;
  for (std::uint64_t id = 0; id < 3; ++id) {
    threads.emplace_back([&, id] {
      unsigned spins = 0;
      for (std::uint64_t seq = 0; seq < kPer;) {
        const Tag t = tag_of(id, seq);
        if (shared.try_push(header_of(t), &t) == ErrorCode::Ok) ++seq; else spin_pause(spins);
      }
    });
  }
  Verifier v(3);
  rk::MpscConsumer c(ring.view());
  unsigned spins = 0;
  while (v.received < 3 * kPer && v.violations == 0) {
    if (c.pop_batch(16, v) == 0) spin_pause(spins);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(v.violations, 0u) << v.first_violation;
  EXPECT_EQ(v.received, 3 * kPer);
}
