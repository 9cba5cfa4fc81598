// Tests for ringkernel/error.hpp: ErrorCode names, Error, Result<T>, Status.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ringkernel/error.hpp"

namespace rk = ringkernel;
using rk::ErrorCode;

namespace {

struct CodeName {
  ErrorCode code;
  const char* name;
};

// Every code with its expected stable name; the numeric values are ABI, so they are checked too.
constexpr CodeName kAllCodes[] = {
    {ErrorCode::Ok, "ok"},
    {ErrorCode::InvalidArgument, "invalid_argument"},
    {ErrorCode::MessageTooLarge, "message_too_large"},
    {ErrorCode::QueueFull, "queue_full"},
    {ErrorCode::QueueEmpty, "queue_empty"},
    {ErrorCode::Timeout, "timeout"},
    {ErrorCode::ActorNotFound, "actor_not_found"},
    {ErrorCode::ActorTerminated, "actor_terminated"},
    {ErrorCode::ActorInactive, "actor_inactive"},
    {ErrorCode::IllegalTransition, "illegal_transition"},
    {ErrorCode::BackendUnavailable, "backend_unavailable"},
    {ErrorCode::TenantViolation, "tenant_violation"},
    {ErrorCode::ClockDrift, "clock_drift"},
    {ErrorCode::UnknownMessageType, "unknown_message_type"},
    {ErrorCode::HandlerFailed, "handler_failed"},
    {ErrorCode::NameInvalid, "name_invalid"},
    {ErrorCode::NameTaken, "name_taken"},
    {ErrorCode::ShuttingDown, "shutting_down"},
    {ErrorCode::Overflow, "overflow"},
    {ErrorCode::Corrupt, "corrupt"},
    {ErrorCode::Internal, "internal"},
    {ErrorCode::RestartLimit, "restart_limit"},
    {ErrorCode::Dropped, "dropped"},
};

// A value type that counts live instances, to check Result's manual lifetime management.
struct Tracked {
  static inline int live = 0;
  int v;
  explicit Tracked(int x) : v(x) { ++live; }
  Tracked(const Tracked& o) : v(o.v) { ++live; }
  Tracked(Tracked&& o) noexcept : v(o.v) { o.v = -1; ++live; }
  Tracked& operator=(const Tracked&) = default;
  Tracked& operator=(Tracked&&) = default;
  ~Tracked() { --live; }
};

rk::Result<int> parse_positive(int x) {
  if (x <= 0) return rk::make_error(ErrorCode::InvalidArgument, "must be positive", "parse_positive");
  return x;
}

rk::Status check(bool ok) {
  if (!ok) return rk::make_error(ErrorCode::Timeout, "deadline passed");
  return {};
}

} // namespace

TEST(ErrorCodeTest, NumericValuesAreStable) {
  for (std::size_t i = 0; i < std::size(kAllCodes); ++i) {
    EXPECT_EQ(static_cast<std::uint32_t>(kAllCodes[i].code), i) << kAllCodes[i].name;
  }
  static_assert(static_cast<std::uint32_t>(ErrorCode::Dropped) == 22, "codes are append-only");
}

TEST(ErrorCodeTest, EveryCodeHasItsStableName) {
  std::set<std::string_view> seen;
  for (const auto& [code, name] : kAllCodes) {
    EXPECT_EQ(rk::to_string(code), name);
    EXPECT_TRUE(seen.insert(rk::to_string(code)).second) << "duplicate name " << name;
  }
  EXPECT_EQ(seen.size(), std::size(kAllCodes));
}

TEST(ErrorCodeTest, UnknownValueHasFallbackName) {
  EXPECT_EQ(rk::to_string(static_cast<ErrorCode>(23)), "unknown_error");
  EXPECT_EQ(rk::to_string(static_cast<ErrorCode>(0xFFFFFFFFu)), "unknown_error");
}

TEST(ErrorTest, AccessorsReturnConstructorArguments) {
  const rk::Error e(ErrorCode::QueueFull, "no room", "mailbox");
  EXPECT_EQ(e.code(), ErrorCode::QueueFull);
  EXPECT_EQ(e.message(), "no room");
  EXPECT_EQ(e.context(), "mailbox");

  const rk::Error bare(ErrorCode::Internal, "oops");
  EXPECT_TRUE(bare.context().empty());
}

TEST(ErrorTest, DescribeFormatsCodeMessageAndContext) {
  EXPECT_EQ(rk::Error(ErrorCode::QueueFull, "no room", "mailbox").describe(), "queue_full: no room [mailbox]");
  EXPECT_EQ(rk::Error(ErrorCode::Timeout, "too slow").describe(), "timeout: too slow");
  EXPECT_EQ(rk::Error(ErrorCode::Ok, "").describe(), "ok: ");
}

TEST(ErrorTest, WithContextPrependsOuter) {
  const rk::Error inner(ErrorCode::ActorNotFound, "no such actor", "lookup");
  const rk::Error outer = inner.with_context("send");
  EXPECT_EQ(outer.code(), ErrorCode::ActorNotFound);
  EXPECT_EQ(outer.message(), "no such actor");
  EXPECT_EQ(outer.context(), "send: lookup");
  // The original is untouched.
  EXPECT_EQ(inner.context(), "lookup");
  // Nested twice.
  EXPECT_EQ(outer.with_context("runtime").context(), "runtime: send: lookup");
  EXPECT_EQ(outer.with_context("runtime").describe(), "actor_not_found: no such actor [runtime: send: lookup]");
}

TEST(ErrorTest, WithContextOnEmptyContextHasNoSeparator) {
  const rk::Error e(ErrorCode::Corrupt, "bad magic");
  EXPECT_EQ(e.with_context("attach").context(), "attach");
}

TEST(ErrorTest, MakeErrorBuildsEquivalentError) {
  const rk::Error e = rk::make_error(ErrorCode::NameTaken, "bound", "registry");
  EXPECT_EQ(e.code(), ErrorCode::NameTaken);
  EXPECT_EQ(e.message(), "bound");
  EXPECT_EQ(e.context(), "registry");
}

TEST(ResultTest, SuccessHoldsValue) {
  rk::Result<int> r = parse_positive(7);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(*r, 7);
  EXPECT_EQ(r.value_or(-1), 7);
}

TEST(ResultTest, FailureHoldsError) {
  rk::Result<int> r = parse_positive(-3);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(r.error().message(), "must be positive");
  EXPECT_EQ(r.error().context(), "parse_positive");
  EXPECT_EQ(r.value_or(-1), -1);
}

TEST(ResultTest, ArrowAndMutableAccess) {
  rk::Result<std::string> r = std::string("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 3u);
  r.value() += "d";
  *r += "e";
  EXPECT_EQ(r.value(), "abcde");
  const auto& cr = r;
  EXPECT_EQ(cr->front(), 'a');
  EXPECT_EQ(*cr, "abcde");
}

TEST(ResultTest, RvalueValueMovesOut) {
  rk::Result<std::unique_ptr<int>> r = std::make_unique<int>(42);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);
}

TEST(ResultTest, MoveOnlyValue) {
  rk::Result<std::unique_ptr<int>> a = std::make_unique<int>(5);
  rk::Result<std::unique_ptr<int>> b = std::move(a);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(**b, 5);
  rk::Result<std::unique_ptr<int>> c = rk::make_error(ErrorCode::Dropped, "gone");
  c = std::move(b);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(**c, 5);
}

TEST(ResultTest, CopyAndAssignAcrossStates) {
  rk::Result<std::string> good = std::string("value");
  rk::Result<std::string> bad = rk::make_error(ErrorCode::Overflow, "too big", "ctx");

  rk::Result<std::string> copy_good = good;
  rk::Result<std::string> copy_bad = bad;
  ASSERT_TRUE(copy_good.ok());
  EXPECT_EQ(copy_good.value(), "value");
  EXPECT_EQ(good.value(), "value");  // source unchanged
  ASSERT_FALSE(copy_bad.ok());
  EXPECT_EQ(copy_bad.error().describe(), "overflow: too big [ctx]");

  // value <- error
  copy_good = bad;
  ASSERT_FALSE(copy_good.ok());
  EXPECT_EQ(copy_good.error().code(), ErrorCode::Overflow);
  // error <- value
  copy_bad = good;
  ASSERT_TRUE(copy_bad.ok());
  EXPECT_EQ(copy_bad.value(), "value");
  // move error <- value
  rk::Result<std::string> target = rk::make_error(ErrorCode::Internal, "x");
  target = std::move(copy_bad);
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target.value(), "value");
  // self assignment keeps the value
  auto& alias = target;
  target = alias;
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target.value(), "value");
}

TEST(ResultTest, DestroysExactlyOnce) {
  ASSERT_EQ(Tracked::live, 0);
  {
    rk::Result<Tracked> a = Tracked(1);
    EXPECT_EQ(Tracked::live, 1);
    rk::Result<Tracked> b = a;
    EXPECT_EQ(Tracked::live, 2);
    rk::Result<Tracked> c = std::move(a);
    EXPECT_EQ(Tracked::live, 3);  // moved-from value still alive in `a`
    EXPECT_EQ(c->v, 1);
    // Replacing a value with an error destroys the value.
    b = rk::Result<Tracked>(rk::make_error(ErrorCode::Dropped, "d"));
    EXPECT_EQ(Tracked::live, 2);
    // Replacing an error with a value constructs one.
    b = c;
    EXPECT_EQ(Tracked::live, 3);
  }
  EXPECT_EQ(Tracked::live, 0);
}

TEST(ResultTest, VectorOfResults) {
  std::vector<rk::Result<int>> v;
  for (int i = -2; i <= 2; ++i) v.push_back(parse_positive(i));
  int oks = 0;
  for (const auto& r : v) oks += r.ok() ? 1 : 0;
  EXPECT_EQ(oks, 2);
  EXPECT_EQ(v[4].value(), 2);
  EXPECT_EQ(v[0].error().code(), ErrorCode::InvalidArgument);
}

TEST(StatusTest, DefaultIsOk) {
  rk::Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(static_cast<bool>(s));
  EXPECT_TRUE(check(true).ok());
}

TEST(StatusTest, FailureCarriesError) {
  rk::Status s = check(false);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(static_cast<bool>(s));
  EXPECT_EQ(s.error().code(), ErrorCode::Timeout);
  EXPECT_EQ(s.error().message(), "deadline passed");
  rk::Status copy = s;
  EXPECT_FALSE(copy.ok());
  EXPECT_EQ(copy.error().describe(), "timeout: deadline passed");
  copy = rk::Status{};
  EXPECT_TRUE(copy.ok());
}

TEST(StatusTest, ResultVoidIsStatus) {
  static_assert(std::is_same_v<rk::Status, rk::Result<void>>);
  const rk::Result<void> r = rk::make_error(ErrorCode::ShuttingDown, "bye");
  EXPECT_EQ(r.error().code(), ErrorCode::ShuttingDown);
}
