/// @file runtime.hpp
/// @brief The runtime: choose a backend, launch actors, talk to them through handles, observe and shut down.
///
/// @code
/// auto rt = ringkernel::Runtime::builder().backend(ringkernel::Backend::Auto).build();
/// if (!rt) { std::puts(rt.error().describe().c_str()); return 1; }
/// auto counter = rt->launch<Counter>("counter");
/// auto sum = counter->call<Sum>(Add{5}, std::chrono::milliseconds(100));
/// @endcode
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ringkernel/actor.hpp"
#include "ringkernel/dead_letter.hpp"
#include "ringkernel/error.hpp"
#include "ringkernel/hlc.hpp"
#include "ringkernel/lifecycle.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/metrics.hpp"
#include "ringkernel/pubsub.hpp"
#include "ringkernel/registry.hpp"
#include "ringkernel/supervisor.hpp"

namespace ringkernel {

// --- checkpoint support (defined in ringkernel/checkpoint/snapshot.hpp; implemented in src/core/snapshot.cpp) ---
struct SystemSnapshot;
class ActorCatalog;
class StateReader;
// --- end checkpoint support ---

/// Where actors run.
enum class Backend : std::uint8_t {
  Auto,    ///< The best available: CUDA when compiled in and a GPU is present, else CPU.
  Cpu,     ///< Worker threads on the host (always available).
  Cuda,    ///< A persistent kernel on an NVIDIA GPU.
  WebGpu,  ///< WebGPU (wgpu-native) with persistence emulated across dispatches.
  Metal,   ///< Apple Metal.
};

/// Stable lower-case name of a backend.
std::string_view to_string(Backend b) noexcept;
/// Parses "auto", "cpu", "cuda", "webgpu", "metal".
Result<Backend> parse_backend(std::string_view name);
/// True when `b` is compiled in and usable on this machine.
bool backend_available(Backend b) noexcept;

/// Runtime-wide settings (see RuntimeBuilder for each).
struct RuntimeConfig {
  Backend backend = Backend::Auto;                       ///< Requested backend.
  unsigned workers = 0;                                  ///< Executor threads; 0 = hardware concurrency.
  std::uint32_t max_actors = 4096;                       ///< Actor ids available (ids are not reused).
  std::uint16_t node_id = 0;                             ///< HLC node id of this runtime.
  std::chrono::milliseconds max_clock_drift{60000};      ///< Largest accepted HLC skew of a received stamp.
  std::size_t dead_letter_capacity = 4096;               ///< Dead letters kept.
  std::uint32_t dead_letter_max_retries = 3;             ///< Replays before a letter is dropped.
  SupervisorSpec root_supervision{};                     ///< How top-level actors are supervised.
  std::chrono::microseconds idle_spin{50};               ///< Busy-poll time before an idle worker sleeps.
  std::chrono::milliseconds stall_timeout{1000};         ///< Handler time the watchdog reports as a stall; 0 = off.
  std::chrono::milliseconds watchdog_interval{50};       ///< How often the watchdog looks.
  unsigned drain_budget = 64;                            ///< Messages one actor handles before yielding the worker.
  int cuda_device = 0;                                   ///< CUDA backend: device ordinal.
  std::uint32_t cuda_slots_per_type = 8;                 ///< CUDA backend: actor slots per actor type (rounded up
                                                         ///< to a multiple of cuda_actors_per_block).
  std::uint32_t cuda_actors_per_block = 1;               ///< CUDA backend: 1 = each actor slot is a thread block
                                                         ///< (batches up to 256 messages, slots up to 1 KiB);
                                                         ///< 2..8 = slots are warps sharing a block, for many
                                                         ///< small actors (batches of 32, slots up to 256 B).
  std::uint32_t cuda_cluster_size = 1;                   ///< CUDA backend: blocks per thread-block cluster
                                                         ///< (1..8; >1 needs sm_90). Actors of one cluster
                                                         ///< send K2K through distributed shared memory.
  bool cuda_spin = true;                                 ///< CUDA backend: idle blocks spin (else __nanosleep back-off).
  std::chrono::milliseconds cuda_command_timeout{200};   ///< CUDA backend: longest wait for a device acknowledgement.
  std::size_t cuda_mapped_arena_mb = 128;                ///< CUDA backend: pinned mapped memory reserved for rings
                                                         ///< (and as much device memory for K2K inboxes).
};

class Runtime;

namespace detail {
class Executor;
/// Creates a backend's executor for a runtime (BackendUnavailable when the machine lacks the device).
using ExecutorFactory = Result<std::unique_ptr<Executor>> (*)(RuntimeState& rt);
/// The CPU backend's executor (defined in the cpu component).
Result<std::unique_ptr<Executor>> make_cpu_executor(RuntimeState& rt);
/// The CUDA backend's executor (defined in the cuda component, built when CUDA is enabled).
Result<std::unique_ptr<Executor>> make_cuda_executor(RuntimeState& rt);
// [webgpu wiring] The WebGPU backend's executor (defined in the webgpu component, built with wgpu-native).
Result<std::unique_ptr<Executor>> make_webgpu_executor(RuntimeState& rt);
/// Executors compiled into this program, by backend.
struct ExecutorFactories {
  ExecutorFactory cpu = nullptr;   ///< CPU backend.
  ExecutorFactory cuda = nullptr;  ///< CUDA backend (not built yet).
  ExecutorFactory webgpu = nullptr;  ///< WebGPU backend ([webgpu wiring]; set when RINGKERNEL_HAS_WEBGPU).
};
/// Validates `cfg`, picks the backend and starts the runtime.
Result<Runtime> build_runtime(const RuntimeConfig& cfg, const ExecutorFactories& factories);
} // namespace detail

/// Fluent construction of a Runtime.
class RuntimeBuilder {
public:
  /// Backend to run on.
  RuntimeBuilder& backend(Backend b) { cfg_.backend = b; return *this; }
  /// Executor threads (CPU backend).
  RuntimeBuilder& workers(unsigned n) { cfg_.workers = n; return *this; }
  /// Maximum actors over the runtime's life.
  RuntimeBuilder& max_actors(std::uint32_t n) { cfg_.max_actors = n; return *this; }
  /// HLC node id.
  RuntimeBuilder& node_id(std::uint16_t id) { cfg_.node_id = id; return *this; }
  /// Largest tolerated clock skew of received timestamps.
  RuntimeBuilder& max_clock_drift(std::chrono::milliseconds d) { cfg_.max_clock_drift = d; return *this; }
  /// Dead-letter queue capacity.
  RuntimeBuilder& dead_letter_capacity(std::size_t n) { cfg_.dead_letter_capacity = n; return *this; }
  /// Supervision of top-level actors.
  RuntimeBuilder& root_supervision(SupervisorSpec s) { cfg_.root_supervision = s; return *this; }
  /// Idle busy-poll time (lower latency vs. CPU use).
  RuntimeBuilder& idle_spin(std::chrono::microseconds d) { cfg_.idle_spin = d; return *this; }
  /// Watchdog stall threshold (0 disables the watchdog).
  RuntimeBuilder& stall_timeout(std::chrono::milliseconds d) { cfg_.stall_timeout = d; return *this; }
  /// Replaces the whole configuration.
  RuntimeBuilder& config(const RuntimeConfig& c) { cfg_ = c; return *this; }
  /// The configuration so far.
  [[nodiscard]] const RuntimeConfig& config() const noexcept { return cfg_; }
  /// Validates the configuration and starts the runtime; BackendUnavailable names what is missing.
  /// Defined inline below so that only programs that build a runtime link the backends' executors.
  [[nodiscard]] Result<Runtime> build() const;

private:
  RuntimeConfig cfg_;
};

/// Status of one actor at a point in time.
struct ActorStatus {
  ActorId id = 0;                  ///< Actor id.
  std::string name;                ///< Registered name.
  std::string type_name;           ///< Actor type.
  ActorState state = ActorState::Created;  ///< Lifecycle state.
  bool suspended = false;          ///< Refusing new messages.
  ActorId parent = kHostActor;     ///< Supervisor (kHostActor = the runtime root).
  std::vector<ActorId> children;   ///< Live children.
  TenantId tenant = kSystemTenant; ///< Owning tenant.
  unsigned worker = 0;             ///< Executor worker.
  std::uint64_t heartbeat_age_ns = 0;  ///< Time since the executor last polled the actor.
  bool stalled = false;            ///< A handler is running past the stall timeout.
  ActorMetrics metrics;            ///< Counters.
};

/// Something that happened to an actor, for observers (dashboards, logs, tests).
struct RuntimeEvent {
  /// Event kinds.
  enum class Kind : std::uint8_t {
    Launched, Activated, Deactivated, Suspended, Resumed, Failed, Restarted, Terminated, Escalated,
    RestartLimit, Stalled,
  };
  Kind kind = Kind::Launched;   ///< What happened.
  ActorId actor = 0;            ///< To whom.
  std::string name;             ///< Actor name.
  std::string detail;           ///< Reason or extra information.
  std::uint64_t hlc = 0;        ///< When (runtime HLC).
};
/// Stable name of an event kind.
std::string_view to_string(RuntimeEvent::Kind k) noexcept;

/// Runtime-wide counters.
struct RuntimeMetrics {
  std::uint64_t actors_live = 0;        ///< Actors not yet terminated.
  std::uint64_t actors_launched = 0;    ///< Actors launched or spawned over the runtime's life.
  std::uint64_t messages_sent = 0;      ///< Messages accepted into mailboxes.
  std::uint64_t messages_processed = 0; ///< Messages handled.
  std::uint64_t dead_letters = 0;       ///< Messages put in the dead-letter queue.
  std::uint64_t tenant_violations = 0;  ///< Cross-tenant sends refused.
  std::uint64_t restarts = 0;           ///< Supervisor restarts.
  std::uint64_t failures = 0;           ///< Handler failures.
  std::uint64_t calls = 0;              ///< Completed calls.
  std::uint64_t call_timeouts = 0;      ///< Calls that timed out.
  std::uint64_t call_p50_ns = 0;        ///< Median call round trip.
  std::uint64_t call_p99_ns = 0;        ///< 99th percentile call round trip.
  // Device backends only (0 on the CPU backend):
  std::uint64_t device_memory_total_bytes = 0;  ///< Memory of the GPU.
  std::uint64_t device_memory_used_bytes = 0;   ///< GPU memory in use, by every process on the device.
  std::uint64_t device_ring_bytes = 0;          ///< Device memory this runtime's rings (K2K inboxes) occupy.
  std::uint64_t mapped_ring_bytes = 0;          ///< Pinned mapped host memory its H2K/K2H rings occupy.
};

/// A cheap, copyable reference to a launched actor. Stays safe to use after the actor or the runtime is
/// gone: operations then return ActorTerminated or ShuttingDown.
class ActorHandle {
public:
  /// The actor's id.
  [[nodiscard]] ActorId id() const noexcept { return id_; }
  /// The actor's registered name.
  [[nodiscard]] std::string name() const;

  /// Starts processing (Launched/Deactivated -> Active), ordered after messages already sent.
  [[nodiscard]] Status activate();
  /// Pauses processing; later messages queue up. Ordered after messages already sent.
  [[nodiscard]] Status deactivate();
  /// Pauses processing and refuses new messages with ActorInactive until resume().
  [[nodiscard]] Status suspend();
  /// Undoes suspend(): accepts messages and processes again.
  [[nodiscard]] Status resume();
  /// Terminates after the messages already sent are handled; later sends fail with ActorTerminated.
  [[nodiscard]] Status terminate();
  /// Restarts a Failed actor by hand (fresh state), e.g. after its supervisor hit the restart limit.
  [[nodiscard]] Status restart();
  /// Waits until the actor reaches `state` (or Terminated); Timeout otherwise.
  [[nodiscard]] Status wait_for(ActorState state, std::chrono::milliseconds timeout);

  /// Sends a typed message.
  template <Message T>
  [[nodiscard]] Status send(const T& msg, const SendOptions& opts = {}) {
    return send_raw(T::type_id, &msg, sizeof(T), opts, 0, 0);
  }
  /// Sends several messages with one queue publication where possible; returns how many were accepted
  /// (stops at the first refusal, whose error is returned if none was accepted).
  template <Message T>
  [[nodiscard]] Result<std::size_t> send_many(std::span<const T> msgs, const SendOptions& opts = {}) {
    return send_many_raw(T::type_id, msgs.data(), sizeof(T), msgs.size(), opts);
  }
  /// Takes one message the actor sent to the host, if any (QueueEmpty otherwise).
  [[nodiscard]] Result<Envelope> try_receive();
  /// Waits up to `timeout` for a message from the actor.
  [[nodiscard]] Result<Envelope> receive(std::chrono::microseconds timeout);
  /// Takes up to `max` waiting messages without blocking.
  [[nodiscard]] std::vector<Envelope> receive_many(std::size_t max);
  /// Hands up to `max` waiting messages to `visit(const MessageHeader&, std::span<const std::byte> payload)`
  /// in order, without copying them out of the queue (the span is valid during the call only); returns how
  /// many were visited. The fast path for streaming replies: no allocation per message. If `visit` throws, the
  /// message it threw on and those after it stay queued for the next receive. The actor's queue is held while
  /// `visit` runs: a receive from that same actor inside it gets nothing (InvalidArgument from try_receive and
  /// receive); sends, calls and lifecycle commands are fine.
  template <class Visit>
  std::size_t receive_each(std::size_t max, Visit&& visit) {
    using V = std::remove_reference_t<Visit>;
    return receive_visit(
        max,
        [](void* v, const MessageHeader& h, const std::byte* p) {
          (*static_cast<V*>(v))(h, std::span<const std::byte>(p, h.payload_len));
        },
        const_cast<void*>(static_cast<const void*>(&visit)));
  }
  /// Request/reply: sends `req` and waits for the correlated reply, returned as an envelope. `timeout` bounds
  /// the whole call, including time the send spends blocked on a full mailbox (OverflowPolicy::Block).
  [[nodiscard]] Result<Envelope> call_envelope(TypeId type, const void* payload, std::size_t len,
                                               std::chrono::microseconds timeout, const SendOptions& opts = {});
  /// Request/reply with typed reply `R`; UnknownMessageType if the reply has another type.
  template <Message R, Message T>
  [[nodiscard]] Result<R> call(const T& req, std::chrono::microseconds timeout, const SendOptions& opts = {}) {
    auto env = call_envelope(T::type_id, &req, sizeof(T), timeout, opts);
    if (!env) return env.error();
    return env->template as<R>();
  }

  /// Free mailbox slots (credits a sender may use without hitting back-pressure).
  [[nodiscard]] std::uint64_t credits() const;
  /// Current status.
  [[nodiscard]] Result<ActorStatus> status() const;
  /// Current counters.
  [[nodiscard]] Result<ActorMetrics> metrics() const;

  /// Built by the runtime.
  ActorHandle(std::shared_ptr<detail::RuntimeState> rt, ActorId id) noexcept : rt_(std::move(rt)), id_(id) {}

  /// Untyped send (used by bindings and the templates above).
  [[nodiscard]] Status send_raw(TypeId type, const void* payload, std::size_t len, const SendOptions& opts,
                                std::uint32_t correlation, std::uint8_t flags);
  /// Untyped batched send.
  [[nodiscard]] Result<std::size_t> send_many_raw(TypeId type, const void* payloads, std::size_t len,
                                                  std::size_t count, const SendOptions& opts);
  /// Untyped receive_each: `fn(ctx, header, payload)` per message.
  std::size_t receive_visit(std::size_t max, void (*fn)(void*, const MessageHeader&, const std::byte*), void* ctx);

private:
  std::shared_ptr<detail::RuntimeState> rt_;
  ActorId id_;
};

/// An actor system on one backend. Move-only; destruction shuts it down (bounded time).
class Runtime {
public:
  /// Starts building a runtime.
  static RuntimeBuilder builder() { return {}; }

  /// Launches a top-level actor of type `A` (constructed from `args`, again on every restart).
  template <Actor A, class... Args>
  [[nodiscard]] Result<ActorHandle> launch(std::string_view name, const LaunchOptions& opts = {}, Args&&... args) {
    return launch_type(name, opts, make_actor_type<A>(std::string(name), std::forward<Args>(args)...));
  }
  /// Launches from a type-erased description.
  [[nodiscard]] Result<ActorHandle> launch_type(std::string_view name, const LaunchOptions& opts, ActorType type);
  /// Handle of a registered actor.
  [[nodiscard]] Result<ActorHandle> find(std::string_view name) const;
  /// Handle of an actor by id.
  [[nodiscard]] Result<ActorHandle> handle(ActorId id) const;
  /// Terminates an actor and all its descendants at once (queued messages go to the dead-letter queue).
  [[nodiscard]] Status kill_tree(ActorId id);

  /// Publishes a message from the host to a topic.
  template <Message T>
  [[nodiscard]] Result<PublishReport> publish(std::string_view topic, const T& msg, bool retain = false) {
    return publish_envelope(topic, Envelope::of(msg), retain);
  }
  /// Publishes an envelope from the host.
  [[nodiscard]] Result<PublishReport> publish_envelope(std::string_view topic, Envelope env, bool retain);
  /// Subscribes an actor to a topic pattern.
  [[nodiscard]] Result<std::uint64_t> subscribe(std::string_view pattern, ActorId subscriber);

  /// The name registry.
  [[nodiscard]] Registry& registry();
  /// The topic broker.
  [[nodiscard]] PubSub& pubsub();
  /// The dead-letter queue.
  [[nodiscard]] DeadLetterQueue& dead_letters();
  /// Re-sends dead letters accepted by `filter` to their destinations.
  ReplayReport replay_dead_letters(const std::function<bool(const DeadLetter&)>& filter = {});
  /// The runtime's hybrid logical clock.
  [[nodiscard]] HlcClock& clock();
  /// The backend actually running.
  [[nodiscard]] Backend backend() const noexcept;
  /// Executor threads.
  [[nodiscard]] unsigned workers() const noexcept;
  /// Runtime-wide counters.
  [[nodiscard]] RuntimeMetrics metrics() const;
  /// Status of every actor ever launched (terminated ones included).
  [[nodiscard]] std::vector<ActorStatus> actors() const;
  /// Registers an observer of lifecycle events; called on runtime threads, keep it short.
  std::uint64_t on_event(std::function<void(const RuntimeEvent&)> observer);
  /// Removes an observer.
  void remove_observer(std::uint64_t id);
  /// Terminates every actor (draining what was sent), then stops the executor; Timeout when the deadline
  /// passed (stragglers' messages are dead-lettered and stuck threads are abandoned, never joined forever).
  Status shutdown(std::chrono::milliseconds deadline = std::chrono::milliseconds(2000));
  /// True until shutdown starts.
  [[nodiscard]] bool running() const noexcept;

  // --- checkpoint support (src/core/snapshot.cpp; include ringkernel/checkpoint/snapshot.hpp to use) ---
  /// Captures the whole actor system at a consistent cut: every actor is paused at a message boundary, states,
  /// control blocks, queued messages, the HLC and names are copied, and the paused actors run again.
  /// Every actor's type must be in `catalog`; Timeout when actors do not pause within `timeout`.
  [[nodiscard]] Result<SystemSnapshot> snapshot(const ActorCatalog& catalog,
                                                std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  /// Rebuilds `snap` in this runtime, which must have no actors yet; ids, names, states, queued messages and the
  /// HLC are restored. Validates everything first: on error nothing was launched.
  [[nodiscard]] Status restore_snapshot(const SystemSnapshot& snap, const ActorCatalog& catalog);
  /// snapshot() for streaming checkpoints: trivially copyable states of at least `stream_min_bytes` are not
  /// copied (their ActorSnapshot::streamed_size is set instead); `consume` reads them through the StateReader
  /// while every actor stays paused, and the actors run again once it returns. Returns consume's status.
  [[nodiscard]] Status snapshot_streamed(const ActorCatalog& catalog, std::size_t stream_min_bytes,
                                         const std::function<Status(SystemSnapshot&, StateReader&)>& consume,
                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  // --- end checkpoint support ---

  /// Move constructor; the moved-from runtime is empty (its destructor does nothing).
  Runtime(Runtime&&) noexcept;
  /// Move assignment (shuts down the runtime being replaced).
  Runtime& operator=(Runtime&&) noexcept;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  /// Built by RuntimeBuilder.
  explicit Runtime(std::shared_ptr<detail::RuntimeState> state) noexcept;

private:
  std::shared_ptr<detail::RuntimeState> state_;
};

inline Result<Runtime> RuntimeBuilder::build() const {
  detail::ExecutorFactories f;
  f.cpu = &detail::make_cpu_executor;
#if defined(RINGKERNEL_HAS_CUDA)
  f.cuda = &detail::make_cuda_executor;
#endif
#if defined(RINGKERNEL_HAS_WEBGPU)  // [webgpu wiring]
  f.webgpu = &detail::make_webgpu_executor;
#endif
  return detail::build_runtime(cfg_, f);
}

} // namespace ringkernel
