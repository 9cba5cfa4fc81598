// The parity suite: kernels written once, each with inputs, a launch shape, a host reference check, and the
// tolerance used when comparing a backend's results with the interpreter's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <cstring>
#include <vector>

#include "ringkernel/ir/codegen.hpp"
#include "ringkernel/ir/interpreter.hpp"
#include "ringkernel/ir/ir.hpp"

namespace rkt {

namespace ir = ringkernel::ir;

// One kernel argument with host-side contents (buffers and rings) or value (scalars).
struct Arg {
  ir::ArgKind kind = ir::ArgKind::Scalar;
  std::vector<std::byte> bytes;             // buffer / ring contents
  ir::ScalarKind elem = ir::ScalarKind::U32;  // element kind of a buffer (comparison)
  std::uint64_t bits = 0;                   // scalar value bits
  bool compare = true;                      // compare this buffer across backends
  double tol = 0;                           // floats: max |a-b| / max(1, |b|)
};

struct Case {
  std::string name;
  ir::Kernel kernel;
  std::array<std::uint32_t, 3> grid{1, 1, 1};
  std::vector<Arg> args;
  // Host reference: returns "" when the outputs are right, else why not.
  std::function<std::string(const std::vector<Arg>&)> check;
  ir::Fallback fallback = ir::Fallback::None;
};

std::vector<Case> parity_cases();

// Runs a case on the interpreter with the given subgroup size; returns the arguments after the run.
ringkernel::Result<std::vector<Arg>> run_interpreter(const Case& c, std::uint32_t subgroup_size = 32);

// "" when `got` matches `want` (integers exactly, floats within each buffer's tolerance).
std::string compare(const Case& c, const std::vector<Arg>& want, const std::vector<Arg>& got);

// Typed views.
template <class T>
std::vector<T> as(const Arg& a) {
  std::vector<T> out(a.bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), a.bytes.data(), out.size() * sizeof(T));
  return out;
}
template <class T>
Arg buffer_of(const std::vector<T>& v, ir::ScalarKind elem, double tol = 0, bool compare = true) {
  Arg a;
  a.kind = ir::ArgKind::Buffer;
  a.bytes.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(a.bytes.data(), v.data(), a.bytes.size());
  a.elem = elem;
  a.tol = tol;
  a.compare = compare;
  return a;
}
template <class T>
Arg scalar_of(T v) {
  Arg a;
  a.kind = ir::ArgKind::Scalar;
  std::memcpy(&a.bits, &v, sizeof(T));
  return a;
}

} // namespace rkt
