/// @file message_types.hpp
/// @brief Exposing message types to the operations server: names, fields and JSON/base64 encodings.
///
/// The server moves raw payload bytes; to let a client say `{"type":"demo.Add","payload":{"value":5}}`
/// a program registers the type and, optionally, its fields. Every registered type can also be sent as
/// base64 of its exact bytes (`"payload_b64"`); a type with fields can additionally be written and read as
/// a JSON object.
///
/// @code
/// ringkernel::server::MessageTypes types;
/// (void)types.add<Add>("demo.Add", {ringkernel::server::field("value", &Add::value)});
/// (void)types.add<Sum>("demo.Sum", {ringkernel::server::field("total", &Sum::total)});
/// @endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/message.hpp"

/// The operations server: HTTP/SSE/WebSocket access to a running Runtime.
namespace ringkernel::server {

/// Scalar kinds a message field may have (what JSON can carry without loss of meaning).
enum class FieldKind : std::uint8_t {
  U8, U16, U32, U64,  ///< Unsigned integers.
  I8, I16, I32, I64,  ///< Signed integers.
  F32, F64,           ///< IEEE floating point.
  Bool,               ///< One byte, 0 or 1.
};

/// Stable lower-case name of a field kind ("u32", "f64", "bool", ...).
std::string_view to_string(FieldKind kind) noexcept;

/// One named field of a message: where it lives in the payload and what it holds.
struct FieldInfo {
  std::string name;         ///< JSON member name.
  std::size_t offset = 0;   ///< Byte offset inside the payload.
  FieldKind kind = FieldKind::U8;  ///< Scalar kind.
  std::size_t count = 1;    ///< Elements (> 1 for a fixed-size array member, encoded as a JSON array).
};


} // namespace ringkernel::server

namespace ringkernel::detail {
template <class M>
constexpr bool field_kind_of(server::FieldKind& out) {
  using V = std::remove_cv_t<M>;
  if constexpr (std::is_same_v<V, bool>) { out = server::FieldKind::Bool; return true; }
  else if constexpr (std::is_same_v<V, float>) { out = server::FieldKind::F32; return true; }
  else if constexpr (std::is_same_v<V, double>) { out = server::FieldKind::F64; return true; }
  else if constexpr (std::is_integral_v<V> && std::is_unsigned_v<V>) {
    out = sizeof(V) == 1 ? server::FieldKind::U8 : sizeof(V) == 2 ? server::FieldKind::U16 : sizeof(V) == 4 ? server::FieldKind::U32 : server::FieldKind::U64;
    return sizeof(V) <= 8;
  } else if constexpr (std::is_integral_v<V> && std::is_signed_v<V>) {
    out = sizeof(V) == 1 ? server::FieldKind::I8 : sizeof(V) == 2 ? server::FieldKind::I16 : sizeof(V) == 4 ? server::FieldKind::I32 : server::FieldKind::I64;
    return sizeof(V) <= 8;
  } else {
    return false;
  }
}
} // namespace ringkernel::detail

namespace ringkernel::server {

/// Describes member `member` of message `T` as a field named `name` (scalars and fixed arrays of scalars).
/// `T` must be default-constructible so the offset can be measured on a real object.
template <class T, class M>
FieldInfo field(std::string name, M T::*member) {
  static_assert(std::is_default_constructible_v<T>, "field(): the message type must be default-constructible");
  FieldInfo f;
  f.name = std::move(name);
  using Elem = std::remove_all_extents_t<M>;
  static_assert(std::rank_v<M> <= 1, "field(): only scalars and one-dimensional arrays are supported");
  constexpr bool ok = [] {
    FieldKind k{};
    return ringkernel::detail::field_kind_of<Elem>(k);
  }();
  static_assert(ok, "field(): member must be bool, an integer of at most 64 bits, float or double (or an array of those)");
  ringkernel::detail::field_kind_of<Elem>(f.kind);
  f.count = std::rank_v<M> == 1 ? std::extent_v<M> : 1;
  const T probe{};
  f.offset = static_cast<std::size_t>(reinterpret_cast<const unsigned char*>(&(probe.*member)) -
                                      reinterpret_cast<const unsigned char*>(&probe));
  return f;
}

/// Everything the server knows about one exposed message type.
struct MessageTypeInfo {
  std::string name;               ///< Name clients use ("demo.Add").
  TypeId type_id = 0;             ///< The type's id (T::type_id).
  std::size_t size = 0;           ///< sizeof(T): payloads must have exactly this many bytes.
  std::vector<FieldInfo> fields;  ///< Named fields; empty = base64 only.
};

/// The set of message types a server exposes. Build it before starting the server; it is read-only while
/// the server runs (the server keeps its own copy).
class MessageTypes {
public:
  /// Exposes message type `T` under `name` with the given fields. NameTaken when the name or the type id is
  /// already registered; InvalidArgument for an empty name, overlapping/out-of-range or duplicate fields.
  template <Message T>
  Status add(std::string name, std::vector<FieldInfo> fields = {}) {
    return add_info(MessageTypeInfo{std::move(name), T::type_id, sizeof(T), std::move(fields)});
  }
  /// Untyped registration (bindings); validated as add().
  Status add_info(MessageTypeInfo info);
  /// The type registered under `name`, or nullptr.
  [[nodiscard]] const MessageTypeInfo* find(std::string_view name) const noexcept;
  /// The type registered with id `id`, or nullptr.
  [[nodiscard]] const MessageTypeInfo* find(TypeId id) const noexcept;
  /// Every registered type, sorted by name.
  [[nodiscard]] std::vector<const MessageTypeInfo*> list() const;
  /// Number of registered types.
  [[nodiscard]] std::size_t size() const noexcept { return by_name_.size(); }

private:
  std::map<std::string, std::shared_ptr<const MessageTypeInfo>, std::less<>> by_name_;  ///< By name.
  std::map<TypeId, std::shared_ptr<const MessageTypeInfo>> by_id_;                      ///< By type id.
};

} // namespace ringkernel::server
