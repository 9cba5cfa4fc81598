// Optimisation passes and the f64 downcast.
#include <gtest/gtest.h>

#include "ringkernel/ir/codegen.hpp"
#include "ringkernel/ir/passes.hpp"
#include "ringkernel/ir/text.hpp"

namespace ir = ringkernel::ir;

namespace {
ir::Kernel parse(const std::string& body, const std::string& params = "%p: ptr<global, u32>") {
  auto k = ir::parse_kernel("kernel @k(" + params + ") workgroup(1, 1, 1) {\n" + body + "}\n");
  EXPECT_TRUE(k.ok()) << (k.ok() ? "" : k.error().describe());
  return k.ok() ? std::move(*k) : ir::Kernel{};
}
std::size_t count_ops(const ir::Kernel& k, ir::Op op) {
  std::size_t n = 0;
  ir::walk(k.body, [&](const ir::Inst& i) { n += i.op == op; });
  return n;
}
} // namespace

TEST(Passes, FoldsConstantsExactly) {
  auto k = parse("%a = const 7 : u32\n%b = const 5 : u32\n%c = mul %a, %b : u32\n%d = sub %b, %a : u32\n%e = add %c, %d : u32\nstore %p, %e\n");
  EXPECT_GT(ir::fold_constants(k), 0u);
  ir::eliminate_dead_code(k);
  ASSERT_EQ(count_ops(k, ir::Op::Mul) + count_ops(k, ir::Op::Sub) + count_ops(k, ir::Op::Add), 0u) << ir::print(k);
  // 7*5 + (5-7 wrapped) = 35 + 4294967294 = 33 (mod 2^32)
  EXPECT_NE(ir::print(k).find("const 33 : u32"), std::string::npos) << ir::print(k);
}

TEST(Passes, FoldingNeverFoldsAFault) {
  auto k = parse("%a = const 7 : u32\n%z = const 0 : u32\n%c = div %a, %z : u32\nstore %p, %c\n");
  ir::fold_constants(k);
  EXPECT_EQ(count_ops(k, ir::Op::Div), 1u);  // left for the runtime to report
}

TEST(Passes, FoldsFloatRoundingLikeTheInterpreter) {
  auto k = parse("%a = const 16777216.0 : f32\n%b = const 1.0 : f32\n%c = add %a, %b : f32\n%d = cast %c : u32\nstore %p, %d\n");
  ir::optimize(k);
  EXPECT_NE(ir::print(k).find("const 16777216 : u32"), std::string::npos) << ir::print(k);  // f32 rounding kept
}

TEST(Passes, FoldsIfOnConstantConditions) {
  auto k = parse("%t = const true : bool\n%a = const 1 : u32\nif %t {\n  store %p, %a\n} else {\n  %b = const 2 : u32\n  store %p, %b\n}\n");
  ir::optimize(k);
  EXPECT_EQ(count_ops(k, ir::Op::If), 0u);
  EXPECT_EQ(count_ops(k, ir::Op::Store), 1u);
  EXPECT_TRUE(ir::validate(k).ok());
}

TEST(Passes, IntegerIdentities) {
  auto k = parse("%x = load %p : u32\n%z = const 0 : u32\n%o = const 1 : u32\n%a = add %x, %z : u32\n%b = mul %a, %o : u32\nstore %p, %b\n");
  ir::optimize(k);
  EXPECT_EQ(count_ops(k, ir::Op::Add) + count_ops(k, ir::Op::Mul), 0u) << ir::print(k);
}

TEST(Passes, DeadCodeElimination) {
  auto k = parse("%x = load %p : u32\n%unused = add %x, %x : u32\n%v = var 4 : ptr<private, u32>\nstore %p, %x\nloop {\n  break\n  %after = add %x, %x : u32\n}\n");
  const unsigned removed = ir::eliminate_dead_code(k);
  EXPECT_GE(removed, 3u);
  EXPECT_EQ(count_ops(k, ir::Op::Add), 0u);
  EXPECT_EQ(count_ops(k, ir::Op::Var), 0u);
  EXPECT_EQ(count_ops(k, ir::Op::Load), 1u);  // loads are kept (they can fault)
  EXPECT_TRUE(ir::validate(k).ok());
}

TEST(Passes, DeadCodeKeepsSideEffects) {
  auto k = parse("%o = const 1 : u32\n%r = atomic.add %p, %o : u32\nbarrier\n");
  ir::eliminate_dead_code(k);
  EXPECT_EQ(count_ops(k, ir::Op::Atomic), 1u);
  EXPECT_EQ(count_ops(k, ir::Op::Barrier), 1u);
}

TEST(Passes, CommonSubexpressionsRespectScopes) {
  auto k = parse("%x = load %p : u32\n%a = mul %x, %x : u32\n%b = mul %x, %x : u32\n%c = add %a, %b : u32\nstore %p, %c\n"
                 "%cond = cmp.eq %x, %c : bool\nif %cond {\n  %d = mul %x, %x : u32\n  store %p, %d\n}\n"
                 "if %cond {\n  %e = add %x, %c : u32\n  store %p, %e\n}\nif %cond {\n  %f = add %x, %c : u32\n  store %p, %f\n}\n");
  const unsigned n = ir::eliminate_common_subexpressions(k);
  EXPECT_EQ(n, 2u);  // %b and %d reuse %a; %f must not reuse %e (sibling region)
  ir::eliminate_dead_code(k);
  EXPECT_EQ(count_ops(k, ir::Op::Mul), 1u);
  EXPECT_EQ(count_ops(k, ir::Op::Add), 3u);
  EXPECT_TRUE(ir::validate(k).ok()) << ir::validate(k).error().describe();
}

TEST(Passes, CseDoesNotMergeLoads) {
  auto k = parse("%x = load %p : u32\n%o = const 1 : u32\n%r = atomic.add %p, %o : u32\n%y = load %p : u32\n%s = add %x, %y : u32\nstore %p, %s\n");
  EXPECT_EQ(ir::eliminate_common_subexpressions(k), 0u);
}

TEST(Passes, DowncastRewritesEveryF64) {
  auto k = parse("%x = load %d : f64\n%h = const 0.1 : f64\n%y = mul %x, %h : f64\nstore %d, %y\n", "%d: ptr<global, f64>, %s: f64");
  auto warnings = ir::downcast_f64(k);
  ASSERT_EQ(warnings.size(), 3u);  // two parameters + summary
  EXPECT_NE(warnings[0].find("parameter %d"), std::string::npos);
  EXPECT_FALSE(ir::required_capabilities(k).has(ir::Capability::F64));
  EXPECT_EQ(ir::print(k).find("f64"), std::string::npos);
  EXPECT_TRUE(ir::validate_for(k, ir::target_preset(ir::TargetId::WebGpu)).ok());
  EXPECT_TRUE(ir::downcast_f64(k).empty());
}

TEST(Passes, LowerAppliesTheFallbackPolicy) {
  auto k = parse("%x = load %d : f64\nstore %d, %x\n", "%d: ptr<global, f64>");
  const auto web = ir::target_preset(ir::TargetId::WebGpu);
  auto strict = ir::lower(k, web, ir::Fallback::None);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().message().find("'f64'"), std::string::npos);
  auto down = ir::lower(k, web, ir::Fallback::DowncastF64);
  ASSERT_TRUE(down.ok()) << down.error().describe();
  EXPECT_FALSE(down->on_cpu);
  EXPECT_FALSE(down->warnings.empty());
  EXPECT_NE(down->code.source.find("array<f32>"), std::string::npos);
  auto cpu = ir::lower(k, web, ir::Fallback::RunOnCpu);
  ASSERT_TRUE(cpu.ok());
  EXPECT_TRUE(cpu->on_cpu);
  EXPECT_NE(cpu->warnings.front().find("runs on the CPU interpreter"), std::string::npos);
  // A broken kernel is never rescued by a fallback.
  ir::Kernel broken = k;
  broken.body.insts.front().operands.clear();
  EXPECT_FALSE(ir::lower(broken, web, ir::Fallback::RunOnCpu).ok());
}
