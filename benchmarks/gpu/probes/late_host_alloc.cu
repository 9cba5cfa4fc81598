// Build: nvcc -O2 -std=c++20 -arch=sm_90 -lineinfo benchmarks/gpu/probes/late_host_alloc.cu -o late_host_alloc
// Run:   compute-sanitizer --tool memcheck ./late_host_alloc [early|late]
//
// Whether compute-sanitizer's memcheck accepts a running kernel's reads of mapped host memory allocated after
// that kernel was launched. The CUDA backend does this when its mapped ring arena is used up: rings of actors
// created later come from cudaHostAlloc while the persistent kernels run. A kernel spins until the host hands
// it a buffer through a mailbox, sums the buffer and reports the sum; `early` allocates the buffer before the
// launch, `late` after the kernel is seen running. The sum is checked (exit status 1 when wrong), so a run that
// passes read the right memory; an error that memcheck reports for `late` only is then about its view of
// allocations, not about the program.
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>

struct Mailbox {
  const std::uint64_t* buffer;  // device pointer of the host buffer, 0 until handed over
  std::uint64_t sum;
  std::uint32_t done;
  std::uint32_t started;        // set by the kernel: the host allocates a `late` buffer only after this
};

__global__ void sum_when_given(Mailbox* box, std::uint32_t words) {
  *reinterpret_cast<volatile std::uint32_t*>(&box->started) = 1;
  __threadfence_system();
  std::uint64_t addr = 0;
  while ((addr = *reinterpret_cast<volatile std::uint64_t*>(&box->buffer)) == 0) {
  }
  const auto* p = reinterpret_cast<const std::uint64_t*>(addr);
  __threadfence_system();
  std::uint64_t s = 0;
  for (std::uint32_t i = 0; i < words; ++i) s += reinterpret_cast<const volatile std::uint64_t*>(p)[i];
  box->sum = s;
  __threadfence_system();
  *reinterpret_cast<volatile std::uint32_t*>(&box->done) = 1;
}

#define CK(x)                                                                        \
  do {                                                                               \
    cudaError_t e_ = (x);                                                            \
    if (e_ != cudaSuccess) {                                                         \
      std::printf("%s: %s\n", #x, cudaGetErrorString(e_));                           \
      return 1;                                                                      \
    }                                                                                \
  } while (0)

int main(int argc, char** argv) {
  const bool late = argc < 2 || std::strcmp(argv[1], "early") != 0;
  constexpr std::uint32_t kWords = 512;
  Mailbox* box = nullptr;
  CK(cudaHostAlloc(&box, sizeof(Mailbox), cudaHostAllocMapped));
  std::memset(box, 0, sizeof(Mailbox));
  std::uint64_t* buf = nullptr;
  auto make_buffer = [&]() -> cudaError_t {
    if (auto e = cudaHostAlloc(&buf, kWords * sizeof(std::uint64_t), cudaHostAllocMapped | cudaHostAllocPortable);
        e != cudaSuccess) {
      return e;
    }
    for (std::uint32_t i = 0; i < kWords; ++i) buf[i] = i + 1;
    return cudaSuccess;
  };
  if (!late) CK(make_buffer());
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  sum_when_given<<<1, 1, 0, s>>>(box, kWords);
  CK(cudaGetLastError());
  // `late`: allocated once the kernel is seen running (a sanitizer may start it long after the launch call).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (*reinterpret_cast<volatile std::uint32_t*>(&box->started) == 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      std::printf("late_host_alloc: the kernel did not start\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (late) CK(make_buffer());
  void* dev = nullptr;
  CK(cudaHostGetDevicePointer(&dev, buf, 0));
  std::atomic_thread_fence(std::memory_order_seq_cst);
  *reinterpret_cast<volatile std::uint64_t*>(&box->buffer) = reinterpret_cast<std::uint64_t>(dev);
  CK(cudaStreamSynchronize(s));
  const std::uint64_t want = std::uint64_t{kWords} * (kWords + 1) / 2;
  const bool right = box->sum == want && box->done == 1;
  std::printf("late_host_alloc %s: sum %llu (%s)\n", late ? "late" : "early", static_cast<unsigned long long>(box->sum),
              right ? "right" : "WRONG");
  CK(cudaFreeHost(buf));
  CK(cudaFreeHost(box));
  return right ? 0 : 1;
}
