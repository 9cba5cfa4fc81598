// Metal Shading Language lowering (MSL 3.2, Apple silicon). Buffers and rings are `device` pointers with
// [[buffer(n)]] indices in parameter order; scalar parameters are packed as 32-bit words into one `constant`
// buffer after them. Workgroup memory is `threadgroup`, subgroup operations are simdgroup functions. Metal has
// no 64-bit atomics on these devices, so ring indices are read and written as two 32-bit words (low word
// written first, high word re-read until stable: a torn read can only under-estimate a free-running index,
// which is the safe direction for both producer and consumer).
#include <cstring>

#include "codegen/cfamily.hpp"
#include "ir/eval.hpp"

namespace ringkernel::ir::codegen {

namespace {

std::string space_kw(AddressSpace s) {
  switch (s) {
    case AddressSpace::Global: return "device";
    case AddressSpace::Shared: return "threadgroup";
    case AddressSpace::Constant: return "constant";
    default: return "thread";
  }
}

class MslEmitter final : public CEmitter {
public:
  using CEmitter::CEmitter;

private:
  Backend backend() const override { return Backend::Msl; }

  std::string scalar_type(ScalarKind k) const override {
    switch (k) {
      case ScalarKind::Bool: return "bool";
      case ScalarKind::I32: return "int";
      case ScalarKind::U32: return "uint";
      case ScalarKind::I64: return "long";
      case ScalarKind::U64: return "ulong";
      case ScalarKind::F16: return "half";
      case ScalarKind::BF16: return "bfloat";
      case ScalarKind::F32: return "float";
      default: return "void";  // f64 and fp8 are rejected by the capability check
    }
  }

  std::string pointer_type(Type p) const override { return space_kw(p.space) + " " + value_type(p.element()) + "*"; }

  std::string literal(ScalarKind k, std::uint64_t lane) const override {
    switch (k) {
      case ScalarKind::Bool: return lane != 0 ? "true" : "false";
      case ScalarKind::I32: {
        const auto v = static_cast<std::int32_t>(lane);
        return v == INT32_MIN ? "(-2147483647 - 1)" : std::to_string(v);
      }
      case ScalarKind::U32: return std::to_string(static_cast<std::uint32_t>(lane)) + "u";
      case ScalarKind::I64: {
        const auto v = static_cast<std::int64_t>(lane);
        return v == INT64_MIN ? "(-9223372036854775807L - 1)" : std::to_string(v) + "L";
      }
      case ScalarKind::U64: return std::to_string(lane) + "UL";
      default: break;
    }
    const double d = eval::as_f(lane);
    std::string f = float_literal(d, true);
    if (f.empty()) f = "as_type<float>(" + std::to_string(std::bit_cast<std::uint32_t>(static_cast<float>(d))) + "u)";
    else f += "f";
    if (k == ScalarKind::F16) return "half(" + f + ")";
    if (k == ScalarKind::BF16) return "bfloat(" + f + ")";
    return f;
  }

  std::string convert(ScalarKind from, ScalarKind to, const std::string& e) const override {
    if (from == to) return e;
    if (to == ScalarKind::Bool) return "(" + e + " != 0)";
    if (from == ScalarKind::Bool) return scalar_type(to) + "(" + e + " ? 1 : 0)";
    if (is_integer(to) && is_float(from)) {
      // MSL leaves out-of-range float->int conversions undefined: saturate like the IR says.
      return "rk_f2i<" + scalar_type(to) + ">(float(" + e + "))";
    }
    return scalar_type(to) + "(" + e + ")";
  }

  std::string bitcast(ScalarKind, ScalarKind to, const std::string& e) const override {
    return "as_type<" + scalar_type(to) + ">(" + e + ")";
  }

  std::string fmin_fmax(bool is_max, ScalarKind k, const std::string& a, const std::string& b) const override {
    return std::string(is_max ? "rk_fmax(" : "rk_fmin(") + a + ", " + b + ")" + (k == ScalarKind::F32 ? "" : "");
  }

  std::string math(MathFn fn, ScalarKind k, const std::vector<std::string>& args) const override {
    static constexpr const char* kNames[] = {"sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos",
                                             "tanh", "floor", "ceil", "fabs", "fma", "pow"};
    // precise:: keeps fast-math approximations out of the parity comparison; narrow types go through float.
    std::string call = std::string("precise::") + kNames[static_cast<int>(fn)] + "(";
    for (std::size_t i = 0; i < args.size(); ++i) call += (i ? ", " : "") + (k == ScalarKind::F32 ? args[i] : "float(" + args[i] + ")");
    call += ")";
    return k == ScalarKind::F32 ? call : scalar_type(k) + "(" + call + ")";
  }

  std::string shared_decl(Type elem, const std::string& name, std::int64_t count) const override {
    return "threadgroup " + value_type(elem) + " " + name + "[" + std::to_string(count) + "];";
  }
  std::string private_decl(Type elem, const std::string& name, std::int64_t count) const override {
    return "thread " + value_type(elem) + " " + name + "[" + std::to_string(count) + "] = {};";
  }

  std::string builtin(Op op, Dim d) const override {
    static constexpr const char* kDims[] = {"x", "y", "z"};
    const std::string c = kDims[static_cast<int>(d)];
    switch (op) {
      case Op::ThreadId: return "rk_tid." + c;
      case Op::BlockId: return "rk_bid." + c;
      case Op::BlockDim: return "rk_bdim." + c;
      case Op::GridDim: return "rk_gdim." + c;
      case Op::GlobalId: return "(rk_bid." + c + " * rk_bdim." + c + " + rk_tid." + c + ")";
      case Op::LaneId: return "rk_lane";
      case Op::WarpId: return "rk_warp";
      default: return "rk_wsize";
    }
  }

  void barrier() override { line("threadgroup_barrier(mem_flags::mem_threadgroup | mem_flags::mem_device);"); }
  void fence(FenceScope s) override {
    // Metal has no system scope; device scope covers every agent sharing a unified-memory buffer on Apple GPUs.
    line(s == FenceScope::Block ? "atomic_thread_fence(mem_flags::mem_threadgroup, memory_order_seq_cst, thread_scope_threadgroup);"
                                : "atomic_thread_fence(mem_flags::mem_device, memory_order_seq_cst, thread_scope_device);");
  }
  void grid_sync() override { line("/* grid_sync: rejected by the capability check */"); }

  Status atomic(const Inst& inst) override {
    const Type pt = k_.type_of(inst.operands[0]);
    const Type et = pt.element();
    const std::string sp = space_kw(pt.space);
    const std::string p = id(inst.operands[0]);
    auto v = [&](std::size_t i) { return id(inst.operands[i]); };
    if (is_int64(et.scalar)) {
      // Only accumulation with an unused result reaches here (Int64AtomicAccumulate): two 32-bit words.
      static constexpr const char* kFns[] = {"rk_atomic64_add", "rk_atomic64_sub", "", "", "rk_atomic64_and", "rk_atomic64_or", "rk_atomic64_xor"};
      line(std::string(kFns[inst.variant]) + "((" + sp + " atomic_uint*)" + p + ", as_type<ulong>(" + v(1) + "));");
      return {};
    }
    const std::string at = "(" + sp + (et.scalar == ScalarKind::I32 ? " atomic_int*)" : " atomic_uint*)") + p;
    switch (inst.op) {
      case Op::AtomicLoad: define(inst, "atomic_load_explicit(" + at + ", memory_order_relaxed)"); return {};
      case Op::AtomicStore: line("atomic_store_explicit(" + at + ", " + v(1) + ", memory_order_relaxed);"); return {};
      case Op::AtomicCas: define(inst, "rk_cas(" + at + ", " + v(1) + ", " + v(2) + ")"); return {};
      default: break;
    }
    static constexpr const char* kFns[] = {"atomic_fetch_add_explicit", "atomic_fetch_sub_explicit", "atomic_fetch_min_explicit",
                                           "atomic_fetch_max_explicit", "atomic_fetch_and_explicit", "atomic_fetch_or_explicit",
                                           "atomic_fetch_xor_explicit", "atomic_exchange_explicit"};
    define(inst, std::string(kFns[inst.variant]) + "(" + at + ", " + v(1) + ", memory_order_relaxed)");
    return {};
  }

  std::string subgroup(const Inst& inst) const override {
    const std::string a = id(inst.operands[0]);
    switch (inst.op) {
      case Op::Shuffle: {
        const std::string b = id(inst.operands[1]);
        // Out-of-range sources return the caller's value, as in the interpreter and CUDA.
        switch (static_cast<ShuffleKind>(inst.variant)) {
          case ShuffleKind::Idx: return "simd_shuffle(" + a + ", ushort(" + b + " % rk_wsize))";
          case ShuffleKind::Xor: return "((rk_lane ^ " + b + ") < rk_wsize ? simd_shuffle_xor(" + a + ", ushort(" + b + ")) : " + a + ")";
          case ShuffleKind::Up: return "(rk_lane >= " + b + " ? simd_shuffle_up(" + a + ", ushort(" + b + ")) : " + a + ")";
          default: return "(rk_lane + " + b + " < rk_wsize ? simd_shuffle_down(" + a + ", ushort(" + b + ")) : " + a + ")";
        }
      }
      case Op::Vote:
        if (inst.variant == 0) return "simd_any(" + a + ")";
        if (inst.variant == 1) return "simd_all(" + a + ")";
        return "uint(static_cast<simd_vote::vote_t>(simd_ballot(" + a + ")))";
      case Op::Reduce: {
        static constexpr const char* kFns[] = {"simd_sum", "simd_min", "simd_max", "simd_and", "simd_or", "simd_xor"};
        return std::string(kFns[inst.variant]) + "(" + a + ")";
      }
      default:
        return std::string(inst.variant == 0 ? "simd_prefix_inclusive_sum(" : "simd_prefix_exclusive_sum(") + a + ")";
    }
  }

  std::string ring_call(const Inst& inst) const override {
    const std::string r = "(device atomic_uint*)" + id(inst.operands[0]), b = id(inst.operands[1]);
    switch (inst.op) {
      case Op::H2kDequeue: case Op::K2kRecv: return "rk_mpsc_pop(" + r + ", " + b + ", " + std::to_string(inst.imm.i) + "u)";
      default: return "rk_spsc_push(" + r + ", " + b + ")";
    }
  }

  std::string hlc_call(const Inst& inst) const override {
    const std::string c = id(inst.operands[0]);
    switch (inst.op) {
      case Op::HlcNow: return "(*" + c + ")";
      case Op::HlcTick: return "rk_hlc_tick(" + c + ", " + id(inst.operands[1]) + ")";
      default: return "rk_hlc_update(" + c + ", " + id(inst.operands[1]) + ", " + id(inst.operands[2]) + ")";
    }
  }

  std::string prelude() const override {
    const Layout& L = runtime_layout();
    std::string s = "// Generated by RingKernel from IR kernel '" + k_.name + "' for target '" + t_.name + "'.\n";
    s += "// Metal Shading Language 3.2 (Apple silicon).\n#include <metal_stdlib>\nusing namespace metal;\n";
    s += R"(
template <typename T, int N> struct rk_vec { T v[N]; };
template <typename T> T rk_sdiv(T a, T b) { return b == T(-1) ? T(0) - a : a / b; }
template <typename T> T rk_srem(T a, T b) { return b == T(-1) ? T(0) : a % b; }
// IEEE fmin/fmax: a NaN operand yields the other one.
template <typename T> T rk_fmin(T a, T b) { return a != a ? b : (b != b ? a : (b < a ? b : a)); }
template <typename T> T rk_fmax(T a, T b) { return a != a ? b : (b != b ? a : (b > a ? b : a)); }
// Float -> integer: truncate, saturate, NaN -> 0 (the IR's rule).
template <typename I> I rk_f2i(float x);
template <> int rk_f2i<int>(float x) { return x != x ? 0 : x <= -2147483648.0f ? int(-2147483647 - 1) : x >= 2147483647.0f ? 2147483647 : int(x); }
template <> uint rk_f2i<uint>(float x) { return x != x || x <= 0.0f ? 0u : x >= 4294967295.0f ? 4294967295u : uint(x); }
template <> long rk_f2i<long>(float x) { return x != x ? 0L : x <= -9223372036854775808.0f ? long(-9223372036854775807L - 1) : x >= 9223372036854775807.0f ? 9223372036854775807L : long(x); }
template <> ulong rk_f2i<ulong>(float x) { return x != x || x <= 0.0f ? 0UL : x >= 18446744073709551615.0f ? 18446744073709551615UL : ulong(x); }
// Strong compare-exchange from Metal's weak one.
template <typename A, typename T> T rk_cas(A p, T expected, T desired) {
  T seen = expected;
  while (!atomic_compare_exchange_weak_explicit(p, &seen, desired, memory_order_relaxed, memory_order_relaxed) && seen == expected) {
  }
  return seen;
}
// 64-bit accumulation on two 32-bit words (low word first); the final value is exact, no old value is returned.
template <typename A> void rk_atomic64_add(A w, ulong v) {
  const uint lo = uint(v);
  const uint old = atomic_fetch_add_explicit(w, lo, memory_order_relaxed);
  const uint carry = (old + lo) < old ? 1u : 0u;
  atomic_fetch_add_explicit(w + 1, uint(v >> 32) + carry, memory_order_relaxed);
}
template <typename A> void rk_atomic64_sub(A w, ulong v) { rk_atomic64_add(w, ulong(0) - v); }
template <typename A> void rk_atomic64_and(A w, ulong v) {
  atomic_fetch_and_explicit(w, uint(v), memory_order_relaxed);
  atomic_fetch_and_explicit(w + 1, uint(v >> 32), memory_order_relaxed);
}
template <typename A> void rk_atomic64_or(A w, ulong v) {
  atomic_fetch_or_explicit(w, uint(v), memory_order_relaxed);
  atomic_fetch_or_explicit(w + 1, uint(v >> 32), memory_order_relaxed);
}
template <typename A> void rk_atomic64_xor(A w, ulong v) {
  atomic_fetch_xor_explicit(w, uint(v), memory_order_relaxed);
  atomic_fetch_xor_explicit(w + 1, uint(v >> 32), memory_order_relaxed);
}
)";
    if (uses(Capability::Messaging)) {
      auto n = [](std::uint32_t v) { return std::to_string(v / 4) + "u"; };
      s += "// Ring layout of ringkernel/ring.hpp and message.hpp, in 32-bit words.\n";
      s += "constant uint RK_RING_HEAD_W = " + n(L.head) + ";\nconstant uint RK_RING_TAIL_W = " + n(L.tail) +
           ";\nconstant uint RK_RING_CAPACITY_W = " + n(L.capacity) + ";\nconstant uint RK_RING_SLOT_SIZE_W = " + n(L.slot_size) +
           ";\nconstant uint RK_RING_SEQ_OFFSET_W = " + n(L.seq_offset) + ";\nconstant uint RK_RING_SLOTS_OFFSET_W = " +
           n(L.slots_offset) + ";\nconstant uint RK_HEADER_WORDS = " + n(L.header_bytes) + ";\nconstant uint RK_PAYLOAD_LEN_WORD = " +
           n(L.payload_len) + ";\nconstant uint RK_HLC_LOGICAL_BITS = " + std::to_string(L.hlc_logical_bits) + "u;\n";
      s += R"(ulong rk_ld64(device atomic_uint* w) {
  for (;;) {
    const uint hi = atomic_load_explicit(w + 1, memory_order_relaxed);
    const uint lo = atomic_load_explicit(w, memory_order_relaxed);
    if (atomic_load_explicit(w + 1, memory_order_relaxed) == hi) return (ulong(hi) << 32) | ulong(lo);
  }
}
void rk_st64(device atomic_uint* w, ulong v) {
  atomic_store_explicit(w, uint(v), memory_order_relaxed);
  atomic_store_explicit(w + 1, uint(v >> 32), memory_order_relaxed);
}
void rk_release() { atomic_thread_fence(mem_flags::mem_device, memory_order_seq_cst, thread_scope_device); }
template <typename B> uint rk_mpsc_pop(device atomic_uint* r, B buf, uint words) {
  const ulong t = rk_ld64(r + RK_RING_TAIL_W);
  const uint mask = atomic_load_explicit(r + RK_RING_CAPACITY_W, memory_order_relaxed) - 1u;
  const uint slot_words = atomic_load_explicit(r + RK_RING_SLOT_SIZE_W, memory_order_relaxed) / 4u;
  const uint seq_w = atomic_load_explicit(r + RK_RING_SEQ_OFFSET_W, memory_order_relaxed) / 4u;
  const uint slots_w = atomic_load_explicit(r + RK_RING_SLOTS_OFFSET_W, memory_order_relaxed) / 4u;
  const uint idx = uint(t) & mask;
  if (rk_ld64(r + seq_w + 2u * idx) != t + 1) return 4u;
  rk_release();
  device atomic_uint* slot = r + slots_w + idx * slot_words;
  const uint len = atomic_load_explicit(slot + RK_PAYLOAD_LEN_WORD, memory_order_relaxed) & 0xffffu;
  const uint whole = RK_HEADER_WORDS + (len + 3u) / 4u;
  const uint n = whole <= words ? whole : RK_HEADER_WORDS;
  for (uint i = 0; i < n; ++i) buf[i] = atomic_load_explicit(slot + i, memory_order_relaxed);
  rk_release();
  rk_st64(r + RK_RING_TAIL_W, t + 1);
  return whole <= words ? 0u : 2u;
}
template <typename B> uint rk_spsc_push(device atomic_uint* r, B buf) {
  const uint capacity = atomic_load_explicit(r + RK_RING_CAPACITY_W, memory_order_relaxed);
  const uint slot_words = atomic_load_explicit(r + RK_RING_SLOT_SIZE_W, memory_order_relaxed) / 4u;
  const uint slots_w = atomic_load_explicit(r + RK_RING_SLOTS_OFFSET_W, memory_order_relaxed) / 4u;
  const uint len = buf[RK_PAYLOAD_LEN_WORD] & 0xffffu;
  if (len > slot_words * 4u - RK_HEADER_WORDS * 4u) return 2u;
  const ulong h = rk_ld64(r + RK_RING_HEAD_W);
  if (h - rk_ld64(r + RK_RING_TAIL_W) >= ulong(capacity)) return 3u;
  device atomic_uint* slot = r + slots_w + (uint(h) & (capacity - 1u)) * slot_words;
  const uint n = RK_HEADER_WORDS + (len + 3u) / 4u;
  for (uint i = 0; i < n; ++i) atomic_store_explicit(slot + i, buf[i], memory_order_relaxed);
  rk_release();
  rk_st64(r + RK_RING_HEAD_W, h + 1);
  return 0u;
}
template <typename P> ulong rk_hlc_tick(P clock, ulong phys_ms) {
  const ulong cur = *clock;
  const ulong wall = phys_ms << RK_HLC_LOGICAL_BITS;
  const ulong next = wall > cur ? wall : cur + 1;
  *clock = next;
  return next;
}
template <typename P> ulong rk_hlc_update(P clock, ulong received, ulong phys_ms) {
  const ulong cur = *clock;
  const ulong wall = phys_ms << RK_HLC_LOGICAL_BITS;
  const ulong seen = (cur > received ? cur : received) + 1;
  const ulong next = wall > seen ? wall : seen;
  *clock = next;
  return next;
}
)";
    }
    return s + "\n";
  }

  std::string signature(GeneratedCode& code) const override {
    std::string s = "kernel void " + k_.name + "(";
    std::string unpack;
    std::uint32_t slot = 0, words = 0;
    bool first = true;
    for (std::size_t i = 0; i < k_.params.size(); ++i) {
      const ValueId p = k_.params[i];
      const Type t = k_.type_of(p);
      ParamBinding b;
      b.param = static_cast<std::uint32_t>(i);
      if (t.is_pointer() || t.is_ring()) {
        const std::string ty = t.is_ring() ? "device uint*" : value_type(t);
        s += (first ? "" : ", ") + ty + " " + id(p) + " [[buffer(" + std::to_string(slot) + ")]]";
        first = false;
        b.slot = slot++;
      } else {
        b.scalar = true;
        b.word_offset = words;
        const std::string w0 = "rk_scalars[" + std::to_string(words) + "]";
        std::string e;
        switch (t.scalar) {
          case ScalarKind::Bool: e = w0 + " != 0u"; break;
          case ScalarKind::U32: e = w0; break;
          case ScalarKind::I64: case ScalarKind::U64:
            e = "as_type<" + scalar_type(t.scalar) + ">((ulong(rk_scalars[" + std::to_string(words + 1) + "]) << 32) | ulong(" + w0 + "))";
            break;
          case ScalarKind::F16: case ScalarKind::BF16: e = "as_type<" + scalar_type(t.scalar) + ">(ushort(" + w0 + "))"; break;
          default: e = "as_type<" + scalar_type(t.scalar) + ">(" + w0 + ")"; break;
        }
        unpack += "  const " + scalar_type(t.scalar) + " " + id(p) + " = " + e + ";\n";
        words += is_int64(t.scalar) ? 2 : 1;
      }
      code.bindings.push_back(b);
    }
    if (words != 0) {
      s += std::string(first ? "" : ", ") + "constant uint* rk_scalars [[buffer(" + std::to_string(slot) + ")]]";
      code.scalar_block_slot = static_cast<std::int32_t>(slot);
      code.scalar_block_words = words;
      first = false;
    }
    s += std::string(first ? "" : ",\n    ") +
         "uint3 rk_tid [[thread_position_in_threadgroup]], uint3 rk_bid [[threadgroup_position_in_grid]],\n"
         "    uint3 rk_bdim [[threads_per_threadgroup]], uint3 rk_gdim [[threadgroups_per_grid]],\n"
         "    uint rk_lane [[thread_index_in_simdgroup]], uint rk_warp [[simdgroup_index_in_threadgroup]],\n"
         "    uint rk_wsize [[threads_per_simdgroup]]) {\n";
    return s + unpack;
  }
};

} // namespace

Result<GeneratedCode> generate_msl(const Kernel& kernel, const Target& target) {
  MslEmitter e(kernel, target);
  return e.run();
}

} // namespace ringkernel::ir::codegen
