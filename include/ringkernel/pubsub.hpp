/// @file pubsub.hpp
/// @brief Topic-based publish/subscribe with wildcards and retained messages, for actors and host callbacks.
///
/// Publishers name a topic, not a receiver, so producers and consumers can come and go independently. The
/// broker does not own mailboxes: actor deliveries go through a function supplied by the runtime (its mailbox
/// send), which keeps this class free of runtime dependencies and easy to test.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "ringkernel/error.hpp"
#include "ringkernel/message.hpp"

namespace ringkernel {

/// Outcome of one publish (or of the retained deliveries made by one subscribe).
struct PublishReport {
  std::size_t delivered = 0;  ///< Deliveries that succeeded (host callbacks always succeed).
  std::size_t failed = 0;     ///< Actor deliveries whose delivery function returned an error.
};

/// Lifetime counters of a PubSub.
struct PubSubStats {
  std::uint64_t published = 0;  ///< Successful publish calls (valid topic), matched or not.
  std::uint64_t delivered = 0;  ///< Successful deliveries, including retained ones made on subscribe.
  std::uint64_t failed = 0;     ///< Failed deliveries, including retained ones made on subscribe.
};

/// Thread-safe topic broker.
///
/// Topics are '/'-separated paths of non-empty segments drawn from `[A-Za-z0-9_.-]`, at most
/// `kMaxTopicLength` characters (e.g. `"sensors/room-1/temp"`). Patterns consist of such segments plus the
/// whole-segment wildcards `*` (exactly one segment) and `#` (zero or more segments, allowed in any
/// position): `"sensors/*/temp"`, `"sensors/#"`, `"#/temp"`.
///
/// Deliveries run on the publishing (or subscribing) thread after the broker's lock is released, so a
/// delivery function or callback may publish, subscribe or unsubscribe. Delivery functions and callbacks
/// must not throw.
class PubSub {
public:
  /// Longest accepted topic or pattern, in characters.
  static constexpr std::size_t kMaxTopicLength = 255;

  /// Delivers to an actor subscriber (the runtime's mailbox send); an error counts as a failed delivery.
  using DeliverFn = std::function<Status(ActorId subscriber, const std::string& topic, const Envelope&)>;
  /// A host-side subscriber.
  using CallbackFn = std::function<void(const std::string& topic, const Envelope&)>;

  /// A broker that hands actor deliveries to `deliver`. With an empty `deliver`, only host callbacks can
  /// subscribe (actor subscriptions are rejected with BackendUnavailable).
  explicit PubSub(DeliverFn deliver);
  PubSub(const PubSub&) = delete;             ///< Not copyable: subscriptions are tied to one instance.
  PubSub& operator=(const PubSub&) = delete;  ///< Not copyable.

  /// Ok when `topic` is a well-formed topic; otherwise NameInvalid explaining what is wrong and where.
  static Status validate_topic(std::string_view topic);
  /// Ok when `pattern` is a well-formed pattern; otherwise NameInvalid explaining what is wrong and where.
  static Status validate_pattern(std::string_view pattern);
  /// True when `topic` matches `pattern`. Allocation-free. Inputs are not validated.
  static bool topic_match(std::string_view pattern, std::string_view topic) noexcept;

  /// Subscribes actor `subscriber` to `pattern` and immediately delivers every matching retained message.
  /// Returns the subscription id. NameInvalid for a malformed pattern; BackendUnavailable without a
  /// delivery function. A failed retained delivery is counted in stats but does not fail the subscription.
  Result<std::uint64_t> subscribe(std::string_view pattern, ActorId subscriber);
  /// Subscribes a host callback to `pattern`; otherwise as above. InvalidArgument for an empty callback.
  Result<std::uint64_t> subscribe(std::string_view pattern, CallbackFn callback);
  /// Removes a subscription; InvalidArgument when `subscription_id` is unknown. No delivery that starts
  /// after this returns reaches the subscriber; one already running on another thread may still finish.
  Status unsubscribe(std::uint64_t subscription_id);
  /// Removes every subscription of actor `subscriber` (e.g. when it terminates); returns how many.
  std::size_t unsubscribe_actor(ActorId subscriber);

  /// Delivers `envelope` to every subscription matching `topic` (once per subscription). With `retain`, it
  /// also becomes the topic's retained message, replacing the previous one. NameInvalid for a malformed
  /// topic; failed deliveries are counted in the report, never abort the others.
  Result<PublishReport> publish(std::string_view topic, const Envelope& envelope, bool retain = false);
  /// Drops the retained message of `topic`. NameInvalid for a malformed topic; Ok whether or not one existed
  /// (clearing is idempotent).
  Status clear_retained(std::string_view topic);

  /// Number of topics holding a retained message.
  [[nodiscard]] std::size_t retained_count() const;
  /// Number of live subscriptions.
  [[nodiscard]] std::size_t subscription_count() const;
  /// Lifetime counters.
  [[nodiscard]] PubSubStats stats() const;

private:
  /// One subscription; shared so a delivery in flight outlives `unsubscribe`.
  struct Subscription;

  /// Registers `sub` and delivers matching retained messages to it.
  Result<std::uint64_t> add(std::shared_ptr<Subscription> sub);
  /// Delivers one message to one subscription; true on success. Caller holds no lock.
  bool deliver_one(const Subscription& sub, const std::string& topic, const Envelope& envelope);

  DeliverFn deliver_;                                                    ///< Actor delivery (mailbox send).
  mutable std::mutex mu_;                                                ///< Guards the maps and next id.
  std::map<std::uint64_t, std::shared_ptr<Subscription>> subs_;          ///< By subscription id.
  std::map<std::string, std::shared_ptr<const Envelope>, std::less<>> retained_;  ///< By topic, sorted.
  std::uint64_t next_id_ = 1;                                            ///< Ids start at 1; 0 never issued.
  std::atomic<std::uint64_t> published_{0};                              ///< stats().published.
  std::atomic<std::uint64_t> delivered_{0};                              ///< stats().delivered.
  std::atomic<std::uint64_t> failed_{0};                                 ///< stats().failed.
};

} // namespace ringkernel
