// Optimisation passes (constant folding, DCE, CSE) and the f64 -> f32 downcast.
#include "ringkernel/ir/passes.hpp"

#include <map>
#include <tuple>
#include <utility>

#include "ir/analysis.hpp"
#include "ir/eval.hpp"

namespace ringkernel::ir {

namespace {

// Replaces operand uses according to `repl` (following chains).
void apply_replacements(Kernel& k, const std::vector<ValueId>& repl) {
  auto resolve = [&](ValueId v) {
    for (int guard = 0; v < repl.size() && repl[v] != kNoValue && guard < 1000; ++guard) v = repl[v];
    return v;
  };
  walk(k.body, [&](Inst& inst) {
    for (ValueId& v : inst.operands) v = resolve(v);
  });
}

struct ConstVal {
  bool known = false;
  std::uint64_t lane = 0;
};

class Folder {
public:
  explicit Folder(Kernel& k) : k_(k), consts_(k.values.size()), repl_(k.values.size(), kNoValue) {}

  unsigned run() {
    region(k_.body);
    apply_replacements(k_, repl_);
    return changes_;
  }

private:
  void set_const(Inst& inst, std::uint64_t lane) {
    const Type t = k_.type_of(inst.result);
    inst.op = Op::Const;
    inst.variant = 0;
    inst.operands.clear();
    inst.imm = Imm{};
    inst.imm.present = true;
    if (is_float(t.scalar)) {
      inst.imm.is_float = true;
      inst.imm.f = eval::as_f(lane);
    } else {
      inst.imm.i = static_cast<std::int64_t>(lane);
    }
    consts_[inst.result] = {true, lane};
    ++changes_;
  }

  ConstVal c(ValueId v) const { return v < consts_.size() ? consts_[v] : ConstVal{}; }

  void region(Region& r) {
    std::vector<Inst> out;
    out.reserve(r.insts.size());
    for (auto& inst : r.insts) {
      for (auto& sub : inst.regions) region(sub);
      if (inst.op == Op::If && !inst.operands.empty() && c(inst.operands[0]).known && inst.regions.size() == 2) {
        // Inline the branch that is always taken; its values keep dominating their uses.
        auto& taken = inst.regions[c(inst.operands[0]).lane != 0 ? 0 : 1];
        for (auto& moved : taken.insts) out.push_back(std::move(moved));
        ++changes_;
        continue;
      }
      fold(inst);
      out.push_back(std::move(inst));
    }
    r.insts = std::move(out);
  }

  void fold(Inst& inst) {
    if (inst.result == kNoValue || inst.result >= consts_.size()) return;
    const Type t = k_.type_of(inst.result);
    if (inst.op == Op::Const) {
      if (t.is_scalar()) consts_[inst.result] = {true, eval::const_lane(t.scalar, inst.imm)};
      return;
    }
    if (!t.is_scalar()) return;
    const auto& ops = inst.operands;
    for (ValueId v : ops) {
      if (v >= consts_.size()) return;
    }
    auto all_known = [&] {
      for (ValueId v : ops) {
        if (!c(v).known) return false;
      }
      return !ops.empty();
    };
    std::string err;
    std::uint64_t out = 0;
    switch (inst.op) {
      case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Rem: case Op::Min: case Op::Max:
      case Op::And: case Op::Or: case Op::Xor: case Op::Shl: case Op::Shr:
        if (ops.size() != 2 || k_.type_of(ops[0]) != t) return;
        if (all_known()) {
          if (eval::binary(inst.op, t.scalar, c(ops[0]).lane, c(ops[1]).lane, out, err)) set_const(inst, out);
          return;
        }
        // Exact integer identities: x + 0, x - 0, x * 1, x | 0, x ^ 0.
        if (is_integer(t.scalar) && c(ops[1]).known) {
          const std::uint64_t b = c(ops[1]).lane;
          if ((b == 0 && (inst.op == Op::Add || inst.op == Op::Sub || inst.op == Op::Or || inst.op == Op::Xor ||
                          inst.op == Op::Shl || inst.op == Op::Shr)) ||
              (b == 1 && (inst.op == Op::Mul || inst.op == Op::Div))) {
            repl_[inst.result] = ops[0];
            ++changes_;
          }
        }
        return;
      case Op::Neg: case Op::Not:
        if (ops.size() == 1 && all_known() && eval::unary(inst.op, t.scalar, c(ops[0]).lane, out, err)) set_const(inst, out);
        return;
      case Op::Cmp:
        if (ops.size() == 2 && all_known() && k_.type_of(ops[0]).is_scalar()) {
          set_const(inst, eval::compare(static_cast<CmpPred>(inst.variant), k_.type_of(ops[0]).scalar, c(ops[0]).lane, c(ops[1]).lane) ? 1 : 0);
        }
        return;
      case Op::Select:
        if (ops.size() == 3 && c(ops[0]).known) {
          repl_[inst.result] = c(ops[0]).lane != 0 ? ops[1] : ops[2];
          ++changes_;
        }
        return;
      case Op::Cast:
        if (ops.size() == 1 && all_known() && k_.type_of(ops[0]).is_scalar()) {
          set_const(inst, eval::convert(k_.type_of(ops[0]).scalar, t.scalar, c(ops[0]).lane));
        }
        return;
      case Op::Bitcast:
        if (ops.size() == 1 && all_known() && k_.type_of(ops[0]).is_scalar() &&
            scalar_size(k_.type_of(ops[0]).scalar) == scalar_size(t.scalar) && scalar_size(t.scalar) != 0) {
          set_const(inst, eval::from_bits(t.scalar, eval::to_bits(k_.type_of(ops[0]).scalar, c(ops[0]).lane)));
        }
        return;
      default: return;
    }
  }

  Kernel& k_;
  std::vector<ConstVal> consts_;
  std::vector<ValueId> repl_;
  unsigned changes_ = 0;
};

bool removable(const Inst& inst) { return is_pure(inst) || inst.op == Op::Var || inst.op == Op::Shared; }

unsigned dce_region(Region& r, const std::vector<std::uint32_t>& uses) {
  unsigned removed = 0;
  std::vector<Inst> out;
  out.reserve(r.insts.size());
  for (auto& inst : r.insts) {
    for (auto& sub : inst.regions) removed += dce_region(sub, uses);
    if (inst.result != kNoValue && inst.result < uses.size() && uses[inst.result] == 0 && removable(inst)) {
      ++removed;
      continue;
    }
    if (inst.op == Op::If && inst.regions.size() == 2 && inst.regions[0].insts.empty() && inst.regions[1].insts.empty()) {
      ++removed;
      continue;
    }
    const bool term = is_terminator(inst.op);
    out.push_back(std::move(inst));
    if (term) {
      // Everything after a terminator in the same region is unreachable.
      removed += static_cast<unsigned>(&r.insts.back() - &inst);
      break;
    }
  }
  r.insts = std::move(out);
  return removed;
}

using CseKey = std::tuple<int, int, bool, bool, std::int64_t, std::uint64_t, std::uint32_t, std::vector<ValueId>>;

class Cse {
public:
  explicit Cse(Kernel& k) : k_(k), repl_(k.values.size(), kNoValue) {}
  unsigned run() {
    region(k_.body);
    apply_replacements(k_, repl_);
    return changes_;
  }

private:
  ValueId resolve(ValueId v) const {
    while (v < repl_.size() && repl_[v] != kNoValue) v = repl_[v];
    return v;
  }
  void region(Region& r) {
    scopes_.emplace_back();
    for (auto& inst : r.insts) {
      for (ValueId& v : inst.operands) v = resolve(v);
      if (inst.result != kNoValue && is_pure(inst) && inst.regions.empty()) {
        const Type t = k_.type_of(inst.result);
        std::uint32_t tk = static_cast<std::uint32_t>(t.kind) | static_cast<std::uint32_t>(t.scalar) << 8 |
                           static_cast<std::uint32_t>(t.lanes) << 16 | static_cast<std::uint32_t>(t.space) << 24;
        CseKey key{static_cast<int>(inst.op), inst.variant, inst.imm.present, inst.imm.is_float, inst.imm.i,
                   std::bit_cast<std::uint64_t>(inst.imm.f), tk, inst.operands};
        ValueId found = kNoValue;
        for (auto it = scopes_.rbegin(); it != scopes_.rend() && found == kNoValue; ++it) {
          auto f = it->find(key);
          if (f != it->end()) found = f->second;
        }
        if (found != kNoValue) {
          repl_[inst.result] = found;
          ++changes_;
        } else {
          scopes_.back().emplace(std::move(key), inst.result);
        }
      }
      for (auto& sub : inst.regions) region(sub);
    }
    scopes_.pop_back();
  }

  Kernel& k_;
  std::vector<ValueId> repl_;
  std::vector<std::map<CseKey, ValueId>> scopes_;
  unsigned changes_ = 0;
};

} // namespace

unsigned fold_constants(Kernel& kernel) { return Folder(kernel).run(); }

unsigned eliminate_dead_code(Kernel& kernel) {
  unsigned total = 0;
  for (int iter = 0; iter < 100; ++iter) {
    const auto uses = analysis::use_counts(kernel);
    const unsigned n = dce_region(kernel.body, uses);
    total += n;
    if (n == 0) break;
  }
  return total;
}

unsigned eliminate_common_subexpressions(Kernel& kernel) { return Cse(kernel).run(); }

unsigned optimize(Kernel& kernel) {
  unsigned total = 0;
  for (int iter = 0; iter < 16; ++iter) {
    const unsigned n = fold_constants(kernel) + eliminate_common_subexpressions(kernel) + eliminate_dead_code(kernel);
    total += n;
    if (n == 0) break;
  }
  return total;
}

std::vector<std::string> downcast_f64(Kernel& kernel) {
  std::vector<std::string> warnings;
  for (ValueId p : kernel.params) {
    if (kernel.type_of(p).scalar == ScalarKind::F64) {
      warnings.push_back("kernel '" + kernel.name + "': parameter %" + std::string(kernel.name_of(p)) + " (" +
                         to_string(kernel.type_of(p)) + ") downcast to f32: results lose precision");
    }
  }
  unsigned rewritten = 0;
  for (auto& v : kernel.values) {
    if (v.type.scalar == ScalarKind::F64) {
      v.type.scalar = ScalarKind::F32;
      ++rewritten;
    }
  }
  if (rewritten != 0) {
    warnings.push_back("kernel '" + kernel.name + "': " + std::to_string(rewritten) +
                       " f64 value(s) computed in f32 (fallback downcast_f64)");
  }
  return warnings;
}

} // namespace ringkernel::ir
