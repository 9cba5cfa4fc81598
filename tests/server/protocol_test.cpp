// Unit tests of the pure parts of the server: the WebSocket command parser, the payload codec, message type
// registration, topic filters and the event buffer.
#include <gtest/gtest.h>

#include "server/event_hub.hpp"
#include "server/protocol.hpp"
#include "server/server_helpers.hpp"

namespace rk_server_test {
namespace {

namespace d = ringkernel::server::detail;

TEST(WsCommandParser, AcceptsEveryOperation) {
  auto r = d::parse_command(R"({"v":1,"id":7,"op":"call","actor":"counter","type":"test.Add","payload":{"value":3},"timeout_ms":250})");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.command.op, d::Op::Call);
  EXPECT_EQ(r.command.id_json, "7");
  EXPECT_EQ(r.command.actor.name, "counter");
  EXPECT_EQ(r.command.payload.type, "test.Add");
  EXPECT_EQ(r.command.timeout, std::chrono::milliseconds(250));
  r = d::parse_command(R"({"id":"a","op":"send","actor":3,"type":"t","payload_b64":"AA=="})");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_TRUE(r.command.actor.by_id);
  EXPECT_EQ(r.command.actor.id, 3u);
  EXPECT_TRUE(r.command.payload.is_b64);
  EXPECT_EQ(r.command.id_json, "\"a\"");
  r = d::parse_command(R"({"op":"subscribe","topics":["lifecycle","stats"]})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.command.topics.size(), 2u);
  EXPECT_TRUE(d::parse_command(R"({"op":"lifecycle","actor":1,"action":"deactivate"})").ok);
  EXPECT_TRUE(d::parse_command(R"({"op":"get_stats"})").ok);
  EXPECT_TRUE(d::parse_command(R"({"op":"ping","id":1})").ok);
}

TEST(WsCommandParser, RejectsMalformedCommandsWithACode) {
  struct Case {
    const char* text;
    const char* code;
  };
  const Case cases[] = {
      {"", "invalid_json"},
      {"{", "invalid_json"},
      {"[1]", "bad_request"},
      {R"({"op":"fly"})", "unknown_op"},
      {R"({"op":1})", "bad_request"},
      {R"({"v":2,"op":"ping"})", "unsupported_version"},
      {R"({"id":{"x":1},"op":"ping"})", "bad_request"},
      {R"({"op":"send","actor":0,"type":"t"})", "bad_request"},
      {R"({"op":"send","actor":-5,"type":"t"})", "bad_request"},
      {R"({"op":"send","actor":99999999999,"type":"t"})", "bad_request"},
      {R"({"op":"send","actor":"a"})", "bad_request"},
      {R"({"op":"send","actor":"a","type":"t","payload":[1]})", "bad_request"},
      {R"({"op":"send","actor":"a","type":"t","payload":{},"payload_b64":""})", "bad_request"},
      {R"({"op":"call","actor":"a","type":"t","timeout_ms":0})", "bad_request"},
      {R"({"op":"call","actor":"a","type":"t","timeout_ms":1.5})", "bad_request"},
      {R"({"op":"lifecycle","actor":"a","action":"explode"})", "bad_request"},
      {R"({"op":"subscribe","topics":[]})", "bad_request"},
      {R"({"op":"subscribe","topics":[1]})", "bad_request"},
  };
  for (const Case& c : cases) {
    auto r = d::parse_command(c.text);
    EXPECT_FALSE(r.ok) << c.text;
    EXPECT_EQ(r.code, c.code) << c.text << " -> " << r.message;
    EXPECT_FALSE(r.message.empty());
  }
  // The id is echoed even when the rest is wrong, so a client can match the error to its request.
  EXPECT_EQ(d::parse_command(R"({"id":42,"op":"fly"})").command.id_json, "42");
  // Pathological nesting is refused before any recursive processing.
  EXPECT_EQ(d::parse_command(std::string(100000, '[') + std::string(100000, ']')).code, "invalid_json");
}

TEST(PayloadCodec, EncodesFieldsWithRangeChecksAndRoundTrips) {
  const srv::MessageTypes types = test_types();
  const srv::MessageTypeInfo* add = types.find("test.Add");
  ASSERT_NE(add, nullptr);
  d::PayloadSpec spec;
  spec.type = "test.Add";
  spec.json = R"({"value":18446744073709551615})";
  auto bytes = d::encode_payload(*add, spec);
  ASSERT_TRUE(bytes.ok()) << bytes.error().describe();
  Add a{};
  std::memcpy(&a, bytes->data(), sizeof a);
  EXPECT_EQ(a.value, ~0ull);
  const std::string js = d::message_json(types, Add::type_id, *bytes);
  EXPECT_NE(js.find("\"value\":18446744073709551615"), std::string::npos) << js;
  EXPECT_NE(js.find("\"type\":\"test.Add\""), std::string::npos);
  spec.json = R"({"value":-1})";
  EXPECT_FALSE(d::encode_payload(*add, spec).ok());
  spec.json = R"({"value":1.5})";
  EXPECT_FALSE(d::encode_payload(*add, spec).ok());
  spec.json = R"({"value":"1"})";
  EXPECT_FALSE(d::encode_payload(*add, spec).ok());
  spec.json = R"({})";
  EXPECT_TRUE(d::encode_payload(*add, spec).ok()) << "missing fields are zero";
  // Unknown type ids are still reported, as base64.
  const std::string unknown = d::message_json(types, 12345, *bytes);
  EXPECT_NE(unknown.find("\"type\":null"), std::string::npos);
  EXPECT_NE(unknown.find("\"payload_b64\":\"//////////8=\""), std::string::npos) << unknown;
}

TEST(PayloadCodec, Base64IsStrict) {
  const std::vector<std::byte> data = {std::byte{0xFF}, std::byte{0x00}, std::byte{0x10}, std::byte{0x7F}};
  const std::string enc = d::base64_encode(data);
  EXPECT_EQ(enc, "/wAQfw==");
  auto dec = d::base64_decode(enc);
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, data);
  EXPECT_FALSE(d::base64_decode("abc").ok());
  EXPECT_FALSE(d::base64_decode("ab=c").ok());
  EXPECT_FALSE(d::base64_decode("a$==").ok());
  EXPECT_FALSE(d::base64_decode("====").ok());
  EXPECT_TRUE(d::base64_decode("").ok());
}

struct Mixed {
  static constexpr auto type_id = rk::message_type("test.Mixed");
  std::int8_t small;
  bool flag;
  float ratio;
  double big;
  std::uint16_t arr[3];
};

TEST(MessageTypes, RegistrationValidatesNamesIdsAndFields) {
  srv::MessageTypes t;
  ASSERT_TRUE(t.add<Mixed>("test.Mixed", {srv::field("small", &Mixed::small), srv::field("flag", &Mixed::flag),
                                          srv::field("ratio", &Mixed::ratio), srv::field("big", &Mixed::big),
                                          srv::field("arr", &Mixed::arr)})
                  .ok());
  const auto* info = t.find("test.Mixed");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->fields[4].count, 3u);
  EXPECT_EQ(info->fields[4].offset, offsetof(Mixed, arr));
  EXPECT_EQ(t.find(Mixed::type_id), info);
  EXPECT_EQ(t.add<Mixed>("other").error().code(), rk::ErrorCode::NameTaken) << "same type id twice";
  EXPECT_EQ(t.add<Add>("test.Mixed").error().code(), rk::ErrorCode::NameTaken);
  EXPECT_EQ(t.add<Add>("").error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_EQ(t.add<Add>("a b").error().code(), rk::ErrorCode::InvalidArgument);
  srv::FieldInfo beyond{"x", 4, srv::FieldKind::U64, 1};
  EXPECT_EQ(t.add<Add>("test.Add", {beyond}).error().code(), rk::ErrorCode::InvalidArgument);
  srv::FieldInfo a{"a", 0, srv::FieldKind::U32, 1}, b{"b", 2, srv::FieldKind::U32, 1};
  EXPECT_EQ(t.add<Add>("test.Add", {a, b}).error().code(), rk::ErrorCode::InvalidArgument) << "overlap";

  d::PayloadSpec spec;
  spec.json = R"({"small":-128,"flag":true,"ratio":0.5,"big":1e300,"arr":[1,2,65535]})";
  auto bytes = d::encode_payload(*info, spec);
  ASSERT_TRUE(bytes.ok()) << bytes.error().describe();
  Mixed m{};
  std::memcpy(&m, bytes->data(), sizeof m);
  EXPECT_EQ(m.small, -128);
  EXPECT_TRUE(m.flag);
  EXPECT_FLOAT_EQ(m.ratio, 0.5f);
  EXPECT_EQ(m.arr[2], 65535);
  spec.json = R"({"arr":[1,2,3,4]})";
  EXPECT_FALSE(d::encode_payload(*info, spec).ok());
  spec.json = R"({"small":128})";
  EXPECT_FALSE(d::encode_payload(*info, spec).ok());
  spec.json = R"({"flag":1})";
  EXPECT_FALSE(d::encode_payload(*info, spec).ok());
}

TEST(TopicFilter, MatchesTopicsAndTheirSubtopics) {
  auto f = d::TopicFilter::parse("lifecycle, custom/a");
  EXPECT_TRUE(f.matches("lifecycle"));
  EXPECT_TRUE(f.matches("custom/a"));
  EXPECT_TRUE(f.matches("custom/a/b"));
  EXPECT_FALSE(f.matches("custom/ab"));
  EXPECT_FALSE(f.matches("stats"));
  EXPECT_TRUE(d::TopicFilter().matches("anything"));
  EXPECT_TRUE(d::TopicFilter::nothing().none());
  auto n = d::TopicFilter::nothing();
  n.add("stats");
  EXPECT_TRUE(n.matches("stats"));
  n.remove("stats");
  EXPECT_TRUE(n.none());
  EXPECT_FALSE(d::valid_topic("a//b"));
  EXPECT_FALSE(d::valid_topic("/a"));
  EXPECT_FALSE(d::valid_topic("a b"));
  EXPECT_TRUE(d::valid_topic("pubsub/sensors.1/temp-x"));
}

TEST(EventHub, ReadsInOrderAndCountsWhatWasOverwritten) {
  d::EventHub hub(4);
  for (int i = 0; i < 10; ++i) hub.publish(i % 2 ? "odd" : "even", "{\"i\":" + std::to_string(i) + "}");
  EXPECT_EQ(hub.last_id(), 10u);
  auto b = hub.read(0, 100, d::TopicFilter());
  EXPECT_EQ(b.missed, 6u);
  ASSERT_EQ(b.events.size(), 4u);
  EXPECT_EQ(b.events.front()->id, 7u);
  EXPECT_EQ(b.cursor, 10u);
  EXPECT_EQ(b.events.front()->data, "{\"id\":7,\"topic\":\"even\",\"i\":6}");
  b = hub.read(8, 100, d::TopicFilter::parse("even"));
  EXPECT_EQ(b.missed, 0u);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0]->id, 9u);
  b = hub.read(10, 100, d::TopicFilter());
  EXPECT_TRUE(b.events.empty());
  b = hub.read(6, 1, d::TopicFilter());
  EXPECT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.cursor, 7u);
  int notified = 0;
  hub.set_notifier([&] { ++notified; });
  hub.publish("x", "{}");
  hub.publish("x", "{}");
  EXPECT_EQ(notified, 1) << "one wake-up per burst until the reader acknowledges";
  hub.notified();
  hub.publish("x", "{}");
  EXPECT_EQ(notified, 2);
}

}  // namespace
}  // namespace rk_server_test
