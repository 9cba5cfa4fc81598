// Private to the library: the runtime's shared state, the per-actor cell, and the executor interface that a
// backend implements. Not installed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ringkernel/runtime.hpp"
#include "ringkernel/ring.hpp"

namespace ringkernel::detail {

struct ActorCell;
struct RuntimeState;

/// What a backend provides: threads (or a device) that run cells. The runtime owns message routing,
/// lifecycle and supervision; the executor only decides when and where `RuntimeState::drain` runs.
class Executor {
public:
  virtual ~Executor() = default;
  /// Number of workers.
  [[nodiscard]] virtual unsigned workers() const noexcept = 0;
  /// Chooses a worker for a new cell (sets cell.worker).
  virtual void attach(ActorCell& cell) = 0;
  /// The cell has work; make sure a worker will drain it soon. Safe from any thread.
  virtual void schedule(ActorCell& cell) = 0;
  /// Stops the workers; false if some did not stop by `deadline` (they are abandoned, not joined).
  virtual bool stop(std::chrono::steady_clock::time_point deadline) = 0;

  // --- device executors (handlers run on an accelerator, not in drain) ---
  /// True when handlers run on host threads through RuntimeState::drain.
  [[nodiscard]] virtual bool hosts_handlers() const noexcept { return true; }
  /// Memory for a cell's inbox (device executors hand out memory the device can read).
  [[nodiscard]] virtual RingAllocator inbox_allocator() { return {}; }
  /// Ring kind of mailboxes: the CUDA executor's are LL rings, which its kernels read in one PCIe round trip.
  [[nodiscard]] virtual RingKind inbox_kind() const { return RingKind::Mpsc; }
  /// A caller that polled `cell`'s device->host traffic itself (call/receive) stops and will wait instead.
  virtual void poller_left(ActorCell& /*cell*/) {}
  /// Validates and reserves device resources for a new cell before it becomes visible.
  virtual Status prepare(ActorCell& /*cell*/) { return {}; }
  /// Applies a lifecycle step on the device: copies `host_state` into the slot (Load), or activates,
  /// deactivates or unloads it. Waits for the device's acknowledgement (bounded).
  virtual Status device_command(ActorCell& /*cell*/, int /*slot_command*/, const void* /*host_state*/) { return {}; }
  /// The first queued stop-type command's barrier changed: the device must not consume beyond `limit`.
  virtual void set_limit(ActorCell& /*cell*/, std::uint64_t /*limit*/) {}
  /// Releases the cell's device resources once it is terminated.
  virtual void release(ActorCell& /*cell*/) {}
  /// Delivers the cell's pending device->host messages in the calling thread (replies complete their calls,
  /// the rest go to the host receive queue), so a caller or receiver that is waiting anyway does not wait for
  /// a pump thread's hop. Returns how many were delivered; 0 for executors without such traffic.
  virtual std::uint32_t poll_deliveries(ActorCell& /*cell*/) { return 0; }
  /// Fills the device memory fields of `m` (device executors only).
  virtual void device_memory(RuntimeMetrics& /*m*/) const {}
  /// Messages the cell's handlers have processed, read from the device itself (fresher than the copy a
  /// pump thread keeps in the control block); nullopt when handlers run on the host.
  [[nodiscard]] virtual std::optional<std::uint64_t> device_processed(const ActorCell& /*cell*/) const {
    return std::nullopt;
  }

  // --- checkpoint support (src/core/snapshot.cpp) ---
  /// Called for a paused cell before its state is serialized: a device executor copies the actor's state from
  /// device memory into `cell.state` (host-representable, same layout) so the checkpoint sees the live values.
  /// Host executors keep `cell.state` current and do nothing.
  virtual Status sync_state_to_host(ActorCell& /*cell*/) { return {}; }
  /// Copies `dst.size()` bytes of a paused cell's live state, starting at byte `offset`, into `dst` (the state
  /// is trivially copyable; the caller keeps offset + size within it). Lets a checkpoint stream a large state
  /// in segments instead of materializing it: host executors copy from `cell.state`, device executors from
  /// device memory (fastest into a buffer from host_staging()).
  virtual Status read_state(ActorCell& cell, std::size_t offset, std::span<std::byte> dst);
  /// Host memory for staging state transfers, `bytes` long: page-locked where the device copies faster from
  /// and into it, plain memory otherwise. Never null (throws std::bad_alloc).
  [[nodiscard]] virtual std::shared_ptr<std::byte[]> host_staging(std::size_t bytes);
  /// Appends to `out`, oldest first, the messages queued for `cell` in queues the executor keeps on its device
  /// (CUDA: the K2K inbox in device memory and the shared-memory cluster inbox), without consuming them. The
  /// actor must not be processing (paused, or unloaded). With `close` (the actor is terminating) senders are
  /// refused from then on, so nothing arrives after the copy. Host executors queue everything in the mailbox.
  virtual Status device_inbox(ActorCell& /*cell*/, bool /*close*/, std::vector<Envelope>& /*out*/) { return {}; }
  // --- end checkpoint support ---
};

/// The published messages of an MPSC ring in host-readable memory (a live host ring, or a copy of a device
/// ring), from its tail, without consuming them; stops at the first unpublished position.
std::vector<Envelope> peek_ring(const RingView& v);


/// Set by the CUDA component when it is linked in: true when a CUDA device is usable.
inline bool (*g_cuda_probe)() = nullptr;
/// [webgpu wiring] Set by the WebGPU component when it is linked in: true when a WebGPU adapter is usable.
inline bool (*g_webgpu_probe)() = nullptr;
/// Set by the CUDA component: true when the program registered device code for some actor type
/// (RINGKERNEL_CUDA_ACTOR), i.e. it was built to run actors on the GPU.
inline bool (*g_cuda_has_device_actors)() = nullptr;

/// Slot commands a device executor understands (values match cuda::SlotCommand).
inline constexpr int kDeviceLoad = 1;
inline constexpr int kDeviceActivate = 2;
inline constexpr int kDeviceDeactivate = 3;
inline constexpr int kDeviceUnload = 4;
/// Load, then Activate, acknowledged once (an auto-activated actor's start and restart: one device round trip
/// instead of two). Not a cuda::SlotCommand value: executors map it.
inline constexpr int kDeviceLoadActive = 16;
/// Or'ed into kDeviceLoad / kDeviceLoadActive for a restart: the device runs the running instance's on_stop and
/// then loads the new one, acknowledged once (instead of kDeviceUnload, then a load).
inline constexpr int kDeviceReload = 32;

/// Lifecycle commands, applied by the owning worker at a message boundary.
enum class Command : std::uint8_t { Start, Activate, Deactivate, Terminate, Kill, Restart, Fail };

struct PendingCommand {
  Command cmd;
  std::uint64_t barrier;  // applied once the mailbox tail reaches this position (messages sent before it)
  bool urgent;            // apply at the next boundary regardless of the barrier
  std::string reason;
};

/// Everything the runtime knows about one actor.
struct ActorCell {
  ActorId id = 0;
  std::string name;
  ActorId parent = kHostActor;
  LaunchOptions opts;
  ActorType type;
  ControlBlock cb{};
  OwnedRing inbox;
  OwnedRing outbox;
  void* device = nullptr;  // executor-private per-cell data (device slot), owned by the executor
  WatermarkGauge gauge;
  void* state = nullptr;
  unsigned worker = 0;
  std::uint64_t launch_seq = 0;  // order among siblings (RestForOne)

  std::atomic<bool> scheduled{false};
  std::mutex consumer_mu;  // one consumer of the inbox at a time (worker drain, DropOldest eviction)
  std::atomic<std::uint32_t> evictors{0};  // DropOldest senders waiting for consumer_mu: drain yields it

  std::mutex ctl_mu;
  std::deque<PendingCommand> commands;
  bool device_active = false;  // loaded active on the device (kDeviceLoadActive); the Activate that follows has no device step
  std::optional<Command> applying;  // taken off `commands` by apply_commands and not yet applied (under ctl_mu)
  std::uint64_t applying_barrier = 0;  // its barrier: the device limit holds until it is applied (under ctl_mu)
  std::atomic<std::uint32_t> pending_commands{0};
  std::atomic<std::uint64_t> next_barrier{UINT64_MAX};
  // A device ordering limit is set (a stop-type command is queued): sends stamp msg_flags::kAfterCommand.
  std::atomic<bool> device_limited{false};
  // Messages an executor took from the inbox but has not run yet (WebGPU: in a batch in flight, or kept behind a
  // failure for the restarted instance). Raised before the inbox tail moves past them, so a command whose
  // barrier the tail has reached still waits for them, as it waits for queued messages.
  std::atomic<std::uint64_t> held_back{0};
  ActorState projected = ActorState::Created;  // state after all queued commands (under ctl_mu)
  std::atomic<bool> suspended{false};
  std::atomic<bool> terminate_requested{false};
  std::atomic<std::uint32_t> inflight_sends{0};  // sends between their termination check and their push
  std::atomic<std::uint32_t> direct_pollers{0};  // host threads polling the device->host ring themselves
  // The receive queue's producers: deliveries in progress, and closed once the actor is finished (a late
  // delivery fails), so that its slots can go back.
  std::atomic<std::uint32_t> outbox_pushers{0};
  std::atomic<bool> outbox_closed{false};

  // Host-side receive queue waiters.
  // The receiving thread takes out_mu on every receive; delivering threads read out_waiters after every
  // batch: apart, so that the two do not pass one cache line back and forth.
  alignas(64) std::mutex out_mu;
  std::condition_variable out_cv;
  alignas(64) std::atomic<std::uint32_t> out_waiters{0};
  // Waiters for state changes.
  std::mutex state_mu;
  std::condition_variable state_cv;

  // Counters.
  std::atomic<std::uint64_t> received{0}, sent{0}, dropped{0}, rejected{0}, tenant_violations{0}, stalls{0};
  std::atomic<std::uint64_t> handler_started_ns{0};
  std::atomic<bool> stall_flagged{false};
  LatencyHistogram handler_latency;

  // Supervision of this cell's children (under RuntimeState::tree_mu).
  std::vector<ActorId> children;
  RestartBudget child_budget;

  ActorCell(OwnedRing in, OwnedRing out, const LaunchOptions& o)
      : opts(o), inbox(std::move(in)), outbox(std::move(out)),
        gauge(o.mailbox_capacity, o.backpressure.high_water, o.backpressure.low_water),
        child_budget(o.supervision) {}
};

/// Counts a producer in progress for as long as it lives: a send into a mailbox (ActorCell::inflight_sends) or a
/// delivery into a receive queue (ActorCell::outbox_pushers). Announced before the producer checks whether the
/// queue is still open (terminate_requested, outbox_closed), so that whoever closes it and then waits for the
/// count to drop to zero knows that no producer is still writing.
class InProgress {
public:
  explicit InProgress(std::atomic<std::uint32_t>& count) : count_(count) { count_.fetch_add(1); }
  ~InProgress() { count_.fetch_sub(1); }
  InProgress(const InProgress&) = delete;
  InProgress& operator=(const InProgress&) = delete;

private:
  std::atomic<std::uint32_t>& count_;
};

struct PendingCall {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> done{false};
  /// No thread but the caller touches the record any more (complete_call's last act, or the caller's when it
  /// took the call out of the table itself): the caller's thread may reuse it for its next call.
  std::atomic<bool> released{false};
  Result<Envelope> result{make_error(ErrorCode::Timeout, "no reply yet")};
};

/// The runtime's shared state; handles keep it alive.
struct RuntimeState : std::enable_shared_from_this<RuntimeState> {
  explicit RuntimeState(const RuntimeConfig& c);
  ~RuntimeState();

  RuntimeConfig cfg;
  Backend backend = Backend::Cpu;
  HlcClock clock;
  Registry registry;
  PubSub pubsub;
  DeadLetterQueue dlq;
  std::unique_ptr<Executor> exec;

  // Actor table: ids index `table`; cells are owned by `cells` and live until the runtime is destroyed, so a
  // pointer read from `table` never dangles.
  std::unique_ptr<std::atomic<ActorCell*>[]> table;
  std::atomic<std::uint32_t> next_id{1};
  std::atomic<std::uint64_t> next_launch_seq{1};
  mutable std::mutex cells_mu;
  std::vector<std::unique_ptr<ActorCell>> cells;

  mutable std::mutex tree_mu;  // parent/children links and restart budgets
  RestartBudget root_budget;

  std::mutex calls_mu;
  std::unordered_map<std::uint32_t, std::shared_ptr<PendingCall>> calls;
  std::atomic<std::uint32_t> next_correlation{1};

  std::mutex observers_mu;
  std::vector<std::pair<std::uint64_t, std::function<void(const RuntimeEvent&)>>> observers;
  std::uint64_t next_observer = 1;

  std::atomic<std::uint64_t> next_message_id{1};
  std::atomic<bool> shutting_down{false};
  std::atomic<bool> stopped{false};

  // Runtime-wide counters not derivable from cells.
  std::atomic<std::uint64_t> launched{0}, failures{0}, restarts{0}, tenant_violations{0}, calls_done{0},
      call_timeouts{0}, dead_letters{0};
  LatencyHistogram call_latency;

  std::thread watchdog;
  std::mutex watchdog_mu;
  std::condition_variable watchdog_cv;

  // --- used by handles and contexts ---
  ActorCell* cell(ActorId id) const noexcept;
  Result<ActorId> launch(ActorId parent, std::string_view name, const LaunchOptions& opts, ActorType type);
  Status send(ActorCell* from, ActorId to, TypeId type, const void* payload, std::size_t len,
              const SendOptions& opts, std::uint32_t correlation, std::uint8_t flags);
  Result<std::size_t> send_many(ActorId to, TypeId type, const void* payloads, std::size_t len, std::size_t count,
                                const SendOptions& opts);
  Status deliver_envelope(ActorId to, const Envelope& env);
  Status command(ActorCell& c, Command cmd, bool urgent, std::string reason = {});
  void dead_letter(const MessageHeader& h, const std::byte* payload, DeadLetterReason reason, std::string detail);
  void emit(RuntimeEvent::Kind kind, const ActorCell& c, std::string detail);
  bool complete_call(std::uint32_t correlation, Result<Envelope> result);  // false: no such call pending
  ActorStatus status_of(const ActorCell& c) const;
  Status shutdown(std::chrono::milliseconds deadline);

  // --- used by the executor, on the worker that owns the cell ---
  std::size_t drain(ActorCell& c, unsigned budget);
  bool has_work(ActorCell& c) const noexcept;
  /// A message an actor addressed to the host (a device executor's K2H traffic): completes a pending call
  /// or lands in the actor's host receive queue.
  /// `record`: a failure becomes a dead letter (not for a replay's resend, which re-queues the letter itself).
  Status deliver_to_host(ActorCell& from, MessageHeader h, const std::byte* payload, bool record = true);
  /// deliver_to_host for `n` consecutive ring slots (header + payload each): the messages that are not call
  /// replies enter the host receive queue with one claim and one wake-up (the receiver merges the clock).
  void deliver_many_to_host(ActorCell& from, const std::byte* const* slots, std::uint32_t n);
  /// A device handler failed on `failed_message` (header + payload, may be null): dead-letter it, supervise.
  void device_failed(ActorCell& c, const std::byte* failed_message, const std::string& reason);

private:
  void apply_commands(ActorCell& c);
  void update_device_limit(ActorCell& c) const;  // under c.ctl_mu
  void apply(ActorCell& c, const PendingCommand& cmd);
  bool handle_one(ActorCell& c, const MessageHeader& h, const std::byte* payload, std::string* reason);
  void on_failure(ActorCell& c, const std::string& reason);
  void restart(ActorCell& c, std::string reason);
  void finish(ActorCell& c, bool kill, std::string reason);
  void run_hook(ActorCell& c, void (*hook)(void*, Context&));
  void set_state(ActorCell& c, ActorState to);

public:
  void watchdog_loop();
};

std::uint64_t steady_ns() noexcept;

/// Split heap rings whose slots, once handed back (OwnedRing::release_slots), go to the next ring of that size
/// rather than to the system (src/core/ring_pool.cpp): host receive queues, and the CPU backend's mailboxes.
RingAllocator pooled_heap_rings();

/// Hands a terminated actor's receive queue slots back once nothing is left in it (call with out_mu held).
void release_drained_queue(ActorCell& c);

} // namespace ringkernel::detail
