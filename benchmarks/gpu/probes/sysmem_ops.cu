// Build: nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/sysmem_ops.cu -o sysmem_ops
// Run:   ./sysmem_ops
//
// What one warp pays, in device time, for a few independent reads of mapped host memory depending on how they
// are issued, and for one 16-byte store per lane: whether the GPU overlaps them (one PCIe round trip for all)
// or serialises them (one each). Three reads of different 128-byte lines, then a use of all three values.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#define CK(x)                                                                  \
  do {                                                                         \
    cudaError_t e_ = (x);                                                      \
    if (e_ != cudaSuccess) {                                                   \
      std::printf("%s: %s\n", #x, cudaGetErrorString(e_));                     \
      return 1;                                                                \
    }                                                                          \
  } while (0)

using u64 = unsigned long long;

__device__ u64 now() {
  u64 t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
  return t;
}
__device__ u64 ld_relaxed_sys(const u64* p) {
  u64 v;
  asm volatile("ld.relaxed.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ u64 ld_volatile(const u64* p) {
  u64 v;
  asm volatile("ld.volatile.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ u64 ld_cv(const u64* p) {
  u64 v;
  asm volatile("ld.global.cv.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ uint4 ld_volatile_v4(const void* p) {
  uint4 v;
  asm volatile("ld.volatile.global.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
  return v;
}
__device__ uint4 ld_cv_v4(const void* p) {
  uint4 v;
  asm volatile("ld.global.cv.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
  return v;
}
__device__ void st_volatile_v4(void* p, uint4 v) {
  asm volatile("st.volatile.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}
__device__ void st_weak_v4(void* p, uint4 v) {
  asm volatile("st.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}
__device__ void st_relaxed_sys_u64(u64* p, u64 v) { asm volatile("st.relaxed.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory"); }

constexpr int kModes = 10;
__global__ void probe(u64* host, u64* out, int reps, u64* sink) {
  const unsigned lane = threadIdx.x;
  for (int mode = 0; mode < kModes; ++mode) {
    for (int r = 0; r < reps; ++r) {
      __syncwarp();
      const u64 t0 = now();
      u64 acc = 0;
      switch (mode) {
        case 0: if (lane == 0) acc = ld_relaxed_sys(host); break;
        case 1: if (lane == 0) acc = ld_relaxed_sys(host) + ld_relaxed_sys(host + 16) + ld_relaxed_sys(host + 32); break;
        case 2: if (lane == 0) acc = ld_volatile(host) + ld_volatile(host + 16) + ld_volatile(host + 32); break;
        case 3: if (lane == 0) acc = ld_cv(host) + ld_cv(host + 16) + ld_cv(host + 32); break;
        case 4: {  // one relaxed.sys by lane 0 plus a warp-wide volatile v4 (the kernel's poll before the fix)
          u64 a = lane == 0 ? ld_relaxed_sys(host) : 0;
          const uint4 v = ld_volatile_v4(host + 64 + 2 * lane);
          u64 b = lane == 0 ? ld_relaxed_sys(host + 16) : 0;
          acc = a + b + v.x + v.w;
          break;
        }
        case 5: {  // the same with weak uncached loads
          u64 a = lane == 0 ? ld_cv(host) : 0;
          const uint4 v = ld_cv_v4(host + 64 + 2 * lane);
          u64 b = lane == 0 ? ld_cv(host + 16) : 0;
          acc = a + b + v.x + v.w;
          break;
        }
        case 6: {  // 8 warp-wide v4 volatile loads (a batch poll)
          uint4 v[8];
#pragma unroll
          for (int k = 0; k < 8; ++k) v[k] = ld_volatile_v4(host + 128 + 2 * (k * 32 + lane));
#pragma unroll
          for (int k = 0; k < 8; ++k) acc += v[k].x;
          break;
        }
        case 7: {  // 8 warp-wide v4 weak uncached loads
          uint4 v[8];
#pragma unroll
          for (int k = 0; k < 8; ++k) v[k] = ld_cv_v4(host + 128 + 2 * (k * 32 + lane));
#pragma unroll
          for (int k = 0; k < 8; ++k) acc += v[k].x;
          break;
        }
        case 8: st_volatile_v4(host + 1024 + 2 * lane, make_uint4(r, 1, r, 1)); break;  // a warp's reply, volatile
        case 9: st_weak_v4(host + 1024 + 2 * lane, make_uint4(r, 1, r, 1)); break;      // the same, weak
      }
      acc = __shfl_sync(~0u, acc, 0);
      const u64 t1 = now();
      if (lane == 0) {
        out[mode * reps + r] = t1 - t0;
        *sink += acc;
      }
    }
  }
}

int main() {
  const int reps = 2000;
  u64* host = nullptr;
  CK(cudaHostAlloc(&host, 64 * 1024, cudaHostAllocMapped));
  u64 *out = nullptr, *sink = nullptr;
  CK(cudaMallocManaged(&out, sizeof(u64) * kModes * reps));
  CK(cudaMallocManaged(&sink, sizeof(u64)));
  probe<<<1, 32>>>(host, out, reps, sink);
  CK(cudaDeviceSynchronize());
  const char* names[kModes] = {"1 x ld.relaxed.sys (lane 0)",        "3 x ld.relaxed.sys (lane 0)",
                               "3 x ld.volatile (lane 0)",           "3 x ld.global.cv (lane 0)",
                               "relaxed.sys + volatile v4 warp + relaxed.sys", "cv + cv v4 warp + cv",
                               "8 x volatile v4 warp loads",          "8 x cv v4 warp loads",
                               "st.volatile v4 per lane (one reply)", "st.global v4 per lane"};
  std::printf("%-48s %10s\n", "operation (device time until values used)", "p50 (ns)");
  for (int m = 0; m < kModes; ++m) {
    std::vector<u64> v(out + m * reps + 100, out + (m + 1) * reps);
    std::sort(v.begin(), v.end());
    std::printf("%-48s %10llu\n", names[m], v[v.size() / 2]);
  }
  return 0;
}
