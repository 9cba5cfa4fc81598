// Build: nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/ll_request_reply.cu -o ll_rr
// Run:   ./ll_rr [rounds] [gap_ns]
//
// What self-validating ("low-latency", LL) slots would buy the H2K/K2H path, before changing the ring format.
// An 80-byte message (the runtime's 64-byte header + 16-byte payload) goes host -> one GPU warp -> host, and the
// warp answers with the message's words plus one. Four shapes, each end to end from the host's first store
// until it has checked the whole reply:
//   flag-only     the host bumps a flag, the warp answers with a flag (the floor: no payload at all)
//   flag+payload  today's shape: the warp polls a publish flag, then reads the payload (a second, dependent
//                 PCIe read), writes the reply, fences (system scope) and publishes a reply flag
//   ll-request    the request is 20 LL words (each 8 bytes: 4 data bytes + the round's 4-byte flag, written
//                 and read as single atomic 8-byte halves, as NCCL's LL protocol does), so the poll that sees
//                 it complete has read it: one PCIe round trip; the reply as in flag+payload
//   ll-both       the reply is LL words too: no fence, the host checks each word's flag
//   cv xN         ll-both with weak uncached reads, N of them kept in flight, staggered (argument 2: the gap
//                 in ns for N = 4; scaled for 2 and 3), so a request that lands waits for the next of N reads
//   hand-off Pw   P poller warps read the request (one read each in flight, started half a round trip apart
//                 when P = 2) and hand a complete one to a third warp through shared memory, which replies: the
//                 actor kernel's loads all share one dependency barrier per warp, so a warp's reads cannot be
//                 staggered on their own; in separate warps they can (results: docs/benchmarks/probes-h100.md)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CK(x)                                                                  \
  do {                                                                         \
    cudaError_t e_ = (x);                                                      \
    if (e_ != cudaSuccess) {                                                   \
      std::printf("%s: %s\n", #x, cudaGetErrorString(e_));                     \
      return 1;                                                                \
    }                                                                          \
  } while (0)

using u32 = std::uint32_t;
using u64 = unsigned long long;
constexpr int kWords = 20;  // 80 bytes of message, 4 per LL word

// Host memory layout (u64 words): [0] request flag, [16..] plain request (10 words), [64] reply flag,
// [80..] plain reply (10 words), [128..147] LL request, [192..211] LL reply.
constexpr int kReqFlag = 0, kReq = 16, kRepFlag = 64, kRep = 80, kLlReq = 128, kLlRep = 192;

__device__ u64 ld_acquire_sys(const u64* p) {
  u64 v;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ void st_relaxed_sys(u64* p, u64 v) { asm volatile("st.relaxed.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory"); }
__device__ uint4 ld_volatile_v4(const u64* p) {
  uint4 v;
  asm volatile("ld.volatile.global.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p)
               : "memory");
  return v;
}
__device__ void st_volatile_v4(u64* p, uint4 v) {
  asm volatile("st.volatile.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

__global__ void server(u64* mem, u64 rounds, int mode, u32* bad) {
  const unsigned lane = threadIdx.x;
  const bool mine = lane < kWords / 2;  // each of 10 lanes owns 2 words of the message (16 bytes)
  for (u64 i = 1; i <= rounds; ++i) {
    const u32 flag = static_cast<u32>(i);
    u32 d0 = 0, d1 = 0;
    if (mode <= 1) {
      for (;;) {
        const u64 f = lane == 0 ? ld_acquire_sys(mem + kReqFlag) : 0;
        if (__shfl_sync(~0u, f, 0) >= i) break;
      }
      if (mode == 1 && mine) {
        const uint2 v = __ldcv(reinterpret_cast<const uint2*>(mem + kReq) + lane);
        d0 = v.x;
        d1 = v.y;
      }
    } else {
      // LL: {data, flag, data, flag} per 16 bytes; complete when every lane's two flags are this round's.
      for (;;) {
        uint4 v = make_uint4(0, flag, 0, flag);
        if (mine) v = ld_volatile_v4(mem + kLlReq + 2 * lane);
        if (__all_sync(~0u, v.y == flag && v.w == flag)) {
          d0 = v.x;
          d1 = v.z;
          break;
        }
      }
    }
    if (mode == 1 && mine && (d0 != flag * 4u + 2u * lane || d1 != flag * 4u + 2u * lane + 1u)) atomicAdd(bad, 1u);
    if (mode >= 2 && mine && (d0 != flag * 4u + 2u * lane || d1 != flag * 4u + 2u * lane + 1u)) atomicAdd(bad, 1u);
    if (mode <= 2) {
      if (mine) reinterpret_cast<uint2*>(mem + kRep)[lane] = make_uint2(d0 + 1u, d1 + 1u);
      __syncwarp();
      if (lane == 0) {
        asm volatile("fence.acq_rel.sys;" ::: "memory");
        st_relaxed_sys(mem + kRepFlag, i);
      }
    } else if (mine) {
      st_volatile_v4(mem + kLlRep + 2 * lane, make_uint4(d0 + 1u, flag, d1 + 1u, flag));
    }
  }
}

__device__ uint4 ld_cv_v4(const u64* p) {  // weak: a warp's weak loads of host memory overlap, volatile ones queue
  uint4 v;
  asm volatile("ld.global.cv.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}
__device__ u64 gtimer() {
  u64 t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
  return t;
}

// ll-both with D reads of the request in flight, issued gap_ns apart at the start (each re-issued as soon as it
// was checked, so they stay staggered): a request that lands waits about RTT / D for a read, not RTT / 2.
template <int D>
__global__ void server_pipelined(u64* mem, u64 rounds, u32 gap_ns, u32* bad) {
  const unsigned lane = threadIdx.x;
  const bool mine = lane < kWords / 2;
  const u64* src = mem + kLlReq + 2 * lane;
  uint4 q[D];
#pragma unroll
  for (int k = 0; k < D; ++k) {
    const u64 until = gtimer() + (k == 0 ? 0 : gap_ns);
    while (gtimer() < until) {
    }
    q[k] = mine ? ld_cv_v4(src) : make_uint4(0, 0, 0, 0);
  }
  u64 i = 1;
  while (i <= rounds) {
#pragma unroll
    for (int k = 0; k < D; ++k) {
      const u32 flag = static_cast<u32>(i);
      if (__all_sync(~0u, !mine || (q[k].y == flag && q[k].w == flag))) {
        const u32 d0 = q[k].x, d1 = q[k].z;
        if (mine && (d0 != flag * 4u + 2u * lane || d1 != flag * 4u + 2u * lane + 1u)) atomicAdd(bad, 1u);
        if (mine) st_volatile_v4(mem + kLlRep + 2 * lane, make_uint4(d0 + 1u, flag, d1 + 1u, flag));
        ++i;
      }
      q[k] = mine ? ld_cv_v4(src) : make_uint4(0, 0, 0, 0);
    }
  }
}

// Hand-off: warps 0..P-1 poll the LL request (one read each in flight), warp P replies. A poller that sees a
// complete request of round f >= the one it expects stores its words in shared memory and publishes f; both
// pollers may publish the same round (same data). The host sends round f + 1 only after reply f, so the words
// are not overwritten before the replying warp has read them.
template <int P>
__global__ void server_handoff(u64* mem, u64 rounds, u32 gap_ns, u32* bad) {
  __shared__ uint2 words[kWords / 2];
  __shared__ u64 published;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x / 32u;
  const bool mine = lane < kWords / 2;
  if (threadIdx.x == 0) published = 0;
  __syncthreads();
  if (warp < P) {
    const u64 until = gtimer() + warp * gap_ns;
    while (gtimer() < until) {
    }
    const u64* src = mem + kLlReq + 2 * lane;
    u64 expect = 1;
    while (expect <= rounds) {
      const uint4 q = mine ? ld_cv_v4(src) : make_uint4(0, 0, 0, 0);
      const u32 f = __shfl_sync(~0u, q.y, 0);
      if (f >= expect && __all_sync(~0u, !mine || (q.y == f && q.w == f))) {
        if (mine) words[lane] = make_uint2(q.x, q.z);
        __syncwarp();
        if (lane == 0) {
          __threadfence_block();
          atomicMax(&published, u64{f});
        }
        expect = u64{f} + 1;
      }
    }
  } else if (warp == P) {
    for (u64 i = 1; i <= rounds; ++i) {
      if (lane == 0) {
        while (*static_cast<volatile u64*>(&published) < i) {
        }
        __threadfence_block();
      }
      __syncwarp();
      const u32 flag = static_cast<u32>(i);
      if (mine) {
        const volatile u32* w = reinterpret_cast<volatile u32*>(words) + 2 * lane;
        const u32 d0 = w[0], d1 = w[1];
        if (d0 != flag * 4u + 2u * lane || d1 != flag * 4u + 2u * lane + 1u) atomicAdd(bad, 1u);
        st_volatile_v4(mem + kLlRep + 2 * lane, make_uint4(d0 + 1u, flag, d1 + 1u, flag));
      }
    }
  }
}

int main(int argc, char** argv) {
  const u64 rounds = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000;
  const u64 warm = rounds / 10;
  u64* mem = nullptr;
  CK(cudaHostAlloc(&mem, 4096, cudaHostAllocMapped));
  u64* dmem = nullptr;
  CK(cudaHostGetDevicePointer(&dmem, mem, 0));
  u32* bad = nullptr;
  CK(cudaMallocManaged(&bad, sizeof(u32)));
  const char* names[] = {"flag-only", "flag+payload", "ll-request", "ll-both", "ll-both cv x1", "ll-both cv x2",
                         "ll-both cv x3", "ll-both cv x4", "hand-off 1w", "hand-off 2w"};
  const u32 gap_ns = argc > 2 ? static_cast<u32>(std::atoi(argv[2])) : 450;
  std::printf("%s\n", "shape          p50 (us)  p99 (us)  (80-byte request and reply, one warp, host spins)");
  for (int mode = 0; mode < 10; ++mode) {
    std::memset(mem, 0, 4096);
    *bad = 0;
    if (mode < 4) server<<<1, 32>>>(dmem, rounds + warm, mode, bad);
    if (mode == 4) server_pipelined<1><<<1, 32>>>(dmem, rounds + warm, gap_ns, bad);
    if (mode == 5) server_pipelined<2><<<1, 32>>>(dmem, rounds + warm, gap_ns * 2, bad);
    if (mode == 6) server_pipelined<3><<<1, 32>>>(dmem, rounds + warm, gap_ns * 4 / 3, bad);
    if (mode == 7) server_pipelined<4><<<1, 32>>>(dmem, rounds + warm, gap_ns, bad);
    if (mode == 8) server_handoff<1><<<1, 64>>>(dmem, rounds + warm, gap_ns * 2, bad);
    if (mode == 9) server_handoff<2><<<1, 96>>>(dmem, rounds + warm, gap_ns * 2, bad);
    auto word = [&](int i) { return reinterpret_cast<std::atomic<u64>*>(mem + i); };
    std::vector<double> v;
    u64 wrong = 0;
    for (u64 i = 1; i <= rounds + warm; ++i) {
      const u32 flag = static_cast<u32>(i);
      const auto t0 = std::chrono::steady_clock::now();
      if (mode <= 1) {
        for (int w = 0; w < kWords / 2; ++w) {
          word(kReq + w)->store(u64{flag * 4u + 2u * w} | (u64{flag * 4u + 2u * w + 1u} << 32), std::memory_order_relaxed);
        }
        word(kReqFlag)->store(i, std::memory_order_release);
        while (word(kRepFlag)->load(std::memory_order_acquire) != i) {
        }
        for (int w = 0; w < kWords / 2 && mode == 1; ++w) {
          const u64 r = word(kRep + w)->load(std::memory_order_relaxed);
          wrong += static_cast<u32>(r) != flag * 4u + 2u * w + 1u;
        }
      } else {
        for (int w = 0; w < kWords; ++w) {
          word(kLlReq + w)->store(u64{flag * 4u + w} | (u64{flag} << 32), std::memory_order_relaxed);
        }
        if (mode == 2) {
          while (word(kRepFlag)->load(std::memory_order_acquire) != i) {
          }
          for (int w = 0; w < kWords / 2; ++w) {
            const u64 r = word(kRep + w)->load(std::memory_order_relaxed);
            wrong += static_cast<u32>(r) != flag * 4u + 2u * w + 1u;
          }
        } else {
          for (int w = 0; w < kWords; ++w) {
            u64 r;
            while (static_cast<u32>((r = word(kLlRep + w)->load(std::memory_order_relaxed)) >> 32) != flag) {
            }
            wrong += static_cast<u32>(r) != flag * 4u + w + 1u;
          }
        }
      }
      if (i > warm) v.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    CK(cudaDeviceSynchronize());
    std::sort(v.begin(), v.end());
    std::printf("%-13s  %8.3f  %8.3f  %s\n", names[mode], v[v.size() / 2], v[v.size() * 99 / 100],
                wrong + *bad == 0 ? "replies verified" : "WRONG DATA");
    if (wrong + *bad != 0) return 1;
  }
  return 0;
}
