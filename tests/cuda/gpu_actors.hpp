// Actors the GPU tests and the GPU benchmark run on both backends (plain C++: the same source is compiled by
// g++ for the CPU backend and by nvcc for the device).
#pragma once

#include <cstdint>

#include "ringkernel/ringkernel.hpp"

namespace gpu_test {

struct Ping {
  static constexpr auto type_id = ringkernel::message_type("gpu.Ping");
  std::uint64_t seq;
  std::uint64_t value;
};
struct Pong {
  static constexpr auto type_id = ringkernel::message_type("gpu.Pong");
  std::uint64_t seq;
  std::uint64_t value;
  std::uint64_t count;  // messages this actor has handled, including this one
};
struct Crash {
  static constexpr auto type_id = ringkernel::message_type("gpu.Crash");
  std::uint32_t code;
};
struct Big {
  static constexpr auto type_id = ringkernel::message_type("gpu.Big");
  std::uint8_t bytes[300];
};

/// Echoes Ping as Pong{seq, value * 3 + 1, count}; fails on Crash. State: how many messages it handled.
struct Echo {
  using messages = ringkernel::message_list<Ping, Crash>;
  std::uint64_t count = 0;
  std::uint64_t offset = 1;  // set from the launch arguments (checks state upload)
  Echo() = default;
  explicit Echo(std::uint64_t off) : offset(off) {}
  RK_HOST_DEVICE void handle(auto& ctx, const Ping& m) {
    ++count;
    (void)ctx.reply(Pong{m.seq, m.value * 3 + offset, count});
  }
  RK_HOST_DEVICE void handle(auto& ctx, const Crash&) { ctx.fail("crash requested"); }
};

/// True when a send was refused for lack of room (the host Context returns Status, the device ErrorCode).
RK_HOST_DEVICE inline bool refused(ringkernel::ErrorCode c) { return c == ringkernel::ErrorCode::QueueFull; }
inline bool refused(const ringkernel::Status& s) { return !s.ok() && s.error().code() == ringkernel::ErrorCode::QueueFull; }

struct Forward {
  static constexpr auto type_id = ringkernel::message_type("gpu.Forward");
  std::uint64_t value;
  std::uint32_t hops;
};

/// Forwards every message to `next` (kHostActor = the host) after adding `add`: chains of K2K hops.
struct Relay {
  using messages = ringkernel::message_list<Forward>;
  ringkernel::ActorId next = ringkernel::kHostActor;
  std::uint64_t add = 0;
  Relay() = default;
  Relay(ringkernel::ActorId n, std::uint64_t a) : next(n), add(a) {}
  RK_HOST_DEVICE void handle(auto& ctx, const Forward& f) {
    const Forward out{f.value + add, f.hops + 1};
    while (refused(ctx.send(next, out))) {
    }
  }
};

/// K2K cargo of two sizes (a 128-byte slot holds a Cargo; a BigCargo spans more LL vectors than one warp reads
/// at once); bytes[i] = seq * 7 + i.
struct Cargo {
  static constexpr auto type_id = ringkernel::message_type("gpu.Cargo");
  std::uint32_t seq;
  std::uint32_t hops;
  std::uint8_t bytes[40];
};
struct BigCargo {
  static constexpr auto type_id = ringkernel::message_type("gpu.BigCargo");
  std::uint32_t seq;
  std::uint32_t hops;
  std::uint8_t bytes[700];
};
/// Passes cargo to `next` unchanged but for one more hop.
template <class C>
RK_HOST_DEVICE void carry(auto& ctx, ringkernel::ActorId next, const C& c) {
  C out = c;
  ++out.hops;
  while (refused(ctx.send(next, out))) {
  }
}
/// Carries Cargo (fits 128-byte slots).
struct Carrier {
  using messages = ringkernel::message_list<Cargo>;
  ringkernel::ActorId next = ringkernel::kHostActor;
  Carrier() = default;
  explicit Carrier(ringkernel::ActorId n) : next(n) {}
  RK_HOST_DEVICE void handle(auto& ctx, const Cargo& c) { carry(ctx, next, c); }
};
/// Carries both sizes (needs slots of 1 KiB).
struct BigCarrier {
  using messages = ringkernel::message_list<Cargo, BigCargo>;
  ringkernel::ActorId next = ringkernel::kHostActor;
  BigCarrier() = default;
  explicit BigCarrier(ringkernel::ActorId n) : next(n) {}
  RK_HOST_DEVICE void handle(auto& ctx, const Cargo& c) { carry(ctx, next, c); }
  RK_HOST_DEVICE void handle(auto& ctx, const BigCargo& c) { carry(ctx, next, c); }
};

struct Burst {
  static constexpr auto type_id = ringkernel::message_type("gpu.Burst");
  std::uint32_t count;
  ringkernel::ActorId target;
};
struct Tick {
  static constexpr auto type_id = ringkernel::message_type("gpu.Tick");
  std::uint32_t from;
  std::uint32_t seq;
};
struct Query {
  static constexpr auto type_id = ringkernel::message_type("gpu.Query");
  std::uint32_t unused;
};
struct Total {
  static constexpr auto type_id = ringkernel::message_type("gpu.Total");
  std::uint64_t count;
  std::uint64_t sum;
  std::uint64_t out_of_order;
};

/// Sends `count` Ticks to `target`, retrying while the target's inbox is full (back-pressure, no loss).
struct Producer {
  using messages = ringkernel::message_list<Burst>;
  std::uint64_t refusals = 0;
  RK_HOST_DEVICE void handle(auto& ctx, const Burst& b) {
    for (std::uint32_t i = 0; i < b.count; ++i) {
      while (refused(ctx.send(b.target, Tick{ctx.self(), i}))) ++refusals;
    }
  }
};

/// Counts Ticks, checks per-sender FIFO order, answers Query with the totals.
struct Sink {
  using messages = ringkernel::message_list<Tick, Query>;
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  std::uint64_t out_of_order = 0;
  std::uint32_t next_seq[64] = {};
  RK_HOST_DEVICE void handle(auto& /*ctx*/, const Tick& t) {
    ++count;
    sum += t.seq;
    std::uint32_t& expect = next_seq[t.from % 64];
    if (t.seq != expect) ++out_of_order;
    expect = t.seq + 1;
  }
  RK_HOST_DEVICE void handle(auto& ctx, const Query&) { (void)ctx.reply(Total{count, sum, out_of_order}); }
};

/// Producer and sink in one type, so that fan-in can run between actors of one kernel (and so of one
/// thread-block cluster, where K2K goes through distributed shared memory).
struct Hub {
  using messages = ringkernel::message_list<Burst, Tick, Query>;
  Producer producer;
  Sink sink;
  RK_HOST_DEVICE void handle(auto& ctx, const Burst& b) { producer.handle(ctx, b); }
  RK_HOST_DEVICE void handle(auto& ctx, const Tick& t) { sink.handle(ctx, t); }
  RK_HOST_DEVICE void handle(auto& ctx, const Query& q) { sink.handle(ctx, q); }
};

struct Volley {
  static constexpr auto type_id = ringkernel::message_type("gpu.Volley");
  std::uint32_t remaining;
  ringkernel::ActorId peer;  // where the host's first Volley goes next; later hops bounce back to the sender
};
struct Done {
  static constexpr auto type_id = ringkernel::message_type("gpu.Done");
  std::uint32_t volleys;
};
/// Bounces a Volley back and forth until `remaining` reaches zero, then tells the host (K2K ping-pong).
struct Bouncer {
  using messages = ringkernel::message_list<Volley>;
  std::uint32_t seen = 0;
  RK_HOST_DEVICE void handle(auto& ctx, const Volley& v) {
    ++seen;
    if (v.remaining == 0) {
      (void)ctx.send(ringkernel::kHostActor, Done{seen});
      return;
    }
    const ringkernel::ActorId to = ctx.message().source == ringkernel::kHostActor ? v.peer : ctx.message().source;
    while (refused(ctx.send(to, Volley{v.remaining - 1, 0}))) {
    }
  }
};

struct Put {
  static constexpr auto type_id = ringkernel::message_type("gpu.Put");
  std::uint32_t index;
  std::uint64_t value;
};
struct Get {
  static constexpr auto type_id = ringkernel::message_type("gpu.Get");
  std::uint32_t index;
};
struct Cell {
  static constexpr auto type_id = ringkernel::message_type("gpu.Cell");
  std::uint64_t value;
  std::uint64_t writes;
};
/// A 256 KiB table: large enough that the CUDA backend keeps it in device memory and copies it with the copy
/// engine (not through mapped memory), so checkpoints and restores of big states are exercised.
struct Ledger {
  using messages = ringkernel::message_list<Put, Get>;
  static constexpr std::uint32_t kCells = 32 * 1024;
  std::uint64_t writes = 0;
  std::uint64_t cells[kCells] = {};
  RK_HOST_DEVICE void handle(auto& /*ctx*/, const Put& p) {
    cells[p.index % kCells] = p.value;
    ++writes;
  }
  RK_HOST_DEVICE void handle(auto& ctx, const Get& g) { (void)ctx.reply(Cell{cells[g.index % kCells], writes}); }
};

/// What Hooked's lifecycle hooks tell the host: kind 1 from on_start, 2 from on_stop, with the state they saw.
struct Note {
  static constexpr auto type_id = ringkernel::message_type("gpu.Note");
  std::uint32_t kind;
  std::uint32_t reserved;
  std::uint64_t count;
  std::uint64_t tag;
};
/// Counts Pings like Echo (Pong{seq, value, count}) and reports its on_start and on_stop to the host.
struct Hooked {
  using messages = ringkernel::message_list<Ping>;
  std::uint64_t count = 0;
  std::uint64_t tag = 0;  // from the launch arguments
  Hooked() = default;
  explicit Hooked(std::uint64_t t) : tag(t) {}
  RK_HOST_DEVICE void on_start(auto& ctx) { (void)ctx.send(ringkernel::kHostActor, Note{1, 0, count, tag}); }
  RK_HOST_DEVICE void on_stop(auto& ctx) { (void)ctx.send(ringkernel::kHostActor, Note{2, 0, count, tag}); }
  RK_HOST_DEVICE void handle(auto& ctx, const Ping& m) {
    ++count;
    (void)ctx.reply(Pong{m.seq, m.value, count});
  }
};

} // namespace gpu_test
