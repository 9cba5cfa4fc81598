// Actor-level benchmarks on the CPU backend (workers(2)):
//   BM_CallRoundTrip     (workers 2, and 1 for comparison) host call -> actor handler -> reply seen by the host; p50/p99/mean ns counters
//                        from a per-iteration sample vector (warm-up calls excluded).
//   BM_SendThroughput    host -> actor one-way, one send per message.
//   BM_SendManyThroughput host -> actor one-way, send_many in batches of 64.
//   BM_K2KChain          host -> first -> second, actor-to-actor one-way through a 2-actor chain.
// Throughput benchmarks time until the actor has *handled* every message, not just until it was enqueued:
// each iteration ends with a call, which the actor answers only after everything sent before it.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <vector>

#include "ringkernel/runtime.hpp"

using namespace ringkernel;
using namespace std::chrono_literals;

namespace {

struct Ping {
  static constexpr auto type_id = message_type("bench.Ping");
  std::uint64_t v;
};
struct Pong {
  static constexpr auto type_id = message_type("bench.Pong");
  std::uint64_t v;
};
struct Item {
  static constexpr auto type_id = message_type("bench.Item");
  std::uint64_t v;
};
struct Barrier {
  static constexpr auto type_id = message_type("bench.Barrier");
  std::uint64_t unused;
};
struct Count {
  static constexpr auto type_id = message_type("bench.Count");
  std::uint64_t items;
};

struct Echo {
  using messages = message_list<Ping>;
  void handle(auto& ctx, const Ping& p) { ctx.reply(Pong{p.v + 1}); }
};

/// Counts items; answers a Barrier with the count (so the host knows everything before it was handled).
struct Sink {
  using messages = message_list<Item, Barrier>;
  std::uint64_t items = 0;
  void handle(auto&, const Item&) { ++items; }
  void handle(auto& ctx, const Barrier&) { ctx.reply(Count{items}); }
};

/// First stage of the K2K chain: forwards every item to `next` (an id, resolved once at launch).
struct Forward {
  using messages = message_list<Item, Barrier>;
  ActorId next;
  std::uint64_t items = 0;
  explicit Forward(ActorId n) : next(n) {}
  void handle(auto& ctx, const Item& i) {
    ++items;
    ctx.send(next, i);
  }
  void handle(auto& ctx, const Barrier&) { ctx.reply(Count{items}); }
};

Result<Runtime> make_runtime(unsigned workers = 2) {
  return Runtime::builder().backend(Backend::Cpu).workers(workers).build();
}

// Messages per throughput iteration. Mailboxes hold at least this many, so actor-to-actor sends in the
// chain never meet a full mailbox (which would dead-letter rather than block).
constexpr std::size_t kChunk = 4096;
constexpr std::size_t kBatch = 64;

std::uint64_t nearest_rank(const std::vector<std::uint64_t>& sorted, double q) {
  const auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(idx, 1, sorted.size()) - 1];
}

void BM_CallRoundTrip(benchmark::State& state) {
  auto rt = make_runtime(static_cast<unsigned>(state.range(0)));
  if (!rt) return state.SkipWithError(rt.error().describe().c_str());
  auto echo = rt->launch<Echo>("echo");
  if (!echo) return state.SkipWithError(echo.error().describe().c_str());
  // Warm-up: first calls pay for thread wake-ups, page faults and cold caches.
  for (int i = 0; i < 2000; ++i) {
    if (!echo->call<Pong>(Ping{1}, 1s)) return state.SkipWithError("warm-up call failed");
  }
  std::vector<std::uint64_t> samples;
  samples.reserve(static_cast<std::size_t>(state.max_iterations));
  std::uint64_t v = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = echo->call<Pong>(Ping{v}, 1s);
    const auto t1 = std::chrono::steady_clock::now();
    if (!r || r->v != v + 1) {
      state.SkipWithError("call failed or returned a wrong reply");
      break;
    }
    ++v;
    samples.push_back(static_cast<std::uint64_t>(std::chrono::nanoseconds(t1 - t0).count()));
  }
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  const double mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  state.counters["p50_ns"] = static_cast<double>(nearest_rank(samples, 0.50));
  state.counters["p99_ns"] = static_cast<double>(nearest_rank(samples, 0.99));
  state.counters["mean_ns"] = mean;
  state.SetItemsProcessed(state.iterations());
  (void)rt->shutdown();
}
// Arg = worker threads. 2 is the reference configuration; 1 shows the cost of a second spinning worker
// competing with the calling host thread on a 2-core machine.
BENCHMARK(BM_CallRoundTrip)->ArgName("workers")->Arg(2)->Arg(1)->UseRealTime()->Unit(benchmark::kNanosecond);

/// Shared body of the host -> actor throughput benchmarks; `batched` selects send_many.
void host_to_actor(benchmark::State& state, bool batched) {
  auto rt = make_runtime();
  if (!rt) return state.SkipWithError(rt.error().describe().c_str());
  LaunchOptions lo;
  lo.mailbox_capacity = 2 * kChunk;
  auto sink = rt->launch<Sink>("sink", lo);
  if (!sink) return state.SkipWithError(sink.error().describe().c_str());
  const std::vector<Item> items(kChunk, Item{1});
  std::uint64_t expected = 0;
  for (auto _ : state) {
    if (batched) {
      for (std::size_t off = 0; off < kChunk;) {
        auto n = sink->send_many(std::span<const Item>(items.data() + off, std::min(kBatch, kChunk - off)));
        if (!n) return state.SkipWithError(n.error().describe().c_str());
        off += *n;
      }
    } else {
      for (std::size_t i = 0; i < kChunk; ++i) {
        if (!sink->send(items[i])) return state.SkipWithError("send failed");
      }
    }
    expected += kChunk;
    auto c = sink->call<Count>(Barrier{0}, 5s);  // the barrier: handled after every item above
    if (!c || c->items != expected) return state.SkipWithError("barrier call failed or items were lost");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(expected));
  state.counters["ns_per_msg"] = benchmark::Counter(static_cast<double>(expected),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  (void)rt->shutdown();
}

void BM_SendThroughput(benchmark::State& state) { host_to_actor(state, false); }
void BM_SendManyThroughput(benchmark::State& state) { host_to_actor(state, true); }
BENCHMARK(BM_SendThroughput)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SendManyThroughput)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_K2KChain(benchmark::State& state) {
  auto rt = make_runtime();
  if (!rt) return state.SkipWithError(rt.error().describe().c_str());
  LaunchOptions lo;
  lo.mailbox_capacity = 2 * kChunk;
  auto second = rt->launch<Sink>("second", lo);
  if (!second) return state.SkipWithError(second.error().describe().c_str());
  auto first = rt->launch<Forward>("first", lo, second->id());
  if (!first) return state.SkipWithError(first.error().describe().c_str());
  const std::vector<Item> items(kChunk, Item{1});
  std::uint64_t expected = 0;
  for (auto _ : state) {
    for (std::size_t off = 0; off < kChunk;) {
      auto n = first->send_many(std::span<const Item>(items.data() + off, std::min(kBatch, kChunk - off)));
      if (!n) return state.SkipWithError(n.error().describe().c_str());
      off += *n;
    }
    expected += kChunk;
    // Two-step barrier: once `first` answers, it has forwarded every item (its sends completed before
    // its reply); a call to `second` made after that is queued behind all of them.
    auto f = first->call<Count>(Barrier{0}, 5s);
    auto s = f ? second->call<Count>(Barrier{0}, 5s) : Result<Count>(f.error());
    if (!s || s->items != expected) return state.SkipWithError("barrier failed or items were lost");
  }
  if (rt->dead_letters().stats().pushed != 0) return state.SkipWithError("messages were dead-lettered");
  state.SetItemsProcessed(static_cast<std::int64_t>(expected));
  state.counters["ns_per_msg"] = benchmark::Counter(static_cast<double>(expected),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  (void)rt->shutdown();
}
BENCHMARK(BM_K2KChain)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
