#include "ringkernel/registry.hpp"

#include <atomic>
#include <mutex>

#include "core/text.hpp"

namespace ringkernel {

struct Registry::Watcher {
  std::string pattern;
  WatchFn fn;
  // Cleared by unwatch so that events gathered before the removal are not delivered after it.
  std::atomic<bool> active{true};
};

namespace {

std::string describe_char(char ch) {
  return detail::quote(std::string_view(&ch, 1));
}

// Shared checker for names (wildcards rejected) and patterns (wildcards accepted).
Status check_path(std::string_view s, bool pattern, const std::string& context) {
  const char* what = pattern ? "pattern" : "name";
  if (s.empty()) return make_error(ErrorCode::NameInvalid, std::string(what) + " is empty", context);
  if (s.size() > Registry::kMaxNameLength) {
    return make_error(ErrorCode::NameInvalid,
                      std::string(what) + " is " + std::to_string(s.size()) + " characters long; the limit is " +
                          std::to_string(Registry::kMaxNameLength),
                      context);
  }
  std::size_t seg_start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && s[i] != '/') {
      const char c = s[i];
      if (detail::is_path_char(c)) continue;
      if (pattern && (c == '*' || c == '?')) continue;
      return make_error(ErrorCode::NameInvalid,
                        std::string(what) + " " + detail::quote(s) + " has invalid character " + describe_char(c) +
                            " at offset " + std::to_string(i) + "; allowed are A-Z a-z 0-9 _ . -" +
                            (pattern ? " and the wildcards * ** ?" : " and '/' between segments"),
                        context);
    }
    // End of a segment at i.
    const std::string_view seg = s.substr(seg_start, i - seg_start);
    if (seg.empty()) {
      return make_error(ErrorCode::NameInvalid,
                        std::string(what) + " " + detail::quote(s) + " has an empty segment at offset " +
                            std::to_string(seg_start) + " (leading, trailing or doubled '/')",
                        context);
    }
    if (pattern && seg != "**" && seg.find("**") != std::string_view::npos) {
      return make_error(ErrorCode::NameInvalid,
                        "pattern " + detail::quote(s) + " uses '**' inside the segment " + detail::quote(seg) + " at offset " +
                            std::to_string(seg_start) + "; '**' must be a whole segment",
                        context);
    }
    seg_start = i + 1;
  }
  return {};
}


// Matches one pattern segment ('*' = any run, '?' = one char) against one name segment. Classic greedy
// matcher that only remembers the last '*': correct because a later '*' subsumes any earlier choice.
bool segment_match(std::string_view p, std::string_view n) noexcept {
  std::size_t pi = 0, ni = 0;
  std::size_t star_p = std::string_view::npos, star_n = 0;
  while (ni < n.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == n[ni])) {
      ++pi;
      ++ni;
    } else if (pi < p.size() && p[pi] == '*') {
      star_p = ++pi;
      star_n = ni;
    } else if (star_p != std::string_view::npos) {
      pi = star_p;
      ni = ++star_n;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// The longest leading run of `pattern` free of wildcards, cut back to the last '/' when a wildcard follows:
// every matching name starts with it, so `match` only scans that range of the sorted map.
std::string_view literal_prefix(std::string_view pattern) noexcept {
  const std::size_t w = pattern.find_first_of("*?");
  if (w == std::string_view::npos) return pattern;
  const std::size_t slash = pattern.rfind('/', w);
  return slash == std::string_view::npos ? std::string_view{} : pattern.substr(0, slash + 1);
}

} // namespace

Status Registry::validate_name(std::string_view name) {
  return check_path(name, false, "Registry::validate_name");
}

Status Registry::validate_pattern(std::string_view pattern) {
  return check_path(pattern, true, "Registry::validate_pattern");
}

bool Registry::glob_match(std::string_view pattern, std::string_view name) noexcept {
  // Same greedy scheme as segment_match, one level up: segments are the items, '**' the star. Each other
  // pattern segment consumes exactly one name segment, which is what makes the single backtrack point enough.
  detail::Segments p(pattern), n(name);
  bool have_star = false;
  detail::Segments star_p(pattern), star_n(name);
  while (!n.done()) {
    if (!p.done() && p.current() == "**") {
      p.advance();
      have_star = true;
      star_p = p;
      star_n = n;
    } else if (!p.done() && segment_match(p.current(), n.current())) {
      p.advance();
      n.advance();
    } else if (have_star) {
      star_n.advance();
      n = star_n;
      p = star_p;
    } else {
      return false;
    }
  }
  while (!p.done() && p.current() == "**") p.advance();
  return p.done();
}

Status Registry::bind(std::string_view name, ActorId id) {
  if (auto st = check_path(name, false, "Registry::bind"); !st) return st;
  PendingEvents events;
  {
    std::unique_lock lock(mu_);
    auto it = by_name_.find(name);
    if (it != by_name_.end()) {
      return make_error(ErrorCode::NameTaken,
                        "name " + detail::quote(name) + " is already bound to actor " + std::to_string(it->second),
                        "Registry::bind");
    }
    std::string key(name);
    by_name_.emplace(key, id);
    by_actor_[id].insert(key);
    collect_locked(RegistryEvent{RegistryEvent::Kind::Bound, std::move(key), id}, events);
  }
  deliver(events);
  return {};
}

Status Registry::unbind(std::string_view name) {
  if (auto st = check_path(name, false, "Registry::unbind"); !st) return st;
  PendingEvents events;
  {
    std::unique_lock lock(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
      return make_error(ErrorCode::ActorNotFound, "name " + detail::quote(name) + " is not bound", "Registry::unbind");
    }
    const ActorId id = it->second;
    auto owner = by_actor_.find(id);
    if (owner != by_actor_.end()) {
      owner->second.erase(it->first);
      if (owner->second.empty()) by_actor_.erase(owner);
    }
    RegistryEvent ev{RegistryEvent::Kind::Unbound, it->first, id};
    by_name_.erase(it);
    collect_locked(ev, events);
  }
  deliver(events);
  return {};
}

std::size_t Registry::unbind_actor(ActorId id) {
  PendingEvents events;
  std::size_t removed = 0;
  {
    std::unique_lock lock(mu_);
    auto owner = by_actor_.find(id);
    if (owner == by_actor_.end()) return 0;
    for (const std::string& name : owner->second) {
      by_name_.erase(name);
      collect_locked(RegistryEvent{RegistryEvent::Kind::Unbound, name, id}, events);
      ++removed;
    }
    by_actor_.erase(owner);
  }
  deliver(events);
  return removed;
}

Result<ActorId> Registry::lookup(std::string_view name) const {
  if (auto st = check_path(name, false, "Registry::lookup"); !st) return st.error();
  std::shared_lock lock(mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    return make_error(ErrorCode::ActorNotFound, "no actor is bound to " + detail::quote(name), "Registry::lookup");
  }
  return it->second;
}

Result<std::vector<std::pair<std::string, ActorId>>> Registry::match(std::string_view pattern) const {
  if (auto st = check_path(pattern, true, "Registry::match"); !st) return st.error();
  const std::string_view prefix = literal_prefix(pattern);
  std::vector<std::pair<std::string, ActorId>> out;
  std::shared_lock lock(mu_);
  for (auto it = by_name_.lower_bound(prefix); it != by_name_.end(); ++it) {
    if (std::string_view(it->first).substr(0, prefix.size()) != prefix) break;
    if (glob_match(pattern, it->first)) out.emplace_back(it->first, it->second);
  }
  return out;
}

std::vector<std::string> Registry::names_of(ActorId id) const {
  std::shared_lock lock(mu_);
  auto owner = by_actor_.find(id);
  if (owner == by_actor_.end()) return {};
  return {owner->second.begin(), owner->second.end()};
}

std::size_t Registry::size() const {
  std::shared_lock lock(mu_);
  return by_name_.size();
}

Result<std::uint64_t> Registry::watch(std::string_view pattern, WatchFn fn) {
  if (auto st = check_path(pattern, true, "Registry::watch"); !st) return st.error();
  if (!fn) return make_error(ErrorCode::InvalidArgument, "watch callback is empty", "Registry::watch");
  auto w = std::make_shared<Watcher>();
  w->pattern = std::string(pattern);
  w->fn = std::move(fn);
  std::unique_lock lock(mu_);
  const std::uint64_t id = next_watch_id_++;
  watchers_.emplace(id, std::move(w));
  return id;
}

Status Registry::unwatch(std::uint64_t watch_id) {
  std::shared_ptr<Watcher> w;
  {
    std::unique_lock lock(mu_);
    auto it = watchers_.find(watch_id);
    if (it == watchers_.end()) {
      return make_error(ErrorCode::InvalidArgument, "no watcher with id " + std::to_string(watch_id),
                        "Registry::unwatch");
    }
    w = std::move(it->second);
    watchers_.erase(it);
  }
  w->active.store(false, std::memory_order_release);
  return {};
}

void Registry::collect_locked(const RegistryEvent& event, PendingEvents& out) const {
  for (const auto& [id, w] : watchers_) {
    if (glob_match(w->pattern, event.name)) out.emplace_back(w, event);
  }
}

void Registry::deliver(const PendingEvents& events) {
  for (const auto& [w, ev] : events) {
    if (w->active.load(std::memory_order_acquire)) w->fn(ev);
  }
}

} // namespace ringkernel
