// The kernel DSL: what it builds, fallbacks, stencils, actor handlers.
#include <gtest/gtest.h>

#include "ringkernel/ir/dsl.hpp"
#include "ringkernel/ir/interpreter.hpp"
#include "ringkernel/ir/text.hpp"

namespace ir = ringkernel::ir;
namespace dsl = ringkernel::ir::dsl;

using All = dsl::targets<dsl::TargetId::CudaSm90, dsl::TargetId::WebGpu, dsl::TargetId::MetalApple>;

TEST(Dsl, BuildsTheExpectedIr) {
  auto k = dsl::kernel<All>("saxpy", {256, 1, 1}, [](auto& k) {
    auto n = k.template param<std::uint32_t>("n");
    auto a = k.template param<float>("a");
    auto x = k.template buffer<float>("x");
    auto y = k.template buffer<float>("y");
    auto i = k.global_id();
    k.if_(i < n, [&] { y[i] = a * x[i] + y[i]; });
  });
  ASSERT_TRUE(k.ok()) << k.error().describe();
  const std::string text = ir::print(k->kernel);
  EXPECT_NE(text.find("kernel @saxpy(%n: u32, %a: f32, %x: ptr<global, f32>, %y: ptr<global, f32>) workgroup(256, 1, 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("global_id.x"), std::string::npos);
  EXPECT_EQ(k->targets.size(), 3u);
  std::vector<float> x{1, 2, 3}, y{10, 20, 30};
  ASSERT_TRUE(ir::interpret(k->kernel, {1, 1, 1}, ir::KernelArgs().scalar(3u).scalar(2.0f).buffer(x).buffer(y)).ok());
  EXPECT_EQ(y, (std::vector<float>{12, 24, 36}));
  for (auto t : k->targets) EXPECT_TRUE(k->lower_for(t).ok()) << ir::target_preset(t).name;
}

TEST(Dsl, LiteralsOnEitherSideAndReferences) {
  auto k = dsl::kernel<All>("mix", {4, 1, 1}, [](auto& k) {
    auto p = k.template buffer<std::int32_t>("p");
    auto i = k.global_id();
    p[i] = 100 - p[i] * 2 + (p[i] << 1) - dsl::min(p[i].load(), 0);
  });
  ASSERT_TRUE(k.ok()) << k.error().describe();
  std::vector<std::int32_t> p{1, -2, 3, -4};
  ASSERT_TRUE(ir::interpret(k->kernel, {1, 1, 1}, ir::KernelArgs().buffer(p)).ok());
  EXPECT_EQ(p, (std::vector<std::int32_t>{100, 102, 100, 104}));
}

TEST(Dsl, DivergentBarrierIsAValidationErrorNotACrash) {
  auto k = dsl::kernel<All>("bad", {64, 1, 1}, [](auto& k) {
    k.if_(k.thread_id() < 3u, [&] { k.barrier(); });
  });
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message().find("barrier in divergent control flow"), std::string::npos);
}

TEST(Dsl, FallbackPolicies) {
  auto body = [](auto& k) {
    auto x = k.template buffer<double>("x");
    x[k.global_id()] = x[k.global_id()].load() + 0.5;
  };
  auto down = dsl::kernel<All, ir::Fallback::DowncastF64>("down", {64, 1, 1}, body);
  ASSERT_TRUE(down.ok());
  auto web = down->lower_for(dsl::TargetId::WebGpu);
  ASSERT_TRUE(web.ok()) << web.error().describe();
  EXPECT_FALSE(web->on_cpu);
  ASSERT_FALSE(web->warnings.empty());
  EXPECT_NE(web->warnings.front().find("downcast to f32"), std::string::npos);
  auto cuda = down->lower_for(dsl::TargetId::CudaSm90);
  ASSERT_TRUE(cuda.ok());
  EXPECT_TRUE(cuda->warnings.empty());  // native f64 there
  EXPECT_NE(cuda->code.source.find("double"), std::string::npos);
  auto cpu = dsl::kernel<All, ir::Fallback::RunOnCpu>("cpu", {64, 1, 1}, body);
  ASSERT_TRUE(cpu.ok());
  auto metal = cpu->lower_for(dsl::TargetId::MetalApple);
  ASSERT_TRUE(metal.ok());
  EXPECT_TRUE(metal->on_cpu);
}

TEST(Dsl, StencilLeavesTheHaloAlone) {
  auto k = dsl::stencil<All, 2, 2>("blur", {4, 4, 1}, [](auto& s) { s.output(s.template at<-2, 0>() + s.template at<0, 2>()); });
  ASSERT_TRUE(k.ok()) << k.error().describe();
  std::vector<float> in(8 * 8), out(8 * 8, -1.0f);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  ASSERT_TRUE(ir::interpret(k->kernel, {2, 2, 1}, ir::KernelArgs().buffer(in).buffer(out).scalar(8u).scalar(8u)).ok());
  for (std::uint32_t y = 0; y < 8; ++y)
    for (std::uint32_t x = 0; x < 8; ++x) {
      const bool inside = x >= 2 && x < 6 && y >= 2 && y < 6;
      EXPECT_EQ(out[y * 8 + x], inside ? in[y * 8 + x - 2] + in[(y + 2) * 8 + x] : -1.0f) << x << "," << y;
    }
  // Tiny grids (smaller than twice the halo) are handled without unsigned wrap-around.
  std::vector<float> small_in(3), small_out(3, -1.0f);
  auto k1 = dsl::stencil<All, 1, 2>("s1", {4, 1, 1}, [](auto& s) { s.output(s.center()); });
  ASSERT_TRUE(k1.ok());
  ASSERT_TRUE(ir::interpret(k1->kernel, {1, 1, 1}, ir::KernelArgs().buffer(small_in).buffer(small_out).scalar(3u)).ok());
  EXPECT_EQ(small_out, (std::vector<float>{-1, -1, -1}));
}
