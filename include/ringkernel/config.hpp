/// @file config.hpp
/// @brief The one place that decides host/device annotations and compiler portability macros.
///
/// Everything that must compile both in host C++ and in nvcc device code includes this header and uses
/// `RK_HOST_DEVICE` instead of raw `__host__ __device__`, so the same source builds with g++/clang (where
/// the annotations vanish) and with nvcc.
#pragma once

#if defined(__CUDACC__)
/// Marks a function callable from host and device code.
#define RK_HOST_DEVICE __host__ __device__
/// Marks a function callable from device code only.
#define RK_DEVICE __device__
#else
/// Marks a function callable from host and device code (empty outside nvcc).
#define RK_HOST_DEVICE
/// Marks a function callable from device code only (empty outside nvcc).
#define RK_DEVICE
#endif

#if defined(__CUDA_ARCH__)
/// Defined to 1 while compiling for the device, 0 for the host.
#define RK_DEVICE_COMPILE 1
#else
/// Defined to 1 while compiling for the device, 0 for the host.
#define RK_DEVICE_COMPILE 0
#endif

#if defined(__CUDACC__)
/// Force-inline hint for hot paths (queue index handling, HLC arithmetic).
#define RK_FORCEINLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
/// Force-inline hint for hot paths (queue index handling, HLC arithmetic).
#define RK_FORCEINLINE inline __attribute__((always_inline))
#else
/// Force-inline hint for hot paths (queue index handling, HLC arithmetic).
#define RK_FORCEINLINE inline
#endif

namespace ringkernel {
/// Size the hardware uses for false-sharing avoidance between producer and consumer indices. 128 bytes
/// covers the adjacent-line prefetcher on x86 and the 128-byte L2 sector grouping on NVIDIA GPUs.
inline constexpr unsigned kCacheLine = 128;
} // namespace ringkernel
