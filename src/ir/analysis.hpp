// Small analyses shared by validation, the passes and the lowerings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringkernel/ir/ir.hpp"
#include "ringkernel/ir/text.hpp"

namespace ringkernel::ir::analysis {

// How many times each value is used as an operand.
inline std::vector<std::uint32_t> use_counts(const Kernel& k) {
  std::vector<std::uint32_t> uses(k.values.size(), 0);
  walk(k.body, [&](const Inst& inst) {
    for (ValueId v : inst.operands) {
      if (v < uses.size()) ++uses[v];
    }
  });
  return uses;
}

// The memory object each pointer value points into: a parameter, a `var` or a `shared` result. kNoValue for
// non-pointers and for pointers whose object is not statically known (a select between two objects).
inline std::vector<ValueId> pointer_roots(const Kernel& k) {
  std::vector<ValueId> root(k.values.size(), kNoValue);
  for (ValueId p : k.params) {
    if (p < root.size() && (k.type_of(p).is_pointer() || k.type_of(p).is_ring())) root[p] = p;
  }
  walk(k.body, [&](const Inst& inst) {
    if (inst.result >= root.size()) return;
    auto at = [&](std::size_t i) { return i < inst.operands.size() && inst.operands[i] < root.size() ? root[inst.operands[i]] : kNoValue; };
    switch (inst.op) {
      case Op::Var:
      case Op::Shared: root[inst.result] = inst.result; break;
      case Op::PtrAdd: root[inst.result] = at(0); break;
      case Op::Select:
        if (k.type_of(inst.result).is_pointer() && at(1) == at(2)) root[inst.result] = at(1);
        break;
      default: break;
    }
  });
  return root;
}

// One-line description of an instruction for error messages (nested bodies elided).
inline std::string describe(const Kernel& k, const Inst& inst) {
  std::string s = print_inst(k, inst);
  const auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  return "'" + s + "'";
}

} // namespace ringkernel::ir::analysis
