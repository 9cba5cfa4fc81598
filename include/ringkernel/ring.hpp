/// @file ring.hpp
/// @brief Lock-free SPSC and MPSC rings of fixed-size message slots over caller-provided memory.
///
/// One layout serves every backend: the same bytes can sit in heap memory (CPU backend), pinned mapped host
/// memory (host<->GPU queues) or device memory (K2K inboxes). Layout:
///
///   [RingControl: head line | tail line | geometry line]  [MPSC only: u64 publish sequence per slot]  [slots]
///
/// The LL kinds (SpscLl, MpscLl) carry their own validity instead ("low-latency" slots, after the protocol of
/// that name in NCCL): every 8-byte word holds 4 message bytes and a 4-byte flag naming the lap of the ring it
/// was written in, so a reader that sees every word of a message with this lap's flag has read the message,
/// in one pass. That saves a reader on the far side of PCIe the dependent second round trip (flag, then
/// payload) and a GPU writer the system fence before publishing. The cost is twice the bytes per slot. The
/// endpoint classes below read and write LL slots on the host (consumers decode into a buffer); the CUDA
/// kernel reads and writes them warp-wide itself. Readers never look at `head` (MPSC producers still claim
/// positions with it; an SPSC producer stores it only to inform); `tail` still bounds producers.
///
/// Indices are free-running 64-bit counters (slot = index & mask), so "full" is `head - tail == capacity`
/// and never ambiguous. SPSC: the producer publishes `head` with one release store per batch. MPSC:
/// producers claim positions with a CAS on `head` bounded by the consumer's `tail`, then publish each slot by
/// storing `position + 1` into its sequence word; the consumer reads a slot only after seeing that value, so
/// it never reads an unpublished slot, and producers never pass `tail`, so unread slots are never overwritten.
/// The consumer publishes `tail` once per batch. Every routine returns an `ErrorCode` (device-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ringkernel/config.hpp"
#include "ringkernel/detail/atomic.hpp"
#include "ringkernel/error.hpp"
#include "ringkernel/message.hpp"

namespace ringkernel {

/// Producer discipline of a ring.
enum class RingKind : std::uint32_t {
  Spsc = 1,  ///< One producer, one consumer.
  Mpsc = 2,  ///< Many producers, one consumer.
  SpscLl = 3,  ///< One producer, one consumer, self-validating (LL) slots.
  MpscLl = 4,  ///< Many producers, one consumer, self-validating (LL) slots.
};

/// True for the kinds whose slots are LL words.
RK_HOST_DEVICE constexpr bool ring_is_ll(RingKind k) noexcept { return k == RingKind::SpscLl || k == RingKind::MpscLl; }
/// True for the kinds with many producers.
RK_HOST_DEVICE constexpr bool ring_is_mpsc(RingKind k) noexcept { return k == RingKind::Mpsc || k == RingKind::MpscLl; }

/// Marks initialised ring memory.
inline constexpr std::uint32_t kRingMagic = 0x524B5251;  // "RKRQ"
/// Smallest slot: one header, no payload.
inline constexpr std::uint32_t kMinSlotSize = sizeof(MessageHeader);
/// Largest slot (payload_len is 16 bits).
inline constexpr std::uint32_t kMaxSlotSize = 65536;
/// Largest capacity in slots.
inline constexpr std::uint32_t kMaxRingCapacity = 1u << 24;

/// Set in an MPSC ring's `head` by a consumer that will never consume again (a terminated device actor):
/// producers then find the ring full and claim nothing, while the positions claimed before stay readable.
inline constexpr std::uint64_t kRingClosed = std::uint64_t{1} << 63;

/// Control block at the start of ring memory; producer and consumer indices on separate 128-byte lines.
struct RingControl {
  alignas(kCacheLine) std::uint64_t head;  ///< SPSC: published count. MPSC: claimed count.
  /// MPSC: a consumed count producers saw (<= tail). It shares the line producers claim on, so a producer
  /// reads the consumer's own `tail` - a line the consumer keeps rewriting, a cache miss or a PCIe read - only
  /// when this one leaves less room than it wants.
  std::uint64_t tail_seen;
  alignas(kCacheLine) std::uint64_t tail;  ///< Consumed count, published per batch.
  alignas(kCacheLine) std::uint32_t magic; ///< kRingMagic once initialised.
  std::uint32_t kind;                      ///< RingKind.
  std::uint32_t capacity;                  ///< Slots (power of two).
  std::uint32_t slot_size;                 ///< Bytes per slot (multiple of 64).
  std::uint64_t seq_offset;                ///< Byte offset of the sequence array (0 for SPSC).
  std::uint64_t slots_offset;              ///< Byte offset of slot 0.
};
static_assert(offsetof(RingControl, head) == 0);
static_assert(offsetof(RingControl, tail_seen) == 8);
static_assert(offsetof(RingControl, tail) == 128);
static_assert(offsetof(RingControl, magic) == 256);
static_assert(offsetof(RingControl, seq_offset) == 272);
static_assert(sizeof(RingControl) == 384);

/// Rounds `n` up to a multiple of the cache line.
RK_HOST_DEVICE constexpr std::uint64_t ring_align(std::uint64_t n) noexcept {
  return (n + kCacheLine - 1) / kCacheLine * kCacheLine;
}

/// Checks ring geometry; Ok when valid.
RK_HOST_DEVICE constexpr ErrorCode ring_check_geometry(std::uint32_t capacity, std::uint32_t slot_size) noexcept {
  if (capacity < 2 || capacity > kMaxRingCapacity || (capacity & (capacity - 1)) != 0) return ErrorCode::InvalidArgument;
  if (slot_size < kMinSlotSize || slot_size > kMaxSlotSize || slot_size % 64 != 0) return ErrorCode::InvalidArgument;
  return ErrorCode::Ok;
}

/// Bytes of memory a ring of this geometry needs (0 when the geometry is invalid).
RK_HOST_DEVICE constexpr std::uint64_t ring_storage_bytes(RingKind kind, std::uint32_t capacity,
                                                          std::uint32_t slot_size) noexcept {
  if (ring_check_geometry(capacity, slot_size) != ErrorCode::Ok) return 0;
  std::uint64_t bytes = sizeof(RingControl);
  if (kind == RingKind::Mpsc) bytes += ring_align(std::uint64_t{capacity} * sizeof(std::uint64_t));
  return bytes + std::uint64_t{capacity} * slot_size * (ring_is_ll(kind) ? 2u : 1u);
}

/// Non-owning view of initialised ring memory.
struct RingView {
  RingControl* control = nullptr;  ///< Control block.
  std::uint64_t* seq = nullptr;    ///< Per-slot publish sequence (MPSC) or nullptr.
  std::byte* slots = nullptr;      ///< Slot 0.
  std::uint64_t mask = 0;          ///< capacity - 1.
  std::uint32_t slot_size = 0;     ///< Bytes of message per slot (an LL slot takes twice that in memory).
  MemoryScope scope = MemoryScope::System;  ///< Who shares the ring: Device for GPU-only rings (cheaper ordering).
  std::uint8_t ll = 0;             ///< 1 when slots hold LL words (RingKind::SpscLl, MpscLl).
  std::uint16_t lap_shift = 0;     ///< log2(capacity): position >> lap_shift is the lap an LL flag names.

  /// Slot memory for a free-running position (LL: the slot's words).
  [[nodiscard]] RK_HOST_DEVICE RK_FORCEINLINE std::byte* slot(std::uint64_t position) const noexcept {
    return slots + ((position & mask) * slot_size << ll);
  }
  /// Slots in the ring.
  [[nodiscard]] RK_HOST_DEVICE std::uint64_t capacity() const noexcept { return mask + 1; }
  /// Largest payload a slot holds.
  [[nodiscard]] RK_HOST_DEVICE std::uint32_t max_payload() const noexcept {
    return slot_size - static_cast<std::uint32_t>(sizeof(MessageHeader));
  }
  /// MPSC: an upper bound of size_approx() from the line producers own (no read of the consumer's `tail`, see
  /// RingControl::tail_seen): a cheap "certainly below" test before size_approx().
  [[nodiscard]] RK_HOST_DEVICE std::uint64_t size_upper_bound() const noexcept {
    const std::uint64_t t = detail::load_acquire(&control->tail_seen, scope);
    const std::uint64_t h = detail::load_acquire(&control->head, scope) & ~kRingClosed;
    return h > t ? h - t : 0;
  }
  /// Messages queued (claimed but unpublished MPSC slots included); a snapshot.
  [[nodiscard]] RK_HOST_DEVICE std::uint64_t size_approx() const noexcept {
    const std::uint64_t t = detail::load_acquire(&control->tail, scope);
    const std::uint64_t h = detail::load_acquire(&control->head, scope) & ~kRingClosed;
    return h > t ? h - t : 0;
  }
  /// True when the view points at ring memory.
  [[nodiscard]] RK_HOST_DEVICE bool valid() const noexcept { return control != nullptr; }
};
static_assert(sizeof(RingView) == 40, "RingView is copied to and read by the device: keep it compact");

/// The view ring_init gives for `memory`, computed without touching it (the memory may belong to a device,
/// to be initialised there). Geometry must be valid (ring_check_geometry).
RK_HOST_DEVICE inline RingView ring_layout(void* memory, RingKind kind, std::uint32_t capacity,
                                           std::uint32_t slot_size) noexcept {
  auto* base = static_cast<std::byte*>(memory);
  const std::uint64_t seq_bytes = kind == RingKind::Mpsc ? ring_align(std::uint64_t{capacity} * sizeof(std::uint64_t)) : 0;
  RingView v;
  v.control = reinterpret_cast<RingControl*>(base);
  v.seq = kind == RingKind::Mpsc ? reinterpret_cast<std::uint64_t*>(base + sizeof(RingControl)) : nullptr;
  v.slots = base + sizeof(RingControl) + seq_bytes;
  v.mask = capacity - 1;
  v.slot_size = slot_size;
  v.ll = ring_is_ll(kind) ? 1 : 0;
  for (std::uint32_t c = capacity; c > 1; c >>= 1) ++v.lap_shift;
  return v;
}

/// Bytes of a ring's control block: RingControl, plus the sequence words of an MPSC ring.
RK_HOST_DEVICE constexpr std::uint64_t ring_control_bytes(RingKind kind, std::uint32_t capacity) noexcept {
  return sizeof(RingControl) + (kind == RingKind::Mpsc ? ring_align(std::uint64_t{capacity} * sizeof(std::uint64_t)) : 0);
}

/// Initialises a ring whose control block (ring_control_bytes) and slots (the rest of ring_storage_bytes) are
/// separate memory, both 128-byte aligned, zero or not. Not concurrent with any use of the ring. With `zeroed`,
/// the caller has already zeroed the control block and sequence words (e.g. a whole GPU warp did, which is
/// faster than one thread's memset), and LL slots. slots_offset holds the distance from the control block to the
/// slots modulo 2^64, so code that adds it to the control block's address (the generated kernels) finds them.
RK_HOST_DEVICE inline ErrorCode ring_init_split(void* control, void* slots, RingKind kind, std::uint32_t capacity,
                                                std::uint32_t slot_size, RingView* out, bool zeroed = false) noexcept {
  if (control == nullptr || slots == nullptr || out == nullptr) return ErrorCode::InvalidArgument;
  if (reinterpret_cast<std::uintptr_t>(control) % kCacheLine != 0 ||
      reinterpret_cast<std::uintptr_t>(slots) % kCacheLine != 0) {
    return ErrorCode::InvalidArgument;
  }
  if (kind != RingKind::Spsc && kind != RingKind::Mpsc && !ring_is_ll(kind)) return ErrorCode::InvalidArgument;
  if (ring_storage_bytes(kind, capacity, slot_size) == 0) return ErrorCode::InvalidArgument;
  auto* base = static_cast<std::byte*>(control);
  if (!zeroed) std::memset(base, 0, sizeof(RingControl));
  auto* c = reinterpret_cast<RingControl*>(base);
  c->kind = static_cast<std::uint32_t>(kind);
  c->capacity = capacity;
  c->slot_size = slot_size;
  c->seq_offset = kind == RingKind::Mpsc ? sizeof(RingControl) : 0;
  c->slots_offset = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(slots) -
                                               reinterpret_cast<std::uintptr_t>(control));
  // Sequence words start at 0: position p is published when seq == p + 1, which 0 never equals.
  if (kind == RingKind::Mpsc && !zeroed) {
    std::memset(base + c->seq_offset, 0, std::uint64_t{capacity} * sizeof(std::uint64_t));
  }
  // LL flags are odd, so zeroed words never look written; memory reused from another ring must not either.
  if (ring_is_ll(kind) && !zeroed) std::memset(slots, 0, std::uint64_t{capacity} * slot_size * 2u);
  detail::store_release(&c->magic, kRingMagic);
  *out = ring_layout(control, kind, capacity, slot_size);
  out->slots = static_cast<std::byte*>(slots);
  return ErrorCode::Ok;
}

/// Initialises `memory` (at least ring_storage_bytes, 128-byte aligned, zero or not) as an empty ring: the
/// control block first, the slots right after it (see ring_init_split for `zeroed`).
RK_HOST_DEVICE inline ErrorCode ring_init(void* memory, std::uint64_t bytes, RingKind kind, std::uint32_t capacity,
                                          std::uint32_t slot_size, RingView* out, bool zeroed = false) noexcept {
  if (memory == nullptr) return ErrorCode::InvalidArgument;
  const std::uint64_t need = ring_storage_bytes(kind, capacity, slot_size);
  if (need == 0 || bytes < need) return ErrorCode::InvalidArgument;
  return ring_init_split(memory, static_cast<std::byte*>(memory) + ring_control_bytes(kind, capacity), kind, capacity,
                         slot_size, out, zeroed);
}

/// Attaches to ring memory initialised elsewhere (e.g. by the other side of a mapped queue), validating it.
RK_HOST_DEVICE inline ErrorCode ring_attach(void* memory, RingKind expected_kind, RingView* out) noexcept {
  if (memory == nullptr || out == nullptr) return ErrorCode::InvalidArgument;
  auto* base = static_cast<std::byte*>(memory);
  auto* c = reinterpret_cast<RingControl*>(base);
  if (detail::load_acquire(&c->magic) != kRingMagic) return ErrorCode::Corrupt;
  if (c->kind != static_cast<std::uint32_t>(expected_kind)) return ErrorCode::Corrupt;
  if (ring_check_geometry(c->capacity, c->slot_size) != ErrorCode::Ok) return ErrorCode::Corrupt;
  *out = ring_layout(memory, expected_kind, c->capacity, c->slot_size);
  return ErrorCode::Ok;
}

namespace detail {
// Calls a consumer's visitor on one slot; visitors returning void always consume.
template <class Visit>
RK_HOST_DEVICE RK_FORCEINLINE bool visit_slot(Visit& visit, const std::byte* slot) {
  const auto& header = *reinterpret_cast<const MessageHeader*>(slot);
  if constexpr (std::is_same_v<decltype(visit(header, slot + sizeof(MessageHeader))), bool>) {
    return visit(header, slot + sizeof(MessageHeader));
  } else {
    visit(header, slot + sizeof(MessageHeader));
    return true;
  }
}
} // namespace detail

/// Copies a header and its payload into a slot; the caller has checked the size. `payload` may be nullptr for
/// a header-only message (the null check also keeps GCC's -Wnonnull quiet for `try_push(h, nullptr)`).
RK_HOST_DEVICE RK_FORCEINLINE void ring_write_slot(std::byte* slot, const MessageHeader& header,
                                                   const void* payload) noexcept {
  std::memcpy(slot, &header, sizeof(MessageHeader));
  if (header.payload_len != 0 && payload != nullptr) {
    std::memcpy(slot + sizeof(MessageHeader), payload, header.payload_len);
  }
}

/// Flag of the LL words written at `position`: the lap, made odd so that zeroed memory never matches. A word
/// could only be mistaken for this lap's if it had not been rewritten for 2^31 laps of its ring.
RK_HOST_DEVICE constexpr std::uint32_t ll_flag(std::uint64_t position, unsigned lap_shift) noexcept {
  return static_cast<std::uint32_t>(position >> lap_shift) * 2u + 1u;
}
/// ll_flag for a position of ring `r`.
RK_HOST_DEVICE RK_FORCEINLINE std::uint32_t ll_flag(const RingView& r, std::uint64_t position) noexcept {
  return ll_flag(position, r.lap_shift);
}
/// LL words a message of `bytes` bytes occupies: whole pairs (16 bytes holding 8 message bytes), so a reader
/// may check them as 16-byte vectors.
RK_HOST_DEVICE constexpr std::uint32_t ll_words(std::uint32_t bytes) noexcept { return (bytes + 7u) / 8u * 2u; }

namespace detail {
// Writes `bytes` of `src` as LL words starting at word `first` of `slot`, each with one 8-byte store (the unit
// a reader is guaranteed to see whole); the unused tail of the last pair is zero, and so is everything when
// `src` is null (a header that claims a payload it was not given still completes). Release stores (plain moves on
// x86): a reader that acquires a word sees what the writer stored before it. The CUDA kernel writes its LL
// replies with its own vector stores.
RK_HOST_DEVICE inline void ll_put(std::byte* slot, std::uint32_t first, std::uint32_t flag, const void* src,
                                  std::uint32_t bytes, MemoryScope scope) noexcept {
  auto* w = reinterpret_cast<std::uint64_t*>(slot) + first;
  const auto* s = static_cast<const std::byte*>(src);
  const std::uint32_t n = ll_words(bytes);
  const std::uint64_t high = std::uint64_t{flag} << 32;
  // Whole 4-byte words first (a fixed-size copy is one load; a variable-size one was a memcpy call per word),
  // then the partial word and the zero padding of the last pair.
  const std::uint32_t whole = s != nullptr ? bytes / 4u : 0u;
  std::uint32_t i = 0;
  for (; i < whole; ++i) {
    std::uint32_t d = 0;
    std::memcpy(&d, s + std::size_t{i} * 4u, 4u);
    store_release(w + i, std::uint64_t{d} | high, scope);
  }
  for (; i < n; ++i) {
    std::uint32_t d = 0;
    const std::uint32_t at = i * 4u;
    if (s != nullptr && at < bytes) std::memcpy(&d, s + at, bytes - at);
    store_release(w + i, std::uint64_t{d} | high, scope);
  }
}
} // namespace detail

/// Writes a message into the LL slot of `position`. Whatever the writer stored before (e.g. an ordering limit)
/// is visible to a reader that sees the message: the words are released.
RK_HOST_DEVICE inline void ll_write_message(const RingView& r, std::uint64_t position, const MessageHeader& header,
                                            const void* payload) noexcept {
  const std::uint32_t flag = ll_flag(r, position);
  std::byte* slot = r.slot(position);
  detail::ll_put(slot, 0, flag, &header, sizeof(MessageHeader), r.scope);
  if (header.payload_len != 0) {
    detail::ll_put(slot, ll_words(sizeof(MessageHeader)), flag, payload, header.payload_len, r.scope);
  }
}

/// Reads the message at `position` of an LL ring into `out` (room for slot_size bytes: header, then payload)
/// when every word of it carries that position's flag; false while any is missing (not yet, or not completely,
/// written). A header whose length would overrun the slot reads as incomplete: no producer writes one.
RK_HOST_DEVICE inline bool ll_read_message(const RingView& r, std::uint64_t position, std::byte* out) noexcept {
  const std::uint32_t flag = ll_flag(r, position);
  const auto* w = reinterpret_cast<const std::uint64_t*>(r.slot(position));
  // Every word is copied and its flag compared without a branch per word (the mismatches are or'ed up and
  // checked once): a branch and a variable-length loop per word made decoding cost more than the copy.
  // Words come in pairs (ll_words), whose two 4-byte halves are stored as one 8-byte value.
  auto get = [&](std::uint32_t first, std::uint32_t words, std::byte* dst) {
    std::uint32_t wrong = 0;
    for (std::uint32_t i = 0; i < words; i += 2) {
      const std::uint64_t a = detail::load_acquire(w + first + i, r.scope);
      const std::uint64_t b = detail::load_acquire(w + first + i + 1, r.scope);
      wrong |= (static_cast<std::uint32_t>(a >> 32) ^ flag) | (static_cast<std::uint32_t>(b >> 32) ^ flag);
      const std::uint64_t d = (a & 0xffffffffu) | (b << 32);
      std::memcpy(dst + std::size_t{i} * 4u, &d, 8);
    }
    return wrong == 0;
  };
  constexpr std::uint32_t kHeaderWords = ll_words(sizeof(MessageHeader));
  if (!get(0, kHeaderWords, out)) return false;
  std::uint16_t len = 0;
  std::memcpy(&len, out + offsetof(MessageHeader, payload_len), sizeof(len));
  if (len > r.max_payload()) return false;
  // The last pair may hold up to 4 bytes past the payload; the slot has room for them (multiple of 64).
  return get(kHeaderWords, ll_words(len), out + sizeof(MessageHeader));
}

namespace detail {
#if !RK_DEVICE_COMPILE
// A host buffer for one decoded LL slot: on the stack for usual slot sizes, on the heap beyond.
class LlBuffer {
public:
  explicit LlBuffer(std::uint32_t bytes) : heap_(bytes > sizeof(local_) ? new std::byte[bytes] : nullptr) {}
  ~LlBuffer() { delete[] heap_; }
  LlBuffer(const LlBuffer&) = delete;
  LlBuffer& operator=(const LlBuffer&) = delete;
  std::byte* data() noexcept { return heap_ != nullptr ? heap_ : local_; }

private:
  alignas(16) std::byte local_[1024];
  std::byte* heap_;
};
#endif
} // namespace detail

/// Producer side of an SPSC ring. Holds the producer's index and a cached copy of the consumer's. Aligned to
/// its own cache line(s): the producer rewrites `head_` on every push, so an endpoint object sharing a line
/// with the consumer's (e.g. both members of one mailbox struct) would false-share on every message.
class alignas(kCacheLine) SpscProducer {
public:
  /// Binds to a ring; only one SpscProducer may exist per ring at a time.
  RK_HOST_DEVICE explicit SpscProducer(RingView ring) noexcept
      : ring_(ring), head_(ring.control != nullptr ? detail::load_relaxed(&ring.control->head, ring.scope) : 0),
        cached_tail_(ring.control != nullptr ? detail::load_acquire(&ring.control->tail, ring.scope) : 0) {}
  /// Binds to a ring resuming at positions the caller already read (a producer taking over a ring whose
  /// indices it fetched in bulk); `tail` may be stale, which only makes the ring look fuller.
  RK_HOST_DEVICE SpscProducer(RingView ring, std::uint64_t head, std::uint64_t tail) noexcept
      : ring_(ring), head_(head), cached_tail_(tail) {}

  /// Free slots, re-reading the consumer index only when the cached one says fewer than `want`.
  RK_HOST_DEVICE std::uint64_t free_slots(std::uint64_t want = 1) noexcept {
    std::uint64_t free = ring_.capacity() - (head_ - cached_tail_);
    if (free < want) {
      cached_tail_ = detail::load_acquire(&ring_.control->tail, ring_.scope);
      free = ring_.capacity() - (head_ - cached_tail_);
    }
    return free;
  }

  /// Pushes one message (header.payload_len bytes of payload); QueueFull or MessageTooLarge on failure.
  RK_HOST_DEVICE ErrorCode try_push(const MessageHeader& header, const void* payload) noexcept {
    if (header.payload_len > ring_.max_payload()) return ErrorCode::MessageTooLarge;
    if (free_slots(1) == 0) return ErrorCode::QueueFull;
    write(head_, header, payload);
    ++head_;
    detail::store_release(&ring_.control->head, head_, ring_.scope);
    return ErrorCode::Ok;
  }

  /// Writes one message into the next free slot without publishing it (see publish()); lets a producer that
  /// emits messages one at a time (a handler's replies) still publish once per batch.
  RK_HOST_DEVICE ErrorCode try_stage(const MessageHeader& header, const void* payload) noexcept {
    if (header.payload_len > ring_.max_payload()) return ErrorCode::MessageTooLarge;
    if (free_slots(staged_ + 1) < staged_ + 1) return ErrorCode::QueueFull;
    write(head_ + staged_, header, payload);
    ++staged_;
    return ErrorCode::Ok;
  }
  /// Bytes per slot of the ring.
  [[nodiscard]] RK_HOST_DEVICE std::uint32_t slot_size() const noexcept { return ring_.slot_size; }
  /// The ring written to.
  [[nodiscard]] RK_HOST_DEVICE const RingView& ring() const noexcept { return ring_; }
  /// Messages written but not yet published.
  [[nodiscard]] RK_HOST_DEVICE std::uint32_t staged() const noexcept { return staged_; }
  /// Position the next claimed slot will have (an LL producer writes its flag into every word).
  [[nodiscard]] RK_HOST_DEVICE std::uint64_t next_position() const noexcept { return head_ + staged_; }
  /// Claims the next free slot for the caller to fill in place (unpublished until publish()); nullptr when
  /// full. Lets a device producer write a slot with wide stores instead of a byte-wise memcpy (LL: the slot's
  /// words, for the caller to fill as LL words of next_position()).
  RK_HOST_DEVICE std::byte* try_claim() noexcept {
    if (free_slots(staged_ + 1) < staged_ + 1) return nullptr;
    return ring_.slot(head_ + staged_++);
  }
  /// Publishes everything staged with one release store; returns how many. With `fenced`, the caller has
  /// just issued detail::fence_release() and the index is stored relaxed (sharing that fence); LL rings store
  /// it relaxed too (their slots validate themselves, the index only informs).
  RK_HOST_DEVICE std::uint32_t publish(bool fenced = false) noexcept {
    const std::uint32_t n = staged_;
    if (n != 0) {
      head_ += n;
      staged_ = 0;
      if (fenced || ring_.ll != 0) detail::store_relaxed(&ring_.control->head, head_, ring_.scope);
      else detail::store_release(&ring_.control->head, head_, ring_.scope);
    }
    return n;
  }

  /// Writes up to `n` messages with `fill(std::byte* slot, uint32_t i) -> bool` and publishes them with one
  /// release store. `fill` returns false to stop early (e.g. an oversized message). Returns how many landed.
  template <class Fill>
  RK_HOST_DEVICE std::uint32_t push_batch(std::uint32_t n, Fill&& fill) noexcept {
    const std::uint64_t room = free_slots(n);
    const std::uint32_t k = static_cast<std::uint32_t>(room < n ? room : n);
    std::uint32_t done = 0;
    if (ring_.ll == 0) {
      while (done < k && fill(ring_.slot(head_ + done), done)) ++done;
    } else {
#if !RK_DEVICE_COMPILE
      detail::LlBuffer buf(ring_.slot_size);
      while (done < k && fill(buf.data(), done)) {
        write(head_ + done, *reinterpret_cast<const MessageHeader*>(buf.data()), buf.data() + sizeof(MessageHeader));
        ++done;
      }
#else
      __trap();  // LL rings are read and written on the device by the CUDA kernel, not by these classes
#endif
    }
    if (done != 0) {
      head_ += done;
      detail::store_release(&ring_.control->head, head_, ring_.scope);
    }
    return done;
  }

private:
  RK_HOST_DEVICE void write(std::uint64_t position, const MessageHeader& header, const void* payload) noexcept {
    if (ring_.ll != 0) ll_write_message(ring_, position, header, payload);
    else ring_write_slot(ring_.slot(position), header, payload);
  }

  RingView ring_;
  std::uint64_t head_;
  std::uint64_t cached_tail_;
  std::uint32_t staged_ = 0;
};

/// Consumer side of an SPSC ring. Cache-line aligned for the same reason as SpscProducer.
class alignas(kCacheLine) SpscConsumer {
public:
  /// Binds to a ring; only one consumer may use a ring at a time.
  RK_HOST_DEVICE explicit SpscConsumer(RingView ring) noexcept
      : ring_(ring), tail_(ring.control != nullptr ? detail::load_relaxed(&ring.control->tail, ring.scope) : 0),
        cached_head_(ring.control != nullptr ? detail::load_acquire(&ring.control->head, ring.scope) : 0) {}

  /// Messages ready, re-reading the producer index only when the cached count is below `want`. (An LL ring
  /// has no published index: use pop_batch or peek_into, which check each message.)
  RK_HOST_DEVICE std::uint64_t available(std::uint64_t want = 1) noexcept {
    if (ring_.ll != 0) return 0;
    if (cached_head_ - tail_ < want) cached_head_ = detail::load_acquire(&ring_.control->head, ring_.scope);
    return cached_head_ - tail_;
  }

  /// Visits up to `max` messages in FIFO order with `visit(const MessageHeader&, const std::byte* payload)`,
  /// then frees their slots with one release store. A visitor returning `bool` may return false to leave
  /// that message (and the rest) in the ring. Returns how many were consumed.
  template <class Visit>
  RK_HOST_DEVICE std::uint32_t pop_batch(std::uint32_t max, Visit&& visit) noexcept {
    std::uint32_t done = 0;
    if (ring_.ll == 0) {
      const std::uint64_t ready = available(max);
      const std::uint32_t k = static_cast<std::uint32_t>(ready < max ? ready : max);
      while (done < k && detail::visit_slot(visit, ring_.slot(tail_ + done))) ++done;
    } else {
#if !RK_DEVICE_COMPILE
      detail::LlBuffer buf(ring_.slot_size);
      while (done < max && ll_read_message(ring_, tail_ + done, buf.data()) && detail::visit_slot(visit, buf.data())) {
        ++done;
      }
#else
      __trap();  // LL rings are read and written on the device by the CUDA kernel, not by these classes
#endif
    }
    if (done != 0) {
      tail_ += done;
      detail::store_release(&ring_.control->tail, tail_, ring_.scope);
    }
    return done;
  }

  /// Points `out[i]` at up to `max` ready slots (header followed by payload) without consuming them; they
  /// stay valid until consume(). Lets a consumer hand a whole batch on before freeing it. LL rings decode
  /// into `buf` (`buf_bytes`, slot_size per message; fewer messages when it is full), other kinds ignore it.
  RK_HOST_DEVICE std::uint32_t peek_into(std::uint32_t max, std::byte* buf, std::size_t buf_bytes,
                                         const std::byte** out) noexcept {
    if (ring_.ll != 0) {
      std::uint32_t k = 0;
      while (k < max && std::size_t{k + 1} * ring_.slot_size <= buf_bytes &&
             ll_read_message(ring_, tail_ + k, buf + std::size_t{k} * ring_.slot_size)) {
        out[k] = buf + std::size_t{k} * ring_.slot_size;
        ++k;
      }
      return k;
    }
    const std::uint64_t ready = available(max);
    const std::uint32_t k = static_cast<std::uint32_t>(ready < max ? ready : max);
    for (std::uint32_t i = 0; i < k; ++i) out[i] = ring_.slot(tail_ + i);
    return k;
  }
  /// peek_into for rings whose slots are read in place (not LL).
  RK_HOST_DEVICE std::uint32_t peek(std::uint32_t max, const std::byte** out) noexcept {
    return peek_into(max, nullptr, 0, out);
  }
  /// Frees the first `n` slots returned by peek() with one release store.
  RK_HOST_DEVICE void consume(std::uint32_t n) noexcept {
    if (n == 0) return;
    tail_ += n;
    detail::store_release(&ring_.control->tail, tail_, ring_.scope);
  }

private:
  RingView ring_;
  std::uint64_t tail_;
  std::uint64_t cached_head_;
};

/// Producer side of an MPSC ring. Stateless: any number of threads may share one or make their own.
class MpscProducer {
public:
  /// Binds to a ring.
  RK_HOST_DEVICE explicit MpscProducer(RingView ring) noexcept : ring_(ring) {}

  /// Pushes one message; QueueFull (nothing written) when the ring is full, MessageTooLarge when it can't fit.
  RK_HOST_DEVICE ErrorCode try_push(const MessageHeader& header, const void* payload) noexcept {
    if (header.payload_len > ring_.max_payload()) return ErrorCode::MessageTooLarge;
    std::uint64_t pos = 0;
    if (claim(1, &pos) == 0) return ErrorCode::QueueFull;
    if (ring_.ll != 0) {
      ll_write_message(ring_, pos, header, payload);  // readable once every word is there: nothing to publish
      return ErrorCode::Ok;
    }
    ring_write_slot(ring_.slot(pos), header, payload);
    detail::store_release(&ring_.seq[pos & ring_.mask], pos + 1, ring_.scope);
    return ErrorCode::Ok;
  }

#if defined(__CUDACC__)
  /// A device producer's push of a slot image its caller built (header then payload, `vecs` 16-byte vectors,
  /// at most slot_size bytes): vector stores. A memcpy of runtime length and unknown alignment compiles to one
  /// store per byte there, each its own L2 or distributed-shared-memory write. Not for LL rings.
  __device__ ErrorCode try_push_image(const uint4* image, std::uint32_t vecs) noexcept {
    std::uint64_t pos = 0;
    if (claim(1, &pos) == 0) return ErrorCode::QueueFull;
    auto* dst = static_cast<uint4*>(__builtin_assume_aligned(ring_.slot(pos), 16));  // slots are 64-byte multiples
    for (std::uint32_t i = 0; i < vecs; ++i) dst[i] = image[i];
    detail::store_release(&ring_.seq[pos & ring_.mask], pos + 1, ring_.scope);
    return ErrorCode::Ok;
  }
#endif

  /// Claims up to `n` consecutive positions with one CAS, fills them with `fill(std::byte* slot, uint32_t i)`
  /// and publishes each. `fill` must write every claimed slot (claims cannot be returned). Returns the count.
  /// A `fill(slot, i, k)` is also told how many were claimed (k >= 1), e.g. to number the batch's messages
  /// once, on its first call.
  template <class Fill>
  RK_HOST_DEVICE std::uint32_t push_batch(std::uint32_t n, Fill&& fill) noexcept {
    std::uint64_t pos = 0;
    const std::uint32_t k = claim(n, &pos);
    const auto put = [&](std::byte* slot, std::uint32_t i) {
      if constexpr (std::is_invocable_v<Fill&, std::byte*, std::uint32_t, std::uint32_t>) fill(slot, i, k);
      else fill(slot, i);
    };
    if (ring_.ll != 0) {
#if !RK_DEVICE_COMPILE
      detail::LlBuffer buf(ring_.slot_size);
      for (std::uint32_t i = 0; i < k; ++i) {
        put(buf.data(), i);
        ll_write_message(ring_, pos + i, *reinterpret_cast<const MessageHeader*>(buf.data()),
                         buf.data() + sizeof(MessageHeader));
      }
#else
      __trap();  // LL rings are read and written on the device by the CUDA kernel, not by these classes
#endif
      return k;
    }
    for (std::uint32_t i = 0; i < k; ++i) {
      put(ring_.slot(pos + i), i);
      detail::store_release(&ring_.seq[(pos + i) & ring_.mask], pos + i + 1, ring_.scope);
    }
    return k;
  }

private:
  // Claims min(n, free) positions; the consumer's published tail bounds how far producers may run ahead.
  RK_HOST_DEVICE std::uint32_t claim(std::uint32_t n, std::uint64_t* first) noexcept {
    std::uint64_t pos = detail::load_relaxed(&ring_.control->head, ring_.scope);
    std::uint64_t tail = detail::load_acquire(&ring_.control->tail_seen, ring_.scope);
    for (;;) {
      std::uint64_t used = pos - tail;
      if (used >= ring_.capacity() || ring_.capacity() - used < n) {
        // The consumer position producers saw leaves less room than wanted: read the consumer's own and pass it
        // on (acquire, then release: a producer that trusts tail_seen is ordered after the consumer's reads of
        // those slots).
        const std::uint64_t fresh_tail = detail::load_acquire(&ring_.control->tail, ring_.scope);
        if (fresh_tail != tail) {
          tail = fresh_tail;
          detail::store_release(&ring_.control->tail_seen, tail, ring_.scope);
          used = pos - tail;
        }
      }
      if (used >= ring_.capacity()) {
        // Our view of head may be stale; refresh once before reporting full.
        const std::uint64_t fresh = detail::load_acquire(&ring_.control->head, ring_.scope);
        if (fresh == pos) return 0;
        pos = fresh;
        continue;
      }
      const std::uint64_t room = ring_.capacity() - used;
      const std::uint32_t k = static_cast<std::uint32_t>(room < n ? room : n);
      // Relaxed: the claim orders nothing. Slot reuse is ordered by the acquire of `tail` above, and the
      // slot's contents by the release of its sequence word.
      if (detail::compare_exchange_weak_relaxed(&ring_.control->head, pos, pos + k, ring_.scope)) {
        *first = pos;
        return k;
      }
    }
  }

  RingView ring_;
};

/// Consumer side of an MPSC ring. Cache-line aligned for the same reason as SpscProducer.
class alignas(kCacheLine) MpscConsumer {
public:
  /// Binds to a ring; only one consumer may use a ring at a time (create it per drain under a lock if
  /// several threads take turns consuming).
  RK_HOST_DEVICE explicit MpscConsumer(RingView ring) noexcept
      : ring_(ring), tail_(detail::load_relaxed(&ring.control->tail, ring.scope)) {}

  /// True when the next slot is published (LL: completely written).
  [[nodiscard]] RK_HOST_DEVICE bool ready() const noexcept {
    if (ring_.ll != 0) {
#if !RK_DEVICE_COMPILE
      detail::LlBuffer buf(ring_.slot_size);
      return ll_read_message(ring_, tail_, buf.data());
#else
      __trap();  // LL rings are read and written on the device by the CUDA kernel, not by these classes
#endif
    }
    return detail::load_acquire(&ring_.seq[tail_ & ring_.mask], ring_.scope) == tail_ + 1;
  }

  /// Visits up to `max` published messages in claim order, stopping at the first unpublished slot, then
  /// frees them with one release store of `tail`. A visitor returning `bool` may return false to leave that
  /// message (and the rest) in the ring. Returns how many were consumed.
  template <class Visit>
  RK_HOST_DEVICE std::uint32_t pop_batch(std::uint32_t max, Visit&& visit) noexcept {
    std::uint32_t k = 0;
    if (ring_.ll != 0) {
#if !RK_DEVICE_COMPILE
      detail::LlBuffer buf(ring_.slot_size);
      while (k < max && ll_read_message(ring_, tail_ + k, buf.data()) && detail::visit_slot(visit, buf.data())) ++k;
#else
      __trap();  // LL rings are read and written on the device by the CUDA kernel, not by these classes
#endif
    } else {
      while (k < max && detail::load_acquire(&ring_.seq[(tail_ + k) & ring_.mask], ring_.scope) == tail_ + k + 1 &&
             detail::visit_slot(visit, ring_.slot(tail_ + k))) {
        ++k;
      }
    }
    if (k != 0) {
      tail_ += k;
      detail::store_release(&ring_.control->tail, tail_, ring_.scope);
    }
    return k;
  }

  /// How many of the next `max` messages are published, without consuming them, and in `newest_hlc` the newest
  /// HLC stamp among them (0 when none): a receiver merges it into its clock before it hands them to user code,
  /// then pops exactly that many (later ones were not merged).
  [[nodiscard]] RK_HOST_DEVICE std::uint32_t published(std::uint32_t max, std::uint64_t* newest_hlc) const noexcept {
    std::uint64_t newest = 0;
    std::uint32_t k = 0;
    const auto take = [&](const std::byte* slot) {
      const std::uint64_t h = reinterpret_cast<const MessageHeader*>(slot)->hlc;
      newest = h > newest ? h : newest;
    };
    if (ring_.ll != 0) {
#if !RK_DEVICE_COMPILE
      detail::LlBuffer buf(ring_.slot_size);
      for (; k < max && ll_read_message(ring_, tail_ + k, buf.data()); ++k) take(buf.data());
#else
      __trap();  // LL rings are read and written on the device by the CUDA kernel, not by these classes
#endif
    } else {
      for (; k < max && detail::load_acquire(&ring_.seq[(tail_ + k) & ring_.mask], ring_.scope) == tail_ + k + 1; ++k) {
        take(ring_.slot(tail_ + k));
      }
    }
    *newest_hlc = newest;
    return k;
  }

private:
  RingView ring_;
  std::uint64_t tail_;
};

/// Where ring memory comes from: the heap by default; the CUDA backend passes pinned mapped host memory so
/// the same ring is visible to the GPU.
struct RingAllocator {
  void* (*allocate)(std::size_t bytes, void* ctx) = nullptr;  ///< Returns 128-byte aligned memory or nullptr.
  void (*release)(void* memory, void* ctx) = nullptr;         ///< Frees what allocate returned.
  void* ctx = nullptr;                                        ///< Passed to all four.
  const char* what = "heap";                                  ///< For error messages.
  bool zeroed = false;  ///< allocate (and allocate_control) return zero-filled memory, so initialising a ring
                        ///< need not clear it (an LL ring's slots are twice its messages: clearing them
                        ///< dominates creating one)
  /// Optional: where the control block (and MPSC sequence words) comes from. When set, the slots are a separate
  /// allocation from `allocate`, which OwnedRing::release_slots can hand back while the control block stays
  /// readable (the CUDA backend reuses a terminated actor's slots; its head and tail are still read).
  void* (*allocate_control)(std::size_t bytes, void* ctx) = nullptr;
  void (*release_control)(void* memory, void* ctx) = nullptr;  ///< Frees what allocate_control returned.
};

/// Ring memory with an owner (the CPU backend's mailboxes, the CUDA backend's mapped queues); movable only.
class OwnedRing {
public:
  /// Allocates (heap unless `alloc` says otherwise) and initialises a ring; InvalidArgument names bad geometry.
  static Result<OwnedRing> create(RingKind kind, std::uint32_t capacity, std::uint32_t slot_size,
                                  const RingAllocator& alloc = {});
  /// Move constructor; `other` is left empty (no memory, invalid view).
  OwnedRing(OwnedRing&& other) noexcept
      : memory_(other.memory_), slots_memory_(other.slots_memory_), alloc_(other.alloc_), view_(other.view_) {
    other.memory_ = nullptr;
    other.slots_memory_ = nullptr;
    other.view_ = {};
  }
  /// Move assignment.
  OwnedRing& operator=(OwnedRing&& other) noexcept;
  OwnedRing(const OwnedRing&) = delete;
  OwnedRing& operator=(const OwnedRing&) = delete;
  ~OwnedRing();
  /// The ring.
  [[nodiscard]] const RingView& view() const noexcept { return view_; }
  /// Start of the ring memory (what the allocator returned; the control block).
  [[nodiscard]] void* memory() const noexcept { return memory_; }
  /// Hands a split ring's slots back to their allocator and returns true (false: not split, or already done).
  /// The control block stays, so head and tail remain readable; the view's slot pointer must not be used
  /// again. Only once nothing produces into or consumes from the ring any more.
  bool release_slots() noexcept;

private:
  OwnedRing() = default;
  void reset() noexcept;
  void* memory_ = nullptr;
  void* slots_memory_ = nullptr;  // split rings (alloc_.allocate_control set) only
  RingAllocator alloc_{};
  RingView view_{};
};

} // namespace ringkernel
