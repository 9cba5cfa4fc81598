// pipeline: three actors chained by registered name, fed in batches with send_many.
//
//   host --send_many--> parse --> square --> sum <--call-- host
//
// `parse` drops odd-looking input (negative numbers), `square` squares, `sum` keeps totals. The host knows
// what it sent, so it can check the totals exactly. Exits 0 when they match, 1 otherwise.
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "ringkernel/runtime.hpp"

using namespace ringkernel;
using namespace std::chrono_literals;

struct Number {
  static constexpr auto type_id = message_type("pipeline.Number");
  std::int64_t value;
};
struct Squared {
  static constexpr auto type_id = message_type("pipeline.Squared");
  std::int64_t value;
};
struct GetTotals {
  static constexpr auto type_id = message_type("pipeline.GetTotals");
  std::uint32_t unused;
};
struct Totals {
  static constexpr auto type_id = message_type("pipeline.Totals");
  std::uint64_t count;
  std::int64_t sum;
};

// Actors address each other by registered name: a stage can be restarted or replaced without the
// upstream stage holding a stale id. (A failed actor-to-actor send is dead-lettered by the runtime.)
struct Parse {
  using messages = message_list<Number>;
  void handle(auto& ctx, const Number& n) {
    if (n.value < 0) return;  // our "validation": negative readings are discarded
    ctx.send("square", n);
  }
};
struct Square {
  using messages = message_list<Number>;
  void handle(auto& ctx, const Number& n) { ctx.send("sum", Squared{n.value * n.value}); }
};
struct Sum {
  using messages = message_list<Squared, GetTotals>;
  std::uint64_t count = 0;
  std::int64_t sum = 0;
  void handle(auto&, const Squared& s) {
    ++count;
    sum += s.value;
  }
  void handle(auto& ctx, const GetTotals&) { ctx.reply(Totals{count, sum}); }
};

int main() {
  constexpr int kCount = 20000;
  constexpr std::size_t kBatch = 64;

  auto rt = Runtime::builder().workers(2).build();
  if (!rt) {
    std::fprintf(stderr, "cannot build runtime: %s\n", rt.error().describe().c_str());
    return 1;
  }
  // Actor-to-actor sends never block a worker: a full mailbox means a dead letter. Give the downstream
  // stages room for the whole run so this example shows the happy path. (The host's own sends do block
  // briefly when `parse` is full: that is the default back-pressure policy.)
  LaunchOptions roomy;
  roomy.mailbox_capacity = 32768;
  // Launch downstream first so that every name is bound before anything is forwarded to it.
  auto sum = rt->launch<Sum>("sum", roomy);
  auto square = rt->launch<Square>("square", roomy);
  auto parse = rt->launch<Parse>("parse");
  if (!sum || !square || !parse) {
    std::fprintf(stderr, "launch failed\n");
    return 1;
  }

  // Build the input and what we expect at the end.
  std::vector<Number> input;
  std::uint64_t expect_count = 0;
  std::int64_t expect_sum = 0;
  for (int i = 0; i < kCount; ++i) {
    const std::int64_t v = (i % 10 == 9) ? -i : i;  // every 10th number is invalid
    input.push_back(Number{v});
    if (v >= 0) {
      ++expect_count;
      expect_sum += v * v;
    }
  }

  // send_many publishes a whole batch with one queue operation; it may accept only part of a batch
  // (returning how many), so loop until everything is in.
  for (std::size_t off = 0; off < input.size();) {
    const std::size_t n = std::min(kBatch, input.size() - off);
    auto accepted = parse->send_many(std::span<const Number>(input.data() + off, n));
    if (!accepted) {
      std::fprintf(stderr, "send_many failed: %s\n", accepted.error().describe().c_str());
      return 1;
    }
    off += *accepted;
  }

  // The numbers pass through two other mailboxes before reaching `sum`, so a single call is not a barrier:
  // ask until the totals stop growing at the expected count (or give up after a deadline).
  Totals t{};
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = sum->call<Totals>(GetTotals{0}, 1s);
    if (!r) {
      std::fprintf(stderr, "call failed: %s\n", r.error().describe().c_str());
      return 1;
    }
    t = *r;
    if (t.count >= expect_count) break;
    std::this_thread::sleep_for(1ms);
  }

  const std::size_t dead = rt->dead_letters().size();
  std::printf("sent %d numbers, %llu valid\n", kCount, static_cast<unsigned long long>(expect_count));
  std::printf("sum actor: count=%llu sum=%lld (expected %llu / %lld), dead letters: %zu\n",
              static_cast<unsigned long long>(t.count), static_cast<long long>(t.sum),
              static_cast<unsigned long long>(expect_count), static_cast<long long>(expect_sum), dead);
  const bool ok = t.count == expect_count && t.sum == expect_sum && dead == 0;
  auto done = rt->shutdown();
  std::printf("%s; shutdown: %s\n", ok ? "totals match" : "MISMATCH", done ? "ok" : done.error().describe().c_str());
  return ok && done ? 0 : 1;
}
