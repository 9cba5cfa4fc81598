// The server's event buffer: one bounded, id-ordered ring shared by every client.
//
// Producers (runtime observers, the stats timer, Server::publish) append in O(1) under a short lock and never
// wait for a client. Each client keeps only a cursor (the last id it was sent); a client that falls more than
// `capacity` events behind finds its next events overwritten and is told how many it missed. So the per-client
// backlog is bounded by construction and a slow reader costs nothing but its own drops.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ringkernel::server::detail {

/// One event, serialized once for every client.
struct HubEvent {
  std::uint64_t id = 0;
  std::string topic;  ///< "lifecycle", "stats", "custom/x", "pubsub/a/b", ...
  std::string data;   ///< JSON object (already contains id and topic).
  std::string sse;    ///< Complete SSE frame ("id: ..\nevent: ..\ndata: ..\n\n").
  std::string ws;     ///< Complete WebSocket "event" message.
};

/// Which topics a client wants: empty = all. An entry matches a topic equal to it or below it ("pubsub"
/// matches "pubsub/sensors/1").
class TopicFilter {
public:
  TopicFilter() = default;
  /// Comma-separated list ("lifecycle,stats"); blank entries ignored.
  static TopicFilter parse(std::string_view csv);
  [[nodiscard]] bool matches(std::string_view topic) const noexcept;
  [[nodiscard]] bool all() const noexcept { return all_; }
  [[nodiscard]] bool none() const noexcept { return !all_ && entries_.empty(); }
  void add(std::string entry);
  void remove(std::string_view entry);
  /// Subscribes to nothing (WebSocket sessions start like this).
  static TopicFilter nothing() {
    TopicFilter f;
    f.all_ = false;
    return f;
  }
  [[nodiscard]] const std::vector<std::string>& entries() const noexcept { return entries_; }

private:
  bool all_ = true;
  std::vector<std::string> entries_;
};

/// True for a topic of 1..128 characters of [A-Za-z0-9_.-/] without empty segments.
bool valid_topic(std::string_view topic) noexcept;

class EventHub {
public:
  explicit EventHub(std::size_t capacity);

  /// Appends an event; `data_json` is a JSON object text without id/topic (they are added). Returns its id.
  std::uint64_t publish(std::string_view topic, std::string_view data_json);

  struct Batch {
    std::vector<std::shared_ptr<const HubEvent>> events;
    std::uint64_t missed = 0;  ///< Events after the cursor that were overwritten before this read.
    std::uint64_t cursor = 0;  ///< New cursor (last id examined).
  };
  /// Events with id > `after` matching `filter`, at most `max`.
  Batch read(std::uint64_t after, std::size_t max, const TopicFilter& filter) const;
  [[nodiscard]] std::uint64_t last_id() const;
  [[nodiscard]] std::uint64_t published() const noexcept { return published_.load(std::memory_order_relaxed); }

  /// Called after a publish when no notification is pending; the callee must call notified() once it has
  /// woken the readers (so a burst of events costs one wake-up).
  void set_notifier(std::function<void()> fn);
  void notified() noexcept { pending_.store(false, std::memory_order_release); }

private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<std::shared_ptr<const HubEvent>> ring_;
  std::uint64_t next_id_ = 1;
  std::atomic<std::uint64_t> published_{0};
  std::atomic<bool> pending_{false};
  std::mutex notifier_mu_;
  std::function<void()> notifier_;
};

} // namespace ringkernel::server::detail
