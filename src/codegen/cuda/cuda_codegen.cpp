// CUDA C++ lowering. The output is one self-contained translation unit for NVRTC (or nvcc): an
// `extern "C" __global__` entry point plus the helpers it uses. Ring and HLC helpers address ring memory by
// the offsets of ringkernel/ring.hpp and use system-scope ordering, because H2K/K2H rings live in mapped host
// memory (the same protocol as the CUDA backend's actor kernel).
#include <cstring>

#include "codegen/cfamily.hpp"
#include "ir/eval.hpp"

namespace ringkernel::ir::codegen {

namespace {

class CudaEmitter final : public CEmitter {
public:
  using CEmitter::CEmitter;

private:
  Backend backend() const override { return Backend::Cuda; }

  std::string scalar_type(ScalarKind k) const override {
    switch (k) {
      case ScalarKind::Bool: return "bool";
      case ScalarKind::I32: return "int";
      case ScalarKind::U32: return "unsigned int";
      case ScalarKind::I64: return "long long";
      case ScalarKind::U64: return "unsigned long long";
      case ScalarKind::F16: return "__half";
      case ScalarKind::BF16: return "__nv_bfloat16";
      case ScalarKind::F32: return "float";
      case ScalarKind::F64: return "double";
      case ScalarKind::F8E4M3: return "__nv_fp8_e4m3";
      case ScalarKind::F8E5M2: return "__nv_fp8_e5m2";
      default: return "void";
    }
  }

  std::string pointer_type(Type p) const override {
    const std::string e = value_type(p.element());
    return p.space == AddressSpace::Constant ? "const " + e + "*" : e + "*";
  }

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
        return v == INT64_MIN ? "(-9223372036854775807LL - 1)" : std::to_string(v) + "LL";
      }
      case ScalarKind::U64: return std::to_string(lane) + "ULL";
      default: break;
    }
    const double d = eval::as_f(lane);
    std::string f = float_literal(d, k != ScalarKind::F64);
    if (f.empty()) {
      // inf / nan: spell the bits.
      if (k == ScalarKind::F64) return "__longlong_as_double(" + std::to_string(std::bit_cast<std::int64_t>(d)) + "LL)";
      f = "__int_as_float(" + std::to_string(std::bit_cast<std::int32_t>(static_cast<float>(d))) + ")";
    } else if (k != ScalarKind::F64) {
      f += "f";
    }
    switch (k) {
      case ScalarKind::F16: return "__float2half_rn(" + f + ")";
      case ScalarKind::BF16: return "__float2bfloat16_rn(" + f + ")";
      case ScalarKind::F8E4M3: return "__nv_fp8_e4m3(" + f + ")";
      case ScalarKind::F8E5M2: return "__nv_fp8_e5m2(" + f + ")";
      default: return f;
    }
  }

  // Exact widening of a 16-bit/fp8 float to f32.
  std::string to_f32(ScalarKind from, const std::string& e) const {
    switch (from) {
      case ScalarKind::F16: return "__half2float(" + e + ")";
      case ScalarKind::BF16: return "__bfloat162float(" + e + ")";
      case ScalarKind::F8E4M3: case ScalarKind::F8E5M2: return "static_cast<float>(" + e + ")";
      default: return "static_cast<float>(" + e + ")";
    }
  }

  std::string convert(ScalarKind from, ScalarKind to, const std::string& e) const override {
    if (from == to) return e;
    const std::string T = scalar_type(to);
    if (to == ScalarKind::Bool) {
      if (is_float(from) && from != ScalarKind::F32 && from != ScalarKind::F64) return "(" + to_f32(from, e) + " != 0.0f)";
      return "(" + e + " != 0)";
    }
    if (from == ScalarKind::Bool) return convert(ScalarKind::I32, to, "(" + e + " ? 1 : 0)");
    if (is_integer(to)) {
      if (!is_float(from)) return "(" + T + ")(" + e + ")";  // modular, sign-extending like the interpreter
      const bool dbl = from == ScalarKind::F64;
      const std::string x = dbl ? e : (from == ScalarKind::F32 ? e : to_f32(from, e));
      const char* fn = nullptr;
      switch (to) {
        case ScalarKind::I32: fn = dbl ? "__double2int_rz" : "__float2int_rz"; break;
        case ScalarKind::U32: fn = dbl ? "__double2uint_rz" : "__float2uint_rz"; break;
        case ScalarKind::I64: fn = dbl ? "__double2ll_rz" : "__float2ll_rz"; break;
        default: fn = dbl ? "__double2ull_rz" : "__float2ull_rz"; break;
      }
      return std::string(fn) + "(" + x + ")";  // cvt.rzi saturates, NaN -> 0
    }
    // Float destination.
    switch (to) {
      case ScalarKind::F32:
        return is_float(from) && from != ScalarKind::F64 ? to_f32(from, e) : "(float)(" + e + ")";
      case ScalarKind::F64:
        return is_float(from) && from != ScalarKind::F32 ? "(double)" + to_f32(from, e) : "(double)(" + e + ")";
      case ScalarKind::F16:
        switch (from) {
          case ScalarKind::I32: return "__int2half_rn(" + e + ")";
          case ScalarKind::U32: return "__uint2half_rn(" + e + ")";
          case ScalarKind::I64: return "__ll2half_rn(" + e + ")";
          case ScalarKind::U64: return "__ull2half_rn(" + e + ")";
          case ScalarKind::F32: return "__float2half_rn(" + e + ")";
          case ScalarKind::F64: return "__double2half(" + e + ")";
          default: return "__float2half_rn(" + to_f32(from, e) + ")";
        }
      case ScalarKind::BF16:
        switch (from) {
          case ScalarKind::I32: return "__int2bfloat16_rn(" + e + ")";
          case ScalarKind::U32: return "__uint2bfloat16_rn(" + e + ")";
          case ScalarKind::I64: return "__ll2bfloat16_rn(" + e + ")";
          case ScalarKind::U64: return "__ull2bfloat16_rn(" + e + ")";
          case ScalarKind::F32: return "__float2bfloat16_rn(" + e + ")";
          case ScalarKind::F64: return "__double2bfloat16(" + e + ")";
          default: return "__float2bfloat16_rn(" + to_f32(from, e) + ")";
        }
      default:  // fp8: saturating constructors from float/double
        return T + "(" + (from == ScalarKind::F64 ? e : (is_float(from) ? to_f32(from, e) : "(float)(" + e + ")")) + ")";
    }
  }

  std::string bitcast(ScalarKind, ScalarKind to, const std::string& e) const override {
    return "rk_bitcast<" + scalar_type(to) + ">(" + e + ")";
  }

  std::string fmin_fmax(bool is_max, ScalarKind k, const std::string& a, const std::string& b) const override {
    switch (k) {
      case ScalarKind::F32: return std::string(is_max ? "fmaxf(" : "fminf(") + a + ", " + b + ")";
      case ScalarKind::F64: return std::string(is_max ? "fmax(" : "fmin(") + a + ", " + b + ")";
      default: return std::string(is_max ? "__hmax(" : "__hmin(") + a + ", " + b + ")";
    }
  }

  std::string math(MathFn fn, ScalarKind k, const std::vector<std::string>& args) const override {
    static constexpr const char* kNames[] = {"sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos",
                                             "tanh", "floor", "ceil", "fabs", "fma", "pow"};
    const std::string name = kNames[static_cast<int>(fn)];
    const bool narrow = k != ScalarKind::F32 && k != ScalarKind::F64;
    std::string call = name + (k == ScalarKind::F64 ? "" : "f") + "(";
    for (std::size_t i = 0; i < args.size(); ++i) call += (i ? ", " : "") + (narrow ? to_f32(k, args[i]) : args[i]);
    call += ")";
    return narrow ? convert(ScalarKind::F32, k, call) : call;
  }

  std::string shared_decl(Type elem, const std::string& name, std::int64_t count) const override {
    return "__shared__ " + value_type(elem) + " " + name + "[" + std::to_string(count) + "];";
  }
  std::string private_decl(Type elem, const std::string& name, std::int64_t count) const override {
    return value_type(elem) + " " + name + "[" + std::to_string(count) + "] = {};";
  }

  std::string builtin(Op op, Dim d) const override {
    static constexpr const char* kDims[] = {"x", "y", "z"};
    const std::string c = kDims[static_cast<int>(d)];
    switch (op) {
      case Op::ThreadId: return "threadIdx." + c;
      case Op::BlockId: return "blockIdx." + c;
      case Op::BlockDim: return "blockDim." + c;
      case Op::GridDim: return "gridDim." + c;
      case Op::GlobalId: return "(blockIdx." + c + " * blockDim." + c + " + threadIdx." + c + ")";
      case Op::LaneId: return "(rk_local_id() & 31u)";
      case Op::WarpId: return "(rk_local_id() >> 5)";
      default: return "32u";
    }
  }

  void barrier() override { line("__syncthreads();"); }
  void fence(FenceScope s) override {
    line(s == FenceScope::Block ? "__threadfence_block();" : s == FenceScope::Device ? "__threadfence();" : "__threadfence_system();");
  }
  void grid_sync() override { line("cooperative_groups::this_grid().sync();"); }

  Status atomic(const Inst& inst) override {
    const Type et = k_.type_of(inst.operands[0]).element();
    const std::string p = id(inst.operands[0]);
    auto v = [&](std::size_t i) { return id(inst.operands[i]); };
    const bool wide = is_int64(et.scalar);
    const std::string T = scalar_type(et.scalar);
    // Signed 64-bit RMWs other than min/max go through the unsigned overloads (same bits).
    const std::string up = wide && is_signed(et.scalar) ? "(unsigned long long*)" + p : p;
    const std::string uv = [&](const std::string& x) { return wide && is_signed(et.scalar) ? "(unsigned long long)" + x : x; }(inst.operands.size() > 1 ? v(1) : "");
    switch (inst.op) {
      case Op::AtomicLoad: define(inst, "*(volatile " + T + "*)" + p); return {};
      case Op::AtomicStore: line("*(volatile " + T + "*)" + p + " = " + v(1) + ";"); return {};
      case Op::AtomicCas:
        define(inst, "(" + T + ")atomicCAS(" + up + ", " + (wide && is_signed(et.scalar) ? "(unsigned long long)" + v(1) : v(1)) + ", " +
                         (wide && is_signed(et.scalar) ? "(unsigned long long)" + v(2) : v(2)) + ")");
        return {};
      default: break;
    }
    std::string call;
    switch (static_cast<AtomicOp>(inst.variant)) {
      case AtomicOp::Add: call = "atomicAdd(" + up + ", " + uv + ")"; break;
      case AtomicOp::Sub:
        call = wide ? "atomicAdd((unsigned long long*)" + p + ", 0ULL - (unsigned long long)" + v(1) + ")" : "atomicSub(" + p + ", " + v(1) + ")";
        break;
      case AtomicOp::Min: call = "atomicMin(" + p + ", " + v(1) + ")"; break;
      case AtomicOp::Max: call = "atomicMax(" + p + ", " + v(1) + ")"; break;
      case AtomicOp::And: call = "atomicAnd(" + up + ", " + uv + ")"; break;
      case AtomicOp::Or: call = "atomicOr(" + up + ", " + uv + ")"; break;
      case AtomicOp::Xor: call = "atomicXor(" + up + ", " + uv + ")"; break;
      case AtomicOp::Exchange: call = "atomicExch(" + up + ", " + uv + ")"; break;
    }
    define(inst, "(" + T + ")" + call);
    return {};
  }

  std::string subgroup(const Inst& inst) const override {
    const std::string a = id(inst.operands[0]);
    switch (inst.op) {
      case Op::Shuffle: {
        static constexpr const char* kFns[] = {"__shfl_sync", "__shfl_xor_sync", "__shfl_up_sync", "__shfl_down_sync"};
        return std::string(kFns[inst.variant]) + "(0xffffffffu, " + a + ", " + id(inst.operands[1]) + ")";
      }
      case Op::Vote: {
        static constexpr const char* kFns[] = {"__any_sync", "__all_sync", "__ballot_sync"};
        return std::string(kFns[inst.variant]) + "(0xffffffffu, " + a + ")" + (inst.variant == 2 ? "" : " != 0");
      }
      case Op::Reduce: {
        static constexpr const char* kOps[] = {"rk_op_add", "rk_op_min", "rk_op_max", "rk_op_and", "rk_op_or", "rk_op_xor"};
        return std::string("rk_warp_reduce(") + a + ", " + kOps[inst.variant] + "())";
      }
      default:
        return std::string(inst.variant == 0 ? "rk_warp_inclusive_add(" : "rk_warp_exclusive_add(") + a + ")";
    }
  }

  std::string ring_call(const Inst& inst) const override {
    const std::string r = id(inst.operands[0]), b = id(inst.operands[1]);
    switch (inst.op) {
      case Op::H2kDequeue: case Op::K2kRecv: return "rk_mpsc_pop(" + r + ", " + b + ", " + std::to_string(inst.imm.i) + "u)";
      case Op::K2hEnqueue: return "rk_spsc_push(" + r + ", " + b + ")";
      default: return "rk_mpsc_push(" + r + ", " + b + ")";
    }
  }

  std::string hlc_call(const Inst& inst) const override {
    const std::string c = id(inst.operands[0]);
    switch (inst.op) {
      case Op::HlcNow: return "(*(volatile unsigned long long*)" + c + ")";
      case Op::HlcTick: return "rk_hlc_tick(" + c + ", " + id(inst.operands[1]) + ")";
      default: return "rk_hlc_update(" + c + ", " + id(inst.operands[1]) + ", " + id(inst.operands[2]) + ")";
    }
  }

  std::string prelude() const override {
    const Layout& L = runtime_layout();
    std::string s = "// Generated by RingKernel from IR kernel '" + k_.name + "' for target '" + t_.name + "'.\n";
    s += "// CUDA C++ for NVRTC or nvcc; self-contained apart from the CUDA headers below.\n";
    if (uses(Capability::F16)) s += "#include <cuda_fp16.h>\n";
    if (uses(Capability::BF16)) s += "#include <cuda_bf16.h>\n";
    if (uses(Capability::Fp8)) s += "#include <cuda_fp8.h>\n";
    if (uses(Capability::GridSync)) s += "#include <cooperative_groups.h>\n";
    s += R"(
template <class T, int N> struct rk_vec { T v[N]; };
template <class To, class From> __device__ __forceinline__ To rk_bitcast(From f) {
  static_assert(sizeof(To) == sizeof(From), "bitcast needs equal sizes");
  To t;
  memcpy(&t, &f, sizeof(To));
  return t;
}
// Signed division with the IR's wrap for MIN / -1.
template <class T> __device__ __forceinline__ T rk_sdiv(T a, T b) { return b == T(-1) ? T(0) - a : a / b; }
template <class T> __device__ __forceinline__ T rk_srem(T a, T b) { return b == T(-1) ? T(0) : a % b; }
__device__ __forceinline__ unsigned rk_local_id() {
  return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
)";
    if (uses(Capability::Subgroups)) {
      s += R"(struct rk_op_add { template <class T> __device__ T operator()(T a, T b) const { return a + b; } };
struct rk_op_min { template <class T> __device__ T operator()(T a, T b) const { return b < a ? b : a; } };
struct rk_op_max { template <class T> __device__ T operator()(T a, T b) const { return b > a ? b : a; } };
struct rk_op_and { template <class T> __device__ T operator()(T a, T b) const { return a & b; } };
struct rk_op_or { template <class T> __device__ T operator()(T a, T b) const { return a | b; } };
struct rk_op_xor { template <class T> __device__ T operator()(T a, T b) const { return a ^ b; } };
template <class T, class Op> __device__ __forceinline__ T rk_warp_reduce(T v, Op op) {
  for (int d = 16; d > 0; d >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}
template <class T> __device__ __forceinline__ T rk_warp_inclusive_add(T v) {
  const unsigned lane = rk_local_id() & 31u;
  for (unsigned d = 1; d < 32; d <<= 1) {
    const T n = __shfl_up_sync(0xffffffffu, v, d);
    if (lane >= d) v = v + n;
  }
  return v;
}
template <class T> __device__ __forceinline__ T rk_warp_exclusive_add(T v) {
  const T inc = rk_warp_inclusive_add(v);
  const T prev = __shfl_up_sync(0xffffffffu, inc, 1);
  return (rk_local_id() & 31u) == 0 ? T(0) : prev;
}
)";
    }
    if (uses(Capability::Messaging)) {
      auto n = [](std::uint32_t v) { return std::to_string(v) + "u"; };
      s += "// Ring layout of ringkernel/ring.hpp (RingControl) and message.hpp (64-byte MessageHeader).\n";
      s += "#define RK_RING_HEAD " + n(L.head) + "\n#define RK_RING_TAIL " + n(L.tail) + "\n#define RK_RING_CAPACITY " +
           n(L.capacity) + "\n#define RK_RING_SLOT_SIZE " + n(L.slot_size) + "\n#define RK_RING_SEQ_OFFSET " +
           n(L.seq_offset) + "\n#define RK_RING_SLOTS_OFFSET " + n(L.slots_offset) + "\n#define RK_HEADER_WORDS " +
           n(L.header_bytes / 4) + "\n#define RK_PAYLOAD_LEN_WORD " + n(L.payload_len / 4) + "\n#define RK_HLC_LOGICAL_BITS " +
           n(L.hlc_logical_bits) + "\n";
      s += R"(// H2K/K2H rings may live in mapped host memory: order accesses at system scope.
__device__ __forceinline__ unsigned long long rk_load_acquire(const unsigned long long* p) {
  const unsigned long long v = *(const volatile unsigned long long*)p;
  __threadfence_system();
  return v;
}
__device__ __forceinline__ void rk_store_release(unsigned long long* p, unsigned long long v) {
  __threadfence_system();
  *(volatile unsigned long long*)p = v;
}
__device__ __forceinline__ unsigned rk_ring_u32(const unsigned char* ring, unsigned off) {
  return *(const volatile unsigned*)(ring + off);
}
__device__ __forceinline__ unsigned long long rk_ring_u64(const unsigned char* ring, unsigned off) {
  return *(const volatile unsigned long long*)(ring + off);
}
// MPSC consumer: one slot into buf (at most `words` words). 0 Ok, 4 QueueEmpty, 2 MessageTooLarge (consumed,
// header only).
template <class Buf> __device__ unsigned rk_mpsc_pop(unsigned char* ring, Buf buf, unsigned words) {
  unsigned long long* tailp = (unsigned long long*)(ring + RK_RING_TAIL);
  const unsigned long long mask = rk_ring_u32(ring, RK_RING_CAPACITY) - 1u;
  const unsigned slot_size = rk_ring_u32(ring, RK_RING_SLOT_SIZE);
  const unsigned long long t = *(volatile unsigned long long*)tailp;
  const unsigned long long* seq = (const unsigned long long*)(ring + rk_ring_u64(ring, RK_RING_SEQ_OFFSET));
  if (rk_load_acquire(seq + (t & mask)) != t + 1) return 4u;
  const volatile unsigned* slot = (const volatile unsigned*)(ring + rk_ring_u64(ring, RK_RING_SLOTS_OFFSET) + (t & mask) * slot_size);
  const unsigned len = slot[RK_PAYLOAD_LEN_WORD] & 0xffffu;
  const unsigned whole = RK_HEADER_WORDS + (len + 3u) / 4u;
  const unsigned n = whole <= words ? whole : RK_HEADER_WORDS;
  for (unsigned i = 0; i < n; ++i) buf[i] = slot[i];
  rk_store_release(tailp, t + 1);
  return whole <= words ? 0u : 2u;
}
// SPSC producer (K2H): 0 Ok, 3 QueueFull, 2 MessageTooLarge.
template <class Buf> __device__ unsigned rk_spsc_push(unsigned char* ring, Buf buf) {
  unsigned long long* headp = (unsigned long long*)(ring + RK_RING_HEAD);
  const unsigned capacity = rk_ring_u32(ring, RK_RING_CAPACITY);
  const unsigned slot_size = rk_ring_u32(ring, RK_RING_SLOT_SIZE);
  const unsigned len = buf[RK_PAYLOAD_LEN_WORD] & 0xffffu;
  if (len > slot_size - RK_HEADER_WORDS * 4u) return 2u;
  const unsigned long long h = *(volatile unsigned long long*)headp;
  if (h - rk_load_acquire((const unsigned long long*)(ring + RK_RING_TAIL)) >= capacity) return 3u;
  volatile unsigned* slot = (volatile unsigned*)(ring + rk_ring_u64(ring, RK_RING_SLOTS_OFFSET) + (h & (capacity - 1u)) * slot_size);
  const unsigned n = RK_HEADER_WORDS + (len + 3u) / 4u;
  for (unsigned i = 0; i < n; ++i) slot[i] = buf[i];
  rk_store_release(headp, h + 1);
  return 0u;
}
// MPSC producer (K2K): claim a position with a CAS on head bounded by the consumer's tail, then publish the
// slot by writing position + 1 into its sequence word. 0 Ok, 3 QueueFull, 2 MessageTooLarge.
template <class Buf> __device__ unsigned rk_mpsc_push(unsigned char* ring, Buf buf) {
  unsigned long long* headp = (unsigned long long*)(ring + RK_RING_HEAD);
  const unsigned capacity = rk_ring_u32(ring, RK_RING_CAPACITY);
  const unsigned slot_size = rk_ring_u32(ring, RK_RING_SLOT_SIZE);
  const unsigned len = buf[RK_PAYLOAD_LEN_WORD] & 0xffffu;
  if (len > slot_size - RK_HEADER_WORDS * 4u) return 2u;
  unsigned long long pos = *(volatile unsigned long long*)headp;
  for (;;) {
    const unsigned long long tail = rk_load_acquire((const unsigned long long*)(ring + RK_RING_TAIL));
    if (pos - tail >= capacity) {
      const unsigned long long fresh = rk_load_acquire(headp);
      if (fresh == pos) return 3u;
      pos = fresh;
      continue;
    }
    const unsigned long long seen = atomicCAS_system(headp, pos, pos + 1);
    if (seen == pos) break;
    pos = seen;
  }
  volatile unsigned* slot = (volatile unsigned*)(ring + rk_ring_u64(ring, RK_RING_SLOTS_OFFSET) + (pos & (capacity - 1u)) * slot_size);
  const unsigned n = RK_HEADER_WORDS + (len + 3u) / 4u;
  for (unsigned i = 0; i < n; ++i) slot[i] = buf[i];
  unsigned long long* seq = (unsigned long long*)(ring + rk_ring_u64(ring, RK_RING_SEQ_OFFSET));
  rk_store_release(seq + (pos & (capacity - 1u)), pos + 1);
  return 0u;
}
// Hybrid logical clock steps, as ringkernel/hlc.hpp: hlc_next_tick / hlc_next_update.
__device__ __forceinline__ unsigned long long rk_hlc_tick(unsigned long long* clock, unsigned long long phys_ms) {
  const unsigned long long cur = *clock;
  const unsigned long long wall = phys_ms << RK_HLC_LOGICAL_BITS;
  const unsigned long long next = wall > cur ? wall : cur + 1;
  *clock = next;
  return next;
}
__device__ __forceinline__ unsigned long long rk_hlc_update(unsigned long long* clock, unsigned long long received,
                                                            unsigned long long phys_ms) {
  const unsigned long long cur = *clock;
  const unsigned long long wall = phys_ms << RK_HLC_LOGICAL_BITS;
  const unsigned long long seen = (cur > received ? cur : received) + 1;
  const unsigned long long next = wall > seen ? wall : seen;
  *clock = next;
  return next;
}
)";
    }
    return s + "\n";
  }

  std::string signature(GeneratedCode& code) const override {
    std::string s = "extern \"C\" __global__ void __launch_bounds__(" + std::to_string(k_.threads_per_block()) + ") " + k_.name + "(";
    for (std::size_t i = 0; i < k_.params.size(); ++i) {
      const ValueId p = k_.params[i];
      const Type t = k_.type_of(p);
      const std::string ty = t.is_ring() ? "unsigned char*" : value_type(t);
      s += (i ? ", " : "") + ty + " " + id(p);
      code.bindings.push_back({static_cast<std::uint32_t>(i), false, static_cast<std::uint32_t>(i), 0, false});
    }
    return s + ") {\n";
  }
};

} // namespace

Result<GeneratedCode> generate_cuda(const Kernel& kernel, const Target& target) {
  CudaEmitter e(kernel, target);
  return e.run();
}

} // namespace ringkernel::ir::codegen
