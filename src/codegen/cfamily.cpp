// Shared statement emission for CUDA C++ and MSL.
#include "codegen/cfamily.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>

#include "ir/analysis.hpp"
#include "ir/eval.hpp"
#include "ringkernel/hlc.hpp"
#include "ringkernel/ir/passes.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/ring.hpp"

namespace ringkernel::ir::codegen {

static_assert(offsetof(MessageHeader, payload_len) % 4 == 0, "lowerings read payload_len as the low half of a word");
static_assert(sizeof(MessageHeader) % 4 == 0);

const Layout& runtime_layout() {
  static const Layout l{static_cast<std::uint32_t>(offsetof(RingControl, head)),
                        static_cast<std::uint32_t>(offsetof(RingControl, tail)),
                        static_cast<std::uint32_t>(offsetof(RingControl, capacity)),
                        static_cast<std::uint32_t>(offsetof(RingControl, slot_size)),
                        static_cast<std::uint32_t>(offsetof(RingControl, seq_offset)),
                        static_cast<std::uint32_t>(offsetof(RingControl, slots_offset)),
                        static_cast<std::uint32_t>(sizeof(MessageHeader)),
                        static_cast<std::uint32_t>(offsetof(MessageHeader, payload_len)),
                        kHlcLogicalBits};
  return l;
}

std::string float_literal(double v, bool single) {
  if (std::isnan(v) || std::isinf(v)) return {};
  char buf[64];
  auto r = single ? std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v)) : std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

CEmitter::CEmitter(const Kernel& k, const Target& t) : k_(k), t_(t), caps_(required_capabilities(k)), uses_(analysis::use_counts(k)) {}

bool CEmitter::uses_op(Op op) const {
  bool found = false;
  walk(k_.body, [&](const Inst& i) { found |= i.op == op; });
  return found;
}

std::string CEmitter::value_type(Type t) const {
  if (t.is_pointer()) return pointer_type(t);
  if (t.is_vector()) return "rk_vec<" + scalar_type(t.scalar) + ", " + std::to_string(t.lanes) + ">";
  return scalar_type(t.scalar);
}

std::string CEmitter::lane(ValueId v, unsigned l) const {
  return k_.type_of(v).is_vector() ? id(v) + ".v[" + std::to_string(l) + "]" : id(v);
}

void CEmitter::line(const std::string& s) { out_ << std::string(static_cast<std::size_t>(indent_) * 2, ' ') << s << "\n"; }

void CEmitter::define(const Inst& inst, const std::string& expr) {
  // "T const x" keeps pointer values const without making their pointee const.
  line(value_type(k_.type_of(inst.result)) + " const " + id(inst.result) + " = " + expr + ";");
}

Result<GeneratedCode> CEmitter::run() {
  GeneratedCode code;
  code.backend = backend();
  code.entry = k_.name;
  std::string head = prelude();
  head += signature(code);
  if (auto s = region(k_.body); !s) return s.error();
  code.source = head + out_.str() + "}\n";
  return code;
}

Status CEmitter::region(const Region& r) {
  for (const auto& i : r.insts) {
    if (auto s = inst(i); !s) return s;
  }
  return {};
}

std::string CEmitter::lane_expr(const Inst& inst, unsigned l, Status& st) const {
  const Type rt = k_.type_of(inst.result);
  const ScalarKind k = rt.scalar;
  auto a = [&](std::size_t i) { return lane(inst.operands[i], l); };
  const Type ot = inst.operands.empty() ? Type::void_() : k_.type_of(inst.operands[0]);
  const unsigned w = eval::bit_width(k);
  const std::string T = scalar_type(k), U = unsigned_of(k);
  switch (inst.op) {
    case Op::Add: case Op::Sub: case Op::Mul: {
      const char* op = inst.op == Op::Add ? " + " : inst.op == Op::Sub ? " - " : " * ";
      if (is_integer(k)) return "(" + T + ")((" + U + ")" + a(0) + op + "(" + U + ")" + a(1) + ")";  // wraps
      return "(" + a(0) + op + a(1) + ")";
    }
    case Op::Div:
      if (is_signed(k)) return "rk_sdiv(" + a(0) + ", " + a(1) + ")";
      return "(" + a(0) + " / " + a(1) + ")";
    case Op::Rem:
      if (is_signed(k)) return "rk_srem(" + a(0) + ", " + a(1) + ")";
      return "(" + a(0) + " % " + a(1) + ")";
    case Op::Min: case Op::Max:
      if (is_float(k)) return fmin_fmax(inst.op == Op::Max, k, a(0), a(1));
      return "(" + a(0) + (inst.op == Op::Min ? " < " : " > ") + a(1) + " ? " + a(0) + " : " + a(1) + ")";
    case Op::And: return k == ScalarKind::Bool ? "(" + a(0) + " && " + a(1) + ")" : "(" + T + ")(" + a(0) + " & " + a(1) + ")";
    case Op::Or: return k == ScalarKind::Bool ? "(" + a(0) + " || " + a(1) + ")" : "(" + T + ")(" + a(0) + " | " + a(1) + ")";
    case Op::Xor: return k == ScalarKind::Bool ? "(" + a(0) + " != " + a(1) + ")" : "(" + T + ")(" + a(0) + " ^ " + a(1) + ")";
    case Op::Shl: return "(" + T + ")((" + U + ")" + a(0) + " << ((" + U + ")" + a(1) + " & " + std::to_string(w - 1) + "u))";
    case Op::Shr: return "(" + T + ")(" + a(0) + " >> ((" + U + ")" + a(1) + " & " + std::to_string(w - 1) + "u))";
    case Op::Neg:
      if (is_integer(k)) return "(" + T + ")((" + U + ")0 - (" + U + ")" + a(0) + ")";
      return "(-" + a(0) + ")";
    case Op::Not: return k == ScalarKind::Bool ? "(!" + a(0) + ")" : "(" + T + ")(~" + a(0) + ")";
    case Op::Select: return "(" + id(inst.operands[0]) + " ? " + lane(inst.operands[1], l) + " : " + lane(inst.operands[2], l) + ")";
    case Op::Cast: return convert(ot.scalar, k, a(0));
    case Op::Vec: return inst.operands.size() == 1 ? id(inst.operands[0]) : id(inst.operands[l]);
    case Op::Math: {
      std::vector<std::string> args;
      for (std::size_t i = 0; i < inst.operands.size(); ++i) args.push_back(a(i));
      return math(static_cast<MathFn>(inst.variant), k, args);
    }
    default:
      st = make_error(ErrorCode::Internal, "lane expression for " + std::string(op_name(inst.op)), "codegen");
      return "0";
  }
}

Status CEmitter::inst(const Inst& inst) {
  const Type rt = k_.type_of(inst.result);
  auto op = [&](std::size_t i) { return id(inst.operands[i]); };
  switch (inst.op) {
    case Op::Const: {
      define(inst, literal(rt.scalar, eval::const_lane(rt.scalar, inst.imm)));
      return {};
    }
    case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Rem: case Op::Min: case Op::Max:
    case Op::And: case Op::Or: case Op::Xor: case Op::Shl: case Op::Shr: case Op::Neg: case Op::Not:
    case Op::Cast: case Op::Vec: case Op::Math: case Op::Select: {
      if (inst.op == Op::Select && rt.is_pointer()) {
        define(inst, "(" + op(0) + " ? " + op(1) + " : " + op(2) + ")");
        return {};
      }
      Status st;
      if (rt.is_vector()) {
        std::string e = "{{";
        for (unsigned l = 0; l < rt.lanes; ++l) e += (l ? ", " : "") + lane_expr(inst, l, st);
        define(inst, e + "}}");
      } else {
        define(inst, lane_expr(inst, 0, st));
      }
      return st;
    }
    case Op::Cmp: {
      static constexpr const char* kOps[] = {" == ", " != ", " < ", " <= ", " > ", " >= "};
      define(inst, "(" + op(0) + kOps[inst.variant] + op(1) + ")");
      return {};
    }
    case Op::Bitcast: define(inst, bitcast(k_.type_of(inst.operands[0]).scalar, rt.scalar, op(0))); return {};
    case Op::Extract: define(inst, op(0) + ".v[" + std::to_string(inst.imm.i) + "]"); return {};
    case Op::PtrAdd: define(inst, "(" + op(0) + " + " + op(1) + ")"); return {};
    case Op::Load: define(inst, "(*" + op(0) + ")"); return {};
    case Op::Store: line("*" + op(0) + " = " + op(1) + ";"); return {};
    case Op::Var: {
      const std::string mem = id(inst.result) + "_mem";
      line(private_decl(rt.element(), mem, inst.imm.i));
      define(inst, mem);
      return {};
    }
    case Op::Shared: {
      const std::string mem = id(inst.result) + "_mem";
      line(shared_decl(rt.element(), mem, inst.imm.i));
      define(inst, mem);
      return {};
    }
    case Op::ThreadId: case Op::BlockId: case Op::BlockDim: case Op::GridDim: case Op::GlobalId:
    case Op::LaneId: case Op::WarpId: case Op::WarpSize:
      define(inst, builtin(inst.op, static_cast<Dim>(inst.variant)));
      return {};
    case Op::Barrier: barrier(); return {};
    case Op::Fence: fence(static_cast<FenceScope>(inst.variant)); return {};
    case Op::GridSync: grid_sync(); return {};
    case Op::Atomic: case Op::AtomicCas: case Op::AtomicLoad: case Op::AtomicStore: return atomic(inst);
    case Op::Shuffle: case Op::Vote: case Op::Reduce: case Op::Scan: define(inst, subgroup(inst)); return {};
    case Op::H2kDequeue: case Op::K2hEnqueue: case Op::K2kSend: case Op::K2kRecv: define(inst, ring_call(inst)); return {};
    case Op::HlcNow: case Op::HlcTick: case Op::HlcUpdate: define(inst, hlc_call(inst)); return {};
    case Op::If: {
      line("if (" + op(0) + ") {");
      ++indent_;
      if (auto s = region(inst.regions[0]); !s) return s;
      --indent_;
      if (!inst.regions[1].insts.empty()) {
        line("} else {");
        ++indent_;
        if (auto s = region(inst.regions[1]); !s) return s;
        --indent_;
      }
      line("}");
      return {};
    }
    case Op::For: {
      const std::string T = value_type(k_.type_of(inst.region_arg));
      const std::string iv = id(inst.region_arg);
      line("for (" + T + " " + iv + " = " + op(0) + "; " + iv + " < " + op(1) + "; " + iv + " = (" + T + ")(" + iv +
           " + " + op(2) + ")) {");
      ++indent_;
      if (auto s = region(inst.regions[0]); !s) return s;
      --indent_;
      line("}");
      return {};
    }
    case Op::Loop:
      line("for (;;) {");
      ++indent_;
      if (auto s = region(inst.regions[0]); !s) return s;
      --indent_;
      line("}");
      return {};
    case Op::Break: line("break;"); return {};
    case Op::Continue: line("continue;"); return {};
    case Op::Return: line("return;"); return {};
    default: break;
  }
  return make_error(ErrorCode::Internal, "no lowering for " + analysis::describe(k_, inst), "codegen");
}

} // namespace ringkernel::ir::codegen
