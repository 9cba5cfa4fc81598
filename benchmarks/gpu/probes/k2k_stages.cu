// Build (after the GPU build, scripts/gpu-check.sh does both):
//   nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -DRINGKERNEL_HAS_CUDA=1 -Iinclude -Itests benchmarks/gpu/probes/k2k_stages.cu \
//     build/gpu/src/cuda/libringkernel_cuda.a build/gpu/libringkernel_cpu.a build/gpu/libringkernel_core.a -o k2k_stages
// Run:   ./k2k_stages [cluster_size]
//
// Where one K2K hop through actor_kernel<Bouncer> goes, from inside the kernel: two Bouncer actors of a real
// CUDA runtime (as rows 6 and 9 of the GPU benchmark) bounce a volley; the kernel, compiled here with
// RK_KERNEL_PROFILE and RK_PROFILE_K2K, stamps slot 0's K2K batches: poll, batch taken, handler (with the
// send's route reads, cluster route check and push inside it), batch published. Prints the mean of each stage.
#define RK_KERNEL_PROFILE 40000
#define RK_PROFILE_K2K 1
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ringkernel/cuda/actor_kernel.cuh"
#include "ringkernel/runtime.hpp"
#include "cuda/gpu_actors.hpp"

RINGKERNEL_CUDA_ACTOR(gpu_test::Bouncer)

using namespace ringkernel;
using namespace ringkernel::cuda;

namespace {
// The mean, not the median: %globaltimer may tick coarsely (256 ns on some drivers), and a mean over many
// batches resolves below the tick where a median stays on it.
double mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}
} // namespace

int main(int argc, char** argv) {
  RuntimeConfig cfg;
  cfg.backend = Backend::Cuda;
  cfg.cuda_slots_per_type = 8;
  cfg.cuda_cluster_size = argc > 1 ? static_cast<std::uint32_t>(std::atoi(argv[1])) : 1u;
  auto rt = Runtime::builder().config(cfg).build();
  if (!rt) {
    std::printf("runtime: %s\n", rt.error().describe().c_str());
    return 1;
  }
  auto a = rt->launch<gpu_test::Bouncer>("a");
  auto b = rt->launch<gpu_test::Bouncer>("b");
  if (!a || !b) {
    std::printf("launch: %s\n", (!a ? a.error() : b.error()).describe().c_str());
    return 1;
  }
  const std::uint32_t volley = 20000;
  const auto t0 = std::chrono::steady_clock::now();
  if (!a->send(gpu_test::Volley{volley, b->id()}).ok()) return 1;
  auto done = a->receive(std::chrono::seconds(20));
  if (!done) {
    std::printf("volley lost: %s\n", done.error().describe().c_str());
    return 1;
  }
  const double hop_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / volley;
  (void)rt->shutdown(std::chrono::milliseconds(2000));

  unsigned rows = 0;
  if (cudaMemcpyFromSymbol(&rows, rk_profile_rows, sizeof(rows)) != cudaSuccess) return 1;
  rows = std::min<unsigned>(rows, RK_KERNEL_PROFILE);
  constexpr int K = kProfileStamps;
  std::vector<std::uint64_t> prof(std::size_t{rows} * K);
  if (cudaMemcpyFromSymbol(prof.data(), rk_profile, prof.size() * sizeof(std::uint64_t)) != cudaSuccess) return 1;
  // Rows come from both actors' blocks (each is slot 0 of its block); every row is one hop's batch.
  std::vector<double> poll, taken, handler, publish, route, croute, push, after, setup, merge, enter, header;
  const bool clustered = cfg.cuda_cluster_size > 1;
  const auto us = [](std::uint64_t from, std::uint64_t to) { return (static_cast<double>(to) - static_cast<double>(from)) / 1000.0; };
  for (unsigned r = rows / 10; r < rows; ++r) {  // the first tenth is warm-up
    const std::uint64_t* p = &prof[std::size_t{r} * K];
    poll.push_back(us(p[0], p[1]));
    taken.push_back(us(p[1], p[2]));
    handler.push_back(us(p[2], p[3]));
    publish.push_back(us(p[3], p[6]));  // a K2K batch writes no host replies: stamp 4 is not taken
    if (p[7] != 0 && p[9] != 0) {
      route.push_back(us(p[13], p[7]));
      setup.push_back(us(p[2], p[10]));
      merge.push_back(us(p[10], p[11]));
      enter.push_back(us(p[11], p[12]));
      header.push_back(us(p[12], p[13]));
      if (clustered) croute.push_back(us(p[7], p[8]));
      push.push_back(us(clustered ? p[8] : p[7], p[9]));
      after.push_back(us(p[9], p[3]));
    }
  }
  std::printf("cluster size %u: %u K2K batches stamped, one-way hop %.3f us (host-timed volley of %u)\n",
              cfg.cuda_cluster_size, rows, hop_us, volley);
  std::printf("mean us: poll issue %.3f | loads -> batch taken %.3f | handler %.3f | batch published %.3f\n",
              mean(poll), mean(taken), mean(handler), mean(publish));
  std::printf("inside the handler (mean us): batch set up %.3f | HLC merge %.3f | to the send %.3f | header built %.3f | "
              "routes read %.3f | cluster route checked %.3f | push %.3f | after the push %.3f\n",
              mean(setup), mean(merge), mean(enter), mean(header), mean(route), mean(croute), mean(push), mean(after));
  return 0;
}
