/// @file ir/codegen.hpp
/// @brief Lowering a kernel to CUDA C++, WGSL or MSL, and the per-kernel fallback policy.
///
/// The generated source is self-contained: ring and HLC operations become helper code emitted into the same
/// source, written against the byte layout of ringkernel/ring.hpp and ringkernel/message.hpp (the offsets are
/// taken from those headers when the generator is compiled, so a layout change cannot silently desynchronise
/// the lowerings). Parameter passing:
///  * CUDA: one kernel argument per parameter, in order (pointers for buffers and rings, values for scalars).
///  * WGSL: every buffer and ring parameter is a storage buffer (group 0, binding `slot`); scalar parameters
///    are packed as 32-bit words (64-bit scalars as two words, low first) into one read-only storage buffer.
///  * MSL: every buffer and ring parameter is a `device` pointer `[[buffer(slot)]]`; scalars are packed like WGSL.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/ir/ir.hpp"
#include "ringkernel/ir/types.hpp"

namespace ringkernel::ir {

/// How one kernel parameter reaches the generated code.
struct ParamBinding {
  std::uint32_t param = 0;        ///< Parameter index.
  bool scalar = false;            ///< Packed into the scalar block (WGSL/MSL) instead of its own buffer.
  std::uint32_t slot = 0;         ///< Buffer binding (WGSL binding, MSL buffer index), or CUDA argument index.
  std::uint32_t word_offset = 0;  ///< Scalars: first 32-bit word in the scalar block.
  bool downcast_f64 = false;      ///< The parameter was f64 and the code uses f32: the host converts the data.
};

/// Generated source plus what a runner needs to launch it.
struct GeneratedCode {
  Backend backend = Backend::Cuda;      ///< Language of `source`.
  std::string entry;                    ///< Entry point name.
  std::string source;                   ///< The code.
  std::vector<ParamBinding> bindings;   ///< One per parameter, in order.
  std::int32_t scalar_block_slot = -1;  ///< Binding of the packed scalar block (WGSL/MSL), -1 when none.
  std::uint32_t scalar_block_words = 0; ///< Words in the scalar block.
  std::vector<std::string> warnings;    ///< Non-fatal notes (downcasts, emulations used).
};

/// Lowers a kernel (which must pass validate_for(kernel, target)) to the target's language.
Result<GeneratedCode> generate(const Kernel& kernel, const Target& target);

/// What to do when a kernel cannot run on a target as written.
enum class Fallback : std::uint8_t {
  None = 0,     ///< Report the error.
  RunOnCpu,     ///< Run it with the reference interpreter instead (a warning says why).
  DowncastF64,  ///< Rewrite f64 to f32 (warning per parameter) and retry; other mismatches stay errors.
};
/// Lower-case name of a fallback policy.
std::string_view to_string(Fallback f) noexcept;

/// The outcome of lowering with a fallback policy.
struct Lowering {
  bool on_cpu = false;                ///< True when the kernel must run on the interpreter instead.
  Kernel kernel;                      ///< The kernel actually lowered (downcast when that fallback applied).
  GeneratedCode code;                 ///< Valid when !on_cpu.
  std::vector<std::string> warnings;  ///< Why a fallback was taken, downcast notes.
};

/// Validates for `target`, applies `fallback` on a capability mismatch, optimises and generates code.
Result<Lowering> lower(const Kernel& kernel, const Target& target, Fallback fallback = Fallback::None);

} // namespace ringkernel::ir
