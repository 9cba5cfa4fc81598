/// @file ir/ir.hpp
/// @brief The kernel IR: SSA values, instructions with structured control flow, kernels, and the builder.
///
/// A kernel is a list of typed parameters, a workgroup size and a body region. A region is a list of
/// instructions; `if`, `for` and `loop` own nested regions, so control flow is structured (what WGSL and MSL
/// need) and no CFG reconstruction is ever required. Every value is defined exactly once (SSA); a value defined
/// in a region is visible after its definition in that region and in regions nested in it. Mutable state lives
/// in memory (`var` for per-thread variables, `shared` for workgroup memory, buffer parameters for global
/// memory), which keeps SSA simple and maps one to one onto every target language.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/ir/types.hpp"

namespace ringkernel::ir {

/// Index of a value in its kernel's value table.
using ValueId = std::uint32_t;
/// "No value" (statements, absent operands).
inline constexpr ValueId kNoValue = 0xFFFFFFFFu;

/// Operations. Ops with a variant (dimension, predicate, function, scope, ...) print as `name.variant`.
enum class Op : std::uint8_t {
  Const,        ///< `const <imm> : T` — a literal.
  Add,          ///< a + b (integers wrap).
  Sub,          ///< a - b.
  Mul,          ///< a * b.
  Div,          ///< a / b (integer division by zero is an error in the interpreter).
  Rem,          ///< a % b (integers only).
  Min,          ///< min(a, b).
  Max,          ///< max(a, b).
  And,          ///< Bitwise/logical and.
  Or,           ///< Bitwise/logical or.
  Xor,          ///< Bitwise/logical xor.
  Shl,          ///< a << (b mod bit width).
  Shr,          ///< a >> (b mod bit width); arithmetic for signed types.
  Neg,          ///< -a.
  Not,          ///< Bitwise not (logical not for bool).
  Cmp,          ///< Comparison; variant CmpPred; result bool.
  Select,       ///< c ? a : b.
  Cast,         ///< Numeric conversion to the result type (float->int truncates and saturates, NaN -> 0).
  Bitcast,      ///< Reinterprets the bits (same size).
  Vec,          ///< Builds a vector from lanes (one operand: splat).
  Extract,      ///< `extract <lane> %v` — one lane of a vector.
  Math,         ///< Math intrinsic; variant MathFn.
  PtrAdd,       ///< Pointer plus an element index.
  Load,         ///< Loads an element through a pointer.
  Store,        ///< `store %ptr, %value`.
  Var,          ///< `var <count> : ptr<private, T>` — per-thread array of count elements, zero-initialised.
  Shared,       ///< `shared <count> : ptr<shared, T>` — workgroup array (kernel top level only).
  ThreadId,     ///< Thread index in the block; variant Dim.
  BlockId,      ///< Block index in the grid; variant Dim.
  BlockDim,     ///< Threads per block (the kernel's workgroup size); variant Dim.
  GridDim,      ///< Blocks in the grid; variant Dim.
  GlobalId,     ///< block_id * block_dim + thread_id; variant Dim.
  LaneId,       ///< Lane within the warp/subgroup (Subgroups).
  WarpId,       ///< Warp/subgroup index within the block (Subgroups).
  WarpSize,     ///< Lanes per warp/subgroup (Subgroups).
  Barrier,      ///< Block barrier with workgroup memory ordering; must be in uniform control flow.
  Fence,        ///< Memory fence; variant FenceScope.
  GridSync,     ///< Grid-wide barrier (GridSync).
  Atomic,       ///< `atomic.<op> %ptr, %v : T` — read-modify-write, returns the old value; variant AtomicOp.
  AtomicCas,    ///< `atomic.cas %ptr, %expected, %desired : T` — strong compare-exchange, returns the old value.
  AtomicLoad,   ///< Atomic load.
  AtomicStore,  ///< Atomic store (`atomic_store %ptr, %v`).
  Shuffle,      ///< Subgroup shuffle; variant ShuffleKind; operands value, lane/delta/mask.
  Vote,         ///< Subgroup vote; variant VoteKind; any/all -> bool, ballot -> u32 (lanes 0..31).
  Reduce,       ///< Subgroup reduction; variant ReduceOp.
  Scan,         ///< Subgroup prefix sum; variant ScanKind.
  H2kDequeue,   ///< `h2k_dequeue <words> %ring, %buf : u32` — pop one H2K (MPSC) slot into buf; ErrorCode.
  K2hEnqueue,   ///< `k2h_enqueue %ring, %buf : u32` — push header+payload from buf to an SPSC K2H ring.
  K2kSend,      ///< `k2k_send %ring, %buf : u32` — push header+payload to another actor's MPSC inbox.
  K2kRecv,      ///< `k2k_recv <words> %ring, %buf : u32` — pop one slot of this actor's K2K (MPSC) inbox.
  HlcNow,       ///< `hlc_now %clock : u64` — current packed HLC value (no advance).
  HlcTick,      ///< `hlc_tick %clock, %phys_ms : u64` — advance for a local event/send (hlc_next_tick).
  HlcUpdate,    ///< `hlc_update %clock, %received, %phys_ms : u64` — merge a received stamp (hlc_next_update).
  If,           ///< `if %c { ... } else { ... }`.
  For,          ///< `for %i = %lo to %hi step %s { ... }` — counted loop, i < hi, signed per the type.
  Loop,         ///< `loop { ... }` — runs until break or return.
  Break,        ///< Leaves the innermost loop.
  Continue,     ///< Next iteration of the innermost loop.
  Return,       ///< Ends the thread.
  Count_,       ///< Number of ops (not an op).
};

/// Dimension variant of id/size ops.
enum class Dim : std::uint8_t { X = 0, Y, Z };
/// Comparison predicates (Cmp).
enum class CmpPred : std::uint8_t { Eq = 0, Ne, Lt, Le, Gt, Ge };
/// Math intrinsics (Math). Fma takes three operands, Pow two, the rest one.
enum class MathFn : std::uint8_t { Sqrt = 0, Rsqrt, Exp, Exp2, Log, Log2, Sin, Cos, Tanh, Floor, Ceil, Abs, Fma, Pow };
/// Fence scopes (Fence).
enum class FenceScope : std::uint8_t { Block = 0, Device, System };
/// Read-modify-write atomics (Atomic).
enum class AtomicOp : std::uint8_t { Add = 0, Sub, Min, Max, And, Or, Xor, Exchange };
/// Subgroup shuffles (Shuffle).
enum class ShuffleKind : std::uint8_t { Idx = 0, Xor, Up, Down };
/// Subgroup votes (Vote).
enum class VoteKind : std::uint8_t { Any = 0, All, Ballot };
/// Subgroup reductions (Reduce).
enum class ReduceOp : std::uint8_t { Add = 0, Min, Max, And, Or, Xor };
/// Subgroup scans (Scan).
enum class ScanKind : std::uint8_t { InclusiveAdd = 0, ExclusiveAdd };

/// Textual base name of an op ("add", "thread_id", "atomic").
std::string_view op_name(Op op) noexcept;
/// Number of variants of an op (0 when it has none).
unsigned op_variant_count(Op op) noexcept;
/// Textual name of variant `v` of `op` ("x", "lt", "sqrt", ...); empty when out of range.
std::string_view op_variant_name(Op op, unsigned v) noexcept;

/// An immediate operand: a literal constant, a lane index or an element count.
struct Imm {
  bool present = false;    ///< True when the instruction has an immediate.
  bool is_float = false;   ///< True when `f` holds the value, else `i`.
  std::int64_t i = 0;      ///< Integer value (u64 constants stored as their bit pattern).
  double f = 0.0;          ///< Floating-point value.
  /// Value equality.
  friend bool operator==(const Imm&, const Imm&) = default;
};

struct Inst;

/// A straight-line list of instructions (possibly holding nested regions).
struct Region {
  std::vector<Inst> insts;  ///< The instructions, in order.
};

/// One instruction.
struct Inst {
  Op op = Op::Return;                 ///< What it does.
  std::uint8_t variant = 0;           ///< Op-specific variant (Dim, CmpPred, MathFn, ...).
  ValueId result = kNoValue;          ///< Defined value, or kNoValue.
  std::vector<ValueId> operands;      ///< Used values, in order.
  Imm imm;                            ///< Immediate (Const, Extract, Var, Shared, ring buffer words).
  std::vector<Region> regions;        ///< If: then, else. For/Loop: body.
  ValueId region_arg = kNoValue;      ///< For: the induction variable defined for the body.
};

/// Type and name of a value.
struct ValueInfo {
  Type type;          ///< Its type.
  std::string name;   ///< Name without '%' (unique within the kernel).
};

/// A kernel: parameters, workgroup size, declared capabilities and a body.
struct Kernel {
  std::string name;                               ///< Entry point name (identifier characters only).
  std::array<std::uint32_t, 3> workgroup{64, 1, 1}; ///< Threads per block; fixed at definition (WGSL needs it).
  CapabilitySet declared_caps;                    ///< Capabilities the author declared (`requires(...)`).
  std::vector<ValueId> params;                    ///< Parameter values, in order.
  std::vector<ValueInfo> values;                  ///< Every value (params, results, induction variables).
  Region body;                                    ///< The code.

  /// Type of value `v` (void when out of range).
  [[nodiscard]] Type type_of(ValueId v) const noexcept {
    return v < values.size() ? values[v].type : Type::void_();
  }
  /// Name of value `v` ("?" when out of range).
  [[nodiscard]] std::string_view name_of(ValueId v) const noexcept {
    return v < values.size() ? std::string_view(values[v].name) : std::string_view("?");
  }
  /// Threads per block.
  [[nodiscard]] std::uint32_t threads_per_block() const noexcept { return workgroup[0] * workgroup[1] * workgroup[2]; }
};

/// A set of kernels (what one text file holds).
struct Module {
  std::vector<Kernel> kernels;  ///< In definition order.
  /// The kernel named `name`, or nullptr.
  [[nodiscard]] const Kernel* find(std::string_view name) const noexcept;
};

/// True when the instruction has no effect besides its result (candidates for DCE and CSE).
bool is_pure(const Inst& inst) noexcept;
/// True for Break, Continue and Return.
constexpr bool is_terminator(Op op) noexcept { return op == Op::Break || op == Op::Continue || op == Op::Return; }
/// True for ops every thread of a group must reach together (barriers and subgroup collectives).
bool is_collective(Op op) noexcept;

/// Calls `fn(inst)` for every instruction of `region`, nested regions included, in program order.
void walk(const Region& region, const std::function<void(const Inst&)>& fn);
/// Mutable variant of walk().
void walk(Region& region, const std::function<void(Inst&)>& fn);

/// A value handle returned by the Builder: the id plus its type.
struct Value {
  ValueId id = kNoValue;  ///< The value.
  Type type;              ///< Its type.
  /// True when this refers to a value.
  [[nodiscard]] bool valid() const noexcept { return id != kNoValue; }
};

/// Builds a kernel instruction by instruction. Result types are inferred; the builder never fails during
/// construction: misuse (wrong operand types, break outside a loop) is reported by validate() afterwards, so
/// a DSL can build first and report every problem with context.
class Builder {
public:
  /// Starts a kernel named `name` with the given workgroup size.
  explicit Builder(std::string name, std::array<std::uint32_t, 3> workgroup = {64, 1, 1});
  Builder(const Builder&) = delete;             // holds pointers into its own kernel
  Builder& operator=(const Builder&) = delete;

  /// Adds a parameter (global/constant pointer, ring or scalar).
  Value param(std::string name, Type type);
  /// Declares a capability the kernel needs (recorded in the kernel; validation checks it against targets).
  void declare(Capability cap);

  /// A constant of integer or bool type.
  Value const_int(Type type, std::int64_t value);
  /// A constant of float type (rounded to the type when used).
  Value const_float(Type type, double value);
  /// Shorthand: u32 constant.
  Value u32(std::uint32_t v) { return const_int(Type::u32(), v); }
  /// Shorthand: i32 constant.
  Value i32(std::int32_t v) { return const_int(Type::i32(), v); }
  /// Shorthand: f32 constant.
  Value f32(float v) { return const_float(Type::f32(), v); }
  /// Shorthand: bool constant.
  Value boolean(bool v) { return const_int(Type::bool_(), v ? 1 : 0); }

  /// Binary arithmetic/bitwise op (Add..Shr); result has the type of `a`.
  Value binary(Op op, Value a, Value b);
  /// Unary op (Neg, Not).
  Value unary(Op op, Value a);
  /// Comparison (bool result).
  Value cmp(CmpPred pred, Value a, Value b);
  /// c ? a : b.
  Value select(Value c, Value a, Value b);
  /// Numeric conversion to `to`.
  Value cast(Value v, Type to);
  /// Bit reinterpretation as `to`.
  Value bitcast(Value v, Type to);
  /// Vector from lanes (or a splat from one value, with `lanes` > 1).
  Value vec(const std::vector<Value>& elems, std::uint8_t lanes = 0);
  /// One lane of a vector.
  Value extract(Value v, unsigned lane);
  /// Math intrinsic on one to three operands.
  Value math(MathFn fn, const std::vector<Value>& args);

  /// Pointer + element index.
  Value ptr_add(Value ptr, Value index);
  /// Load through a pointer.
  Value load(Value ptr);
  /// Store through a pointer.
  void store(Value ptr, Value value);
  /// Per-thread array of `count` elements of `elem` (zero-initialised).
  Value var(Type elem, std::uint32_t count = 1, std::string name = {});
  /// Workgroup array of `count` elements of `elem`.
  Value shared(Type elem, std::uint32_t count, std::string name = {});

  /// thread_id / block_id / block_dim / grid_dim / global_id along `d` (u32).
  Value builtin(Op op, Dim d = Dim::X);
  /// lane_id / warp_id / warp_size (u32).
  Value subgroup_builtin(Op op);
  /// Block barrier.
  void barrier();
  /// Memory fence.
  void fence(FenceScope scope);
  /// Grid-wide barrier.
  void grid_sync();

  /// Atomic read-modify-write; returns the old value.
  Value atomic(AtomicOp op, Value ptr, Value v);
  /// Strong compare-exchange; returns the old value.
  Value atomic_cas(Value ptr, Value expected, Value desired);
  /// Atomic load.
  Value atomic_load(Value ptr);
  /// Atomic store.
  void atomic_store(Value ptr, Value v);

  /// Subgroup shuffle.
  Value shuffle(ShuffleKind kind, Value v, Value lane);
  /// Subgroup vote.
  Value vote(VoteKind kind, Value pred);
  /// Subgroup reduction.
  Value reduce(ReduceOp op, Value v);
  /// Subgroup prefix sum.
  Value scan(ScanKind kind, Value v);

  /// Pops one slot of an H2K (MPSC) ring into `buf` (u32 words, at most `words`); returns an ErrorCode (u32).
  Value h2k_dequeue(Value ring, Value buf, std::uint32_t words);
  /// Pushes the message in `buf` (header + payload words) to an SPSC K2H ring; returns an ErrorCode (u32).
  Value k2h_enqueue(Value ring, Value buf);
  /// Pushes the message in `buf` to an MPSC K2K inbox; returns an ErrorCode (u32).
  Value k2k_send(Value ring, Value buf);
  /// Pops one slot of this actor's K2K (MPSC) inbox into `buf`; returns an ErrorCode (u32).
  Value k2k_recv(Value ring, Value buf, std::uint32_t words);
  /// Current packed HLC value at `clock` (ptr to u64).
  Value hlc_now(Value clock);
  /// Advances the clock for a local event; returns the new value.
  Value hlc_tick(Value clock, Value phys_ms);
  /// Merges a received timestamp; returns the new value.
  Value hlc_update(Value clock, Value received, Value phys_ms);

  /// if cond { then_fn() } else { else_fn() }.
  void if_(Value cond, const std::function<void()>& then_fn, const std::function<void()>& else_fn = {});
  /// for i = lo; i < hi; i += step { body(i) }.
  void for_(Value lo, Value hi, Value step, const std::function<void(Value)>& body, std::string iv_name = {});
  /// loop { body() } until break/return.
  void loop(const std::function<void()>& body);
  /// break.
  void break_();
  /// continue.
  void continue_();
  /// return.
  void return_();

  /// Names value `v` (made unique); returns `v`.
  Value name(Value v, std::string name);
  /// The kernel built so far.
  [[nodiscard]] const Kernel& kernel() const noexcept { return kernel_; }
  /// Hands the kernel over (the builder is left empty).
  Kernel finish();

  /// Appends a raw instruction (for the parser and passes); returns its result value.
  Value emit(Inst inst, Type result_type, std::string name = {});

private:
  ValueId new_value(Type t, std::string name);
  Region& current();
  Kernel kernel_;
  std::vector<Region*> stack_;
};

} // namespace ringkernel::ir
