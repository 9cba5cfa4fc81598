// The backend-neutral actor runtime: launching, routing, lifecycle commands, supervision, calls, shutdown.
// Executors (src/cpu, later src/cuda) decide where `drain` runs; everything else lives here.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "core/runtime_state.hpp"

namespace ringkernel {

std::string_view to_string(ActorState state) noexcept {
  switch (state) {
    case ActorState::Created: return "created";
    case ActorState::Launched: return "launched";
    case ActorState::Active: return "active";
    case ActorState::Deactivated: return "deactivated";
    case ActorState::Terminating: return "terminating";
    case ActorState::Terminated: return "terminated";
    case ActorState::Failed: return "failed";
  }
  return "unknown";
}

std::string_view to_string(Backend b) noexcept {
  switch (b) {
    case Backend::Auto: return "auto";
    case Backend::Cpu: return "cpu";
    case Backend::Cuda: return "cuda";
    case Backend::WebGpu: return "webgpu";
    case Backend::Metal: return "metal";
  }
  return "unknown";
}

Result<Backend> parse_backend(std::string_view name) {
  for (Backend b : {Backend::Auto, Backend::Cpu, Backend::Cuda, Backend::WebGpu, Backend::Metal}) {
    if (name == to_string(b)) return b;
  }
  return make_error(ErrorCode::InvalidArgument,
                    "unknown backend '" + std::string(name) + "' (expected auto, cpu, cuda, webgpu or metal)",
                    "parse_backend");
}

bool backend_available(Backend b) noexcept {
  if (b == Backend::Cpu || b == Backend::Auto) return true;
  if (b == Backend::Cuda) return detail::g_cuda_probe != nullptr && detail::g_cuda_probe();
  if (b == Backend::WebGpu) return detail::g_webgpu_probe != nullptr && detail::g_webgpu_probe();  // [webgpu wiring]
  return false;
}

std::string_view to_string(RuntimeEvent::Kind k) noexcept {
  using K = RuntimeEvent::Kind;
  switch (k) {
    case K::Launched: return "launched";
    case K::Activated: return "activated";
    case K::Deactivated: return "deactivated";
    case K::Suspended: return "suspended";
    case K::Resumed: return "resumed";
    case K::Failed: return "failed";
    case K::Restarted: return "restarted";
    case K::Terminated: return "terminated";
    case K::Escalated: return "escalated";
    case K::RestartLimit: return "restart_limit";
    case K::Stalled: return "stalled";
  }
  return "unknown";
}

namespace detail {

std::uint64_t steady_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// The actors whose host receive queues this thread holds locked (out_mu) while receive_each visitors run
// (visitors of different actors may nest).
thread_local std::vector<const ActorCell*> t_visiting;
bool visiting(const ActorCell& c) { return std::find(t_visiting.begin(), t_visiting.end(), &c) != t_visiting.end(); }

// Set by a dead-letter replay for the one send it makes: if that send fails, the replay re-queues the letter, so
// the send must not file another (a second copy would be delivered by the next replay). Taken by the first
// send() it reaches, so what that send sets off (commands applied inline, other deliveries) files as usual.
thread_local bool t_resending = false;

// A thread blocked in receive() re-checks its queue at least this often (see wake_receivers).
constexpr std::chrono::milliseconds kReceiveWaitSlice{1};

namespace {

// Wakes threads blocked in receive() on `c` after a message was queued. Taking and releasing out_mu keeps a
// waiter from missing the wake-up between its check and its wait; a thread that already holds it (a
// receive_each visitor of `c` whose lifecycle command drains the device) skips that: no waiter can be in the
// window while it holds the lock, and taking it again would deadlock.
void wake_receivers(ActorCell& c) {
  if (c.out_waiters.load() == 0) return;
  if (!visiting(c)) {
    // Not a blocking lock: its holder may be a receive_each visitor running user code, and the delivering
    // thread (often the pump, serving every actor) must not wait for it. A waiter that misses this wake-up
    // because it was between its check and its wait re-checks within kReceiveWaitSlice.
    std::unique_lock lk(c.out_mu, std::try_to_lock);
  }
  c.out_cv.notify_all();
}

Envelope envelope_of(const MessageHeader& h, const std::byte* payload) {
  Envelope e;
  e.header = h;
  e.payload.assign(payload, payload + h.payload_len);
  return e;
}

ErrorCode code_for(DeadLetterReason r) {
  switch (r) {
    case DeadLetterReason::ActorNotFound: return ErrorCode::ActorNotFound;
    case DeadLetterReason::ActorTerminated: return ErrorCode::ActorTerminated;
    case DeadLetterReason::QueueFull: return ErrorCode::QueueFull;
    case DeadLetterReason::HandlerFailed: return ErrorCode::HandlerFailed;
    case DeadLetterReason::TenantViolation: return ErrorCode::TenantViolation;
    case DeadLetterReason::UnknownMessageType: return ErrorCode::UnknownMessageType;
    case DeadLetterReason::DroppedOldest: return ErrorCode::Dropped;
    case DeadLetterReason::Expired: return ErrorCode::Timeout;
    case DeadLetterReason::Shutdown: return ErrorCode::ShuttingDown;
    case DeadLetterReason::RetriesExhausted: return ErrorCode::Dropped;
    case DeadLetterReason::TooLarge: return ErrorCode::MessageTooLarge;
  }
  return ErrorCode::Internal;
}

// State after applying `cmd` to `s` (used to validate commands against what is already queued).
ActorState project(ActorState s, Command cmd, bool auto_activate) {
  switch (cmd) {
    case Command::Start: return s == ActorState::Created ? ActorState::Launched : s;
    case Command::Activate: return ActorState::Active;
    case Command::Deactivate: return ActorState::Deactivated;
    case Command::Terminate:
    case Command::Kill: return ActorState::Terminated;
    case Command::Restart: return auto_activate ? ActorState::Active : ActorState::Launched;
    case Command::Fail: return ActorState::Failed;
  }
  return s;
}

std::string_view command_name(Command c) {
  switch (c) {
    case Command::Start: return "start";
    case Command::Activate: return "activate";
    case Command::Deactivate: return "deactivate";
    case Command::Terminate: return "terminate";
    case Command::Kill: return "kill";
    case Command::Restart: return "restart";
    case Command::Fail: return "fail";
  }
  return "?";
}

bool is_final(ActorState s) { return s == ActorState::Terminating || s == ActorState::Terminated; }

// An actor's own HLC lives in its control block. Its worker steps it, but so can other threads (a dead-letter
// replay or a retained pub/sub message is re-sent on behalf of its original sender), so every step is a CAS:
// a load + store pair could overwrite a concurrent step and move the clock backwards.
std::uint64_t actor_clock_tick(ControlBlock& cb) noexcept {
  std::uint64_t current = detail::load_relaxed(&cb.hlc);
  std::uint64_t next = 0;
  do {
    next = hlc_next_tick(current, system_physical_ms());
  } while (!detail::compare_exchange_weak(&cb.hlc, current, next));
  return next;
}

// Merges a received timestamp into an actor's HLC (a receive event); returns the new value.
std::uint64_t actor_clock_merge(ControlBlock& cb, std::uint64_t received) noexcept {
  std::uint64_t current = detail::load_relaxed(&cb.hlc);
  std::uint64_t next = 0;
  do {
    next = hlc_next_update(current, received, system_physical_ms());
  } while (!detail::compare_exchange_weak(&cb.hlc, current, next));
  return next;
}

} // namespace

RuntimeState::RuntimeState(const RuntimeConfig& c)
    : cfg(c),
      clock(c.node_id, static_cast<std::uint64_t>(c.max_clock_drift.count())),
      pubsub([this](ActorId to, const std::string&, const Envelope& env) { return deliver_envelope(to, env); }),
      dlq(c.dead_letter_capacity, c.dead_letter_max_retries),
      table(new std::atomic<ActorCell*>[static_cast<std::size_t>(c.max_actors) + 1]),
      root_budget(c.root_supervision) {
  for (std::size_t i = 0; i <= c.max_actors; ++i) table[i].store(nullptr, std::memory_order_relaxed);
}

RuntimeState::~RuntimeState() {
  if (watchdog.joinable()) {
    {
      std::lock_guard lk(watchdog_mu);
      stopped.store(true);
    }
    watchdog_cv.notify_all();
    watchdog.join();
  }
  for (auto& c : cells) {
    if (c->state != nullptr && c->type.destroy != nullptr) c->type.destroy(c->state);
    c->state = nullptr;
  }
}

ActorCell* RuntimeState::cell(ActorId id) const noexcept {
  if (id == kHostActor || id > cfg.max_actors) return nullptr;
  return table[id].load(std::memory_order_acquire);
}

void RuntimeState::emit(RuntimeEvent::Kind kind, const ActorCell& c, std::string detail) {
  std::vector<std::function<void(const RuntimeEvent&)>> copy;
  {
    std::lock_guard lk(observers_mu);
    if (observers.empty()) return;
    for (auto& [id, fn] : observers) copy.push_back(fn);
  }
  RuntimeEvent ev{kind, c.id, c.name, std::move(detail), clock.peek()};
  for (auto& fn : copy) fn(ev);
}

void RuntimeState::dead_letter(const MessageHeader& h, const std::byte* payload, DeadLetterReason reason,
                               std::string detail) {
  // Dead-letter first, then fail the pending call: a caller that sees the error finds the letter.
  const bool answer = (h.flags & msg_flags::kExpectsReply) != 0 && h.source == kHostActor && h.correlation_id != 0;
  Error err = answer ? make_error(code_for(reason), detail, "call") : Error(ErrorCode::Ok, {});
  dlq.push(envelope_of(h, payload), reason, std::move(detail));
  dead_letters.fetch_add(1, std::memory_order_relaxed);
  if (answer) complete_call(h.correlation_id, std::move(err));
}

bool RuntimeState::complete_call(std::uint32_t correlation, Result<Envelope> result) {
  std::shared_ptr<PendingCall> pc;
  {
    std::lock_guard lk(calls_mu);
    auto it = calls.find(correlation);
    if (it == calls.end()) return false;
    pc = std::move(it->second);
    calls.erase(it);
  }
  {
    std::lock_guard lk(pc->mu);
    pc->result = std::move(result);
    pc->done.store(true, std::memory_order_release);
  }
  pc->cv.notify_all();
  pc->released.store(true, std::memory_order_release);
  return true;
}

void RuntimeState::set_state(ActorCell& c, ActorState to) {
  if (lifecycle_transition(c.cb, to) == ErrorCode::Ok) {
    { std::lock_guard lk(c.state_mu); }
    c.state_cv.notify_all();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Launch

Result<ActorId> RuntimeState::launch(ActorId parent_id, std::string_view name, const LaunchOptions& opts,
                                     ActorType type) {
  const std::string ctx = "launch '" + std::string(name) + "'";
  if (shutting_down.load()) return make_error(ErrorCode::ShuttingDown, "runtime is shutting down", ctx);
  if (auto v = Registry::validate_name(name); !v) return v.error().with_context(ctx);
  if (ring_check_geometry(opts.mailbox_capacity, opts.slot_size) != ErrorCode::Ok) {
    return make_error(ErrorCode::InvalidArgument,
                      "mailbox_capacity " + std::to_string(opts.mailbox_capacity) +
                          " must be a power of two >= 2 and slot_size " + std::to_string(opts.slot_size) +
                          " a multiple of 64 in [64, 65536]",
                      ctx);
  }
  if (ring_check_geometry(opts.outbox_capacity, opts.slot_size) != ErrorCode::Ok) {
    return make_error(ErrorCode::InvalidArgument,
                      "outbox_capacity " + std::to_string(opts.outbox_capacity) + " must be a power of two >= 2",
                      ctx);
  }
  if (type.largest_message + sizeof(MessageHeader) > opts.slot_size) {
    return make_error(ErrorCode::MessageTooLarge,
                      "actor type '" + type.type_name + "' handles a " + std::to_string(type.largest_message) +
                          "-byte message but slot_size " + std::to_string(opts.slot_size) + " holds at most " +
                          std::to_string(opts.slot_size - sizeof(MessageHeader)) + " payload bytes",
                      ctx);
  }
  const auto& bp = opts.backpressure;
  if (!(bp.high_water > 0.0 && bp.high_water <= 1.0 && bp.low_water > 0.0 && bp.low_water <= bp.high_water)) {
    return make_error(ErrorCode::InvalidArgument, "backpressure water marks must satisfy 0 < low <= high <= 1", ctx);
  }
  if (!type.create || type.destroy == nullptr || type.dispatch == nullptr) {
    return make_error(ErrorCode::InvalidArgument, "actor type is incomplete", ctx);
  }
  ActorCell* parent = nullptr;
  LaunchOptions o = opts;
  if (parent_id != kHostActor) {
    parent = cell(parent_id);
    if (parent == nullptr) return make_error(ErrorCode::ActorNotFound, "parent actor does not exist", ctx);
    if (o.tenant == kSystemTenant) o.tenant = parent->opts.tenant;
    if (parent->opts.tenant != kSystemTenant && o.tenant != parent->opts.tenant) {
      return make_error(ErrorCode::TenantViolation, "a child must belong to its parent's tenant", ctx);
    }
  }

  auto in = OwnedRing::create(exec->inbox_kind(), o.mailbox_capacity, o.slot_size, exec->inbox_allocator());
  if (!in) return in.error().with_context(ctx);
  auto out = OwnedRing::create(RingKind::Mpsc, o.outbox_capacity, o.slot_size, pooled_heap_rings());
  if (!out) return out.error().with_context(ctx);

  const ActorId id = next_id.fetch_add(1);
  if (id > cfg.max_actors) {
    return make_error(ErrorCode::InvalidArgument,
                      "actor table is full (max_actors = " + std::to_string(cfg.max_actors) + ")", ctx);
  }
  auto owned = std::make_unique<ActorCell>(std::move(in).value(), std::move(out).value(), o);
  ActorCell& c = *owned;
  c.id = id;
  c.name = std::string(name);
  c.parent = parent_id;
  c.type = std::move(type);
  c.cb.actor_id = id;
  c.cb.state = static_cast<std::uint32_t>(ActorState::Created);
  c.launch_seq = next_launch_seq.fetch_add(1);
  try {
    c.state = c.type.create();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::HandlerFailed, std::string("actor constructor threw: ") + e.what(), ctx);
  } catch (...) {
    return make_error(ErrorCode::HandlerFailed, "actor constructor threw", ctx);
  }
  if (auto p = exec->prepare(c); !p) {
    c.type.destroy(c.state);
    c.state = nullptr;
    return p.error().with_context(ctx);
  }
  if (auto b = registry.bind(name, id); !b) {
    exec->release(c);
    c.type.destroy(c.state);
    c.state = nullptr;
    return b.error().with_context(ctx);
  }
  {
    std::lock_guard lk(tree_mu);
    if (parent != nullptr) parent->children.push_back(id);
  }
  exec->attach(c);
  {
    std::lock_guard lk(cells_mu);
    cells.push_back(std::move(owned));
  }
  table[id].store(&c, std::memory_order_release);
  launched.fetch_add(1, std::memory_order_relaxed);
  (void)command(c, Command::Start, false);
  if (o.auto_activate) (void)command(c, Command::Activate, false);
  return id;
}

// ---------------------------------------------------------------------------------------------------------
// Lifecycle commands

Status RuntimeState::command(ActorCell& c, Command cmd, bool urgent, std::string reason) {
  const std::string ctx = std::string(command_name(cmd)) + " '" + c.name + "'";
  {
    std::lock_guard lk(c.ctl_mu);
    ActorState p = control_state(c.cb);
    // The command being applied right now has left the queue but may not show in the state yet.
    if (c.applying) p = project(p, *c.applying, c.opts.auto_activate);
    for (const auto& q : c.commands) p = project(p, q.cmd, c.opts.auto_activate);
    const bool gone = is_final(p) || c.terminate_requested.load();
    switch (cmd) {
      case Command::Start:
        break;
      case Command::Activate:
        if (gone) return make_error(ErrorCode::ActorTerminated, "actor is terminated", ctx);
        if (p == ActorState::Active) return make_error(ErrorCode::IllegalTransition, "actor is already active", ctx);
        if (p == ActorState::Failed) {
          return make_error(ErrorCode::IllegalTransition, "actor has failed; restart it first", ctx);
        }
        break;
      case Command::Deactivate:
        if (gone) return make_error(ErrorCode::ActorTerminated, "actor is terminated", ctx);
        if (p != ActorState::Active && p != ActorState::Launched) {
          return make_error(ErrorCode::IllegalTransition,
                            "cannot deactivate an actor that is " + std::string(to_string(p)), ctx);
        }
        break;
      case Command::Terminate:
      case Command::Kill:
        if (gone) return make_error(ErrorCode::ActorTerminated, "actor is already terminating", ctx);
        c.terminate_requested.store(true);
        break;
      case Command::Restart:
      case Command::Fail:
        if (gone) return make_error(ErrorCode::ActorTerminated, "actor is terminated", ctx);
        break;
    }
    const std::uint64_t barrier = urgent ? 0 : detail::load_acquire(&c.inbox.view().control->head);
    c.commands.push_back(PendingCommand{cmd, barrier, urgent, std::move(reason)});
    c.pending_commands.fetch_add(1);
    if (barrier < c.next_barrier.load()) c.next_barrier.store(barrier);
    update_device_limit(c);
  }
  exec->schedule(c);
  return {};
}

void RuntimeState::apply_commands(ActorCell& c) {
  for (;;) {
    PendingCommand cmd;
    {
      std::lock_guard lk(c.ctl_mu);
      if (c.commands.empty()) {
        c.next_barrier.store(UINT64_MAX);
        return;
      }
      const PendingCommand& front = c.commands.front();
      const std::uint64_t tail = detail::load_acquire(&c.inbox.view().control->tail);
      // While not Active no message will move the tail, so commands apply at once; order with messages
      // matters only for an actor that is processing.
      const bool reached = front.barrier <= tail && c.held_back.load() == 0;
      if (!(front.urgent || reached || control_state(c.cb) != ActorState::Active)) {
        c.next_barrier.store(front.barrier);
        return;
      }
      cmd = std::move(c.commands.front());
      c.commands.pop_front();
      c.applying = cmd.cmd;
      c.applying_barrier = cmd.barrier;
      c.pending_commands.fetch_sub(1);
      c.next_barrier.store(c.commands.empty() ? UINT64_MAX
                                              : (c.commands.front().urgent ? 0 : c.commands.front().barrier));
    }
    apply(c, cmd);
    // Only now may a device run past this command's barrier: lifting the limit before the device has
    // acknowledged a deactivate would let it consume messages sent after the deactivate.
    std::lock_guard lk(c.ctl_mu);
    c.applying.reset();
    update_device_limit(c);
  }
}

void RuntimeState::update_device_limit(ActorCell& c) const {
  if (exec->hosts_handlers()) return;
  // A device consumes its inbox on its own; it must stop exactly where the first queued stop-type command
  // was issued so that the command is ordered with the messages around it.
  std::uint64_t limit = UINT64_MAX;
  const auto stops = [](Command cmd) { return cmd != Command::Start && cmd != Command::Activate; };
  for (const auto& q : c.commands) {
    if (stops(q.cmd)) limit = std::min(limit, q.barrier);
  }
  // The command being applied is off the queue but not yet acknowledged by the device: a command issued
  // meanwhile must not lift its limit.
  if (c.applying && stops(*c.applying)) limit = std::min(limit, c.applying_barrier);
  exec->set_limit(c, limit);
  // After the limit: a sender that sees this flag stamps its message, and a device that reads such a message
  // then reads this limit (or a later one).
  c.device_limited.store(limit != UINT64_MAX, std::memory_order_release);
}

void RuntimeState::run_hook(ActorCell& c, void (*hook)(void*, Context&)) {
  if (hook == nullptr || c.state == nullptr) return;
  if (!exec->hosts_handlers()) return;  // device actors run their hooks on the device
  MessageHeader none{};
  Context ctx(this, &c, &none);
  try {
    hook(c.state, ctx);
  } catch (...) {
    ctx.fail("lifecycle hook threw");
  }
  if (ctx.failed()) detail::store_relaxed(&c.cb.last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
}

void RuntimeState::apply(ActorCell& c, const PendingCommand& cmd) {
  const ActorState s = control_state(c.cb);
  if (s == ActorState::Terminated) return;
  switch (cmd.cmd) {
    case Command::Start:
      if (s == ActorState::Created) {
        // An auto-activated actor on a device is loaded active: launch() queues its Activate right behind.
        const bool active = c.opts.auto_activate && !exec->hosts_handlers();
        if (auto st = exec->device_command(c, active ? kDeviceLoadActive : kDeviceLoad, c.state); !st) {
          set_state(c, ActorState::Failed);
          emit(RuntimeEvent::Kind::Failed, c, st.error().describe());
          break;
        }
        c.device_active = active;
        run_hook(c, c.type.on_start);
        set_state(c, ActorState::Launched);
        emit(RuntimeEvent::Kind::Launched, c, c.type.type_name);
      }
      break;
    case Command::Activate:
      if (s == ActorState::Launched || s == ActorState::Deactivated) {
        const bool done = std::exchange(c.device_active, false) && s == ActorState::Launched;
        if (auto st = done ? Status{} : exec->device_command(c, kDeviceActivate, nullptr); !st) {
          emit(RuntimeEvent::Kind::Failed, c, st.error().describe());
          break;
        }
        set_state(c, ActorState::Active);
        emit(RuntimeEvent::Kind::Activated, c, {});
      }
      break;
    case Command::Deactivate:
      if (s == ActorState::Active || s == ActorState::Launched) {
        c.device_active = false;
        if (auto st = exec->device_command(c, kDeviceDeactivate, nullptr); !st) {
          emit(RuntimeEvent::Kind::Failed, c, st.error().describe());
          break;
        }
        set_state(c, ActorState::Deactivated);
        emit(RuntimeEvent::Kind::Deactivated, c, {});
      }
      break;
    case Command::Terminate: finish(c, false, cmd.reason); break;
    case Command::Kill: finish(c, true, cmd.reason); break;
    case Command::Restart: restart(c, cmd.reason); break;
    case Command::Fail:
      if (s != ActorState::Failed && s != ActorState::Terminating) on_failure(c, cmd.reason);
      break;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Executing messages

bool RuntimeState::has_work(ActorCell& c) const noexcept {
  const ActorState s = control_state(c.cb);
  if (c.pending_commands.load() != 0) {
    if (s != ActorState::Active) return true;
    if (c.next_barrier.load() <= detail::load_acquire(&c.inbox.view().control->tail) && c.held_back.load() == 0) {
      return true;
    }
  }
  if (s != ActorState::Active) return false;
  return MpscConsumer(c.inbox.view()).ready();
}

std::size_t RuntimeState::drain(ActorCell& c, unsigned budget) {
  std::lock_guard consumer(c.consumer_mu);
  if (!exec->hosts_handlers()) {
    // The device runs the handlers; the host side only applies lifecycle commands once they are due.
    if (c.pending_commands.load() != 0) apply_commands(c);
    return 0;
  }
  detail::store_relaxed(&c.cb.heartbeat_ns, steady_ns());
  std::size_t processed = 0;
  while (processed < budget) {
    if (c.pending_commands.load() != 0) apply_commands(c);
    if (control_state(c.cb) != ActorState::Active) break;
    const std::uint64_t tail = detail::load_acquire(&c.inbox.view().control->tail);
    // Read the barrier and the head together under ctl_mu (command() takes its barrier from the head under the
    // same lock): a command queued after this point has a barrier >= head, so popping no further than head
    // cannot run messages sent after that command. Reading the barrier alone and then popping whatever is
    // published would let messages sent after a deactivate()/terminate() slip past it.
    std::uint64_t barrier = UINT64_MAX;
    std::uint64_t head = 0;
    {
      std::lock_guard lk(c.ctl_mu);
      barrier = c.next_barrier.load();
      head = detail::load_acquire(&c.inbox.view().control->head);
    }
    std::uint64_t limit = std::min<std::uint64_t>(budget - processed, head > tail ? head - tail : 0);
    if (barrier != UINT64_MAX) {
      if (barrier <= tail) continue;  // a command is due: apply it first
      limit = std::min<std::uint64_t>(limit, barrier - tail);
    }
    bool failed = false;
    std::string reason;
    MpscConsumer consumer_side(c.inbox.view());
    const std::uint32_t n = consumer_side.pop_batch(
        static_cast<std::uint32_t>(limit), [&](const MessageHeader& h, const std::byte* p) -> bool {
          if (failed) return false;  // leave the rest queued for the restarted actor
          // A DropOldest sender needs the consumer side to evict: stop at this message boundary and let it in
          // (the executor reschedules the cell because it still has work).
          if (c.evictors.load(std::memory_order_acquire) != 0) return false;
          failed = !handle_one(c, h, p, &reason);
          return true;
        });
    processed += n;
    if (failed) {
      on_failure(c, reason);
      break;
    }
    if (n == 0 || c.evictors.load(std::memory_order_acquire) != 0) break;
  }
  return processed;
}

bool RuntimeState::handle_one(ActorCell& c, const MessageHeader& h, const std::byte* payload,
                              std::string* reason) {
  Context ctx(this, &c, &h);
  (void)actor_clock_merge(c.cb, h.hlc);
  const std::uint64_t t0 = steady_ns();
  c.handler_started_ns.store(t0, std::memory_order_relaxed);
  ErrorCode rc = ErrorCode::Ok;
  try {
    rc = c.type.dispatch(c.state, ctx, h, payload);
  } catch (const std::exception& e) {
    ctx.fail(std::string("handler threw: ") + e.what());
  } catch (...) {
    ctx.fail("handler threw a non-standard exception");
  }
  const std::uint64_t t1 = steady_ns();
  c.handler_started_ns.store(0, std::memory_order_relaxed);
  c.stall_flagged.store(false, std::memory_order_relaxed);
  c.handler_latency.record(t1 - t0);
  detail::fetch_add_relaxed(&c.cb.processed, std::uint64_t{1});
  if (rc == ErrorCode::UnknownMessageType || rc == ErrorCode::InvalidArgument) {
    dead_letter(h, payload, DeadLetterReason::UnknownMessageType,
                "actor '" + c.name + "' (" + c.type.type_name + ") has no handler for type " +
                    std::to_string(h.type_id) + " with a " + std::to_string(h.payload_len) + "-byte payload");
    return true;
  }
  if (ctx.failed()) {
    detail::fetch_add_relaxed(&c.cb.errors, std::uint64_t{1});
    detail::store_relaxed(&c.cb.last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
    failures.fetch_add(1, std::memory_order_relaxed);
    *reason = ctx.failure();
    dead_letter(h, payload, DeadLetterReason::HandlerFailed, "actor '" + c.name + "' failed: " + ctx.failure());
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Supervision

void RuntimeState::on_failure(ActorCell& c, const std::string& reason) {
  const ActorState s = control_state(c.cb);
  if (is_final(s) || s == ActorState::Failed) return;
  set_state(c, ActorState::Failed);
  emit(RuntimeEvent::Kind::Failed, c, reason);
  if (!c.opts.restartable) {
    finish(c, false, "not restartable: " + reason);
    return;
  }
  std::vector<ActorCell*> targets;
  ActorCell* escalate_to = nullptr;
  bool limit_hit = false;
  {
    std::lock_guard lk(tree_mu);
    ActorCell* parent = cell(c.parent);
    const SupervisorSpec& spec = parent != nullptr ? parent->opts.supervision : cfg.root_supervision;
    RestartBudget& budget = parent != nullptr ? parent->child_budget : root_budget;
    if (spec.strategy == SupervisionStrategy::Escalate) {
      escalate_to = parent;
    } else if (!budget.try_consume(std::chrono::steady_clock::now())) {
      limit_hit = true;
      escalate_to = parent;
    } else if (spec.strategy == SupervisionStrategy::OneForOne || parent == nullptr) {
      // The root keeps no sibling order for top-level actors; it restarts them one for one.
      targets.push_back(&c);
    } else {
      for (ActorId sib : parent->children) {
        ActorCell* s2 = cell(sib);
        if (s2 == nullptr) continue;
        if (spec.strategy == SupervisionStrategy::OneForAll || s2->launch_seq >= c.launch_seq) targets.push_back(s2);
      }
    }
  }
  if (limit_hit) emit(RuntimeEvent::Kind::RestartLimit, c, reason);
  if (targets.empty()) {
    if (escalate_to != nullptr) {
      emit(RuntimeEvent::Kind::Escalated, c, "to '" + escalate_to->name + "': " + reason);
      (void)command(*escalate_to, Command::Fail, true, "child '" + c.name + "' failed: " + reason);
    } else {
      emit(RuntimeEvent::Kind::Escalated, c, "to the root; actor left failed: " + reason);
    }
    return;
  }
  for (ActorCell* t : targets) {
    if (t == &c) {
      restart(c, reason);
    } else {
      (void)command(*t, Command::Restart, true, "sibling '" + c.name + "' failed");
    }
  }
}

void RuntimeState::restart(ActorCell& c, std::string reason) {
  const ActorState s = control_state(c.cb);
  if (is_final(s) || c.terminate_requested.load()) return;
  std::vector<ActorId> kids;
  {
    std::lock_guard lk(tree_mu);
    kids = c.children;
  }
  for (ActorId k : kids) {
    if (ActorCell* kc = cell(k)) (void)command(*kc, Command::Kill, true, "parent '" + c.name + "' restarting");
  }
  // A healthy instance stops first: its on_stop here for host executors; on a device it is part of the reload
  // below (on_stop there, then the new instance loads: one acknowledged device command). Failed is published
  // once the old instance no longer runs anywhere.
  const bool healthy = s != ActorState::Failed;
  if (healthy) run_hook(c, c.type.on_stop);
  void* fresh = nullptr;
  try {
    fresh = c.type.create();
  } catch (...) {
    if (healthy) (void)exec->device_command(c, kDeviceUnload, nullptr);  // stopped, as a restart would have
    if (c.state != nullptr) c.type.destroy(c.state);
    c.state = nullptr;
    set_state(c, ActorState::Failed);
    emit(RuntimeEvent::Kind::Failed, c, "constructor threw during restart; actor left failed");
    return;
  }
  // Counted before the device loads the fresh instance: once loaded it answers queued messages at once, and a
  // caller that sees such a reply must see the restart in the metrics too. A reload the device refuses still
  // counts (the restart was made; the actor is then left failed); a constructor that threw above did not get
  // that far and does not.
  detail::fetch_add_relaxed(&c.cb.restarts, std::uint32_t{1});
  restarts.fetch_add(1, std::memory_order_relaxed);
  // Loaded active in one device round trip when the actor activates itself.
  const int load = (c.opts.auto_activate ? kDeviceLoadActive : kDeviceLoad) | (healthy ? kDeviceReload : 0);
  const Status loaded = exec->device_command(c, load, fresh);
  if (c.state != nullptr) c.type.destroy(c.state);
  c.state = fresh;
  set_state(c, ActorState::Failed);
  if (!loaded) {
    emit(RuntimeEvent::Kind::Failed, c, "device reload failed: " + loaded.error().describe());
    return;
  }
  c.device_active = false;
  set_state(c, ActorState::Launched);
  run_hook(c, c.type.on_start);
  if (c.opts.auto_activate) set_state(c, ActorState::Active);
  emit(RuntimeEvent::Kind::Restarted, c, std::move(reason));
  exec->schedule(c);
}

void RuntimeState::finish(ActorCell& c, bool kill, std::string reason) {
  const ActorState s = control_state(c.cb);
  if (is_final(s)) return;
  c.terminate_requested.store(true);
  // Senders that passed their termination check before the flag was raised are still pushing: wait for
  // them (bounded: no sender blocks while terminate_requested is set), so the drain below sees their messages.
  while (c.inflight_sends.load() != 0) std::this_thread::yield();
  std::vector<ActorId> kids;
  {
    std::lock_guard lk(tree_mu);
    kids = c.children;
  }
  for (ActorId k : kids) {
    if (ActorCell* kc = cell(k)) (void)command(*kc, Command::Kill, true, "parent '" + c.name + "' terminated");
  }
  set_state(c, ActorState::Terminating);
  if (s != ActorState::Created && s != ActorState::Failed) run_hook(c, c.type.on_stop);
  if (s != ActorState::Created) (void)exec->device_command(c, kDeviceUnload, nullptr);
  // Whatever is still queued was sent after terminate() (or is being killed): dead-letter it.
  const DeadLetterReason why = shutting_down.load() ? DeadLetterReason::Shutdown : DeadLetterReason::ActorTerminated;
  MpscConsumer rest(c.inbox.view());
  while (rest.pop_batch(64, [&](const MessageHeader& h, const std::byte* p) {
    c.dropped.fetch_add(1, std::memory_order_relaxed);
    dead_letter(h, p, why, (kill ? "killed: " : "terminated: ") + c.name);
  }) != 0) {
  }
  // So is what other device actors queued for it on the device (closed first, so nothing arrives after).
  std::vector<Envelope> device_queued;
  if (s != ActorState::Created) {
    if (auto st = exec->device_inbox(c, true, device_queued); !st) {
      reason += " (messages queued on the device were lost: " + st.error().describe() + ")";
    }
  }
  for (const Envelope& e : device_queued) {
    c.dropped.fetch_add(1, std::memory_order_relaxed);
    dead_letter(e.header, e.payload.data(), why, (kill ? "killed: " : "terminated: ") + c.name);
  }
  if (c.state != nullptr) c.type.destroy(c.state);
  c.state = nullptr;
  registry.unbind_actor(c.id);
  pubsub.unsubscribe_actor(c.id);
  {
    std::lock_guard lk(tree_mu);
    if (ActorCell* p = cell(c.parent)) std::erase(p->children, c.id);
  }
  // Free the executor's resources (a device slot) before anyone can observe Terminated, so a launch that
  // follows a wait_for(Terminated) finds the slot free.
  exec->release(c);
  // The actor delivers nothing more: its receive queue closes to late deliveries, and gives its slots back once
  // what is left in it has been received (now, when it is empty). Only tried here: a receive_each visitor holds
  // out_mu while its code runs (maybe this very thread, terminating its own actor: no lock at all then), and a
  // receive releases it later.
  c.outbox_closed.store(true);
  set_state(c, ActorState::Terminated);
  if (!shutting_down.load() && !visiting(c)) {
    std::unique_lock lk(c.out_mu, std::try_to_lock);
    if (lk.owns_lock()) release_drained_queue(c);
  }
  emit(RuntimeEvent::Kind::Terminated, c, std::move(reason));
}

void release_drained_queue(ActorCell& c) {
  if (control_state(c.cb) != ActorState::Terminated || c.outbox.view().size_approx() != 0) return;
  // Closed (finish()): a delivery that announced itself before the close may still be writing; once those are
  // done, nothing else will.
  while (c.outbox_pushers.load() != 0) std::this_thread::yield();
  if (c.outbox.view().size_approx() == 0) (void)c.outbox.release_slots();
}

// ---------------------------------------------------------------------------------------------------------
// Sending

Status RuntimeState::send(ActorCell* from, ActorId to, TypeId type, const void* payload, std::size_t len,
                          const SendOptions& opts, std::uint32_t correlation, std::uint8_t flags) {
  // A failed send from an actor is a dead letter (nobody else holds the message), unless a replay is resending it.
  const bool resending = std::exchange(t_resending, false);
  const bool record = from != nullptr && !resending;
  if (len > kMaxPayload) {
    return make_error(ErrorCode::MessageTooLarge,
                      "payload of " + std::to_string(len) + " bytes exceeds the 65535-byte header limit", "send");
  }
  MessageHeader h{};
  h.magic = kMessageMagic;
  h.version = kMessageVersion;
  h.priority = opts.priority;
  h.flags = static_cast<std::uint8_t>(flags | (opts.sampled ? msg_flags::kTraceSampled : 0));
  h.type_id = type;
  h.message_id = next_message_id.fetch_add(1, std::memory_order_relaxed);
  h.correlation_id = correlation;
  h.payload_len = static_cast<std::uint16_t>(len);
  h.source = from != nullptr ? from->id : kHostActor;
  h.destination = to;
  if (opts.trace != nullptr) {
    std::memcpy(h.trace_id, opts.trace->trace_id, sizeof(h.trace_id));
    std::memcpy(h.span_id, opts.trace->span_id, sizeof(h.span_id));
  }
  if (from != nullptr) {
    // The actor's own clock (normally only its worker steps it), so no contention on the runtime clock.
    h.hlc = actor_clock_tick(from->cb);
  } else {
    h.hlc = clock.tick().packed;
  }
  const auto* bytes = static_cast<const std::byte*>(payload);

  if (to == kHostActor) {
    if (from == nullptr) return make_error(ErrorCode::InvalidArgument, "the host cannot send to itself", "send");
    return deliver_to_host(*from, h, bytes, record);
  }

  ActorCell* dest = cell(to);
  if (dest == nullptr) {
    if (record) dead_letter(h, bytes, DeadLetterReason::ActorNotFound, "no actor " + std::to_string(to));
    return make_error(ErrorCode::ActorNotFound, "no actor with id " + std::to_string(to), "send");
  }
  const std::string& ctx = dest->name;
  if (from == nullptr && shutting_down.load()) {
    return make_error(ErrorCode::ShuttingDown, "runtime is shutting down", ctx);
  }
  const TenantId src_tenant = from != nullptr ? from->opts.tenant : opts.tenant;
  const TenantId dst_tenant = dest->opts.tenant;
  if (src_tenant != kSystemTenant && dst_tenant != kSystemTenant && src_tenant != dst_tenant) {
    h.tenant = src_tenant;
    tenant_violations.fetch_add(1, std::memory_order_relaxed);
    dest->tenant_violations.fetch_add(1, std::memory_order_relaxed);
    if (record) dead_letter(h, bytes, DeadLetterReason::TenantViolation, "cross-tenant send refused");
    return make_error(ErrorCode::TenantViolation,
                      "tenant " + std::to_string(src_tenant) + " may not send to tenant " + std::to_string(dst_tenant),
                      ctx);
  }
  h.tenant = src_tenant != kSystemTenant ? src_tenant : dst_tenant;
  // Announce this send before checking for termination; finish() raises terminate_requested and then waits
  // for in-flight sends, so a message either is refused here or lands before the final drain.
  std::optional<InProgress> inflight_guard(std::in_place, dest->inflight_sends);
  if (dest->terminate_requested.load() || !lifecycle_accepts_messages(control_state(dest->cb))) {
    dest->rejected.fetch_add(1, std::memory_order_relaxed);
    if (record) dead_letter(h, bytes, DeadLetterReason::ActorTerminated, "destination terminated");
    return make_error(ErrorCode::ActorTerminated, "actor is terminated or terminating", ctx);
  }
  if (dest->suspended.load()) {
    dest->rejected.fetch_add(1, std::memory_order_relaxed);
    if (record) dead_letter(h, bytes, DeadLetterReason::QueueFull, "destination suspended");
    return make_error(ErrorCode::ActorInactive, "actor is suspended", ctx);
  }
  if (len > dest->inbox.view().max_payload()) {
    dest->rejected.fetch_add(1, std::memory_order_relaxed);
    return make_error(ErrorCode::MessageTooLarge,
                      "payload of " + std::to_string(len) + " bytes does not fit a " +
                          std::to_string(dest->inbox.view().slot_size) + "-byte slot (max payload " +
                          std::to_string(dest->inbox.view().max_payload()) + ")",
                      ctx);
  }

  MpscProducer producer(dest->inbox.view());
  // Every attempt (a blocked sender retries for a while) stamps the message if a lifecycle command has set a
  // device ordering limit by then; see msg_flags::kAfterCommand.
  const auto try_push = [&] {
    if (dest->device_limited.load(std::memory_order_acquire)) h.flags |= msg_flags::kAfterCommand;
    return producer.try_push(h, bytes);
  };
  const std::uint64_t high = dest->gauge.high();
  // The bound first: it reads no line the consumer writes (a miss per send while a GPU consumes the inbox).
  auto below_high = [&] {
    const RingView v = dest->inbox.view();
    return v.size_upper_bound() < high || v.size_approx() < high;
  };
  ErrorCode rc = below_high() ? try_push() : ErrorCode::QueueFull;
  if (rc == ErrorCode::QueueFull) {
    const auto& bp = dest->opts.backpressure;
    OverflowPolicy policy = bp.policy;
    // A worker must never block on another actor's mailbox: that can deadlock the executor.
    if (policy == OverflowPolicy::Block && from != nullptr) policy = OverflowPolicy::Reject;
    switch (policy) {
      case OverflowPolicy::Block: {
        const auto deadline = std::chrono::steady_clock::now() + bp.block_timeout;
        const std::uint64_t low = dest->gauge.low();
        unsigned spins = 0;
        while (rc == ErrorCode::QueueFull) {
          // Check before pushing: once terminating, the actor's final drain may already have run, and a
          // message pushed now would never be handled nor dead-lettered.
          if (dest->terminate_requested.load()) {
            dest->rejected.fetch_add(1, std::memory_order_relaxed);
            return make_error(ErrorCode::ActorTerminated, "actor terminated while the sender was blocked", ctx);
          }
          if (dest->inbox.view().size_approx() <= low) rc = try_push();
          if (rc != ErrorCode::QueueFull) break;
          if (std::chrono::steady_clock::now() >= deadline) break;
          if (++spins < 64) std::this_thread::yield();
          else std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        break;
      }
      case OverflowPolicy::DropOldest: {
        // Evicting needs the consumer side, which the owning worker holds while it drains. The sender announces
        // itself (drain() then stops at the next message boundary) and only ever try_locks, so nothing can
        // deadlock. The host waits for that boundary up to block_timeout; an actor sender (a worker, which must
        // never block on another mailbox) makes a few attempts only.
        dest->evictors.fetch_add(1, std::memory_order_acq_rel);
        const auto deadline = std::chrono::steady_clock::now() + bp.block_timeout;
        for (int attempt = 0; rc == ErrorCode::QueueFull; ++attempt) {
          if (dest != from && dest->consumer_mu.try_lock()) {
            MpscConsumer evict(dest->inbox.view());
            evict.pop_batch(1, [&](const MessageHeader& oh, const std::byte* op) {
              dest->dropped.fetch_add(1, std::memory_order_relaxed);
              dead_letter(oh, op, DeadLetterReason::DroppedOldest, "evicted to make room in '" + dest->name + "'");
            });
            dest->consumer_mu.unlock();
          }
          rc = try_push();
          if (rc != ErrorCode::QueueFull) break;
          if (from != nullptr ? attempt >= 3 : std::chrono::steady_clock::now() >= deadline) break;
          // finish() waits for in-flight senders while it holds the consumer side: never keep it waiting.
          if (dest->terminate_requested.load()) break;
          std::this_thread::yield();
        }
        dest->evictors.fetch_sub(1, std::memory_order_acq_rel);
        break;
      }
      case OverflowPolicy::Reject:
      case OverflowPolicy::DropToDeadLetter:
        break;
    }
    if (rc == ErrorCode::QueueFull) {
      dest->rejected.fetch_add(1, std::memory_order_relaxed);
      if (policy == OverflowPolicy::DropToDeadLetter || from != nullptr) {
        // A resend that fails is no new drop: the letter stays in the queue (see t_resending).
        if (!resending) {
          dest->dropped.fetch_add(1, std::memory_order_relaxed);
          dead_letter(h, bytes, DeadLetterReason::QueueFull, "mailbox of '" + dest->name + "' is full");
        }
        if (policy == OverflowPolicy::DropToDeadLetter) {
          return make_error(ErrorCode::Dropped, "mailbox full: message moved to the dead-letter queue", ctx);
        }
      }
      return make_error(ErrorCode::QueueFull,
                        "mailbox is at its high-water mark (" + std::to_string(high) + " of " +
                            std::to_string(dest->inbox.view().capacity()) + " slots)",
                        ctx);
    }
  }
  if (rc != ErrorCode::Ok) return make_error(rc, "enqueue failed", ctx);
  dest->received.fetch_add(1, std::memory_order_relaxed);
  if (from != nullptr) from->sent.fetch_add(1, std::memory_order_relaxed);
  // The push is done. A device executor's schedule() applies due commands in this thread, and a due Terminate
  // waits for in-flight sends: this one must not count any more.
  inflight_guard.reset();
  exec->schedule(*dest);
  return {};
}

Status RuntimeState::deliver_to_host(ActorCell& from, MessageHeader h, const std::byte* payload, bool record) {
  if ((h.flags & msg_flags::kUnhandled) != 0) {
    // A GPU actor's message it had no handler for, handed back as it was sent: dead-lettered as the host
    // backends do (which also fails the call that sent it).
    h.flags = static_cast<std::uint8_t>(h.flags & ~msg_flags::kUnhandled);
    dead_letter(h, payload, DeadLetterReason::UnknownMessageType,
                "actor '" + from.name + "' (" + from.type.type_name + ") has no handler for type " +
                    std::to_string(h.type_id) + " with a " + std::to_string(h.payload_len) + "-byte payload");
    return {};
  }
  if ((h.flags & msg_flags::kStaleRoute) != 0) {
    // A K2K message for an actor that terminated while its sender held the route, found in the recycled inbox by
    // its next owner (`from`): as a send to a terminated actor, dead-lettered and counted there.
    h.flags = static_cast<std::uint8_t>(h.flags & ~msg_flags::kStaleRoute);
    if (ActorCell* dest = cell(h.destination)) dest->dropped.fetch_add(1, std::memory_order_relaxed);
    dead_letter(h, payload, DeadLetterReason::ActorTerminated,
                "K2K message for actor " + std::to_string(h.destination) + " arrived after it terminated (its inbox " +
                    "now serves '" + from.name + "')");
    return {};
  }
  if ((h.flags & msg_flags::kTenantRefused) != 0) {
    // A GPU actor's send to another tenant, refused on the device: counted and dead-lettered as a host send is.
    h.flags = static_cast<std::uint8_t>(h.flags & ~msg_flags::kTenantRefused);
    ActorCell* dest = cell(h.destination);
    tenant_violations.fetch_add(1, std::memory_order_relaxed);
    if (dest != nullptr) dest->tenant_violations.fetch_add(1, std::memory_order_relaxed);
    dead_letter(h, payload, DeadLetterReason::TenantViolation,
                "cross-tenant send refused on the GPU: tenant " + std::to_string(from.opts.tenant) +
                    " may not send to tenant " + (dest != nullptr ? std::to_string(dest->opts.tenant) : "?"));
    return {};
  }
  h.tenant = from.opts.tenant;
  if ((h.flags & msg_flags::kReply) != 0 && h.correlation_id != 0) {
    // The caller receives it now: merge so its later stamps follow this reply. (Messages for the receive queue
    // are merged by the thread that takes them from it: merge_received.)
    (void)clock.update(h.hlc);
    if (complete_call(h.correlation_id, envelope_of(h, payload))) {
      from.sent.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    dead_letter(h, payload, DeadLetterReason::Expired, "reply arrived after its call timed out");
    return {};
  }
  // Announced before the check: release_drained_queue() closes first, then waits for announced deliveries.
  InProgress push(from.outbox_pushers);
  // `record` false (a replay's resend): no new drop either, the letter stays in the queue.
  if (from.outbox_closed.load()) {
    if (record) {
      from.dropped.fetch_add(1, std::memory_order_relaxed);
      dead_letter(h, payload, DeadLetterReason::ActorTerminated,
                  "host receive queue of '" + from.name + "' is closed: the actor terminated");
    }
    return make_error(ErrorCode::ActorTerminated, "the actor's host receive queue is closed", from.name);
  }
  if (h.payload_len > from.outbox.view().max_payload()) {
    // Larger than the receive queue's slots (the device's queue to the host may have larger ones): counted and
    // dead-lettered, not dropped silently.
    if (record) {
      from.dropped.fetch_add(1, std::memory_order_relaxed);
      dead_letter(h, payload, DeadLetterReason::TooLarge,
                  "a " + std::to_string(h.payload_len) + "-byte message from '" + from.name +
                      "' does not fit its host receive queue's slots (" +
                      std::to_string(from.outbox.view().max_payload()) + " bytes of payload)");
    }
    return make_error(ErrorCode::MessageTooLarge, "message does not fit the host receive queue's slots", from.name);
  }
  if (MpscProducer(from.outbox.view()).try_push(h, payload) != ErrorCode::Ok) {
    if (record) {
      from.dropped.fetch_add(1, std::memory_order_relaxed);
      dead_letter(h, payload, DeadLetterReason::QueueFull, "host receive queue of '" + from.name + "' is full");
    }
    return make_error(ErrorCode::QueueFull, "host receive queue is full (nobody is receiving?)", from.name);
  }
  from.sent.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  wake_receivers(from);
  return {};
}

void RuntimeState::deliver_many_to_host(ActorCell& from, const std::byte* const* slots, std::uint32_t n) {
  InProgress push(from.outbox_pushers);  // as in deliver_to_host
  if (from.outbox_closed.load()) {
    for (std::uint32_t i = 0; i < n; ++i) (void)deliver_to_host(from, *reinterpret_cast<const MessageHeader*>(slots[i]),
                                                                 slots[i] + sizeof(MessageHeader));
    return;
  }
  const RingView out = from.outbox.view();
  std::uint32_t i = 0;
  std::uint64_t queued = 0;
  // Replies to calls, messages handed back to be dead-lettered and what does not fit the receive queue's slots go
  // one by one.
  const auto single = [&](const MessageHeader& h) {
    return ((h.flags & msg_flags::kReply) != 0 && h.correlation_id != 0) ||
           (h.flags & (msg_flags::kUnhandled | msg_flags::kTenantRefused | msg_flags::kStaleRoute)) != 0 ||
           h.payload_len > out.max_payload();
  };
  while (i < n) {
    const auto& first = *reinterpret_cast<const MessageHeader*>(slots[i]);
    if (single(first)) {
      (void)deliver_to_host(from, first, slots[i] + sizeof(MessageHeader));
      ++i;
      continue;
    }
    // A run of messages for the receive queue: claim them together.
    std::uint32_t j = i + 1;
    while (j < n && !single(*reinterpret_cast<const MessageHeader*>(slots[j]))) ++j;
    const std::uint32_t k = MpscProducer(out).push_batch(j - i, [&](std::byte* slot, std::uint32_t m) {
      MessageHeader h = *reinterpret_cast<const MessageHeader*>(slots[i + m]);
      h.tenant = from.opts.tenant;
      ring_write_slot(slot, h, slots[i + m] + sizeof(MessageHeader));
    });
    queued += k;
    for (std::uint32_t m = i + k; m < j; ++m) {  // the receive queue is full: what did not fit is dead-lettered
      MessageHeader h = *reinterpret_cast<const MessageHeader*>(slots[m]);
      h.tenant = from.opts.tenant;
      from.dropped.fetch_add(1, std::memory_order_relaxed);
      dead_letter(h, slots[m] + sizeof(MessageHeader), DeadLetterReason::QueueFull,
                  "host receive queue of '" + from.name + "' is full");
    }
    i = j;
  }
  if (queued == 0) return;
  // No clock merge here: the thread that takes them from the queue merges (merge_received). Merging in this
  // (delivery) thread made the clock's line move between it and the thread that sends, once per batch.
  from.sent.fetch_add(queued, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  wake_receivers(from);
}

void RuntimeState::device_failed(ActorCell& c, const std::byte* failed_message, const std::string& reason) {
  detail::fetch_add_relaxed(&c.cb.errors, std::uint64_t{1});
  detail::store_relaxed(&c.cb.last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
  failures.fetch_add(1, std::memory_order_relaxed);
  if (failed_message != nullptr) {
    const auto& h = *reinterpret_cast<const MessageHeader*>(failed_message);
    if (h.valid()) {
      dead_letter(h, failed_message + sizeof(MessageHeader), DeadLetterReason::HandlerFailed,
                  "actor '" + c.name + "' failed on the device: " + reason);
    }
  }
  std::lock_guard consumer(c.consumer_mu);
  on_failure(c, reason);
}

Result<std::size_t> RuntimeState::send_many(ActorId to, TypeId type, const void* payloads, std::size_t len,
                                            std::size_t count, const SendOptions& opts) {
  const auto* bytes = static_cast<const std::byte*>(payloads);
  ActorCell* dest = cell(to);
  std::size_t accepted = 0;
  // Fast path: one claim + publish per batch while the mailbox is below its high-water mark and the checks
  // that depend only on the destination pass; anything else goes through send() message by message.
  std::optional<InProgress> inflight_guard;
  if (dest != nullptr) inflight_guard.emplace(dest->inflight_sends);
  if (dest != nullptr && !shutting_down.load() && !dest->suspended.load() && !dest->terminate_requested.load() &&
      lifecycle_accepts_messages(control_state(dest->cb)) && len <= dest->inbox.view().max_payload() &&
      (opts.tenant == kSystemTenant || dest->opts.tenant == kSystemTenant || opts.tenant == dest->opts.tenant)) {
    MpscProducer producer(dest->inbox.view());
    const std::uint64_t depth = dest->inbox.view().size_approx();
    const std::uint64_t high = dest->gauge.high();
    std::size_t room = depth < high ? static_cast<std::size_t>(high - depth) : 0;
    while (accepted < count && room > 0) {
      const auto want = static_cast<std::uint32_t>(std::min<std::size_t>({count - accepted, room, 1024}));
      const std::uint8_t ordered = dest->device_limited.load(std::memory_order_acquire) ? msg_flags::kAfterCommand : 0;
      // Ids and timestamps for the claimed batch at once, on the first slot's fill (an atomic add and a clock
      // read per message were most of a message's cost).
      std::uint64_t first_id = 0;
      std::uint64_t first_hlc = 0;
      const std::uint32_t k = producer.push_batch(want, [&](std::byte* slot, std::uint32_t i, std::uint32_t claimed) {
        if (i == 0) {
          first_id = next_message_id.fetch_add(claimed, std::memory_order_relaxed);
          first_hlc = clock.tick_many(claimed).packed;
        }
        MessageHeader h{};
        h.magic = kMessageMagic;
        h.version = kMessageVersion;
        h.priority = opts.priority;
        h.flags = static_cast<std::uint8_t>((opts.sampled ? msg_flags::kTraceSampled : 0) | ordered);
        h.type_id = type;
        h.message_id = first_id + i;
        h.payload_len = static_cast<std::uint16_t>(len);
        h.tenant = opts.tenant != kSystemTenant ? opts.tenant : dest->opts.tenant;
        h.destination = to;
        h.hlc = first_hlc + i;
        if (opts.trace != nullptr) {
          std::memcpy(h.trace_id, opts.trace->trace_id, sizeof(h.trace_id));
          std::memcpy(h.span_id, opts.trace->span_id, sizeof(h.span_id));
        }
        ring_write_slot(slot, h, bytes + (accepted + i) * len);
      });
      if (k == 0) break;
      accepted += k;
      room -= k;
      dest->received.fetch_add(k, std::memory_order_relaxed);
    }
  }
  inflight_guard.reset();
  if (accepted != 0) exec->schedule(*dest);  // after the guard, as in send()
  while (accepted < count) {
    auto st = send(nullptr, to, type, bytes + accepted * len, len, opts, 0, 0);
    if (!st) {
      if (accepted == 0) return st.error();
      break;
    }
    ++accepted;
  }
  return accepted;
}

Status RuntimeState::deliver_envelope(ActorId to, const Envelope& env) {
  ActorCell* from = cell(env.header.source);
  SendOptions o;
  o.priority = env.header.priority;
  o.tenant = env.header.tenant;
  TraceContext tc;
  std::memcpy(tc.trace_id, env.header.trace_id, sizeof(tc.trace_id));
  std::memcpy(tc.span_id, env.header.span_id, sizeof(tc.span_id));
  o.trace = &tc;
  o.sampled = (env.header.flags & msg_flags::kTraceSampled) != 0;
  return send(from, to, env.header.type_id, env.payload.data(), env.payload.size(), o, 0, 0);
}

// ---------------------------------------------------------------------------------------------------------
// Status, watchdog, shutdown

ActorStatus RuntimeState::status_of(const ActorCell& c) const {
  ActorStatus s;
  s.id = c.id;
  s.name = c.name;
  s.type_name = c.type.type_name;
  s.state = control_state(c.cb);
  s.suspended = c.suspended.load();
  s.parent = c.parent;
  {
    std::lock_guard lk(tree_mu);
    s.children = c.children;
  }
  s.tenant = c.opts.tenant;
  s.worker = c.worker;
  const std::uint64_t hb = detail::load_relaxed(&c.cb.heartbeat_ns);
  const std::uint64_t now = steady_ns();
  s.heartbeat_age_ns = hb != 0 && now > hb ? now - hb : 0;
  const std::uint64_t started = c.handler_started_ns.load(std::memory_order_relaxed);
  s.stalled = cfg.stall_timeout.count() > 0 && started != 0 &&
              now - started > static_cast<std::uint64_t>(cfg.stall_timeout.count()) * 1'000'000u;
  ActorMetrics& m = s.metrics;
  m.received = c.received.load();
  m.processed = exec->device_processed(c).value_or(detail::load_relaxed(&c.cb.processed));
  m.sent = c.sent.load();
  m.dropped = c.dropped.load();
  m.rejected = c.rejected.load();
  m.tenant_violations = c.tenant_violations.load();
  m.errors = detail::load_relaxed(&c.cb.errors);
  m.restarts = detail::load_relaxed(&c.cb.restarts);
  m.stalls = c.stalls.load();
  m.queue_depth = c.inbox.view().size_approx();
  m.queue_capacity = c.inbox.view().capacity();
  m.handler_p50_ns = c.handler_latency.percentile(0.5);
  m.handler_p99_ns = c.handler_latency.percentile(0.99);
  m.last_error = detail::load_relaxed(&c.cb.last_error);
  return s;
}

void RuntimeState::watchdog_loop() {
  const auto stall_ns = static_cast<std::uint64_t>(cfg.stall_timeout.count()) * 1'000'000u;
  std::unique_lock lk(watchdog_mu);
  while (!stopped.load()) {
    watchdog_cv.wait_for(lk, cfg.watchdog_interval, [&] { return stopped.load(); });
    if (stopped.load()) break;
    std::vector<ActorCell*> snapshot;
    {
      std::lock_guard ck(cells_mu);
      for (auto& c : cells) snapshot.push_back(c.get());
    }
    const std::uint64_t now = steady_ns();
    for (ActorCell* c : snapshot) {
      const std::uint64_t started = c->handler_started_ns.load(std::memory_order_relaxed);
      if (started != 0 && now > started && now - started > stall_ns && !c->stall_flagged.exchange(true)) {
        c->stalls.fetch_add(1, std::memory_order_relaxed);
        emit(RuntimeEvent::Kind::Stalled, *c,
             "handler running for " + std::to_string((now - started) / 1'000'000u) + " ms");
      }
    }
  }
}

Status RuntimeState::shutdown(std::chrono::milliseconds deadline) {
  if (shutting_down.exchange(true)) return {};
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::vector<ActorCell*> snapshot;
  {
    std::lock_guard lk(cells_mu);
    for (auto& c : cells) snapshot.push_back(c.get());
  }
  for (ActorCell* c : snapshot) {
    if (c->parent == kHostActor) (void)command(*c, Command::Terminate, false, "runtime shutdown");
  }
  bool all_done = true;
  for (ActorCell* c : snapshot) {
    std::unique_lock lk(c->state_mu);
    if (!c->state_cv.wait_until(lk, until, [&] { return control_state(c->cb) == ActorState::Terminated; })) {
      all_done = false;
    }
  }
  {
    std::lock_guard lk(watchdog_mu);
    stopped.store(true);
  }
  watchdog_cv.notify_all();
  if (watchdog.joinable()) watchdog.join();
  const bool workers_stopped = exec->stop(until + std::chrono::milliseconds(100));
  if (workers_stopped) {
    // No worker runs any more: finish stragglers here (their messages go to the dead-letter queue).
    for (ActorCell* c : snapshot) {
      if (control_state(c->cb) != ActorState::Terminated) finish(*c, true, "shutdown deadline");
    }
  } else {
    // A handler is stuck: its thread was abandoned and may still touch this state, so keep it alive forever.
    // Held from a global (not a bare `new`) so leak checkers see it as reachable rather than leaked.
    static std::mutex abandoned_mu;
    static auto* abandoned = new std::vector<std::shared_ptr<RuntimeState>>();  // NOLINT: never freed
    std::lock_guard lk(abandoned_mu);
    abandoned->push_back(shared_from_this());
  }
  std::vector<std::uint32_t> pending;
  {
    std::lock_guard lk(calls_mu);
    for (auto& [corr, pc] : calls) pending.push_back(corr);
  }
  for (auto corr : pending) complete_call(corr, make_error(ErrorCode::ShuttingDown, "runtime shut down", "call"));
  if (!all_done || !workers_stopped) {
    return make_error(ErrorCode::Timeout,
                      workers_stopped ? "some actors did not terminate before the deadline; their queued "
                                        "messages were dead-lettered"
                                      : "a worker did not stop before the deadline (handler stuck); it was abandoned",
                      "shutdown");
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------------
// Functions the public templates call

Result<ActorId> launch_actor(RuntimeState& rt, ActorId parent, std::string_view name, const LaunchOptions& opts,
                             ActorType type) {
  return rt.launch(parent, name, opts, std::move(type));
}

Status context_send(Context& ctx, ActorId to, TypeId type, const void* payload, std::size_t len,
                    const SendOptions& opts, std::uint32_t correlation, std::uint8_t flags) {
  SendOptions o = opts;
  TraceContext inherited;
  if (o.trace == nullptr) {
    // Propagate the trace of the message being handled, so a request's trace follows it through actors.
    std::memcpy(inherited.trace_id, ctx.current_->trace_id, sizeof(inherited.trace_id));
    std::memcpy(inherited.span_id, ctx.current_->span_id, sizeof(inherited.span_id));
    o.trace = &inherited;
    o.sampled = (ctx.current_->flags & msg_flags::kTraceSampled) != 0;
  }
  return ctx.rt_->send(ctx.cell_, to, type, payload, len, o, correlation, flags);
}

Result<ActorId> resolve_name(RuntimeState& rt, std::string_view name) { return rt.registry.lookup(name); }

Result<PublishReport> context_publish(Context& ctx, std::string_view topic, TypeId type, const void* payload,
                                      std::size_t len, bool retain) {
  Envelope env;
  env.header.magic = kMessageMagic;
  env.header.version = kMessageVersion;
  env.header.type_id = type;
  env.header.payload_len = static_cast<std::uint16_t>(len);
  env.header.source = ctx.cell_->id;
  env.header.tenant = ctx.cell_->opts.tenant;
  std::memcpy(env.header.trace_id, ctx.current_->trace_id, sizeof(env.header.trace_id));
  const auto* b = static_cast<const std::byte*>(payload);
  env.payload.assign(b, b + len);
  return ctx.rt_->pubsub.publish(topic, env, retain);
}

Result<Runtime> build_runtime(const RuntimeConfig& cfg_in, const ExecutorFactories& factories) {
  RuntimeConfig cfg = cfg_in;
  if (cfg.max_actors == 0 || cfg.max_actors > (1u << 24)) {
    return make_error(ErrorCode::InvalidArgument, "max_actors must be in [1, 16777216]", "Runtime::build");
  }
  if (cfg.drain_budget == 0) return make_error(ErrorCode::InvalidArgument, "drain_budget must be > 0", "Runtime::build");
  if (cfg.workers == 0) cfg.workers = std::max(1u, std::thread::hardware_concurrency());
  if (cfg.workers > 256) return make_error(ErrorCode::InvalidArgument, "workers must be <= 256", "Runtime::build");
  // Auto picks the GPU when one is usable and the program carries device code for its actors
  // (RINGKERNEL_CUDA_ACTOR); a program without device code stays on the CPU, where every actor type runs.
  Backend chosen = cfg.backend;
  if (chosen == Backend::Auto) {
    const bool gpu = factories.cuda != nullptr && g_cuda_probe != nullptr && g_cuda_has_device_actors != nullptr &&
                     g_cuda_has_device_actors() && g_cuda_probe();
    chosen = gpu ? Backend::Cuda : Backend::Cpu;
  }
  ExecutorFactory factory = nullptr;
  if (chosen == Backend::Cpu) factory = factories.cpu;
  if (chosen == Backend::Cuda) factory = factories.cuda;
  if (chosen == Backend::WebGpu) factory = factories.webgpu;  // [webgpu wiring]
  if (factory == nullptr) {
    return make_error(ErrorCode::BackendUnavailable,
                      "backend '" + std::string(to_string(chosen)) + "' is not compiled into this program (available: cpu" +
                          std::string(factories.cuda != nullptr ? ", cuda" : "") +
                          std::string(factories.webgpu != nullptr ? ", webgpu" : "") + ")",
                      "Runtime::build");
  }
  auto st = std::make_shared<RuntimeState>(cfg);
  st->backend = chosen;
  auto exec = factory(*st);
  if (!exec) return exec.error().with_context("Runtime::build");
  st->exec = std::move(exec).value();
  if (cfg.stall_timeout.count() > 0) st->watchdog = std::thread([raw = st.get()] { raw->watchdog_loop(); });
  return Runtime(std::move(st));
}

} // namespace detail

// ---------------------------------------------------------------------------------------------------------
// Context

ActorId Context::self() const noexcept { return cell_->id; }
const std::string& Context::name() const noexcept { return cell_->name; }
TenantId Context::tenant() const noexcept { return cell_->opts.tenant; }

HlcTimestamp Context::now() noexcept {
  return HlcTimestamp{detail::actor_clock_tick(cell_->cb), rt_->cfg.node_id};
}

Status Context::stop(ActorId child) {
  detail::ActorCell* c = rt_->cell(child);
  if (c == nullptr) return make_error(ErrorCode::ActorNotFound, "no actor " + std::to_string(child), "Context::stop");
  if (c->parent != cell_->id) {
    return make_error(ErrorCode::InvalidArgument, "'" + c->name + "' is not a child of '" + cell_->name + "'",
                      "Context::stop");
  }
  return rt_->command(*c, detail::Command::Terminate, true, "stopped by parent");
}

// ---------------------------------------------------------------------------------------------------------
// ActorHandle

namespace {
Result<detail::ActorCell*> live_cell(const std::shared_ptr<detail::RuntimeState>& rt, ActorId id) {
  detail::ActorCell* c = rt ? rt->cell(id) : nullptr;
  if (c == nullptr) return make_error(ErrorCode::ActorNotFound, "no actor with id " + std::to_string(id), "handle");
  return c;
}

// A receive from inside a receive_each visitor of the same actor: its queue is locked by this very thread.
bool receiving_inside_own_visitor(const detail::ActorCell& cell) { return detail::visiting(cell); }
Error own_visitor_error(const detail::ActorCell& cell) {
  return make_error(ErrorCode::InvalidArgument,
                    "receive from inside a receive_each visitor of the same actor (its queue is being visited)",
                    cell.name);
}

// Before a receive: the actor's device traffic is taken into its receive queue in the calling thread only when
// the queue is empty. While it holds messages, the executor's delivery thread keeps it filled and the receiver
// only pops: the two threads then share the queue's lines and nothing else.
void fill_receive_queue(detail::RuntimeState& rt, detail::ActorCell& cell) {
  if (cell.outbox.view().size_approx() == 0) (void)rt.exec->poll_deliveries(cell);
}

// Receiving is an HLC receive event: the receiving thread merges the newest stamp it took (not the delivery
// thread, which would move the clock's line away from the thread that sends).
void merge_received(detail::RuntimeState& rt, std::uint64_t newest) {
  if (newest != 0) (void)rt.clock.update(newest);
}
} // namespace

std::string ActorHandle::name() const {
  auto c = live_cell(rt_, id_);
  return c ? (*c)->name : std::string();
}

Status ActorHandle::activate() {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  return rt_->command(**c, detail::Command::Activate, false);
}

Status ActorHandle::deactivate() {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  return rt_->command(**c, detail::Command::Deactivate, false);
}

Status ActorHandle::suspend() {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  if ((*c)->suspended.load()) return make_error(ErrorCode::IllegalTransition, "already suspended", (*c)->name);
  auto st = rt_->command(**c, detail::Command::Deactivate, false);
  if (!st) return st;
  (*c)->suspended.store(true);
  rt_->emit(RuntimeEvent::Kind::Suspended, **c, {});
  return {};
}

Status ActorHandle::resume() {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  if (!(*c)->suspended.load()) return make_error(ErrorCode::IllegalTransition, "not suspended", (*c)->name);
  auto st = rt_->command(**c, detail::Command::Activate, false);
  if (!st) return st;
  (*c)->suspended.store(false);
  rt_->emit(RuntimeEvent::Kind::Resumed, **c, {});
  return {};
}

Status ActorHandle::terminate() {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  return rt_->command(**c, detail::Command::Terminate, false, "terminated by the host");
}

Status ActorHandle::restart() {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  return rt_->command(**c, detail::Command::Restart, true, "restarted by the host");
}

Status ActorHandle::wait_for(ActorState state, std::chrono::milliseconds timeout) {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  detail::ActorCell& cell = **c;
  auto reached = [&] {
    const ActorState s = control_state(cell.cb);
    return s == state || s == ActorState::Terminated;
  };
  // Polled first for up to idle_spin, as receive() does: a state the worker sets within microseconds (a device
  // actor's start or restart) is seen then, rather than after a wake-up through the condition variable.
  const auto start = std::chrono::steady_clock::now();
  const auto spin_until = start + std::min<std::chrono::microseconds>(timeout, rt_->cfg.idle_spin);
  bool ok = reached();
  while (!ok && std::chrono::steady_clock::now() < spin_until) ok = reached();
  std::unique_lock lk(cell.state_mu);
  if (!ok) ok = cell.state_cv.wait_until(lk, start + timeout, reached);
  if (!ok || control_state(cell.cb) != state) {
    return make_error(ErrorCode::Timeout,
                      "actor is " + std::string(to_string(control_state(cell.cb))) + ", not " +
                          std::string(to_string(state)),
                      cell.name);
  }
  return {};
}

Status ActorHandle::send_raw(TypeId type, const void* payload, std::size_t len, const SendOptions& opts,
                             std::uint32_t correlation, std::uint8_t flags) {
  if (!rt_) return make_error(ErrorCode::ShuttingDown, "runtime is gone", "send");
  return rt_->send(nullptr, id_, type, payload, len, opts, correlation, flags);
}

Result<std::size_t> ActorHandle::send_many_raw(TypeId type, const void* payloads, std::size_t len, std::size_t count,
                                               const SendOptions& opts) {
  if (!rt_) return make_error(ErrorCode::ShuttingDown, "runtime is gone", "send_many");
  if (count == 0) return std::size_t{0};
  if (payloads == nullptr) return make_error(ErrorCode::InvalidArgument, "null payloads", "send_many");
  return rt_->send_many(id_, type, payloads, len, count, opts);
}

Result<Envelope> ActorHandle::try_receive() {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  detail::ActorCell& cell = **c;
  if (receiving_inside_own_visitor(cell)) return own_visitor_error(cell);
  fill_receive_queue(*rt_, cell);
  std::optional<Envelope> got;
  {
    std::lock_guard lk(cell.out_mu);
    MpscConsumer(cell.outbox.view()).pop_batch(1, [&](const MessageHeader& h, const std::byte* p) {
      got = Envelope{h, std::vector<std::byte>(p, p + h.payload_len)};
    });
    detail::release_drained_queue(cell);
  }
  if (!got) return make_error(ErrorCode::QueueEmpty, "no message from the actor", cell.name);
  merge_received(*rt_, got->header.hlc);
  return std::move(*got);
}

Result<Envelope> ActorHandle::receive(std::chrono::microseconds timeout) {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  detail::ActorCell& cell = **c;
  if (receiving_inside_own_visitor(cell)) return own_visitor_error(cell);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  const auto spin_until = start + std::min<std::chrono::microseconds>(timeout, rt_->cfg.idle_spin);
  cell.direct_pollers.fetch_add(1, std::memory_order_relaxed);  // try_receive polls device traffic itself
  do {
    auto r = try_receive();
    if (r || r.error().code() != ErrorCode::QueueEmpty) {
      cell.direct_pollers.fetch_sub(1, std::memory_order_relaxed);
      return r;
    }
  } while (std::chrono::steady_clock::now() < spin_until);
  cell.direct_pollers.fetch_sub(1, std::memory_order_relaxed);
  rt_->exec->poller_left(cell);  // the executor's delivery takes over
  cell.out_waiters.fetch_add(1);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  std::optional<Envelope> got;
  {
    std::unique_lock lk(cell.out_mu);
    for (;;) {
      MpscConsumer(cell.outbox.view()).pop_batch(1, [&](const MessageHeader& h, const std::byte* p) {
        got = Envelope{h, std::vector<std::byte>(p, p + h.payload_len)};
      });
      if (got || control_state(cell.cb) == ActorState::Terminated) break;
      const auto until = std::min(deadline, std::chrono::steady_clock::now() + detail::kReceiveWaitSlice);
      if (cell.out_cv.wait_until(lk, until) == std::cv_status::timeout && until == deadline) {
        MpscConsumer(cell.outbox.view()).pop_batch(1, [&](const MessageHeader& h, const std::byte* p) {
          got = Envelope{h, std::vector<std::byte>(p, p + h.payload_len)};
        });
        break;
      }
    }
    detail::release_drained_queue(cell);
  }
  cell.out_waiters.fetch_sub(1);
  if (got) {
    merge_received(*rt_, got->header.hlc);
    return std::move(*got);
  }
  if (control_state(cell.cb) == ActorState::Terminated) {
    return make_error(ErrorCode::ActorTerminated, "actor terminated with nothing left to receive", cell.name);
  }
  return make_error(ErrorCode::Timeout, "no message within " + std::to_string(timeout.count()) + " us", cell.name);
}

std::vector<Envelope> ActorHandle::receive_many(std::size_t max) {
  std::vector<Envelope> out;
  auto c = live_cell(rt_, id_);
  if (!c || max == 0) return out;
  detail::ActorCell& cell = **c;
  if (receiving_inside_own_visitor(cell)) return out;
  fill_receive_queue(*rt_, cell);
  std::uint64_t newest = 0;
  {
    std::lock_guard lk(cell.out_mu);
    MpscConsumer(cell.outbox.view())
        .pop_batch(static_cast<std::uint32_t>(std::min<std::size_t>(max, UINT32_MAX)),
                   [&](const MessageHeader& h, const std::byte* p) {
                     newest = std::max(newest, h.hlc);
                     out.push_back(Envelope{h, std::vector<std::byte>(p, p + h.payload_len)});
                   });
    detail::release_drained_queue(cell);
  }
  merge_received(*rt_, newest);
  return out;
}

std::size_t ActorHandle::receive_visit(std::size_t max, void (*fn)(void*, const MessageHeader&, const std::byte*),
                                      void* ctx) {
  auto c = live_cell(rt_, id_);
  if (!c || max == 0 || fn == nullptr) return 0;
  detail::ActorCell& cell = **c;
  if (receiving_inside_own_visitor(cell)) return 0;
  fill_receive_queue(*rt_, cell);
  std::exception_ptr thrown;
  std::size_t n = 0;
  {
    std::lock_guard lk(cell.out_mu);
    // Marks the queue as held by this thread for the visitor's duration.
    struct Visiting {
      explicit Visiting(const detail::ActorCell& c) { detail::t_visiting.push_back(&c); }
      ~Visiting() { detail::t_visiting.pop_back(); }
      Visiting(const Visiting&) = delete;
      Visiting& operator=(const Visiting&) = delete;
    } visiting(cell);
    MpscConsumer consumer(cell.outbox.view());
    // Merged before the visitor runs (what it sends in response is stamped after what it received), and only
    // what was merged is visited: messages queued meanwhile wait for the next receive.
    std::uint64_t newest = 0;
    const std::uint32_t most =
        consumer.published(static_cast<std::uint32_t>(std::min<std::size_t>(max, UINT32_MAX)), &newest);
    merge_received(*rt_, newest);
    // A visitor that throws leaves the message it threw on, and those after it, queued (the visited ones are
    // consumed): the exception goes on once the queue is consistent.
    n = consumer.pop_batch(most, [&](const MessageHeader& h, const std::byte* p) {
      try {
        fn(ctx, h, p);
        return true;
      } catch (...) {
        thrown = std::current_exception();
        return false;
      }
    });
    detail::release_drained_queue(cell);
  }
  if (thrown) std::rethrow_exception(thrown);
  return n;
}

namespace {
// One pending-call record per calling thread, reused once the thread that delivered its last reply is done
// with it (it may still be notifying when the caller returns): a call allocates no record of its own.
thread_local std::shared_ptr<detail::PendingCall> t_spare_call;

std::shared_ptr<detail::PendingCall> take_pending_call() {
  if (t_spare_call && t_spare_call->released.load(std::memory_order_acquire)) {
    auto pc = std::move(t_spare_call);
    pc->done.store(false, std::memory_order_relaxed);  // published to deliverers by the call table's lock
    pc->released.store(false, std::memory_order_relaxed);
    return pc;
  }
  return std::make_shared<detail::PendingCall>();
}

// Keeps the record for the thread's next call; `released`: the caller took the call out of the table itself.
void keep_pending_call(std::shared_ptr<detail::PendingCall> pc, bool released) {
  if (released) pc->released.store(true, std::memory_order_relaxed);
  t_spare_call = std::move(pc);
}
} // namespace

Result<Envelope> ActorHandle::call_envelope(TypeId type, const void* payload, std::size_t len,
                                            std::chrono::microseconds timeout, const SendOptions& opts) {
  if (!rt_) return make_error(ErrorCode::ShuttingDown, "runtime is gone", "call");
  detail::RuntimeState& rt = *rt_;
  std::uint32_t corr = rt.next_correlation.fetch_add(1);
  if (corr == 0) corr = rt.next_correlation.fetch_add(1);
  auto pc = take_pending_call();
  {
    std::lock_guard lk(rt.calls_mu);
    rt.calls[corr] = pc;
  }
  // One clock read for the latency metric and the deadlines (each read is tens of ns, more in some VMs): the
  // timeout bounds the whole call, a send blocked on a full mailbox included.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  const auto spin_until = start + std::min<std::chrono::microseconds>(timeout, rt.cfg.idle_spin);
  // While spinning, the caller consumes the actor's device->host traffic itself (no pump-thread hop before
  // it sees its reply); the executor's own delivery takes over once the caller sleeps.
  detail::ActorCell* target = rt.cell(id_);
  if (target != nullptr) target->direct_pollers.fetch_add(1, std::memory_order_relaxed);
  auto st = rt.send(nullptr, id_, type, payload, len, opts, corr, msg_flags::kExpectsReply);
  if (!st) {
    if (target != nullptr) target->direct_pollers.fetch_sub(1, std::memory_order_relaxed);
    bool removed = false;
    {
      std::lock_guard lk(rt.calls_mu);
      removed = rt.calls.erase(corr) != 0;
    }
    // Not removed: a shutdown is completing the call right now and releases the record when it is done.
    keep_pending_call(std::move(pc), removed);
    return st.error();
  }
  // The clock is read every 16th poll only: a read costs more than a poll that finds nothing.
  for (unsigned polls = 1; !pc->done.load(std::memory_order_acquire); ++polls) {
    if (target != nullptr) (void)rt.exec->poll_deliveries(*target);
    if (polls % 16 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
  }
  if (target != nullptr) {
    target->direct_pollers.fetch_sub(1, std::memory_order_relaxed);
    if (!pc->done.load(std::memory_order_acquire)) rt.exec->poller_left(*target);  // its delivery takes over
  }
  if (!pc->done.load(std::memory_order_acquire)) {
    std::unique_lock lk(pc->mu);
    pc->cv.wait_until(lk, deadline, [&] { return pc->done.load(std::memory_order_acquire); });
  }
  if (!pc->done.load(std::memory_order_acquire)) {
    bool removed = false;
    {
      std::lock_guard lk(rt.calls_mu);
      removed = rt.calls.erase(corr) != 0;
    }
    if (removed) {
      rt.call_timeouts.fetch_add(1, std::memory_order_relaxed);
      keep_pending_call(std::move(pc), true);
      return make_error(ErrorCode::Timeout, "no reply within " + std::to_string(timeout.count()) + " us",
                        name().empty() ? "call" : name());
    }
    // The reply is being delivered right now: wait for it.
    std::unique_lock lk(pc->mu);
    pc->cv.wait(lk, [&] { return pc->done.load(std::memory_order_acquire); });
  }
  rt.call_latency.record(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count()));
  rt.calls_done.fetch_add(1, std::memory_order_relaxed);
  Result<Envelope> out = [&] {
    std::lock_guard lk(pc->mu);
    return std::move(pc->result);  // set once; complete_call dropped the call from the table before setting it
  }();
  keep_pending_call(std::move(pc), false);
  return out;
}

std::uint64_t ActorHandle::credits() const {
  auto c = live_cell(rt_, id_);
  if (!c) return 0;
  const std::uint64_t depth = (*c)->inbox.view().size_approx();
  const std::uint64_t high = (*c)->gauge.high();
  return depth < high ? high - depth : 0;
}

Result<ActorStatus> ActorHandle::status() const {
  auto c = live_cell(rt_, id_);
  if (!c) return c.error();
  return rt_->status_of(**c);
}

Result<ActorMetrics> ActorHandle::metrics() const {
  auto s = status();
  if (!s) return s.error();
  return s->metrics;
}

// ---------------------------------------------------------------------------------------------------------
// Runtime

Runtime::Runtime(std::shared_ptr<detail::RuntimeState> state) noexcept : state_(std::move(state)) {}
Runtime::Runtime(Runtime&&) noexcept = default;
Runtime& Runtime::operator=(Runtime&& other) noexcept {
  if (this != &other) {
    if (state_) (void)state_->shutdown(std::chrono::milliseconds(2000));
    state_ = std::move(other.state_);
  }
  return *this;
}
Runtime::~Runtime() {
  if (state_) (void)state_->shutdown(std::chrono::milliseconds(2000));
}

Result<ActorHandle> Runtime::launch_type(std::string_view name, const LaunchOptions& opts, ActorType type) {
  auto id = state_->launch(kHostActor, name, opts, std::move(type));
  if (!id) return id.error();
  return ActorHandle(state_, *id);
}

Result<ActorHandle> Runtime::find(std::string_view name) const {
  auto id = state_->registry.lookup(name);
  if (!id) return id.error();
  return ActorHandle(state_, *id);
}

Result<ActorHandle> Runtime::handle(ActorId id) const {
  if (state_->cell(id) == nullptr) {
    return make_error(ErrorCode::ActorNotFound, "no actor with id " + std::to_string(id), "Runtime::handle");
  }
  return ActorHandle(state_, id);
}

Status Runtime::kill_tree(ActorId id) {
  detail::ActorCell* c = state_->cell(id);
  if (c == nullptr) return make_error(ErrorCode::ActorNotFound, "no actor with id " + std::to_string(id), "kill_tree");
  return state_->command(*c, detail::Command::Kill, true, "kill_tree");
}

Result<PublishReport> Runtime::publish_envelope(std::string_view topic, Envelope env, bool retain) {
  env.header.magic = kMessageMagic;
  env.header.version = kMessageVersion;
  env.header.source = kHostActor;
  env.header.payload_len = static_cast<std::uint16_t>(env.payload.size());
  if (env.payload.size() > kMaxPayload) {
    return make_error(ErrorCode::MessageTooLarge, "payload exceeds 65535 bytes", "publish");
  }
  return state_->pubsub.publish(topic, env, retain);
}

Result<std::uint64_t> Runtime::subscribe(std::string_view pattern, ActorId subscriber) {
  if (state_->cell(subscriber) == nullptr) {
    return make_error(ErrorCode::ActorNotFound, "no actor with id " + std::to_string(subscriber), "subscribe");
  }
  return state_->pubsub.subscribe(pattern, subscriber);
}

Registry& Runtime::registry() { return state_->registry; }
PubSub& Runtime::pubsub() { return state_->pubsub; }
DeadLetterQueue& Runtime::dead_letters() { return state_->dlq; }
HlcClock& Runtime::clock() { return state_->clock; }
Backend Runtime::backend() const noexcept { return state_->backend; }
unsigned Runtime::workers() const noexcept { return state_->exec->workers(); }
bool Runtime::running() const noexcept { return state_ && !state_->shutting_down.load(); }

ReplayReport Runtime::replay_dead_letters(const std::function<bool(const DeadLetter&)>& filter) {
  auto* st = state_.get();
  return state_->dlq.replay(filter ? filter : [](const DeadLetter&) { return true; },
                            [st](const Envelope& env) {
                              detail::t_resending = true;  // its failure is the replay's to record
                              Status s = st->deliver_envelope(env.header.destination, env);
                              detail::t_resending = false;
                              return s;
                            });
}

RuntimeMetrics Runtime::metrics() const {
  RuntimeMetrics m;
  std::vector<detail::ActorCell*> snapshot;
  {
    std::lock_guard lk(state_->cells_mu);
    for (auto& c : state_->cells) snapshot.push_back(c.get());
  }
  for (auto* c : snapshot) {
    if (control_state(c->cb) != ActorState::Terminated) ++m.actors_live;
    m.messages_sent += c->received.load();
    m.messages_processed += state_->exec->device_processed(*c).value_or(detail::load_relaxed(&c->cb.processed));
  }
  m.actors_launched = state_->launched.load();
  m.dead_letters = state_->dead_letters.load();
  m.tenant_violations = state_->tenant_violations.load();
  m.restarts = state_->restarts.load();
  m.failures = state_->failures.load();
  m.calls = state_->calls_done.load();
  m.call_timeouts = state_->call_timeouts.load();
  m.call_p50_ns = state_->call_latency.percentile(0.5);
  m.call_p99_ns = state_->call_latency.percentile(0.99);
  state_->exec->device_memory(m);
  return m;
}

std::vector<ActorStatus> Runtime::actors() const {
  std::vector<detail::ActorCell*> snapshot;
  {
    std::lock_guard lk(state_->cells_mu);
    for (auto& c : state_->cells) snapshot.push_back(c.get());
  }
  std::vector<ActorStatus> out;
  out.reserve(snapshot.size());
  for (auto* c : snapshot) out.push_back(state_->status_of(*c));
  return out;
}

std::uint64_t Runtime::on_event(std::function<void(const RuntimeEvent&)> observer) {
  std::lock_guard lk(state_->observers_mu);
  const std::uint64_t id = state_->next_observer++;
  state_->observers.emplace_back(id, std::move(observer));
  return id;
}

void Runtime::remove_observer(std::uint64_t id) {
  std::lock_guard lk(state_->observers_mu);
  std::erase_if(state_->observers, [id](const auto& p) { return p.first == id; });
}

Status Runtime::shutdown(std::chrono::milliseconds deadline) { return state_->shutdown(deadline); }

} // namespace ringkernel
