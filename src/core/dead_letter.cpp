#include "ringkernel/dead_letter.hpp"

#include <algorithm>
#include <utility>

namespace ringkernel {

static_assert(static_cast<std::size_t>(DeadLetterReason::TooLarge) + 1 == kDeadLetterReasonCount,
              "kDeadLetterReasonCount must follow the last DeadLetterReason");

std::string_view to_string(DeadLetterReason reason) noexcept {
  switch (reason) {
    case DeadLetterReason::ActorNotFound: return "actor_not_found";
    case DeadLetterReason::ActorTerminated: return "actor_terminated";
    case DeadLetterReason::QueueFull: return "queue_full";
    case DeadLetterReason::HandlerFailed: return "handler_failed";
    case DeadLetterReason::TenantViolation: return "tenant_violation";
    case DeadLetterReason::UnknownMessageType: return "unknown_message_type";
    case DeadLetterReason::DroppedOldest: return "dropped_oldest";
    case DeadLetterReason::Expired: return "expired";
    case DeadLetterReason::Shutdown: return "shutdown";
    case DeadLetterReason::RetriesExhausted: return "retries_exhausted";
    case DeadLetterReason::TooLarge: return "too_large";
  }
  return "unknown_reason";
}

DeadLetterQueue::DeadLetterQueue(std::size_t capacity, std::uint32_t max_retries, std::uint64_t max_age_ms,
                                 PhysicalClockFn clock)
    : capacity_(std::max<std::size_t>(capacity, 1)),
      max_retries_(max_retries),
      max_age_ms_(max_age_ms),
      clock_(clock != nullptr ? clock : &system_physical_ms) {}

void DeadLetterQueue::append_locked(DeadLetter letter) {
  while (letters_.size() >= capacity_) {
    letters_.pop_front();
    ++stats_.evicted;
  }
  letters_.push_back(std::move(letter));
}

void DeadLetterQueue::push(Envelope envelope, DeadLetterReason reason, std::string detail) {
  DeadLetter letter;
  letter.envelope = std::move(envelope);
  letter.reason = reason;
  letter.detail = std::move(detail);
  letter.at_ms = clock_();  // Read outside the lock: an injected clock may be slow.
  std::lock_guard lock(mu_);
  letter.seq = next_seq_++;
  ++stats_.pushed;
  const auto idx = static_cast<std::size_t>(reason);
  if (idx < kDeadLetterReasonCount) ++stats_.by_reason[idx];
  append_locked(std::move(letter));
}

std::size_t DeadLetterQueue::size() const {
  std::lock_guard lock(mu_);
  return letters_.size();
}

std::vector<DeadLetter> DeadLetterQueue::snapshot(const FilterFn& filter) const {
  std::vector<DeadLetter> all;
  {
    std::lock_guard lock(mu_);
    all.assign(letters_.begin(), letters_.end());
  }
  if (!filter) return all;
  // Filtered outside the lock so a filter may call back into the queue.
  std::vector<DeadLetter> out;
  for (DeadLetter& l : all) {
    if (filter(l)) out.push_back(std::move(l));
  }
  return out;
}

ReplayReport DeadLetterQueue::replay(const FilterFn& filter, const ResendFn& resend) {
  ReplayReport report;
  if (!resend) return report;
  // Select by seq on a copy, outside the lock (the filter may call back into the queue), then take the
  // selected letters out under the lock; any evicted, expired or replayed elsewhere meanwhile are skipped.
  std::vector<std::uint64_t> seqs;
  for (const DeadLetter& l : snapshot(filter)) seqs.push_back(l.seq);
  if (seqs.empty()) return report;
  std::sort(seqs.begin(), seqs.end());
  std::vector<DeadLetter> picked;
  {
    std::lock_guard lock(mu_);
    std::deque<DeadLetter> kept;
    for (DeadLetter& l : letters_) {
      if (std::binary_search(seqs.begin(), seqs.end(), l.seq)) {
        picked.push_back(std::move(l));
      } else {
        kept.push_back(std::move(l));
      }
    }
    letters_.swap(kept);
  }
  for (DeadLetter& l : picked) {
    const bool ok = resend(l.envelope).ok();
    std::lock_guard lock(mu_);
    if (ok) {
      ++report.replayed;
      ++stats_.replayed;
    } else if (l.retries >= max_retries_) {
      ++report.exhausted;
      ++stats_.exhausted;
      ++stats_.by_reason[static_cast<std::size_t>(DeadLetterReason::RetriesExhausted)];
    } else {
      ++report.failed;
      ++l.retries;
      append_locked(std::move(l));
    }
  }
  return report;
}

std::size_t DeadLetterQueue::expire() {
  if (max_age_ms_ == 0) return 0;
  const std::uint64_t now = clock_();
  std::lock_guard lock(mu_);
  const auto old = [&](const DeadLetter& l) { return now > l.at_ms && now - l.at_ms > max_age_ms_; };
  const auto before = letters_.size();
  letters_.erase(std::remove_if(letters_.begin(), letters_.end(), old), letters_.end());
  const std::size_t removed = before - letters_.size();
  stats_.expired += removed;
  return removed;
}

DeadLetterStats DeadLetterQueue::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

} // namespace ringkernel
