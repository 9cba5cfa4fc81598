// The shared emitter for the two C++-family languages (CUDA C++ and MSL). Statements and structured control
// flow are identical; types, builtins, conversions, atomics, subgroup operations and the runtime helpers are
// dialect hooks.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/backends.hpp"
#include "ringkernel/ir/codegen.hpp"

namespace ringkernel::ir::codegen {

// Byte offsets of the runtime layouts the lowerings address directly (checked against the headers in
// cfamily.cpp, so a layout change fails the build instead of producing wrong code).
struct Layout {
  std::uint32_t head;          // RingControl::head
  std::uint32_t tail;          // RingControl::tail
  std::uint32_t capacity;      // RingControl::capacity
  std::uint32_t slot_size;     // RingControl::slot_size
  std::uint32_t seq_offset;    // RingControl::seq_offset
  std::uint32_t slots_offset;  // RingControl::slots_offset
  std::uint32_t header_bytes;  // sizeof(MessageHeader)
  std::uint32_t payload_len;   // offsetof(MessageHeader, payload_len), a multiple of 4
  std::uint32_t hlc_logical_bits;
};
const Layout& runtime_layout();

// C literal text of a double that round-trips (shortest form), or empty for inf/nan.
std::string float_literal(double v, bool single);

class CEmitter {
public:
  CEmitter(const Kernel& k, const Target& t);
  virtual ~CEmitter() = default;
  CEmitter(const CEmitter&) = delete;
  CEmitter& operator=(const CEmitter&) = delete;

  Result<GeneratedCode> run();

protected:
  // --- dialect hooks -----------------------------------------------------------------------------------
  virtual Backend backend() const = 0;
  virtual std::string scalar_type(ScalarKind k) const = 0;
  virtual std::string pointer_type(Type ptr) const = 0;        // declared type of a pointer value
  virtual std::string prelude() const = 0;                     // includes and helpers
  virtual std::string signature(GeneratedCode& code) const = 0;  // "... name(params) {\n" plus param unpacking
  virtual std::string literal(ScalarKind k, std::uint64_t lane) const = 0;
  virtual std::string builtin(Op op, Dim d) const = 0;
  virtual std::string convert(ScalarKind from, ScalarKind to, const std::string& e) const = 0;
  virtual std::string bitcast(ScalarKind from, ScalarKind to, const std::string& e) const = 0;
  virtual std::string fmin_fmax(bool is_max, ScalarKind k, const std::string& a, const std::string& b) const = 0;
  virtual std::string math(MathFn fn, ScalarKind k, const std::vector<std::string>& args) const = 0;
  virtual std::string shared_decl(Type elem, const std::string& name, std::int64_t count) const = 0;
  virtual std::string private_decl(Type elem, const std::string& name, std::int64_t count) const = 0;
  virtual void barrier() = 0;
  virtual void fence(FenceScope s) = 0;
  virtual void grid_sync() = 0;
  virtual Status atomic(const Inst& inst) = 0;
  virtual std::string subgroup(const Inst& inst) const = 0;
  virtual std::string ring_call(const Inst& inst) const = 0;
  virtual std::string hlc_call(const Inst& inst) const = 0;

  // --- shared helpers ------------------------------------------------------------------------------------
  std::string value_type(Type t) const;
  std::string id(ValueId v) const { return ident(k_, v); }
  std::string lane(ValueId v, unsigned l) const;
  void line(const std::string& s);
  void define(const Inst& inst, const std::string& expr);
  std::string unsigned_of(ScalarKind k) const { return scalar_type(is_int64(k) ? ScalarKind::U64 : ScalarKind::U32); }
  bool uses(Capability c) const { return caps_.has(c); }
  bool uses_op(Op op) const;

  const Kernel& k_;
  const Target& t_;
  CapabilitySet caps_;
  std::vector<std::uint32_t> uses_;
  std::ostringstream out_;
  int indent_ = 1;

private:
  Status region(const Region& r);
  Status inst(const Inst& inst);
  std::string lane_expr(const Inst& inst, unsigned l, Status& st) const;
};

} // namespace ringkernel::ir::codegen
