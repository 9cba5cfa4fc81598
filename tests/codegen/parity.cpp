// The parity kernels. Each is written once with the DSL (or the builder where the DSL does not reach) and
// checked against a plain C++ reference; backends are then compared with the interpreter.
#include "codegen/parity.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>

#include "ringkernel/hlc.hpp"
#include "ringkernel/ir/dsl.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/ring.hpp"

namespace rkt {

namespace dsl = ringkernel::ir::dsl;
using ringkernel::ir::AtomicOp;
using ringkernel::ir::Dim;
using ringkernel::ir::MathFn;
using ringkernel::ir::ScalarKind;
using u32 = std::uint32_t;
using i32 = std::int32_t;
using u64 = std::uint64_t;
using i64 = std::int64_t;

namespace {

using Portable = dsl::targets<dsl::TargetId::CudaSm80, dsl::TargetId::CudaSm90, dsl::TargetId::WebGpu, dsl::TargetId::MetalApple>;
using WithSubgroups = dsl::targets<dsl::TargetId::CudaSm90, dsl::TargetId::WebGpuSubgroups, dsl::TargetId::MetalApple>;

// Deterministic inputs.
std::vector<float> floats(std::size_t n, float scale = 1.0f, std::uint32_t seed = 1) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) - 0.5f) * 2.0f * scale;
  }
  return v;
}
std::vector<u32> uints(std::size_t n, u32 mod, std::uint32_t seed = 7) {
  std::vector<u32> v(n);
  std::uint32_t s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = mod == 0 ? s : s % mod;
  }
  return v;
}

std::string near(const std::vector<float>& got, const std::vector<float>& want, double tol, const char* what) {
  if (got.size() != want.size()) return std::string(what) + ": size differs";
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(d <= tol * std::max(1.0, std::fabs(static_cast<double>(want[i]))))) {
      return std::string(what) + "[" + std::to_string(i) + "] = " + std::to_string(got[i]) + ", expected " + std::to_string(want[i]);
    }
  }
  return {};
}
template <class T>
std::string same(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
  if (got.size() != want.size()) return std::string(what) + ": size differs";
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      return std::string(what) + "[" + std::to_string(i) + "] = " + std::to_string(got[i]) + ", expected " + std::to_string(want[i]);
    }
  }
  return {};
}

ir::Kernel take(ringkernel::Result<dsl::DefinedKernel> k) {
  if (!k) {
    std::fprintf(stderr, "parity kernel failed to build: %s\n", k.error().describe().c_str());
    std::abort();
  }
  return std::move(k->kernel);
}

void add(std::vector<Case>& out, std::string name, ir::Kernel k, std::array<u32, 3> grid, std::vector<Arg> args,
         std::function<std::string(const std::vector<Arg>&)> check, ir::Fallback fb = ir::Fallback::None) {
  Case c;
  c.name = std::move(name);
  c.kernel = std::move(k);
  c.grid = grid;
  c.args = std::move(args);
  c.check = std::move(check);
  c.fallback = fb;
  out.push_back(std::move(c));
}

// --- elementwise ----------------------------------------------------------------------------------------

void elementwise(std::vector<Case>& out) {
  constexpr u32 n = 1000;
  {
    auto k = take(dsl::kernel<Portable>("saxpy", {128, 1, 1}, [&](auto& k) {
      auto cnt = k.template param<u32>("n");
      auto a = k.template param<float>("a");
      auto x = k.template buffer<float>("x");
      auto y = k.template buffer<float>("y");
      auto i = k.global_id();
      k.if_(i < cnt, [&] { y[i] = a * x[i] + y[i]; });
    }));
    const auto x = floats(n, 3, 1), y = floats(n, 2, 2);
    add(out, "saxpy", std::move(k), {(n + 127) / 128, 1, 1},
        {scalar_of(n), scalar_of(2.5f), buffer_of(x, ScalarKind::F32, 0, false), buffer_of(y, ScalarKind::F32, 1e-6)},
        [x, y](const std::vector<Arg>& a) {
          std::vector<float> want(n);
          for (u32 i = 0; i < n; ++i) want[i] = 2.5f * x[i] + y[i];
          return near(as<float>(a[3]), want, 1e-6, "y");
        });
  }
}

template <class T>
using V = dsl::Val<T>;

void integers(std::vector<Case>& out) {
  constexpr u32 n = 256;
  const auto a = uints(n, 0, 3), b = uints(n, 0, 4);
  {
    auto k = take(dsl::kernel<Portable>("int_wrap", {64, 1, 1}, [&](auto& k) {
      auto pa = k.template buffer<i32>("a");
      auto pb = k.template buffer<i32>("b");
      auto o = k.template buffer<i32>("out");
      auto i = k.global_id();
      V<i32> x = pa[i], y = pb[i];
      auto base = i * 4u;
      o[base] = x + y;
      o[base + 1u] = x - y;
      o[base + 2u] = x * y;
      o[base + 3u] = -x;
    }));
    add(out, "int_wrap", std::move(k), {n / 64, 1, 1},
        {buffer_of(a, ScalarKind::I32, 0, false), buffer_of(b, ScalarKind::I32, 0, false), buffer_of(std::vector<i32>(4 * n), ScalarKind::I32)},
        [a, b](const std::vector<Arg>& r) {
          std::vector<i32> want(4 * n);
          for (u32 i = 0; i < n; ++i) {
            want[4 * i] = static_cast<i32>(a[i] + b[i]);
            want[4 * i + 1] = static_cast<i32>(a[i] - b[i]);
            want[4 * i + 2] = static_cast<i32>(a[i] * b[i]);
            want[4 * i + 3] = static_cast<i32>(0u - a[i]);
          }
          return same(as<i32>(r[2]), want, "out");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("bit_ops", {64, 1, 1}, [&](auto& k) {
      auto pa = k.template buffer<u32>("a");
      auto pb = k.template buffer<u32>("b");
      auto o = k.template buffer<u32>("out");
      auto i = k.global_id();
      V<u32> x = pa[i], y = pb[i];
      auto base = i * 6u;
      o[base] = x & y;
      o[base + 1u] = x | y;
      o[base + 2u] = x ^ y;
      o[base + 3u] = x << y;  // shift amounts are taken mod 32
      o[base + 4u] = x >> y;
      o[base + 5u] = ~x;
    }));
    add(out, "bit_ops", std::move(k), {n / 64, 1, 1},
        {buffer_of(a, ScalarKind::U32, 0, false), buffer_of(b, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(6 * n), ScalarKind::U32)},
        [a, b](const std::vector<Arg>& r) {
          std::vector<u32> want(6 * n);
          for (u32 i = 0; i < n; ++i) {
            want[6 * i] = a[i] & b[i];
            want[6 * i + 1] = a[i] | b[i];
            want[6 * i + 2] = a[i] ^ b[i];
            want[6 * i + 3] = a[i] << (b[i] & 31);
            want[6 * i + 4] = a[i] >> (b[i] & 31);
            want[6 * i + 5] = ~a[i];
          }
          return same(as<u32>(r[2]), want, "out");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("div_rem_minmax", {64, 1, 1}, [&](auto& k) {
      auto pa = k.template buffer<i32>("a");
      auto pb = k.template buffer<i32>("b");
      auto o = k.template buffer<i32>("out");
      auto i = k.global_id();
      V<i32> x = pa[i], y = pb[i];
      auto base = i * 5u;
      o[base] = x / y;
      o[base + 1u] = x % y;
      o[base + 2u] = dsl::min(x, y);
      o[base + 3u] = dsl::max(x, y);
      o[base + 4u] = x >> dsl::cast<i32>(i % 31u);  // arithmetic shift
    }));
    std::vector<i32> sa(n), sb(n);
    for (u32 i = 0; i < n; ++i) {
      sa[i] = static_cast<i32>(a[i]) / 3;
      sb[i] = static_cast<i32>(b[i] % 2001u) - 1000;
      if (sb[i] == 0) sb[i] = 7;
    }
    add(out, "div_rem_minmax", std::move(k), {n / 64, 1, 1},
        {buffer_of(sa, ScalarKind::I32, 0, false), buffer_of(sb, ScalarKind::I32, 0, false), buffer_of(std::vector<i32>(5 * n), ScalarKind::I32)},
        [sa, sb](const std::vector<Arg>& r) {
          std::vector<i32> want(5 * n);
          for (u32 i = 0; i < n; ++i) {
            want[5 * i] = sa[i] / sb[i];
            want[5 * i + 1] = sa[i] % sb[i];
            want[5 * i + 2] = std::min(sa[i], sb[i]);
            want[5 * i + 3] = std::max(sa[i], sb[i]);
            want[5 * i + 4] = sa[i] >> (i % 31);
          }
          return same(as<i32>(r[2]), want, "out");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("casts", {64, 1, 1}, [&](auto& k) {
      auto pf = k.template buffer<float>("f");
      auto oi = k.template buffer<i32>("as_i32");
      auto ou = k.template buffer<u32>("as_u32");
      auto of = k.template buffer<float>("back");
      auto i = k.global_id();
      V<float> x = pf[i];
      oi[i] = dsl::cast<i32>(x);
      ou[i] = dsl::cast<u32>(x);
      of[i] = dsl::cast<float>(dsl::cast<i32>(x)) + dsl::cast<float>(x > 0.0f);
    }));
    std::vector<float> f = floats(n, 1e4f, 9);
    f[0] = 3e9f;
    f[1] = -3e9f;
    f[2] = 5e9f;
    f[3] = -0.5f;
    f[4] = 2147483520.0f;
    add(out, "casts", std::move(k), {n / 64, 1, 1},
        {buffer_of(f, ScalarKind::F32, 0, false), buffer_of(std::vector<i32>(n), ScalarKind::I32), buffer_of(std::vector<u32>(n), ScalarKind::U32),
         buffer_of(std::vector<float>(n), ScalarKind::F32)},
        [f](const std::vector<Arg>& r) {
          std::vector<i32> wi(n);
          std::vector<u32> wu(n);
          std::vector<float> wf(n);
          for (u32 i = 0; i < n; ++i) {
            const double t = std::trunc(static_cast<double>(f[i]));
            wi[i] = t <= -2147483648.0 ? INT32_MIN : t >= 2147483647.0 ? INT32_MAX : static_cast<i32>(t);
            wu[i] = t <= 0 ? 0u : t >= 4294967295.0 ? UINT32_MAX : static_cast<u32>(t);
            wf[i] = static_cast<float>(wi[i]) + (f[i] > 0 ? 1.0f : 0.0f);
          }
          auto e = same(as<i32>(r[1]), wi, "as_i32");
          if (e.empty()) e = same(as<u32>(r[2]), wu, "as_u32");
          if (e.empty()) e = near(as<float>(r[3]), wf, 0, "back");
          return e;
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("select_cmp", {64, 1, 1}, [&](auto& k) {
      auto pa = k.template buffer<float>("a");
      auto pb = k.template buffer<float>("b");
      auto o = k.template buffer<float>("out");
      auto i = k.global_id();
      V<float> x = pa[i], y = pb[i];
      o[i] = dsl::select(x < y && !(x == 0.0f), x * 2.0f, y - x);
    }));
    const auto fa = floats(n, 10, 11), fb = floats(n, 10, 12);
    add(out, "select_cmp", std::move(k), {n / 64, 1, 1},
        {buffer_of(fa, ScalarKind::F32, 0, false), buffer_of(fb, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(n), ScalarKind::F32)},
        [fa, fb](const std::vector<Arg>& r) {
          std::vector<float> want(n);
          for (u32 i = 0; i < n; ++i) want[i] = (fa[i] < fb[i] && fa[i] != 0.0f) ? fa[i] * 2.0f : fb[i] - fa[i];
          return near(as<float>(r[2]), want, 0, "out");
        });
  }
}

void floating(std::vector<Case>& out) {
  constexpr u32 n = 256;
  const auto x = floats(n, 4, 21);
  {
    auto k = take(dsl::kernel<Portable>("math_fns", {64, 1, 1}, [&](auto& k) {
      auto px = k.template buffer<float>("x");
      auto o = k.template buffer<float>("out");
      auto i = k.global_id();
      V<float> v = px[i];
      V<float> p = dsl::abs(v) + 0.5f;
      auto base = i * 10u;
      o[base] = dsl::sqrt(p);
      o[base + 1u] = dsl::exp(v);
      o[base + 2u] = dsl::math(MathFn::Log, p);
      o[base + 3u] = dsl::math(MathFn::Sin, v);
      o[base + 4u] = dsl::math(MathFn::Cos, v);
      o[base + 5u] = dsl::math(MathFn::Tanh, v);
      o[base + 6u] = dsl::math(MathFn::Floor, v) + dsl::math(MathFn::Ceil, v);
      o[base + 7u] = dsl::fma(v, v, p);
      o[base + 8u] = dsl::math(MathFn::Rsqrt, p);
      o[base + 9u] = dsl::math(MathFn::Exp2, v) + dsl::math(MathFn::Log2, p);
    }));
    add(out, "math_fns", std::move(k), {n / 64, 1, 1},
        {buffer_of(x, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(10 * n), ScalarKind::F32, 2e-5)},
        [x](const std::vector<Arg>& r) {
          std::vector<float> want(10 * n);
          for (u32 i = 0; i < n; ++i) {
            const double v = x[i], p = static_cast<float>(std::fabs(v) + 0.5);
            want[10 * i] = static_cast<float>(std::sqrt(p));
            want[10 * i + 1] = static_cast<float>(std::exp(v));
            want[10 * i + 2] = static_cast<float>(std::log(p));
            want[10 * i + 3] = static_cast<float>(std::sin(v));
            want[10 * i + 4] = static_cast<float>(std::cos(v));
            want[10 * i + 5] = static_cast<float>(std::tanh(v));
            want[10 * i + 6] = static_cast<float>(std::floor(v) + std::ceil(v));
            want[10 * i + 7] = static_cast<float>(std::fma(v, v, p));
            want[10 * i + 8] = static_cast<float>(1.0 / std::sqrt(p));
            want[10 * i + 9] = static_cast<float>(static_cast<float>(std::exp2(v)) + static_cast<float>(std::log2(p)));
          }
          return near(as<float>(r[1]), want, 1e-6, "out");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("vec4_ops", {64, 1, 1}, [&](auto& k) {
      auto pa = k.template buffer<dsl::vec<float, 4>>("a");
      auto o = k.template buffer<dsl::vec<float, 4>>("out");
      auto s = k.template buffer<float>("lane_sum");
      auto i = k.global_id();
      dsl::Val<dsl::vec<float, 4>> v = pa[i];
      auto w = v * v + v;
      o[i] = w;
      auto& b = k.ir();
      auto lane = [&](unsigned l) { return V<float>{&b, b.extract(w.v, l)}; };
      s[i] = lane(0) + lane(1) + lane(2) + lane(3);
    }));
    const auto a = floats(4 * n, 2, 31);
    add(out, "vec4_ops", std::move(k), {n / 64, 1, 1},
        {buffer_of(a, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(4 * n), ScalarKind::F32), buffer_of(std::vector<float>(n), ScalarKind::F32, 1e-6)},
        [a](const std::vector<Arg>& r) {
          std::vector<float> w(4 * n), sum(n);
          for (u32 i = 0; i < 4 * n; ++i) w[i] = a[i] * a[i] + a[i];
          for (u32 i = 0; i < n; ++i) sum[i] = ((w[4 * i] + w[4 * i + 1]) + w[4 * i + 2]) + w[4 * i + 3];
          auto e = near(as<float>(r[1]), w, 0, "out");
          return e.empty() ? near(as<float>(r[2]), sum, 1e-6, "lane_sum") : e;
        });
  }
  {
    // f64 kernel: native on CUDA, downcast to f32 (with a warning) where the target has no f64.
    auto k = take(dsl::kernel<Portable, ir::Fallback::DowncastF64>("f64_poly", {64, 1, 1}, [&](auto& k) {
      auto px = k.template buffer<double>("x");
      auto o = k.template buffer<double>("out");
      auto i = k.global_id();
      V<double> v = px[i];
      o[i] = (v * 0.5 + 1.25) * v - 3.0;
    }));
    std::vector<double> xd(n);
    for (u32 i = 0; i < n; ++i) xd[i] = x[i];
    add(out, "f64_poly", std::move(k), {n / 64, 1, 1},
        {buffer_of(xd, ScalarKind::F64, 0, false), buffer_of(std::vector<double>(n), ScalarKind::F64, 1e-6)},
        [xd](const std::vector<Arg>& r) {
          auto got = as<double>(r[1]);
          for (u32 i = 0; i < n; ++i) {
            const double want = (xd[i] * 0.5 + 1.25) * xd[i] - 3.0;
            // 1e-6: also holds where the f64 fallback downcast the kernel to f32.
            if (std::fabs(got[i] - want) > 1e-6 * std::max(1.0, std::fabs(want))) return "out[" + std::to_string(i) + "] wrong";
          }
          return std::string();
        },
        ir::Fallback::DowncastF64);
  }
}

// --- block-level collectives -------------------------------------------------------------------------------

void reductions(std::vector<Case>& out) {
  constexpr u32 block = 128, blocks = 8, n = block * blocks;
  const auto v = uints(n, 1000, 41);
  {
    // Tree reduction in shared memory; the stride lives in a per-thread variable (uniform: every thread
    // stores the same value), so the barrier inside the loop is in uniform control flow.
    auto k = take(dsl::kernel<Portable>("block_sum_u32", {block, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto o = k.template buffer<u32>("out");
      auto tile = k.template shared<u32>(block, "tile");
      auto t = k.thread_id();
      tile[t] = in[k.global_id()].load();
      k.barrier();
      auto stride = k.template local<u32>(1, "stride");
      stride[0u] = k.block_dim() / 2u;
      k.loop([&] {
        V<u32> s = stride[0u];
        k.if_(s == 0u, [&] { k.break_(); });
        k.if_(t < s, [&] { tile[t] = tile[t] + tile[t + s]; });
        k.barrier();
        stride[0u] = s >> 1u;
      });
      k.if_(t == 0u, [&] { o[k.block_id()] = tile[0u].load(); });
    }));
    add(out, "block_sum_u32", std::move(k), {blocks, 1, 1},
        {buffer_of(v, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(blocks), ScalarKind::U32)},
        [v](const std::vector<Arg>& r) {
          std::vector<u32> want(blocks, 0);
          for (u32 i = 0; i < n; ++i) want[i / block] += v[i];
          return same(as<u32>(r[1]), want, "out");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("block_sum_f32", {block, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<float>("in");
      auto o = k.template buffer<float>("out");
      auto tile = k.template shared<float>(block, "tile");
      auto t = k.thread_id();
      tile[t] = in[k.global_id()].load();
      k.barrier();
      for (u32 s = block / 2; s > 0; s >>= 1) {  // unrolled at build time
        k.if_(t < s, [&] { tile[t] = tile[t] + tile[t + s]; });
        k.barrier();
      }
      k.if_(t == 0u, [&] { o[k.block_id()] = tile[0u].load(); });
    }));
    const auto f = floats(n, 1, 43);
    add(out, "block_sum_f32", std::move(k), {blocks, 1, 1},
        {buffer_of(f, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(blocks), ScalarKind::F32, 1e-5)},
        [f](const std::vector<Arg>& r) {
          std::vector<float> want(blocks, 0);
          for (u32 b = 0; b < blocks; ++b) {
            double s = 0;
            for (u32 i = 0; i < block; ++i) s += f[b * block + i];
            want[b] = static_cast<float>(s);
          }
          return near(as<float>(r[1]), want, 1e-4, "out");
        });
  }
  {
    // Hillis-Steele inclusive scan per block, double-buffered in shared memory.
    auto k = take(dsl::kernel<Portable>("block_scan_u32", {block, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto o = k.template buffer<u32>("out");
      auto buf = k.template shared<u32>(2 * block, "buf");
      auto t = k.thread_id();
      auto g = k.global_id();
      buf[t] = in[g].load();
      k.barrier();
      u32 src = 0;
      for (u32 d = 1; d < block; d <<= 1) {
        const u32 dst = block - src;
        auto mine = buf[t + src].load();
        k.if_(t >= d, [&] { buf[t + dst] = mine + buf[t + src - d]; }, [&] { buf[t + dst] = mine; });
        k.barrier();
        src = dst;
      }
      o[g] = buf[t + src].load();
    }));
    add(out, "block_scan_u32", std::move(k), {blocks, 1, 1},
        {buffer_of(v, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(n), ScalarKind::U32)},
        [v](const std::vector<Arg>& r) {
          std::vector<u32> want(n);
          for (u32 i = 0; i < n; ++i) want[i] = v[i] + (i % block == 0 ? 0u : want[i - 1]);
          return same(as<u32>(r[1]), want, "out");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("exclusive_scan_u32", {block, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto o = k.template buffer<u32>("out");
      auto buf = k.template shared<u32>(block, "buf");
      auto t = k.thread_id();
      auto g = k.global_id();
      buf[t] = in[g].load();
      k.barrier();
      // Thread 0 scans serially: a loop in a divergent branch with no barrier inside is fine.
      k.if_(t == 0u, [&] {
        auto acc = k.template local<u32>(1, "acc");
        k.template for_<u32>(0u, k.block_dim(), 1u, [&](V<u32> j) {
          V<u32> x = buf[j];
          buf[j] = acc[0u].load();
          acc[0u] = acc[0u] + x;
        });
      });
      k.barrier();
      o[g] = buf[t].load();
    }));
    add(out, "exclusive_scan_u32", std::move(k), {blocks, 1, 1},
        {buffer_of(v, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(n), ScalarKind::U32)},
        [v](const std::vector<Arg>& r) {
          std::vector<u32> want(n);
          for (u32 i = 0; i < n; ++i) want[i] = i % block == 0 ? 0u : want[i - 1] + v[i - 1];
          return same(as<u32>(r[1]), want, "out");
        });
  }
}

// --- atomics -------------------------------------------------------------------------------------------

void atomics(std::vector<Case>& out) {
  constexpr u32 n = 2048, bins = 16;
  const auto v = uints(n, 100000, 51);
  {
    auto k = take(dsl::kernel<Portable>("histogram", {256, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto h = k.template buffer<u32>("hist");
      auto local = k.template shared<u32>(bins, "local");
      auto t = k.thread_id();
      k.if_(t < bins, [&] { local[t] = 0u; });
      k.barrier();
      V<u32> x = in[k.global_id()];
      k.atomic(AtomicOp::Add, local[x % bins], 1u);
      k.barrier();
      k.if_(t < bins, [&] { k.atomic(AtomicOp::Add, h[t], local[t].load()); });
    }));
    add(out, "histogram", std::move(k), {n / 256, 1, 1},
        {buffer_of(v, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(bins), ScalarKind::U32)},
        [v](const std::vector<Arg>& r) {
          std::vector<u32> want(bins, 0);
          for (u32 x : v) ++want[x % bins];
          return same(as<u32>(r[1]), want, "hist");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("atomic_sum_minmax", {128, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<i32>("in");
      auto acc = k.template buffer<i32>("acc");  // sum, min, max, and, or, xor
      V<i32> x = in[k.global_id()];
      k.atomic(AtomicOp::Add, acc[0u], x);
      k.atomic(AtomicOp::Min, acc[1u], x);
      k.atomic(AtomicOp::Max, acc[2u], x);
      k.atomic(AtomicOp::And, acc[3u], x);
      k.atomic(AtomicOp::Or, acc[4u], x);
      k.atomic(AtomicOp::Xor, acc[5u], x);
      k.atomic(AtomicOp::Sub, acc[6u], x);
    }));
    std::vector<i32> x(n);
    for (u32 i = 0; i < n; ++i) x[i] = static_cast<i32>(v[i]) - 50000;
    add(out, "atomic_sum_minmax", std::move(k), {n / 128, 1, 1},
        {buffer_of(x, ScalarKind::I32, 0, false), buffer_of(std::vector<i32>{0, INT32_MAX, INT32_MIN, -1, 0, 0, 0}, ScalarKind::I32)},
        [x](const std::vector<Arg>& r) {
          std::vector<i32> want{0, INT32_MAX, INT32_MIN, -1, 0, 0, 0};
          for (i32 e : x) {
            want[0] += e;
            want[1] = std::min(want[1], e);
            want[2] = std::max(want[2], e);
            want[3] &= e;
            want[4] |= e;
            want[5] ^= e;
            want[6] -= e;
          }
          return same(as<i32>(r[1]), want, "acc");
        });
  }
  {
    // A CAS loop: every thread adds its value with compare-exchange retries.
    auto k = take(dsl::kernel<Portable>("cas_accumulate", {64, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto acc = k.template buffer<u32>("acc");
      V<u32> x = in[k.global_id()];
      auto seen = k.template local<u32>(1, "seen");
      seen[0u] = acc[0u].load();
      k.loop([&] {
        V<u32> expect = seen[0u];
        V<u32> old = k.atomic_cas(acc[0u], expect, expect + x);
        k.if_(old == expect, [&] { k.break_(); });
        seen[0u] = old;
      });
    }));
    add(out, "cas_accumulate", std::move(k), {256 / 64, 1, 1},
        {buffer_of(std::vector<u32>(v.begin(), v.begin() + 256), ScalarKind::U32, 0, false), buffer_of(std::vector<u32>{5}, ScalarKind::U32)},
        [v](const std::vector<Arg>& r) {
          u32 s = 5;
          for (u32 i = 0; i < 256; ++i) s += v[i];
          return same(as<u32>(r[1]), std::vector<u32>{s}, "acc");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("atomic_exchange_slots", {64, 1, 1}, [&](auto& k) {
      auto slots = k.template buffer<u32>("slots");
      auto old = k.template buffer<u32>("old");
      auto g = k.global_id();
      old[g] = k.atomic(AtomicOp::Exchange, slots[g], g * 3u + 1u);
    }));
    const auto init = uints(256, 1000, 53);
    add(out, "atomic_exchange_slots", std::move(k), {4, 1, 1},
        {buffer_of(init, ScalarKind::U32), buffer_of(std::vector<u32>(256), ScalarKind::U32)},
        [init](const std::vector<Arg>& r) {
          std::vector<u32> slots(256);
          for (u32 i = 0; i < 256; ++i) slots[i] = i * 3 + 1;
          auto e = same(as<u32>(r[0]), slots, "slots");
          return e.empty() ? same(as<u32>(r[1]), init, "old") : e;
        });
  }
  {
    // 64-bit counters: accumulation only (exact on every target; emulated with two words on WGSL/MSL).
    auto k = take(dsl::kernel<Portable>("atomic_counter_u64", {128, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto counters = k.template buffer<u64>("counters");
      V<u32> x = in[k.global_id()];
      V<u64> big = dsl::cast<u64>(x) * 4000000000ull;  // crosses 2^32 so the carry matters
      k.atomic_accumulate(counters[0u], big);
      k.atomic_accumulate(counters[1u], dsl::cast<u64>(x));
    }));
    add(out, "atomic_counter_u64", std::move(k), {n / 128, 1, 1},
        {buffer_of(v, ScalarKind::U32, 0, false), buffer_of(std::vector<u64>{1ull << 40, 0}, ScalarKind::U64)},
        [v](const std::vector<Arg>& r) {
          std::vector<u64> want{1ull << 40, 0};
          for (u32 x : v) {
            want[0] += static_cast<u64>(x) * 4000000000ull;
            want[1] += x;
          }
          return same(as<u64>(r[1]), want, "counters");
        });
  }
}

void wide_ints(std::vector<Case>& out) {
  constexpr u32 n = 256;
  std::vector<u64> a(n), b(n);
  const auto r1 = uints(2 * n, 0, 61), r2 = uints(2 * n, 0, 62);
  for (u32 i = 0; i < n; ++i) {
    a[i] = (static_cast<u64>(r1[2 * i]) << 32) | r1[2 * i + 1];
    b[i] = (static_cast<u64>(r2[2 * i]) << 32) | r2[2 * i + 1];
  }
  {
    auto k = take(dsl::kernel<Portable>("u64_arith", {64, 1, 1}, [&](auto& k) {
      auto pa = k.template buffer<u64>("a");
      auto pb = k.template buffer<u64>("b");
      auto o = k.template buffer<u64>("out");
      auto i = k.global_id();
      V<u64> x = pa[i], y = pb[i];
      auto base = i * 8u;
      o[base] = x + y;
      o[base + 1u] = x - y;
      o[base + 2u] = x * y;
      o[base + 3u] = x << dsl::cast<u64>(i % 64u);
      o[base + 4u] = x >> dsl::cast<u64>(i % 64u);
      o[base + 5u] = dsl::cast<u64>(x < y) + dsl::cast<u64>(x >= y) * 2ull;
      o[base + 6u] = dsl::max(x, y) ^ dsl::min(x, y);
      o[base + 7u] = dsl::cast<u64>(dsl::cast<u32>(x)) + dsl::cast<u64>(i);
    }));
    add(out, "u64_arith", std::move(k), {n / 64, 1, 1},
        {buffer_of(a, ScalarKind::U64, 0, false), buffer_of(b, ScalarKind::U64, 0, false), buffer_of(std::vector<u64>(8 * n), ScalarKind::U64)},
        [a, b](const std::vector<Arg>& r) {
          std::vector<u64> want(8 * n);
          for (u32 i = 0; i < n; ++i) {
            want[8 * i] = a[i] + b[i];
            want[8 * i + 1] = a[i] - b[i];
            want[8 * i + 2] = a[i] * b[i];
            want[8 * i + 3] = a[i] << (i % 64);
            want[8 * i + 4] = a[i] >> (i % 64);
            want[8 * i + 5] = (a[i] < b[i] ? 1 : 0) + (a[i] >= b[i] ? 2 : 0);
            want[8 * i + 6] = std::max(a[i], b[i]) ^ std::min(a[i], b[i]);
            want[8 * i + 7] = static_cast<u32>(a[i]) + static_cast<u64>(i);
          }
          return same(as<u64>(r[2]), want, "out");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("i64_arith", {64, 1, 1}, [&](auto& k) {
      auto pa = k.template buffer<i64>("a");
      auto o = k.template buffer<i64>("out");
      auto i = k.global_id();
      V<i64> x = pa[i];
      auto base = i * 5u;
      o[base] = -x;
      o[base + 1u] = x >> dsl::cast<i64>(i % 64u);
      o[base + 2u] = dsl::cast<i64>(x < 0ll);
      o[base + 3u] = dsl::cast<i64>(dsl::cast<i32>(x));
      o[base + 4u] = dsl::min(x, -x);
    }));
    std::vector<i64> sa(n);
    for (u32 i = 0; i < n; ++i) sa[i] = static_cast<i64>(a[i]);
    add(out, "i64_arith", std::move(k), {n / 64, 1, 1},
        {buffer_of(sa, ScalarKind::I64, 0, false), buffer_of(std::vector<i64>(5 * n), ScalarKind::I64)},
        [sa](const std::vector<Arg>& r) {
          std::vector<i64> want(5 * n);
          for (u32 i = 0; i < n; ++i) {
            const i64 neg = static_cast<i64>(0ull - static_cast<u64>(sa[i]));
            want[5 * i] = neg;
            want[5 * i + 1] = sa[i] >> (i % 64);
            want[5 * i + 2] = sa[i] < 0 ? 1 : 0;
            want[5 * i + 3] = static_cast<i32>(sa[i]);
            want[5 * i + 4] = std::min(sa[i], neg);
          }
          return same(as<i64>(r[1]), want, "out");
        });
  }
}

// --- stencils and dense linear algebra -----------------------------------------------------------------------

void stencils(std::vector<Case>& out) {
  {
    constexpr u32 nx = 500;
    auto k = take(dsl::stencil<Portable, 1, 1>("stencil1d", {64, 1, 1}, [&](auto& s) {
      s.output(s.template at<-1>() * 0.25f + s.center() * 0.5f + s.template at<1>() * 0.25f);
    }));
    const auto in = floats(nx, 1, 71);
    add(out, "stencil1d", std::move(k), {(nx + 63) / 64, 1, 1},
        {buffer_of(in, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(nx), ScalarKind::F32, 1e-6), scalar_of(nx)},
        [in](const std::vector<Arg>& r) {
          std::vector<float> want(nx, 0.0f);
          for (u32 i = 1; i + 1 < nx; ++i) want[i] = in[i - 1] * 0.25f + in[i] * 0.5f + in[i + 1] * 0.25f;
          return near(as<float>(r[1]), want, 1e-6, "out");
        });
  }
  {
    constexpr u32 nx = 40, ny = 30;
    auto k = take(dsl::stencil<Portable, 2, 1>("jacobi2d", {8, 8, 1}, [&](auto& s) {
      s.output((s.template at<-1, 0>() + s.template at<1, 0>() + s.template at<0, -1>() + s.template at<0, 1>()) * 0.25f);
    }));
    const auto in = floats(nx * ny, 1, 72);
    add(out, "jacobi2d", std::move(k), {(nx + 7) / 8, (ny + 7) / 8, 1},
        {buffer_of(in, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(nx * ny), ScalarKind::F32, 1e-6), scalar_of(nx), scalar_of(ny)},
        [in](const std::vector<Arg>& r) {
          std::vector<float> want(nx * ny, 0.0f);
          for (u32 y = 1; y + 1 < ny; ++y) {
            for (u32 x = 1; x + 1 < nx; ++x) {
              want[y * nx + x] = (in[y * nx + x - 1] + in[y * nx + x + 1] + in[(y - 1) * nx + x] + in[(y + 1) * nx + x]) * 0.25f;
            }
          }
          return near(as<float>(r[1]), want, 1e-6, "out");
        });
  }
  {
    constexpr u32 nx = 12, ny = 10, nz = 9;
    auto k = take(dsl::stencil<Portable, 3, 1>("stencil3d", {4, 4, 4}, [&](auto& s) {
      auto sum = s.template at<-1, 0, 0>() + s.template at<1, 0, 0>() + s.template at<0, -1, 0>() + s.template at<0, 1, 0>() +
                 s.template at<0, 0, -1>() + s.template at<0, 0, 1>();
      s.output(sum - s.center() * 6.0f);
    }));
    const auto in = floats(nx * ny * nz, 1, 73);
    add(out, "stencil3d", std::move(k), {3, 3, 3},
        {buffer_of(in, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(nx * ny * nz), ScalarKind::F32, 1e-5), scalar_of(nx),
         scalar_of(ny), scalar_of(nz)},
        [in](const std::vector<Arg>& r) {
          std::vector<float> want(nx * ny * nz, 0.0f);
          auto at = [&](u32 x, u32 y, u32 z) { return in[(z * ny + y) * nx + x]; };
          for (u32 z = 1; z + 1 < nz; ++z)
            for (u32 y = 1; y + 1 < ny; ++y)
              for (u32 x = 1; x + 1 < nx; ++x)
                want[(z * ny + y) * nx + x] = at(x - 1, y, z) + at(x + 1, y, z) + at(x, y - 1, z) + at(x, y + 1, z) + at(x, y, z - 1) +
                                              at(x, y, z + 1) - at(x, y, z) * 6.0f;
          return near(as<float>(r[1]), want, 1e-5, "out");
        });
  }
  {
    constexpr u32 N = 48, T = 16;
    auto k = take(dsl::kernel<Portable>("matmul_tiled", {T, T, 1}, [&](auto& k) {
      auto A = k.template buffer<float>("a");
      auto B = k.template buffer<float>("b");
      auto C = k.template buffer<float>("c");
      auto n = k.template param<u32>("n");
      auto ta = k.template shared<float>(T * T, "ta");
      auto tb = k.template shared<float>(T * T, "tb");
      auto tx = k.thread_id(Dim::X), ty = k.thread_id(Dim::Y);
      auto col = k.global_id(Dim::X), row = k.global_id(Dim::Y);
      auto acc = k.template local<float>(1, "acc");
      k.template for_<u32>(0u, n, T, [&](V<u32> t0) {
        ta[ty * T + tx] = A[row * n + t0 + tx].load();
        tb[ty * T + tx] = B[(t0 + ty) * n + col].load();
        k.barrier();
        for (u32 j = 0; j < T; ++j) acc[0u] = acc[0u] + ta[ty * T + j] * tb[j * T + tx];
        k.barrier();
      });
      C[row * n + col] = acc[0u].load();
    }));
    const auto a = floats(N * N, 1, 81), b = floats(N * N, 1, 82);
    add(out, "matmul_tiled", std::move(k), {N / T, N / T, 1},
        {buffer_of(a, ScalarKind::F32, 0, false), buffer_of(b, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(N * N), ScalarKind::F32, 1e-5),
         scalar_of(N)},
        [a, b](const std::vector<Arg>& r) {
          std::vector<float> want(N * N);
          for (u32 i = 0; i < N; ++i)
            for (u32 j = 0; j < N; ++j) {
              double s = 0;
              for (u32 q = 0; q < N; ++q) s += static_cast<double>(a[i * N + q]) * b[q * N + j];
              want[i * N + j] = static_cast<float>(s);
            }
          return near(as<float>(r[2]), want, 1e-5, "c");
        });
  }
  {
    constexpr u32 N = 32;
    auto k = take(dsl::kernel<Portable>("matmul_naive", {8, 8, 1}, [&](auto& k) {
      auto A = k.template buffer<float>("a");
      auto B = k.template buffer<float>("b");
      auto C = k.template buffer<float>("c");
      auto col = k.global_id(Dim::X), row = k.global_id(Dim::Y);
      auto acc = k.template local<float>(1, "acc");
      k.template for_<u32>(0u, N, 1u, [&](V<u32> q) { acc[0u] = dsl::fma(A[row * N + q].load(), B[q * N + col].load(), acc[0u].load()); });
      C[row * N + col] = acc[0u].load();
    }));
    const auto a = floats(N * N, 1, 83), b = floats(N * N, 1, 84);
    add(out, "matmul_naive", std::move(k), {N / 8, N / 8, 1},
        {buffer_of(a, ScalarKind::F32, 0, false), buffer_of(b, ScalarKind::F32, 0, false), buffer_of(std::vector<float>(N * N), ScalarKind::F32, 1e-5)},
        [a, b](const std::vector<Arg>& r) {
          std::vector<float> want(N * N);
          for (u32 i = 0; i < N; ++i)
            for (u32 j = 0; j < N; ++j) {
              double s = 0;
              for (u32 q = 0; q < N; ++q) s += static_cast<double>(a[i * N + q]) * b[q * N + j];
              want[i * N + j] = static_cast<float>(s);
            }
          return near(as<float>(r[2]), want, 1e-5, "c");
        });
  }
  {
    constexpr u32 W = 64, H = 32, T = 16;
    auto k = take(dsl::kernel<Portable>("transpose_tiled", {T, T, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto o = k.template buffer<u32>("out");
      auto tile = k.template shared<u32>(T * (T + 1), "tile");  // +1 column: no bank conflicts
      auto tx = k.thread_id(Dim::X), ty = k.thread_id(Dim::Y);
      auto bx = k.block_id(Dim::X), by = k.block_id(Dim::Y);
      tile[ty * (T + 1) + tx] = in[(by * T + ty) * W + bx * T + tx].load();
      k.barrier();
      o[(bx * T + ty) * H + by * T + tx] = tile[tx * (T + 1) + ty].load();
    }));
    const auto in = uints(W * H, 0, 85);
    add(out, "transpose_tiled", std::move(k), {W / T, H / T, 1},
        {buffer_of(in, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(W * H), ScalarKind::U32)},
        [in](const std::vector<Arg>& r) {
          std::vector<u32> want(W * H);
          for (u32 y = 0; y < H; ++y)
            for (u32 x = 0; x < W; ++x) want[x * H + y] = in[y * W + x];
          return same(as<u32>(r[1]), want, "out");
        });
  }
}

// --- control flow --------------------------------------------------------------------------------------

void control(std::vector<Case>& out) {
  constexpr u32 n = 256;
  {
    auto k = take(dsl::kernel<Portable>("collatz_steps", {64, 1, 1}, [&](auto& k) {
      auto o = k.template buffer<u32>("steps");
      auto g = k.global_id();
      auto x = k.template local<u32>(1, "x");
      auto steps = k.template local<u32>(1, "steps");
      x[0u] = g + 1u;
      k.loop([&] {
        V<u32> v = x[0u];
        k.if_(v == 1u, [&] { k.break_(); });
        steps[0u] = steps[0u] + 1u;
        k.if_((v & 1u) == 0u, [&] {
          x[0u] = v >> 1u;
          k.continue_();
        });
        x[0u] = v * 3u + 1u;
      });
      o[g] = steps[0u].load();
    }));
    add(out, "collatz_steps", std::move(k), {n / 64, 1, 1}, {buffer_of(std::vector<u32>(n), ScalarKind::U32)},
        [](const std::vector<Arg>& r) {
          std::vector<u32> want(n);
          for (u32 i = 0; i < n; ++i) {
            u32 x = i + 1, s = 0;
            while (x != 1) {
              ++s;
              x = (x & 1) == 0 ? x / 2 : 3 * x + 1;
            }
            want[i] = s;
          }
          return same(as<u32>(r[0]), want, "steps");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("prime_count", {64, 1, 1}, [&](auto& k) {
      auto o = k.template buffer<u32>("is_prime");
      auto g = k.global_id();
      auto flag = k.template local<u32>(1, "flag");
      flag[0u] = dsl::cast<u32>(g >= 2u);
      k.template for_<u32>(2u, g, 1u, [&](V<u32> d) {
        k.if_(d * d > g, [&] { k.break_(); });
        k.if_(g % d == 0u, [&] {
          flag[0u] = 0u;
          k.break_();
        });
      });
      o[g] = flag[0u].load();
    }));
    add(out, "prime_count", std::move(k), {n / 64, 1, 1}, {buffer_of(std::vector<u32>(n), ScalarKind::U32)},
        [](const std::vector<Arg>& r) {
          std::vector<u32> want(n);
          for (u32 i = 0; i < n; ++i) {
            bool p = i >= 2;
            for (u32 d = 2; d * d <= i; ++d) p = p && i % d != 0;
            want[i] = p ? 1 : 0;
          }
          return same(as<u32>(r[0]), want, "is_prime");
        });
  }
  {
    // Per-thread private array: insertion sort of 8 values.
    auto k = take(dsl::kernel<Portable>("private_sort8", {32, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto o = k.template buffer<u32>("out");
      auto g = k.global_id();
      auto a = k.template local<u32>(8, "a");
      k.template for_<u32>(0u, 8u, 1u, [&](V<u32> i) { a[i] = in[g * 8u + i].load(); });
      k.template for_<u32>(1u, 8u, 1u, [&](V<u32> i) {
        auto j = k.template local<u32>(1, "j");
        j[0u] = i;
        k.loop([&] {
          V<u32> jj = j[0u];
          k.if_(jj == 0u, [&] { k.break_(); });
          V<u32> hi = a[jj], lo = a[jj - 1u];
          k.if_(lo <= hi, [&] { k.break_(); });
          a[jj] = lo;
          a[jj - 1u] = hi;
          j[0u] = jj - 1u;
        });
      });
      k.template for_<u32>(0u, 8u, 1u, [&](V<u32> i) { o[g * 8u + i] = a[i].load(); });
    }));
    const auto in = uints(64 * 8, 1000, 91);
    add(out, "private_sort8", std::move(k), {2, 1, 1},
        {buffer_of(in, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(64 * 8), ScalarKind::U32)},
        [in](const std::vector<Arg>& r) {
          auto want = in;
          for (u32 t = 0; t < 64; ++t) std::sort(want.begin() + t * 8, want.begin() + t * 8 + 8);
          return same(as<u32>(r[1]), want, "out");
        });
  }
  {
    auto k = take(dsl::kernel<Portable>("grid_coords", {4, 2, 2}, [&](auto& k) {
      auto o = k.template buffer<u32>("out");
      auto x = k.global_id(Dim::X), y = k.global_id(Dim::Y), z = k.global_id(Dim::Z);
      auto w = k.grid_dim(Dim::X) * k.block_dim(Dim::X);
      auto h = k.grid_dim(Dim::Y) * k.block_dim(Dim::Y);
      auto idx = (z * h + y) * w + x;
      o[idx] = k.block_id(Dim::Z) * 1000000u + k.block_id(Dim::Y) * 10000u + k.block_id(Dim::X) * 100u +
               k.thread_id(Dim::Z) * 16u + k.thread_id(Dim::Y) * 4u + k.thread_id(Dim::X);
    }));
    add(out, "grid_coords", std::move(k), {3, 2, 2}, {buffer_of(std::vector<u32>(12 * 4 * 4), ScalarKind::U32)},
        [](const std::vector<Arg>& r) {
          std::vector<u32> want(12 * 4 * 4);
          for (u32 z = 0; z < 4; ++z)
            for (u32 y = 0; y < 4; ++y)
              for (u32 x = 0; x < 12; ++x)
                want[(z * 4 + y) * 12 + x] = (z / 2) * 1000000 + (y / 2) * 10000 + (x / 4) * 100 + (z % 2) * 16 + (y % 2) * 4 + (x % 4);
          return same(as<u32>(r[0]), want, "out");
        });
  }
  {
    // Early return by some threads (no barrier after it).
    auto k = take(dsl::kernel<Portable>("early_return", {64, 1, 1}, [&](auto& k) {
      auto o = k.template buffer<u32>("out");
      auto g = k.global_id();
      k.if_(g % 3u == 0u, [&] { k.return_(); });
      o[g] = g * g;
    }));
    add(out, "early_return", std::move(k), {n / 64, 1, 1}, {buffer_of(std::vector<u32>(n, 7u), ScalarKind::U32)},
        [](const std::vector<Arg>& r) {
          std::vector<u32> want(n);
          for (u32 i = 0; i < n; ++i) want[i] = i % 3 == 0 ? 7 : i * i;
          return same(as<u32>(r[0]), want, "out");
        });
  }
}

// --- subgroups (results independent of the subgroup size) ---------------------------------------------------

void subgroups(std::vector<Case>& out) {
  constexpr u32 n = 1024;
  const auto v = uints(n, 1000, 101);
  {
    auto k = take(dsl::kernel<WithSubgroups>("subgroup_reduce_sum", {128, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto total = k.template buffer<u32>("total");
      V<u32> x = in[k.global_id()];
      auto s = k.reduce(ir::ReduceOp::Add, x);
      auto mx = k.reduce(ir::ReduceOp::Max, x);
      k.if_(k.lane_id() == 0u, [&] {
        k.atomic(AtomicOp::Add, total[0u], s);
        k.atomic(AtomicOp::Max, total[1u], mx);
      });
    }));
    add(out, "subgroup_reduce_sum", std::move(k), {n / 128, 1, 1},
        {buffer_of(v, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(2), ScalarKind::U32)},
        [v](const std::vector<Arg>& r) {
          u32 s = 0, m = 0;
          for (u32 x : v) {
            s += x;
            m = std::max(m, x);
          }
          return same(as<u32>(r[1]), std::vector<u32>{s, m}, "total");
        });
  }
  {
    auto k = take(dsl::kernel<WithSubgroups>("subgroup_shuffle_xor", {64, 1, 1}, [&](auto& k) {
      auto in = k.template buffer<u32>("in");
      auto o = k.template buffer<u32>("out");
      auto g = k.global_id();
      V<u32> x = in[g];
      o[g] = k.shuffle(ir::ShuffleKind::Xor, x, 1u) + k.shuffle(ir::ShuffleKind::Idx, x, k.lane_id()) * 0u;
    }));
    add(out, "subgroup_shuffle_xor", std::move(k), {n / 64, 1, 1},
        {buffer_of(v, ScalarKind::U32, 0, false), buffer_of(std::vector<u32>(n), ScalarKind::U32)},
        [v](const std::vector<Arg>& r) {
          std::vector<u32> want(n);
          for (u32 i = 0; i < n; ++i) want[i] = v[i ^ 1u];
          return same(as<u32>(r[1]), want, "out");
        });
  }
  {
    auto k = take(dsl::kernel<WithSubgroups>("subgroup_vote", {64, 1, 1}, [&](auto& k) {
      auto o = k.template buffer<u32>("out");
      auto g = k.global_id();
      auto any_big = k.any(k.block_id() == 3u);
      auto ballot_all = k.ballot(g < 100000u);
      o[g] = dsl::cast<u32>(any_big) + dsl::cast<u32>(ballot_all != 0u) * 2u;
    }));
    add(out, "subgroup_vote", std::move(k), {n / 64, 1, 1}, {buffer_of(std::vector<u32>(n), ScalarKind::U32)},
        [](const std::vector<Arg>& r) {
          std::vector<u32> want(n);
          for (u32 i = 0; i < n; ++i) want[i] = (i / 64 == 3 ? 1u : 0u) + 2u;
          return same(as<u32>(r[0]), want, "out");
        });
  }
}

// --- an actor handler over real rings ------------------------------------------------------------------

struct AddMsg {
  static constexpr auto type_id = ringkernel::message_type("parity.Add");
  std::uint64_t value;
};
struct SumMsg {
  static constexpr auto type_id = ringkernel::message_type("parity.Sum");
  std::uint64_t total;
};

std::vector<std::byte> ring_bytes(ringkernel::RingKind kind, u32 capacity, u32 slot, const std::function<void(ringkernel::RingView)>& fill) {
  const auto bytes = ringkernel::ring_storage_bytes(kind, capacity, slot);
  auto* mem = static_cast<std::byte*>(std::aligned_alloc(128, (bytes + 127) / 128 * 128));
  ringkernel::RingView view;
  (void)ringkernel::ring_init(mem, bytes, kind, capacity, slot, &view);
  if (fill) fill(view);
  std::vector<std::byte> out(mem, mem + bytes);
  std::free(mem);
  return out;
}

void actor(std::vector<Case>& out) {
  constexpr u32 msgs = 6;
  auto k = take(dsl::actor_handler<Portable>("adder_actor", 32,
                                             {dsl::Handler{AddMsg::type_id, [](dsl::MessageContext& m) {
                                               auto total = m.state_u64(0) + m.payload<u64>(offsetof(AddMsg, value));
                                               m.set_state_u64(0, total);
                                               m.state_word(2) = m.state_word(2) + 1u;
                                               m.reply(SumMsg::type_id, {dsl::cast<u32>(total), dsl::cast<u32>(total >> 32ull)});
                                             }}}));
  auto inbox = ring_bytes(ringkernel::RingKind::Mpsc, 8, 128, [](ringkernel::RingView v) {
    ringkernel::MpscProducer p(v);
    for (u32 i = 0; i < msgs; ++i) {
      auto h = ringkernel::make_header<AddMsg>(ringkernel::kHostActor, 7);
      h.correlation_id = 100 + i;
      h.tenant = 3;
      h.hlc = ringkernel::hlc_pack(1000 + i, 0);
      h.flags = ringkernel::msg_flags::kExpectsReply | ringkernel::msg_flags::kTraceSampled;
      h.trace_id[0] = static_cast<std::uint8_t>(i);
      AddMsg m{(1ull << 33) + i};
      (void)p.try_push(h, &m);
    }
    // A message of an unknown type: consumed and skipped.
    auto h = ringkernel::make_header<SumMsg>(ringkernel::kHostActor, 7);
    SumMsg s{1};
    (void)p.try_push(h, &s);
  });
  auto outbox = ring_bytes(ringkernel::RingKind::Spsc, 8, 128, nullptr);
  Arg in, ob;
  in.kind = ir::ArgKind::Ring;
  in.bytes = inbox;
  in.compare = false;  // ring bytes hold host-chosen ids only; the check decodes them
  ob.kind = ir::ArgKind::Ring;
  ob.bytes = outbox;
  ob.compare = false;
  add(out, "actor_adder", std::move(k), {1, 1, 1},
      {in, ob, buffer_of(std::vector<u32>(4), ScalarKind::U32), buffer_of(std::vector<u64>{0}, ScalarKind::U64, 0, false), scalar_of<u64>(5000),
       scalar_of<u32>(16)},
      [](const std::vector<Arg>& r) -> std::string {
        auto st = as<u32>(r[2]);
        const u64 total = st[0] | (static_cast<u64>(st[1]) << 32);
        u64 want = 0;
        for (u32 i = 0; i < msgs; ++i) want += (1ull << 33) + i;
        if (total != want || st[2] != msgs) return "state wrong";
        // Replies: decode the outbox with the runtime's own consumer.
        auto* mem = static_cast<std::byte*>(std::aligned_alloc(128, (r[1].bytes.size() + 127) / 128 * 128));
        std::memcpy(mem, r[1].bytes.data(), r[1].bytes.size());
        ringkernel::RingView view;
        std::string err;
        if (ringkernel::ring_attach(mem, ringkernel::RingKind::Spsc, &view) != ringkernel::ErrorCode::Ok) err = "outbox corrupt";
        u32 seen = 0;
        u64 running = 0, last_hlc = 0;
        if (err.empty()) {
          ringkernel::SpscConsumer c(view);
          c.pop_batch(16, [&](const ringkernel::MessageHeader& h, const std::byte* payload) {
            SumMsg s;
            std::memcpy(&s, payload, sizeof s);
            running += (1ull << 33) + seen;
            if (!h.valid() || h.type_id != SumMsg::type_id || h.payload_len != sizeof(SumMsg) || s.total != running ||
                h.correlation_id != 100 + seen || h.tenant != 3 || h.source != 7 || h.destination != ringkernel::kHostActor ||
                (h.flags & ringkernel::msg_flags::kReply) == 0 || (h.flags & ringkernel::msg_flags::kTraceSampled) == 0 ||
                h.trace_id[0] != seen || h.hlc <= last_hlc || h.hlc <= ringkernel::hlc_pack(1000 + seen, 0) ||
                h.hlc < ringkernel::hlc_pack(5000, 0)) {
              if (err.empty()) err = "reply " + std::to_string(seen) + " has a wrong header or payload";
            }
            last_hlc = h.hlc;
            ++seen;
          });
        }
        std::free(mem);
        if (err.empty() && seen != msgs) err = "expected " + std::to_string(msgs) + " replies, got " + std::to_string(seen);
        const u64 clock = as<u64>(r[3])[0];
        if (err.empty() && clock <= last_hlc) err = "clock is behind the last reply stamp (the unknown message also merges)";
        return err;
      });
}

void hlc(std::vector<Case>& out) {
  auto k = take(dsl::kernel<Portable>("hlc_steps", {32, 1, 1}, [&](auto& k) {
    auto clocks = k.template buffer<u64>("clocks");
    auto o = k.template buffer<u64>("stamps");
    auto phys = k.template param<u64>("phys_ms");
    auto g = k.global_id();
    auto& b = k.ir();
    auto c = clocks[g];
    V<u64> t1{&b, b.hlc_tick(c.address(), phys.v)};
    V<u64> t2{&b, b.hlc_update(c.address(), (t1 + 70000ull).v, phys.v)};
    V<u64> now{&b, b.hlc_now(c.address())};
    o[g * 3u] = t1;
    o[g * 3u + 1u] = t2;
    o[g * 3u + 2u] = now;
  }));
  std::vector<u64> clocks(64);
  for (u32 i = 0; i < 64; ++i) clocks[i] = ringkernel::hlc_pack(4000 + (i % 3) * 1000, i);
  add(out, "hlc_steps", std::move(k), {2, 1, 1},
      {buffer_of(clocks, ScalarKind::U64), buffer_of(std::vector<u64>(64 * 3), ScalarKind::U64), scalar_of<u64>(5000)},
      [clocks](const std::vector<Arg>& r) {
        std::vector<u64> c2(64), want(64 * 3);
        for (u32 i = 0; i < 64; ++i) {
          const u64 t1 = ringkernel::hlc_next_tick(clocks[i], 5000);
          const u64 t2 = ringkernel::hlc_next_update(t1, t1 + 70000, 5000);
          want[3 * i] = t1;
          want[3 * i + 1] = t2;
          want[3 * i + 2] = t2;
          c2[i] = t2;
        }
        auto e = same(as<u64>(r[1]), want, "stamps");
        return e.empty() ? same(as<u64>(r[0]), c2, "clocks") : e;
      });
}

} // namespace

std::vector<Case> parity_cases() {
  std::vector<Case> out;
  elementwise(out);
  integers(out);
  floating(out);
  reductions(out);
  atomics(out);
  wide_ints(out);
  stencils(out);
  control(out);
  subgroups(out);
  actor(out);
  hlc(out);
  return out;
}

ringkernel::Result<std::vector<Arg>> run_interpreter(const Case& c, std::uint32_t subgroup_size) {
  std::vector<Arg> args = c.args;
  // Ring memory must be 128-byte aligned: run on aligned copies.
  std::vector<std::unique_ptr<std::byte, void (*)(void*)>> mem;
  ir::KernelArgs ka;
  for (auto& a : args) {
    if (a.kind == ir::ArgKind::Scalar) {
      ka.list().push_back({ir::ArgKind::Scalar, nullptr, 0, a.bits});
      continue;
    }
    auto* p = static_cast<std::byte*>(std::aligned_alloc(128, (a.bytes.size() + 127) / 128 * 128 + 128));
    if (!a.bytes.empty()) std::memcpy(p, a.bytes.data(), a.bytes.size());
    mem.emplace_back(p, &std::free);
    ka.list().push_back({a.kind, p, a.bytes.size(), 0});
  }
  ir::InterpreterOptions opt;
  opt.subgroup_size = subgroup_size;
  if (auto s = ir::interpret(c.kernel, c.grid, ka, opt); !s) return s.error();
  std::size_t m = 0;
  for (auto& a : args) {
    if (a.kind == ir::ArgKind::Scalar) continue;
    if (!a.bytes.empty()) std::memcpy(a.bytes.data(), mem[m].get(), a.bytes.size());
    ++m;
  }
  return args;
}

std::string compare(const Case& c, const std::vector<Arg>& want, const std::vector<Arg>& got) {
  if (want.size() != got.size()) return "argument count differs";
  for (std::size_t i = 0; i < want.size(); ++i) {
    const Arg& w = want[i];
    const Arg& g = got[i];
    if (w.kind == ir::ArgKind::Scalar || !c.args[i].compare) continue;
    if (w.bytes.size() != g.bytes.size()) return "argument " + std::to_string(i) + ": size differs";
    const std::string what = "argument " + std::to_string(i) + " (%" + std::string(c.kernel.name_of(c.kernel.params[i])) + ")";
    if (w.elem == ScalarKind::F32 || w.elem == ScalarKind::F64) {
      const bool f64 = w.elem == ScalarKind::F64;
      const std::size_t n = w.bytes.size() / (f64 ? 8 : 4);
      for (std::size_t e = 0; e < n; ++e) {
        double a = 0, b = 0;
        if (f64) {
          std::memcpy(&a, g.bytes.data() + e * 8, 8);
          std::memcpy(&b, w.bytes.data() + e * 8, 8);
        } else {
          float fa, fb;
          std::memcpy(&fa, g.bytes.data() + e * 4, 4);
          std::memcpy(&fb, w.bytes.data() + e * 4, 4);
          a = fa;
          b = fb;
        }
        if (!(std::fabs(a - b) <= c.args[i].tol * std::max(1.0, std::fabs(b)))) {
          return what + "[" + std::to_string(e) + "] = " + std::to_string(a) + ", interpreter: " + std::to_string(b) +
                 " (tolerance " + std::to_string(c.args[i].tol) + ")";
        }
      }
    } else if (w.bytes != g.bytes) {
      for (std::size_t e = 0; e < w.bytes.size(); ++e) {
        if (w.bytes[e] != g.bytes[e]) return what + ": differs at byte " + std::to_string(e);
      }
    }
  }
  return {};
}

} // namespace rkt
