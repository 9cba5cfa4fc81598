// Dispatch to the lowerings and the per-kernel fallback policy.
#include <utility>

#include "codegen/backends.hpp"
#include "ringkernel/ir/passes.hpp"

namespace ringkernel::ir {

std::string_view to_string(Fallback f) noexcept {
  switch (f) {
    case Fallback::None: return "none";
    case Fallback::RunOnCpu: return "run_on_cpu";
    case Fallback::DowncastF64: return "downcast_f64";
  }
  return "?";
}

Result<GeneratedCode> generate(const Kernel& kernel, const Target& target) {
  if (auto s = validate_for(kernel, target); !s) return s.error();
  switch (target.backend) {
    case Backend::Cuda: return codegen::generate_cuda(kernel, target);
    case Backend::Wgsl: return codegen::generate_wgsl(kernel, target);
    case Backend::Msl: return codegen::generate_msl(kernel, target);
    case Backend::Cpu: break;
  }
  return make_error(ErrorCode::InvalidArgument, "target '" + target.name + "' runs on the interpreter; there is no code to generate",
                    "ir::generate");
}

Result<Lowering> lower(const Kernel& kernel, const Target& target, Fallback fallback) {
  Lowering out;
  out.kernel = kernel;
  if (auto s = validate(kernel); !s) return s.error();  // a broken kernel is never rescued by a fallback
  Status fit = validate_for(out.kernel, target);
  if (!fit && fit.error().code() == ErrorCode::BackendUnavailable && fallback == Fallback::DowncastF64 &&
      !target.caps.has(Capability::F64) && required_capabilities(out.kernel).has(Capability::F64)) {
    out.warnings = downcast_f64(out.kernel);
    fit = validate_for(out.kernel, target);
  }
  if (!fit) {
    if (fallback == Fallback::RunOnCpu && fit.error().code() == ErrorCode::BackendUnavailable) {
      out.on_cpu = true;
      out.warnings.push_back("kernel '" + kernel.name + "' runs on the CPU interpreter instead of '" + target.name +
                             "': " + fit.error().message());
      return out;
    }
    return fit.error();
  }
  optimize(out.kernel);
  if (target.backend == Backend::Cpu) {
    out.on_cpu = true;
    return out;
  }
  auto code = generate(out.kernel, target);
  if (!code) return code.error();
  out.code = std::move(*code);
  for (auto& w : out.warnings) out.code.warnings.push_back(w);
  return out;
}

} // namespace ringkernel::ir
