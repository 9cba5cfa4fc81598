// Build: nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -Iinclude benchmarks/gpu/probes/stream_stages.cu -o stream_stages
//        (add -DSTREAM_PROFILE for the kernel's per-batch stamps)
// Run:   ./stream_stages [total]
//
// Sustained request -> reply through one slot of actor_kernel<Echo> without the host runtime (direct_slot.cuh:
// the host thread writes the LL inbox and reads the K2H ring itself), for windows of unanswered requests from 16
// to 4096: the device's own ceiling for one actor, against which the runtime's row 5 is compared. With
// STREAM_PROFILE the kernel stamps slot 0's host batches; the probe prints the batch sizes it saw and where a
// batch's time went (means: %globaltimer ticks coarsely), and per message inside the handler loop.
#ifdef STREAM_PROFILE
#define RK_KERNEL_PROFILE 40000
#endif
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ringkernel/cuda/actor_kernel.cuh"
#include "../../../tests/cuda/gpu_actors.hpp"
#include "../direct_slot.cuh"

using namespace ringkernel;
using namespace ringkernel::cuda;

int main(int argc, char** argv) {
  const std::uint64_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  rk_bench::DirectSlot<gpu_test::Echo> slot;
  if (!slot.start(gpu_test::Echo{}, 8192, 128)) return 1;
  std::uint64_t base = 0;  // requests sent so far: Echo counts them, and the replies carry seq back
  auto run = [&](std::uint64_t n, std::uint32_t window) {
    const std::uint64_t first = base;
    base += n;
    return slot.stream<gpu_test::Ping, gpu_test::Pong>(
        n, window, [&](std::uint64_t i) { return gpu_test::Ping{first + i, 2}; },
        [&](std::uint64_t i, const gpu_test::Pong& p) { return p.seq == first + i && p.value == 7; });
  };
  if (run(100'000, 1024) == 0) return 1;  // warm-up
#ifdef STREAM_PROFILE
  const std::uint32_t windows[] = {1024};
#else
  const std::uint32_t windows[] = {16, 64, 256, 1024, 4096};
#endif
  for (std::uint32_t w : windows) {
    const double r = run(total, w);
    if (r == 0) return 1;
    std::printf("direct stream%s: window %4u: %.3f M msg/s\n",
#ifdef STREAM_PROFILE
                " (profiled kernel)",
#else
                "",
#endif
                w, r / 1e6);
  }
  if (!slot.stop()) return 1;
#ifdef STREAM_PROFILE
  unsigned rows = 0;
  if (cudaMemcpyFromSymbol(&rows, rk_profile_rows, sizeof(rows)) != cudaSuccess) return 1;
  rows = std::min<unsigned>(rows, RK_KERNEL_PROFILE);
  constexpr int K = kProfileStamps;
  std::vector<std::uint64_t> prof(std::size_t{rows} * K);
  if (cudaMemcpyFromSymbol(prof.data(), rk_profile, prof.size() * sizeof(std::uint64_t)) != cudaSuccess) return 1;
  // The kernel records the first RK_KERNEL_PROFILE batches: the warm-up's (100000 messages: 6250 batches at 16
  // per poll, fewer with larger batches), then the measured run's. The first quarter of the rows is skipped,
  // which covers the warm-up while batches hold at least 10 messages (the probe prints the sizes it saw).
  // Stages as actor_kernel.cuh stamps them.
  double msgs = 0, poll = 0, landed = 0, take = 0, setup = 0, handlers = 0, stores = 0, publish = 0, gap = 0;
  // The batch's first message, stage by stage: HLC merged, reply entered, reply header built, handler returned.
  double m_merge = 0, m_enter = 0, m_header = 0, m_rest = 0, rest_msgs = 0, rest = 0;
  unsigned used = 0, hist[6] = {};
  for (unsigned r = rows / 4; r + 1 < rows; ++r) {
    const std::uint64_t* p = &prof[std::size_t{r} * K];
    const std::uint64_t* q = &prof[std::size_t{r + 1} * K];
    const std::uint64_t count = p[K - 1];
    const double n = static_cast<double>(count);
    if (n == 0) continue;
    ++used;
    msgs += n;
    poll += static_cast<double>(p[1] - p[0]);
    landed += static_cast<double>(p[15] - p[1]);
    take += static_cast<double>(p[2] - p[15]);
    setup += static_cast<double>(p[10] - p[2]);
    handlers += static_cast<double>(p[3] - p[10]);
    stores += static_cast<double>(p[5] - p[3]);
    publish += static_cast<double>(p[6] - p[5]);
    if (q[0] > p[6]) gap += static_cast<double>(q[0] - p[6]);
    m_merge += static_cast<double>(p[11] - p[10]);
    m_enter += static_cast<double>(p[12] - p[11]);
    m_header += static_cast<double>(p[13] - p[12]);
    m_rest += static_cast<double>(p[14] - p[13]);
    rest += static_cast<double>(p[3] - p[14]);
    rest_msgs += n - 1;
    const unsigned b = count <= 1 ? 0 : count <= 4 ? 1 : count <= 8 ? 2 : count <= 16 ? 3 : count <= 32 ? 4 : 5;
    ++hist[b];
  }
  if (used == 0) return 1;
  const double u = used;
  std::printf("batches %u, mean %.2f messages; sizes 1:%u 2-4:%u 5-8:%u 9-16:%u 17-32:%u >32:%u\n", used, msgs / u,
              hist[0], hist[1], hist[2], hist[3], hist[4], hist[5]);
  std::printf("per batch (ns, means): poll issued %.0f, loads landed %.0f, validated %.0f, set up %.0f, handlers %.0f, "
              "reply stores %.0f, publish %.0f, to next poll %.0f\n", poll / u, landed / u, take / u, setup / u,
              handlers / u, stores / u, publish / u, gap / u);
  std::printf("per message: handler loop %.0f ns, whole batch %.0f ns\n", handlers / msgs,
              (poll + landed + take + setup + handlers + stores + publish + gap) / msgs);
  std::printf("first message of a batch (ns, means): HLC merged %.0f, reply entered %.0f, reply header built %.0f, "
              "handler returned %.0f; each later message %.0f\n", m_merge / u, m_enter / u, m_header / u, m_rest / u,
              rest_msgs > 0 ? rest / rest_msgs : 0.0);
#endif
  return 0;
}
