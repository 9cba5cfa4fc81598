#include "ringkernel/pubsub.hpp"

#include <utility>

#include "core/text.hpp"
#include <vector>

namespace ringkernel {

struct PubSub::Subscription {
  std::string pattern;
  bool is_actor = false;
  ActorId actor = kHostActor;
  CallbackFn callback;
  // Cleared by unsubscribe so deliveries gathered before the removal are skipped after it.
  std::atomic<bool> active{true};
};

namespace {

Status check_topic(std::string_view s, bool pattern, const char* context) {
  const char* what = pattern ? "pattern" : "topic";
  if (s.empty()) return make_error(ErrorCode::NameInvalid, std::string(what) + " is empty", context);
  if (s.size() > PubSub::kMaxTopicLength) {
    return make_error(ErrorCode::NameInvalid,
                      std::string(what) + " is " + std::to_string(s.size()) + " characters long; the limit is " +
                          std::to_string(PubSub::kMaxTopicLength),
                      context);
  }
  std::size_t seg_start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && s[i] != '/') continue;
    const std::string_view seg = s.substr(seg_start, i - seg_start);
    if (seg.empty()) {
      return make_error(ErrorCode::NameInvalid,
                        std::string(what) + " " + detail::quote(s) + " has an empty segment at offset " +
                            std::to_string(seg_start) + " (leading, trailing or doubled '/')",
                        context);
    }
    const bool wildcard = pattern && (seg == "*" || seg == "#");
    if (!wildcard) {
      for (std::size_t j = 0; j < seg.size(); ++j) {
        const char c = seg[j];
        if (detail::is_path_char(c)) continue;
        std::string msg = std::string(what) + " " + detail::quote(s) + " has invalid character " +
                          detail::quote(std::string_view(&c, 1)) + " at offset " + std::to_string(seg_start + j);
        msg += (c == '*' || c == '#')
                   ? (pattern ? "; '*' and '#' must be a whole segment" : "; wildcards are only allowed in patterns")
                   : "; allowed are A-Z a-z 0-9 _ . -";
        return make_error(ErrorCode::NameInvalid, std::move(msg), context);
      }
    }
    seg_start = i + 1;
  }
  return {};
}

} // namespace

PubSub::PubSub(DeliverFn deliver) : deliver_(std::move(deliver)) {}

Status PubSub::validate_topic(std::string_view topic) { return check_topic(topic, false, "PubSub::validate_topic"); }

Status PubSub::validate_pattern(std::string_view pattern) {
  return check_topic(pattern, true, "PubSub::validate_pattern");
}

bool PubSub::topic_match(std::string_view pattern, std::string_view topic) noexcept {
  // Greedy glob over segments: '*' consumes exactly one, '#' is the star. Remembering only the latest '#'
  // suffices because every other pattern segment consumes exactly one topic segment.
  detail::Segments p(pattern), t(topic);
  bool have_hash = false;
  detail::Segments hash_p(pattern), hash_t(topic);
  while (!t.done()) {
    if (!p.done() && p.current() == "#") {
      p.advance();
      have_hash = true;
      hash_p = p;
      hash_t = t;
    } else if (!p.done() && (p.current() == "*" || p.current() == t.current())) {
      p.advance();
      t.advance();
    } else if (have_hash) {
      hash_t.advance();
      t = hash_t;
      p = hash_p;
    } else {
      return false;
    }
  }
  while (!p.done() && p.current() == "#") p.advance();
  return p.done();
}

Result<std::uint64_t> PubSub::subscribe(std::string_view pattern, ActorId subscriber) {
  if (auto st = check_topic(pattern, true, "PubSub::subscribe"); !st) return st.error();
  if (!deliver_) {
    return make_error(ErrorCode::BackendUnavailable,
                      "this broker has no delivery function, so actors cannot subscribe",
                      "PubSub::subscribe(actor " + std::to_string(subscriber) + ")");
  }
  auto sub = std::make_shared<Subscription>();
  sub->pattern = std::string(pattern);
  sub->is_actor = true;
  sub->actor = subscriber;
  return add(std::move(sub));
}

Result<std::uint64_t> PubSub::subscribe(std::string_view pattern, CallbackFn callback) {
  if (auto st = check_topic(pattern, true, "PubSub::subscribe"); !st) return st.error();
  if (!callback) return make_error(ErrorCode::InvalidArgument, "subscription callback is empty", "PubSub::subscribe");
  auto sub = std::make_shared<Subscription>();
  sub->pattern = std::string(pattern);
  sub->callback = std::move(callback);
  return add(std::move(sub));
}

Result<std::uint64_t> PubSub::add(std::shared_ptr<Subscription> sub) {
  std::vector<std::pair<std::string, std::shared_ptr<const Envelope>>> retained;
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& [topic, env] : retained_) {
      if (topic_match(sub->pattern, topic)) retained.emplace_back(topic, env);
    }
    id = next_id_++;
    subs_.emplace(id, sub);
  }
  for (const auto& [topic, env] : retained) {
    if (!sub->active.load(std::memory_order_acquire)) break;
    deliver_one(*sub, topic, *env);
  }
  return id;
}

Status PubSub::unsubscribe(std::uint64_t subscription_id) {
  std::shared_ptr<Subscription> sub;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(subscription_id);
    if (it == subs_.end()) {
      return make_error(ErrorCode::InvalidArgument, "no subscription with id " + std::to_string(subscription_id),
                        "PubSub::unsubscribe");
    }
    sub = std::move(it->second);
    subs_.erase(it);
  }
  sub->active.store(false, std::memory_order_release);
  return {};
}

std::size_t PubSub::unsubscribe_actor(ActorId subscriber) {
  std::vector<std::shared_ptr<Subscription>> removed;
  {
    std::lock_guard lock(mu_);
    for (auto it = subs_.begin(); it != subs_.end();) {
      if (it->second->is_actor && it->second->actor == subscriber) {
        removed.push_back(std::move(it->second));
        it = subs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& sub : removed) sub->active.store(false, std::memory_order_release);
  return removed.size();
}

Result<PublishReport> PubSub::publish(std::string_view topic, const Envelope& envelope, bool retain) {
  if (auto st = check_topic(topic, false, "PubSub::publish"); !st) return st.error();
  std::string key(topic);
  std::vector<std::shared_ptr<Subscription>> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, sub] : subs_) {
      if (topic_match(sub->pattern, key)) targets.push_back(sub);
    }
    if (retain) retained_.insert_or_assign(key, std::make_shared<const Envelope>(envelope));
  }
  published_.fetch_add(1, std::memory_order_relaxed);
  PublishReport report;
  for (const auto& sub : targets) {
    if (!sub->active.load(std::memory_order_acquire)) continue;
    if (deliver_one(*sub, key, envelope)) {
      ++report.delivered;
    } else {
      ++report.failed;
    }
  }
  return report;
}

bool PubSub::deliver_one(const Subscription& sub, const std::string& topic, const Envelope& envelope) {
  bool ok = true;
  if (sub.is_actor) {
    ok = deliver_(sub.actor, topic, envelope).ok();
  } else {
    sub.callback(topic, envelope);
  }
  (ok ? delivered_ : failed_).fetch_add(1, std::memory_order_relaxed);
  return ok;
}

Status PubSub::clear_retained(std::string_view topic) {
  if (auto st = check_topic(topic, false, "PubSub::clear_retained"); !st) return st;
  std::lock_guard lock(mu_);
  auto it = retained_.find(topic);
  if (it != retained_.end()) retained_.erase(it);
  return {};
}

std::size_t PubSub::retained_count() const {
  std::lock_guard lock(mu_);
  return retained_.size();
}

std::size_t PubSub::subscription_count() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

PubSubStats PubSub::stats() const {
  PubSubStats s;
  s.published = published_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  return s;
}

} // namespace ringkernel
