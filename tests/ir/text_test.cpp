// The textual IR: printing, parsing, round trips and hostile input.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "ringkernel/ir/passes.hpp"
#include "ringkernel/ir/text.hpp"

namespace ir = ringkernel::ir;

namespace {

const char* kSaxpy = R"(kernel @saxpy(%n: u32, %a: f32, %x: ptr<global, f32>, %y: ptr<global, f32>) workgroup(256, 1, 1) {
  %i = global_id.x : u32
  %in = cmp.lt %i, %n : bool
  if %in {
    %px = ptr_add %x, %i : ptr<global, f32>
    %py = ptr_add %y, %i : ptr<global, f32>
    %vx = load %px : f32
    %vy = load %py : f32
    %ax = mul %a, %vx : f32
    %r = add %ax, %vy : f32
    store %py, %r
  }
}
)";

const char* kEverything = R"(// every statement form
kernel @all(%buf: ptr<global, u32>, %ring: ring, %out: ring, %clock: ptr<global, u64>, %t: u64) workgroup(64, 1, 1) requires(subgroups, messaging) {
  %s = shared 64 : ptr<shared, u32>
  %tid = thread_id.x : u32
  %zero = const 0 : u32
  %one = const 1 : u32
  %ten = const 10 : u32
  %f = const -1.5 : f32
  %big = const 18446744073709551615 : u64
  %neg = const -7 : i32
  %inf = const inf : f32
  %yes = const true : bool
  %v = vec %f, %f, %f, %f : vec4<f32>
  %e = extract 2 %v : f32
  %m = math.fma %e, %e, %f : f32
  %p = ptr_add %s, %tid : ptr<shared, u32>
  store %p, %tid
  barrier
  fence.device
  %old = atomic.add %p, %one : u32
  %cas = atomic_cas %p, %zero, %one : u32
  %al = atomic_load %p : u32
  atomic_store %p, %al
  %sh = shuffle.xor %tid, %one : u32
  %vote = vote.ballot %yes : u32
  %red = reduce.add %tid : u32
  %sc = scan.exclusive_add %tid : u32
  %msg = var 32 : ptr<private, u32>
  %rc = h2k_dequeue 32 %ring, %msg : u32
  %rc2 = k2h_enqueue %out, %msg : u32
  %now = hlc_now %clock : u64
  %tick = hlc_tick %clock, %t : u64
  %upd = hlc_update %clock, %now, %t : u64
  for %i = %zero to %ten step %one {
    %c = cmp.eq %i, %one : bool
    if %c {
      continue
    } else {
      break
    }
  }
  loop {
    break
  }
  return
}
)";

} // namespace

TEST(Text, ParsesAndPrintsIdentically) {
  for (const char* src : {kSaxpy}) {
    auto k = ir::parse_kernel(src);
    ASSERT_TRUE(k.ok()) << k.error().describe();
    EXPECT_EQ(ir::print(*k), src);
    EXPECT_TRUE(ir::validate(*k).ok());
  }
}

TEST(Text, EveryStatementFormRoundTrips) {
  auto k = ir::parse_kernel(kEverything);
  ASSERT_TRUE(k.ok()) << k.error().describe();
  EXPECT_TRUE(ir::validate(*k).ok()) << ir::validate(*k).error().describe();
  const std::string once = ir::print(*k);
  auto again = ir::parse_kernel(once);
  ASSERT_TRUE(again.ok()) << again.error().describe() << "\n" << once;
  EXPECT_EQ(ir::print(*again), once);
  EXPECT_NE(once.find("const 18446744073709551615 : u64"), std::string::npos);
  EXPECT_NE(once.find("const -1.5 : f32"), std::string::npos);
  EXPECT_NE(once.find("requires(subgroups, messaging)"), std::string::npos);
}

TEST(Text, ModulesHoldSeveralKernels) {
  const std::string two = std::string(kSaxpy) + "\n" + std::string(kSaxpy).replace(8, 5, "other");
  auto m = ir::parse_module(two);
  ASSERT_TRUE(m.ok()) << m.error().describe();
  ASSERT_EQ(m->kernels.size(), 2u);
  EXPECT_NE(m->find("other"), nullptr);
  EXPECT_EQ(ir::print(*m), two);
  EXPECT_FALSE(ir::parse_kernel(two).ok());  // exactly one expected
  EXPECT_FALSE(ir::parse_module(std::string(kSaxpy) + kSaxpy).ok());  // same name twice
}

struct BadCase {
  const char* text;
  const char* expect;  // substring of the error
};

TEST(Text, MalformedInputGivesLineAndColumn) {
  const BadCase cases[] = {
      {"", "expected 'kernel'"},
      {"kernel saxpy() workgroup(1,1,1) {}", "expected '@name'"},
      {"kernel @k() workgroup(1,1) {}", "expected ','"},
      {"kernel @k() workgroup(1,1,5000) {}", "expected an integer in [0, 1024]"},
      {"kernel @k() workgroup(1,1,1) {", "expected '}' before end of input"},
      {"kernel @k() workgroup(1,1,1) {\n  %x = frobnicate : u32\n}", "line 2, column 8: unknown operation 'frobnicate'"},
      {"kernel @k() workgroup(1,1,1) {\n  %x = thread_id : u32\n}", "needs a variant"},
      {"kernel @k() workgroup(1,1,1) {\n  %x = thread_id.w : u32\n}", "needs a variant"},
      {"kernel @k() workgroup(1,1,1) {\n  %x = add.x %y, %y : u32\n}", "takes no variant"},
      {"kernel @k() workgroup(1,1,1) {\n  %x = add %y, %y : u32\n}", "use of undefined value %y"},
      {"kernel @k(%a: u32) workgroup(1,1,1) {\n  %a = add %a, %a : u32\n}", "defined twice"},
      {"kernel @k(%a: u32) workgroup(1,1,1) {\n  %x = add %a, %a\n}", "needs a result type"},
      {"kernel @k(%a: u32) workgroup(1,1,1) {\n  add %a, %a : u32\n}", "needs a result name"},
      {"kernel @k(%a: u32) workgroup(1,1,1) {\n  %x = const 99999999999999999999999 : u64\n}", "out-of-range integer"},
      {"kernel @k() workgroup(1,1,1) requires(telepathy) {}", "unknown capability"},
      {"kernel @k() workgroup(1,1,1) {\n  %x = const 1 : u32 $\n}", "unexpected character '$'"},
      {"kernel @k(%a u32) workgroup(1,1,1) {}", "expected ':'"},
      {"kernel @k() workgroup(1,1,1) {\n  for %i = %a to %b step %c {\n  }\n}", "use of undefined value %a"},
      {"kernel @k() workgroup(1,1,1) {\n  %x = const 1 : u32,\n}", "line 2"},
      {"kernel @k() workgroup(1,1,1) {\n  \x01\n}", "byte 1"},
  };
  for (const auto& c : cases) {
    auto r = ir::parse_module(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos) << "for: " << c.text << "\ngot: " << r.error().message();
    EXPECT_EQ(r.error().code(), ringkernel::ErrorCode::InvalidArgument);
  }
}

TEST(Text, DeepNestingIsRefusedNotOverflowed) {
  std::string s = "kernel @k(%c: bool) workgroup(1,1,1) {\n";
  for (int i = 0; i < 5000; ++i) s += "if %c {\n";
  auto r = ir::parse_module(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("nesting deeper"), std::string::npos);
}

// Fuzz-style property: no mutation of valid text crashes the parser (and whatever parses, prints and
// re-parses identically).
RC_GTEST_PROP(Text, MutatedInputNeverCrashes, (unsigned pos, unsigned char byte, unsigned cut)) {
  std::string s = kEverything;
  if (!s.empty()) s[pos % s.size()] = static_cast<char>(byte);
  if (cut % 3 == 0) s.resize(cut % (s.size() + 1));
  auto r = ir::parse_module(s);
  if (r.ok()) {
    const std::string printed = ir::print(*r);
    auto again = ir::parse_module(printed);
    RC_ASSERT(again.ok());
    RC_ASSERT(ir::print(*again) == printed);
    (void)ir::validate(r->kernels.front());  // must not crash either
  }
}
