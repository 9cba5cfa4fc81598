// HLC cost: HlcClock::tick single-threaded and contended (one shared clock, 2 and 4 threads), update, and the
// pure step function. The raw-atomic rows are a lower bound for "one shared 64-bit word": a clock step cannot
// be cheaper than a fetch_add on the same cache line.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>

#include "ringkernel/hlc.hpp"

namespace rk = ringkernel;

namespace {

// A clock shared by all benchmark threads (Google Benchmark runs ->Threads(n) bodies concurrently).
rk::HlcClock g_clock(1);
rk::HlcClock g_frozen_clock(2, rk::HlcClock::kDefaultMaxDriftMs, [] () noexcept -> std::uint64_t {
  return 1'704'067'200'000ull;  // frozen wall time: every tick takes the logical (+1) path
});
std::atomic<std::uint64_t> g_counter{0};

void tick(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(g_clock.tick());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void tick_frozen_wall(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(g_frozen_clock.tick());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void update(benchmark::State& state) {
  const std::uint64_t base = g_clock.tick().packed;
  std::uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(g_clock.update(base + (++i & 1023)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void atomic_fetch_add(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(g_counter.fetch_add(1, std::memory_order_acq_rel));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void next_tick_pure(benchmark::State& state) {
  std::uint64_t c = rk::hlc_pack(1'704'067'200'000ull, 0);
  std::uint64_t wall = 1'704'067'200'000ull;
  for (auto _ : state) {
    benchmark::DoNotOptimize(wall);
    c = rk::hlc_next_tick(c, wall);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void system_clock_read(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(rk::system_physical_ms());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

} // namespace

BENCHMARK(tick)->Name("hlc_tick/ringkernel")->Threads(1)->Threads(2)->Threads(4)->UseRealTime();
BENCHMARK(tick_frozen_wall)->Name("hlc_tick_logical/ringkernel")->Threads(1)->Threads(2)->Threads(4)->UseRealTime();
BENCHMARK(atomic_fetch_add)->Name("shared_word_fetch_add/baseline")->Threads(1)->Threads(2)->Threads(4)->UseRealTime();
BENCHMARK(update)->Name("hlc_update/ringkernel")->UseRealTime();
BENCHMARK(next_tick_pure)->Name("hlc_next_tick_pure/ringkernel");
BENCHMARK(system_clock_read)->Name("system_physical_ms/ringkernel");

BENCHMARK_MAIN();
