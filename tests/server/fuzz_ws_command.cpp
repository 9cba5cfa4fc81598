// libFuzzer target: every byte string given to the WebSocket command parser must produce a command or a coded
// error - never a crash, hang, sanitizer report or uncaught exception. Parsed sends/calls are pushed through the
// payload encoder and the reply decoder as well, with a type that has every field kind.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/event_hub.hpp"
#include "server/protocol.hpp"

namespace {

struct Mixed {
  static constexpr auto type_id = ringkernel::message_type("test.Mixed");
  std::int8_t small;
  bool flag;
  float ratio;
  double big;
  std::uint16_t arr[3];
  std::uint64_t value;
};

const ringkernel::server::MessageTypes& types() {
  static const ringkernel::server::MessageTypes t = [] {
    namespace srv = ringkernel::server;
    srv::MessageTypes m;
    if (!m.add<Mixed>("test.Mixed", {srv::field("small", &Mixed::small), srv::field("flag", &Mixed::flag),
                                     srv::field("ratio", &Mixed::ratio), srv::field("big", &Mixed::big),
                                     srv::field("arr", &Mixed::arr), srv::field("value", &Mixed::value)}))
      std::abort();
    return m;
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = ringkernel::server::detail;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const d::ParseResult r = d::parse_command(text);
  if (!r.ok) {
    if (r.code.empty() || r.message.empty()) std::abort();  // every error must say what and why
    return 0;
  }
  const d::Command& c = r.command;
  if (c.op == d::Op::Send || c.op == d::Op::Call) {
    const auto* info = types().find(c.payload.type);
    if (info == nullptr) info = types().find("test.Mixed");
    auto bytes = d::encode_payload(*info, c.payload);
    if (bytes) {
      if (bytes->size() != info->size) std::abort();
      (void)d::message_json(types(), info->type_id, *bytes);
    }
  }
  for (const auto& t : c.topics) {
    auto f = d::TopicFilter::parse(t);
    (void)f.matches("lifecycle");
    (void)d::valid_topic(t);
  }
  return 0;
}
