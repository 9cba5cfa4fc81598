// Scalar semantics of the IR, shared by the interpreter and constant folding so that folding can never change
// what a kernel computes. A lane is a uint64_t: integers are stored canonically (i32 sign-extended, u32
// zero-extended), floats as the bits of a double that is exactly representable in the lane's type, bool as 0/1.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "ringkernel/ir/ir.hpp"

namespace ringkernel::ir::eval {

inline double as_f(std::uint64_t bits) { return std::bit_cast<double>(bits); }
inline std::uint64_t from_f(double v) { return std::bit_cast<std::uint64_t>(v); }

// Generic IEEE-like encoding with `e` exponent and `m` mantissa bits, round to nearest even.
// `finite_only` (fp8 e4m3): no infinities, all-ones is NaN, overflow saturates to the largest finite value.
inline std::uint32_t encode_minifloat(double v, int e, int m, bool finite_only) {
  const std::uint32_t sign = std::signbit(v) ? 1u << (e + m) : 0u;
  const int bias = (1 << (e - 1)) - 1;
  const std::uint32_t exp_all = (1u << e) - 1;
  if (std::isnan(v)) return finite_only ? (sign | (exp_all << m) | ((1u << m) - 1)) : ((exp_all << m) | (1u << (m - 1)));
  const double a = std::fabs(v);
  const std::uint32_t max_finite = finite_only ? ((exp_all << m) | ((1u << m) - 2)) : (((exp_all - 1) << m) | ((1u << m) - 1));
  if (std::isinf(a)) return finite_only ? (sign | max_finite) : (sign | (exp_all << m));
  if (a == 0.0) return sign;
  int ex = 0;
  (void)std::frexp(a, &ex);
  int ue = ex - 1;  // a in [2^ue, 2^(ue+1))
  std::uint32_t bits = 0;
  if (ue < 1 - bias) {
    // Subnormal: units of 2^(1-bias-m); rounding up to 2^m lands exactly on the smallest normal encoding.
    const double q = std::nearbyint(std::ldexp(a, -(1 - bias - m)));
    bits = static_cast<std::uint32_t>(q);
  } else {
    double q = std::nearbyint(std::ldexp(a, -(ue - m)));
    if (q >= std::ldexp(1.0, m + 1)) {
      ++ue;
      q = std::ldexp(1.0, m);
    }
    const std::int64_t field = ue + bias;
    bits = static_cast<std::uint32_t>((static_cast<std::uint64_t>(field) << m) |
                                      (static_cast<std::uint64_t>(q) - (1ull << m)));
  }
  if (bits > max_finite) return finite_only ? (sign | max_finite) : (sign | (exp_all << m));
  return sign | bits;
}

inline double decode_minifloat(std::uint32_t bits, int e, int m, bool finite_only) {
  const bool neg = (bits >> (e + m)) & 1u;
  const int bias = (1 << (e - 1)) - 1;
  const std::uint32_t exp_all = (1u << e) - 1;
  const std::uint32_t ef = (bits >> m) & exp_all;
  const std::uint32_t mf = bits & ((1u << m) - 1);
  double v = 0;
  if (ef == exp_all && (!finite_only || mf == (1u << m) - 1)) {
    v = (mf == 0 && !finite_only) ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (ef == 0) {
    v = std::ldexp(static_cast<double>(mf), 1 - bias - m);
  } else {
    v = std::ldexp(static_cast<double>(mf | (1u << m)), static_cast<int>(ef) - bias - m);
  }
  return neg ? -v : v;
}

inline double round_float(ScalarKind k, double v) {
  switch (k) {
    case ScalarKind::F32: return static_cast<double>(static_cast<float>(v));
    case ScalarKind::F64: return v;
    case ScalarKind::F16: return decode_minifloat(encode_minifloat(v, 5, 10, false), 5, 10, false);
    case ScalarKind::BF16: return decode_minifloat(encode_minifloat(v, 8, 7, false), 8, 7, false);
    case ScalarKind::F8E4M3: return decode_minifloat(encode_minifloat(v, 4, 3, true), 4, 3, true);
    case ScalarKind::F8E5M2: return decode_minifloat(encode_minifloat(v, 5, 2, false), 5, 2, false);
    default: return v;
  }
}

inline unsigned bit_width(ScalarKind k) { return k == ScalarKind::I64 || k == ScalarKind::U64 ? 64 : 32; }

// Canonical storage of an integer result of kind k.
inline std::uint64_t canon_int(ScalarKind k, std::uint64_t v) {
  switch (k) {
    case ScalarKind::I32: return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(v)));
    case ScalarKind::U32: return v & 0xFFFFFFFFull;
    case ScalarKind::Bool: return v != 0 ? 1 : 0;
    default: return v;
  }
}

// A lane's value converted to `to`.
inline std::uint64_t convert(ScalarKind from, ScalarKind to, std::uint64_t v) {
  if (to == ScalarKind::Bool) {
    if (is_float(from)) return as_f(v) != 0.0 ? 1 : 0;
    return v != 0 ? 1 : 0;
  }
  if (is_float(to)) {
    double d = 0;
    if (is_float(from)) d = as_f(v);
    else if (from == ScalarKind::Bool) d = static_cast<double>(v);
    else if (is_signed(from)) d = static_cast<double>(static_cast<std::int64_t>(v));
    else d = static_cast<double>(v);  // u64 -> double rounds once, then to the target: fine below 2^53
    if (!is_float(from) && to == ScalarKind::F32) {
      // Round directly to f32 (int -> double -> float could double-round for |v| > 2^53).
      d = is_signed(from) ? static_cast<double>(static_cast<float>(static_cast<std::int64_t>(v)))
                          : (from == ScalarKind::Bool ? d : static_cast<double>(static_cast<float>(v)));
    }
    return from_f(round_float(to, d));
  }
  // Integer destination.
  if (is_float(from)) {
    const double d = std::trunc(as_f(v));
    if (std::isnan(d)) return 0;
    switch (to) {
      case ScalarKind::I32:
        return canon_int(to, static_cast<std::uint64_t>(static_cast<std::int64_t>(
                                 d <= -2147483648.0 ? -2147483648.0 : d >= 2147483647.0 ? 2147483647.0 : d)));
      case ScalarKind::U32: return d <= 0 ? 0 : d >= 4294967295.0 ? 4294967295ull : static_cast<std::uint64_t>(d);
      case ScalarKind::I64:
        if (d <= -9223372036854775808.0) return static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::min());
        if (d >= 9223372036854775807.0) return static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(d));
      case ScalarKind::U64:
        if (d <= 0) return 0;
        if (d >= 18446744073709551615.0) return ~0ull;
        return static_cast<std::uint64_t>(d);
      default: return 0;
    }
  }
  return canon_int(to, v);  // int/bool -> int: canonical v already sign/zero extended
}

// Binary op on one lane. Returns false with `err` set on a fault (integer division by zero).
inline bool binary(Op op, ScalarKind k, std::uint64_t a, std::uint64_t b, std::uint64_t& out, std::string& err) {
  if (is_float(k)) {
    const double x = as_f(a), y = as_f(b);
    double r = 0;
    switch (op) {
      case Op::Add: r = x + y; break;
      case Op::Sub: r = x - y; break;
      case Op::Mul: r = x * y; break;
      case Op::Div: r = x / y; break;
      case Op::Min: r = std::fmin(x, y); break;
      case Op::Max: r = std::fmax(x, y); break;
      default: err = "operation not defined on floats"; return false;
    }
    out = from_f(round_float(k, r));
    return true;
  }
  if (k == ScalarKind::Bool) {
    switch (op) {
      case Op::And: out = a & b; return true;
      case Op::Or: out = a | b; return true;
      case Op::Xor: out = a ^ b; return true;
      default: err = "operation not defined on bool"; return false;
    }
  }
  const unsigned w = bit_width(k);
  const bool sgn = is_signed(k);
  const auto sa = static_cast<std::int64_t>(a), sb = static_cast<std::int64_t>(b);
  std::uint64_t r = 0;
  switch (op) {
    case Op::Add: r = a + b; break;
    case Op::Sub: r = a - b; break;
    case Op::Mul: r = a * b; break;
    case Op::Div:
    case Op::Rem: {
      if (canon_int(k, b) == 0) {
        err = "integer division by zero";
        return false;
      }
      if (sgn) {
        const std::int64_t minv = w == 64 ? std::numeric_limits<std::int64_t>::min() : -2147483648ll;
        if (sa == minv && sb == -1) r = op == Op::Div ? static_cast<std::uint64_t>(minv) : 0;  // wraps
        else r = static_cast<std::uint64_t>(op == Op::Div ? sa / sb : sa % sb);
      } else {
        r = op == Op::Div ? a / b : a % b;
      }
      break;
    }
    case Op::Min: r = sgn ? (sa < sb ? a : b) : (a < b ? a : b); break;
    case Op::Max: r = sgn ? (sa > sb ? a : b) : (a > b ? a : b); break;
    case Op::And: r = a & b; break;
    case Op::Or: r = a | b; break;
    case Op::Xor: r = a ^ b; break;
    case Op::Shl: r = a << (b & (w - 1)); break;
    case Op::Shr:
      if (sgn) r = static_cast<std::uint64_t>(sa >> (b & (w - 1)));
      else r = (w == 32 ? (a & 0xFFFFFFFFull) : a) >> (b & (w - 1));
      break;
    default: err = "not a binary operation"; return false;
  }
  out = canon_int(k, r);
  return true;
}

inline bool unary(Op op, ScalarKind k, std::uint64_t a, std::uint64_t& out, std::string& err) {
  if (is_float(k)) {
    if (op != Op::Neg) {
      err = "'not' is not defined on floats";
      return false;
    }
    out = from_f(-as_f(a));
    return true;
  }
  if (k == ScalarKind::Bool) {
    if (op != Op::Not) {
      err = "'neg' is not defined on bool";
      return false;
    }
    out = a ^ 1u;
    return true;
  }
  out = canon_int(k, op == Op::Neg ? (0 - a) : ~a);
  return true;
}

inline bool compare(CmpPred p, ScalarKind k, std::uint64_t a, std::uint64_t b) {
  if (is_float(k)) {
    const double x = as_f(a), y = as_f(b);
    switch (p) {
      case CmpPred::Eq: return x == y;
      case CmpPred::Ne: return x != y;  // true for NaN, like every target
      case CmpPred::Lt: return x < y;
      case CmpPred::Le: return x <= y;
      case CmpPred::Gt: return x > y;
      case CmpPred::Ge: return x >= y;
    }
    return false;
  }
  if (is_signed(k)) {
    const auto x = static_cast<std::int64_t>(a), y = static_cast<std::int64_t>(b);
    switch (p) {
      case CmpPred::Eq: return x == y;
      case CmpPred::Ne: return x != y;
      case CmpPred::Lt: return x < y;
      case CmpPred::Le: return x <= y;
      case CmpPred::Gt: return x > y;
      case CmpPred::Ge: return x >= y;
    }
    return false;
  }
  switch (p) {
    case CmpPred::Eq: return a == b;
    case CmpPred::Ne: return a != b;
    case CmpPred::Lt: return a < b;
    case CmpPred::Le: return a <= b;
    case CmpPred::Gt: return a > b;
    case CmpPred::Ge: return a >= b;
  }
  return false;
}

inline std::uint64_t math(MathFn fn, ScalarKind k, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  const double x = as_f(a), y = as_f(b), z = as_f(c);
  double r = 0;
  switch (fn) {
    case MathFn::Sqrt: r = std::sqrt(x); break;
    case MathFn::Rsqrt: r = 1.0 / std::sqrt(x); break;
    case MathFn::Exp: r = std::exp(x); break;
    case MathFn::Exp2: r = std::exp2(x); break;
    case MathFn::Log: r = std::log(x); break;
    case MathFn::Log2: r = std::log2(x); break;
    case MathFn::Sin: r = std::sin(x); break;
    case MathFn::Cos: r = std::cos(x); break;
    case MathFn::Tanh: r = std::tanh(x); break;
    case MathFn::Floor: r = std::floor(x); break;
    case MathFn::Ceil: r = std::ceil(x); break;
    case MathFn::Abs: r = std::fabs(x); break;
    case MathFn::Fma: r = std::fma(x, y, z); break;
    case MathFn::Pow: r = std::pow(x, y); break;
  }
  return from_f(round_float(k, r));
}

// Memory encoding of one lane.
inline void store_lane(ScalarKind k, std::uint64_t v, std::byte* p) {
  switch (k) {
    case ScalarKind::I32:
    case ScalarKind::U32: {
      const auto x = static_cast<std::uint32_t>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    case ScalarKind::I64:
    case ScalarKind::U64: std::memcpy(p, &v, 8); break;
    case ScalarKind::F32: {
      const auto x = static_cast<float>(as_f(v));
      std::memcpy(p, &x, 4);
      break;
    }
    case ScalarKind::F64: {
      const double x = as_f(v);
      std::memcpy(p, &x, 8);
      break;
    }
    case ScalarKind::F16:
    case ScalarKind::BF16: {
      const auto x = static_cast<std::uint16_t>(k == ScalarKind::F16 ? encode_minifloat(as_f(v), 5, 10, false)
                                                                     : encode_minifloat(as_f(v), 8, 7, false));
      std::memcpy(p, &x, 2);
      break;
    }
    case ScalarKind::F8E4M3: *p = static_cast<std::byte>(encode_minifloat(as_f(v), 4, 3, true)); break;
    case ScalarKind::F8E5M2: *p = static_cast<std::byte>(encode_minifloat(as_f(v), 5, 2, false)); break;
    default: break;
  }
}

inline std::uint64_t load_lane(ScalarKind k, const std::byte* p) {
  switch (k) {
    case ScalarKind::I32: {
      std::int32_t x;
      std::memcpy(&x, p, 4);
      return static_cast<std::uint64_t>(static_cast<std::int64_t>(x));
    }
    case ScalarKind::U32: {
      std::uint32_t x;
      std::memcpy(&x, p, 4);
      return x;
    }
    case ScalarKind::I64:
    case ScalarKind::U64: {
      std::uint64_t x;
      std::memcpy(&x, p, 8);
      return x;
    }
    case ScalarKind::F32: {
      float x;
      std::memcpy(&x, p, 4);
      return from_f(static_cast<double>(x));
    }
    case ScalarKind::F64: {
      double x;
      std::memcpy(&x, p, 8);
      return from_f(x);
    }
    case ScalarKind::F16:
    case ScalarKind::BF16: {
      std::uint16_t x;
      std::memcpy(&x, p, 2);
      return from_f(k == ScalarKind::F16 ? decode_minifloat(x, 5, 10, false) : decode_minifloat(x, 8, 7, false));
    }
    case ScalarKind::F8E4M3: return from_f(decode_minifloat(static_cast<std::uint32_t>(*p), 4, 3, true));
    case ScalarKind::F8E5M2: return from_f(decode_minifloat(static_cast<std::uint32_t>(*p), 5, 2, false));
    default: return 0;
  }
}

// The value of a Const instruction as a lane of kind k.
inline std::uint64_t const_lane(ScalarKind k, const Imm& imm) {
  if (is_float(k)) return from_f(round_float(k, imm.is_float ? imm.f : static_cast<double>(imm.i)));
  if (imm.is_float) return convert(ScalarKind::F64, k, from_f(imm.f));
  return canon_int(k, static_cast<std::uint64_t>(imm.i));
}

// Bit pattern of a lane as stored in memory (for bitcast), and back.
inline std::uint64_t to_bits(ScalarKind k, std::uint64_t v) {
  std::byte buf[8] = {};
  store_lane(k, v, buf);
  std::uint64_t out = 0;
  std::memcpy(&out, buf, scalar_size(k) == 0 ? 1 : scalar_size(k));
  return out;
}
inline std::uint64_t from_bits(ScalarKind k, std::uint64_t bits) {
  std::byte buf[8] = {};
  std::memcpy(buf, &bits, 8);
  return load_lane(k, buf);
}

} // namespace ringkernel::ir::eval
