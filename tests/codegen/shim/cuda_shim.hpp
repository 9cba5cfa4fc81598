// A small C++ stand-in for the CUDA built-ins the CUDA lowering uses, so generated CUDA can be syntax- and
// type-checked with the host compiler on machines without nvcc (the NVRTC test compiles it for real on a GPU
// machine).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
struct dim3 { unsigned x, y, z; };
extern dim3 threadIdx, blockIdx, blockDim, gridDim;
inline void __syncthreads() {}
inline void __threadfence_block() {}
inline void __threadfence() {}
inline void __threadfence_system() {}
template <class T> T atomicAdd(T* p, T v) { T o = *p; *p += v; return o; }
template <class T> T atomicSub(T* p, T v) { T o = *p; *p -= v; return o; }
template <class T> T atomicMin(T* p, T v) { T o = *p; if (v < o) *p = v; return o; }
template <class T> T atomicMax(T* p, T v) { T o = *p; if (v > o) *p = v; return o; }
template <class T> T atomicAnd(T* p, T v) { T o = *p; *p &= v; return o; }
template <class T> T atomicOr(T* p, T v) { T o = *p; *p |= v; return o; }
template <class T> T atomicXor(T* p, T v) { T o = *p; *p ^= v; return o; }
template <class T> T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
template <class T> T atomicCAS(T* p, T e, T d) { T o = *p; if (o == e) *p = d; return o; }
inline unsigned long long atomicCAS_system(unsigned long long* p, unsigned long long e, unsigned long long d) { return atomicCAS(p, e, d); }
template <class T> T __shfl_sync(unsigned, T v, unsigned) { return v; }
template <class T> T __shfl_xor_sync(unsigned, T v, unsigned) { return v; }
template <class T> T __shfl_up_sync(unsigned, T v, unsigned) { return v; }
template <class T> T __shfl_down_sync(unsigned, T v, unsigned) { return v; }
inline int __any_sync(unsigned, bool p) { return p; }
inline int __all_sync(unsigned, bool p) { return p; }
inline unsigned __ballot_sync(unsigned, bool p) { return p ? 1u : 0u; }
inline int __float2int_rz(float x) { return int(x); }
inline unsigned __float2uint_rz(float x) { return unsigned(x); }
inline long long __float2ll_rz(float x) { return (long long)x; }
inline unsigned long long __float2ull_rz(float x) { return (unsigned long long)x; }
inline int __double2int_rz(double x) { return int(x); }
inline unsigned __double2uint_rz(double x) { return unsigned(x); }
inline long long __double2ll_rz(double x) { return (long long)x; }
inline unsigned long long __double2ull_rz(double x) { return (unsigned long long)x; }
inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline double __longlong_as_double(long long x) { double d; std::memcpy(&d, &x, 8); return d; }
using std::sqrt; using std::exp; using std::exp2; using std::log; using std::log2; using std::sin; using std::cos;
using std::tanh; using std::floor; using std::ceil; using std::fabs; using std::fma; using std::pow; using std::fmin; using std::fmax;
inline float sqrtf(float x) { return std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float expf(float x) { return std::exp(x); }
inline float exp2f(float x) { return std::exp2(x); }
inline float logf(float x) { return std::log(x); }
inline float log2f(float x) { return std::log2(x); }
inline float sinf(float x) { return std::sin(x); }
inline float cosf(float x) { return std::cos(x); }
inline float tanhf(float x) { return std::tanh(x); }
inline float floorf(float x) { return std::floor(x); }
inline float ceilf(float x) { return std::ceil(x); }
inline float fabsf(float x) { return std::fabs(x); }
inline float fmaf(float a, float b, float c) { return std::fma(a, b, c); }
inline float powf(float a, float b) { return std::pow(a, b); }
inline float fminf(float a, float b) { return std::fmin(a, b); }
inline float fmaxf(float a, float b) { return std::fmax(a, b); }
