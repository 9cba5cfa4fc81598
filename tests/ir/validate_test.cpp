// Validation: structure, types, dominance, uniformity of collectives, capabilities against targets.
#include <gtest/gtest.h>

#include "ringkernel/ir/passes.hpp"
#include "ringkernel/ir/text.hpp"

namespace ir = ringkernel::ir;

namespace {

std::string check(const std::string& body, const std::string& params = "%a: u32, %p: ptr<global, u32>", const char* wg = "64, 1, 1") {
  const std::string text = "kernel @k(" + params + ") workgroup(" + wg + ") {\n" + body + "\n}\n";
  auto k = ir::parse_kernel(text);
  if (!k) return "parse: " + k.error().message();
  auto s = ir::validate(*k);
  return s.ok() ? std::string() : s.error().message();
}

void expect_error(const std::string& body, const char* what, const std::string& params = "%a: u32, %p: ptr<global, u32>") {
  const std::string e = check(body, params);
  EXPECT_NE(e.find(what), std::string::npos) << "body:\n" << body << "\nerror: " << (e.empty() ? "(none)" : e);
}

} // namespace

TEST(Validate, AcceptsWellFormedKernels) {
  EXPECT_EQ(check("%t = thread_id.x : u32\n%q = ptr_add %p, %t : ptr<global, u32>\nstore %q, %a"), "");
}

TEST(Validate, TypeErrorsNameTheInstruction) {
  expect_error("%f = const 1.0 : f32\n%x = add %a, %f : u32", "operand types differ: u32 vs f32");
  expect_error("%f = const 1.0 : f32\n%x = rem %f, %f : f32", "rem needs integers");
  expect_error("%x = cmp.lt %a, %a : u32", "cmp produces bool");
  expect_error("if %a {\n}", "if condition must be bool, not u32");
  expect_error("%x = load %a : u32", "load needs a pointer");
  expect_error("%x = load %p : f32", "loaded type: f32 vs u32");
  expect_error("%f = const 1.0 : f32\nstore %p, %f", "stored type");
  expect_error("%x = math.sqrt %a : u32", "math intrinsics need");
  expect_error("%x = const 1.5 : u32", "floating-point literal needs a float type");
  expect_error("%x = extract 0 %a : u32", "extract needs a vector");
  expect_error("%b = bitcast %a : u64", "bitcast needs non-bool scalars of the same size");
  expect_error("%v = var 0 : ptr<private, u32>", "element count must be in");
  expect_error("%v = var 1 : ptr<private, vec3<f32>>", "vec3 is not storable");
  expect_error("%f = const 1.0 : f32\n%q = ptr_add %p, %f : ptr<global, u32>", "index must be an integer");
  expect_error("%x = atomic.add %p, %a : u32", "", "%a: u32, %p: ptr<global, u32>");  // fine
  expect_error("%x = atomic.add %q, %f : f32", "atomics need i32/u32/i64/u64", "%q: ptr<global, f32>, %f: f32");
  expect_error("store %c, %a", "cannot store to constant memory", "%a: u32, %c: ptr<constant, u32>");
  expect_error("%x = hlc_tick %p, %a : u64", "clock must be a writable pointer to u64");
}

TEST(Validate, DominanceAndScopes) {
  expect_error("%c = cmp.eq %a, %a : bool\nif %c {\n  %x = add %a, %a : u32\n}\n%y = add %x, %a : u32",
               "is defined inside another region");
  expect_error("%zero = const 0 : u32\nfor %i = %zero to %a step %a {\n}\n%y = add %i, %a : u32", "is defined inside another region");
}

TEST(Validate, Structure) {
  expect_error("break", "break outside a loop");
  expect_error("continue", "continue outside a loop");
  expect_error("%c = cmp.eq %a, %a : bool\nif %c {\n  %s = shared 4 : ptr<shared, u32>\n}", "shared memory must be allocated at the kernel's top level");
  EXPECT_NE(check("", "%a: u32", "0, 1, 1").find("workgroup size"), std::string::npos);
  EXPECT_NE(check("", "%a: u32", "1024, 2, 1").find("at most 1024 threads"), std::string::npos);
  EXPECT_NE(check("", "%s: ptr<shared, u32>").find("parameters point to global or constant memory"), std::string::npos);
}

TEST(Validate, BarrierInDivergentControlFlowIsRejected) {
  expect_error("%t = thread_id.x : u32\n%c = cmp.lt %t, %a : bool\nif %c {\n  barrier\n}", "barrier in divergent control flow");
  // An early return by some threads makes the rest of the kernel divergent.
  expect_error("%t = thread_id.x : u32\n%c = cmp.lt %t, %a : bool\nif %c {\n  return\n}\nbarrier", "barrier in divergent control flow");
  // A loop whose trip count depends on the thread.
  expect_error("%t = thread_id.x : u32\n%z = const 0 : u32\n%o = const 1 : u32\nfor %i = %z to %t step %o {\n  barrier\n}",
               "barrier in divergent control flow");
  // A thread-dependent break splits the iterations.
  expect_error("%t = thread_id.x : u32\n%c = cmp.eq %t, %a : bool\nloop {\n  barrier\n  if %c {\n    break\n  }\n}",
               "barrier in divergent control flow");
  // A private variable written with a thread-dependent value is varying too.
  expect_error("%t = thread_id.x : u32\n%v = var 1 : ptr<private, u32>\nstore %v, %t\n%x = load %v : u32\n%c = cmp.eq %x, %a : bool\nif %c {\n  barrier\n}",
               "barrier in divergent control flow");
  // Uniform conditions are fine: parameters, block ids, uniform private variables.
  EXPECT_EQ(check("%b = block_id.x : u32\n%c = cmp.lt %b, %a : bool\nif %c {\n  barrier\n}"), "");
  EXPECT_EQ(check("%v = var 1 : ptr<private, u32>\nstore %v, %a\n%x = load %v : u32\n%c = cmp.eq %x, %a : bool\nif %c {\n  barrier\n}"), "");
  // Subgroup operations need subgroup-uniform control only: a warp-id condition is fine, a lane condition is not.
  EXPECT_EQ(check("%w = warp_id : u32\n%c = cmp.eq %w, %a : bool\nif %c {\n  %r = reduce.add %a : u32\n}"), "");
  expect_error("%l = lane_id : u32\n%c = cmp.eq %l, %a : bool\nif %c {\n  %r = reduce.add %a : u32\n}", "subgroup operation in divergent control flow");
}

TEST(Validate, CapabilitiesAgainstTargets) {
  auto k = ir::parse_kernel("kernel @k(%p: ptr<global, f64>) workgroup(64, 1, 1) {\n  %x = load %p : f64\n  store %p, %x\n}\n");
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(ir::required_capabilities(*k).has(ir::Capability::F64));
  EXPECT_TRUE(ir::validate_for(*k, ir::target_preset(ir::TargetId::CudaSm80)).ok());
  auto s = ir::validate_for(*k, ir::target_preset(ir::TargetId::WebGpu));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ringkernel::ErrorCode::BackendUnavailable);
  EXPECT_NE(s.error().message().find("needs capability 'f64'"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("target 'webgpu' (backend wgsl)"), std::string::npos);
  EXPECT_NE(s.error().message().find("parameter %p"), std::string::npos);
}

TEST(Validate, SixtyFourBitAtomicsNeedTheRightCapability) {
  const char* accumulate = "kernel @k(%p: ptr<global, u64>, %v: u64) workgroup(64, 1, 1) {\n  %o = atomic.add %p, %v : u64\n}\n";
  const char* fetched = "kernel @k(%p: ptr<global, u64>, %v: u64) workgroup(64, 1, 1) {\n  %o = atomic.add %p, %v : u64\n  store %p, %o\n}\n";
  const char* minimum = "kernel @k(%p: ptr<global, u64>, %v: u64) workgroup(64, 1, 1) {\n  %o = atomic.min %p, %v : u64\n}\n";
  auto a = ir::parse_kernel(accumulate), f = ir::parse_kernel(fetched), m = ir::parse_kernel(minimum);
  ASSERT_TRUE(a.ok() && f.ok() && m.ok());
  const auto web = ir::target_preset(ir::TargetId::WebGpu);
  EXPECT_TRUE(ir::validate_for(*a, web).ok());
  EXPECT_NE(ir::validate_for(*f, web).error().message().find("int64_atomics"), std::string::npos);
  EXPECT_NE(ir::validate_for(*m, web).error().message().find("int64_atomics"), std::string::npos);
  EXPECT_TRUE(ir::validate_for(*m, ir::target_preset(ir::TargetId::CudaSm80)).ok());
}

TEST(Validate, TargetLanguageLimits) {
  // WGSL has no pointer arithmetic across objects.
  auto k = ir::parse_kernel(
      "kernel @k(%p: ptr<global, u32>, %q: ptr<global, u32>, %a: u32) workgroup(64, 1, 1) {\n  %c = cmp.eq %a, %a : bool\n"
      "  %r = select %c, %p, %q : ptr<global, u32>\n  store %r, %a\n}\n");
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(ir::validate_for(*k, ir::target_preset(ir::TargetId::CudaSm80)).ok());
  auto s = ir::validate_for(*k, ir::target_preset(ir::TargetId::WebGpu));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("statically known"), std::string::npos);
  // WGSL fences are barriers: they need uniform control flow there (not on CUDA).
  auto f = ir::parse_kernel(
      "kernel @k(%a: u32) workgroup(64, 1, 1) {\n  %t = thread_id.x : u32\n  %c = cmp.eq %t, %a : bool\n  if %c {\n    fence.device\n  }\n}\n");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(ir::validate_for(*f, ir::target_preset(ir::TargetId::CudaSm90)).ok());
  EXPECT_FALSE(ir::validate_for(*f, ir::target_preset(ir::TargetId::WebGpu)).ok());
  // Subgroup operations need whole warps on CUDA.
  auto w = ir::parse_kernel("kernel @k(%a: u32) workgroup(48, 1, 1) {\n  %r = reduce.add %a : u32\n}\n");
  ASSERT_TRUE(w.ok());
  EXPECT_NE(ir::validate_for(*w, ir::target_preset(ir::TargetId::CudaSm90)).error().message().find("not a multiple"), std::string::npos);
}

TEST(Validate, BuilderMisuseIsReportedNotCrashed) {
  ir::Builder b("bad");
  auto x = b.param("x", ir::Type::u32());
  auto f = b.f32(1.0f);
  b.binary(ir::Op::Add, x, f);  // mismatched
  b.break_();                    // outside a loop
  auto k = b.finish();
  auto s = ir::validate(k);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("operand types differ"), std::string::npos);
  // Operands pointing nowhere.
  ir::Kernel broken = k;
  broken.body.insts[1].operands[0] = 12345;
  EXPECT_NE(ir::validate(broken).error().message().find("does not exist"), std::string::npos);
  broken.name = "1bad name";
  EXPECT_NE(ir::validate(broken).error().message().find("must be a non-empty identifier"), std::string::npos);
}
