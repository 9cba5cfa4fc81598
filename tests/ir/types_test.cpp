// Types, capabilities and target presets.
#include <gtest/gtest.h>

#include "ringkernel/ir/dsl.hpp"
#include "ringkernel/ir/text.hpp"

namespace ir = ringkernel::ir;

TEST(Types, PrintAndParseEveryShape) {
  for (const char* s : {"bool", "i32", "u32", "i64", "u64", "f16", "bf16", "f32", "f64", "f8e4m3", "f8e5m2", "vec2<f32>", "vec3<i32>",
                        "vec4<u32>", "ptr<global, f32>", "ptr<shared, vec4<f32>>", "ptr<constant, u64>", "ptr<private, i32>", "ring", "void"}) {
    auto t = ir::parse_type(s);
    ASSERT_TRUE(t.ok()) << s << ": " << t.error().describe();
    EXPECT_EQ(ir::to_string(*t), s);
  }
}

TEST(Types, MalformedTypesAreErrors) {
  for (const char* s : {"", "i33", "vec5<f32>", "vec2<bool>", "ptr<heap, f32>", "ptr<global, bool>", "ptr<global f32>", "vec2<f32", "f32 f32"}) {
    auto t = ir::parse_type(s);
    EXPECT_FALSE(t.ok()) << s;
  }
}

TEST(Types, SizesMatchEveryBackend) {
  EXPECT_EQ(ir::type_size(ir::Type::f32()), 4u);
  EXPECT_EQ(ir::type_size(ir::Type::vec(ir::ScalarKind::F32, 3)), 16u);  // vec3 padded like vec4
  EXPECT_EQ(ir::type_size(ir::Type::vec(ir::ScalarKind::F16, 2)), 4u);
  EXPECT_EQ(ir::type_size(ir::Type::scalar_of(ir::ScalarKind::F8E4M3)), 1u);
  EXPECT_EQ(ir::type_size(ir::Type::u64()), 8u);
}

TEST(Capabilities, NamesRoundTrip) {
  for (unsigned i = 0; i < static_cast<unsigned>(ir::Capability::Count_); ++i) {
    const auto c = static_cast<ir::Capability>(i);
    auto back = ir::parse_capability(ir::to_string(c));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c);
  }
  auto bad = ir::parse_capability("warp_drive");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("known:"), std::string::npos);
}

TEST(Capabilities, SetOperations) {
  ir::CapabilitySet a{ir::Capability::F64, ir::Capability::Subgroups};
  ir::CapabilitySet b{ir::Capability::F64};
  EXPECT_TRUE(a.has(ir::Capability::Subgroups));
  EXPECT_EQ(a.minus(b), ir::CapabilitySet{ir::Capability::Subgroups});
  EXPECT_EQ(a.describe(), "f64, subgroups");
  EXPECT_EQ(ir::CapabilitySet{}.describe(), "none");
}

TEST(Targets, PresetsAreWhatTheDocsSay) {
  const auto sm80 = ir::target_preset(ir::TargetId::CudaSm80), sm90 = ir::target_preset(ir::TargetId::CudaSm90);
  EXPECT_TRUE(sm80.caps.has(ir::Capability::F64));
  EXPECT_FALSE(sm80.caps.has(ir::Capability::Fp8));
  EXPECT_TRUE(sm90.caps.has(ir::Capability::Fp8));
  EXPECT_TRUE(sm90.caps.has(ir::Capability::Clusters));
  const auto web = ir::target_preset(ir::TargetId::WebGpu);
  EXPECT_FALSE(web.caps.has(ir::Capability::F64));
  EXPECT_FALSE(web.caps.has(ir::Capability::Subgroups));
  EXPECT_FALSE(web.caps.has(ir::Capability::Int64Atomics));
  EXPECT_TRUE(web.emulated.has(ir::Capability::Int64));
  EXPECT_TRUE(ir::target_preset(ir::TargetId::WebGpuSubgroups).caps.has(ir::Capability::Subgroups));
  const auto metal = ir::target_preset(ir::TargetId::MetalApple);
  EXPECT_FALSE(metal.caps.has(ir::Capability::F64));
  EXPECT_TRUE(metal.caps.has(ir::Capability::Subgroups));
  EXPECT_EQ(metal.backend, ir::Backend::Msl);
}

TEST(Targets, LookupByName) {
  for (const auto& t : ir::all_targets()) {
    auto found = ir::target_by_name(t.name);
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found->id, t.id);
  }
  EXPECT_FALSE(ir::target_by_name("vulkan").ok());
}

TEST(Targets, CompileTimeTableMatchesThePresets) {
  for (const auto& t : ir::all_targets()) EXPECT_EQ(ir::dsl::preset_caps(t.id), t.caps) << t.name;
}
