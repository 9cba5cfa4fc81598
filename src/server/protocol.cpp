#include "server/protocol.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

namespace ringkernel::server {

std::string_view to_string(FieldKind kind) noexcept {
  switch (kind) {
    case FieldKind::U8: return "u8";
    case FieldKind::U16: return "u16";
    case FieldKind::U32: return "u32";
    case FieldKind::U64: return "u64";
    case FieldKind::I8: return "i8";
    case FieldKind::I16: return "i16";
    case FieldKind::I32: return "i32";
    case FieldKind::I64: return "i64";
    case FieldKind::F32: return "f32";
    case FieldKind::F64: return "f64";
    case FieldKind::Bool: return "bool";
  }
  return "unknown";
}

namespace {
std::size_t kind_size(FieldKind k) noexcept {
  switch (k) {
    case FieldKind::U8: case FieldKind::I8: case FieldKind::Bool: return 1;
    case FieldKind::U16: case FieldKind::I16: return 2;
    case FieldKind::U32: case FieldKind::I32: case FieldKind::F32: return 4;
    case FieldKind::U64: case FieldKind::I64: case FieldKind::F64: return 8;
  }
  return 8;
}
}  // namespace

Status MessageTypes::add_info(MessageTypeInfo info) {
  if (info.name.empty() || info.name.size() > 128)
    return make_error(ErrorCode::InvalidArgument, "message type name must be 1..128 characters", "MessageTypes::add");
  for (char c : info.name) {
    if (static_cast<unsigned char>(c) < 0x21 || c == '"' || c == '\\' || static_cast<unsigned char>(c) > 0x7E)
      return make_error(ErrorCode::InvalidArgument, "message type name '" + info.name + "' has a character outside printable ASCII",
                        "MessageTypes::add");
  }
  if (info.size > kMaxPayload)
    return make_error(ErrorCode::InvalidArgument, "message type '" + info.name + "' is larger than a payload can be",
                      "MessageTypes::add");
  if (by_name_.count(info.name) != 0)
    return make_error(ErrorCode::NameTaken, "message type name '" + info.name + "' is already registered", "MessageTypes::add");
  if (by_id_.count(info.type_id) != 0)
    return make_error(ErrorCode::NameTaken,
                      "type id " + std::to_string(info.type_id) + " is already registered as '" +
                          by_id_.at(info.type_id)->name + "'",
                      "MessageTypes::add");
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (std::size_t i = 0; i < info.fields.size(); ++i) {
    const FieldInfo& f = info.fields[i];
    const std::size_t bytes = kind_size(f.kind) * f.count;
    if (f.name.empty() || f.count == 0 || f.count > 4096 || f.offset + bytes > info.size)
      return make_error(ErrorCode::InvalidArgument,
                        "field '" + f.name + "' of '" + info.name + "' is empty or lies outside the message",
                        "MessageTypes::add");
    for (std::size_t j = 0; j < i; ++j) {
      if (info.fields[j].name == f.name)
        return make_error(ErrorCode::InvalidArgument, "field '" + f.name + "' of '" + info.name + "' is listed twice",
                          "MessageTypes::add");
      const auto [o, n] = spans[j];
      if (f.offset < o + n && o < f.offset + bytes)
        return make_error(ErrorCode::InvalidArgument,
                          "fields '" + info.fields[j].name + "' and '" + f.name + "' of '" + info.name + "' overlap",
                          "MessageTypes::add");
    }
    spans.emplace_back(f.offset, bytes);
  }
  auto p = std::make_shared<const MessageTypeInfo>(std::move(info));
  by_name_.emplace(p->name, p);
  by_id_.emplace(p->type_id, p);
  return {};
}

const MessageTypeInfo* MessageTypes::find(std::string_view name) const noexcept {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

const MessageTypeInfo* MessageTypes::find(TypeId id) const noexcept {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

std::vector<const MessageTypeInfo*> MessageTypes::list() const {
  std::vector<const MessageTypeInfo*> out;
  out.reserve(by_name_.size());
  for (const auto& [name, p] : by_name_) out.push_back(p.get());
  return out;
}

}  // namespace ringkernel::server

namespace ringkernel::server::detail {

using nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Nesting depth outside strings; parsing is refused above kMaxJsonDepth so no input can make any later
// recursive walk deep.
bool depth_ok(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

bool parse_json(std::string_view text, json& out) {
  if (!depth_ok(text)) return false;
  out = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return !out.is_discarded();
}

ParseResult fail(std::string id_json, std::string code, std::string message) {
  ParseResult r;
  r.command.id_json = std::move(id_json);
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

// Reads the "payload"/"payload_b64"/"type" members shared by WS send/call and the REST message body.
bool read_payload(const json& j, PayloadSpec& spec, std::string& code, std::string& message) {
  auto t = j.find("type");
  if (t == j.end() || !t->is_string() || t->get_ref<const std::string&>().empty()) {
    code = "bad_request";
    message = "\"type\" (a registered message type name) is required";
    return false;
  }
  spec.type = t->get_ref<const std::string&>();
  auto p = j.find("payload");
  auto b = j.find("payload_b64");
  if (p != j.end() && b != j.end()) {
    code = "bad_request";
    message = "give either \"payload\" or \"payload_b64\", not both";
    return false;
  }
  if (b != j.end()) {
    if (!b->is_string()) {
      code = "bad_request";
      message = "\"payload_b64\" must be a string";
      return false;
    }
    spec.is_b64 = true;
    spec.b64 = b->get_ref<const std::string&>();
  } else if (p != j.end()) {
    if (!p->is_object()) {
      code = "bad_request";
      message = "\"payload\" must be a JSON object of fields";
      return false;
    }
    spec.json = dump(*p);
  }
  return true;
}

bool read_timeout(const json& j, std::chrono::milliseconds& timeout, std::string& code, std::string& message) {
  auto t = j.find("timeout_ms");
  if (t == j.end()) return true;
  if (!t->is_number_integer() && !t->is_number_unsigned()) {
    code = "bad_request";
    message = "\"timeout_ms\" must be a whole number";
    return false;
  }
  const auto v = t->is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(t->get<std::uint64_t>(), 1u << 30))
                                         : t->get<std::int64_t>();
  if (v <= 0 || v > 3'600'000) {
    code = "bad_request";
    message = "\"timeout_ms\" must be 1..3600000";
    return false;
  }
  timeout = std::chrono::milliseconds(v);
  return true;
}

}  // namespace

std::string_view to_string(Op op) noexcept {
  switch (op) {
    case Op::Send: return "send";
    case Op::Call: return "call";
    case Op::Subscribe: return "subscribe";
    case Op::Unsubscribe: return "unsubscribe";
    case Op::Lifecycle: return "lifecycle";
    case Op::GetStats: return "get_stats";
    case Op::Ping: return "ping";
  }
  return "unknown";
}

bool valid_action(std::string_view a) noexcept {
  return a == "activate" || a == "deactivate" || a == "suspend" || a == "resume" || a == "terminate" ||
         a == "restart";
}

ParseResult parse_command(std::string_view text) {
  try {
    json j;
    if (!parse_json(text, j)) return fail("null", "invalid_json", "the message is not valid JSON (or nests deeper than 32)");
    if (!j.is_object()) return fail("null", "bad_request", "a command must be a JSON object");

    std::string id_json = "null";
    if (auto id = j.find("id"); id != j.end()) {
      if (id->is_string()) {
        if (id->get_ref<const std::string&>().size() > kMaxIdLength)
          return fail("null", "bad_request", "\"id\" is longer than 128 characters");
        id_json = dump(*id);
      } else if (id->is_number_integer() || id->is_number_unsigned()) {
        id_json = dump(*id);
      } else if (!id->is_null()) {
        return fail("null", "bad_request", "\"id\" must be a string or an integer");
      }
    }
    if (auto v = j.find("v"); v != j.end()) {
      if (!v->is_number_integer() && !v->is_number_unsigned())
        return fail(id_json, "bad_request", "\"v\" must be an integer protocol version");
      if (v->get<std::int64_t>() != 1)
        return fail(id_json, "unsupported_version", "this server speaks protocol version 1");
    }
    auto op = j.find("op");
    if (op == j.end() || !op->is_string()) return fail(id_json, "bad_request", "\"op\" (a string) is required");
    const std::string& name = op->get_ref<const std::string&>();

    ParseResult r;
    r.ok = true;
    Command& c = r.command;
    c.id_json = id_json;
    if (name == "send") c.op = Op::Send;
    else if (name == "call") c.op = Op::Call;
    else if (name == "subscribe") c.op = Op::Subscribe;
    else if (name == "unsubscribe") c.op = Op::Unsubscribe;
    else if (name == "lifecycle") c.op = Op::Lifecycle;
    else if (name == "get_stats") c.op = Op::GetStats;
    else if (name == "ping") c.op = Op::Ping;
    else return fail(id_json, "unknown_op", "unknown op '" + name.substr(0, 64) + "'");

    if (c.op == Op::Send || c.op == Op::Call || c.op == Op::Lifecycle) {
      auto a = j.find("actor");
      if (a == j.end()) return fail(id_json, "bad_request", "\"actor\" (id or name) is required");
      if (a->is_number_unsigned() || a->is_number_integer()) {
        const std::int64_t v = a->is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(a->get<std::uint64_t>(), 1ull << 40))
                                                       : a->get<std::int64_t>();
        if (v <= 0 || v > std::numeric_limits<ActorId>::max())
          return fail(id_json, "bad_request", "\"actor\" id out of range");
        c.actor.by_id = true;
        c.actor.id = static_cast<ActorId>(v);
      } else if (a->is_string() && !a->get_ref<const std::string&>().empty() &&
                 a->get_ref<const std::string&>().size() <= 255) {
        c.actor.name = a->get_ref<const std::string&>();
      } else {
        return fail(id_json, "bad_request", "\"actor\" must be a positive id or a non-empty name");
      }
    }
    std::string code, message;
    if (c.op == Op::Send || c.op == Op::Call) {
      if (!read_payload(j, c.payload, code, message)) return fail(id_json, code, message);
      if (c.op == Op::Call && !read_timeout(j, c.timeout, code, message)) return fail(id_json, code, message);
    }
    if (c.op == Op::Lifecycle) {
      auto act = j.find("action");
      if (act == j.end() || !act->is_string() || !valid_action(act->get_ref<const std::string&>()))
        return fail(id_json, "bad_request",
                    "\"action\" must be one of activate, deactivate, suspend, resume, terminate, restart");
      c.action = act->get_ref<const std::string&>();
    }
    if (c.op == Op::Subscribe || c.op == Op::Unsubscribe) {
      auto t = j.find("topics");
      if (t == j.end() || !t->is_array() || t->empty())
        return fail(id_json, "bad_request", "\"topics\" must be a non-empty array of strings");
      if (t->size() > kMaxTopicsPerCommand) return fail(id_json, "bad_request", "at most 64 topics per command");
      for (const auto& e : *t) {
        if (!e.is_string() || e.get_ref<const std::string&>().empty() || e.get_ref<const std::string&>().size() > 128)
          return fail(id_json, "bad_request", "every topic must be a string of 1..128 characters");
        c.topics.push_back(e.get_ref<const std::string&>());
      }
    }
    return r;
  } catch (const std::exception& e) {  // nlohmann reports some misuse by exception; never let one escape
    return fail("null", "bad_request", std::string("malformed command: ") + e.what());
  }
}

Result<PayloadSpec> parse_message_body(std::string_view body, std::chrono::milliseconds* timeout) {
  try {
    json j;
    if (!parse_json(body, j)) return make_error(ErrorCode::InvalidArgument, "the body is not valid JSON");
    if (!j.is_object()) return make_error(ErrorCode::InvalidArgument, "the body must be a JSON object");
    PayloadSpec spec;
    std::string code, message;
    if (!read_payload(j, spec, code, message)) return make_error(ErrorCode::InvalidArgument, message);
    if (timeout != nullptr && !read_timeout(j, *timeout, code, message))
      return make_error(ErrorCode::InvalidArgument, message);
    return spec;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::InvalidArgument, std::string("malformed body: ") + e.what());
  }
}

namespace {

template <class T>
void put(std::byte* at, T v) {
  std::memcpy(at, &v, sizeof(T));
}
template <class T>
T get(const std::byte* at) {
  T v;
  std::memcpy(&v, at, sizeof(T));
  return v;
}

// Writes one scalar JSON value into the payload; false (with a reason) when it does not fit the kind.
bool put_scalar(const json& v, FieldKind k, std::byte* at, std::string& why) {
  auto int_range = [&](std::int64_t lo, std::uint64_t hi, std::uint64_t& bits) {
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u > hi) return false;
      bits = u;
      return true;
    }
    if (v.is_number_integer()) {
      const auto s = v.get<std::int64_t>();
      if (s < lo || (s > 0 && static_cast<std::uint64_t>(s) > hi)) return false;
      bits = static_cast<std::uint64_t>(s);
      return true;
    }
    return false;
  };
  std::uint64_t bits = 0;
  switch (k) {
    case FieldKind::Bool:
      if (!v.is_boolean()) { why = "expected true or false"; return false; }
      put<std::uint8_t>(at, v.get<bool>() ? 1 : 0);
      return true;
    case FieldKind::F32:
    case FieldKind::F64: {
      if (!v.is_number()) { why = "expected a number"; return false; }
      const double d = v.get<double>();
      if (k == FieldKind::F32) put<float>(at, static_cast<float>(d));
      else put<double>(at, d);
      return true;
    }
    case FieldKind::U8: if (!int_range(0, 0xFF, bits)) break; put<std::uint8_t>(at, static_cast<std::uint8_t>(bits)); return true;
    case FieldKind::U16: if (!int_range(0, 0xFFFF, bits)) break; put<std::uint16_t>(at, static_cast<std::uint16_t>(bits)); return true;
    case FieldKind::U32: if (!int_range(0, 0xFFFFFFFFu, bits)) break; put<std::uint32_t>(at, static_cast<std::uint32_t>(bits)); return true;
    case FieldKind::U64: if (!int_range(0, ~0ull, bits)) break; put<std::uint64_t>(at, bits); return true;
    case FieldKind::I8: if (!int_range(-128, 127, bits)) break; put<std::int8_t>(at, static_cast<std::int8_t>(bits)); return true;
    case FieldKind::I16: if (!int_range(-32768, 32767, bits)) break; put<std::int16_t>(at, static_cast<std::int16_t>(bits)); return true;
    case FieldKind::I32: if (!int_range(INT32_MIN, INT32_MAX, bits)) break; put<std::int32_t>(at, static_cast<std::int32_t>(bits)); return true;
    case FieldKind::I64: if (!int_range(INT64_MIN, INT64_MAX, bits)) break; put<std::int64_t>(at, static_cast<std::int64_t>(bits)); return true;
  }
  why = "expected an integer in the range of " + std::string(to_string(k));
  return false;
}

json get_scalar(FieldKind k, const std::byte* at) {
  switch (k) {
    case FieldKind::Bool: return get<std::uint8_t>(at) != 0;
    case FieldKind::U8: return get<std::uint8_t>(at);
    case FieldKind::U16: return get<std::uint16_t>(at);
    case FieldKind::U32: return get<std::uint32_t>(at);
    case FieldKind::U64: return get<std::uint64_t>(at);
    case FieldKind::I8: return get<std::int8_t>(at);
    case FieldKind::I16: return get<std::int16_t>(at);
    case FieldKind::I32: return get<std::int32_t>(at);
    case FieldKind::I64: return get<std::int64_t>(at);
    case FieldKind::F32: {
      const float f = get<float>(at);
      return std::isfinite(f) ? json(f) : json(nullptr);  // JSON has no NaN/Infinity
    }
    case FieldKind::F64: {
      const double d = get<double>(at);
      return std::isfinite(d) ? json(d) : json(nullptr);
    }
  }
  return nullptr;
}

}  // namespace

Result<std::vector<std::byte>> encode_payload(const MessageTypeInfo& type, const PayloadSpec& spec) {
  if (spec.is_b64) {
    auto bytes = base64_decode(spec.b64);
    if (!bytes) return bytes.error();
    if (bytes->size() != type.size)
      return make_error(ErrorCode::InvalidArgument, "payload_b64 has " + std::to_string(bytes->size()) +
                                                        " bytes; '" + type.name + "' has " + std::to_string(type.size));
    return bytes;
  }
  try {
    json j;
    if (!parse_json(spec.json, j) || !j.is_object())
      return make_error(ErrorCode::InvalidArgument, "payload must be a JSON object");
    if (type.fields.empty() && !j.empty())
      return make_error(ErrorCode::InvalidArgument,
                        "type '" + type.name + "' exposes no fields; send it as payload_b64");
    std::vector<std::byte> out(type.size);
    for (const auto& [key, value] : j.items()) {
      const FieldInfo* f = nullptr;
      for (const auto& fi : type.fields)
        if (fi.name == key) f = &fi;
      if (f == nullptr) return make_error(ErrorCode::InvalidArgument, "type '" + type.name + "' has no field '" + key.substr(0, 64) + "'");
      const std::size_t sz = kind_size(f->kind);
      std::string why;
      if (f->count == 1) {
        if (!put_scalar(value, f->kind, out.data() + f->offset, why))
          return make_error(ErrorCode::InvalidArgument, "field '" + key + "': " + why);
      } else {
        if (!value.is_array() || value.size() > f->count)
          return make_error(ErrorCode::InvalidArgument,
                            "field '" + key + "': expected an array of at most " + std::to_string(f->count) + " values");
        for (std::size_t i = 0; i < value.size(); ++i)
          if (!put_scalar(value[i], f->kind, out.data() + f->offset + i * sz, why))
            return make_error(ErrorCode::InvalidArgument, "field '" + key + "[" + std::to_string(i) + "]': " + why);
      }
    }
    return out;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::InvalidArgument, std::string("payload: ") + e.what());
  }
}

std::string message_json(const MessageTypes& types, TypeId type, std::span<const std::byte> payload) {
  const MessageTypeInfo* info = types.find(type);
  json j;
  j["type"] = info != nullptr ? json(info->name) : json(nullptr);
  j["type_id"] = type;
  j["size"] = payload.size();
  if (info != nullptr && !info->fields.empty() && payload.size() == info->size) {
    json p = json::object();
    for (const auto& f : info->fields) {
      if (f.count == 1) {
        p[f.name] = get_scalar(f.kind, payload.data() + f.offset);
      } else {
        json arr = json::array();
        for (std::size_t i = 0; i < f.count; ++i) arr.push_back(get_scalar(f.kind, payload.data() + f.offset + i * kind_size(f.kind)));
        p[f.name] = std::move(arr);
      }
    }
    j["payload"] = std::move(p);
  } else {
    j["payload"] = nullptr;
  }
  j["payload_b64"] = base64_encode(payload);
  return dump(j);
}

std::string base64_encode(std::span<const std::byte> bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::to_integer<std::uint32_t>(bytes[i]) << 16) |
                            (std::to_integer<std::uint32_t>(bytes[i + 1]) << 8) | std::to_integer<std::uint32_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest != 0) {
    std::uint32_t v = std::to_integer<std::uint32_t>(bytes[i]) << 16;
    if (rest == 2) v |= std::to_integer<std::uint32_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::vector<std::byte>> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return make_error(ErrorCode::InvalidArgument, "base64 length must be a multiple of 4");
  std::vector<std::byte> out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad != 0 || (v[k] = value(c)) < 0)
        return make_error(ErrorCode::InvalidArgument, "invalid base64 character at offset " + std::to_string(i + static_cast<std::size_t>(k)));
    }
    const std::uint32_t w = (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
                            (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    out.push_back(static_cast<std::byte>((w >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<std::byte>((w >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<std::byte>(w & 0xFF));
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7F) {  // control characters and non-ASCII bytes (names may be arbitrary bytes)
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

bool is_json_value(std::string_view text, bool* is_object) {
  try {
    json j;
    if (!parse_json(text, j)) return false;
    if (is_object != nullptr) *is_object = j.is_object();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string error_code_name(ErrorCode code) { return std::string(ringkernel::to_string(code)); }

}  // namespace ringkernel::server::detail
