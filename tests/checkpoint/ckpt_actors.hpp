// Actors shared by the checkpoint tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <ringkernel/checkpoint/snapshot.hpp>
#include <ringkernel/ringkernel.hpp>

namespace ckpt_test {

namespace rk = ringkernel;

struct Add { static constexpr auto type_id = rk::message_type("ckpt.Add"); std::uint64_t value; };
struct Get { static constexpr auto type_id = rk::message_type("ckpt.Get"); std::uint32_t pad; };
struct Sum { static constexpr auto type_id = rk::message_type("ckpt.Sum"); std::uint64_t total; std::uint64_t count; };
struct Echo { static constexpr auto type_id = rk::message_type("ckpt.Echo"); std::uint64_t value; };

// Trivially copyable: checkpointed as its bytes. Echo replies go to the host receive queue.
struct Counter {
  using messages = rk::message_list<Add, Get, Echo>;
  std::uint64_t total = 0;
  std::uint64_t count = 0;
  void handle(auto&, const Add& m) { total += m.value; ++count; }
  void handle(auto& ctx, const Get&) { ctx.reply(Sum{total, count}); }
  void handle(auto& ctx, const Echo& m) { (void)ctx.send(rk::kHostActor, m); }
};

struct Token { static constexpr auto type_id = rk::message_type("ckpt.Token"); std::uint32_t hops; std::uint64_t value; };
struct SetNext { static constexpr auto type_id = rk::message_type("ckpt.SetNext"); rk::ActorId next; };

// A ring of relays passing tokens: each token is finished (counted) exactly once, wherever it is at the cut.
struct Relay {
  using messages = rk::message_list<Token, SetNext, Get>;
  rk::ActorId next = 0;
  std::uint64_t done = 0;
  std::uint64_t sum = 0;
  void handle(auto&, const SetNext& m) { next = m.next; }
  void handle(auto& ctx, const Token& t) {
    if (t.hops == 0) { ++done; sum += t.value; return; }
    if (!ctx.send(next, Token{t.hops - 1, t.value})) ctx.fail("relay send failed");
  }
  void handle(auto& ctx, const Get&) { ctx.reply(Sum{sum, done}); }
};

// Not trivially copyable: opts in with checkpoint_save/checkpoint_load.
struct Journal {
  using messages = rk::message_list<Add, Get>;
  std::vector<std::uint64_t> values;
  std::string label = "journal";
  void handle(auto&, const Add& m) { values.push_back(m.value); }
  void handle(auto& ctx, const Get&) {
    std::uint64_t t = 0;
    for (auto v : values) t += v;
    ctx.reply(Sum{t, values.size()});
  }
  void checkpoint_save(std::vector<std::byte>& out) const {
    const std::uint64_t n = values.size();
    out.resize(8 + n * 8 + label.size());
    std::memcpy(out.data(), &n, 8);
    if (n != 0) std::memcpy(out.data() + 8, values.data(), n * 8);
    std::memcpy(out.data() + 8 + n * 8, label.data(), label.size());
  }
  rk::Status checkpoint_load(std::span<const std::byte> in) {
    std::uint64_t n = 0;
    if (in.size() < 8) return rk::make_error(rk::ErrorCode::Corrupt, "journal state too short");
    std::memcpy(&n, in.data(), 8);
    if ((in.size() - 8) / 8 < n) return rk::make_error(rk::ErrorCode::Corrupt, "journal state truncated");
    values.resize(n);
    if (n != 0) std::memcpy(values.data(), in.data() + 8, n * 8);
    label.assign(reinterpret_cast<const char*>(in.data() + 8 + n * 8), in.size() - 8 - n * 8);
    return {};
  }
};

// Not checkpointable on purpose (not trivially copyable, no save/load).
struct Opaque {
  using messages = rk::message_list<Add>;
  std::string s;
  void handle(auto&, const Add&) {}
};

struct Fill { static constexpr auto type_id = rk::message_type("ckpt.Fill"); std::uint32_t seed; };
struct Stamp { static constexpr auto type_id = rk::message_type("ckpt.Stamp"); std::uint32_t value; };
struct Poke { static constexpr auto type_id = rk::message_type("ckpt.Poke"); std::uint64_t offset; std::uint64_t value; };
struct Digest { static constexpr auto type_id = rk::message_type("ckpt.Digest"); std::uint32_t pad; };
struct DigestIs { static constexpr auto type_id = rk::message_type("ckpt.DigestIs"); std::uint64_t hash; std::uint32_t stamp; std::uint32_t uniform; };

// A large trivially copyable state (3 MiB + 12,345 bytes: several segments of 1 MiB, the last one partial), which
// checkpoints stream segment by segment.
struct Blob {
  static constexpr std::size_t kBytes = (std::size_t{3} << 20) + 12345;
  static constexpr std::size_t kPage = 4096;
  using messages = rk::message_list<Fill, Stamp, Poke, Digest>;
  std::uint8_t data[kBytes];
  Blob() {}  // NOLINT: filled by Fill; restore overwrites it
  void handle(auto&, const Fill& f) {
    std::uint32_t x = f.seed * 2654435761u + 1;
    for (std::size_t i = 0; i < kBytes; ++i) {
      x = x * 1664525u + 1013904223u;
      // Half random, half runs: compressible but not trivially.
      data[i] = (i & 64) != 0 ? static_cast<std::uint8_t>(x >> 24) : static_cast<std::uint8_t>(i >> 12);
    }
  }
  // Writes `value` into the first 4 bytes of every page: a state captured mid-handler would mix two stamps.
  void handle(auto&, const Stamp& s) {
    for (std::size_t p = 0; p + 4 <= kBytes; p += kPage) std::memcpy(data + p, &s.value, 4);
  }
  void handle(auto&, const Poke& p) {
    if (p.offset + 8 <= kBytes) std::memcpy(data + p.offset, &p.value, 8);
  }
  void handle(auto& ctx, const Digest&) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (std::size_t i = 0; i < kBytes; ++i) h = (h ^ data[i]) * 1099511628211ull;
    std::uint32_t first = 0;
    std::memcpy(&first, data, 4);
    std::uint32_t uniform = 1;
    for (std::size_t p = 0; p + 4 <= kBytes; p += kPage) {
      std::uint32_t v = 0;
      std::memcpy(&v, data + p, 4);
      if (v != first) uniform = 0;
    }
    ctx.reply(DigestIs{h, first, uniform});
  }
};

inline rk::Runtime make_runtime(unsigned workers = 2) {
  auto rt = rk::Runtime::builder().backend(rk::Backend::Cpu).workers(workers).idle_spin(std::chrono::microseconds(5)).build();
  return std::move(rt).value();
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return p();
}

inline rk::ActorCatalog catalog() {
  rk::ActorCatalog c;
  c.add<Counter>();
  c.add<Relay>();
  c.add<Journal>();
  c.add<Blob>();
  return c;
}

} // namespace ckpt_test
