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

} // namespace gpu_test
