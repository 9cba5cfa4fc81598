// libFuzzer target for the IR text parser: any input must parse or fail with an error (never crash, hang or
// leak), and whatever parses must survive validation and print -> parse -> print unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ringkernel/ir/passes.hpp"
#include "ringkernel/ir/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ir = ringkernel::ir;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto mod = ir::parse_module(text);
  if (!mod) return 0;
  for (const auto& k : mod->kernels) (void)ir::validate(k);
  const std::string printed = ir::print(*mod);
  auto again = ir::parse_module(printed);
  if (!again) __builtin_trap();                       // printed form must parse
  if (ir::print(*again) != printed) __builtin_trap();  // and be a fixed point
  return 0;
}
