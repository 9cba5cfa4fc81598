// Build: nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/load_order.cu -o load_order
// Run:   ./load_order [rounds]
//
// Does a load of device memory (an L2 hit) wait behind a load of mapped host memory (a PCIe round trip) that
// the same warp issued before it? The actor kernel's idle path keeps host-inbox reads in flight while it
// handles what an earlier read found; if later device loads return only after them, every device load on the
// handling path pays part of a PCIe round trip. One warp, lane 0 timing with %globaltimer, medians over
// `rounds`:
//   device      a device-memory load alone
//   host        a mapped-host-memory load alone
//   host>device a host load issued, then a device load; time until the device load's value is used
//   host>shared a host load issued, then a shared-memory load; time until that value is used
//   host>atom   a host load issued, then a device atomicAdd with a result; time until the result is used
// H200 (2026-11-28): 128 / 1216-1248 / (not valid: that build issued the device load first) / 32 / 1216-1248 ns -
// a shared load does not wait for the host read, an atomic with a result does. gpu-check prints the SASS order.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <cuda_runtime.h>
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { std::printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)
using u64 = unsigned long long;

__device__ __forceinline__ u64 now() { u64 t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t; }
__device__ __forceinline__ u64 ld_sys(const u64* p) { u64 v; asm volatile("ld.volatile.global.u64 %0, [%1];" : "=l"(v) : "l"(p)); return v; }
__device__ __forceinline__ u64 ld_gpu(const u64* p) { u64 v; asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p)); return v; }
// Volatile like the host load: ptxas keeps volatile loads in program order, but issued a relaxed device load
// ahead of the host load (seen in the SASS), which timed the wrong thing.
__device__ __forceinline__ u64 ld_dev_volatile(const u64* p) { u64 v; asm volatile("ld.volatile.global.u64 %0, [%1];" : "=l"(v) : "l"(p)); return v; }
__device__ __forceinline__ u64 atom_add(u64* p) { u64 v; asm volatile("atom.global.add.u64 %0, [%1], 1;" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ __forceinline__ u64 use(u64 v) { u64 r; asm volatile("add.u64 %0, %1, 1;" : "=l"(r) : "l"(v)); return r; }

constexpr int kModes = 5;
__global__ void probe(const u64* host, u64* dev, u64* out, int rounds) {
  __shared__ u64 sh[32];
  sh[threadIdx.x] = threadIdx.x;
  __syncwarp();
  if (threadIdx.x != 0) return;
  u64 sink = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int m = 0; m < kModes; ++m) {
      const u64 t0 = now();
      u64 v = 0, h = 0;
      switch (m) {
        case 0: v = use(ld_gpu(dev + 8 * r % 4096)); break;
        case 1: v = use(ld_sys(host + 8 * r % 4096)); break;
        case 2: h = ld_sys(host + 8 * r % 4096); v = use(ld_dev_volatile(dev + 8 * r % 4096)); break;
        case 3: {
          h = ld_sys(host + 8 * r % 4096);
          u64 s; asm volatile("ld.volatile.shared.u64 %0, [%1];" : "=l"(s) : "r"(static_cast<unsigned>(__cvta_generic_to_shared(&sh[r & 31]))));
          v = use(s);
          break;
        }
        case 4: h = ld_sys(host + 8 * r % 4096); v = use(atom_add(dev + 4096 + (r & 7))); break;
      }
      const u64 t1 = now();
      sink += use(h) + v;  // waits for the host load outside the timed span
      out[static_cast<u64>(r) * kModes + m] = t1 - t0;
    }
  }
  out[static_cast<u64>(rounds) * kModes] = sink;
}

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(100, std::atoi(argv[1])) : 20000;
  u64 *host = nullptr, *dev = nullptr, *out = nullptr;
  CK(cudaHostAlloc(&host, 4096 * sizeof(u64), cudaHostAllocMapped));
  CK(cudaMalloc(&dev, 8192 * sizeof(u64)));
  CK(cudaMemset(dev, 0, 8192 * sizeof(u64)));
  CK(cudaMalloc(&out, (static_cast<size_t>(rounds) * kModes + 1) * sizeof(u64)));
  probe<<<1, 32>>>(host, dev, out, rounds);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<u64> t(static_cast<size_t>(rounds) * kModes);
  CK(cudaMemcpy(t.data(), out, t.size() * sizeof(u64), cudaMemcpyDeviceToHost));
  const char* names[kModes] = {"device", "host", "host>device", "host>shared", "host>atom"};
  std::printf("load order (one lane, ns, median of %d; first 10%% dropped as warm-up)\n", rounds);
  for (int m = 0; m < kModes; ++m) {
    std::vector<u64> v;
    for (int r = rounds / 10; r < rounds; ++r) v.push_back(t[static_cast<size_t>(r) * kModes + m]);
    std::sort(v.begin(), v.end());
    std::printf("%-12s p50 %6llu  p99 %6llu\n", names[m], v[v.size() / 2], v[v.size() * 99 / 100]);
  }
  return 0;
}
