// Validation: structure, types, SSA dominance, uniformity of collectives, capabilities against a target.
#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir/analysis.hpp"
#include "ringkernel/ir/passes.hpp"
#include "ringkernel/ir/text.hpp"

namespace ringkernel::ir {

namespace {

constexpr std::uint32_t kMaxVarElems = 1u << 16;
constexpr std::uint32_t kMaxSharedElems = 1u << 20;
constexpr std::uint32_t kHeaderWords = 16;  // sizeof(MessageHeader) / 4

bool numeric(ScalarKind k) { return (is_integer(k) || is_float(k)) && !is_fp8(k); }

class Checker {
public:
  explicit Checker(const Kernel& k) : k_(k), defined_(k.values.size(), false) {}

  Status run() {
    if (k_.name.empty() || k_.name.size() > 128 ||
        !std::all_of(k_.name.begin(), k_.name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }) ||
        std::isdigit(static_cast<unsigned char>(k_.name[0]))) {
      return err("kernel name '" + k_.name.substr(0, 64) + "' must be a non-empty identifier ([A-Za-z_][A-Za-z0-9_]*)");
    }
    const auto& wg = k_.workgroup;
    const std::uint64_t threads = std::uint64_t{wg[0]} * wg[1] * wg[2];
    if (wg[0] == 0 || wg[1] == 0 || wg[2] == 0 || threads > 1024) {
      return err("workgroup size " + std::to_string(wg[0]) + "x" + std::to_string(wg[1]) + "x" + std::to_string(wg[2]) +
                 " is invalid (each dimension >= 1, at most 1024 threads)");
    }
    std::set<std::string> names;
    for (const auto& v : k_.values) {
      if (!names.insert(v.name).second) return err("value name %" + v.name + " is used twice");
    }
    scopes_.emplace_back();
    for (ValueId p : k_.params) {
      if (p >= k_.values.size()) return err("parameter refers to a value that does not exist");
      const Type t = k_.type_of(p);
      if (t.is_pointer()) {
        if (t.space != AddressSpace::Global && t.space != AddressSpace::Constant) {
          return err("parameter %" + std::string(k_.name_of(p)) + " is a " + std::string(to_string(t.space)) +
                     " pointer; parameters point to global or constant memory");
        }
        if (auto s = check_storable(t.element(), "parameter %" + std::string(k_.name_of(p))); !s) return s;
      } else if (!t.is_ring() && !t.is_scalar()) {
        return err("parameter %" + std::string(k_.name_of(p)) + " has type " + to_string(t) +
                   "; parameters are pointers, rings or scalars");
      }
      if (t.is_scalar() && is_fp8(t.scalar)) return err("fp8 parameters are not supported (pass a pointer)");
      define(p);
    }
    return region(k_.body, 0, 0);
  }

private:
  Error err(const std::string& msg) const {
    return make_error(ErrorCode::InvalidArgument, "kernel '" + k_.name + "': " + msg, "ir::validate");
  }
  Error at(const Inst& inst, const std::string& msg) const {
    return err(analysis::describe(k_, inst) + ": " + msg);
  }

  Status check_storable(Type elem, const std::string& what) const {
    if (elem.scalar == ScalarKind::Bool || elem.scalar == ScalarKind::Void) {
      return err(what + ": bool is not storable in memory (use u32)");
    }
    if (elem.lanes == 3) return err(what + ": vec3 is not storable in memory (its size differs between targets; use vec4)");
    if (is_fp8(elem.scalar) && elem.lanes != 1) return err(what + ": fp8 vectors are not supported");
    return {};
  }

  void define(ValueId v) {
    defined_[v] = true;
    scopes_.back().push_back(v);
  }
  bool visible(ValueId v) const {
    for (const auto& s : scopes_) {
      if (std::find(s.begin(), s.end(), v) != s.end()) return true;
    }
    return false;
  }

  Status region(const Region& r, int loop_depth, int depth) {
    if (depth > 64) return err("control flow nested deeper than 64 levels");
    for (const auto& inst : r.insts) {
      if (auto s = instruction(inst, loop_depth, depth); !s) return s;
    }
    return {};
  }

  Status instruction(const Inst& inst, int loop_depth, int depth) {
    if (static_cast<unsigned>(inst.op) >= static_cast<unsigned>(Op::Count_)) return err("unknown operation code");
    const unsigned nvar = op_variant_count(inst.op);
    if ((nvar == 0 && inst.variant != 0) || (nvar != 0 && inst.variant >= nvar)) return at(inst, "invalid variant");
    // Operands exist and dominate this use.
    for (ValueId v : inst.operands) {
      if (v >= k_.values.size()) return at(inst, "operand refers to a value that does not exist");
      if (!defined_[v]) return at(inst, "use of %" + std::string(k_.name_of(v)) + " before its definition");
      if (!visible(v)) {
        return at(inst, "%" + std::string(k_.name_of(v)) +
                            " is defined inside another region (an if/for/loop body) and does not dominate this use");
      }
    }
    if (inst.result != kNoValue) {
      if (inst.result >= k_.values.size()) return at(inst, "result refers to a value that does not exist");
      if (defined_[inst.result]) return at(inst, "%" + std::string(k_.name_of(inst.result)) + " is defined twice");
    }
    if (auto s = types(inst, depth); !s) return s;
    switch (inst.op) {
      case Op::If: {
        if (inst.regions.size() != 2) return at(inst, "if needs a then and an else region");
        for (const auto& r : inst.regions) {
          scopes_.emplace_back();
          auto s = region(r, loop_depth, depth + 1);
          scopes_.pop_back();
          if (!s) return s;
        }
        break;
      }
      case Op::For:
      case Op::Loop: {
        if (inst.regions.size() != 1) return at(inst, std::string(op_name(inst.op)) + " needs exactly one body region");
        scopes_.emplace_back();
        if (inst.op == Op::For) {
          if (inst.region_arg >= k_.values.size() || defined_[inst.region_arg]) {
            scopes_.pop_back();
            return at(inst, "for needs a fresh induction variable");
          }
          define(inst.region_arg);
        }
        auto s = region(inst.regions[0], loop_depth + 1, depth + 1);
        scopes_.pop_back();
        if (!s) return s;
        break;
      }
      case Op::Break:
      case Op::Continue:
        if (loop_depth == 0) return at(inst, std::string(op_name(inst.op)) + " outside a loop");
        break;
      case Op::Shared:
        if (depth != 0) return at(inst, "shared memory must be allocated at the kernel's top level");
        break;
      default:
        if (!inst.regions.empty()) return at(inst, "only if/for/loop have regions");
        break;
    }
    if (inst.result != kNoValue) define(inst.result);
    return {};
  }

  Status types(const Inst& inst, int depth) {
    (void)depth;
    const auto n = inst.operands.size();
    auto T = [&](std::size_t i) { return k_.type_of(inst.operands[i]); };
    const Type R = k_.type_of(inst.result);
    const bool has_result = inst.result != kNoValue;
    auto need = [&](std::size_t count) -> Status {
      if (n != count) {
        return at(inst, "expects " + std::to_string(count) + " operand(s), has " + std::to_string(n));
      }
      return {};
    };
    auto result = [&](bool wanted) -> Status {
      if (wanted && !has_result) return at(inst, "must define a result");
      if (!wanted && has_result) return at(inst, "does not produce a result");
      return {};
    };
    auto same = [&](Type a, Type b, const char* what) -> Status {
      if (a != b) return at(inst, std::string(what) + ": " + to_string(a) + " vs " + to_string(b));
      return {};
    };
    switch (inst.op) {
      case Op::Const:
        if (auto s = need(0); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!inst.imm.present) return at(inst, "const needs a literal");
        if (!R.is_scalar()) return at(inst, "constants are scalars (build vectors with vec), not " + to_string(R));
        if (inst.imm.is_float && !is_float(R.scalar)) return at(inst, "a floating-point literal needs a float type");
        return {};
      case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Min: case Op::Max:
      case Op::Rem: case Op::And: case Op::Or: case Op::Xor: case Op::Shl: case Op::Shr: {
        if (auto s = need(2); !s) return s;
        if (auto s = result(true); !s) return s;
        if (auto s = same(T(0), T(1), "operand types differ"); !s) return s;
        if (auto s = same(R, T(0), "result type differs from operands"); !s) return s;
        if (!R.is_value()) return at(inst, "operands must be scalars or vectors, not " + to_string(R));
        const bool bitwise = inst.op == Op::And || inst.op == Op::Or || inst.op == Op::Xor;
        const bool int_only = bitwise || inst.op == Op::Rem || inst.op == Op::Shl || inst.op == Op::Shr;
        if (bitwise && R.scalar == ScalarKind::Bool) return {};
        if (int_only && !is_integer(R.scalar)) return at(inst, std::string(op_name(inst.op)) + " needs integers, not " + to_string(R));
        if (!numeric(R.scalar)) return at(inst, std::string(op_name(inst.op)) + " needs numbers, not " + to_string(R));
        return {};
      }
      case Op::Neg:
      case Op::Not:
        if (auto s = need(1); !s) return s;
        if (auto s = result(true); !s) return s;
        if (auto s = same(R, T(0), "result type differs from operand"); !s) return s;
        if (inst.op == Op::Neg && !numeric(R.scalar)) return at(inst, "neg needs a number");
        if (inst.op == Op::Not && !is_integer(R.scalar) && R.scalar != ScalarKind::Bool) return at(inst, "not needs an integer or bool");
        if (!R.is_value()) return at(inst, "operand must be a scalar or vector");
        return {};
      case Op::Cmp:
        if (auto s = need(2); !s) return s;
        if (auto s = result(true); !s) return s;
        if (auto s = same(T(0), T(1), "compared types differ"); !s) return s;
        if (R != Type::bool_()) return at(inst, "cmp produces bool");
        if (!T(0).is_scalar()) return at(inst, "cmp compares scalars, not " + to_string(T(0)));
        if (T(0).scalar == ScalarKind::Bool && inst.variant > static_cast<unsigned>(CmpPred::Ne)) return at(inst, "bool supports only eq/ne");
        if (is_fp8(T(0).scalar)) return at(inst, "fp8 values must be cast before arithmetic");
        return {};
      case Op::Select:
        if (auto s = need(3); !s) return s;
        if (auto s = result(true); !s) return s;
        if (T(0) != Type::bool_()) return at(inst, "select condition must be bool, not " + to_string(T(0)));
        if (auto s = same(T(1), T(2), "select arms differ"); !s) return s;
        return same(R, T(1), "result type differs from arms");
      case Op::Cast:
        if (auto s = need(1); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_value() || !R.is_value()) return at(inst, "cast converts scalars/vectors");
        if (T(0).lanes != R.lanes) return at(inst, "cast keeps the lane count");
        return {};
      case Op::Bitcast:
        if (auto s = need(1); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_scalar() || !R.is_scalar() || T(0).scalar == ScalarKind::Bool || R.scalar == ScalarKind::Bool ||
            scalar_size(T(0).scalar) != scalar_size(R.scalar)) {
          return at(inst, "bitcast needs non-bool scalars of the same size (" + to_string(T(0)) + " -> " + to_string(R) + ")");
        }
        return {};
      case Op::Vec:
        if (auto s = result(true); !s) return s;
        if (!R.is_vector()) return at(inst, "vec produces a vector");
        if (n != 1 && n != R.lanes) return at(inst, "vec needs 1 (splat) or " + std::to_string(R.lanes) + " operands");
        for (std::size_t i = 0; i < n; ++i) {
          if (T(i) != R.lane_type()) return at(inst, "vec lane " + std::to_string(i) + " is " + to_string(T(i)) + ", expected " + to_string(R.lane_type()));
        }
        if (is_fp8(R.scalar) || R.scalar == ScalarKind::Bool) return at(inst, "bool and fp8 vectors are not supported");
        return {};
      case Op::Extract:
        if (auto s = need(1); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_vector()) return at(inst, "extract needs a vector");
        if (!inst.imm.present || inst.imm.i < 0 || inst.imm.i >= T(0).lanes) return at(inst, "lane index out of range");
        return same(R, T(0).lane_type(), "result type");
      case Op::Math: {
        const auto fn = static_cast<MathFn>(inst.variant);
        const std::size_t want = fn == MathFn::Fma ? 3 : fn == MathFn::Pow ? 2 : 1;
        if (auto s = need(want); !s) return s;
        if (auto s = result(true); !s) return s;
        for (std::size_t i = 0; i < n; ++i) {
          if (auto s = same(T(i), R, "math operand type"); !s) return s;
        }
        if (!is_float(R.scalar) || is_fp8(R.scalar)) return at(inst, "math intrinsics need f16/bf16/f32/f64, not " + to_string(R));
        return {};
      }
      case Op::PtrAdd:
        if (auto s = need(2); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_pointer()) return at(inst, "ptr_add needs a pointer");
        if (!T(1).is_scalar() || !is_integer(T(1).scalar)) return at(inst, "ptr_add index must be an integer scalar");
        return same(R, T(0), "result type");
      case Op::Load:
      case Op::AtomicLoad:
        if (auto s = need(1); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_pointer()) return at(inst, std::string(op_name(inst.op)) + " needs a pointer");
        if (inst.op == Op::AtomicLoad) {
          if (auto s = atomic_pointee(inst, T(0)); !s) return s;
        }
        return same(R, T(0).element(), "loaded type");
      case Op::Store:
      case Op::AtomicStore:
        if (auto s = need(2); !s) return s;
        if (auto s = result(false); !s) return s;
        if (!T(0).is_pointer()) return at(inst, std::string(op_name(inst.op)) + " needs a pointer");
        if (T(0).space == AddressSpace::Constant) return at(inst, "cannot store to constant memory");
        if (inst.op == Op::AtomicStore) {
          if (auto s = atomic_pointee(inst, T(0)); !s) return s;
        }
        return same(T(1), T(0).element(), "stored type");
      case Op::Var:
      case Op::Shared: {
        if (auto s = need(0); !s) return s;
        if (auto s = result(true); !s) return s;
        const auto want = inst.op == Op::Var ? AddressSpace::Private : AddressSpace::Shared;
        if (!R.is_pointer() || R.space != want) return at(inst, "result must be a " + std::string(to_string(want)) + " pointer");
        const std::uint32_t maxn = inst.op == Op::Var ? kMaxVarElems : kMaxSharedElems;
        if (!inst.imm.present || inst.imm.i < 1 || inst.imm.i > maxn) {
          return at(inst, "element count must be in [1, " + std::to_string(maxn) + "]");
        }
        return check_storable(R.element(), analysis::describe(k_, inst));
      }
      case Op::ThreadId: case Op::BlockId: case Op::BlockDim: case Op::GridDim: case Op::GlobalId:
      case Op::LaneId: case Op::WarpId: case Op::WarpSize:
        if (auto s = need(0); !s) return s;
        if (auto s = result(true); !s) return s;
        return same(R, Type::u32(), "builtin type");
      case Op::Barrier: case Op::Fence: case Op::GridSync:
      case Op::Break: case Op::Continue: case Op::Return:
        if (auto s = need(0); !s) return s;
        return result(false);
      case Op::Atomic:
        if (auto s = need(2); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_pointer()) return at(inst, "atomic needs a pointer");
        if (auto s = atomic_pointee(inst, T(0)); !s) return s;
        if (auto s = same(T(1), T(0).element(), "operand type"); !s) return s;
        return same(R, T(0).element(), "result type");
      case Op::AtomicCas:
        if (auto s = need(3); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_pointer()) return at(inst, "atomic_cas needs a pointer");
        if (auto s = atomic_pointee(inst, T(0)); !s) return s;
        if (auto s = same(T(1), T(0).element(), "expected type"); !s) return s;
        if (auto s = same(T(2), T(0).element(), "desired type"); !s) return s;
        return same(R, T(0).element(), "result type");
      case Op::Shuffle:
        if (auto s = need(2); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_scalar() || !(is_integer(T(0).scalar) || T(0).scalar == ScalarKind::F32 || T(0).scalar == ScalarKind::F64)) {
          return at(inst, "shuffle moves 32/64-bit integers or f32/f64");
        }
        if (T(1) != Type::u32()) return at(inst, "shuffle lane/delta/mask must be u32");
        return same(R, T(0), "result type");
      case Op::Vote:
        if (auto s = need(1); !s) return s;
        if (auto s = result(true); !s) return s;
        if (T(0) != Type::bool_()) return at(inst, "vote needs a bool");
        return same(R, static_cast<VoteKind>(inst.variant) == VoteKind::Ballot ? Type::u32() : Type::bool_(), "result type");
      case Op::Reduce:
      case Op::Scan: {
        if (auto s = need(1); !s) return s;
        if (auto s = result(true); !s) return s;
        const bool bitwise = inst.op == Op::Reduce && static_cast<ReduceOp>(inst.variant) >= ReduceOp::And;
        if (!T(0).is_scalar() || !(is_integer(T(0).scalar) || (!bitwise && (T(0).scalar == ScalarKind::F32 || T(0).scalar == ScalarKind::F64)))) {
          return at(inst, std::string(op_name(inst.op)) + " needs an integer" + (bitwise ? "" : " or f32/f64") + " scalar");
        }
        return same(R, T(0), "result type");
      }
      case Op::H2kDequeue:
      case Op::K2kRecv:
      case Op::K2hEnqueue:
      case Op::K2kSend: {
        if (auto s = need(2); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_ring()) return at(inst, "first operand must be a ring");
        if (!T(1).is_pointer() || T(1).element() != Type::u32() || T(1).space == AddressSpace::Constant) {
          return at(inst, "message buffer must be a writable pointer to u32 words");
        }
        const bool pops = inst.op == Op::H2kDequeue || inst.op == Op::K2kRecv;
        if (pops && (!inst.imm.present || inst.imm.i < kHeaderWords || inst.imm.i > 16384)) {
          return at(inst, "buffer size must be in [16, 16384] words (the 64-byte header is 16 words)");
        }
        return same(R, Type::u32(), "result (an ErrorCode)");
      }
      case Op::HlcNow:
      case Op::HlcTick:
      case Op::HlcUpdate: {
        const std::size_t want = inst.op == Op::HlcNow ? 1 : inst.op == Op::HlcTick ? 2 : 3;
        if (auto s = need(want); !s) return s;
        if (auto s = result(true); !s) return s;
        if (!T(0).is_pointer() || T(0).element() != Type::u64() || T(0).space == AddressSpace::Constant) {
          return at(inst, "clock must be a writable pointer to u64");
        }
        for (std::size_t i = 1; i < n; ++i) {
          if (T(i) != Type::u64()) return at(inst, "timestamps and physical time are u64");
        }
        return same(R, Type::u64(), "result type");
      }
      case Op::If:
        if (auto s = need(1); !s) return s;
        if (auto s = result(false); !s) return s;
        if (T(0) != Type::bool_()) return at(inst, "if condition must be bool, not " + to_string(T(0)));
        return {};
      case Op::For:
        if (auto s = need(3); !s) return s;
        if (auto s = result(false); !s) return s;
        if (!T(0).is_scalar() || (T(0).scalar != ScalarKind::I32 && T(0).scalar != ScalarKind::U32)) {
          return at(inst, "for bounds must be i32 or u32");
        }
        if (T(1) != T(0) || T(2) != T(0)) return at(inst, "for bounds and step must have the same type");
        if (inst.region_arg < k_.values.size() && k_.type_of(inst.region_arg) != T(0)) return at(inst, "induction variable type differs");
        return {};
      case Op::Loop:
        if (auto s = need(0); !s) return s;
        return result(false);
      default:
        return at(inst, "unknown operation");
    }
  }

  Status atomic_pointee(const Inst& inst, Type p) const {
    if (p.space != AddressSpace::Global && p.space != AddressSpace::Shared) {
      return at(inst, "atomics work on global or shared memory");
    }
    if (!p.element().is_scalar() || !is_integer(p.scalar)) return at(inst, "atomics need i32/u32/i64/u64 memory, not " + to_string(p.element()));
    return {};
  }

  const Kernel& k_;
  std::vector<bool> defined_;
  std::vector<std::vector<ValueId>> scopes_;
};

// --- uniformity --------------------------------------------------------------------------------------------

enum Level : std::uint8_t { Uniform = 0, SubgroupUniform = 1, Varying = 2 };

class Uniformity {
public:
  // `fences_are_barriers`: the target implements fences with workgroup barriers (WGSL), so they need uniform
  // control flow too.
  Uniformity(const Kernel& k, bool fences_are_barriers)
      : k_(k), level_(k.values.size(), Uniform), roots_(analysis::pointer_roots(k)), fences_are_barriers_(fences_are_barriers) {}

  Status run() {
    // Values only ever become less uniform, so iterating to a fixed point terminates.
    for (int iter = 0; iter < 64; ++iter) {
      changed_ = false;
      error_.reset();
      Exits ex;
      region(k_.body, Uniform, ex);
      if (!changed_) break;
    }
    if (error_) return *error_;
    return {};
  }

private:
  struct Exits {
    bool divergent_return = false;
    bool divergent_loop_exit = false;  // break/continue under control more divergent than the loop
  };

  void raise(ValueId v, Level l) {
    if (v < level_.size() && level_[v] < l) {
      level_[v] = l;
      changed_ = true;
    }
  }
  Level of(ValueId v) const { return v < level_.size() ? static_cast<Level>(level_[v]) : Varying; }
  Level root_level(ValueId ptr) const {
    const ValueId r = ptr < roots_.size() ? roots_[ptr] : kNoValue;
    return r == kNoValue ? Varying : of(r);
  }

  void region(const Region& r, Level control, Exits& out) {
    Level ctl = control;
    for (const auto& inst : r.insts) {
      Exits ex;
      instruction(inst, ctl, ex);
      if (ex.divergent_return) {
        out.divergent_return = true;
        ctl = Varying;  // threads that returned never reach the rest
      }
      if (ex.divergent_loop_exit) {
        out.divergent_loop_exit = true;
        ctl = Varying;
      }
    }
  }

  void instruction(const Inst& inst, Level ctl, Exits& out) {
    Level in = Uniform;
    for (ValueId v : inst.operands) in = std::max(in, of(v));
    const ValueId res = inst.result;
    switch (inst.op) {
      case Op::ThreadId: case Op::GlobalId: case Op::LaneId: raise(res, Varying); break;
      case Op::WarpId: raise(res, SubgroupUniform); break;
      case Op::Load: case Op::HlcNow: {
        // A load is as uniform as its address and the object's contents (tracked for private variables and
        // constant memory; other memory may be written by any thread).
        const ValueId root = inst.operands.empty() || inst.operands[0] >= roots_.size() ? kNoValue : roots_[inst.operands[0]];
        const Type rt = root == kNoValue ? Type::void_() : k_.type_of(root);
        Level l = Varying;
        if (root != kNoValue && rt.is_pointer() && (rt.space == AddressSpace::Private || rt.space == AddressSpace::Constant)) {
          l = std::max(in, root_level(inst.operands[0]));
        }
        raise(res, l);
        break;
      }
      case Op::Store: case Op::HlcTick: case Op::HlcUpdate: {
        // Storing a varying value, or under divergent control, makes a private variable varying.
        if (!inst.operands.empty()) {
          const ValueId root = inst.operands[0] < roots_.size() ? roots_[inst.operands[0]] : kNoValue;
          if (root != kNoValue) raise(root, std::max(in, ctl));
        }
        if (res != kNoValue) raise(res, Varying);
        break;
      }
      case Op::Vote: case Op::Reduce:
        if (ctl > SubgroupUniform) fail(inst, "subgroup operation in divergent control flow (every lane of the subgroup must reach it)");
        raise(res, std::max(in, SubgroupUniform));
        break;
      case Op::Shuffle: case Op::Scan:
        if (ctl > SubgroupUniform) fail(inst, "subgroup operation in divergent control flow (every lane of the subgroup must reach it)");
        raise(res, Varying);
        break;
      case Op::Fence:
        if (fences_are_barriers_ && ctl != Uniform) {
          fail(inst, "fence in divergent control flow: this target implements fences with workgroup barriers, which every thread must reach");
        }
        break;
      case Op::Barrier: case Op::GridSync:
        if (ctl != Uniform) fail(inst, "barrier in divergent control flow: every thread of the block must reach it (the condition or loop around it depends on the thread)");
        break;
      case Op::Atomic: case Op::AtomicCas: case Op::AtomicLoad: case Op::H2kDequeue: case Op::K2kRecv:
      case Op::K2hEnqueue: case Op::K2kSend:
        // Results of memory-ordering operations differ per thread; a popped buffer's contents too.
        if (res != kNoValue) raise(res, Varying);
        if (inst.operands.size() > 1 && (inst.op == Op::H2kDequeue || inst.op == Op::K2kRecv)) {
          const ValueId root = inst.operands[1] < roots_.size() ? roots_[inst.operands[1]] : kNoValue;
          if (root != kNoValue) raise(root, Varying);
        }
        break;
      case Op::Var: case Op::Shared: break;  // the pointer itself is uniform; contents tracked on the root
      case Op::If: {
        const Level c = std::max(ctl, of(inst.operands.empty() ? kNoValue : inst.operands[0]));
        for (const auto& r : inst.regions) {
          Exits ex;
          region(r, c, ex);
          if (c > ctl || ex.divergent_return || ex.divergent_loop_exit) {
            // An exit taken under a condition more divergent than the enclosing control splits the threads.
            out.divergent_return |= ex.divergent_return;
            out.divergent_loop_exit |= ex.divergent_loop_exit;
          }
        }
        break;
      }
      case Op::For:
      case Op::Loop: {
        Level c = ctl;
        if (inst.op == Op::For) {
          c = std::max(ctl, in);
          raise(inst.region_arg, c);
        }
        for (const auto& r : inst.regions) {
          Exits ex;
          region(r, c, ex);
          if (ex.divergent_loop_exit && c == ctl) {
            // Threads leave or skip iterations at different times: the whole body runs divergently.
            Exits again;
            region(r, Varying, again);
          }
          out.divergent_return |= ex.divergent_return;
        }
        break;
      }
      case Op::Break:
      case Op::Continue:
        if (ctl != Uniform) out.divergent_loop_exit = true;
        break;
      case Op::Return:
        if (ctl != Uniform) out.divergent_return = true;
        break;
      default:
        if (res != kNoValue) raise(res, in);
        break;
    }
  }

  void fail(const Inst& inst, const std::string& msg) {
    if (!error_) {
      error_ = make_error(ErrorCode::InvalidArgument,
                          "kernel '" + k_.name + "': " + analysis::describe(k_, inst) + ": " + msg, "ir::validate");
    }
  }

  const Kernel& k_;
  std::vector<std::uint8_t> level_;
  std::vector<ValueId> roots_;
  bool fences_are_barriers_ = false;
  bool changed_ = false;
  std::optional<Error> error_;
};

struct CapUse {
  CapabilitySet caps;
  std::vector<std::string> where;  // indexed by capability: first use
};

void note(CapUse& u, Capability c, const std::string& where) {
  if (u.where.empty()) u.where.resize(static_cast<std::size_t>(Capability::Count_));
  if (!u.caps.has(c)) u.where[static_cast<std::size_t>(c)] = where;
  u.caps.add(c);
}

void type_caps(CapUse& u, Type t, const std::string& where) {
  switch (t.scalar) {
    case ScalarKind::F16: note(u, Capability::F16, where); break;
    case ScalarKind::BF16: note(u, Capability::BF16, where); break;
    case ScalarKind::F64: note(u, Capability::F64, where); break;
    case ScalarKind::I64: case ScalarKind::U64: note(u, Capability::Int64, where); break;
    case ScalarKind::F8E4M3: case ScalarKind::F8E5M2: note(u, Capability::Fp8, where); break;
    default: break;
  }
  if (t.is_ring()) note(u, Capability::Messaging, where);
}

CapUse collect_caps(const Kernel& k) {
  CapUse u;
  u.where.resize(static_cast<std::size_t>(Capability::Count_));
  for (Capability c : k.declared_caps.list()) note(u, c, "declared by the kernel (requires)");
  for (ValueId p : k.params) type_caps(u, k.type_of(p), "parameter %" + std::string(k.name_of(p)));
  const auto uses = analysis::use_counts(k);
  walk(k.body, [&](const Inst& inst) {
    const std::string where = analysis::describe(k, inst);
    if (inst.result != kNoValue) type_caps(u, k.type_of(inst.result), where);
    if (inst.region_arg != kNoValue) type_caps(u, k.type_of(inst.region_arg), where);
    switch (inst.op) {
      case Op::Atomic: case Op::AtomicCas: case Op::AtomicLoad: case Op::AtomicStore: {
        const Type p = inst.operands.empty() ? Type::void_() : k.type_of(inst.operands[0]);
        if (!is_int64(p.scalar)) break;
        const bool accumulate = inst.op == Op::Atomic &&
                                (static_cast<AtomicOp>(inst.variant) == AtomicOp::Add || static_cast<AtomicOp>(inst.variant) == AtomicOp::Sub ||
                                 static_cast<AtomicOp>(inst.variant) == AtomicOp::And || static_cast<AtomicOp>(inst.variant) == AtomicOp::Or ||
                                 static_cast<AtomicOp>(inst.variant) == AtomicOp::Xor) &&
                                (inst.result == kNoValue || uses[inst.result] == 0);
        note(u, accumulate ? Capability::Int64AtomicAccumulate : Capability::Int64Atomics, where);
        break;
      }
      case Op::LaneId: case Op::WarpId: case Op::WarpSize: case Op::Shuffle: case Op::Vote: case Op::Reduce: case Op::Scan:
        note(u, Capability::Subgroups, where);
        break;
      case Op::GridSync: note(u, Capability::GridSync, where); break;
      case Op::K2kSend:
        // Producers claim inbox slots with a CAS on the ring's 64-bit head.
        note(u, Capability::Int64Atomics, where);
        note(u, Capability::Messaging, where);
        break;
      case Op::H2kDequeue: case Op::K2hEnqueue: case Op::K2kRecv: case Op::HlcNow: case Op::HlcTick:
      case Op::HlcUpdate:
        note(u, Capability::Messaging, where);
        break;
      default: break;
    }
  });
  return u;
}

} // namespace

Status validate(const Kernel& kernel) {
  if (auto s = Checker(kernel).run(); !s) return s;
  return Uniformity(kernel, false).run();
}

CapabilitySet required_capabilities(const Kernel& kernel) { return collect_caps(kernel).caps; }

Status validate_for(const Kernel& kernel, const Target& target) {
  if (auto s = validate(kernel); !s) return s;
  const CapUse use = collect_caps(kernel);
  const CapabilitySet missing = use.caps.minus(target.caps);
  if (!missing.empty()) {
    const Capability first = missing.list().front();
    std::string msg = "kernel '" + kernel.name + "' needs capability '" + std::string(to_string(first)) +
                      "' (first use: " + use.where[static_cast<std::size_t>(first)] + "), which target '" + target.name +
                      "' (backend " + std::string(to_string(target.backend)) + ") does not provide";
    if (missing.list().size() > 1) msg += "; also missing: " + missing.minus(CapabilitySet{first}).describe();
    return make_error(ErrorCode::BackendUnavailable, msg, "ir::validate_for");
  }
  if (use.caps.has(Capability::Subgroups) && target.backend != Backend::Cpu &&
      kernel.threads_per_block() % target.subgroup_size != 0) {
    return make_error(ErrorCode::InvalidArgument,
                      "kernel '" + kernel.name + "' uses subgroup operations but its " + std::to_string(kernel.threads_per_block()) +
                          " threads per block are not a multiple of the " + std::to_string(target.subgroup_size) +
                          "-lane subgroups of target '" + target.name + "'", "ir::validate_for");
  }
  if (target.backend == Backend::Wgsl || target.backend == Backend::Msl) {
    // Target-language limits beyond capabilities.
    const auto roots = analysis::pointer_roots(kernel);
    std::optional<Error> err;
    walk(kernel.body, [&](const Inst& inst) {
      if (err) return;
      auto fail = [&](const std::string& m) {
        err = make_error(ErrorCode::InvalidArgument,
                         "kernel '" + kernel.name + "': " + analysis::describe(kernel, inst) + ": " + m + " (target '" + target.name + "')",
                         "ir::validate_for");
      };
      if (target.backend == Backend::Wgsl) {
        if (inst.result != kNoValue && kernel.type_of(inst.result).is_pointer() && roots[inst.result] == kNoValue) {
          fail("WGSL has no pointer arithmetic across objects: a pointer must point into one statically known buffer, var or shared array");
        }
        const Type rt = kernel.type_of(inst.result);
        if (is_int64(rt.scalar) && rt.lanes > 1) fail("vectors of 64-bit integers are not supported by the WGSL lowering (64-bit integers are emulated)");
        if ((inst.op == Op::Shuffle || inst.op == Op::Reduce || inst.op == Op::Scan) && is_int64(rt.scalar)) {
          fail("64-bit subgroup operations are not supported by the WGSL lowering");
        }
        if ((inst.op == Op::Div || inst.op == Op::Rem) && is_int64(rt.scalar)) fail("64-bit division is not supported by the WGSL lowering");
      }
    });
    if (err) return *err;
    if (target.backend == Backend::Wgsl) return Uniformity(kernel, true).run();
  }
  return {};
}

} // namespace ringkernel::ir
