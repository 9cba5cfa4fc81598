// Build: nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -Iinclude benchmarks/gpu/probes/kernel_stages.cu -o kernel_stages
// Run:   ./kernel_stages [rounds]
//
// Where the time of one request/reply through actor_kernel<Echo> goes, from inside the kernel: the same setup as
// row 3b of the GPU benchmark (direct_slot.cuh: one slot, LL inbox and K2H rings, the host pushing a request and
// spinning on the reply), with the kernel compiled with RK_KERNEL_PROFILE so that slot 0 stamps each host batch: poll issued,
// batch validated, handlers done, replies written, batch published. Prints medians of each stage, the time
// between batches (the whole round trip seen from the device) and the host's round trip.
#define RK_KERNEL_PROFILE 40000
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "ringkernel/cuda/actor_kernel.cuh"
#include "../../../tests/cuda/gpu_actors.hpp"
#include "../direct_slot.cuh"

#define CK(x)                                                                  \
  do {                                                                         \
    cudaError_t e_ = (x);                                                      \
    if (e_ != cudaSuccess) {                                                   \
      std::printf("%s: %s\n", #x, cudaGetErrorString(e_));                     \
      return 1;                                                                \
    }                                                                          \
  } while (0)

using namespace ringkernel;
using namespace ringkernel::cuda;

static double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  const int rounds = std::min(argc > 1 ? std::atoi(argv[1]) : 20000, RK_KERNEL_PROFILE - 1);
  const int warm = 1000;
  rk_bench::DirectSlot<gpu_test::Echo> slot;
  if (!slot.start(gpu_test::Echo{})) return 1;
  std::vector<double> host;
  for (int i = 0; i < rounds + warm; ++i) {
    gpu_test::Pong r{};
    const auto t0 = std::chrono::steady_clock::now();
    const bool answered = slot.request(gpu_test::Ping{static_cast<std::uint64_t>(i), 1}, r);
    if (!answered || r.seq != static_cast<std::uint64_t>(i)) {
      std::printf("wrong reply\n");
      return 1;
    }
    if (i >= warm) host.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  if (!slot.stop()) return 1;
  unsigned rows = 0;
  CK(cudaMemcpyFromSymbol(&rows, rk_profile_rows, sizeof(rows)));
  rows = std::min<unsigned>(rows, RK_KERNEL_PROFILE);
  constexpr int K = kProfileStamps;
  std::vector<std::uint64_t> prof(std::size_t{rows} * K);
  CK(cudaMemcpyFromSymbol(prof.data(), rk_profile, prof.size() * sizeof(std::uint64_t)));
  constexpr int S = 7;  // the batch stamps (the others are inside K2K sends)
  std::vector<double> st[S], between;
  for (unsigned r = static_cast<unsigned>(warm); r < rows; ++r) {
    const std::uint64_t* p = &prof[std::size_t{r} * K];
    for (int i = 1; i < S; ++i) st[i].push_back((p[i] - p[i - 1]) / 1000.0);
    if (r > 0) between.push_back((p[S - 1] - prof[std::size_t{r - 1} * K + S - 1]) / 1000.0);
  }
  std::printf("host batches stamped: %u (host round trips: %zu)\n", rows, host.size() + warm);
  std::printf("median us: poll issue %.3f | loads -> validated %.3f | handlers %.3f | to reply stores %.3f | "
              "reply stores %.3f | published %.3f\n",
              median(st[1]), median(st[2]), median(st[3]), median(st[4]), median(st[5]), median(st[6]));
  std::printf("median us: batch to batch (device view of one round trip) %.3f | host round trip %.3f\n",
              median(between), median(host));
  // Inside the handlers stage (means: %globaltimer may tick in 256 ns steps).
  std::vector<double> setup, merge, enter, header, rest;
  const auto us = [](std::uint64_t a, std::uint64_t b) { return (static_cast<double>(b) - static_cast<double>(a)) / 1000.0; };
  for (unsigned r = static_cast<unsigned>(warm); r < rows; ++r) {
    const std::uint64_t* p = &prof[std::size_t{r} * K];
    setup.push_back(us(p[2], p[10]));
    merge.push_back(us(p[10], p[11]));
    enter.push_back(us(p[11], p[12]));
    header.push_back(us(p[12], p[13]));
    rest.push_back(us(p[13], p[3]));
  }
  const auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  std::printf("handlers stage, mean us: batch set up %.3f | HLC merge %.3f | to the reply %.3f | header built %.3f | "
              "reply buffered %.3f\n", mean(setup), mean(merge), mean(enter), mean(header), mean(rest));
  return 0;
}
