// Tests for ringkernel/message.hpp: header layout, type ids, make_header, Envelope.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>
#include <string>

#include "ringkernel/message.hpp"

namespace rk = ringkernel;

namespace {

struct Add {
  static constexpr auto type_id = rk::message_type("demo.Add");
  std::uint64_t value;
};

struct Mul {
  static constexpr auto type_id = rk::message_type("demo.Mul");
  std::uint64_t value;  // same size as Add: only the type id tells them apart
};

struct Point3 {
  static constexpr auto type_id = rk::message_type("demo.Point3");
  float x, y, z;
};

// A message with a user-provided constructor and no default constructor: still trivially copyable.
struct Tagged {
  static constexpr auto type_id = rk::message_type("demo.Tagged");
  std::uint32_t tag;
  std::uint16_t extra;
  explicit Tagged(std::uint32_t t, std::uint16_t e) : tag(t), extra(e) {}
};

// Same type id as Add but a different size: `is`/`as` must reject it.
struct FakeAdd {
  static constexpr auto type_id = Add::type_id;
  std::uint32_t value;
};

struct NotAMessage {
  std::string s;  // not trivially copyable
  static constexpr rk::TypeId type_id = 0x1234;
};
struct NoTypeId {
  int x;
};

// Reference FNV-1a, written independently, to pin the hash.
std::uint32_t fnv1a(const std::string& s) {
  std::uint32_t h = 0x811C9DC5u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x01000193u;
  }
  return h;
}

} // namespace

// ---- compile-time checks ----
static_assert(rk::message_type("demo.Add") != rk::message_type("demo.Mul"), "distinct names, distinct ids");
static_assert(rk::message_type("a") != rk::message_type("b"));
static_assert(rk::message_type("demo.Add") >= rk::kFirstUserTypeId);
static_assert(rk::message_type("") >= rk::kFirstUserTypeId);
static_assert(rk::message_type("x") >= rk::kFirstUserTypeId);
static_assert(rk::message_type("demo.Add") == rk::message_type("demo.Add", 8), "literal and (ptr,len) forms agree");
static_assert(rk::message_type("") == 2166136261u, "empty name is the FNV offset basis");
static_assert(rk::Message<Add> && rk::Message<Mul> && rk::Message<Point3> && rk::Message<Tagged>);
static_assert(!rk::Message<NotAMessage>);
static_assert(!rk::Message<NoTypeId>);
static_assert(!rk::Message<int>);
static_assert(rk::make_header<Add>(1, 2).valid(), "make_header is constexpr and valid");

TEST(MessageHeaderTest, LayoutIsSixtyFourBytes) {
  EXPECT_EQ(sizeof(rk::MessageHeader), 64u);
  EXPECT_EQ(alignof(rk::MessageHeader), 8u);
  EXPECT_EQ(rk::kMessageMagic, 0xA5);
  EXPECT_EQ(rk::kMessageVersion, 1);
  EXPECT_EQ(rk::kFirstUserTypeId, 0x100u);
  EXPECT_EQ(rk::kMaxPayload, 0xFFFFu);
}

TEST(MessageHeaderTest, FieldsLandAtTheirWireOffsets) {
  rk::MessageHeader h{};
  h.magic = 0x11;
  h.version = 0x22;
  h.priority = 0x33;
  h.flags = 0x44;
  h.type_id = 0x55667788u;
  h.message_id = 0x0102030405060708ull;
  h.correlation_id = 0xAABBCCDDu;
  h.payload_len = 0xEEFF;
  h.tenant = 0x1357;
  h.source = 0x2468ACE0u;
  h.destination = 0x13579BDFu;
  h.hlc = 0xFEDCBA9876543210ull;
  for (int i = 0; i < 16; ++i) h.trace_id[i] = static_cast<std::uint8_t>(0x80 + i);
  for (int i = 0; i < 8; ++i) h.span_id[i] = static_cast<std::uint8_t>(0xC0 + i);

  unsigned char raw[64];
  std::memcpy(raw, &h, 64);
  auto u16 = [&](int off) { std::uint16_t v; std::memcpy(&v, raw + off, 2); return v; };
  auto u32 = [&](int off) { std::uint32_t v; std::memcpy(&v, raw + off, 4); return v; };
  auto u64 = [&](int off) { std::uint64_t v; std::memcpy(&v, raw + off, 8); return v; };
  EXPECT_EQ(raw[0], 0x11);
  EXPECT_EQ(raw[1], 0x22);
  EXPECT_EQ(raw[2], 0x33);
  EXPECT_EQ(raw[3], 0x44);
  EXPECT_EQ(u32(4), 0x55667788u);
  EXPECT_EQ(u64(8), 0x0102030405060708ull);
  EXPECT_EQ(u32(16), 0xAABBCCDDu);
  EXPECT_EQ(u16(20), 0xEEFF);
  EXPECT_EQ(u16(22), 0x1357);
  EXPECT_EQ(u32(24), 0x2468ACE0u);
  EXPECT_EQ(u32(28), 0x13579BDFu);
  EXPECT_EQ(u64(32), 0xFEDCBA9876543210ull);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(raw[40 + i], 0x80 + i);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(raw[56 + i], 0xC0 + i);
}

TEST(MessageHeaderTest, FlagBitsAreDistinctSingleBits) {
  const std::uint8_t all[] = {rk::msg_flags::kTraceSampled, rk::msg_flags::kReply, rk::msg_flags::kExpectsReply};
  EXPECT_EQ(rk::msg_flags::kTraceSampled, 1);  // W3C "sampled" bit
  std::uint8_t acc = 0;
  for (auto f : all) {
    EXPECT_EQ(f & (f - 1), 0) << "not a single bit: " << int(f);
    EXPECT_EQ(acc & f, 0) << "overlapping flag " << int(f);
    acc |= f;
  }
  rk::MessageHeader h = rk::make_header<Add>(0, 1);
  h.flags |= rk::msg_flags::kExpectsReply;
  EXPECT_TRUE(h.flags & rk::msg_flags::kExpectsReply);
  EXPECT_FALSE(h.flags & rk::msg_flags::kReply);
}

TEST(MessageHeaderTest, ValidChecksMagicAndVersion) {
  rk::MessageHeader zero{};
  EXPECT_FALSE(zero.valid());
  rk::MessageHeader h = rk::make_header<Add>(3, 4);
  EXPECT_TRUE(h.valid());
  h.magic = 0x5A;
  EXPECT_FALSE(h.valid());
  h.magic = rk::kMessageMagic;
  h.version = rk::kMessageVersion + 1;
  EXPECT_FALSE(h.valid());
  h.version = rk::kMessageVersion;
  EXPECT_TRUE(h.valid());
}

TEST(MessageHeaderTest, MakeHeaderFillsTypeSizeEndpointsAndZeroesTheRest) {
  const rk::MessageHeader h = rk::make_header<Point3>(7, 9);
  EXPECT_EQ(h.magic, rk::kMessageMagic);
  EXPECT_EQ(h.version, rk::kMessageVersion);
  EXPECT_EQ(h.type_id, Point3::type_id);
  EXPECT_EQ(h.payload_len, sizeof(Point3));
  EXPECT_EQ(h.source, 7u);
  EXPECT_EQ(h.destination, 9u);
  EXPECT_EQ(h.priority, 0);
  EXPECT_EQ(h.flags, 0);
  EXPECT_EQ(h.message_id, 0u);
  EXPECT_EQ(h.correlation_id, 0u);
  EXPECT_EQ(h.tenant, rk::kSystemTenant);
  EXPECT_EQ(h.hlc, 0u);
  for (auto b : h.trace_id) EXPECT_EQ(b, 0);
  for (auto b : h.span_id) EXPECT_EQ(b, 0);
}

TEST(MessageTypeTest, MatchesReferenceFnv1a) {
  for (const std::string name : {"demo.Add", "demo.Mul", "orders.Placed", "a", "ringkernel.Ping"}) {
    const std::uint32_t ref = fnv1a(name);
    const std::uint32_t expect = ref < rk::kFirstUserTypeId ? ref + rk::kFirstUserTypeId : ref;
    EXPECT_EQ(rk::message_type(name.data(), name.size()), expect) << name;
  }
  // Pinned values: ids are persisted (replay logs, other backends), so they must never change.
  EXPECT_EQ(rk::message_type("a"), 0xE40C292Cu);
  EXPECT_EQ(rk::message_type("foobar"), 0xBF9CF968u);
}

TEST(MessageTypeTest, IdsAreStableAcrossCalls) {
  constexpr rk::TypeId compile_time = rk::message_type("demo.Add");
  const std::string runtime_name = std::string("demo.") + "Add";
  EXPECT_EQ(rk::message_type(runtime_name.c_str(), runtime_name.size()), compile_time);
  EXPECT_EQ(Add::type_id, compile_time);
}

RC_GTEST_PROP(MessageTypeProp, NeverInReservedRange, (const std::string& name)) {
  RC_ASSERT(rk::message_type(name.data(), name.size()) >= rk::kFirstUserTypeId);
}

RC_GTEST_PROP(MessageTypeProp, FoldOnlyTouchesReservedHashes, (const std::string& name)) {
  const std::uint32_t raw = fnv1a(name);
  const rk::TypeId id = rk::message_type(name.data(), name.size());
  if (raw >= rk::kFirstUserTypeId) {
    RC_ASSERT(id == raw);
  } else {
    RC_ASSERT(id == raw + rk::kFirstUserTypeId);
  }
}

TEST(EnvelopeTest, OfCopiesHeaderAndPayload) {
  const Add msg{0xDEADBEEFCAFEull};
  const rk::Envelope e = rk::Envelope::of(msg, 5, 6);
  EXPECT_TRUE(e.header.valid());
  EXPECT_EQ(e.header.type_id, Add::type_id);
  EXPECT_EQ(e.header.payload_len, sizeof(Add));
  EXPECT_EQ(e.header.source, 5u);
  EXPECT_EQ(e.header.destination, 6u);
  ASSERT_EQ(e.payload.size(), sizeof(Add));
  EXPECT_EQ(std::memcmp(e.payload.data(), &msg, sizeof(Add)), 0);
}

TEST(EnvelopeTest, OfDefaultsToHostEndpoints) {
  const rk::Envelope e = rk::Envelope::of(Mul{2});
  EXPECT_EQ(e.header.source, rk::kHostActor);
  EXPECT_EQ(e.header.destination, rk::kHostActor);
}

TEST(EnvelopeTest, IsAndAsRoundTrip) {
  const rk::Envelope e = rk::Envelope::of(Point3{1.5f, -2.0f, 3.25f});
  EXPECT_TRUE(e.is<Point3>());
  EXPECT_FALSE(e.is<Add>());
  const rk::Result<Point3> p = e.as<Point3>();
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->x, 1.5f);
  EXPECT_EQ(p->y, -2.0f);
  EXPECT_EQ(p->z, 3.25f);
}

TEST(EnvelopeTest, AsWorksForTypesWithoutDefaultConstructor) {
  const rk::Envelope e = rk::Envelope::of(Tagged(77, 9));
  ASSERT_TRUE(e.is<Tagged>());
  const rk::Result<Tagged> t = e.as<Tagged>();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->tag, 77u);
  EXPECT_EQ(t->extra, 9);
}

TEST(EnvelopeTest, WrongTypeIsUnknownMessageTypeNamingBothIds) {
  const rk::Envelope e = rk::Envelope::of(Add{1});
  EXPECT_FALSE(e.is<Mul>());  // same size, different id
  const rk::Result<Mul> r = e.as<Mul>();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), rk::ErrorCode::UnknownMessageType);
  EXPECT_EQ(r.error().context(), "Envelope::as");
  EXPECT_NE(r.error().message().find(std::to_string(Add::type_id)), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find(std::to_string(Mul::type_id)), std::string::npos) << r.error().message();
}

TEST(EnvelopeTest, SameIdWrongSizeIsRejected) {
  const rk::Envelope e = rk::Envelope::of(Add{1});
  EXPECT_FALSE(e.is<FakeAdd>());
  const auto r = e.as<FakeAdd>();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), rk::ErrorCode::UnknownMessageType);

  // Truncated payload of the right type id.
  rk::Envelope cut = rk::Envelope::of(Add{1});
  cut.payload.pop_back();
  EXPECT_FALSE(cut.is<Add>());
  EXPECT_FALSE(cut.as<Add>().ok());
}

TEST(EnvelopeTest, DefaultEnvelopeIsInvalidAndEmpty) {
  const rk::Envelope e;
  EXPECT_FALSE(e.header.valid());
  EXPECT_TRUE(e.payload.empty());
  EXPECT_FALSE(e.is<Add>());
}

RC_GTEST_PROP(EnvelopeProp, RoundTripsArbitraryValues, (std::uint64_t v, std::uint32_t src, std::uint32_t dst)) {
  const rk::Envelope e = rk::Envelope::of(Add{v}, src, dst);
  RC_ASSERT(e.header.source == src);
  RC_ASSERT(e.header.destination == dst);
  const auto r = e.as<Add>();
  RC_ASSERT(r.ok());
  RC_ASSERT(r->value == v);
  RC_ASSERT(!e.as<Mul>().ok());
}
