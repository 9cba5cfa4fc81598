// Lowerings: every parity kernel generates code for every target whose capabilities it fits; CUDA and MSL are
// compiled as C++ against small shims (the only compile check possible without nvcc and without a Metal
// compiler, which does not exist on Linux); golden files pin the exact output of a few kernels.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "codegen/parity.hpp"
#include "ringkernel/ir/passes.hpp"

namespace {

namespace ir = ringkernel::ir;

const std::vector<rkt::Case>& cases() {
  static const std::vector<rkt::Case> all = rkt::parity_cases();
  return all;
}

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Compiles `source` with the host compiler; "" on success, else the diagnostics.
std::string compile_as_cpp(const std::string& name, const std::string& source, const std::string& flags) {
  const std::string dir = std::string(RK_TEST_BINARY_DIR) + "/codegen_shim";
  std::system(("mkdir -p '" + dir + "'").c_str());
  const std::string file = dir + "/" + name + ".cpp";
  std::ofstream(file) << source;
  const std::string log = file + ".log";
  const std::string cmd = std::string(RK_TEST_CXX) + " -std=c++17 -fsyntax-only -Wno-attributes " + flags + " '" + file + "' > '" + log + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  return rc == 0 ? std::string() : "compiler exit " + std::to_string(rc) + ":\n" + read(log);
}

bool fits(const ir::Kernel& k, ir::TargetId t) { return ir::required_capabilities(k).minus(ir::target_preset(t).caps).empty(); }

class Lowering : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Lowering, GeneratesForEveryFittingTarget) {
  const rkt::Case& c = cases()[GetParam()];
  int generated = 0;
  for (const auto& t : ir::all_targets()) {
    if (t.backend == ir::Backend::Cpu) continue;
    auto low = ir::lower(c.kernel, t, c.fallback);
    const bool fit = fits(c.kernel, t.id) || (c.fallback == ir::Fallback::DowncastF64 && !t.caps.has(ir::Capability::F64));
    if (!fit) {
      ASSERT_FALSE(low.ok()) << c.name << " on " << t.name;
      EXPECT_NE(low.error().message().find("capability"), std::string::npos) << low.error().describe();
      continue;
    }
    ASSERT_TRUE(low.ok()) << c.name << " on " << t.name << ": " << low.error().describe();
    EXPECT_FALSE(low->code.source.empty());
    EXPECT_EQ(low->code.bindings.size(), c.kernel.params.size());
    ++generated;
  }
  EXPECT_GE(generated, 2) << c.name;
}

TEST_P(Lowering, CudaCompilesAsCppAgainstTheShim) {
  const rkt::Case& c = cases()[GetParam()];
  auto low = ir::lower(c.kernel, ir::target_preset(ir::TargetId::CudaSm90), c.fallback);
  ASSERT_TRUE(low.ok()) << low.error().describe();
  const std::string shim = std::string(RK_TEST_SOURCE_DIR) + "/tests/codegen/shim/cuda_shim.hpp";
  EXPECT_EQ(compile_as_cpp("cuda_" + c.name, low->code.source, "-include '" + shim + "'"), "") << low->code.source;
}

TEST_P(Lowering, MslCompilesAsCppAgainstTheShim) {
  const rkt::Case& c = cases()[GetParam()];
  const auto t = ir::target_preset(ir::TargetId::MetalApple);
  auto low = ir::lower(c.kernel, t, c.fallback);
  if (!fits(c.kernel, t.id) && c.fallback != ir::Fallback::DowncastF64) {
    ASSERT_FALSE(low.ok());
    GTEST_SKIP() << "needs capabilities Metal lacks: " << low.error().message();
  }
  ASSERT_TRUE(low.ok()) << low.error().describe();
  const std::string shim = std::string(RK_TEST_SOURCE_DIR) + "/tests/codegen/shim/metal";
  EXPECT_EQ(compile_as_cpp("msl_" + c.name, low->code.source, "-I '" + shim + "'"), "") << low->code.source;
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) { return cases()[info.param].name; }
INSTANTIATE_TEST_SUITE_P(Kernels, Lowering, ::testing::Range<std::size_t>(0, cases().size()), case_name);

// Golden files: RK_UPDATE_GOLDEN=1 rewrites them (review the diff).
class Golden : public ::testing::TestWithParam<std::pair<const char*, ir::TargetId>> {};

TEST_P(Golden, OutputMatchesTheGoldenFile) {
  const auto [name, tid] = GetParam();
  const rkt::Case* c = nullptr;
  for (const auto& k : cases()) {
    if (k.name == name) c = &k;
  }
  ASSERT_NE(c, nullptr);
  auto low = ir::lower(c->kernel, ir::target_preset(tid), c->fallback);
  ASSERT_TRUE(low.ok()) << low.error().describe();
  const char* ext = low->code.backend == ir::Backend::Cuda ? ".cu" : low->code.backend == ir::Backend::Wgsl ? ".wgsl" : ".metal";
  const std::string path = std::string(RK_TEST_SOURCE_DIR) + "/tests/codegen/golden/" + name + ext;
  if (std::getenv("RK_UPDATE_GOLDEN") != nullptr) std::ofstream(path) << low->code.source;
  EXPECT_EQ(low->code.source, read(path)) << "regenerate with RK_UPDATE_GOLDEN=1 and review the diff: " << path;
}

INSTANTIATE_TEST_SUITE_P(Files, Golden,
                         ::testing::Values(std::make_pair("saxpy", ir::TargetId::MetalApple), std::make_pair("histogram", ir::TargetId::MetalApple),
                                           std::make_pair("actor_adder", ir::TargetId::MetalApple),
                                           std::make_pair("block_sum_u32", ir::TargetId::MetalApple),
                                           std::make_pair("saxpy", ir::TargetId::CudaSm90), std::make_pair("actor_adder", ir::TargetId::CudaSm90),
                                           std::make_pair("saxpy", ir::TargetId::WebGpu), std::make_pair("atomic_counter_u64", ir::TargetId::WebGpu)),
                         [](const auto& info) {
                           return std::string(info.param.first) + "_" + ir::target_preset(info.param.second).name.substr(0, 4);
                         });

} // namespace
