/// @file snapshot.hpp
/// @brief The in-memory picture of a whole actor system at a consistent cut, and the catalog of actor types
/// that can be checkpointed.
///
/// `Runtime::snapshot(catalog)` quiesces every actor at a message boundary, copies out actor states, control
/// blocks, queued messages, the HLC and the registry names, and lets the actors run again.
/// `Runtime::restore_snapshot(snapshot, catalog)` rebuilds that system in an empty runtime. The binary format
/// that stores a SystemSnapshot is in `ringkernel/checkpoint/format.hpp` (spec: docs/checkpoint-format.md).
///
/// @code
/// struct Counter {                       // trivially copyable: checkpointed as its bytes
///   using messages = ringkernel::message_list<Add>;
///   std::uint64_t total = 0;
///   RK_HOST_DEVICE void handle(auto& ctx, const Add& m) { total += m.v; }
/// };
/// ringkernel::ActorCatalog catalog;
/// catalog.add<Counter>();
/// auto snap = rt->snapshot(catalog);
/// @endcode
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "ringkernel/actor.hpp"
#include "ringkernel/error.hpp"
#include "ringkernel/lifecycle.hpp"
#include "ringkernel/message.hpp"

namespace ringkernel {

/// An actor that serializes itself: `checkpoint_save` appends its state to a byte vector and
/// `checkpoint_load` rebuilds it (on a freshly constructed actor), returning an Error for bad input.
template <class A>
concept CustomCheckpointState = requires(const A& a, A& m, std::vector<std::byte>& out,
                                         std::span<const std::byte> in) {
  a.checkpoint_save(out);
  { m.checkpoint_load(in) } -> std::same_as<Status>;
};

/// An actor whose state can be checkpointed: trivially copyable ones are copied as bytes, others opt in with
/// the `checkpoint_save`/`checkpoint_load` pair (which wins when both apply).
template <class A>
concept Checkpointable = Actor<A> && (CustomCheckpointState<A> || std::is_trivially_copyable_v<A>);

/// An actor state built and loaded ahead of a restore (by the streaming decoder, which writes segments straight
/// into it). Runtime::restore_snapshot takes it over instead of constructing and loading a state; whatever is not
/// taken over is destroyed with the snapshot.
class PreparedState {
public:
  /// Takes ownership of `state` (a `size`-byte object of type `type_key`), destroyed with `destroy`.
  PreparedState(std::string type_key, void* state, void (*destroy)(void*) noexcept, std::size_t size) noexcept
      : type_key_(std::move(type_key)), state_(state), destroy_(destroy), size_(size) {}
  ~PreparedState() {
    if (state_ != nullptr) destroy_(state_);
  }
  PreparedState(const PreparedState&) = delete;
  PreparedState& operator=(const PreparedState&) = delete;
  /// The state object (null once released).
  [[nodiscard]] void* get() const noexcept { return state_; }
  /// Gives up ownership (a restore takes it; a second restore of the same snapshot finds null).
  [[nodiscard]] void* release() noexcept { return std::exchange(state_, nullptr); }
  /// typeid(A).name() of the state.
  [[nodiscard]] const std::string& type_key() const noexcept { return type_key_; }
  /// sizeof(A).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
  std::string type_key_;
  void* state_;
  void (*destroy_)(void*) noexcept;
  std::size_t size_;
};

/// Everything captured about one actor.
struct ActorSnapshot {
  ActorId id = 0;                       ///< Actor id (kept on restore).
  ActorId parent = kHostActor;          ///< Supervisor; kHostActor = the runtime root.
  std::string name;                     ///< Registered name.
  std::string type_key;                 ///< typeid(A).name(): finds the type in the ActorCatalog.
  ActorState state = ActorState::Active;///< State at the cut (Launched, Active or Deactivated).
  bool suspended = false;               ///< Refusing messages at the cut.
  LaunchOptions opts;                   ///< Options it was launched with (worker placement included).
  ControlBlock cb{};                    ///< Control block (counters, HLC, restarts).
  std::vector<std::byte> state_bytes;   ///< Serialized actor state (empty when streamed or prepared).
  /// Runtime::snapshot_streamed: the state (trivially copyable, this many bytes) was not copied; read it through
  /// the StateReader while the actors are paused. 0 = the state is in state_bytes.
  std::uint64_t streamed_size = 0;
  /// Streaming decode: the state already built and loaded (state_bytes is empty); restore takes it over.
  std::shared_ptr<PreparedState> prepared;
  std::vector<Envelope> inbox;          ///< Messages queued for the actor, oldest first.
  std::vector<Envelope> outbox;         ///< Messages waiting in the host receive queue, oldest first.
};

/// A whole actor system at one consistent cut.
struct SystemSnapshot {
  std::uint16_t node_id = 0;            ///< HLC node id of the runtime.
  std::uint64_t hlc = 0;                ///< Runtime HLC (packed) at the cut.
  std::uint32_t next_actor_id = 1;      ///< Next actor id the runtime would hand out.
  std::uint64_t next_message_id = 1;    ///< Next message id.
  std::uint64_t created_unix_ms = 0;    ///< Wall-clock time of the cut.
  std::uint8_t backend = 0;             ///< Backend (ringkernel::Backend) that produced it.
  std::vector<ActorSnapshot> actors;    ///< Live actors, by increasing id.
  std::map<std::string, std::string> metadata;  ///< Free-form metadata (application version, ...).
};

/// Reads the live state of paused actors for Runtime::snapshot_streamed (valid only inside its `consume`).
/// Used from one thread at a time, which need not be the thread that called snapshot_streamed.
class StateReader {
public:
  virtual ~StateReader() = default;
  /// Copies `dst.size()` bytes of `actor`'s state (one with streamed_size != 0) from byte `offset` into `dst`;
  /// InvalidArgument when the range is outside the state. Device executors copy from device memory.
  [[nodiscard]] virtual Status read(const ActorSnapshot& actor, std::uint64_t offset, std::span<std::byte> dst) = 0;
  /// A staging buffer of `bytes` bytes that read() fills fastest (page-locked for device executors).
  [[nodiscard]] virtual std::shared_ptr<std::byte[]> staging(std::size_t bytes) = 0;
};

/// How one checkpointable actor type is created, saved and loaded (type-erased; see ActorCatalog::add).
struct ActorCodec {
  std::string type_key;                                          ///< typeid(A).name().
  std::function<ActorType(const std::string& name)> make_type;   ///< Launch description for a restored actor.
  void (*save)(const void* state, std::vector<std::byte>& out) = nullptr;      ///< Serializes a state.
  Status (*load)(void* state, std::span<const std::byte> bytes) = nullptr;     ///< Loads into a fresh state.
  /// sizeof(A) for a trivially copyable type saved as its bytes (its state can be streamed in segments straight
  /// from and into the object); 0 for types with checkpoint_save/checkpoint_load.
  std::size_t raw_size = 0;
};

/// The actor types a program can checkpoint and restore. Restore needs it because functions (handlers,
/// constructors) cannot be stored: a checkpoint names each actor's type and the catalog supplies its code.
class ActorCatalog {
public:
  /// Registers `A`; `args` construct fresh instances (restore, and supervisor restarts after restore).
  template <Checkpointable A, class... Args>
  void add(Args&&... args) {
    ActorCodec c;
    c.type_key = typeid(A).name();
    c.make_type = [... captured = std::forward<Args>(args)](const std::string& name) {
      return make_actor_type<A>(name, captured...);
    };
    if constexpr (CustomCheckpointState<A>) {
      c.save = [](const void* s, std::vector<std::byte>& out) { static_cast<const A*>(s)->checkpoint_save(out); };
      c.load = [](void* s, std::span<const std::byte> in) -> Status { return static_cast<A*>(s)->checkpoint_load(in); };
    } else {
      c.raw_size = sizeof(A);
      c.save = [](const void* s, std::vector<std::byte>& out) {
        const auto* p = static_cast<const std::byte*>(s);
        out.assign(p, p + sizeof(A));
      };
      c.load = [](void* s, std::span<const std::byte> in) -> Status {
        if (in.size() != sizeof(A)) {
          return make_error(ErrorCode::Corrupt,
                            "state of " + std::to_string(in.size()) + " bytes for a " + std::to_string(sizeof(A)) +
                                "-byte trivially copyable actor (was the type changed?)",
                            "checkpoint_load");
        }
        std::memcpy(s, in.data(), sizeof(A));
        return {};
      };
    }
    codecs_[c.type_key] = std::move(c);
  }
  /// The codec of a type key, or nullptr.
  [[nodiscard]] const ActorCodec* find(std::string_view type_key) const {
    auto it = codecs_.find(std::string(type_key));
    return it == codecs_.end() ? nullptr : &it->second;
  }
  /// Number of registered types.
  [[nodiscard]] std::size_t size() const noexcept { return codecs_.size(); }

private:
  std::map<std::string, ActorCodec> codecs_;
};

} // namespace ringkernel
