/// @file ir/text.hpp
/// @brief The textual form of the IR: a pretty printer and a parser that round-trip.
///
/// @code
/// kernel @saxpy(%n: u32, %a: f32, %x: ptr<global, f32>, %y: ptr<global, f32>) workgroup(256, 1, 1) {
///   %i = global_id.x : u32
///   %in = cmp.lt %i, %n : bool
///   if %in {
///     %px = ptr_add %x, %i : ptr<global, f32>
///     ...
///   }
/// }
/// @endcode
///
/// Grammar (one instruction per line, `//` comments):
/// `[%name =] op[.variant] [immediate] [%operand {, %operand}] [: type]`, plus the structured forms
/// `if %c { } else { }`, `for %i = %lo to %hi step %s { }` and `loop { }`. The parser never throws or crashes
/// on malformed input: it returns an InvalidArgument error naming the line, the column and what was expected.
#pragma once

#include <string>
#include <string_view>

#include "ringkernel/error.hpp"
#include "ringkernel/ir/ir.hpp"

namespace ringkernel::ir {

/// Prints one kernel in the textual form.
std::string print(const Kernel& kernel);
/// Prints every kernel of a module, separated by blank lines.
std::string print(const Module& module);
/// Prints one instruction (nested regions included) as it appears in a kernel, without indentation.
std::string print_inst(const Kernel& kernel, const Inst& inst);

/// Parses a module; on failure the error names line and column.
Result<Module> parse_module(std::string_view text);
/// Parses text holding exactly one kernel.
Result<Kernel> parse_kernel(std::string_view text);
/// Parses a type ("vec4<f32>", "ptr<shared, u32>").
Result<Type> parse_type(std::string_view text);

} // namespace ringkernel::ir
