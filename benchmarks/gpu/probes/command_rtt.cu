// Build (after the GPU build, scripts/gpu-check.sh does both):
//   nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -DRINGKERNEL_HAS_CUDA=1 -Iinclude -Itests benchmarks/gpu/probes/command_rtt.cu \
//     build/gpu/src/cuda/libringkernel_cuda.a build/gpu/libringkernel_cpu.a build/gpu/libringkernel_core.a -o command_rtt
// Run:   ./command_rtt [iterations]
//
// Where a lifecycle command's round trip goes (bench row 7b is 8-9 us against 4.5 us for a message through the
// same kernel): call() next to deactivate() (state written back, then acknowledged), activate() (a state word
// only), restart() (on_stop, the state read over PCIe, on_start) and a create (launch to Active, then its
// terminate), each timed from the host call to its return, through the runtime. The commands are applied in
// the calling thread, so each time is one device command plus the runtime's host work around it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ringkernel/cuda/actor_kernel.cuh"
#include "ringkernel/runtime.hpp"
#include "cuda/gpu_actors.hpp"

RINGKERNEL_CUDA_ACTOR(gpu_test::Echo)

using namespace ringkernel;
using clk = std::chrono::steady_clock;

namespace {
double us(clk::time_point a, clk::time_point b) { return std::chrono::duration<double, std::micro>(b - a).count(); }
void show(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::printf("%-44s p50 %7.2f us  p90 %7.2f us  p99 %7.2f us  (n %zu)\n", what, v[v.size() / 2], v[v.size() * 9 / 10],
              v[v.size() * 99 / 100], v.size());
}
}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (iters < 10) {
    std::printf("usage: command_rtt [iterations >= 10]\n");
    return 2;
  }
  RuntimeConfig cfg;
  cfg.backend = Backend::Cuda;
  cfg.cuda_slots_per_type = 8;
  auto rt = Runtime::builder().config(cfg).build();
  if (!rt) {
    std::printf("runtime: %s\n", rt.error().describe().c_str());
    return 1;
  }
  auto h = rt->launch<gpu_test::Echo>("cmd", {}, std::uint64_t{1});
  if (!h) {
    std::printf("launch: %s\n", h.error().describe().c_str());
    return 1;
  }
  std::vector<double> call, deact, act, restart, create, terminate;
  for (int i = 0; i < iters + iters / 10; ++i) {  // the first tenth warms up
    const bool keep = i >= iters / 10;
    auto t0 = clk::now();
    auto r = h->call<gpu_test::Pong>(gpu_test::Ping{static_cast<std::uint64_t>(i), 1}, std::chrono::seconds(1));
    auto t1 = clk::now();
    if (!r || r->seq != static_cast<std::uint64_t>(i)) {
      std::printf("call %d failed\n", i);
      return 1;
    }
    if (!h->deactivate().ok()) return std::printf("deactivate failed\n"), 1;
    auto t2 = clk::now();
    if (!h->activate().ok()) return std::printf("activate failed\n"), 1;
    auto t3 = clk::now();
    if (!h->restart().ok()) return std::printf("restart failed\n"), 1;
    auto t4 = clk::now();
    auto c = rt->launch<gpu_test::Echo>("c" + std::to_string(i), {}, std::uint64_t{1});
    if (!c || !c->wait_for(ActorState::Active, std::chrono::seconds(1)).ok()) return std::printf("create failed\n"), 1;
    auto t5 = clk::now();
    if (!c->terminate().ok() || !c->wait_for(ActorState::Terminated, std::chrono::seconds(1)).ok()) {
      return std::printf("terminate failed\n"), 1;
    }
    auto t6 = clk::now();
    if (!keep) continue;
    call.push_back(us(t0, t1));
    deact.push_back(us(t1, t2));
    act.push_back(us(t2, t3));
    restart.push_back(us(t3, t4));
    create.push_back(us(t4, t5));
    terminate.push_back(us(t5, t6));
  }
  show("call() (message round trip)", call);
  show("deactivate() (state written back)", deact);
  show("activate() (state word only)", act);
  show("restart() (on_stop, reload, on_start)", restart);
  show("launch() -> Active", create);
  show("terminate() -> Terminated", terminate);
  (void)rt->shutdown(std::chrono::milliseconds(2000));
  return 0;
}
