// WGSL: every parity kernel lowers, naga (inside wgpu-native) accepts the code, and where an adapter exists
// (lavapipe on CPU-only machines) it runs and matches the interpreter.
#include <gtest/gtest.h>

#include "codegen/parity.hpp"
#include "codegen/wgpu_runner.hpp"
#include "ringkernel/ir/passes.hpp"

namespace {

namespace ir = ringkernel::ir;

const std::vector<rkt::Case>& cases() {
  static const std::vector<rkt::Case> all = rkt::parity_cases();
  return all;
}

ir::Target target_for(const ir::Kernel& k) {
  return ir::target_preset(ir::required_capabilities(k).has(ir::Capability::Subgroups) ? ir::TargetId::WebGpuSubgroups
                                                                                        : ir::TargetId::WebGpu);
}

class Wgsl : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Wgsl, LowersAndValidatesWithNaga) {
  const rkt::Case& c = cases()[GetParam()];
  auto low = ir::lower(c.kernel, target_for(c.kernel), c.fallback);
  ASSERT_TRUE(low.ok()) << low.error().describe();
  ASSERT_FALSE(low->on_cpu);
  std::string why;
  rkt::WgpuRunner* r = rkt::WgpuRunner::get(&why);
  if (r == nullptr) GTEST_SKIP() << why;
  if (ir::required_capabilities(c.kernel).has(ir::Capability::Subgroups) && !r->has_subgroups()) GTEST_SKIP() << "adapter lacks subgroups";
  EXPECT_EQ(r->validate(low->code.source, low->code.entry), "") << low->code.source;
}

TEST_P(Wgsl, RunsAndMatchesTheInterpreter) {
  const rkt::Case& c = cases()[GetParam()];
  std::string why;
  rkt::WgpuRunner* r = rkt::WgpuRunner::get(&why);
  if (r == nullptr) GTEST_SKIP() << why;
  if (ir::required_capabilities(c.kernel).has(ir::Capability::Subgroups) && !r->has_subgroups()) GTEST_SKIP() << "adapter lacks subgroups";
  auto low = ir::lower(c.kernel, target_for(c.kernel), c.fallback);
  ASSERT_TRUE(low.ok()) << low.error().describe();
  auto want = rkt::run_interpreter(c);
  ASSERT_TRUE(want.ok()) << want.error().describe();
  std::vector<rkt::Arg> got = c.args;
  ASSERT_EQ(r->run(low->code, low->kernel, c.grid, got), "") << low->code.source;
  EXPECT_EQ(c.check(got), "") << "host reference, on " << r->adapter_name() << "\n" << low->code.source;
  EXPECT_EQ(rkt::compare(c, *want, got), "") << "vs interpreter\n" << low->code.source;
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) { return cases()[info.param].name; }
INSTANTIATE_TEST_SUITE_P(Kernels, Wgsl, ::testing::Range<std::size_t>(0, cases().size()), case_name);

TEST(WgslValidation, NagaRejectsBrokenCode) {
  std::string why;
  rkt::WgpuRunner* r = rkt::WgpuRunner::get(&why);
  if (r == nullptr) GTEST_SKIP() << why;
  EXPECT_NE(r->validate("@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }", "main"), "");
  EXPECT_EQ(r->validate("@compute @workgroup_size(1) fn main() { let x: u32 = 1u; }", "main"), "");
}

} // namespace
