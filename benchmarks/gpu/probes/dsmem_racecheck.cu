// Build: nvcc -O2 -std=c++20 -arch=sm_90 -lineinfo -Iinclude benchmarks/gpu/probes/dsmem_racecheck.cu -o dsmem_rc
// Run:   compute-sanitizer --tool racecheck ./dsmem_rc {flag|flag-fence|barrier}
//
// Does compute-sanitizer's racecheck model a hand-off through distributed shared memory ordered by
// cluster-scope release/acquire? Block 1 of a 2-block cluster writes 32 words into block 0's shared memory and
// publishes a flag; block 0 waits for the flag and reads the words. Every mode is correct under the PTX memory
// model and the kernel checks the values it read:
//   flag        st.release.cluster of the flag, ld.acquire.cluster spin (the runtime's pattern, minus batching)
//   flag-fence  relaxed flag store after fence.acq_rel.cluster, relaxed spin then fence (the runtime's batch
//               pattern: ringkernel::detail::fence_release/fence_acquire at MemoryScope::Cluster)
//   barrier     the same hand-off ordered by a cluster barrier (barrier.cluster arrive.release / wait.acquire)
// A racecheck report for `flag`/`flag-fence` but not `barrier` shows the tool does not model the
// memory-model ordering the runtime's cluster inboxes rely on.
#include <cooperative_groups.h>
#include <cstdio>
#include <cstring>

#include <ringkernel/detail/atomic.hpp>

namespace cg = cooperative_groups;
namespace rd = ringkernel::detail;
using ringkernel::MemoryScope;

__global__ void __cluster_dims__(2, 1, 1) handoff(int mode, unsigned* bad) {
  __shared__ unsigned long long words[32];
  __shared__ unsigned long long flag;
  auto cluster = cg::this_cluster();
  const unsigned lane = threadIdx.x;
  words[lane] = 0;
  if (lane == 0) flag = 0;
  cluster.sync();  // both blocks started, shared memory initialised
  if (cluster.block_rank() == 1) {
    auto* rw = cluster.map_shared_rank(words, 0);
    auto* rf = cluster.map_shared_rank(&flag, 0);
    rw[lane] = 1000 + lane;
    __syncwarp();
    if (mode == 0 && lane == 0) rd::store_release(rf, 1ull, MemoryScope::Cluster);
    if (mode == 1) {
      rd::fence_release(MemoryScope::Cluster);
      __syncwarp();
      if (lane == 0) rd::store_relaxed(rf, 1ull, MemoryScope::Cluster);
    }
  }
  if (mode == 2) cluster.sync();
  if (cluster.block_rank() == 0) {
    if (mode == 0) {
      while (rd::load_acquire(&flag, MemoryScope::Cluster) == 0) {
      }
    } else if (mode == 1) {
      while (rd::load_relaxed(&flag, MemoryScope::Cluster) == 0) {
      }
      rd::fence_acquire(MemoryScope::Cluster);
    }
    if (words[lane] != 1000 + lane) atomicAdd(bad, 1u);
  }
  cluster.sync();  // block 0's shared memory stays until block 1 is done with it
}

int main(int argc, char** argv) {
  const char* m = argc > 1 ? argv[1] : "flag";
  const int mode = std::strcmp(m, "flag") == 0 ? 0 : std::strcmp(m, "flag-fence") == 0 ? 1 : std::strcmp(m, "barrier") == 0 ? 2 : -1;
  if (mode < 0) {
    std::fprintf(stderr, "usage: %s flag|flag-fence|barrier\n", argv[0]);
    return 2;
  }
  unsigned* bad = nullptr;
  if (cudaMallocManaged(&bad, sizeof(unsigned)) != cudaSuccess) return 1;
  *bad = 0;
  for (int i = 0; i < 100; ++i) handoff<<<2, 32>>>(mode, bad);
  const cudaError_t e = cudaDeviceSynchronize();
  std::printf("%s: %s, %u wrong reads in 100 launches\n", m, cudaGetErrorString(e), *bad);
  return e == cudaSuccess && *bad == 0 ? 0 : 1;
}
