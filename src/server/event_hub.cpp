#include "server/event_hub.hpp"

#include <algorithm>

namespace ringkernel::server::detail {

bool valid_topic(std::string_view topic) noexcept {
  if (topic.empty() || topic.size() > 128 || topic.front() == '/' || topic.back() == '/') return false;
  char prev = 0;
  for (char c : topic) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.' || c == '/';
    if (!ok || (c == '/' && prev == '/')) return false;
    prev = c;
  }
  return true;
}

TopicFilter TopicFilter::parse(std::string_view csv) {
  TopicFilter f;
  while (!csv.empty()) {
    const auto comma = csv.find(',');
    std::string_view item = csv.substr(0, comma);
    csv = comma == std::string_view::npos ? std::string_view{} : csv.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) f.add(std::string(item));
  }
  return f;
}

void TopicFilter::add(std::string entry) {
  if (entry == "*" || entry == "#") {  // explicit "everything"
    all_ = true;
    entries_.clear();
    return;
  }
  if (all_ && entries_.empty() && !entry.empty()) all_ = false;
  if (std::find(entries_.begin(), entries_.end(), entry) == entries_.end()) entries_.push_back(std::move(entry));
}

void TopicFilter::remove(std::string_view entry) {
  if (entry == "*" || entry == "#") {
    all_ = false;
    entries_.clear();
    return;
  }
  std::erase(entries_, entry);
}

bool TopicFilter::matches(std::string_view topic) const noexcept {
  if (all_) return true;
  for (const auto& e : entries_) {
    if (topic.size() >= e.size() && topic.compare(0, e.size(), e) == 0 &&
        (topic.size() == e.size() || topic[e.size()] == '/'))
      return true;
  }
  return false;
}

EventHub::EventHub(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

std::uint64_t EventHub::publish(std::string_view topic, std::string_view data_json) {
  auto ev = std::make_shared<HubEvent>();
  ev->topic = std::string(topic);
  std::uint64_t id = 0;
  {
    std::lock_guard lk(mu_);
    id = next_id_++;
    ev->id = id;
    // The id must be inside the payload too (WebSocket clients have no SSE id line); splice it in front.
    std::string body = data_json.size() >= 2 ? std::string(data_json.substr(1, data_json.size() - 2)) : std::string();
    while (!body.empty() && (body.front() == ' ' || body.front() == '\n')) body.erase(body.begin());
    ev->data = "{\"id\":" + std::to_string(id) + ",\"topic\":\"" + ev->topic + "\"" + (body.empty() ? "" : ",") +
               body + "}";
    const std::string_view kind = std::string_view(ev->topic).substr(0, ev->topic.find('/'));
    ev->sse = "id: " + std::to_string(id) + "\nevent: " + std::string(kind) + "\ndata: " + ev->data + "\n\n";
    ev->ws = "{\"type\":\"event\",\"event_id\":" + std::to_string(id) + ",\"topic\":\"" + ev->topic +
             "\",\"data\":" + ev->data + "}";
    ring_.push_back(std::move(ev));
    if (ring_.size() > capacity_) ring_.pop_front();
  }
  published_.fetch_add(1, std::memory_order_relaxed);
  if (!pending_.exchange(true, std::memory_order_acq_rel)) {
    std::lock_guard lk(notifier_mu_);
    if (notifier_) notifier_();
    else pending_.store(false, std::memory_order_release);
  }
  return id;
}

EventHub::Batch EventHub::read(std::uint64_t after, std::size_t max, const TopicFilter& filter) const {
  Batch b;
  std::lock_guard lk(mu_);
  b.cursor = after;
  if (ring_.empty()) return b;
  const std::uint64_t oldest = ring_.front()->id;
  if (after + 1 < oldest) {
    b.missed = oldest - after - 1;
    after = oldest - 1;
    b.cursor = after;
  }
  const std::uint64_t newest = ring_.back()->id;
  if (after >= newest) return b;
  for (std::size_t i = static_cast<std::size_t>(after + 1 - oldest); i < ring_.size(); ++i) {
    const auto& ev = ring_[i];
    b.cursor = ev->id;
    if (filter.matches(ev->topic)) {
      b.events.push_back(ev);
      if (b.events.size() >= max) break;
    }
  }
  return b;
}

std::uint64_t EventHub::last_id() const {
  std::lock_guard lk(mu_);
  return next_id_ - 1;
}

void EventHub::set_notifier(std::function<void()> fn) {
  std::lock_guard lk(notifier_mu_);
  notifier_ = std::move(fn);
}

} // namespace ringkernel::server::detail
