#include "codegen_cmd.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#if defined(RINGKERNEL_HAS_IR)
#include "ringkernel/ir/codegen.hpp"
#include "ringkernel/ir/passes.hpp"
#include "ringkernel/ir/text.hpp"
#endif

namespace ringkernel::cli {

void print_codegen_usage(std::FILE* out) {
  std::fputs(
      "usage: ringkernel codegen FILE --backend cuda|wgsl|msl [--kernel NAME] [--target T] [--fallback F]\n"
      "       ringkernel check FILE [--kernel NAME]\n"
      "\n"
      "FILE holds kernels in the IR's text form (docs/ir.md; example: examples/kernels/saxpy.rkir).\n"
      "codegen prints the generated source on stdout and notes (fallbacks, emulations) on stderr.\n"
      "check validates every kernel against every target and says why a target cannot run it.\n"
      "\n"
      "  --backend B    cuda (target sm90), wgsl (target webgpu) or msl (target metal)\n"
      "  --kernel NAME  the kernel to use when FILE defines several\n"
      "  --target T     sm80|sm90|webgpu|webgpu-subgroups|metal (must match the backend)\n"
      "  --fallback F   none (default) | cpu | downcast-f64: what to do when the target lacks a capability\n",
      out);
}

#if defined(RINGKERNEL_HAS_IR)
namespace {

struct TargetName {
  const char* name;
  ir::TargetId id;
};
constexpr TargetName kTargets[] = {{"sm80", ir::TargetId::CudaSm80},  {"sm90", ir::TargetId::CudaSm90},
                                   {"webgpu", ir::TargetId::WebGpu},   {"webgpu-subgroups", ir::TargetId::WebGpuSubgroups},
                                   {"metal", ir::TargetId::MetalApple}, {"interpreter", ir::TargetId::Interpreter}};

int fail(const std::string& what) {
  std::fprintf(stderr, "ringkernel: %s\n", what.c_str());
  return 1;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Common options of both commands; returns an error message or "".
struct Options {
  std::string file;
  std::optional<std::string> kernel, backend, target, fallback;
};
std::string parse(const std::vector<std::string_view>& args, bool codegen, Options& o) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    auto value = [&](std::optional<std::string>& dst) -> std::string {
      if (i + 1 >= args.size()) return "option '" + std::string(a) + "' needs a value";
      dst = std::string(args[++i]);
      return "";
    };
    std::string err;
    if (a == "--kernel") err = value(o.kernel);
    else if (codegen && a == "--backend") err = value(o.backend);
    else if (codegen && a == "--target") err = value(o.target);
    else if (codegen && a == "--fallback") err = value(o.fallback);
    else if (a.starts_with("-")) err = "unknown option '" + std::string(a) + "'";
    else if (!o.file.empty()) err = "unexpected argument '" + std::string(a) + "' (one FILE only)";
    else o.file = std::string(a);
    if (!err.empty()) return err;
  }
  if (o.file.empty()) return "missing FILE (kernels in the IR text form)";
  return "";
}

Result<ir::Module> load(const std::string& file) {
  auto text = read_file(file);
  if (!text) return make_error(ErrorCode::InvalidArgument, "cannot read '" + file + "'", "ringkernel");
  auto mod = ir::parse_module(*text);
  if (!mod) return mod.error().with_context(file);
  if (mod->kernels.empty()) return make_error(ErrorCode::InvalidArgument, "no kernel in '" + file + "'", "ringkernel");
  return mod;
}

}  // namespace

int cmd_codegen(const std::vector<std::string_view>& args) {
  Options o;
  if (auto err = parse(args, true, o); !err.empty()) {
    print_codegen_usage(stderr);
    return fail(err);
  }
  if (!o.backend) return fail("codegen needs --backend cuda|wgsl|msl");
  ir::TargetId target{};
  if (*o.backend == "cuda") target = ir::TargetId::CudaSm90;
  else if (*o.backend == "wgsl") target = ir::TargetId::WebGpu;
  else if (*o.backend == "msl") target = ir::TargetId::MetalApple;
  else return fail("unknown backend '" + *o.backend + "' (expected cuda, wgsl or msl)");
  if (o.target) {
    bool found = false;
    for (const auto& t : kTargets) {
      if (*o.target == t.name) target = t.id, found = true;
    }
    if (!found || target == ir::TargetId::Interpreter) return fail("unknown target '" + *o.target + "'");
    const bool cuda = target == ir::TargetId::CudaSm80 || target == ir::TargetId::CudaSm90;
    const bool wgsl = target == ir::TargetId::WebGpu || target == ir::TargetId::WebGpuSubgroups;
    if ((*o.backend == "cuda") != cuda || (*o.backend == "wgsl") != wgsl) {
      return fail("target '" + *o.target + "' does not belong to backend '" + *o.backend + "'");
    }
  }
  ir::Fallback fb = ir::Fallback::None;
  if (o.fallback) {
    if (*o.fallback == "none") fb = ir::Fallback::None;
    else if (*o.fallback == "cpu") fb = ir::Fallback::RunOnCpu;
    else if (*o.fallback == "downcast-f64") fb = ir::Fallback::DowncastF64;
    else return fail("unknown fallback '" + *o.fallback + "' (expected none, cpu or downcast-f64)");
  }
  auto mod = load(o.file);
  if (!mod) return fail(mod.error().describe());
  const ir::Kernel* k = nullptr;
  if (o.kernel) {
    k = mod->find(*o.kernel);
    if (k == nullptr) return fail("no kernel '" + *o.kernel + "' in '" + o.file + "'");
  } else if (mod->kernels.size() == 1) {
    k = &mod->kernels.front();
  } else {
    std::string names;
    for (const auto& kk : mod->kernels) names += (names.empty() ? "" : ", ") + kk.name;
    return fail("'" + o.file + "' defines several kernels (" + names + "): choose one with --kernel");
  }
  auto low = ir::lower(*k, ir::target_preset(target), fb);
  if (!low) return fail(low.error().describe());
  for (const auto& w : low->warnings) std::fprintf(stderr, "note: %s\n", w.c_str());
  if (low->on_cpu) {
    std::fprintf(stderr, "note: kernel '%s' runs on the reference interpreter instead (fallback cpu); no code\n",
                 k->name.c_str());
    return 0;
  }
  for (const auto& w : low->code.warnings) {  // notes the lowering already gave are not repeated
    if (std::find(low->warnings.begin(), low->warnings.end(), w) == low->warnings.end()) {
      std::fprintf(stderr, "note: %s\n", w.c_str());
    }
  }
  std::fputs(low->code.source.c_str(), stdout);
  return 0;
}

int cmd_check(const std::vector<std::string_view>& args) {
  Options o;
  if (auto err = parse(args, false, o); !err.empty()) {
    print_codegen_usage(stderr);
    return fail(err);
  }
  auto mod = load(o.file);
  if (!mod) return fail(mod.error().describe());
  bool any = false;
  for (const auto& k : mod->kernels) {
    if (o.kernel && k.name != *o.kernel) continue;
    any = true;
    std::printf("kernel %s\n", k.name.c_str());
    if (auto v = ir::validate(k); !v) {
      std::printf("  invalid: %s\n", v.error().describe().c_str());
      continue;
    }
    for (const auto& t : kTargets) {
      auto st = ir::validate_for(k, ir::target_preset(t.id));
      std::printf("  %-17s %s\n", t.name, st ? "ok" : ("no: " + st.error().message()).c_str());
    }
  }
  if (!any) return fail("no kernel '" + o.kernel.value_or("") + "' in '" + o.file + "'");
  return 0;
}

#else

int cmd_codegen(const std::vector<std::string_view>& /*args*/) {
  std::fputs("ringkernel: this build has no kernel IR (configure without RINGKERNEL_GPU_TESTS_ONLY)\n", stderr);
  return 1;
}
int cmd_check(const std::vector<std::string_view>& args) { return cmd_codegen(args); }

#endif

}  // namespace ringkernel::cli
