// Build: nvcc -O3 -std=c++20 -arch=sm_90 -Iinclude benchmarks/gpu/probes/ring_pingpong.cu -o ring_pp
// K2K ping-pong between two blocks through the project's MPSC ring code (device memory), by scope.
#include <cstdio>
#include <cstring>
#include <ringkernel/ring.hpp>
#include <ringkernel/message.hpp>
using namespace ringkernel;
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)
__device__ unsigned long long gt() { unsigned long long t; asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t)); return t; }
__global__ void pp(RingView a, RingView b, int iters, unsigned long long* out) {
  // block 0 sends on a, receives on b; block 1 the reverse
  RingView in = blockIdx.x == 0 ? b : a;
  RingView outr = blockIdx.x == 0 ? a : b;
  if (threadIdx.x != 0) return;
  MpscProducer prod(outr);
  std::uint64_t tail = 0;
  MessageHeader h{};
  h.magic = kMessageMagic; h.version = kMessageVersion; h.payload_len = 16;
  unsigned long long payload[2] = {0, 0};
  unsigned long long t0 = gt();
  for (int i = 0; i < iters; ++i) {
    if (blockIdx.x == 0) { while (prod.try_push(h, payload) != ErrorCode::Ok) {} }
    while (detail::load_acquire(&in.seq[tail & in.mask], in.scope) != tail + 1) {}
    ++tail;
    detail::store_release(&in.control->tail, tail, in.scope);
    if (blockIdx.x == 1) { while (prod.try_push(h, payload) != ErrorCode::Ok) {} }
  }
  if (blockIdx.x == 0) out[0] = (gt() - t0) / iters;
}
int main() {
  for (int sc = 0; sc < 2; ++sc) {
    RingView v[2];
    for (int k = 0; k < 2; ++k) {
      const auto bytes = ring_storage_bytes(RingKind::Mpsc, 64, 128);
      void* host = aligned_alloc(128, (bytes + 127) / 128 * 128);
      if (ring_init(host, bytes, RingKind::Mpsc, 64, 128, &v[k]) != ErrorCode::Ok) { printf("init failed\n"); return 1; }
      void* dev; CK(cudaMalloc(&dev, bytes)); CK(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice));
      auto delta = (char*)dev - (char*)host;
      v[k].control = (RingControl*)((char*)v[k].control + delta);
      v[k].seq = (std::uint64_t*)((char*)v[k].seq + delta);
      v[k].slots = v[k].slots + delta;
      v[k].scope = sc ? MemoryScope::Device : MemoryScope::System;
    }
    unsigned long long* out; CK(cudaMallocManaged(&out, 64));
    pp<<<2, 32>>>(v[0], v[1], 20000, out);
    CK(cudaDeviceSynchronize());
    printf("ring ping-pong round trip, scope %s: %llu ns (one-way %llu)\n", sc ? "device" : "system", out[0], out[0] / 2);
  }
}
