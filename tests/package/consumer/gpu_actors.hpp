// A device actor of the CUDA consumer: compiled by g++ for the host and by nvcc (gpu_actors.cu) for the GPU.
#pragma once
#include <ringkernel/ringkernel.hpp>

#include <cstdint>

namespace consumer {

struct Add {
  static constexpr auto type_id = ringkernel::message_type("consumer.Add");
  std::uint64_t value;
};
struct Total {
  static constexpr auto type_id = ringkernel::message_type("consumer.Total");
  std::uint64_t total;
};

// Keeps a running total scaled by a launch argument (so the state really comes from the host).
struct Accumulator {
  using messages = ringkernel::message_list<Add>;
  std::uint64_t total = 0;
  std::uint64_t scale = 1;
  Accumulator() = default;
  explicit Accumulator(std::uint64_t s) : scale(s) {}
  RK_HOST_DEVICE void handle(auto& ctx, const Add& m) {
    total += m.value * scale;
    (void)ctx.reply(Total{total});
  }
};

} // namespace consumer
