// Entry points of the three lowerings (one translation unit each) and helpers they share.
#pragma once

#include <cctype>
#include <string>

#include "ringkernel/ir/codegen.hpp"

namespace ringkernel::ir::codegen {

Result<GeneratedCode> generate_cuda(const Kernel& kernel, const Target& target);
Result<GeneratedCode> generate_wgsl(const Kernel& kernel, const Target& target);
Result<GeneratedCode> generate_msl(const Kernel& kernel, const Target& target);

// Identifier for a value in generated code: "v_<name>" with characters outside [A-Za-z0-9_] replaced, plus
// the id so that two names that sanitise alike never collide.
inline std::string ident(const Kernel& k, ValueId v) {
  std::string s = "v" + std::to_string(v) + "_";
  for (char c : k.name_of(v)) s += (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_') ? c : '_';
  return s;
}

} // namespace ringkernel::ir::codegen
