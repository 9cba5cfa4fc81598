// The parity suite on the interpreter: every kernel must match its plain C++ reference. (Backends are
// compared with the interpreter in wgsl_test.cpp and nvrtc_test.cpp.)
#include <gtest/gtest.h>

#include "codegen/parity.hpp"
#include "ringkernel/ir/passes.hpp"
#include "ringkernel/ir/text.hpp"

namespace {

const std::vector<rkt::Case>& cases() {
  static const std::vector<rkt::Case> all = rkt::parity_cases();
  return all;
}

class Parity : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Parity, InterpreterMatchesHostReference) {
  const rkt::Case& c = cases()[GetParam()];
  auto out = rkt::run_interpreter(c);
  ASSERT_TRUE(out.ok()) << out.error().describe();
  EXPECT_EQ(c.check(*out), "") << c.name;
}

TEST_P(Parity, OptimisedKernelGivesTheSameResults) {
  const rkt::Case& c = cases()[GetParam()];
  rkt::Case opt = c;
  ringkernel::ir::optimize(opt.kernel);
  ASSERT_TRUE(ringkernel::ir::validate(opt.kernel).ok());
  auto a = rkt::run_interpreter(c);
  auto b = rkt::run_interpreter(opt);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(rkt::compare(c, *a, *b), "") << c.name;
}

TEST_P(Parity, TextRoundTripGivesTheSameResults) {
  const rkt::Case& c = cases()[GetParam()];
  const std::string text = ringkernel::ir::print(c.kernel);
  auto parsed = ringkernel::ir::parse_kernel(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe() << "\n" << text;
  EXPECT_EQ(ringkernel::ir::print(*parsed), text);
  rkt::Case again = c;
  again.kernel = std::move(*parsed);
  auto a = rkt::run_interpreter(c);
  auto b = rkt::run_interpreter(again);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(rkt::compare(c, *a, *b), "") << c.name;
}

TEST_P(Parity, SubgroupSizeDoesNotChangeResults) {
  const rkt::Case& c = cases()[GetParam()];
  auto a = rkt::run_interpreter(c, 32);
  auto b = rkt::run_interpreter(c, 8);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(c.check(*b), "") << c.name;
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) { return cases()[info.param].name; }

INSTANTIATE_TEST_SUITE_P(Kernels, Parity, ::testing::Range<std::size_t>(0, cases().size()), case_name);

TEST(ParitySuite, HasAtLeastThirtyKernels) { EXPECT_GE(cases().size(), 30u); }

} // namespace
