// Build: nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/primitive_costs.cu -o costs
// Primitive costs on the lent GPU (clock64 cycles, averaged), to see where an actor-loop iteration goes.
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <cuda/atomic>
#include <cuda_runtime.h>
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)
using u64 = unsigned long long;
__device__ u64 gt() { u64 t; asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t)); return t; }
__device__ u64 ld_acq_sys(const u64* p) { u64 v; asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ u64 ld_rlx_sys(const u64* p) { u64 v; asm volatile("ld.relaxed.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ u64 ld_acq_gpu(const u64* p) { u64 v; asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ void st_rlx_sys(u64* p, u64 v) { asm volatile("st.relaxed.sys.global.u64 [%0], %1;" :: "l"(p), "l"(v) : "memory"); }
__device__ void st_rel_sys(u64* p, u64 v) { asm volatile("st.release.sys.global.u64 [%0], %1;" :: "l"(p), "l"(v) : "memory"); }
__global__ void probe(u64* host, u64* dev, u64* out, int iters) {
  const unsigned lane = threadIdx.x;
  u64 sink = 0;
  auto timed = [&](int slot, auto&& body) {
    __syncwarp();
    u64 t0 = clock64(), g0 = gt();
    for (int i = 0; i < iters; ++i) sink += body(i);
    __syncwarp();
    u64 t1 = clock64(), g1 = gt();
    if (lane == 0) { out[slot * 2] = (t1 - t0) / iters; out[slot * 2 + 1] = (g1 - g0) / iters; }
  };
  // 0: one lane acquire load of mapped memory (dependent chain)
  timed(0, [&](int i) { u64 v = 0; if (lane == 0) v = ld_acq_sys(host + (sink & 1)); return __shfl_sync(~0u, v, 0); });
  // 1: warp acquire load, 32 different words
  timed(1, [&](int i) { return __shfl_sync(~0u, ld_acq_sys(host + 32 + lane + (sink & 1)), 0); });
  // 2: warp relaxed load x8 rows then acquire row 0 (poll of 256 flags)
  timed(2, [&](int i) { u64 s = 0;
    #pragma unroll
    for (int r = 1; r < 8; ++r) s += ld_rlx_sys(host + 64 + r * 32 + lane + (sink & 1));
    s += ld_acq_sys(host + 64 + lane + (sink & 1)); return __shfl_sync(~0u, s, 0); });
  // 3: warp 16B __ldcv of 32 lanes x 8 vectors from mapped (staging 256B x 32 slots... 8 per lane)
  timed(3, [&](int i) { uint4 a = __ldcv(reinterpret_cast<const uint4*>(host + 512) + lane + (sink & 1)); return (u64)__shfl_sync(~0u, a.x, 0); });
  // 4: fence.sys with no pending writes
  timed(4, [&](int i) { cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system); return (u64)0; });
  // 5: one posted write to mapped memory then fence.sys
  timed(5, [&](int i) { if (lane == 0) st_rlx_sys(host + 1024, i); cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system); return (u64)0; });
  // 6: st.release.sys after a posted write
  timed(6, [&](int i) { if (lane == 0) { st_rlx_sys(host + 1024, i); st_rel_sys(host + 1040, i); } return (u64)0; });
  // 7: posted write only (relaxed)
  timed(7, [&](int i) { if (lane == 0) st_rlx_sys(host + 1024, i); return (u64)0; });
  // 8: globaltimer read
  timed(8, [&](int i) { return gt() & (sink & 0); });
  // 9: L2 acquire load gpu scope (device memory)
  timed(9, [&](int i) { u64 v = 0; if (lane == 0) v = ld_acq_gpu(dev + (sink & 1)); return __shfl_sync(~0u, v, 0); });
  // 10: device fence gpu scope after a device store
  timed(10, [&](int i) { if (lane == 0) dev[64] = i; cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_device); return (u64)0; });
  // 11: device CAS gpu scope
  timed(11, [&](int i) { u64 v = 0; if (lane == 0) { cuda::atomic_ref<u64, cuda::thread_scope_device> r(dev[128]); u64 e = r.load(cuda::std::memory_order_relaxed); r.compare_exchange_strong(e, e + 1, cuda::std::memory_order_acq_rel); v = e; } return __shfl_sync(~0u, v, 0); });
  // 12: device fence gpu scope after a posted sysmem write
  timed(12, [&](int i) { if (lane == 0) st_rlx_sys(host + 1024, i); cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_device); return (u64)0; });
  // 13: relaxed sys load one lane
  timed(13, [&](int i) { u64 v = 0; if (lane == 0) v = ld_rlx_sys(host + (sink & 1)); return __shfl_sync(~0u, v, 0); });
  // 14: acquire poll row0 then dependent __ldcv staging (the actor loop's two round trips)
  timed(14, [&](int i) { u64 f = ld_acq_sys(host + 32 + lane + (sink & 1)); uint4 a = __ldcv(reinterpret_cast<const uint4*>(host + 512) + lane + f); return (u64)__shfl_sync(~0u, a.x, 0); });
  if (sink == 12345) out[100] = sink;
}
int main() {
  u64 *host, *hdev, *dev, *out;
  CK(cudaHostAlloc(&host, 1 << 20, cudaHostAllocMapped));
  CK(cudaHostGetDevicePointer(&hdev, host, 0));
  memset(host, 0, 1 << 20);
  CK(cudaMalloc(&dev, 1 << 20));
  CK(cudaMemset(dev, 0, 1 << 20));
  CK(cudaMallocManaged(&out, 4096));
  probe<<<1, 32>>>(hdev, dev, out, 2000);
  CK(cudaDeviceSynchronize());
  const char* names[] = {"1-lane ld.acquire.sys mapped", "warp ld.acquire.sys 32 words", "poll 7 relaxed rows + acquire row",
    "warp __ldcv 16B mapped", "fence.sys, no pending writes", "posted write + fence.sys", "posted write + st.release.sys",
    "posted write only", "globaltimer read", "1-lane ld.acquire.gpu device", "device store + fence.gpu", "device CAS gpu",
    "posted sysmem write + fence.gpu", "1-lane ld.relaxed.sys mapped", "acquire poll then dependent __ldcv"};
  int clk = 0; cudaDeviceGetAttribute(&clk, cudaDevAttrClockRate, 0);
  for (int i = 0; i < 15; ++i) printf("%-40s %8llu cycles %8llu ns\n", names[i], out[i * 2], out[i * 2 + 1]);
  return 0;
}
