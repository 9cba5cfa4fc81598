// The WebSocket JSON protocol (docs/server-protocol.md) and the JSON/base64 payload codec shared with REST.
// Parsing is pure (no runtime, no sockets) so it can be fuzzed on its own (tests/server/fuzz_ws_command.cpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/server/message_types.hpp"

namespace ringkernel::server::detail {

enum class Op : std::uint8_t { Send, Call, Subscribe, Unsubscribe, Lifecycle, GetStats, Ping };
std::string_view to_string(Op op) noexcept;

/// An actor named by id (a JSON number) or by registered name (a JSON string).
struct ActorRef {
  bool by_id = false;
  ActorId id = 0;
  std::string name;
};

/// Where a message payload came from: a JSON object (by field) or base64 bytes.
struct PayloadSpec {
  std::string type;             ///< Registered type name (or "#<type id>" is not accepted: names only).
  bool is_b64 = false;
  std::string json = "{}";      ///< Serialized JSON object when !is_b64.
  std::string b64;              ///< Base64 text when is_b64.
};

/// A parsed client command.
struct Command {
  Op op = Op::Ping;
  std::string id_json = "null";  ///< The client's "id", re-serialized, echoed in every answer.
  ActorRef actor;
  PayloadSpec payload;
  std::vector<std::string> topics;
  std::string action;            ///< lifecycle: activate|deactivate|suspend|resume|terminate|restart
  std::chrono::milliseconds timeout{1000};
};

/// Either a command or a protocol error (code from docs/server-protocol.md) with the id if it was readable.
struct ParseResult {
  bool ok = false;
  Command command;
  std::string code;
  std::string message;
};

/// Limits the parser enforces beyond the frame size.
inline constexpr std::size_t kMaxTopicsPerCommand = 64;
inline constexpr std::size_t kMaxIdLength = 128;
inline constexpr std::size_t kMaxJsonDepth = 32;

/// Parses one client message. Never throws, never crashes on any input.
ParseResult parse_command(std::string_view text);

/// True for a lifecycle action name the protocol accepts.
bool valid_action(std::string_view action) noexcept;

/// Encodes a payload for `type` from a JSON object text or base64; InvalidArgument saying what is wrong.
Result<std::vector<std::byte>> encode_payload(const MessageTypeInfo& type, const PayloadSpec& spec);
/// Parses a REST body {"type":..., "payload":{...} | "payload_b64":"..."[, "timeout_ms":N]} into a spec.
Result<PayloadSpec> parse_message_body(std::string_view body, std::chrono::milliseconds* timeout);

/// {"type":"name"|null,"type_id":N,"size":N,"payload":{...}|null,"payload_b64":"..."} for received bytes.
std::string message_json(const MessageTypes& types, TypeId type, std::span<const std::byte> payload);

std::string base64_encode(std::span<const std::byte> bytes);
/// Strict base64 (RFC 4648, padding required); InvalidArgument otherwise.
Result<std::vector<std::byte>> base64_decode(std::string_view text);

/// A JSON string literal (quotes included) with everything escaped that must be.
std::string json_string(std::string_view s);
/// True when `text` is exactly one JSON value (depth-limited). Used to validate custom events.
bool is_json_value(std::string_view text, bool* is_object = nullptr);

/// Stable snake_case name of an error code for protocol "code" fields ("queue_full", ...).
std::string error_code_name(ErrorCode code);

} // namespace ringkernel::server::detail
