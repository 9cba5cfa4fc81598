// The checkpoint benchmark with its actors on the CUDA backend (states in device memory): one source,
// benchmarks/checkpoint_bench.cpp, compiled here by nvcc.
#define RK_CHECKPOINT_BENCH_CUDA 1
#include "../checkpoint_bench.cpp"
