/// @file registry.hpp
/// @brief Names for actors: a thread-safe map from '/'-separated paths to ActorId, with glob queries and watchers.
///
/// Actor ids are dense integers that change when an actor restarts; names are what other code holds on to.
/// A name maps to exactly one actor; an actor may carry several names. Watchers let a supervisor or a
/// discovery service follow (un)bindings that match a pattern without polling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/message.hpp"

namespace ringkernel {

/// A change to the registry, as delivered to watchers.
struct RegistryEvent {
  /// What happened to the name.
  enum class Kind {
    Bound,    ///< `name` now refers to `id`.
    Unbound,  ///< `name` no longer refers to `id`.
  };
  Kind kind;         ///< Bound or Unbound.
  std::string name;  ///< The name that changed.
  ActorId id;        ///< The actor it was bound to / unbound from.
};

/// Thread-safe name → ActorId map.
///
/// Names are '/'-separated paths of non-empty segments drawn from `[A-Za-z0-9_.-]`, at most
/// `kMaxNameLength` characters in total (e.g. `"svc/orders/worker-1"`). Patterns (for `match` and `watch`)
/// may additionally use, within a segment, `*` (any run of characters, never '/') and `?` (exactly one
/// character, never '/'), and `**` as a whole segment (zero or more whole segments).
///
/// Watcher callbacks run on the thread that made the change, after the registry's lock is released, so a
/// callback may read or modify the registry. Events from concurrent changes on different threads may reach a
/// watcher in either order; events from one thread arrive in the order that thread made the changes.
class Registry {
public:
  /// Longest accepted name or pattern, in characters.
  static constexpr std::size_t kMaxNameLength = 255;

  /// A watcher callback; must not throw.
  using WatchFn = std::function<void(const RegistryEvent&)>;

  /// An empty registry.
  Registry() = default;
  Registry(const Registry&) = delete;             ///< Not copyable: watchers are tied to one instance.
  Registry& operator=(const Registry&) = delete;  ///< Not copyable.

  /// Ok when `name` is a well-formed name; otherwise NameInvalid explaining what is wrong and where.
  static Status validate_name(std::string_view name);
  /// Ok when `pattern` is a well-formed pattern; otherwise NameInvalid explaining what is wrong and where.
  static Status validate_pattern(std::string_view pattern);
  /// True when `name` matches `pattern` (see the class comment for the syntax). Allocation-free; linear-ish
  /// backtracking. Inputs are not validated: call validate_* first if they come from outside.
  static bool glob_match(std::string_view pattern, std::string_view name) noexcept;

  /// Binds `name` to `id`. NameInvalid for a malformed name; NameTaken when the name is already bound (even
  /// to the same actor, so a double bind is caught as the bug it usually is). Notifies matching watchers.
  Status bind(std::string_view name, ActorId id);
  /// Removes `name`. NameInvalid for a malformed name; ActorNotFound when it is not bound. Notifies watchers.
  Status unbind(std::string_view name);
  /// Removes every name bound to `id` (e.g. when it terminates); returns how many were removed.
  std::size_t unbind_actor(ActorId id);

  /// The actor bound to `name`; NameInvalid for a malformed name, ActorNotFound when unbound.
  [[nodiscard]] Result<ActorId> lookup(std::string_view name) const;
  /// Every (name, id) whose name matches `pattern`, sorted by name; NameInvalid for a malformed pattern.
  [[nodiscard]] Result<std::vector<std::pair<std::string, ActorId>>> match(std::string_view pattern) const;
  /// Every name bound to `id`, sorted.
  [[nodiscard]] std::vector<std::string> names_of(ActorId id) const;
  /// Number of bound names.
  [[nodiscard]] std::size_t size() const;

  /// Calls `fn` for every later Bound/Unbound event whose name matches `pattern`; returns the watch id.
  /// NameInvalid for a malformed pattern, InvalidArgument for an empty function. Existing bindings are not
  /// replayed (use `match` for the current state).
  Result<std::uint64_t> watch(std::string_view pattern, WatchFn fn);
  /// Stops a watcher; InvalidArgument when `watch_id` is unknown. No event that starts after this returns
  /// reaches the watcher; a call already running on another thread may still finish.
  Status unwatch(std::uint64_t watch_id);

private:
  /// One registered watcher; shared so a delivery in flight outlives `unwatch`.
  struct Watcher;
  /// Events gathered under the lock, delivered after it is released.
  using PendingEvents = std::vector<std::pair<std::shared_ptr<Watcher>, RegistryEvent>>;

  /// Appends `event` once for each watcher whose pattern matches it. Caller holds `mu_`.
  void collect_locked(const RegistryEvent& event, PendingEvents& out) const;
  /// Invokes the gathered callbacks, skipping watchers removed meanwhile. Caller holds no lock.
  static void deliver(const PendingEvents& events);

  mutable std::shared_mutex mu_;                                     ///< Guards everything below.
  std::map<std::string, ActorId, std::less<>> by_name_;              ///< Sorted, so `match` can range-scan.
  std::map<ActorId, std::set<std::string, std::less<>>> by_actor_;   ///< Reverse index for `unbind_actor`.
  std::map<std::uint64_t, std::shared_ptr<Watcher>> watchers_;       ///< By watch id.
  std::uint64_t next_watch_id_ = 1;                                  ///< Ids start at 1; 0 is never issued.
};

} // namespace ringkernel
