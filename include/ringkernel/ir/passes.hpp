/// @file ir/passes.hpp
/// @brief Validation (types, dominance, structure, capabilities vs target, barriers in divergent control flow)
/// and transformations (constant folding, dead-code elimination, common-subexpression elimination, f64 -> f32
/// downcast).
#pragma once

#include <string>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/ir/ir.hpp"
#include "ringkernel/ir/types.hpp"

namespace ringkernel::ir {

/// Checks that the kernel is well formed: operand counts and types, SSA (one definition per value, every
/// use dominated by its definition), structure (break/continue inside loops, shared memory at top level),
/// and that barriers and subgroup operations sit in uniform control flow. The error names the kernel and
/// the offending instruction.
Status validate(const Kernel& kernel);

/// Capabilities the kernel uses (from its types and operations) plus those it declared.
CapabilitySet required_capabilities(const Kernel& kernel);

/// validate() plus: every required capability is provided by `target`, and target-specific limits hold
/// (e.g. WGSL needs statically known pointer roots). The error names the capability and the target.
Status validate_for(const Kernel& kernel, const Target& target);

/// Folds operations on constants (with the interpreter's exact semantics) and `if` on constant conditions.
/// Returns how many instructions were folded.
unsigned fold_constants(Kernel& kernel);
/// Removes pure instructions whose results are unused, code after break/continue/return, and empty ifs.
/// Returns how many instructions were removed.
unsigned eliminate_dead_code(Kernel& kernel);
/// Replaces a pure instruction by an earlier identical one that dominates it. Returns how many.
unsigned eliminate_common_subexpressions(Kernel& kernel);
/// Runs folding, CSE and DCE to a fixed point. Returns the total number of changes.
unsigned optimize(Kernel& kernel);

/// Rewrites every f64 value, constant and pointer to f32. Returns one warning per rewritten parameter (and
/// one summary line), empty when the kernel used no f64.
std::vector<std::string> downcast_f64(Kernel& kernel);

} // namespace ringkernel::ir
