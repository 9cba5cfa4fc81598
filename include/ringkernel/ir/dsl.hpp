/// @file ir/dsl.hpp
/// @brief Writing a kernel once in C++: a small embedded DSL that builds IR, with compile-time capability checks.
///
/// @code
/// namespace dsl = ringkernel::ir::dsl;
/// using Targets = dsl::targets<dsl::TargetId::CudaSm90, dsl::TargetId::WebGpu>;
/// auto saxpy = dsl::kernel<Targets>("saxpy", {256, 1, 1}, [](auto& k) {
///   auto n = k.template param<std::uint32_t>("n");
///   auto a = k.template param<float>("a");
///   auto x = k.template buffer<float>("x");
///   auto y = k.template buffer<float>("y");
///   auto i = k.global_id();
///   k.if_(i < n, [&] { y[i] = a * x[i] + y[i]; });
/// });
/// @endcode
///
/// A kernel declares its targets as a type list. Where a capability requirement is visible in the C++ types
/// (an f64 parameter, a 64-bit atomic, a subgroup operation, grid sync), using it with a declared target that
/// lacks it is a compile error whose message names the capability and the backend, unless the kernel's fallback
/// policy covers it (DowncastF64 for f64, RunOnCpu for everything). Everything else is checked when the kernel
/// is built (validate) and lowered (validate_for).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/ir/codegen.hpp"
#include "ringkernel/ir/ir.hpp"
#include "ringkernel/ir/passes.hpp"
#include "ringkernel/ir/types.hpp"

/// The kernel DSL.
namespace ringkernel::ir::dsl {

using ringkernel::ir::Capability;
using ringkernel::ir::Fallback;
using ringkernel::ir::TargetId;

/// Element tag for IEEE binary16.
struct f16 {};
/// Element tag for bfloat16.
struct bf16 {};
/// Element tag for fp8 e4m3.
struct fp8_e4m3 {};
/// Element tag for fp8 e5m2.
struct fp8_e5m2 {};
/// Element tag for a vector of N lanes of T.
template <class T, int N>
struct vec {};

/// Maps a C++ element type to its IR scalar kind (specialised below).
template <class T>
struct scalar_of;
/// bool.
template <> struct scalar_of<bool> {
  static constexpr ScalarKind value = ScalarKind::Bool;  ///< The kind.
};
/// int32_t.
template <> struct scalar_of<std::int32_t> {
  static constexpr ScalarKind value = ScalarKind::I32;  ///< The kind.
};
/// uint32_t.
template <> struct scalar_of<std::uint32_t> {
  static constexpr ScalarKind value = ScalarKind::U32;  ///< The kind.
};
/// int64_t.
template <> struct scalar_of<std::int64_t> {
  static constexpr ScalarKind value = ScalarKind::I64;  ///< The kind.
};
/// uint64_t.
template <> struct scalar_of<std::uint64_t> {
  static constexpr ScalarKind value = ScalarKind::U64;  ///< The kind.
};
/// float.
template <> struct scalar_of<float> {
  static constexpr ScalarKind value = ScalarKind::F32;  ///< The kind.
};
/// double.
template <> struct scalar_of<double> {
  static constexpr ScalarKind value = ScalarKind::F64;  ///< The kind.
};
/// f16.
template <> struct scalar_of<f16> {
  static constexpr ScalarKind value = ScalarKind::F16;  ///< The kind.
};
/// bf16.
template <> struct scalar_of<bf16> {
  static constexpr ScalarKind value = ScalarKind::BF16;  ///< The kind.
};
/// fp8 e4m3.
template <> struct scalar_of<fp8_e4m3> {
  static constexpr ScalarKind value = ScalarKind::F8E4M3;  ///< The kind.
};
/// fp8 e5m2.
template <> struct scalar_of<fp8_e5m2> {
  static constexpr ScalarKind value = ScalarKind::F8E5M2;  ///< The kind.
};

/// IR type of a C++ element type (scalars and dsl::vec).
template <class T>
struct ir_type {
  /// The type.
  static constexpr Type value = Type::scalar_of(scalar_of<T>::value);
};
/// IR type of a vector.
template <class T, int N>
struct ir_type<vec<T, N>> {
  /// The type.
  static constexpr Type value = Type::vec(scalar_of<T>::value, static_cast<std::uint8_t>(N));
};

/// Capabilities a value of element type T needs.
template <class T>
constexpr CapabilitySet caps_of_type() {
  constexpr ScalarKind k = ir_type<T>::value.scalar;
  if constexpr (k == ScalarKind::F64) return CapabilitySet{Capability::F64};
  else if constexpr (k == ScalarKind::F16) return CapabilitySet{Capability::F16};
  else if constexpr (k == ScalarKind::BF16) return CapabilitySet{Capability::BF16};
  else if constexpr (k == ScalarKind::I64 || k == ScalarKind::U64) return CapabilitySet{Capability::Int64};
  else if constexpr (k == ScalarKind::F8E4M3 || k == ScalarKind::F8E5M2) return CapabilitySet{Capability::Fp8};
  else return CapabilitySet{};
}

/// Compile-time copy of the presets' capabilities (a unit test checks it against target_preset()).
constexpr CapabilitySet preset_caps(TargetId id) {
  using C = Capability;
  switch (id) {
    case TargetId::CudaSm80:
      return {C::F16, C::BF16, C::F64, C::Int64, C::Int64Atomics, C::Int64AtomicAccumulate, C::Subgroups, C::GridSync, C::Messaging};
    case TargetId::CudaSm90:
      return {C::F16, C::BF16, C::F64, C::Int64, C::Int64Atomics, C::Int64AtomicAccumulate, C::Subgroups, C::GridSync,
              C::Clusters, C::Fp8, C::Messaging};
    case TargetId::WebGpu: return {C::Int64, C::Int64AtomicAccumulate, C::Messaging};
    case TargetId::WebGpuSubgroups: return {C::Int64, C::Int64AtomicAccumulate, C::Messaging, C::Subgroups};
    case TargetId::MetalApple: return {C::F16, C::BF16, C::Int64, C::Int64AtomicAccumulate, C::Subgroups, C::Messaging};
    case TargetId::Interpreter: return CapabilitySet((1u << static_cast<unsigned>(C::Count_)) - 1u);
  }
  return {};
}

/// The list of targets a kernel is written for.
template <TargetId... Ids>
struct targets {
  /// True when `id` is one of the targets.
  static constexpr bool has(TargetId id) { return ((Ids == id) || ...); }
  /// The targets, in declaration order.
  static std::vector<TargetId> list() { return {Ids...}; }
};

/// True when a declared target of `Targets` lacks `cap` and `F` does not cover it.
template <class Targets, Fallback F>
constexpr bool lacks(TargetId id, Capability cap) {
  if (F == Fallback::RunOnCpu) return false;
  if (F == Fallback::DowncastF64 && cap == Capability::F64) return false;
  return Targets::has(id) && !preset_caps(id).has(cap);
}

/// One static_assert per (capability, target): the message must be a literal, and it names both.
#define RK_DSL_CHECK_ONE(CAP, CAPNAME, TID, TNAME)                                                          \
  static_assert(!(((caps.bits() >> static_cast<unsigned>(Capability::CAP)) & 1u) != 0 &&                   \
                  lacks<Targets, F>(TargetId::TID, Capability::CAP)),                                      \
                "capability '" CAPNAME "' is not supported by backend '" TNAME                             \
                "', which this kernel declares as a target (drop the target or choose a fallback policy)");
/// The static_asserts of one capability for every target.
#define RK_DSL_CHECK_CAP(CAP, CAPNAME)                                   \
  RK_DSL_CHECK_ONE(CAP, CAPNAME, CudaSm80, "cuda (sm_80)")               \
  RK_DSL_CHECK_ONE(CAP, CAPNAME, CudaSm90, "cuda (sm_90)")               \
  RK_DSL_CHECK_ONE(CAP, CAPNAME, WebGpu, "wgsl (webgpu)")                \
  RK_DSL_CHECK_ONE(CAP, CAPNAME, WebGpuSubgroups, "wgsl (webgpu-subgroups)") \
  RK_DSL_CHECK_ONE(CAP, CAPNAME, MetalApple, "msl (metal-apple)")

/// Fails compilation when a declared target lacks one of `caps` (and the fallback does not cover it).
template <class Targets, Fallback F, std::uint32_t Bits>
constexpr void require() {
  constexpr CapabilitySet caps(Bits);
  RK_DSL_CHECK_CAP(F16, "f16")
  RK_DSL_CHECK_CAP(BF16, "bf16")
  RK_DSL_CHECK_CAP(F64, "f64")
  RK_DSL_CHECK_CAP(Int64, "int64")
  RK_DSL_CHECK_CAP(Int64Atomics, "int64_atomics")
  RK_DSL_CHECK_CAP(Int64AtomicAccumulate, "int64_atomic_accumulate")
  RK_DSL_CHECK_CAP(Fp8, "fp8")
  RK_DSL_CHECK_CAP(Subgroups, "subgroups")
  RK_DSL_CHECK_CAP(GridSync, "grid_sync")
  RK_DSL_CHECK_CAP(Clusters, "clusters")
}
#undef RK_DSL_CHECK_CAP
#undef RK_DSL_CHECK_ONE

/// A typed IR value of element type T.
template <class T>
struct Val {
  Builder* b = nullptr;  ///< The builder it belongs to.
  Value v;               ///< The IR value.
};

/// Anything usable where a Val<T> is expected: a Val or a C++ literal of type T.
template <class T>
struct Operand {
  Val<T> val;  ///< The value.
  /// From a value.
  Operand(Val<T> x) : val(x) {}  // NOLINT(google-explicit-constructor)
  /// From a literal (materialised lazily, once the builder is known).
  template <class L, class = std::enable_if_t<std::is_arithmetic_v<L>>>
  Operand(L lit) : literal(static_cast<double>(lit)), is_literal(true) {}  // NOLINT(google-explicit-constructor)
  double literal = 0;       ///< Literal value.
  bool is_literal = false;  ///< True for a literal.
  /// The value in builder `b`.
  Val<T> in(Builder* b) const {
    if (!is_literal) return val;
    constexpr Type t = ir_type<T>::value;
    if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, f16> || std::is_same_v<T, bf16>) {
      return {b, b->const_float(t, literal)};
    } else {
      return {b, b->const_int(t, static_cast<std::int64_t>(literal))};
    }
  }
};

/// Math intrinsic on a float value.
template <class T> Val<T> math(MathFn fn, Val<T> a) { return {a.b, a.b->math(fn, {a.v})}; }
/// sqrt(a).
template <class T> Val<T> sqrt(Val<T> a) { return math(MathFn::Sqrt, a); }
/// exp(a).
template <class T> Val<T> exp(Val<T> a) { return math(MathFn::Exp, a); }
/// abs(a).
template <class T> Val<T> abs(Val<T> a) { return math(MathFn::Abs, a); }
/// fma(a, b, c).
template <class T> Val<T> fma(Val<T> a, Val<T> b, Val<T> c) { return {a.b, a.b->math(MathFn::Fma, {a.v, b.v, c.v})}; }
/// min(a, b).
template <class T> Val<T> min(Val<T> a, const Operand<std::type_identity_t<T>>& b) { return {a.b, a.b->binary(Op::Min, a.v, b.in(a.b).v)}; }
/// max(a, b).
template <class T> Val<T> max(Val<T> a, const Operand<std::type_identity_t<T>>& b) { return {a.b, a.b->binary(Op::Max, a.v, b.in(a.b).v)}; }
/// c ? a : b.
template <class T> Val<T> select(Val<bool> c, Val<T> a, const Operand<std::type_identity_t<T>>& b) { return {c.b, c.b->select(c.v, a.v, b.in(c.b).v)}; }
/// Numeric conversion.
template <class U, class T> Val<U> cast(Val<T> a) { return {a.b, a.b->cast(a.v, ir_type<U>::value)}; }
/// Bit reinterpretation.
template <class U, class T> Val<U> bitcast(Val<T> a) { return {a.b, a.b->bitcast(a.v, ir_type<U>::value)}; }

/// An lvalue in memory: reading converts to Val<T>, assigning stores.
template <class T>
class Ref {
public:
  /// A reference through pointer `ptr`.
  Ref(Builder* b, Value ptr) : b_(b), ptr_(ptr) {}
  /// Loads the value.
  [[nodiscard]] Val<T> load() const { return {b_, b_->load(ptr_)}; }
  /// Loads the value.
  operator Val<T>() const { return load(); }  // NOLINT(google-explicit-constructor)
  /// Stores `v`.
  Ref& operator=(const Operand<std::type_identity_t<T>>& v) {
    b_->store(ptr_, v.in(b_).v);
    return *this;
  }
  /// Copies another element (load + store).
  Ref& operator=(const Ref& other) {
    b_->store(ptr_, other.load().v);
    return *this;
  }
  /// Copies the reference (not the referenced value).
  Ref(const Ref&) = default;
  /// *this = *this + v.
  Ref& operator+=(const Operand<std::type_identity_t<T>>& v) { return *this = load() + v; }
  /// The element's address.
  [[nodiscard]] Value address() const { return ptr_; }
  /// The builder.
  [[nodiscard]] Builder* builder() const { return b_; }

private:
  Builder* b_;
  Value ptr_;
};


/// Traits of DSL operand types (values and memory references); plain arithmetic types are literals.
template <class X>
struct dsl_traits {
  static constexpr bool is_dsl = false;  ///< Not a DSL value.
};
/// A value.
template <class T>
struct dsl_traits<Val<T>> {
  static constexpr bool is_dsl = true;  ///< A DSL value.
  using elem = T;                       ///< Its element type.
};
/// A memory reference (read when used as an operand).
template <class T>
struct dsl_traits<Ref<T>> {
  static constexpr bool is_dsl = true;  ///< A DSL value.
  using elem = T;                       ///< Its element type.
};
/// Two operands of a DSL operator: at least one DSL value, the other a DSL value or a literal.
template <class A, class B>
concept Operands = (dsl_traits<A>::is_dsl || dsl_traits<B>::is_dsl) && (dsl_traits<A>::is_dsl || std::is_arithmetic_v<A>) &&
                   (dsl_traits<B>::is_dsl || std::is_arithmetic_v<B>);
/// Element type of an operator's result: that of its DSL operand (the left one when both are).
template <class A, class B>
using elem_t = typename std::conditional_t<dsl_traits<A>::is_dsl, dsl_traits<A>, dsl_traits<B>>::elem;

/// The builder behind an operand (nullptr for literals).
template <class X>
Builder* builder_of(const X& x) {
  if constexpr (dsl_traits<X>::is_dsl) {
    if constexpr (std::is_same_v<X, Val<typename dsl_traits<X>::elem>>) return x.b;
    else return x.builder();
  } else {
    return nullptr;
  }
}
/// An operand as a Val<T> in builder `b` (loads references, materialises literals).
template <class T, class X>
Val<T> to_val(const X& x, Builder* b) {
  if constexpr (dsl_traits<X>::is_dsl) {
    static_assert(std::is_same_v<typename dsl_traits<X>::elem, T>, "operands of a DSL operator must have the same element type (use dsl::cast)");
    if constexpr (std::is_same_v<X, Val<T>>) return x;
    else return x.load();
  } else {
    return Operand<T>(x).in(b);
  }
}
/// Emits a binary operation on two operands.
template <class A, class B>
Val<elem_t<A, B>> binary_op(Op op, const A& a, const B& b) {
  using T = elem_t<A, B>;
  Builder* bl = builder_of(a) != nullptr ? builder_of(a) : builder_of(b);
  return {bl, bl->binary(op, to_val<T>(a, bl).v, to_val<T>(b, bl).v)};
}
/// Emits a comparison of two operands.
template <class A, class B>
Val<bool> compare_op(CmpPred p, const A& a, const B& b) {
  using T = elem_t<A, B>;
  Builder* bl = builder_of(a) != nullptr ? builder_of(a) : builder_of(b);
  return {bl, bl->cmp(p, to_val<T>(a, bl).v, to_val<T>(b, bl).v)};
}
/// a + b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator+(const A& a, const B& b) {
  return binary_op(Op::Add, a, b);
}
/// a - b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator-(const A& a, const B& b) {
  return binary_op(Op::Sub, a, b);
}
/// a * b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator*(const A& a, const B& b) {
  return binary_op(Op::Mul, a, b);
}
/// a / b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator/(const A& a, const B& b) {
  return binary_op(Op::Div, a, b);
}
/// a % b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator%(const A& a, const B& b) {
  return binary_op(Op::Rem, a, b);
}
/// a & b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator&(const A& a, const B& b) {
  return binary_op(Op::And, a, b);
}
/// a | b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator|(const A& a, const B& b) {
  return binary_op(Op::Or, a, b);
}
/// a ^ b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator^(const A& a, const B& b) {
  return binary_op(Op::Xor, a, b);
}
/// a << b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator<<(const A& a, const B& b) {
  return binary_op(Op::Shl, a, b);
}
/// a >> b.
template <class A, class B>
  requires Operands<A, B>
Val<elem_t<A, B>> operator>>(const A& a, const B& b) {
  return binary_op(Op::Shr, a, b);
}
/// a == b.
template <class A, class B>
  requires Operands<A, B>
Val<bool> operator==(const A& a, const B& b) {
  return compare_op(CmpPred::Eq, a, b);
}
/// a != b.
template <class A, class B>
  requires Operands<A, B>
Val<bool> operator!=(const A& a, const B& b) {
  return compare_op(CmpPred::Ne, a, b);
}
/// a < b.
template <class A, class B>
  requires Operands<A, B>
Val<bool> operator<(const A& a, const B& b) {
  return compare_op(CmpPred::Lt, a, b);
}
/// a <= b.
template <class A, class B>
  requires Operands<A, B>
Val<bool> operator<=(const A& a, const B& b) {
  return compare_op(CmpPred::Le, a, b);
}
/// a > b.
template <class A, class B>
  requires Operands<A, B>
Val<bool> operator>(const A& a, const B& b) {
  return compare_op(CmpPred::Gt, a, b);
}
/// a >= b.
template <class A, class B>
  requires Operands<A, B>
Val<bool> operator>=(const A& a, const B& b) {
  return compare_op(CmpPred::Ge, a, b);
}
/// -a.
template <class T> Val<T> operator-(Val<T> a) { return {a.b, a.b->unary(Op::Neg, a.v)}; }
/// ~a.
template <class T> Val<T> operator~(Val<T> a) { return {a.b, a.b->unary(Op::Not, a.v)}; }
/// !a.
inline Val<bool> operator!(Val<bool> a) { return {a.b, a.b->unary(Op::Not, a.v)}; }
/// a && b (both sides are evaluated: IR values have no side effects).
inline Val<bool> operator&&(Val<bool> a, Val<bool> b) { return {a.b, a.b->binary(Op::And, a.v, b.v)}; }
/// a || b (both sides are evaluated).
inline Val<bool> operator||(Val<bool> a, Val<bool> b) { return {a.b, a.b->binary(Op::Or, a.v, b.v)}; }

/// A pointer to elements of type T (buffer, shared array, private variable).
template <class T>
class Ptr {
public:
  /// Wraps an IR pointer value.
  Ptr(Builder* b, Value v) : b_(b), v_(v) {}
  /// Element `i`.
  template <class I>
  Ref<T> operator[](Val<I> i) const {
    return {b_, b_->ptr_add(v_, i.v)};
  }
  /// Element `i` (a literal index).
  Ref<T> operator[](std::uint32_t i) const { return {b_, b_->ptr_add(v_, b_->u32(i))}; }
  /// Pointer advanced by `i` elements.
  template <class I>
  Ptr operator+(Val<I> i) const {
    return {b_, b_->ptr_add(v_, i.v)};
  }
  /// The IR value.
  [[nodiscard]] Value value() const { return v_; }

private:
  Builder* b_;
  Value v_;
};

/// Builds one kernel; `Targets` and `F` drive the compile-time capability checks.
template <class Targets, Fallback F = Fallback::None>
class KernelBuilder {
public:
  /// Starts kernel `name` with workgroup size `wg`.
  KernelBuilder(std::string name, std::array<std::uint32_t, 3> wg) : b_(std::move(name), wg) {}

  /// The underlying IR builder (escape hatch for operations the DSL does not wrap).
  Builder& ir() { return b_; }

  /// A scalar parameter.
  template <class T>
  Val<T> param(std::string name) {
    require<Targets, F, caps_of_type<T>().bits()>();
    return {&b_, b_.param(std::move(name), ir_type<T>::value)};
  }
  /// A global buffer parameter.
  template <class T>
  Ptr<T> buffer(std::string name) {
    require<Targets, F, caps_of_type<T>().bits()>();
    return {&b_, b_.param(std::move(name), Type::ptr(AddressSpace::Global, ir_type<T>::value))};
  }
  /// A read-only (constant memory) buffer parameter.
  template <class T>
  Ptr<T> constant_buffer(std::string name) {
    require<Targets, F, caps_of_type<T>().bits()>();
    return {&b_, b_.param(std::move(name), Type::ptr(AddressSpace::Constant, ir_type<T>::value))};
  }
  /// A ring parameter (ring memory of ringkernel/ring.hpp).
  Value ring(std::string name) { return b_.param(std::move(name), Type::ring()); }
  /// A literal.
  template <class T>
  Val<T> constant(T v) {
    return Operand<T>(v).in(&b_);
  }
  /// Workgroup array of `count` elements.
  template <class T>
  Ptr<T> shared(std::uint32_t count, std::string name = {}) {
    require<Targets, F, caps_of_type<T>().bits()>();
    return {&b_, b_.shared(ir_type<T>::value, count, std::move(name))};
  }
  /// Per-thread array of `count` elements (zero-initialised).
  template <class T>
  Ptr<T> local(std::uint32_t count = 1, std::string name = {}) {
    require<Targets, F, caps_of_type<T>().bits()>();
    return {&b_, b_.var(ir_type<T>::value, count, std::move(name))};
  }

  /// Global thread index along `d`.
  Val<std::uint32_t> global_id(Dim d = Dim::X) { return {&b_, b_.builtin(Op::GlobalId, d)}; }
  /// Thread index in the block.
  Val<std::uint32_t> thread_id(Dim d = Dim::X) { return {&b_, b_.builtin(Op::ThreadId, d)}; }
  /// Block index.
  Val<std::uint32_t> block_id(Dim d = Dim::X) { return {&b_, b_.builtin(Op::BlockId, d)}; }
  /// Threads per block.
  Val<std::uint32_t> block_dim(Dim d = Dim::X) { return {&b_, b_.builtin(Op::BlockDim, d)}; }
  /// Blocks in the grid.
  Val<std::uint32_t> grid_dim(Dim d = Dim::X) { return {&b_, b_.builtin(Op::GridDim, d)}; }
  /// Lane in the subgroup.
  Val<std::uint32_t> lane_id() {
    require<Targets, F, CapabilitySet{Capability::Subgroups}.bits()>();
    return {&b_, b_.subgroup_builtin(Op::LaneId)};
  }
  /// Subgroup index in the block.
  Val<std::uint32_t> warp_id() {
    require<Targets, F, CapabilitySet{Capability::Subgroups}.bits()>();
    return {&b_, b_.subgroup_builtin(Op::WarpId)};
  }
  /// Lanes per subgroup.
  Val<std::uint32_t> warp_size() {
    require<Targets, F, CapabilitySet{Capability::Subgroups}.bits()>();
    return {&b_, b_.subgroup_builtin(Op::WarpSize)};
  }

  /// Block barrier.
  void barrier() { b_.barrier(); }
  /// Memory fence.
  void fence(FenceScope s) { b_.fence(s); }
  /// Grid-wide barrier.
  void grid_sync() {
    require<Targets, F, CapabilitySet{Capability::GridSync}.bits()>();
    b_.grid_sync();
  }

  /// Atomic RMW returning the old value (64-bit: needs int64_atomics).
  template <class T>
  Val<T> atomic(AtomicOp op, const Ref<T>& at, const Operand<std::type_identity_t<T>>& v) {
    if constexpr (sizeof(T) == 8) require<Targets, F, CapabilitySet{Capability::Int64Atomics}.bits()>();
    return {&b_, b_.atomic(op, at.address(), v.in(&b_).v)};
  }
  /// Atomic add whose result is not needed (64-bit: int64_atomic_accumulate suffices).
  template <class T>
  void atomic_accumulate(const Ref<T>& at, const Operand<std::type_identity_t<T>>& v) {
    if constexpr (sizeof(T) == 8) require<Targets, F, CapabilitySet{Capability::Int64AtomicAccumulate}.bits()>();
    b_.atomic(AtomicOp::Add, at.address(), v.in(&b_).v);
  }
  /// Strong compare-exchange returning the old value.
  template <class T>
  Val<T> atomic_cas(const Ref<T>& at, const Operand<std::type_identity_t<T>>& expected, const Operand<std::type_identity_t<T>>& desired) {
    if constexpr (sizeof(T) == 8) require<Targets, F, CapabilitySet{Capability::Int64Atomics}.bits()>();
    return {&b_, b_.atomic_cas(at.address(), expected.in(&b_).v, desired.in(&b_).v)};
  }

  /// Subgroup shuffle.
  template <class T>
  Val<T> shuffle(ShuffleKind kind, Val<T> v, const Operand<std::uint32_t>& lane) {
    require<Targets, F, CapabilitySet{Capability::Subgroups}.bits()>();
    return {&b_, b_.shuffle(kind, v.v, lane.in(&b_).v)};
  }
  /// Subgroup reduction.
  template <class T>
  Val<T> reduce(ReduceOp op, Val<T> v) {
    require<Targets, F, CapabilitySet{Capability::Subgroups}.bits()>();
    return {&b_, b_.reduce(op, v.v)};
  }
  /// Subgroup prefix sum.
  template <class T>
  Val<T> scan(ScanKind kind, Val<T> v) {
    require<Targets, F, CapabilitySet{Capability::Subgroups}.bits()>();
    return {&b_, b_.scan(kind, v.v)};
  }
  /// Subgroup ballot of `p` (bit i = lane i).
  Val<std::uint32_t> ballot(Val<bool> p) {
    require<Targets, F, CapabilitySet{Capability::Subgroups}.bits()>();
    return {&b_, b_.vote(VoteKind::Ballot, p.v)};
  }
  /// True when `p` holds on any lane.
  Val<bool> any(Val<bool> p) {
    require<Targets, F, CapabilitySet{Capability::Subgroups}.bits()>();
    return {&b_, b_.vote(VoteKind::Any, p.v)};
  }

  /// if (c) then_fn() else else_fn().
  void if_(Val<bool> c, const std::function<void()>& then_fn, const std::function<void()>& else_fn = {}) { b_.if_(c.v, then_fn, else_fn); }
  /// for (i = lo; i < hi; i += step) body(i).
  template <class I>
  void for_(const Operand<I>& lo, const Operand<std::type_identity_t<I>>& hi, const Operand<std::type_identity_t<I>>& step,
            const std::function<void(Val<I>)>& body) {
    b_.for_(lo.in(&b_).v, hi.in(&b_).v, step.in(&b_).v, [&](Value i) { body(Val<I>{&b_, i}); });
  }
  /// loop { body() } until break_()/return_().
  void loop(const std::function<void()>& body) { b_.loop(body); }
  /// break.
  void break_() { b_.break_(); }
  /// continue.
  void continue_() { b_.continue_(); }
  /// return.
  void return_() { b_.return_(); }

  /// The kernel, validated.
  Result<Kernel> finish() {
    Kernel k = b_.finish();
    if (auto s = validate(k); !s) return s.error();
    return k;
  }

private:
  Builder b_;
};

/// A kernel written once: its IR, its declared targets and its fallback policy.
struct DefinedKernel {
  Kernel kernel;                  ///< The IR.
  std::vector<TargetId> targets;  ///< Declared targets.
  Fallback fallback = Fallback::None;  ///< What to do when a target cannot run it as written.
  /// Lowers for `id` with the kernel's fallback policy (a target it did not declare is still allowed).
  [[nodiscard]] Result<Lowering> lower_for(TargetId id) const { return lower(kernel, target_preset(id), fallback); }
};

/// Defines a global kernel: `body(KernelBuilder<Targets, F>&)` builds it.
template <class Targets, Fallback F = Fallback::None, class Body>
Result<DefinedKernel> kernel(std::string name, std::array<std::uint32_t, 3> workgroup, Body&& body) {
  KernelBuilder<Targets, F> k(std::move(name), workgroup);
  body(k);
  auto built = k.finish();
  if (!built) return built.error();
  return DefinedKernel{std::move(*built), Targets::list(), F};
}

/// What a stencil body sees: neighbour accessors around the current cell and the output.
template <class Targets, Fallback F, int Dims, int Halo, class T>
class StencilContext {
public:
  /// Used by stencil().
  StencilContext(KernelBuilder<Targets, F>& k, Ptr<T> in, Ptr<T> out, std::array<Val<std::uint32_t>, 3> pos,
                 std::array<Val<std::uint32_t>, 3> size)
      : k(k), in_(in), out_(out), pos_(pos), size_(size) {}

  /// Neighbour at a compile-time offset; an offset beyond the halo does not compile.
  template <int DX, int DY = 0, int DZ = 0>
  Val<T> at() {
    static_assert(DX >= -Halo && DX <= Halo && DY >= -Halo && DY <= Halo && DZ >= -Halo && DZ <= Halo,
                  "stencil neighbour offset exceeds the declared halo width");
    static_assert((Dims >= 2 || DY == 0) && (Dims >= 3 || DZ == 0), "offset along a dimension the stencil does not have");
    return in_[index(DX, DY, DZ)].load();
  }
  /// The current cell.
  Val<T> center() { return at<0, 0, 0>(); }
  /// Writes the output cell.
  void output(const Operand<std::type_identity_t<T>>& v) { out_[index(0, 0, 0)] = v; }
  /// Coordinate along dimension `d` (0..Dims-1).
  Val<std::uint32_t> coord(int d) const { return pos_[static_cast<std::size_t>(d)]; }
  KernelBuilder<Targets, F>& k;  ///< The kernel being built (for parameters, math, ...).

private:
  Val<std::uint32_t> index(int dx, int dy, int dz) {
    Builder* b = &k.ir();
    auto off = [&](Val<std::uint32_t> p, int d) {
      // Unsigned arithmetic wraps correctly for negative offsets: p + (2^32 - |d|).
      return d == 0 ? p : p + static_cast<std::uint32_t>(d);
    };
    Val<std::uint32_t> idx = off(pos_[0], dx);
    if constexpr (Dims >= 2) idx = idx + off(pos_[1], dy) * size_[0];
    if constexpr (Dims >= 3) idx = idx + off(pos_[2], dz) * (size_[0] * size_[1]);
    (void)b;
    return idx;
  }
  Ptr<T> in_, out_;
  std::array<Val<std::uint32_t>, 3> pos_, size_;
};

/// Defines a 1D/2D/3D stencil over a dense grid: parameters `in`, `out` (element type T) and the extents
/// (`nx`, then `ny`, `nz`). Each thread handles one cell; cells closer than `Halo` to a border are left
/// untouched. `body(StencilContext&)` reads neighbours with `at<dx, dy, dz>()` and writes `output(v)`.
template <class Targets, int Dims, int Halo, class T = float, Fallback F = Fallback::None, class Body>
Result<DefinedKernel> stencil(std::string name, std::array<std::uint32_t, 3> workgroup, Body&& body) {
  static_assert(Dims >= 1 && Dims <= 3, "stencils are 1D, 2D or 3D");
  static_assert(Halo >= 0, "halo width must be non-negative");
  KernelBuilder<Targets, F> k(std::move(name), workgroup);
  auto in = k.template buffer<T>("in");
  auto out = k.template buffer<T>("out");
  static constexpr const char* kNames[] = {"nx", "ny", "nz"};
  std::array<Val<std::uint32_t>, 3> size{}, pos{};
  for (int d = 0; d < Dims; ++d) size[static_cast<std::size_t>(d)] = k.template param<std::uint32_t>(kNames[d]);
  for (int d = 0; d < Dims; ++d) pos[static_cast<std::size_t>(d)] = k.global_id(static_cast<Dim>(d));
  Val<bool> inside = pos[0] >= static_cast<std::uint32_t>(Halo);
  for (int d = 0; d < Dims; ++d) {
    const auto i = static_cast<std::size_t>(d);
    // Written as pos + halo < size so that sizes below 2*halo never wrap.
    inside = inside && (pos[i] >= static_cast<std::uint32_t>(Halo)) && (pos[i] + static_cast<std::uint32_t>(Halo) < size[i]);
  }
  StencilContext<Targets, F, Dims, Halo, T> ctx(k, in, out, pos, size);
  k.if_(inside, [&] { body(ctx); });
  auto built = k.finish();
  if (!built) return built.error();
  return DefinedKernel{std::move(*built), Targets::list(), F};
}

/// What an actor handler sees for one message: its header and payload words, the actor's state words, and
/// replying to the sender.
class MessageContext {
public:
  /// Used by actor_handler().
  MessageContext(Builder* b, Value buf, Value reply_buf, Value state, Value outbox, Value clock, Value phys)
      : b_(b), buf_(buf), reply_(reply_buf), state_(state), outbox_(outbox), clock_(clock), phys_(phys) {}

  /// Header word `i` of the message (the 64-byte header is 16 words; see ringkernel/message.hpp).
  Val<std::uint32_t> header_word(std::uint32_t i) const { return {b_, b_->load(b_->ptr_add(buf_, b_->u32(i)))}; }
  /// Payload value of type T at byte offset `offset` (4-byte aligned; `offsetof(Msg, field)`).
  template <class T>
  Val<T> payload(std::uint32_t offset) const {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "payload fields are 32 or 64 bits");
    const std::uint32_t w = 16 + offset / 4;
    if constexpr (sizeof(T) == 4) {
      return bitcast<T>(header_word(w));
    } else {
      Val<std::uint64_t> lo = cast<std::uint64_t>(header_word(w)), hi = cast<std::uint64_t>(header_word(w + 1));
      return bitcast<T>(lo | (hi << std::uint64_t{32}));
    }
  }
  /// State word `i` of the actor.
  Ref<std::uint32_t> state_word(std::uint32_t i) const { return {b_, b_->ptr_add(state_, b_->u32(i))}; }
  /// 64-bit state value at word `i` (two words, low first).
  Val<std::uint64_t> state_u64(std::uint32_t i) const {
    return cast<std::uint64_t>(state_word(i).load()) | (cast<std::uint64_t>(state_word(i + 1).load()) << std::uint64_t{32});
  }
  /// Stores a 64-bit state value at word `i`.
  void set_state_u64(std::uint32_t i, Val<std::uint64_t> v) const {
    state_word(i) = cast<std::uint32_t>(v);
    state_word(i + 1) = cast<std::uint32_t>(v >> std::uint64_t{32});
  }
  /// Replies to the sender with message type `type_id` and payload words (32-bit each); returns the ErrorCode
  /// of the K2H push. The header follows the runtime's reply rules (reply flag, correlation id, tenant,
  /// trace context, swapped source/destination, HLC stamp).
  Val<std::uint32_t> reply(std::uint32_t type_id, const std::vector<Val<std::uint32_t>>& words) const;

private:
  Builder* b_;
  Value buf_, reply_, state_, outbox_, clock_, phys_;
};

/// One message handler of an actor: the message type id and the code to run.
struct Handler {
  std::uint32_t type_id = 0;                          ///< ringkernel::message_type(...) of the message.
  std::function<void(MessageContext&)> body;          ///< The handler.
};

/// Defines an actor handler kernel with parameters `inbox` (MPSC ring), `outbox` (SPSC ring), `state`
/// (u32 words), `clock` (u64 HLC word), `phys_ms` (u64 wall clock) and `max_messages` (u32). One thread
/// drains up to max_messages messages: it merges each header's HLC into the clock and runs the handler whose
/// type id matches (unknown types are consumed and skipped, like the runtime's dispatcher counts them).
template <class Targets, Fallback F = Fallback::None>
Result<DefinedKernel> actor_handler(std::string name, std::uint32_t max_message_words, const std::vector<Handler>& handlers) {
  require<Targets, F, CapabilitySet{Capability::Messaging}.bits()>();
  KernelBuilder<Targets, F> k(std::move(name), {1, 1, 1});
  Builder& b = k.ir();
  const Value inbox = b.param("inbox", Type::ring());
  const Value outbox = b.param("outbox", Type::ring());
  const Value state = b.param("state", Type::ptr(AddressSpace::Global, Type::u32()));
  const Value clock = b.param("clock", Type::ptr(AddressSpace::Global, Type::u64()));
  const Value phys = b.param("phys_ms", Type::u64());
  const Value max_messages = b.param("max_messages", Type::u32());
  const Value buf = b.var(Type::u32(), max_message_words, "msg");
  const Value reply = b.var(Type::u32(), max_message_words, "reply");
  b.for_(b.u32(0), max_messages, b.u32(1), [&](Value) {
    const Value rc = b.h2k_dequeue(inbox, buf, max_message_words);
    b.if_(b.cmp(CmpPred::Eq, rc, b.u32(static_cast<std::uint32_t>(ErrorCode::QueueEmpty))), [&] { b.break_(); });
    b.if_(b.cmp(CmpPred::Eq, rc, b.u32(static_cast<std::uint32_t>(ErrorCode::Ok))), [&] {
      MessageContext m(&b, buf, reply, state, outbox, clock, phys);
      const Val<std::uint64_t> sent = cast<std::uint64_t>(m.header_word(8)) | (cast<std::uint64_t>(m.header_word(9)) << std::uint64_t{32});
      b.hlc_update(clock, sent.v, phys);
      const Value type = m.header_word(1).v;
      for (const auto& h : handlers) {
        b.if_(b.cmp(CmpPred::Eq, type, b.u32(h.type_id)), [&] { h.body(m); });
      }
    });
  });
  auto built = k.finish();
  if (!built) return built.error();
  return DefinedKernel{std::move(*built), Targets::list(), F};
}

inline Val<std::uint32_t> MessageContext::reply(std::uint32_t type_id, const std::vector<Val<std::uint32_t>>& words) const {
  Builder& b = *b_;
  auto in = [&](std::uint32_t i) { return header_word(i).v; };
  auto out = [&](std::uint32_t i, Value v) { b.store(b.ptr_add(reply_, b.u32(i)), v); };
  // Word 0: magic, version, priority, flags (reply + the sender's sampled bit).
  const Value w0 = in(0);
  const Value prio_flags = b.binary(Op::And, w0, b.u32(0x00FF0000u));
  const Value sampled = b.binary(Op::And, w0, b.u32(0x01000000u));
  out(0, b.binary(Op::Or, b.binary(Op::Or, b.u32(0x000001A5u), prio_flags), b.binary(Op::Or, sampled, b.u32(0x02000000u))));
  out(1, b.u32(type_id));
  const Value stamp = b.hlc_tick(clock_, phys_);
  // The message id is the HLC stamp: strictly increasing per actor, hence unique per sender.
  out(2, b.cast(stamp, Type::u32()));
  out(3, b.cast(b.binary(Op::Shr, stamp, b.const_int(Type::u64(), 32)), Type::u32()));
  out(4, in(4));
  const Value tenant = b.binary(Op::And, in(5), b.u32(0xFFFF0000u));
  out(5, b.binary(Op::Or, tenant, b.u32(static_cast<std::uint32_t>(words.size() * 4))));
  out(6, in(7));
  out(7, in(6));
  out(8, b.cast(stamp, Type::u32()));
  out(9, b.cast(b.binary(Op::Shr, stamp, b.const_int(Type::u64(), 32)), Type::u32()));
  for (std::uint32_t i = 10; i < 16; ++i) out(i, in(i));
  for (std::uint32_t i = 0; i < words.size(); ++i) out(16 + i, words[i].v);
  return {b_, b.k2h_enqueue(outbox_, reply_)};
}

} // namespace ringkernel::ir::dsl
