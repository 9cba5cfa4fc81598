// Smoke test of an installed RingKernel built with CUDA: a program with device code for one actor type runs
// it with Backend::Auto - on the GPU where one is usable, on the CPU otherwise - and checks the replies.
#include <ringkernel/ringkernel.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "gpu_actors.hpp"

int main() {
  using namespace ringkernel;
  RuntimeConfig cfg;
  cfg.backend = Backend::Auto;
  cfg.cuda_slots_per_type = 2;
  auto rt = Runtime::builder().config(cfg).build();
  if (!rt) {
    std::fprintf(stderr, "cuda consumer: FAILED: build: %s\n", rt.error().describe().c_str());
    return 1;
  }
  auto acc = rt->launch<consumer::Accumulator>("acc", LaunchOptions{}, std::uint64_t{3});
  if (!acc) {
    std::fprintf(stderr, "cuda consumer: FAILED: launch: %s\n", acc.error().describe().c_str());
    return 1;
  }
  std::uint64_t expect = 0;
  for (std::uint64_t v = 1; v <= 10; ++v) {
    expect += v * 3;
    auto r = acc->call<consumer::Total>(consumer::Add{v}, std::chrono::seconds(5));
    if (!r || r->total != expect) {
      std::fprintf(stderr, "cuda consumer: FAILED: call %llu: %s\n", static_cast<unsigned long long>(v),
                   r ? "wrong total" : r.error().describe().c_str());
      return 1;
    }
  }
  if (auto st = rt->shutdown(); !st) {
    std::fprintf(stderr, "cuda consumer: FAILED: shutdown: %s\n", st.error().describe().c_str());
    return 1;
  }
  const std::string_view backend = to_string(rt->backend());
  std::printf("cuda consumer: 10 calls answered on the %.*s backend\n", static_cast<int>(backend.size()),
              backend.data());
  return 0;
}
