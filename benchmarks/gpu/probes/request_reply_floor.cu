// Build: nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/request_reply_floor.cu -o rr_floor
// Host->GPU->host request/reply with a dependent payload read: the two-round-trip floor of a message
// (flag poll, then payload), versus the flag-only ping-pong.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
#include <algorithm>
#include <cuda/atomic>
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)
using u64 = unsigned long long;
__device__ u64 ld_acq_sys(const u64* p) { u64 v; asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ void st_rel_sys(u64* p, u64 v) { asm volatile("st.release.sys.global.u64 [%0], %1;" :: "l"(p), "l"(v) : "memory"); }
// mem layout (u64 words): [0] req flag, [16..31] req payload (128B), [64] rep flag, [80..95] rep payload
__global__ void server(u64* mem, u64 rounds, int mode) {
  const unsigned lane = threadIdx.x;
  for (u64 i = 1; i <= rounds; ++i) {
    for (;;) {
      u64 f = ld_acq_sys(mem + 0 + (lane & 0) );
      if (__shfl_sync(~0u, f, 0) >= i) break;
    }
    uint4 v = make_uint4(0, 0, 0, 0);
    if (mode == 1 && lane < 8) v = __ldcv(reinterpret_cast<const uint4*>(mem + 16) + lane);
    if (lane < 8) reinterpret_cast<uint4*>(mem + 80)[lane] = make_uint4(v.x + 1, v.y, v.z, v.w);
    __syncwarp();
    if (lane == 0) {
      cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system);
      asm volatile("st.relaxed.sys.global.u64 [%0], %1;" :: "l"(mem + 64), "l"(i) : "memory");
    }
  }
}
int main() {
  u64* mem; CK(cudaHostAlloc(&mem, 4096, cudaHostAllocMapped)); memset(mem, 0, 4096);
  u64* dmem; CK(cudaHostGetDevicePointer(&dmem, mem, 0));
  for (int mode = 0; mode < 2; ++mode) {
    memset(mem, 0, 4096);
    const u64 rounds = 20000;
    server<<<1, 32>>>(dmem, rounds, mode);
    auto* req = reinterpret_cast<std::atomic<u64>*>(mem);
    auto* rep = reinterpret_cast<std::atomic<u64>*>(mem + 64);
    std::vector<double> v;
    for (u64 i = 1; i <= rounds; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      mem[16] = i;
      req->store(i, std::memory_order_release);
      while (rep->load(std::memory_order_acquire) != i) {}
      if (i > 2000) v.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    CK(cudaDeviceSynchronize());
    std::sort(v.begin(), v.end());
    printf("%s: p50 %.3f us p99 %.3f us\n", mode ? "flag + dependent 128B payload read + 128B reply" : "flag only + 128B reply", v[v.size() / 2], v[v.size() * 99 / 100]);
  }
}
