// Shared actors, messages and helpers for the end-to-end runtime tests on the CPU backend.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ringkernel/runtime.hpp"

namespace rkt {

using namespace ringkernel;
using namespace std::chrono_literals;

#if defined(RINGKERNEL_SANITIZER_BUILD)
inline constexpr int kLoadDivisor = 8;
#else
inline constexpr int kLoadDivisor = 1;
#endif
/// Loop count scaled down under sanitizers.
inline constexpr int scaled(int n) { return std::max(1, n / kLoadDivisor); }

/// Generous timeout for operations that should complete promptly.
inline constexpr auto kLong = std::chrono::milliseconds(5000);

/// Polls `pred` until true or `timeout`; returns the final value.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = kLong) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::yield();
  }
  return true;
}

/// A runtime with small, test-friendly settings.
inline Runtime make_runtime(unsigned workers = 2, RuntimeConfig cfg = {}) {
  cfg.workers = workers;
  cfg.idle_spin = std::chrono::microseconds(20);
  auto rt = Runtime::builder().config(cfg).build();
  if (!rt) throw std::runtime_error(rt.error().describe());
  return std::move(rt).value();
}

/// Dead letters with a given reason.
inline std::vector<DeadLetter> letters(Runtime& rt, DeadLetterReason reason) {
  return rt.dead_letters().snapshot([reason](const DeadLetter& d) { return d.reason == reason; });
}

// --- messages ---------------------------------------------------------------------------------------------
struct Add { static constexpr auto type_id = message_type("t.Add"); std::uint64_t v; };
struct Inc { static constexpr auto type_id = message_type("t.Inc"); std::uint64_t v; };
struct Sum { static constexpr auto type_id = message_type("t.Sum"); std::uint64_t total; };
struct Get { static constexpr auto type_id = message_type("t.Get"); std::uint32_t pad; };
struct Boom { static constexpr auto type_id = message_type("t.Boom"); std::uint32_t code; };
struct Throw { static constexpr auto type_id = message_type("t.Throw"); std::uint32_t code; };
struct Ping { static constexpr auto type_id = message_type("t.Ping"); std::uint64_t v; };
struct Pong { static constexpr auto type_id = message_type("t.Pong"); std::uint64_t v; };
struct Unknown { static constexpr auto type_id = message_type("t.Unknown"); std::uint64_t v; };
struct Big { static constexpr auto type_id = message_type("t.Big"); std::uint8_t bytes[512]; };
struct Seq { static constexpr auto type_id = message_type("t.Seq"); std::uint32_t sender; std::uint32_t n; };
struct Hold { static constexpr auto type_id = message_type("t.Hold"); std::uint64_t v; };
struct Outcome { static constexpr auto type_id = message_type("t.Outcome"); std::uint32_t code; std::uint32_t extra; };

// --- shared observation state (constructor args are copied into every incarnation) ------------------------
struct Hooks {
  std::atomic<int> constructed{0};
  std::atomic<int> starts{0};
  std::atomic<int> stops{0};
};

/// A gate a handler waits on; the test opens it. The wait is capped so a broken test cannot hang forever.
struct Gate {
  std::atomic<bool> open{false};
  std::atomic<int> entered{0};
  void wait() {
    entered.fetch_add(1);
    const auto cap = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!open.load() && std::chrono::steady_clock::now() < cap) std::this_thread::yield();
  }
};

/// Ordered log of (sender, n) pairs seen by an actor.
struct Log {
  std::mutex mu;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> items;
  std::atomic<std::uint64_t> count{0};
  void add(std::uint32_t s, std::uint32_t n) {
    std::lock_guard lk(mu);
    items.emplace_back(s, n);
    count.fetch_add(1);
  }
  std::vector<std::pair<std::uint32_t, std::uint32_t>> copy() {
    std::lock_guard lk(mu);
    return items;
  }
};

// --- actors -----------------------------------------------------------------------------------------------

/// Sums Add/Inc; Add and Get reply with the total; Boom fails, Throw throws; Hold waits on a gate.
struct Counter {
  using messages = message_list<Add, Inc, Get, Boom, Throw, Hold>;
  std::shared_ptr<Hooks> hooks;
  std::shared_ptr<Gate> gate;
  std::uint64_t total = 0;
  Counter() = default;
  explicit Counter(std::shared_ptr<Hooks> h, std::shared_ptr<Gate> g = nullptr) : hooks(std::move(h)), gate(std::move(g)) {
    if (hooks) hooks->constructed.fetch_add(1);
  }
  void on_start(Context&) { if (hooks) hooks->starts.fetch_add(1); }
  void on_stop(Context&) { if (hooks) hooks->stops.fetch_add(1); }
  void handle(auto& ctx, const Add& m) { total += m.v; ctx.reply(Sum{total}); }
  void handle(auto&, const Inc& m) { total += m.v; }
  void handle(auto& ctx, const Get&) { ctx.reply(Sum{total}); }
  void handle(auto& ctx, const Boom& m) { ctx.fail("boom " + std::to_string(m.code)); }
  void handle(auto&, const Throw& m) { throw std::runtime_error("thrown " + std::to_string(m.code)); }
  void handle(auto& ctx, const Hold& m) {
    if (gate) gate->wait();
    total += m.v;
    ctx.reply(Sum{total});
  }
};

/// Replies Pong to Ping and forwards every Ping to the host as a Pong too.
struct Echo {
  using messages = message_list<Ping, Get>;
  std::uint64_t seen = 0;
  void handle(auto& ctx, const Ping& m) {
    ++seen;
    (void)ctx.send(kHostActor, Pong{m.v});
  }
  void handle(auto& ctx, const Get&) { ctx.reply(Sum{seen}); }
};

/// Records every Seq in a shared log; optionally slow. Get replies with the count.
struct Recorder {
  using messages = message_list<Seq, Get, Ping>;
  std::shared_ptr<Log> log;
  std::uint32_t slow_us = 0;
  std::uint64_t n = 0;
  explicit Recorder(std::shared_ptr<Log> l, std::uint32_t slow = 0) : log(std::move(l)), slow_us(slow) {}
  void handle(auto&, const Seq& m) {
    if (slow_us != 0) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(slow_us);
      while (std::chrono::steady_clock::now() < until) {}  // busy work, not synchronisation
    }
    ++n;
    log->add(m.sender, m.n);
  }
  void handle(auto&, const Ping& m) {
    ++n;
    log->add(0xFFFFFFFFu, static_cast<std::uint32_t>(m.v));
  }
  void handle(auto& ctx, const Get&) { ctx.reply(Sum{n}); }
};

/// An actor that handles a message type larger than a default slot.
struct BigActor {
  using messages = message_list<Big>;
  void handle(auto&, const Big&) {}
};

} // namespace rkt
