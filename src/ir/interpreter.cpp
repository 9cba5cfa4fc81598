// The reference interpreter. The structured body is flattened into a small program with jumps; each simulated
// thread is a program counter plus a register file. Threads run round robin for `quantum` steps; a thread
// reaching a collective operation parks there, and when nothing can run the scheduler completes every group
// whose members have all arrived (or reports why a group can never complete).
#include "ringkernel/ir/interpreter.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "ir/analysis.hpp"
#include "ir/eval.hpp"
#include "ringkernel/hlc.hpp"
#include "ringkernel/ir/passes.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/ring.hpp"

namespace ringkernel::ir {

namespace {

using Lanes = std::array<std::uint64_t, 4>;

enum class FK : std::uint8_t { Exec, Jump, JumpIfFalse, ForInit, ForTest, ForStep, Exit };

struct FOp {
  FK kind = FK::Exec;
  const Inst* inst = nullptr;
  std::uint32_t target = 0;
};

// Flattens structured control flow.
class Flattener {
public:
  std::vector<FOp> run(const Region& body) {
    region(body);
    code_.push_back({FK::Exit, nullptr, 0});
    return std::move(code_);
  }

private:
  struct LoopLabels {
    std::vector<std::size_t> breaks;
    std::vector<std::size_t> continues;
  };

  std::uint32_t here() const { return static_cast<std::uint32_t>(code_.size()); }

  void region(const Region& r) {
    for (const auto& inst : r.insts) {
      switch (inst.op) {
        case Op::If: {
          const std::size_t jf = code_.size();
          code_.push_back({FK::JumpIfFalse, &inst, 0});
          if (!inst.regions.empty()) region(inst.regions[0]);
          const std::size_t jend = code_.size();
          code_.push_back({FK::Jump, &inst, 0});
          code_[jf].target = here();
          if (inst.regions.size() > 1) region(inst.regions[1]);
          code_[jend].target = here();
          break;
        }
        case Op::For: {
          code_.push_back({FK::ForInit, &inst, 0});
          const std::uint32_t head = here();
          const std::size_t test = code_.size();
          code_.push_back({FK::ForTest, &inst, 0});
          loops_.emplace_back();
          if (!inst.regions.empty()) region(inst.regions[0]);
          const std::uint32_t cont = here();
          code_.push_back({FK::ForStep, &inst, 0});
          code_.push_back({FK::Jump, &inst, head});
          const std::uint32_t end = here();
          code_[test].target = end;
          finish_loop(cont, end);
          break;
        }
        case Op::Loop: {
          const std::uint32_t head = here();
          loops_.emplace_back();
          if (!inst.regions.empty()) region(inst.regions[0]);
          code_.push_back({FK::Jump, &inst, head});
          finish_loop(head, here());
          break;
        }
        case Op::Break:
          if (!loops_.empty()) loops_.back().breaks.push_back(code_.size());
          code_.push_back({FK::Jump, &inst, 0});
          break;
        case Op::Continue:
          if (!loops_.empty()) loops_.back().continues.push_back(code_.size());
          code_.push_back({FK::Jump, &inst, 0});
          break;
        case Op::Return: code_.push_back({FK::Exit, &inst, 0}); break;
        default: code_.push_back({FK::Exec, &inst, 0}); break;
      }
    }
  }

  void finish_loop(std::uint32_t cont, std::uint32_t end) {
    for (auto i : loops_.back().breaks) code_[i].target = end;
    for (auto i : loops_.back().continues) code_[i].target = cont;
    loops_.pop_back();
  }

  std::vector<FOp> code_;
  std::vector<LoopLabels> loops_;
};

struct Memory {
  std::byte* data = nullptr;
  std::size_t size = 0;
  AddressSpace space = AddressSpace::Global;
  bool ring = false;
  std::string name;
  std::unique_ptr<std::byte[]> owned;  // shared and private memory
};

enum class TState : std::uint8_t { Ready, Waiting, Done };

struct Thread {
  std::uint32_t pc = 0;
  TState state = TState::Ready;
  std::array<std::uint32_t, 3> tid{}, bid{};
  std::uint32_t local = 0;   // linear index in the block
  std::uint32_t block = 0;   // index of the block in this run
  std::vector<Lanes> regs;
  std::vector<std::uint32_t> var_roots;  // per Var instruction (index into var_index_), 0 = none yet
};

class Interp {
public:
  Interp(const Kernel& k, std::array<std::uint32_t, 3> grid, const KernelArgs& args, const InterpreterOptions& opt)
      : k_(k), grid_(grid), args_(args), opt_(opt) {}

  Status run() {
    if (auto s = setup(); !s) return s;
    bool grid_sync = false;
    walk(k_.body, [&](const Inst& i) { grid_sync |= i.op == Op::GridSync; });
    const std::uint64_t blocks = std::uint64_t{grid_[0]} * grid_[1] * grid_[2];
    const std::uint32_t tpb = k_.threads_per_block();
    if (grid_sync && blocks * tpb > (1u << 16)) {
      return fail("a kernel with grid_sync runs every block at once; " + std::to_string(blocks * tpb) +
                  " threads exceed the interpreter's limit of 65536");
    }
    const std::uint64_t per_run = grid_sync ? blocks : 1;
    for (std::uint64_t first = 0; first < blocks; first += per_run) {
      if (auto s = run_blocks(first, per_run, tpb); !s) return s;
    }
    return {};
  }

private:
  Error fail(const std::string& msg) const {
    return make_error(ErrorCode::InvalidArgument, "kernel '" + k_.name + "': " + msg, "ir::interpret");
  }
  Error fail_at(const Thread& t, const Inst* inst, const std::string& msg) const {
    std::string where = "thread (" + std::to_string(t.tid[0]) + "," + std::to_string(t.tid[1]) + "," +
                        std::to_string(t.tid[2]) + ") of block (" + std::to_string(t.bid[0]) + "," +
                        std::to_string(t.bid[1]) + "," + std::to_string(t.bid[2]) + ")";
    if (inst != nullptr) where += " at " + analysis::describe(k_, *inst);
    return fail(where + ": " + msg);
  }

  Status setup() {
    if (auto s = validate(k_); !s) return s;
    for (int d = 0; d < 3; ++d) {
      if (grid_[static_cast<std::size_t>(d)] == 0) return fail("grid dimensions must be >= 1");
    }
    if (opt_.subgroup_size == 0 || opt_.subgroup_size > 128) return fail("subgroup size must be in [1, 128]");
    if (args_.list().size() != k_.params.size()) {
      return fail("expects " + std::to_string(k_.params.size()) + " argument(s), got " + std::to_string(args_.list().size()));
    }
    mem_.emplace_back();  // root 0 = null
    param_root_.assign(k_.values.size(), 0);
    for (std::size_t i = 0; i < k_.params.size(); ++i) {
      const ValueId p = k_.params[i];
      const Type t = k_.type_of(p);
      const KernelArg& a = args_.list()[i];
      const std::string pname = "%" + std::string(k_.name_of(p));
      const ArgKind want = t.is_pointer() ? ArgKind::Buffer : t.is_ring() ? ArgKind::Ring : ArgKind::Scalar;
      if (a.kind != want) {
        static constexpr const char* kNames[] = {"a buffer", "a scalar", "a ring"};
        return fail("argument " + std::to_string(i) + " (" + pname + ": " + to_string(t) + ") must be " +
                    kNames[static_cast<int>(want)] + ", got " + kNames[static_cast<int>(a.kind)]);
      }
      if (want == ArgKind::Scalar) {
        scalar_args_.push_back({p, scalar_from_bits(t.scalar, a.bits)});
        continue;
      }
      if (a.data == nullptr && a.size != 0) return fail("argument " + pname + " has a null pointer");
      Memory m;
      m.data = a.data;
      m.size = a.size;
      m.space = t.is_ring() ? AddressSpace::Global : t.space;
      m.ring = t.is_ring();
      m.name = pname;
      param_root_[p] = static_cast<std::uint32_t>(mem_.size());
      mem_.push_back(std::move(m));
    }
    code_ = Flattener().run(k_.body);
    walk(k_.body, [&](const Inst& i) {
      if (i.op == Op::Var) var_index_.push_back(&i);
      if (i.op == Op::Shared) shared_index_.push_back(&i);
    });
    params_mem_ = mem_.size();
    return {};
  }

  static std::uint64_t scalar_from_bits(ScalarKind k, std::uint64_t bits) {
    if (k == ScalarKind::Bool) return bits != 0 ? 1 : 0;
    return eval::from_bits(k, bits);
  }

  Status run_blocks(std::uint64_t first, std::uint64_t count, std::uint32_t tpb) {
    mem_.resize(params_mem_);
    threads_.clear();
    threads_.reserve(count * tpb);
    shared_root_.assign(count * shared_index_.size(), 0);
    for (std::uint64_t b = 0; b < count; ++b) {
      const std::uint64_t lin = first + b;
      const std::array<std::uint32_t, 3> bid{static_cast<std::uint32_t>(lin % grid_[0]),
                                             static_cast<std::uint32_t>((lin / grid_[0]) % grid_[1]),
                                             static_cast<std::uint32_t>(lin / (std::uint64_t{grid_[0]} * grid_[1]))};
      for (std::size_t s = 0; s < shared_index_.size(); ++s) {
        const Inst* si = shared_index_[s];
        const std::size_t bytes = static_cast<std::size_t>(si->imm.i) * type_size(k_.type_of(si->result).element());
        shared_root_[b * shared_index_.size() + s] = new_memory(bytes, AddressSpace::Shared, "%" + std::string(k_.name_of(si->result)));
      }
      for (std::uint32_t l = 0; l < tpb; ++l) {
        Thread t;
        t.tid = {l % k_.workgroup[0], (l / k_.workgroup[0]) % k_.workgroup[1], l / (k_.workgroup[0] * k_.workgroup[1])};
        t.bid = bid;
        t.local = l;
        t.block = static_cast<std::uint32_t>(b);
        t.regs.assign(k_.values.size(), Lanes{});
        for (const auto& [v, lane] : scalar_args_) t.regs[v][0] = lane;
        for (ValueId p : k_.params) {
          if (param_root_[p] != 0) t.regs[p] = {param_root_[p], 0, 0, 0};
        }
        t.var_roots.assign(var_index_.size(), 0);
        threads_.push_back(std::move(t));
      }
    }
    tpb_ = tpb;
    // Schedule until every thread is done.
    for (;;) {
      bool progressed = false;
      for (auto& t : threads_) {
        if (t.state != TState::Ready) continue;
        progressed = true;
        if (auto s = step_thread(t); !s) return s;
      }
      if (progressed) continue;
      bool all_done = true;
      for (const auto& t : threads_) all_done &= t.state == TState::Done;
      if (all_done) return {};
      if (auto s = resolve_collectives(); !s) return s;
    }
  }

  std::uint32_t new_memory(std::size_t bytes, AddressSpace space, std::string name) {
    Memory m;
    m.owned = std::make_unique<std::byte[]>(bytes == 0 ? 1 : bytes);
    std::memset(m.owned.get(), 0, bytes == 0 ? 1 : bytes);
    m.data = m.owned.get();
    m.size = bytes;
    m.space = space;
    m.name = std::move(name);
    mem_.push_back(std::move(m));
    return static_cast<std::uint32_t>(mem_.size() - 1);
  }

  // --- memory access -----------------------------------------------------------------------------------

  Result<std::byte*> access(const Thread& t, const Inst* inst, const Lanes& ptr, std::size_t bytes) {
    const auto root = ptr[0];
    if (root == 0 || root >= mem_.size()) return fail_at(t, inst, "access through an invalid pointer");
    Memory& m = mem_[root];
    const auto off = ptr[1];
    if (off > m.size || bytes > m.size - off) {
      return fail_at(t, inst, "out-of-bounds access of " + std::to_string(bytes) + " byte(s) at byte offset " +
                                  std::to_string(static_cast<std::int64_t>(off)) + " of " + m.name + " (" +
                                  std::to_string(m.size) + " bytes)");
    }
    return m.data + off;
  }

  Result<Lanes> load(const Thread& t, const Inst* inst, const Lanes& ptr, Type elem) {
    auto p = access(t, inst, ptr, type_size(elem));
    if (!p) return p.error();
    Lanes out{};
    const unsigned sz = scalar_size(elem.scalar);
    for (unsigned l = 0; l < elem.lanes; ++l) out[l] = eval::load_lane(elem.scalar, *p + l * sz);
    return out;
  }

  Status store(const Thread& t, const Inst* inst, const Lanes& ptr, Type elem, const Lanes& v) {
    auto p = access(t, inst, ptr, type_size(elem));
    if (!p) return p.error();
    const unsigned sz = scalar_size(elem.scalar);
    for (unsigned l = 0; l < elem.lanes; ++l) eval::store_lane(elem.scalar, v[l], *p + l * sz);
    return {};
  }

  // --- execution -----------------------------------------------------------------------------------------

  Status step_thread(Thread& t) {
    for (std::uint32_t n = 0; n < opt_.quantum; ++n) {
      if (++steps_ > opt_.step_limit) {
        return fail_at(t, code_[t.pc].inst, "step limit of " + std::to_string(opt_.step_limit) +
                                                " instructions exceeded (endless loop, or a spin-wait no other thread can satisfy?)");
      }
      const FOp& f = code_[t.pc];
      switch (f.kind) {
        case FK::Exit: t.state = TState::Done; return {};
        case FK::Jump: t.pc = f.target; continue;
        case FK::JumpIfFalse: t.pc = t.regs[f.inst->operands[0]][0] != 0 ? t.pc + 1 : f.target; continue;
        case FK::ForInit: t.regs[f.inst->region_arg] = t.regs[f.inst->operands[0]]; ++t.pc; continue;
        case FK::ForTest: {
          const ScalarKind k = k_.type_of(f.inst->region_arg).scalar;
          const bool in = eval::compare(CmpPred::Lt, k, t.regs[f.inst->region_arg][0], t.regs[f.inst->operands[1]][0]);
          t.pc = in ? t.pc + 1 : f.target;
          continue;
        }
        case FK::ForStep: {
          const ScalarKind k = k_.type_of(f.inst->region_arg).scalar;
          auto& iv = t.regs[f.inst->region_arg][0];
          iv = eval::canon_int(k, iv + t.regs[f.inst->operands[2]][0]);
          ++t.pc;
          continue;
        }
        case FK::Exec: break;
      }
      if (is_collective(f.inst->op)) {
        t.state = TState::Waiting;
        return {};
      }
      if (auto s = exec(t, *f.inst); !s) return s;
      ++t.pc;
    }
    return {};
  }

  Status exec(Thread& t, const Inst& inst) {
    auto R = [&]() -> Lanes& { return t.regs[inst.result]; };
    auto V = [&](std::size_t i) -> const Lanes& { return t.regs[inst.operands[i]]; };
    auto T = [&](std::size_t i) { return k_.type_of(inst.operands[i]); };
    const Type rt = k_.type_of(inst.result);
    std::string err;
    switch (inst.op) {
      case Op::Const: R() = {eval::const_lane(rt.scalar, inst.imm), 0, 0, 0}; return {};
      case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Rem: case Op::Min: case Op::Max:
      case Op::And: case Op::Or: case Op::Xor: case Op::Shl: case Op::Shr: {
        Lanes out{};
        for (unsigned l = 0; l < rt.lanes; ++l) {
          if (!eval::binary(inst.op, rt.scalar, V(0)[l], V(1)[l], out[l], err)) return fail_at(t, &inst, err);
        }
        R() = out;
        return {};
      }
      case Op::Neg: case Op::Not: {
        Lanes out{};
        for (unsigned l = 0; l < rt.lanes; ++l) {
          if (!eval::unary(inst.op, rt.scalar, V(0)[l], out[l], err)) return fail_at(t, &inst, err);
        }
        R() = out;
        return {};
      }
      case Op::Cmp: R() = {eval::compare(static_cast<CmpPred>(inst.variant), T(0).scalar, V(0)[0], V(1)[0]) ? 1u : 0u, 0, 0, 0}; return {};
      case Op::Select: R() = V(0)[0] != 0 ? V(1) : V(2); return {};
      case Op::Cast: {
        Lanes out{};
        for (unsigned l = 0; l < rt.lanes; ++l) out[l] = eval::convert(T(0).scalar, rt.scalar, V(0)[l]);
        R() = out;
        return {};
      }
      case Op::Bitcast: R() = {eval::from_bits(rt.scalar, eval::to_bits(T(0).scalar, V(0)[0])), 0, 0, 0}; return {};
      case Op::Vec: {
        Lanes out{};
        for (unsigned l = 0; l < rt.lanes; ++l) out[l] = V(inst.operands.size() == 1 ? 0 : l)[0];
        R() = out;
        return {};
      }
      case Op::Extract: R() = {V(0)[static_cast<std::size_t>(inst.imm.i)], 0, 0, 0}; return {};
      case Op::Math: {
        Lanes out{};
        const auto fn = static_cast<MathFn>(inst.variant);
        for (unsigned l = 0; l < rt.lanes; ++l) {
          out[l] = eval::math(fn, rt.scalar, V(0)[l], inst.operands.size() > 1 ? V(1)[l] : 0, inst.operands.size() > 2 ? V(2)[l] : 0);
        }
        R() = out;
        return {};
      }
      case Op::PtrAdd: {
        const Type it = T(1);
        const std::int64_t idx = is_signed(it.scalar) ? static_cast<std::int64_t>(V(1)[0]) : static_cast<std::int64_t>(V(1)[0]);
        Lanes p = V(0);
        p[1] = p[1] + static_cast<std::uint64_t>(idx) * type_size(rt.element());
        R() = p;
        return {};
      }
      case Op::Load: {
        auto v = load(t, &inst, V(0), rt);
        if (!v) return v.error();
        R() = *v;
        return {};
      }
      case Op::Store: return store(t, &inst, V(0), T(1), V(1));
      case Op::Var: {
        const auto idx = static_cast<std::size_t>(std::find(var_index_.begin(), var_index_.end(), &inst) - var_index_.begin());
        const std::size_t bytes = static_cast<std::size_t>(inst.imm.i) * type_size(rt.element());
        std::uint32_t& root = t.var_roots[idx];
        if (root == 0) root = new_memory(bytes, AddressSpace::Private, "%" + std::string(k_.name_of(inst.result)));
        else std::memset(mem_[root].data, 0, bytes);  // a fresh, zeroed variable each time it is reached
        R() = {root, 0, 0, 0};
        return {};
      }
      case Op::Shared: {
        const auto idx = static_cast<std::size_t>(std::find(shared_index_.begin(), shared_index_.end(), &inst) - shared_index_.begin());
        R() = {shared_root_[t.block * shared_index_.size() + idx], 0, 0, 0};
        return {};
      }
      case Op::ThreadId: R() = {t.tid[inst.variant], 0, 0, 0}; return {};
      case Op::BlockId: R() = {t.bid[inst.variant], 0, 0, 0}; return {};
      case Op::BlockDim: R() = {k_.workgroup[inst.variant], 0, 0, 0}; return {};
      case Op::GridDim: R() = {grid_[inst.variant], 0, 0, 0}; return {};
      case Op::GlobalId:
        R() = {eval::canon_int(ScalarKind::U32, std::uint64_t{t.bid[inst.variant]} * k_.workgroup[inst.variant] + t.tid[inst.variant]), 0, 0, 0};
        return {};
      case Op::LaneId: R() = {t.local % opt_.subgroup_size, 0, 0, 0}; return {};
      case Op::WarpId: R() = {t.local / opt_.subgroup_size, 0, 0, 0}; return {};
      case Op::WarpSize: R() = {opt_.subgroup_size, 0, 0, 0}; return {};
      case Op::Fence: return {};  // threads interleave on one host thread: memory is always coherent
      case Op::Atomic: case Op::AtomicCas: case Op::AtomicLoad: case Op::AtomicStore: return atomic(t, inst);
      case Op::H2kDequeue: case Op::K2kRecv: case Op::K2hEnqueue: case Op::K2kSend: return ring_op(t, inst);
      case Op::HlcNow: case Op::HlcTick: case Op::HlcUpdate: {
        auto cur = load(t, &inst, V(0), Type::u64());
        if (!cur) return cur.error();
        std::uint64_t v = (*cur)[0];
        if (inst.op == Op::HlcTick) v = hlc_next_tick(v, V(1)[0]);
        if (inst.op == Op::HlcUpdate) v = hlc_next_update(v, V(1)[0], V(2)[0]);
        if (inst.op != Op::HlcNow) {
          if (auto s = store(t, &inst, V(0), Type::u64(), {v, 0, 0, 0}); !s) return s;
        }
        R() = {v, 0, 0, 0};
        return {};
      }
      default: return fail_at(t, &inst, "operation cannot be executed here");
    }
  }

  Status atomic(Thread& t, const Inst& inst) {
    const Type et = k_.type_of(inst.operands[0]).element();
    auto cur = load(t, &inst, t.regs[inst.operands[0]], et);
    if (!cur) return cur.error();
    const std::uint64_t old = (*cur)[0];
    std::uint64_t nv = old;
    std::string err;
    switch (inst.op) {
      case Op::AtomicLoad: t.regs[inst.result] = {old, 0, 0, 0}; return {};
      case Op::AtomicStore: nv = t.regs[inst.operands[1]][0]; break;
      case Op::AtomicCas:
        if (old == t.regs[inst.operands[1]][0]) nv = t.regs[inst.operands[2]][0];
        break;
      case Op::Atomic: {
        const std::uint64_t v = t.regs[inst.operands[1]][0];
        static constexpr Op kOps[] = {Op::Add, Op::Sub, Op::Min, Op::Max, Op::And, Op::Or, Op::Xor};
        if (static_cast<AtomicOp>(inst.variant) == AtomicOp::Exchange) nv = v;
        else if (!eval::binary(kOps[inst.variant], et.scalar, old, v, nv, err)) return fail_at(t, &inst, err);
        break;
      }
      default: break;
    }
    if (auto s = store(t, &inst, t.regs[inst.operands[0]], et, {nv, 0, 0, 0}); !s) return s;
    if (inst.result != kNoValue) t.regs[inst.result] = {old, 0, 0, 0};
    return {};
  }

  Status ring_op(Thread& t, const Inst& inst) {
    const Lanes& rp = t.regs[inst.operands[0]];
    if (rp[0] == 0 || rp[0] >= mem_.size() || !mem_[rp[0]].ring) return fail_at(t, &inst, "ring operand is not a ring argument");
    Memory& rm = mem_[rp[0]];
    if (rm.size < sizeof(RingControl)) return fail_at(t, &inst, "ring memory of " + rm.name + " is smaller than its control block");
    const bool mpsc = inst.op != Op::K2hEnqueue;
    RingView view;
    if (ring_attach(rm.data, mpsc ? RingKind::Mpsc : RingKind::Spsc, &view) != ErrorCode::Ok) {
      return fail_at(t, &inst, rm.name + " is not an initialised " + std::string(mpsc ? "MPSC" : "SPSC") + " ring");
    }
    const auto kind = mpsc ? RingKind::Mpsc : RingKind::Spsc;
    if (ring_storage_bytes(kind, view.control->capacity, view.control->slot_size) > rm.size) {
      return fail_at(t, &inst, rm.name + " is smaller than its ring geometry needs");
    }
    const Lanes& buf = t.regs[inst.operands[1]];
    ErrorCode rc = ErrorCode::Ok;
    if (inst.op == Op::H2kDequeue || inst.op == Op::K2kRecv) {
      const std::size_t cap = static_cast<std::size_t>(inst.imm.i) * 4;
      std::optional<Error> error;
      rc = ErrorCode::QueueEmpty;
      MpscConsumer(view).pop_batch(1, [&](const MessageHeader& h, const std::byte* payload) {
        const std::size_t whole = sizeof(MessageHeader) + ((h.payload_len + 3u) & ~3u);
        const std::size_t n = whole <= cap ? whole : sizeof(MessageHeader);
        rc = whole <= cap ? ErrorCode::Ok : ErrorCode::MessageTooLarge;
        auto dst = access(t, &inst, buf, n);
        if (!dst) {
          error = dst.error();
          return;
        }
        std::memcpy(*dst, &h, sizeof(MessageHeader));
        if (n > sizeof(MessageHeader)) std::memcpy(*dst + sizeof(MessageHeader), payload, n - sizeof(MessageHeader));
      });
      if (error) return *error;
    } else {
      auto hdr = access(t, &inst, buf, sizeof(MessageHeader));
      if (!hdr) return hdr.error();
      MessageHeader h;
      std::memcpy(&h, *hdr, sizeof(h));
      auto whole = access(t, &inst, buf, sizeof(MessageHeader) + ((h.payload_len + 3u) & ~3u));
      if (!whole) return whole.error();
      rc = inst.op == Op::K2hEnqueue ? SpscProducer(view).try_push(h, *whole + sizeof(MessageHeader))
                                     : MpscProducer(view).try_push(h, *whole + sizeof(MessageHeader));
    }
    t.regs[inst.result] = {static_cast<std::uint32_t>(rc), 0, 0, 0};
    return {};
  }

  // --- collectives ---------------------------------------------------------------------------------------

  Status resolve_collectives() {
    bool any = false;
    const std::uint32_t sg = opt_.subgroup_size;
    for (std::size_t i = 0; i < threads_.size(); ++i) {
      Thread& t = threads_[i];
      if (t.state != TState::Waiting) continue;
      const Inst* inst = code_[t.pc].inst;
      // The group this collective needs.
      std::size_t first = 0, last = threads_.size();
      if (inst->op == Op::Barrier) {
        first = std::size_t{t.block} * tpb_;
        last = first + tpb_;
      } else if (inst->op != Op::GridSync) {
        first = std::size_t{t.block} * tpb_ + (t.local / sg) * sg;
        last = std::min<std::size_t>(first + sg, std::size_t{t.block} * tpb_ + tpb_);
      }
      bool complete = true;
      for (std::size_t j = first; j < last; ++j) {
        const Thread& o = threads_[j];
        if (o.state == TState::Done) {
          return fail_at(t, inst, "not every thread of its " + group_name(inst->op) +
                                      " reaches it: thread (" + std::to_string(o.tid[0]) + "," + std::to_string(o.tid[1]) + "," +
                                      std::to_string(o.tid[2]) + ") already returned (divergent control flow)");
        }
        if (o.state == TState::Waiting && code_[o.pc].inst != inst && is_same_group_level(inst->op, code_[o.pc].inst->op)) {
          return fail_at(t, inst, "threads of one " + group_name(inst->op) + " wait at different collectives: " +
                                      analysis::describe(k_, *code_[o.pc].inst) + " (divergent control flow)");
        }
        complete &= o.state == TState::Waiting && code_[o.pc].inst == inst;
      }
      if (!complete) continue;
      if (auto s = collective(*inst, first, last); !s) return s;
      for (std::size_t j = first; j < last; ++j) {
        threads_[j].state = TState::Ready;
        ++threads_[j].pc;
      }
      any = true;
    }
    if (!any) {
      for (const auto& t : threads_) {
        if (t.state == TState::Waiting) {
          return fail_at(t, code_[t.pc].inst, "deadlock: its group waits at different collectives (a barrier and a subgroup operation in divergent control flow)");
        }
      }
    }
    return {};
  }

  static bool is_same_group_level(Op a, Op b) {
    auto level = [](Op o) { return o == Op::GridSync ? 2 : o == Op::Barrier ? 1 : 0; };
    return level(a) == level(b);
  }
  static std::string group_name(Op op) {
    return op == Op::GridSync ? "grid" : op == Op::Barrier ? "block" : "subgroup";
  }

  Status collective(const Inst& inst, std::size_t first, std::size_t last) {
    if (inst.op == Op::Barrier || inst.op == Op::GridSync) return {};
    const Type vt = k_.type_of(inst.operands[0]);
    const std::size_t n = last - first;
    std::vector<std::uint64_t> in(n);
    for (std::size_t j = 0; j < n; ++j) in[j] = threads_[first + j].regs[inst.operands[0]][0];
    std::string err;
    for (std::size_t j = 0; j < n; ++j) {
      Thread& t = threads_[first + j];
      std::uint64_t out = 0;
      switch (inst.op) {
        case Op::Shuffle: {
          const std::uint64_t arg = t.regs[inst.operands[1]][0];
          const std::int64_t lane = static_cast<std::int64_t>(j);
          std::int64_t src = lane;
          switch (static_cast<ShuffleKind>(inst.variant)) {
            case ShuffleKind::Idx: src = static_cast<std::int64_t>(arg % opt_.subgroup_size); break;
            case ShuffleKind::Xor: src = lane ^ static_cast<std::int64_t>(arg); break;
            case ShuffleKind::Up: src = lane - static_cast<std::int64_t>(arg); break;
            case ShuffleKind::Down: src = lane + static_cast<std::int64_t>(arg); break;
          }
          // Out-of-range sources return the caller's own value (CUDA's rule; the other lowerings match it).
          out = (src >= 0 && src < static_cast<std::int64_t>(n)) ? in[static_cast<std::size_t>(src)] : in[j];
          break;
        }
        case Op::Vote: {
          const auto kind = static_cast<VoteKind>(inst.variant);
          if (kind == VoteKind::Ballot) {
            for (std::size_t s = 0; s < n && s < 32; ++s) out |= (in[s] != 0 ? 1ull : 0ull) << s;
          } else {
            bool any = false, all = true;
            for (auto v : in) {
              any |= v != 0;
              all &= v != 0;
            }
            out = (kind == VoteKind::Any ? any : all) ? 1 : 0;
          }
          break;
        }
        case Op::Reduce: {
          static constexpr Op kOps[] = {Op::Add, Op::Min, Op::Max, Op::And, Op::Or, Op::Xor};
          out = in[0];
          for (std::size_t s = 1; s < n; ++s) {
            if (!eval::binary(kOps[inst.variant], vt.scalar, out, in[s], out, err)) return fail_at(t, &inst, err);
          }
          break;
        }
        case Op::Scan: {
          const bool inclusive = static_cast<ScanKind>(inst.variant) == ScanKind::InclusiveAdd;
          out = eval::const_lane(vt.scalar, Imm{true, false, 0, 0.0});
          const std::size_t upto = inclusive ? j + 1 : j;
          for (std::size_t s = 0; s < upto; ++s) {
            if (!eval::binary(Op::Add, vt.scalar, out, in[s], out, err)) return fail_at(t, &inst, err);
          }
          break;
        }
        default: break;
      }
      t.regs[inst.result] = {out, 0, 0, 0};
    }
    return {};
  }

  const Kernel& k_;
  std::array<std::uint32_t, 3> grid_;
  const KernelArgs& args_;
  InterpreterOptions opt_;
  std::vector<Memory> mem_;
  std::size_t params_mem_ = 0;
  std::vector<std::uint32_t> param_root_;
  std::vector<std::pair<ValueId, std::uint64_t>> scalar_args_;
  std::vector<FOp> code_;
  std::vector<const Inst*> var_index_;
  std::vector<const Inst*> shared_index_;
  std::vector<std::uint32_t> shared_root_;
  std::vector<Thread> threads_;
  std::uint32_t tpb_ = 0;
  std::uint64_t steps_ = 0;
};

} // namespace

Status interpret(const Kernel& kernel, std::array<std::uint32_t, 3> grid, const KernelArgs& args,
                 const InterpreterOptions& options) {
  return Interp(kernel, grid, args, options).run();
}

} // namespace ringkernel::ir
