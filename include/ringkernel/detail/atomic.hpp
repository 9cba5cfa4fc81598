/// @file detail/atomic.hpp
/// @brief Acquire/release/CAS on plain integers that live in shared memory (heap, mapped host or device).
///
/// Queue indices and HLC words are plain `uint64_t` fields inside layout-fixed structs, so both sides of a
/// host<->device queue see the same bytes. These helpers give them atomic semantics: `std::atomic_ref` on the
/// host and `cuda::atomic_ref` at system scope on the device (mapped memory is shared with the CPU).
#pragma once

#include <cstdint>

#include "ringkernel/config.hpp"

#include <atomic>
#if defined(__CUDACC__)
#include <cuda/atomic>
#endif

namespace ringkernel::detail {

// Both passes see the same declarations; only the bodies differ between device and host compilation.
#if RK_DEVICE_COMPILE
/// An atomic reference to the plain object `x` of type `T` (system scope on the device).
#define RK_ATOMIC_REF(T, x) cuda::atomic_ref<T, cuda::thread_scope_system>(x)
/// The memory order named `order` (relaxed, acquire, release, acq_rel, seq_cst) for RK_ATOMIC_REF.
#define RK_MO(order) cuda::std::memory_order_##order
#else
/// An atomic reference to the plain object `x` of type `T` (std::atomic_ref on the host).
#define RK_ATOMIC_REF(T, x) std::atomic_ref<T>(x)
/// The memory order named `order` (relaxed, acquire, release, acq_rel, seq_cst) for RK_ATOMIC_REF.
#define RK_MO(order) std::memory_order_##order
#endif

/// Acquire load of `*p`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE T load_acquire(const T* p) noexcept {
  return RK_ATOMIC_REF(T, *const_cast<T*>(p)).load(RK_MO(acquire));
}
/// Relaxed load of `*p`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE T load_relaxed(const T* p) noexcept {
  return RK_ATOMIC_REF(T, *const_cast<T*>(p)).load(RK_MO(relaxed));
}
/// Release store of `v` into `*p`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE void store_release(T* p, T v) noexcept {
  RK_ATOMIC_REF(T, *p).store(v, RK_MO(release));
}
/// Relaxed store of `v` into `*p`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE void store_relaxed(T* p, T v) noexcept {
  RK_ATOMIC_REF(T, *p).store(v, RK_MO(relaxed));
}
/// Strong compare-exchange with acq_rel ordering; `expected` receives the observed value on failure.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE bool compare_exchange(T* p, T& expected, T desired) noexcept {
  return RK_ATOMIC_REF(T, *p).compare_exchange_strong(expected, desired, RK_MO(acq_rel),
                                                     RK_MO(acquire));
}
/// Weak compare-exchange (may fail spuriously) for retry loops.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE bool compare_exchange_weak(T* p, T& expected, T desired) noexcept {
  return RK_ATOMIC_REF(T, *p).compare_exchange_weak(expected, desired, RK_MO(acq_rel),
                                                   RK_MO(acquire));
}
} // namespace ringkernel::detail

namespace ringkernel {
/// Who shares the memory an atomic index lives in. Rings in mapped host memory are shared with the CPU and
/// need system-scope ordering on the GPU (each release then waits for PCIe writes); rings in device memory
/// that only GPU threads touch can use device scope, which is an order of magnitude cheaper.
enum class MemoryScope : std::uint8_t {
  System = 0,  ///< Shared with the host (mapped memory, or host-only memory on the host).
  Device = 1,  ///< Device memory touched only by GPU threads (host code treats it like System).
  Cluster = 2, ///< Shared memory of the blocks of one thread-block cluster (Hopper distributed shared memory);
               ///< cheaper still. Host code treats it like System; before sm_90 it is Device.
};
} // namespace ringkernel

namespace ringkernel::detail {
#if RK_DEVICE_COMPILE
#if __CUDA_ARCH__ >= 900
/// Cluster-scope atomics on a 64-bit word (libcu++ has no cluster scope): the subset of cuda::atomic_ref the
/// ring code uses, in PTX. Works on generic addresses, including another block's shared memory mapped with
/// cluster.map_shared_rank.
template <class T>
class ClusterAtomicRef {
  static_assert(sizeof(T) == 8, "cluster-scope atomics are provided for 64-bit words");

public:
  __device__ explicit ClusterAtomicRef(T& x) : p_(&x) {}
  __device__ T load(cuda::std::memory_order mo) const {
    unsigned long long v;
    if (mo == cuda::std::memory_order_relaxed) {
      asm volatile("ld.relaxed.cluster.b64 %0, [%1];" : "=l"(v) : "l"(p_) : "memory");
    } else {
      asm volatile("ld.acquire.cluster.b64 %0, [%1];" : "=l"(v) : "l"(p_) : "memory");
    }
    return static_cast<T>(v);
  }
  __device__ void store(T v, cuda::std::memory_order mo) const {
    const auto u = static_cast<unsigned long long>(v);
    if (mo == cuda::std::memory_order_relaxed) {
      asm volatile("st.relaxed.cluster.b64 [%0], %1;" ::"l"(p_), "l"(u) : "memory");
    } else {
      asm volatile("st.release.cluster.b64 [%0], %1;" ::"l"(p_), "l"(u) : "memory");
    }
  }
  __device__ bool compare_exchange_weak(T& expected, T desired, cuda::std::memory_order mo,
                                        cuda::std::memory_order /*failure*/) const {
    unsigned long long old;
    const auto e = static_cast<unsigned long long>(expected);
    const auto d = static_cast<unsigned long long>(desired);
    if (mo == cuda::std::memory_order_relaxed) {
      asm volatile("atom.relaxed.cluster.cas.b64 %0, [%1], %2, %3;" : "=l"(old) : "l"(p_), "l"(e), "l"(d) : "memory");
    } else {
      asm volatile("atom.acq_rel.cluster.cas.b64 %0, [%1], %2, %3;" : "=l"(old) : "l"(p_), "l"(e), "l"(d) : "memory");
    }
    const bool ok = old == e;
    expected = static_cast<T>(old);
    return ok;
  }

private:
  T* p_;
};
/// Runs `op` with an atomic reference of scope `s` on `x`.
#define RK_SCOPED(T, x, s, op)                                                                          \
  ((s) == ::ringkernel::MemoryScope::Cluster  ? ::ringkernel::detail::ClusterAtomicRef<T>(x).op       \
   : (s) == ::ringkernel::MemoryScope::Device ? cuda::atomic_ref<T, cuda::thread_scope_device>(x).op  \
                                              : cuda::atomic_ref<T, cuda::thread_scope_system>(x).op)
#else
/// Runs `op` with a `cuda::atomic_ref<T, scope>` on `x` for the runtime scope `s` (Cluster is Device here).
#define RK_SCOPED(T, x, s, op)                                                                          \
  ((s) != ::ringkernel::MemoryScope::System ? cuda::atomic_ref<T, cuda::thread_scope_device>(x).op    \
                                            : cuda::atomic_ref<T, cuda::thread_scope_system>(x).op)
#endif
#else
/// Host side: every scope is the one host scope.
#define RK_SCOPED(T, x, s, op) ((void)(s), std::atomic_ref<T>(x).op)
#endif
/// Acquire load of `*p` at scope `s`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE T load_acquire(const T* p, MemoryScope s) noexcept {
  return RK_SCOPED(T, *const_cast<T*>(p), s, load(RK_MO(acquire)));
}
/// Relaxed load of `*p` at scope `s`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE T load_relaxed(const T* p, MemoryScope s) noexcept {
  return RK_SCOPED(T, *const_cast<T*>(p), s, load(RK_MO(relaxed)));
}
/// Release store at scope `s`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE void store_release(T* p, T v, MemoryScope s) noexcept {
  RK_SCOPED(T, *p, s, store(v, RK_MO(release)));
}
/// Relaxed store at scope `s`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE void store_relaxed(T* p, T v, MemoryScope s) noexcept {
  RK_SCOPED(T, *p, s, store(v, RK_MO(relaxed)));
}
/// Weak compare-exchange at scope `s`.
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE bool compare_exchange_weak(T* p, T& expected, T desired, MemoryScope s) noexcept {
  return RK_SCOPED(T, *p, s, compare_exchange_weak(expected, desired, RK_MO(acq_rel), RK_MO(acquire)));
}
/// Weak compare-exchange with no ordering, for counters whose value carries no data (on the GPU an acq_rel
/// atomic pays two fences, about 0.35 us each at device scope).
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE bool compare_exchange_weak_relaxed(T* p, T& expected, T desired, MemoryScope s) noexcept {
  return RK_SCOPED(T, *p, s, compare_exchange_weak(expected, desired, RK_MO(relaxed), RK_MO(relaxed)));
}
/// Release fence at scope `s` (see fence_release()).
RK_HOST_DEVICE RK_FORCEINLINE void fence_release(MemoryScope s) noexcept {
#if RK_DEVICE_COMPILE
#if __CUDA_ARCH__ >= 900
  if (s == MemoryScope::Cluster) {
    asm volatile("fence.acq_rel.cluster;" ::: "memory");
    return;
  }
#endif
  if (s != MemoryScope::System) cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_device);
  else cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system);
#else
  (void)s;
  std::atomic_thread_fence(std::memory_order_release);
#endif
}
/// Acquire fence at scope `s`: relaxed loads before it that saw release stores order every later access.
RK_HOST_DEVICE RK_FORCEINLINE void fence_acquire(MemoryScope s) noexcept {
#if RK_DEVICE_COMPILE
#if __CUDA_ARCH__ >= 900
  if (s == MemoryScope::Cluster) {
    asm volatile("fence.acq_rel.cluster;" ::: "memory");
    return;
  }
#endif
  if (s != MemoryScope::System) cuda::atomic_thread_fence(cuda::std::memory_order_acquire, cuda::thread_scope_device);
  else cuda::atomic_thread_fence(cuda::std::memory_order_acquire, cuda::thread_scope_system);
#else
  (void)s;
  std::atomic_thread_fence(std::memory_order_acquire);
#endif
}
/// Release fence at system scope: orders every earlier access before every later store, so several relaxed
/// index stores after one fence each publish like a release store (one fence instead of one per index).
RK_HOST_DEVICE RK_FORCEINLINE void fence_release() noexcept {
#if RK_DEVICE_COMPILE
  cuda::atomic_thread_fence(cuda::std::memory_order_release, cuda::thread_scope_system);
#else
  std::atomic_thread_fence(std::memory_order_release);
#endif
}

/// Relaxed fetch-add (counters).
template <class T>
RK_HOST_DEVICE RK_FORCEINLINE T fetch_add_relaxed(T* p, T v) noexcept {
  return RK_ATOMIC_REF(T, *p).fetch_add(v, RK_MO(relaxed));
}

} // namespace ringkernel::detail
