// Build: nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/k2k_protocols.cu -o k2k_protocols
// Run:   ./k2k_protocols
//
// What a K2K hop costs by slot protocol, outside the actor kernel: two single-warp blocks (on different SMs)
// ping-pong an 80-byte message (64-byte header + 16-byte payload) through rings in device memory; one-way =
// elapsed / (2 * rounds). Lane 0 writes the message, as a handler's send does.
//   mode 0: MPSC slot with a publish sequence: claim (load head + tail_seen, CAS head), 16-byte slot stores,
//           release fence, sequence word; the receiver polls the sequence word, then reads the slot (a second
//           L2 round trip).
//   mode 1: LL slot with the same claim: 8 message bytes + their flags per 16-byte vector, no fence; the
//           receiver polls the slot's vectors themselves (one L2 round trip once they land).
//   mode 2: LL slot without a claim (one producer per ring): the floor of the LL shape.
// H200 (2026-11-28): 1.650 / 0.945 / 0.493 us - the LL slot halves the hop, and the claim is then half of what
// is left.
#include <cstdio>
#include <cstdint>
#include <cuda_runtime.h>
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { std::printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)
using u64 = unsigned long long;
constexpr unsigned kSlots = 64, kSlotBytes = 128, kMsgBytes = 80;
struct Ring {  // in device memory
  u64 head, tail_seen, pad0[14];
  u64 tail, pad1[15];
  u64 seq[kSlots];
  uint4 slots[kSlots * kSlotBytes * 2 / 16];  // LL slots take twice the bytes
};
__device__ u64 ld_rlx(const u64* p) { u64 v; asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ u64 ld_acq(const u64* p) { u64 v; asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ void st_rlx(u64* p, u64 v) { asm volatile("st.relaxed.gpu.global.u64 [%0], %1;" :: "l"(p), "l"(v) : "memory"); }
__device__ uint4 ld_v4(const uint4* p) { uint4 v; asm volatile("ld.relaxed.gpu.global.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory"); return v; }
__device__ void st_v4(uint4* p, uint4 v) { asm volatile("st.relaxed.gpu.global.v4.u32 [%0], {%1,%2,%3,%4};" :: "l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory"); }

__device__ u64 claim(Ring* r) {  // lane 0
  u64 pos = ld_rlx(&r->head);
  u64 seen = ld_acq(&r->tail_seen);
  (void)seen;  // the ping-pong never fills the ring; the load is there for its cost
  for (;;) {
    const u64 old = atomicCAS(&r->head, pos, pos + 1);
    if (old == pos) return pos;
    pos = old;
  }
}

__global__ void hop(Ring* rings, u64 rounds, int mode) {
  const unsigned lane = threadIdx.x, me = blockIdx.x;
  Ring* in = rings + me;
  Ring* out = rings + (1 - me);
  u64 rpos = 0, wpos = 0;
  constexpr unsigned kVecs = kMsgBytes / 16, kLlVecs = kMsgBytes / 8;
  for (u64 i = 0; i < rounds; ++i) {
    if (!(me == 0 && i == 0)) {  // wait for a message (block 0 serves first)
      if (mode == 0) {
        for (;;) {
          u64 s = lane == 0 ? ld_rlx(&in->seq[rpos % kSlots]) : 0;
          if (__shfl_sync(~0u, s, 0) == rpos + 1) break;
        }
        asm volatile("fence.acq_rel.gpu;" ::: "memory");
        uint4 v = make_uint4(0, 0, 0, 0);
        if (lane < kVecs) v = __ldcg(in->slots + (rpos % kSlots) * (kSlotBytes / 16) + lane);
        if (__shfl_sync(~0u, v.x, 0) == 0xffffffffu) __trap();  // use the value
      } else {
        const unsigned flag = static_cast<unsigned>(rpos / kSlots) * 2u + 1u;
        for (;;) {
          uint4 v = make_uint4(flag, flag, flag, flag);
          if (lane < kLlVecs) v = ld_v4(in->slots + (rpos % kSlots) * (kSlotBytes * 2 / 16) + lane);
          if (__all_sync(~0u, v.y == flag && v.w == flag)) break;
        }
      }
      if (lane == 0) st_rlx(&in->tail, rpos + 1);
      ++rpos;
    }
    // Reply: lane 0 writes the whole message, as the kernel's handler does.
    if (lane == 0) {
      const u64 pos = mode == 2 ? wpos : claim(out);
      if (mode == 0) {
        uint4* s = out->slots + (pos % kSlots) * (kSlotBytes / 16);
        for (unsigned k = 0; k < kVecs; ++k) s[k] = make_uint4(static_cast<unsigned>(i), k, 0, 0);
        asm volatile("fence.acq_rel.gpu;" ::: "memory");
        st_rlx(&out->seq[pos % kSlots], pos + 1);
      } else {
        const unsigned flag = static_cast<unsigned>(pos / kSlots) * 2u + 1u;
        uint4* s = out->slots + (pos % kSlots) * (kSlotBytes * 2 / 16);
        for (unsigned k = 0; k < kLlVecs; ++k) st_v4(s + k, make_uint4(static_cast<unsigned>(i), flag, k, flag));
      }
      ++wpos;
    }
    __syncwarp();
  }
}

int main() {
  Ring* rings = nullptr;
  CK(cudaMalloc(&rings, 2 * sizeof(Ring)));
  const char* names[] = {"seq + fence (today)", "LL + claim", "LL, no claim"};
  for (int mode = 0; mode < 3; ++mode) {
    CK(cudaMemset(rings, 0, 2 * sizeof(Ring)));
    const u64 rounds = 200000;
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a));
    hop<<<2, 32>>>(rings, rounds, mode);
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    std::printf("%-22s one-way hop %.3f us\n", names[mode], ms * 1000.0 / (2.0 * rounds));
  }
  return 0;
}
