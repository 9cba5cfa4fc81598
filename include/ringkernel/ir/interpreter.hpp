/// @file ir/interpreter.hpp
/// @brief The reference interpreter: runs a kernel on the CPU over a simulated grid of threads.
///
/// It is the oracle every backend is compared against. Threads of a block are interleaved deterministically
/// (round robin with a small quantum); barriers, grid syncs and subgroup operations are collective: a thread
/// waits there until every thread of its group arrives, and a group that cannot complete (some threads
/// returned, or wait at a different barrier) is reported as an error rather than hanging. Every memory access
/// is bounds-checked, integer division by zero is an error, and a step limit turns an endless loop into an
/// error. Ring operations call the runtime's own ring routines (ringkernel/ring.hpp) on the caller's ring
/// memory, so a kernel's messaging is checked against the real layout.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/ir/ir.hpp"

namespace ringkernel::ir {

/// How a kernel argument is bound.
enum class ArgKind : std::uint8_t {
  Buffer,  ///< Caller memory for a pointer parameter.
  Scalar,  ///< A value for a scalar parameter (raw bits of the C type in the low bytes).
  Ring,    ///< Initialised ring memory (ringkernel::ring_init) for a ring parameter.
};

/// One bound argument. The caller owns the memory; it must outlive the launch.
struct KernelArg {
  ArgKind kind = ArgKind::Scalar;  ///< What it binds.
  std::byte* data = nullptr;       ///< Buffer or ring memory.
  std::size_t size = 0;            ///< Bytes at `data`.
  std::uint64_t bits = 0;          ///< Scalar value bits (float: its IEEE bits; bool: 0/1).
};

/// Arguments for a launch, in parameter order.
class KernelArgs {
public:
  /// Binds caller memory to the next pointer parameter.
  KernelArgs& buffer(void* data, std::size_t bytes) {
    args_.push_back({ArgKind::Buffer, static_cast<std::byte*>(data), bytes, 0});
    return *this;
  }
  /// Binds a vector's storage to the next pointer parameter.
  template <class T>
  KernelArgs& buffer(std::vector<T>& v) {
    return buffer(v.data(), v.size() * sizeof(T));
  }
  /// Binds ring memory to the next ring parameter.
  KernelArgs& ring(void* memory, std::size_t bytes) {
    args_.push_back({ArgKind::Ring, static_cast<std::byte*>(memory), bytes, 0});
    return *this;
  }
  /// Binds a scalar (bool, 32/64-bit integer, float or double) to the next scalar parameter.
  template <class T>
  KernelArgs& scalar(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "scalar arguments are at most 64 bits");
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    args_.push_back({ArgKind::Scalar, nullptr, 0, bits});
    return *this;
  }
  /// The bound arguments.
  [[nodiscard]] const std::vector<KernelArg>& list() const noexcept { return args_; }
  /// Mutable access (runners rebind buffers).
  [[nodiscard]] std::vector<KernelArg>& list() noexcept { return args_; }

private:
  std::vector<KernelArg> args_;
};

/// Interpreter settings.
struct InterpreterOptions {
  std::uint32_t subgroup_size = 32;         ///< Lanes per simulated warp/subgroup.
  std::uint64_t step_limit = 200'000'000;   ///< Instructions across all threads before giving up.
  std::uint32_t quantum = 16;               ///< Instructions a thread runs before the next one is scheduled.
};

/// Runs `kernel` over `grid` blocks (each of kernel.workgroup threads). The kernel should have passed
/// validate(); the interpreter still checks everything it relies on and fails with a clear error.
Status interpret(const Kernel& kernel, std::array<std::uint32_t, 3> grid, const KernelArgs& args,
                 const InterpreterOptions& options = {});

} // namespace ringkernel::ir
