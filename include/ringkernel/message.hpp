/// @file message.hpp
/// @brief The wire format: one 64-byte header shared by host and device code, typed messages, owned envelopes.
///
/// A queue slot is `MessageHeader` followed by the payload inline, so a message of up to `slot_size - 64`
/// bytes travels with one copy and no pointer chasing. The layout is asserted field by field below; the CUDA,
/// WebGPU and Metal backends include this same header (or check their mirror against these offsets).
#pragma once

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ringkernel/config.hpp"

#include <string>
#include <vector>

#include "ringkernel/error.hpp"

namespace ringkernel {

/// Identifies an actor within one runtime. 0 is the host.
using ActorId = std::uint32_t;
/// The host side, as a message source or destination.
inline constexpr ActorId kHostActor = 0;
/// Stable identifier of a message type.
using TypeId = std::uint32_t;
/// Tenant owning a message; tenant 0 is the system tenant, trusted everywhere.
using TenantId = std::uint16_t;
/// The system tenant.
inline constexpr TenantId kSystemTenant = 0;

/// First byte of every header.
inline constexpr std::uint8_t kMessageMagic = 0xA5;
/// Header layout version; bump when the layout changes.
inline constexpr std::uint8_t kMessageVersion = 1;
/// Type ids below this are reserved for the runtime's own control messages.
inline constexpr TypeId kFirstUserTypeId = 0x100;

/// Header flag bits.
namespace msg_flags {
inline constexpr std::uint8_t kTraceSampled = 1u << 0;  ///< W3C trace-flags "sampled" bit.
inline constexpr std::uint8_t kReply = 1u << 1;         ///< This message answers `correlation_id`.
inline constexpr std::uint8_t kExpectsReply = 1u << 2;  ///< Sender waits for a reply (a `call`).
/// Sent while a lifecycle command (deactivate, terminate, ...) was queued for the receiver: a GPU reading it
/// re-reads the ordering limit that command set before handling it (set by the runtime, not by users).
inline constexpr std::uint8_t kAfterCommand = 1u << 3;
/// A GPU actor had no handler for this message (or its payload had the wrong size) and handed it back to the
/// host runtime, which dead-letters it (set by the runtime, not by users).
inline constexpr std::uint8_t kUnhandled = 1u << 4;
/// A GPU actor's send to an actor of another tenant, refused on the device and handed back to the host
/// runtime, which dead-letters it as TenantViolation (set by the runtime, not by users).
inline constexpr std::uint8_t kTenantRefused = 1u << 5;
/// A GPU actor's K2K message that reached a recycled inbox after the actor it was addressed to had terminated
/// (the sender read the route just before): handed back by the inbox's next owner and dead-lettered as
/// ActorTerminated (set by the runtime, not by users).
inline constexpr std::uint8_t kStaleRoute = 1u << 6;
} // namespace msg_flags

/// Stable 32-bit type id from `len` bytes of a name (FNV-1a), folded out of the reserved range.
RK_HOST_DEVICE constexpr TypeId message_type(const char* name, std::size_t len) noexcept {
  std::uint32_t h = 2166136261u;
  for (std::size_t i = 0; i < len; ++i) {
    h ^= static_cast<std::uint8_t>(name[i]);
    h *= 16777619u;
  }
  return h < kFirstUserTypeId ? h + kFirstUserTypeId : h;
}
/// Stable 32-bit type id of a string literal, at compile time: `message_type("demo.Add")`.
template <std::size_t N>
RK_HOST_DEVICE constexpr TypeId message_type(const char (&name)[N]) noexcept {
  return message_type(name, N - 1);
}

/// W3C trace context carried by every message (trace-id, parent span-id; flags live in `flags`).
struct TraceContext {
  std::uint8_t trace_id[16]{};  ///< 128-bit trace id; all zero = no trace.
  std::uint8_t span_id[8]{};    ///< 64-bit span id of the sending span.
};

/// The fixed 64-byte message header. Trivially copyable; identical on host and device.
struct alignas(8) MessageHeader {
  std::uint8_t magic;            ///< kMessageMagic.
  std::uint8_t version;          ///< kMessageVersion.
  std::uint8_t priority;         ///< 0 (lowest) .. 255; higher-priority control traffic first.
  std::uint8_t flags;            ///< msg_flags bits.
  TypeId type_id;                ///< What the payload is.
  std::uint64_t message_id;      ///< Unique per sender within a runtime.
  std::uint32_t correlation_id;  ///< Request/reply pairing; 0 = none.
  std::uint16_t payload_len;     ///< Bytes of payload following the header in the slot.
  TenantId tenant;               ///< Owning tenant.
  ActorId source;                ///< Sender (kHostActor for the host).
  ActorId destination;           ///< Receiver (kHostActor for the host).
  std::uint64_t hlc;             ///< Packed hybrid logical clock timestamp of the send.
  std::uint8_t trace_id[16];    ///< W3C trace id (raw array: usable in device code).
  std::uint8_t span_id[8];      ///< W3C parent span id.

  /// True when magic and version match this build.
  [[nodiscard]] RK_HOST_DEVICE constexpr bool valid() const noexcept {
    return magic == kMessageMagic && version == kMessageVersion;
  }
};

static_assert(sizeof(MessageHeader) == 64, "header must be exactly 64 bytes");
static_assert(alignof(MessageHeader) == 8);
static_assert(std::is_trivially_copyable_v<MessageHeader> && std::is_standard_layout_v<MessageHeader>);
static_assert(offsetof(MessageHeader, magic) == 0);
static_assert(offsetof(MessageHeader, version) == 1);
static_assert(offsetof(MessageHeader, priority) == 2);
static_assert(offsetof(MessageHeader, flags) == 3);
static_assert(offsetof(MessageHeader, type_id) == 4);
static_assert(offsetof(MessageHeader, message_id) == 8);
static_assert(offsetof(MessageHeader, correlation_id) == 16);
static_assert(offsetof(MessageHeader, payload_len) == 20);
static_assert(offsetof(MessageHeader, tenant) == 22);
static_assert(offsetof(MessageHeader, source) == 24);
static_assert(offsetof(MessageHeader, destination) == 28);
static_assert(offsetof(MessageHeader, hlc) == 32);
static_assert(offsetof(MessageHeader, trace_id) == 40);
static_assert(offsetof(MessageHeader, span_id) == 56);

/// Largest payload any slot can describe (payload_len is 16 bits).
inline constexpr std::size_t kMaxPayload = 0xFFFF;

/// A typed message: a trivially copyable, standard-layout struct with `static constexpr TypeId type_id`.
///
/// @code
/// struct Add { static constexpr auto type_id = ringkernel::message_type("demo.Add"); std::uint64_t value; };
/// @endcode
template <class T>
concept Message = std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T> && requires {
  { T::type_id } -> std::convertible_to<TypeId>;
};

/// A header initialised with magic, version and the type/size of `T`.
template <Message T>
RK_HOST_DEVICE constexpr MessageHeader make_header(ActorId source, ActorId destination) noexcept {
  MessageHeader h{};
  h.magic = kMessageMagic;
  h.version = kMessageVersion;
  h.type_id = T::type_id;
  h.payload_len = static_cast<std::uint16_t>(sizeof(T));
  h.source = source;
  h.destination = destination;
  return h;
}

/// A message owned by the host: header plus a copy of the payload (used by receive, dead letters, replay).
struct Envelope {
  MessageHeader header{};           ///< The header as it travelled.
  std::vector<std::byte> payload;   ///< Exactly header.payload_len bytes.

  /// True when the payload is a `T` (type id and size match).
  template <Message T>
  [[nodiscard]] bool is() const noexcept {
    return header.type_id == T::type_id && payload.size() == sizeof(T);
  }
  /// The payload as `T`, or an UnknownMessageType error naming both type ids.
  template <Message T>
  [[nodiscard]] Result<T> as() const {
    if (!is<T>()) {
      return make_error(ErrorCode::UnknownMessageType,
                        "payload is type " + std::to_string(header.type_id) + " (" +
                            std::to_string(payload.size()) + " bytes), not the requested type " +
                            std::to_string(T::type_id),
                        "Envelope::as");
    }
    // bit_cast, not `T out; memcpy`: a Message need not be default-constructible.
    std::array<std::byte, sizeof(T)> raw;
    std::memcpy(raw.data(), payload.data(), sizeof(T));
    return std::bit_cast<T>(raw);
  }
  /// Builds an envelope holding `msg`.
  template <Message T>
  static Envelope of(const T& msg, ActorId source = kHostActor, ActorId destination = kHostActor) {
    Envelope e;
    e.header = make_header<T>(source, destination);
    e.payload.resize(sizeof(T));
    std::memcpy(e.payload.data(), &msg, sizeof(T));
    return e;
  }
};

} // namespace ringkernel
