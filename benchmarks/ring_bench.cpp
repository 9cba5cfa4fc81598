// Ring throughput: RingKernel SPSC/MPSC rings vs moodycamel readerwriterqueue / concurrentqueue.
//
// Fairness rules (both sides):
//  * Every message is the same 64 bytes: a MessageHeader. Our rings use a 64-byte, header-only slot
//    (payload_len = 0), which is exactly what a moodycamel queue of 64-byte `MessageHeader` items stores. Each
//    message is copied once in (from a local header) and once out (into a local header kept alive with
//    DoNotOptimize), on both sides.
//  * Equal capacities: our rings hold 1024 slots; ReaderWriterQueue(1023) allocates one 1024-slot block (it
//    keeps one slot spare, so 1023 usable); ConcurrentQueue holds exactly 1024, split evenly between the
//    producer tokens (see make_cq), whereas producers share our MPSC ring's 1024 slots.
//  * moodycamel runs in its fastest documented mode: try_* (no allocation), explicit producer and consumer
//    tokens for ConcurrentQueue.
//  * Batches are 32 messages: our push_batch/pop_batch vs enqueue_bulk/try_dequeue_bulk. readerwriterqueue
//    has no bulk API, so the SPSC batched comparison uses ConcurrentQueue with a single producer token.
//  * Same harness and back-off (pause, then yield) on full/empty. One benchmark iteration moves kRound
//    messages end to end (producers on their own threads, consumer on the benchmark thread); the reported
//    items_per_second is end-to-end throughput in wall-clock time.
#include <benchmark/benchmark.h>

#include <concurrentqueue/concurrentqueue.h>
#include <readerwriterqueue/readerwriterqueue.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "ringkernel/ring.hpp"

namespace rk = ringkernel;

namespace {

constexpr std::uint32_t kCapacity = 1024;
constexpr std::uint32_t kBatch = 32;
constexpr std::uint64_t kRound = 1u << 16;  // messages per benchmark iteration (all producers together)

static_assert(sizeof(rk::MessageHeader) == 64);

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spin briefly, then give the core away (the benchmark machine may have fewer cores than threads).
inline void backoff(unsigned& spins) noexcept {
  if (++spins < 4096) {
    cpu_relax();
  } else {
    spins = 0;
    std::this_thread::yield();
  }
}

rk::MessageHeader prototype() {
  rk::MessageHeader h{};
  h.magic = rk::kMessageMagic;
  h.version = rk::kMessageVersion;
  h.type_id = rk::message_type("bench.Msg");
  h.source = 1;
  h.destination = 2;
  return h;
}

// Runs `producers` threads, each calling produce(id, n) once per round with n = kRound / producers, while the
// benchmark thread calls consume(kRound). Threads persist across iterations; rounds are released by a counter.
void run_rounds(benchmark::State& state, int producers, const std::function<void(int, std::uint64_t)>& produce,
                const std::function<void(std::uint64_t)>& consume) {
  std::atomic<std::uint64_t> round{0};
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  const std::uint64_t per_producer = kRound / static_cast<std::uint64_t>(producers);
  std::vector<std::thread> threads;
  for (int id = 0; id < producers; ++id) {
    threads.emplace_back([&, id] {
      std::uint64_t seen = 0;
      for (;;) {
        unsigned spins = 0;
        while (round.load(std::memory_order_acquire) == seen && !stop.load(std::memory_order_relaxed)) backoff(spins);
        if (stop.load(std::memory_order_acquire)) return;
        ++seen;
        produce(id, per_producer);
        done.fetch_add(1, std::memory_order_release);
      }
    });
  }
  for (auto _ : state) {
    done.store(0, std::memory_order_relaxed);
    round.fetch_add(1, std::memory_order_release);
    consume(per_producer * static_cast<std::uint64_t>(producers));
    unsigned spins = 0;
    while (done.load(std::memory_order_acquire) < producers) backoff(spins);
  }
  stop.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(per_producer * static_cast<std::uint64_t>(producers)));
  state.counters["capacity"] = kCapacity;
}

// ---------------------------------------------------------------------------------------------------------
// RingKernel
// ---------------------------------------------------------------------------------------------------------

void rk_spsc_single(benchmark::State& state) {
  auto ring = rk::OwnedRing::create(rk::RingKind::Spsc, kCapacity, 64);
  rk::SpscProducer producer(ring->view());
  rk::SpscConsumer consumer(ring->view());
  run_rounds(
      state, 1,
      [&](int, std::uint64_t n) {
        rk::MessageHeader h = prototype();
        unsigned spins = 0;
        for (std::uint64_t i = 0; i < n;) {
          h.message_id = i;
          if (producer.try_push(h, nullptr) == rk::ErrorCode::Ok) {
            ++i;
          } else {
            backoff(spins);
          }
        }
      },
      [&](std::uint64_t n) {
        rk::MessageHeader out;
        unsigned spins = 0;
        for (std::uint64_t got = 0; got < n;) {
          const std::uint32_t k = consumer.pop_batch(1, [&](const rk::MessageHeader& h, const std::byte*) {
            std::memcpy(&out, &h, sizeof out);
            benchmark::DoNotOptimize(out);
          });
          if (k != 0) got += k; else backoff(spins);
        }
      });
}

void rk_spsc_batch(benchmark::State& state) {
  auto ring = rk::OwnedRing::create(rk::RingKind::Spsc, kCapacity, 64);
  rk::SpscProducer producer(ring->view());
  rk::SpscConsumer consumer(ring->view());
  run_rounds(
      state, 1,
      [&](int, std::uint64_t n) {
        std::array<rk::MessageHeader, kBatch> batch;
        batch.fill(prototype());
        unsigned spins = 0;
        for (std::uint64_t sent = 0; sent < n;) {
          const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(kBatch, n - sent));
          for (std::uint32_t i = 0; i < want; ++i) batch[i].message_id = sent + i;
          benchmark::DoNotOptimize(batch);
          const std::uint32_t k = producer.push_batch(want, [&](std::byte* slot, std::uint32_t i) {
            std::memcpy(slot, &batch[i], sizeof(rk::MessageHeader));
            return true;
          });
          if (k != 0) sent += k; else backoff(spins);
        }
      },
      [&](std::uint64_t n) {
        std::array<rk::MessageHeader, kBatch> out;
        unsigned spins = 0;
        for (std::uint64_t got = 0; got < n;) {
          std::uint32_t j = 0;
          const std::uint32_t k = consumer.pop_batch(kBatch, [&](const rk::MessageHeader& h, const std::byte*) {
            std::memcpy(&out[j++], &h, sizeof(rk::MessageHeader));
          });
          benchmark::DoNotOptimize(out);
          if (k != 0) got += k; else backoff(spins);
        }
      });
}

void rk_mpsc_single(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  auto ring = rk::OwnedRing::create(rk::RingKind::Mpsc, kCapacity, 64);
  rk::MpscConsumer consumer(ring->view());
  run_rounds(
      state, producers,
      [&](int id, std::uint64_t n) {
        rk::MpscProducer producer(ring->view());
        rk::MessageHeader h = prototype();
        h.source = static_cast<rk::ActorId>(id);
        unsigned spins = 0;
        for (std::uint64_t i = 0; i < n;) {
          h.message_id = i;
          if (producer.try_push(h, nullptr) == rk::ErrorCode::Ok) {
            ++i;
          } else {
            backoff(spins);
          }
        }
      },
      [&](std::uint64_t n) {
        rk::MessageHeader out;
        unsigned spins = 0;
        for (std::uint64_t got = 0; got < n;) {
          const std::uint32_t k = consumer.pop_batch(1, [&](const rk::MessageHeader& h, const std::byte*) {
            std::memcpy(&out, &h, sizeof out);
            benchmark::DoNotOptimize(out);
          });
          if (k != 0) got += k; else backoff(spins);
        }
      });
}

void rk_mpsc_batch(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  auto ring = rk::OwnedRing::create(rk::RingKind::Mpsc, kCapacity, 64);
  rk::MpscConsumer consumer(ring->view());
  run_rounds(
      state, producers,
      [&](int id, std::uint64_t n) {
        rk::MpscProducer producer(ring->view());
        std::array<rk::MessageHeader, kBatch> batch;
        batch.fill(prototype());
        for (auto& h : batch) h.source = static_cast<rk::ActorId>(id);
        unsigned spins = 0;
        for (std::uint64_t sent = 0; sent < n;) {
          const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(kBatch, n - sent));
          for (std::uint32_t i = 0; i < want; ++i) batch[i].message_id = sent + i;
          benchmark::DoNotOptimize(batch);
          const std::uint32_t k = producer.push_batch(want, [&](std::byte* slot, std::uint32_t i) {
            std::memcpy(slot, &batch[i], sizeof(rk::MessageHeader));
          });
          if (k != 0) sent += k; else backoff(spins);
        }
      },
      [&](std::uint64_t n) {
        std::array<rk::MessageHeader, kBatch> out;
        unsigned spins = 0;
        for (std::uint64_t got = 0; got < n;) {
          std::uint32_t j = 0;
          const std::uint32_t k = consumer.pop_batch(kBatch, [&](const rk::MessageHeader& h, const std::byte*) {
            std::memcpy(&out[j++], &h, sizeof(rk::MessageHeader));
          });
          benchmark::DoNotOptimize(out);
          if (k != 0) got += k; else backoff(spins);
        }
      });
}

// ---------------------------------------------------------------------------------------------------------
// moodycamel
// ---------------------------------------------------------------------------------------------------------

void mc_spsc_single(benchmark::State& state) {
  moodycamel::ReaderWriterQueue<rk::MessageHeader> q(kCapacity - 1);  // one 1024-slot block
  run_rounds(
      state, 1,
      [&](int, std::uint64_t n) {
        rk::MessageHeader h = prototype();
        unsigned spins = 0;
        for (std::uint64_t i = 0; i < n;) {
          h.message_id = i;
          if (q.try_enqueue(h)) {
            ++i;
          } else {
            backoff(spins);
          }
        }
      },
      [&](std::uint64_t n) {
        rk::MessageHeader out;
        unsigned spins = 0;
        for (std::uint64_t got = 0; got < n;) {
          if (q.try_dequeue(out)) {
            benchmark::DoNotOptimize(out);
            ++got;
          } else {
            backoff(spins);
          }
        }
      });
}

// A ConcurrentQueue with a hard capacity of kCapacity elements, split evenly between `producers` explicit
// producers. Blocks taken by an explicit producer never return to the shared pool, so a plain
// ConcurrentQueue(kCapacity) lets the first producer grab every block and starves the others under try_enqueue.
// The warm-up hands each token exactly kCapacity / producers elements' worth of blocks and empties the queue.
struct CqSetup {
  std::unique_ptr<moodycamel::ConcurrentQueue<rk::MessageHeader>> q;
  std::vector<std::unique_ptr<moodycamel::ProducerToken>> tokens;
  std::unique_ptr<moodycamel::ConsumerToken> consumer;
};

CqSetup make_cq(int producers) {
  CqSetup s;
  s.q = std::make_unique<moodycamel::ConcurrentQueue<rk::MessageHeader>>(kCapacity);
  for (int i = 0; i < producers; ++i) s.tokens.push_back(std::make_unique<moodycamel::ProducerToken>(*s.q));
  s.consumer = std::make_unique<moodycamel::ConsumerToken>(*s.q);
  const rk::MessageHeader h = prototype();
  for (auto& t : s.tokens) {
    for (std::uint32_t i = 0; i < kCapacity / static_cast<std::uint32_t>(producers); ++i) {
      if (!s.q->try_enqueue(*t, h)) std::abort();
    }
  }
  rk::MessageHeader out;
  while (s.q->try_dequeue(*s.consumer, out)) {
  }
  return s;
}

void mc_mpsc_single(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  CqSetup cq = make_cq(producers);
  auto& q = cq.q;
  auto& tokens = cq.tokens;
  auto& ctok = *cq.consumer;
  run_rounds(
      state, producers,
      [&](int id, std::uint64_t n) {
        rk::MessageHeader h = prototype();
        h.source = static_cast<rk::ActorId>(id);
        unsigned spins = 0;
        for (std::uint64_t i = 0; i < n;) {
          h.message_id = i;
          if (q->try_enqueue(*tokens[static_cast<std::size_t>(id)], h)) {
            ++i;
          } else {
            backoff(spins);
          }
        }
      },
      [&](std::uint64_t n) {
        rk::MessageHeader out;
        unsigned spins = 0;
        for (std::uint64_t got = 0; got < n;) {
          if (q->try_dequeue(ctok, out)) {
            benchmark::DoNotOptimize(out);
            ++got;
          } else {
            backoff(spins);
          }
        }
      });
}

void mc_batch(benchmark::State& state, int producers) {
  CqSetup cq = make_cq(producers);
  auto& q = cq.q;
  auto& tokens = cq.tokens;
  auto& ctok = *cq.consumer;
  run_rounds(
      state, producers,
      [&](int id, std::uint64_t n) {
        std::array<rk::MessageHeader, kBatch> batch;
        batch.fill(prototype());
        for (auto& h : batch) h.source = static_cast<rk::ActorId>(id);
        unsigned spins = 0;
        for (std::uint64_t sent = 0; sent < n;) {
          const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(kBatch, n - sent));
          for (std::uint32_t i = 0; i < want; ++i) batch[i].message_id = sent + i;
          benchmark::DoNotOptimize(batch);
          if (q->try_enqueue_bulk(*tokens[static_cast<std::size_t>(id)], batch.data(), want)) {
            sent += want;
          } else {
            backoff(spins);
          }
        }
      },
      [&](std::uint64_t n) {
        std::array<rk::MessageHeader, kBatch> out;
        unsigned spins = 0;
        for (std::uint64_t got = 0; got < n;) {
          const std::size_t k = q->try_dequeue_bulk(ctok, out.data(), kBatch);
          benchmark::DoNotOptimize(out);
          if (k != 0) got += k; else backoff(spins);
        }
      });
}

void mc_spsc_batch(benchmark::State& state) { mc_batch(state, 1); }
void mc_mpsc_batch(benchmark::State& state) { mc_batch(state, static_cast<int>(state.range(0))); }

} // namespace

// Names are "<case>/<implementation>"; scripts/bench_to_md.py pairs ringkernel with the other implementation
// of the same case and prints ours/theirs ratios.
BENCHMARK(rk_spsc_single)->Name("spsc_single/ringkernel")->UseRealTime();
BENCHMARK(mc_spsc_single)->Name("spsc_single/moodycamel_rwq")->UseRealTime();
BENCHMARK(rk_spsc_batch)->Name("spsc_batch32/ringkernel")->UseRealTime();
BENCHMARK(mc_spsc_batch)->Name("spsc_batch32/moodycamel_cq")->UseRealTime();
BENCHMARK(rk_mpsc_single)->Name("mpsc_single/ringkernel")->Arg(2)->ArgName("producers")->UseRealTime();
BENCHMARK(mc_mpsc_single)->Name("mpsc_single/moodycamel_cq")->Arg(2)->ArgName("producers")->UseRealTime();
BENCHMARK(rk_mpsc_batch)->Name("mpsc_batch32/ringkernel")->Arg(2)->ArgName("producers")->UseRealTime();
BENCHMARK(mc_mpsc_batch)->Name("mpsc_batch32/moodycamel_cq")->Arg(2)->ArgName("producers")->UseRealTime();

BENCHMARK_MAIN();
