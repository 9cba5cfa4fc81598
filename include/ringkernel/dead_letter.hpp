/// @file dead_letter.hpp
/// @brief A bounded queue of messages that could not be delivered or handled, with filtered replay.
///
/// Undeliverable messages are kept (up to a bound) instead of silently dropped, so an operator can see why
/// they failed and resend them once the cause is fixed. The bound keeps a flood of failures from exhausting
/// host memory: the oldest letters make room for new ones.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/hlc.hpp"
#include "ringkernel/message.hpp"

namespace ringkernel {

/// Why a message became a dead letter. Values index `DeadLetterStats::by_reason`; append, never renumber.
enum class DeadLetterReason : std::uint8_t {
  ActorNotFound,       ///< No actor with the destination id or name.
  ActorTerminated,     ///< The destination terminated before handling it.
  QueueFull,           ///< The destination's queue was full.
  HandlerFailed,       ///< The handler reported failure.
  TenantViolation,     ///< The message crossed tenants.
  UnknownMessageType,  ///< The destination has no handler for its type.
  DroppedOldest,       ///< A drop-oldest back-pressure policy pushed it out of a queue.
  Expired,             ///< Its deadline passed before delivery.
  Shutdown,            ///< The runtime shut down with it still queued.
  RetriesExhausted,    ///< Replay failed more often than the queue's retry budget allows.
  TooLarge,            ///< Larger than the slots of the queue it was bound for (e.g. a device message for the
                       ///< host receive queue).
};

/// Number of DeadLetterReason values (the size of `DeadLetterStats::by_reason`).
inline constexpr std::size_t kDeadLetterReasonCount = 11;

/// Stable snake_case name of a reason, for logs and metric labels.
std::string_view to_string(DeadLetterReason reason) noexcept;

/// One undeliverable message with why and when.
struct DeadLetter {
  std::uint64_t seq = 0;                                   ///< Unique, increasing per queue (push order).
  Envelope envelope;                                       ///< The message as it was sent.
  DeadLetterReason reason = DeadLetterReason::ActorNotFound;  ///< Why it was dead-lettered.
  std::string detail;                                      ///< Free-form explanation (e.g. the error text).
  std::uint64_t at_ms = 0;                                 ///< Clock time of the first dead-lettering.
  std::uint32_t retries = 0;                               ///< Failed replays so far.
};

/// Outcome of one `replay`. Each matching letter lands in exactly one of the three counts.
struct ReplayReport {
  std::size_t replayed = 0;   ///< Resent successfully and removed.
  std::size_t failed = 0;     ///< Resend failed; re-queued with `retries + 1`.
  std::size_t exhausted = 0;  ///< Resend failed with the retry budget spent; dropped.
};

/// Lifetime counters of a DeadLetterQueue.
struct DeadLetterStats {
  std::uint64_t pushed = 0;     ///< Letters pushed.
  std::uint64_t evicted = 0;    ///< Letters pushed out (oldest first) because the queue was full.
  std::uint64_t replayed = 0;   ///< Letters resent successfully.
  std::uint64_t expired = 0;    ///< Letters removed by `expire`.
  std::uint64_t exhausted = 0;  ///< Letters dropped because replay kept failing.
  /// Dead-letterings per reason: each push under its reason, plus each exhausted replay under
  /// RetriesExhausted (so the sum is `pushed + exhausted`).
  std::array<std::uint64_t, kDeadLetterReasonCount> by_reason{};

  /// The count for one reason.
  [[nodiscard]] std::uint64_t count(DeadLetterReason reason) const noexcept {
    return by_reason[static_cast<std::size_t>(reason)];
  }
};

/// Thread-safe bounded dead-letter queue, oldest first.
class DeadLetterQueue {
public:
  /// Filter over letters; an empty filter selects every letter.
  using FilterFn = std::function<bool(const DeadLetter&)>;
  /// Resends one message (e.g. the runtime's send); an error means the replay failed.
  using ResendFn = std::function<Status(const Envelope&)>;

  /// A queue holding at most `capacity` letters (a capacity of 0 is clamped to 1 so that the newest letter
  /// is always kept). A letter survives `max_retries` failed replays; the next failure drops it. Letters older
  /// than `max_age_ms` (by `clock`) are removed by `expire`; 0 means they never expire. A null `clock` falls
  /// back to `system_physical_ms`.
  explicit DeadLetterQueue(std::size_t capacity, std::uint32_t max_retries = 3, std::uint64_t max_age_ms = 0,
                           PhysicalClockFn clock = &system_physical_ms);
  DeadLetterQueue(const DeadLetterQueue&) = delete;             ///< Not copyable (owns a lock).
  DeadLetterQueue& operator=(const DeadLetterQueue&) = delete;  ///< Not copyable.

  /// Adds a letter stamped with the clock's time; when full, the oldest letter is evicted and counted.
  void push(Envelope envelope, DeadLetterReason reason, std::string detail = {});
  /// Letters currently held.
  [[nodiscard]] std::size_t size() const;
  /// The bound given at construction (after clamping).
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  /// Copies of the held letters accepted by `filter` (all when empty), oldest first. The filter runs on
  /// copies without holding the lock, so it may call back into the queue.
  [[nodiscard]] std::vector<DeadLetter> snapshot(const FilterFn& filter = {}) const;
  /// Removes every letter accepted by `filter` (all when empty) and passes each, oldest first, to `resend`
  /// without holding the lock (so `resend` may push back into this queue). A failed letter is re-queued at
  /// the back with `retries + 1`, unless its retries already reached `max_retries`: then it is dropped and
  /// counted as RetriesExhausted. An empty `resend` replays nothing.
  ReplayReport replay(const FilterFn& filter, const ResendFn& resend);
  /// Removes letters older than `max_age_ms`; returns how many. Always 0 when expiry is disabled.
  std::size_t expire();
  /// Lifetime counters.
  [[nodiscard]] DeadLetterStats stats() const;

private:
  /// Appends under the lock, evicting the oldest when full.
  void append_locked(DeadLetter letter);

  const std::size_t capacity_;      ///< Maximum letters held (>= 1).
  const std::uint32_t max_retries_; ///< Failed replays a letter survives.
  const std::uint64_t max_age_ms_;  ///< Expiry age; 0 = never.
  const PhysicalClockFn clock_;     ///< Time source for `at_ms` and expiry.
  mutable std::mutex mu_;           ///< Guards everything below.
  std::deque<DeadLetter> letters_;  ///< Oldest first.
  std::uint64_t next_seq_ = 1;      ///< Next `seq`; starts at 1.
  DeadLetterStats stats_;           ///< Counters.
};

} // namespace ringkernel
