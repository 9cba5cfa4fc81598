// IR basics: type and op names, capability sets, target presets, instruction properties and the Builder.
#include "ringkernel/ir/ir.hpp"

#include <utility>

#include "ringkernel/ir/types.hpp"

namespace ringkernel::ir {

// --- types ----------------------------------------------------------------------------------------------

std::string_view to_string(ScalarKind k) noexcept {
  switch (k) {
    case ScalarKind::Void: return "void";
    case ScalarKind::Bool: return "bool";
    case ScalarKind::I32: return "i32";
    case ScalarKind::U32: return "u32";
    case ScalarKind::I64: return "i64";
    case ScalarKind::U64: return "u64";
    case ScalarKind::F16: return "f16";
    case ScalarKind::BF16: return "bf16";
    case ScalarKind::F32: return "f32";
    case ScalarKind::F64: return "f64";
    case ScalarKind::F8E4M3: return "f8e4m3";
    case ScalarKind::F8E5M2: return "f8e5m2";
  }
  return "?";
}

std::string_view to_string(AddressSpace s) noexcept {
  switch (s) {
    case AddressSpace::None: return "none";
    case AddressSpace::Global: return "global";
    case AddressSpace::Shared: return "shared";
    case AddressSpace::Constant: return "constant";
    case AddressSpace::Private: return "private";
  }
  return "?";
}

std::string to_string(Type t) {
  auto elem = [&] {
    std::string s(to_string(t.scalar));
    if (t.lanes > 1) s = "vec" + std::to_string(t.lanes) + "<" + s + ">";
    return s;
  };
  switch (t.kind) {
    case TypeKind::Void: return "void";
    case TypeKind::Scalar: return elem();
    case TypeKind::Pointer: return "ptr<" + std::string(to_string(t.space)) + ", " + elem() + ">";
    case TypeKind::Ring: return "ring";
  }
  return "?";
}

namespace {
constexpr std::string_view kCapNames[] = {"f16",    "bf16",      "f64",       "int64",    "int64_atomics",
                                          "int64_atomic_accumulate", "fp8", "subgroups", "grid_sync",
                                          "clusters", "messaging"};
static_assert(std::size(kCapNames) == static_cast<std::size_t>(Capability::Count_));
} // namespace

std::string_view to_string(Capability c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < std::size(kCapNames) ? kCapNames[i] : "?";
}

Result<Capability> parse_capability(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kCapNames); ++i) {
    if (kCapNames[i] == name) return static_cast<Capability>(i);
  }
  std::string known;
  for (auto n : kCapNames) known += (known.empty() ? "" : ", ") + std::string(n);
  return make_error(ErrorCode::InvalidArgument, "unknown capability '" + std::string(name.substr(0, 64)) +
                                                    "' (known: " + known + ")", "ir::parse_capability");
}

std::vector<Capability> CapabilitySet::list() const {
  std::vector<Capability> out;
  for (unsigned i = 0; i < static_cast<unsigned>(Capability::Count_); ++i) {
    if (has(static_cast<Capability>(i))) out.push_back(static_cast<Capability>(i));
  }
  return out;
}

std::string CapabilitySet::describe() const {
  std::string s;
  for (Capability c : list()) s += (s.empty() ? "" : ", ") + std::string(to_string(c));
  return s.empty() ? "none" : s;
}

std::string_view to_string(Backend b) noexcept {
  switch (b) {
    case Backend::Cuda: return "cuda";
    case Backend::Wgsl: return "wgsl";
    case Backend::Msl: return "msl";
    case Backend::Cpu: return "cpu";
  }
  return "?";
}

Target target_preset(TargetId id) {
  using C = Capability;
  Target t;
  t.id = id;
  switch (id) {
    case TargetId::CudaSm80:
      t.backend = Backend::Cuda;
      t.name = "cuda-sm80";
      t.caps = {C::F16, C::BF16, C::F64, C::Int64, C::Int64Atomics, C::Int64AtomicAccumulate, C::Subgroups,
                C::GridSync, C::Messaging};
      break;
    case TargetId::CudaSm90:
      t.backend = Backend::Cuda;
      t.name = "cuda-sm90";
      t.caps = {C::F16,       C::BF16,     C::F64,      C::Int64,    C::Int64Atomics, C::Int64AtomicAccumulate,
                C::Subgroups, C::GridSync, C::Clusters, C::Fp8,      C::Messaging};
      break;
    case TargetId::WebGpu:
    case TargetId::WebGpuSubgroups:
      t.backend = Backend::Wgsl;
      t.name = id == TargetId::WebGpu ? "webgpu" : "webgpu-subgroups";
      // WGSL has no 64-bit integers: they are emulated as vec2<u32>, and 64-bit atomics as two 32-bit words
      // (only accumulation with an unused result is exact that way).
      t.caps = {C::Int64, C::Int64AtomicAccumulate, C::Messaging};
      t.emulated = {C::Int64, C::Int64AtomicAccumulate};
      if (id == TargetId::WebGpuSubgroups) t.caps.add(C::Subgroups);
      t.subgroup_size = 4;  // WebGPU's minimum; devices use 4..128 lanes, so only this much can be assumed
      break;
    case TargetId::MetalApple:
      t.backend = Backend::Msl;
      t.name = "metal-apple";
      t.caps = {C::F16, C::BF16, C::Int64, C::Int64AtomicAccumulate, C::Subgroups, C::Messaging};
      t.emulated = {C::Int64AtomicAccumulate};
      break;
    case TargetId::Interpreter:
      t.backend = Backend::Cpu;
      t.name = "interpreter";
      t.caps = CapabilitySet((1u << static_cast<unsigned>(C::Count_)) - 1u);
      break;
  }
  return t;
}

std::vector<Target> all_targets() {
  std::vector<Target> out;
  for (unsigned i = 0; i <= static_cast<unsigned>(TargetId::Interpreter); ++i) {
    out.push_back(target_preset(static_cast<TargetId>(i)));
  }
  return out;
}

Result<Target> target_by_name(std::string_view name) {
  std::string known;
  for (auto& t : all_targets()) {
    if (t.name == name) return t;
    known += (known.empty() ? "" : ", ") + t.name;
  }
  return make_error(ErrorCode::InvalidArgument,
                    "unknown target '" + std::string(name.substr(0, 64)) + "' (known: " + known + ")",
                    "ir::target_by_name");
}

// --- ops ------------------------------------------------------------------------------------------------

namespace {
struct OpInfo {
  std::string_view name;
  std::vector<std::string_view> variants;
};

const std::vector<OpInfo>& op_table() {
  static const std::vector<OpInfo> table = [] {
    std::vector<OpInfo> t(static_cast<std::size_t>(Op::Count_));
    auto set = [&](Op op, std::string_view name, std::vector<std::string_view> v = {}) {
      t[static_cast<std::size_t>(op)] = {name, std::move(v)};
    };
    const std::vector<std::string_view> dims = {"x", "y", "z"};
    set(Op::Const, "const");
    set(Op::Add, "add");
    set(Op::Sub, "sub");
    set(Op::Mul, "mul");
    set(Op::Div, "div");
    set(Op::Rem, "rem");
    set(Op::Min, "min");
    set(Op::Max, "max");
    set(Op::And, "and");
    set(Op::Or, "or");
    set(Op::Xor, "xor");
    set(Op::Shl, "shl");
    set(Op::Shr, "shr");
    set(Op::Neg, "neg");
    set(Op::Not, "not");
    set(Op::Cmp, "cmp", {"eq", "ne", "lt", "le", "gt", "ge"});
    set(Op::Select, "select");
    set(Op::Cast, "cast");
    set(Op::Bitcast, "bitcast");
    set(Op::Vec, "vec");
    set(Op::Extract, "extract");
    set(Op::Math, "math",
        {"sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "floor", "ceil", "abs", "fma", "pow"});
    set(Op::PtrAdd, "ptr_add");
    set(Op::Load, "load");
    set(Op::Store, "store");
    set(Op::Var, "var");
    set(Op::Shared, "shared");
    set(Op::ThreadId, "thread_id", dims);
    set(Op::BlockId, "block_id", dims);
    set(Op::BlockDim, "block_dim", dims);
    set(Op::GridDim, "grid_dim", dims);
    set(Op::GlobalId, "global_id", dims);
    set(Op::LaneId, "lane_id");
    set(Op::WarpId, "warp_id");
    set(Op::WarpSize, "warp_size");
    set(Op::Barrier, "barrier");
    set(Op::Fence, "fence", {"block", "device", "system"});
    set(Op::GridSync, "grid_sync");
    set(Op::Atomic, "atomic", {"add", "sub", "min", "max", "and", "or", "xor", "exchange"});
    set(Op::AtomicCas, "atomic_cas");
    set(Op::AtomicLoad, "atomic_load");
    set(Op::AtomicStore, "atomic_store");
    set(Op::Shuffle, "shuffle", {"idx", "xor", "up", "down"});
    set(Op::Vote, "vote", {"any", "all", "ballot"});
    set(Op::Reduce, "reduce", {"add", "min", "max", "and", "or", "xor"});
    set(Op::Scan, "scan", {"inclusive_add", "exclusive_add"});
    set(Op::H2kDequeue, "h2k_dequeue");
    set(Op::K2hEnqueue, "k2h_enqueue");
    set(Op::K2kSend, "k2k_send");
    set(Op::K2kRecv, "k2k_recv");
    set(Op::HlcNow, "hlc_now");
    set(Op::HlcTick, "hlc_tick");
    set(Op::HlcUpdate, "hlc_update");
    set(Op::If, "if");
    set(Op::For, "for");
    set(Op::Loop, "loop");
    set(Op::Break, "break");
    set(Op::Continue, "continue");
    set(Op::Return, "return");
    return t;
  }();
  return table;
}
} // namespace

std::string_view op_name(Op op) noexcept {
  const auto i = static_cast<std::size_t>(op);
  return i < op_table().size() ? op_table()[i].name : "?";
}
unsigned op_variant_count(Op op) noexcept {
  const auto i = static_cast<std::size_t>(op);
  return i < op_table().size() ? static_cast<unsigned>(op_table()[i].variants.size()) : 0;
}
std::string_view op_variant_name(Op op, unsigned v) noexcept {
  const auto i = static_cast<std::size_t>(op);
  if (i >= op_table().size() || v >= op_table()[i].variants.size()) return {};
  return op_table()[i].variants[v];
}

const Kernel* Module::find(std::string_view name) const noexcept {
  for (const auto& k : kernels) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

bool is_pure(const Inst& inst) noexcept {
  switch (inst.op) {
    case Op::Const: case Op::Add: case Op::Sub: case Op::Mul: case Op::Min: case Op::Max: case Op::And:
    case Op::Or: case Op::Xor: case Op::Shl: case Op::Shr: case Op::Neg: case Op::Not: case Op::Cmp:
    case Op::Select: case Op::Cast: case Op::Bitcast: case Op::Vec: case Op::Extract: case Op::Math:
    case Op::PtrAdd: case Op::ThreadId: case Op::BlockId: case Op::BlockDim: case Op::GridDim:
    case Op::GlobalId: case Op::LaneId: case Op::WarpId: case Op::WarpSize:
      return true;
    // Integer division can fault (division by zero is reported), so it is only pure for floats; the caller
    // cannot see the type here, so keep it conservative.
    default:
      return false;
  }
}

bool is_collective(Op op) noexcept {
  return op == Op::Barrier || op == Op::GridSync || op == Op::Shuffle || op == Op::Vote || op == Op::Reduce ||
         op == Op::Scan;
}

void walk(const Region& region, const std::function<void(const Inst&)>& fn) {
  for (const auto& inst : region.insts) {
    fn(inst);
    for (const auto& r : inst.regions) walk(r, fn);
  }
}
void walk(Region& region, const std::function<void(Inst&)>& fn) {
  for (auto& inst : region.insts) {
    fn(inst);
    for (auto& r : inst.regions) walk(r, fn);
  }
}

// --- Builder --------------------------------------------------------------------------------------------

Builder::Builder(std::string name, std::array<std::uint32_t, 3> workgroup) {
  kernel_.name = std::move(name);
  kernel_.workgroup = workgroup;
  stack_.push_back(&kernel_.body);
}

Region& Builder::current() { return *stack_.back(); }

ValueId Builder::new_value(Type t, std::string name) {
  const auto id = static_cast<ValueId>(kernel_.values.size());
  if (name.empty()) name = "v" + std::to_string(id);
  // Names must be unique in the text form; a clash gets the id appended.
  for (const auto& v : kernel_.values) {
    if (v.name == name) {
      name += "_" + std::to_string(id);
      break;
    }
  }
  kernel_.values.push_back({t, std::move(name)});
  return id;
}

Value Builder::name(Value v, std::string name) {
  if (v.id >= kernel_.values.size() || name.empty()) return v;
  for (const auto& other : kernel_.values) {
    if (other.name == name) {
      name += "_" + std::to_string(v.id);
      break;
    }
  }
  kernel_.values[v.id].name = std::move(name);
  return v;
}

Value Builder::emit(Inst inst, Type result_type, std::string name) {
  Value out;
  if (!result_type.is_void()) {
    inst.result = new_value(result_type, std::move(name));
    out = {inst.result, result_type};
  }
  current().insts.push_back(std::move(inst));
  return out;
}

Value Builder::param(std::string name, Type type) {
  const ValueId id = new_value(type, std::move(name));
  kernel_.params.push_back(id);
  return {id, type};
}

void Builder::declare(Capability cap) { kernel_.declared_caps.add(cap); }

Value Builder::const_int(Type type, std::int64_t value) {
  Inst i;
  i.op = Op::Const;
  i.imm.present = true;
  i.imm.i = value;
  return emit(std::move(i), type);
}

Value Builder::const_float(Type type, double value) {
  Inst i;
  i.op = Op::Const;
  i.imm.present = true;
  i.imm.is_float = true;
  i.imm.f = value;
  return emit(std::move(i), type);
}

namespace {
Inst make(Op op, std::initializer_list<Value> operands, std::uint8_t variant = 0) {
  Inst i;
  i.op = op;
  i.variant = variant;
  for (const Value& v : operands) i.operands.push_back(v.id);
  return i;
}
} // namespace

Value Builder::binary(Op op, Value a, Value b) { return emit(make(op, {a, b}), a.type); }
Value Builder::unary(Op op, Value a) { return emit(make(op, {a}), a.type); }
Value Builder::cmp(CmpPred pred, Value a, Value b) {
  return emit(make(Op::Cmp, {a, b}, static_cast<std::uint8_t>(pred)), Type::bool_());
}
Value Builder::select(Value c, Value a, Value b) { return emit(make(Op::Select, {c, a, b}), a.type); }
Value Builder::cast(Value v, Type to) { return emit(make(Op::Cast, {v}), to); }
Value Builder::bitcast(Value v, Type to) { return emit(make(Op::Bitcast, {v}), to); }

Value Builder::vec(const std::vector<Value>& elems, std::uint8_t lanes) {
  Inst i;
  i.op = Op::Vec;
  for (const auto& e : elems) i.operands.push_back(e.id);
  const std::uint8_t n = lanes != 0 ? lanes : static_cast<std::uint8_t>(elems.size());
  const ScalarKind k = elems.empty() ? ScalarKind::F32 : elems.front().type.scalar;
  return emit(std::move(i), Type::vec(k, n));
}

Value Builder::extract(Value v, unsigned lane) {
  Inst i = make(Op::Extract, {v});
  i.imm.present = true;
  i.imm.i = lane;
  return emit(std::move(i), v.type.lane_type());
}

Value Builder::math(MathFn fn, const std::vector<Value>& args) {
  Inst i;
  i.op = Op::Math;
  i.variant = static_cast<std::uint8_t>(fn);
  for (const auto& a : args) i.operands.push_back(a.id);
  return emit(std::move(i), args.empty() ? Type::f32() : args.front().type);
}

Value Builder::ptr_add(Value ptr, Value index) { return emit(make(Op::PtrAdd, {ptr, index}), ptr.type); }
Value Builder::load(Value ptr) { return emit(make(Op::Load, {ptr}), ptr.type.element()); }
void Builder::store(Value ptr, Value value) { emit(make(Op::Store, {ptr, value}), Type::void_()); }

Value Builder::var(Type elem, std::uint32_t count, std::string name) {
  Inst i;
  i.op = Op::Var;
  i.imm.present = true;
  i.imm.i = count;
  return emit(std::move(i), Type::ptr(AddressSpace::Private, elem), std::move(name));
}

Value Builder::shared(Type elem, std::uint32_t count, std::string name) {
  Inst i;
  i.op = Op::Shared;
  i.imm.present = true;
  i.imm.i = count;
  return emit(std::move(i), Type::ptr(AddressSpace::Shared, elem), std::move(name));
}

Value Builder::builtin(Op op, Dim d) { return emit(make(op, {}, static_cast<std::uint8_t>(d)), Type::u32()); }
Value Builder::subgroup_builtin(Op op) { return emit(make(op, {}), Type::u32()); }
void Builder::barrier() { emit(make(Op::Barrier, {}), Type::void_()); }
void Builder::fence(FenceScope scope) { emit(make(Op::Fence, {}, static_cast<std::uint8_t>(scope)), Type::void_()); }
void Builder::grid_sync() { emit(make(Op::GridSync, {}), Type::void_()); }

Value Builder::atomic(AtomicOp op, Value ptr, Value v) {
  return emit(make(Op::Atomic, {ptr, v}, static_cast<std::uint8_t>(op)), ptr.type.element());
}
Value Builder::atomic_cas(Value ptr, Value expected, Value desired) {
  return emit(make(Op::AtomicCas, {ptr, expected, desired}), ptr.type.element());
}
Value Builder::atomic_load(Value ptr) { return emit(make(Op::AtomicLoad, {ptr}), ptr.type.element()); }
void Builder::atomic_store(Value ptr, Value v) { emit(make(Op::AtomicStore, {ptr, v}), Type::void_()); }

Value Builder::shuffle(ShuffleKind kind, Value v, Value lane) {
  return emit(make(Op::Shuffle, {v, lane}, static_cast<std::uint8_t>(kind)), v.type);
}
Value Builder::vote(VoteKind kind, Value pred) {
  return emit(make(Op::Vote, {pred}, static_cast<std::uint8_t>(kind)),
              kind == VoteKind::Ballot ? Type::u32() : Type::bool_());
}
Value Builder::reduce(ReduceOp op, Value v) { return emit(make(Op::Reduce, {v}, static_cast<std::uint8_t>(op)), v.type); }
Value Builder::scan(ScanKind kind, Value v) { return emit(make(Op::Scan, {v}, static_cast<std::uint8_t>(kind)), v.type); }

Value Builder::h2k_dequeue(Value ring, Value buf, std::uint32_t words) {
  Inst i = make(Op::H2kDequeue, {ring, buf});
  i.imm.present = true;
  i.imm.i = words;
  return emit(std::move(i), Type::u32());
}
Value Builder::k2h_enqueue(Value ring, Value buf) { return emit(make(Op::K2hEnqueue, {ring, buf}), Type::u32()); }
Value Builder::k2k_send(Value ring, Value buf) { return emit(make(Op::K2kSend, {ring, buf}), Type::u32()); }
Value Builder::k2k_recv(Value ring, Value buf, std::uint32_t words) {
  Inst i = make(Op::K2kRecv, {ring, buf});
  i.imm.present = true;
  i.imm.i = words;
  return emit(std::move(i), Type::u32());
}
Value Builder::hlc_now(Value clock) { return emit(make(Op::HlcNow, {clock}), Type::u64()); }
Value Builder::hlc_tick(Value clock, Value phys_ms) { return emit(make(Op::HlcTick, {clock, phys_ms}), Type::u64()); }
Value Builder::hlc_update(Value clock, Value received, Value phys_ms) {
  return emit(make(Op::HlcUpdate, {clock, received, phys_ms}), Type::u64());
}

void Builder::if_(Value cond, const std::function<void()>& then_fn, const std::function<void()>& else_fn) {
  Inst i = make(Op::If, {cond});
  i.regions.resize(2);
  current().insts.push_back(std::move(i));
  Inst& placed = current().insts.back();
  // Regions of `placed` are stable while we only append inside them.
  Region* then_r = &placed.regions[0];
  Region* else_r = &placed.regions[1];
  stack_.push_back(then_r);
  if (then_fn) then_fn();
  stack_.pop_back();
  stack_.push_back(else_r);
  if (else_fn) else_fn();
  stack_.pop_back();
}

void Builder::for_(Value lo, Value hi, Value step, const std::function<void(Value)>& body, std::string iv_name) {
  Inst i = make(Op::For, {lo, hi, step});
  i.regions.resize(1);
  i.region_arg = new_value(lo.type, iv_name.empty() ? std::string() : std::move(iv_name));
  const Value iv{i.region_arg, lo.type};
  current().insts.push_back(std::move(i));
  stack_.push_back(&current().insts.back().regions[0]);
  if (body) body(iv);
  stack_.pop_back();
}

void Builder::loop(const std::function<void()>& body) {
  Inst i = make(Op::Loop, {});
  i.regions.resize(1);
  current().insts.push_back(std::move(i));
  stack_.push_back(&current().insts.back().regions[0]);
  if (body) body();
  stack_.pop_back();
}

void Builder::break_() { emit(make(Op::Break, {}), Type::void_()); }
void Builder::continue_() { emit(make(Op::Continue, {}), Type::void_()); }
void Builder::return_() { emit(make(Op::Return, {}), Type::void_()); }

Kernel Builder::finish() {
  Kernel out = std::move(kernel_);
  kernel_ = Kernel{};
  stack_.assign(1, &kernel_.body);
  return out;
}

} // namespace ringkernel::ir
