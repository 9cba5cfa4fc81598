// Build (after the GPU build, scripts/gpu-check.sh does both):
//   nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -DRINGKERNEL_HAS_CUDA=1 -Iinclude -Itests benchmarks/gpu/probes/stream_host.cu \
//     build/gpu/src/cuda/libringkernel_cuda.a build/gpu/libringkernel_cpu.a build/gpu/libringkernel_core.a -o stream_host
// Run:   ./stream_host [total]
//
// Row 5 of the GPU benchmark (sustained request -> reply from one host thread through the runtime, Echo actors
// with 128-byte slots) for 1 to 32 actors, with the host thread's time split between send_many and
// receive_each and the messages each call moved: where the runtime's host side spends a message, next to the
// device's own ceiling (stream_stages.cu).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "ringkernel/cuda/actor_kernel.cuh"
#include "ringkernel/runtime.hpp"
#include "cuda/gpu_actors.hpp"

RINGKERNEL_CUDA_ACTOR(gpu_test::Echo)

using namespace ringkernel;
using clk = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::uint64_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
  RuntimeConfig cfg;
  cfg.backend = Backend::Cuda;
  cfg.cuda_slots_per_type = 32;
  auto rt = Runtime::builder().config(cfg).build();
  if (!rt) {
    std::printf("runtime: %s\n", rt.error().describe().c_str());
    return 1;
  }
  LaunchOptions big;
  big.mailbox_capacity = 8192;
  big.outbox_capacity = 16384;
  big.slot_size = 128;
  big.backpressure.policy = OverflowPolicy::Reject;
  std::vector<ActorHandle> all;
  for (unsigned actors : {1u, 6u, 16u, 32u}) {
    while (all.size() < actors) {
      auto a = rt->launch<gpu_test::Echo>("tp" + std::to_string(all.size()), big, std::uint64_t{1});
      if (!a) {
        std::printf("launch: %s\n", a.error().describe().c_str());
        return 1;
      }
      all.push_back(*a);
    }
    // Per actor: requests sent and the seq the next reply must carry (Echo echoes it); both continue from the
    // warm-up pass into the timed one, and start at 0 for each actor count (a fresh stream per actor).
    std::vector<std::uint64_t> sent_per(actors, 0), next_seq(actors, 0);
    for (int pass = 0; pass < 2; ++pass) {  // pass 0 warms up
      const std::uint64_t want = pass == 0 ? total / 10 : total;
      std::vector<gpu_test::Ping> batch(256);
      std::uint64_t sent = 0, got = 0, bad = 0, send_calls = 0, recv_calls = 0, recv_empty = 0;
      double send_s = 0, recv_s = 0;
      std::size_t rr = 0;
      const auto t0 = clk::now();
      auto last = t0;
      while (got < want) {
        if (sent < want) {
          const std::size_t a = rr++ % actors;
          const std::uint64_t k = std::min<std::uint64_t>(batch.size(), want - sent);
          for (std::uint64_t j = 0; j < k; ++j) batch[j] = gpu_test::Ping{sent_per[a] + j, 2};
          const auto s0 = clk::now();
          auto n = all[a].send_many(std::span<const gpu_test::Ping>(batch.data(), k));
          send_s += std::chrono::duration<double>(clk::now() - s0).count();
          ++send_calls;
          if (n) {
            sent += *n;
            sent_per[a] += *n;
          }
        }
        for (unsigned a = 0; a < actors; ++a) {
          const auto r0 = clk::now();
          const std::size_t n = all[a].receive_each(4096, [&](const MessageHeader& h, std::span<const std::byte> payload) {
            gpu_test::Pong p{};
            if (h.type_id != gpu_test::Pong::type_id || payload.size() != sizeof(p)) {
              ++bad;
            } else {
              std::memcpy(&p, payload.data(), sizeof(p));
              if (p.seq != next_seq[a] || p.value != 7) ++bad;
            }
            ++next_seq[a];
          });
          recv_s += std::chrono::duration<double>(clk::now() - r0).count();
          ++recv_calls;
          if (n == 0) ++recv_empty;
          got += n;
          if (n != 0) last = clk::now();
        }
        if (clk::now() - last > std::chrono::seconds(5)) {
          std::printf("stalled: %llu of %llu\n", static_cast<unsigned long long>(got),
                      static_cast<unsigned long long>(want));
          return 1;
        }
      }
      const double secs = std::chrono::duration<double>(clk::now() - t0).count();
      if (bad != 0) {
        std::printf("runtime stream, %u actors: %llu wrong replies\n", actors, static_cast<unsigned long long>(bad));
        return 1;
      }
      if (pass == 1) {
        std::printf("runtime stream, %2u actors: %.3f M msg/s; send_many %.0f%% of the time (%.1f msgs/call, "
                    "%.0f ns/msg), receive_each %.0f%% (%llu calls, %.0f%% empty, %.0f ns per message received)\n",
                    actors, want / secs / 1e6, 100 * send_s / secs,
                    static_cast<double>(sent) / static_cast<double>(send_calls), 1e9 * send_s / static_cast<double>(sent),
                    100 * recv_s / secs, static_cast<unsigned long long>(recv_calls),
                    100.0 * static_cast<double>(recv_empty) / static_cast<double>(recv_calls),
                    1e9 * recv_s / static_cast<double>(got));
      }
    }
  }
  for (auto& h : all) (void)h.terminate();
  (void)rt->shutdown(std::chrono::milliseconds(2000));
  return 0;
}
