/// @file ir/types.hpp
/// @brief IR types (scalars, small vectors, pointers with address spaces, ring handles), capabilities and
/// per-target capability presets.
///
/// A type is a small value: a scalar kind, a lane count (1 = scalar, 2..4 = vector), and for pointers the
/// address space of the pointee. Capabilities name what a kernel needs beyond the portable core (f64, 64-bit
/// integers and atomics, f16, subgroups, grid sync, ...); each target preset says which it provides, so
/// validation can reject a kernel for a target with an error naming the capability and the target.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "ringkernel/error.hpp"

namespace ringkernel::ir {

/// Element kinds of scalars, vectors and pointees.
enum class ScalarKind : std::uint8_t {
  Void = 0,  ///< No value (statements).
  Bool,      ///< Boolean (not storable in memory: use u32).
  I32,       ///< Signed 32-bit integer (two's complement, wrapping).
  U32,       ///< Unsigned 32-bit integer (wrapping).
  I64,       ///< Signed 64-bit integer (needs Capability::Int64).
  U64,       ///< Unsigned 64-bit integer (needs Capability::Int64).
  F16,       ///< IEEE binary16 (needs Capability::F16).
  BF16,      ///< bfloat16 (needs Capability::BF16).
  F32,       ///< IEEE binary32.
  F64,       ///< IEEE binary64 (needs Capability::F64).
  F8E4M3,    ///< 8-bit float, 4 exponent / 3 mantissa bits, saturating (needs Capability::Fp8); storage only.
  F8E5M2,    ///< 8-bit float, 5 exponent / 2 mantissa bits (needs Capability::Fp8); storage only.
};

/// Where a pointer points.
enum class AddressSpace : std::uint8_t {
  None = 0,  ///< Not a pointer.
  Global,    ///< Device memory visible to every thread (kernel buffer arguments).
  Shared,    ///< Per-block (workgroup / threadgroup) memory.
  Constant,  ///< Read-only memory uniform across the grid.
  Private,   ///< Per-thread memory (local variables).
};

/// Shape of a type.
enum class TypeKind : std::uint8_t {
  Void = 0,  ///< No value.
  Scalar,    ///< A scalar or a vector of 2..4 lanes.
  Pointer,   ///< A pointer to a scalar or vector element in an address space.
  Ring,      ///< A handle to ring memory laid out by ringkernel/ring.hpp (RingControl at offset 0).
};

/// An IR type. Trivially copyable and compared by value.
struct Type {
  TypeKind kind = TypeKind::Void;          ///< Shape.
  ScalarKind scalar = ScalarKind::Void;    ///< Element kind (pointee for pointers).
  std::uint8_t lanes = 1;                  ///< 1 for scalars, 2..4 for vectors (of the pointee for pointers).
  AddressSpace space = AddressSpace::None; ///< Address space (pointers only).

  /// The void type.
  static constexpr Type void_() noexcept { return {}; }
  /// A scalar of kind `k`.
  static constexpr Type scalar_of(ScalarKind k) noexcept { return {TypeKind::Scalar, k, 1, AddressSpace::None}; }
  /// A vector of `n` lanes of kind `k`.
  static constexpr Type vec(ScalarKind k, std::uint8_t n) noexcept {
    return {TypeKind::Scalar, k, n, AddressSpace::None};
  }
  /// A pointer into `space` to elements of type `elem` (a scalar or vector).
  static constexpr Type ptr(AddressSpace space, Type elem) noexcept {
    return {TypeKind::Pointer, elem.scalar, elem.lanes, space};
  }
  /// A ring handle.
  static constexpr Type ring() noexcept { return {TypeKind::Ring, ScalarKind::Void, 1, AddressSpace::Global}; }
  /// bool.
  static constexpr Type bool_() noexcept { return scalar_of(ScalarKind::Bool); }
  /// i32.
  static constexpr Type i32() noexcept { return scalar_of(ScalarKind::I32); }
  /// u32.
  static constexpr Type u32() noexcept { return scalar_of(ScalarKind::U32); }
  /// i64.
  static constexpr Type i64() noexcept { return scalar_of(ScalarKind::I64); }
  /// u64.
  static constexpr Type u64() noexcept { return scalar_of(ScalarKind::U64); }
  /// f16.
  static constexpr Type f16() noexcept { return scalar_of(ScalarKind::F16); }
  /// bf16.
  static constexpr Type bf16() noexcept { return scalar_of(ScalarKind::BF16); }
  /// f32.
  static constexpr Type f32() noexcept { return scalar_of(ScalarKind::F32); }
  /// f64.
  static constexpr Type f64() noexcept { return scalar_of(ScalarKind::F64); }

  /// True for the void type.
  [[nodiscard]] constexpr bool is_void() const noexcept { return kind == TypeKind::Void; }
  /// True for scalars and vectors.
  [[nodiscard]] constexpr bool is_value() const noexcept { return kind == TypeKind::Scalar; }
  /// True for a single-lane scalar.
  [[nodiscard]] constexpr bool is_scalar() const noexcept { return kind == TypeKind::Scalar && lanes == 1; }
  /// True for a vector (2..4 lanes).
  [[nodiscard]] constexpr bool is_vector() const noexcept { return kind == TypeKind::Scalar && lanes > 1; }
  /// True for pointers.
  [[nodiscard]] constexpr bool is_pointer() const noexcept { return kind == TypeKind::Pointer; }
  /// True for ring handles.
  [[nodiscard]] constexpr bool is_ring() const noexcept { return kind == TypeKind::Ring; }
  /// The element type (pointee of a pointer, lane type of a vector stays a vector: use lane_type()).
  [[nodiscard]] constexpr Type element() const noexcept { return {TypeKind::Scalar, scalar, lanes, AddressSpace::None}; }
  /// The single-lane type of a scalar or vector.
  [[nodiscard]] constexpr Type lane_type() const noexcept { return scalar_of(scalar); }
  /// Value equality.
  friend constexpr bool operator==(const Type&, const Type&) = default;
};

/// True for I32, U32, I64, U64.
constexpr bool is_integer(ScalarKind k) noexcept {
  return k == ScalarKind::I32 || k == ScalarKind::U32 || k == ScalarKind::I64 || k == ScalarKind::U64;
}
/// True for I32 and I64.
constexpr bool is_signed(ScalarKind k) noexcept { return k == ScalarKind::I32 || k == ScalarKind::I64; }
/// True for every floating-point kind, fp8 included.
constexpr bool is_float(ScalarKind k) noexcept {
  return k == ScalarKind::F16 || k == ScalarKind::BF16 || k == ScalarKind::F32 || k == ScalarKind::F64 ||
         k == ScalarKind::F8E4M3 || k == ScalarKind::F8E5M2;
}
/// True for fp8 kinds (storage and conversion only; no arithmetic).
constexpr bool is_fp8(ScalarKind k) noexcept { return k == ScalarKind::F8E4M3 || k == ScalarKind::F8E5M2; }
/// True for 64-bit integers.
constexpr bool is_int64(ScalarKind k) noexcept { return k == ScalarKind::I64 || k == ScalarKind::U64; }
/// Size in bytes of one lane in memory (bool: 0, it is not storable).
constexpr unsigned scalar_size(ScalarKind k) noexcept {
  switch (k) {
    case ScalarKind::I32: case ScalarKind::U32: case ScalarKind::F32: return 4;
    case ScalarKind::I64: case ScalarKind::U64: case ScalarKind::F64: return 8;
    case ScalarKind::F16: case ScalarKind::BF16: return 2;
    case ScalarKind::F8E4M3: case ScalarKind::F8E5M2: return 1;
    default: return 0;
  }
}
/// Size in bytes of a value of (element) type `t` in memory; vec3 occupies 4 lanes (padded like every backend).
constexpr unsigned type_size(Type t) noexcept {
  return scalar_size(t.scalar) * (t.lanes == 3 ? 4u : t.lanes);
}

/// Textual name of a scalar kind ("f32").
std::string_view to_string(ScalarKind k) noexcept;
/// Textual name of an address space ("global").
std::string_view to_string(AddressSpace s) noexcept;
/// Textual form of a type: `f32`, `vec4<f32>`, `ptr<global, u32>`, `ring`, `void`.
std::string to_string(Type t);

/// Something a kernel may need beyond the portable core. Values are bit positions of a CapabilitySet.
enum class Capability : std::uint8_t {
  F16 = 0,             ///< 16-bit floats.
  BF16,                ///< bfloat16.
  F64,                 ///< 64-bit floats.
  Int64,               ///< 64-bit integer values and arithmetic.
  Int64Atomics,        ///< Every 64-bit atomic (exchange, CAS, min/max, fetched results).
  Int64AtomicAccumulate, ///< 64-bit atomic add/sub/and/or/xor whose result is unused (emulable with 32-bit words).
  Fp8,                 ///< fp8 storage and conversions.
  Subgroups,           ///< Warp/subgroup/simdgroup ids, shuffles, votes, reductions, scans.
  GridSync,            ///< Grid-wide barrier (cooperative launch).
  Clusters,            ///< Thread-block clusters / distributed shared memory.
  Messaging,           ///< Ring (H2K/K2H/K2K) and HLC operations on ringkernel ring memory.
  Count_,              ///< Number of capabilities (not a capability).
};

/// Stable lower-case name of a capability ("f64", "int64_atomics", ...).
std::string_view to_string(Capability c) noexcept;
/// Parses a capability name; InvalidArgument lists the known names.
Result<Capability> parse_capability(std::string_view name);

/// A set of capabilities (bit set).
class CapabilitySet {
public:
  /// The empty set.
  constexpr CapabilitySet() noexcept = default;
  /// A set from a bit mask.
  constexpr explicit CapabilitySet(std::uint32_t bits) noexcept : bits_(bits) {}
  /// A set holding the listed capabilities.
  constexpr CapabilitySet(std::initializer_list<Capability> caps) noexcept {
    for (Capability c : caps) add(c);
  }
  /// Adds `c`.
  constexpr CapabilitySet& add(Capability c) noexcept {
    bits_ |= 1u << static_cast<unsigned>(c);
    return *this;
  }
  /// Adds every capability of `o`.
  constexpr CapabilitySet& add(CapabilitySet o) noexcept {
    bits_ |= o.bits_;
    return *this;
  }
  /// True when `c` is in the set.
  [[nodiscard]] constexpr bool has(Capability c) const noexcept { return (bits_ >> static_cast<unsigned>(c)) & 1u; }
  /// Capabilities in this set but not in `o`.
  [[nodiscard]] constexpr CapabilitySet minus(CapabilitySet o) const noexcept { return CapabilitySet(bits_ & ~o.bits_); }
  /// True when empty.
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }
  /// The bit mask.
  [[nodiscard]] constexpr std::uint32_t bits() const noexcept { return bits_; }
  /// The members, in enum order.
  [[nodiscard]] std::vector<Capability> list() const;
  /// Comma-separated names ("f64, subgroups").
  [[nodiscard]] std::string describe() const;
  /// Value equality.
  friend constexpr bool operator==(CapabilitySet, CapabilitySet) = default;

private:
  std::uint32_t bits_ = 0;
};

/// Code generation back ends.
enum class Backend : std::uint8_t {
  Cuda = 0,  ///< CUDA C++ (NVRTC / nvcc).
  Wgsl,      ///< WebGPU Shading Language.
  Msl,       ///< Metal Shading Language.
  Cpu,       ///< The reference interpreter.
};
/// Lower-case backend name ("cuda", "wgsl", "msl", "cpu").
std::string_view to_string(Backend b) noexcept;

/// Named capability presets.
enum class TargetId : std::uint8_t {
  CudaSm80 = 0,      ///< CUDA, compute capability 8.0 (A100).
  CudaSm90,          ///< CUDA, compute capability 9.0 (H100/H200): adds fp8 and clusters.
  WebGpu,            ///< WebGPU baseline (64-bit integers emulated; 64-bit atomics only as accumulation).
  WebGpuSubgroups,   ///< WebGPU with the `subgroups` feature.
  MetalApple,        ///< Metal on Apple silicon (MSL 3.2): no f64, 64-bit atomics only as accumulation.
  Interpreter,       ///< The reference interpreter: everything.
};

/// A code generation target: a backend plus what it provides.
struct Target {
  TargetId id = TargetId::Interpreter;  ///< Preset this came from.
  Backend backend = Backend::Cpu;       ///< Which lowering.
  std::string name;                     ///< Preset name ("cuda-sm90", "webgpu", ...).
  CapabilitySet caps;                   ///< What kernels may use.
  CapabilitySet emulated;               ///< Subset of caps provided by emulation (slower, documented limits).
  std::uint32_t subgroup_size = 32;     ///< Lanes per warp/subgroup the preset assumes (interpreter: configurable).
};

/// The preset for `id`.
Target target_preset(TargetId id);
/// Looks a preset up by name ("cuda-sm80", "cuda-sm90", "webgpu", "webgpu-subgroups", "metal-apple",
/// "interpreter"); InvalidArgument lists the names.
Result<Target> target_by_name(std::string_view name);
/// Every preset, in TargetId order.
std::vector<Target> all_targets();

} // namespace ringkernel::ir
