// Runtime::snapshot / Runtime::restore_snapshot: the runtime side of checkpointing (the binary format and
// storage live in src/checkpoint). A snapshot is a consistent cut: every actor is paused at a message boundary
// (urgent deactivate), then each cell is read while holding its consumer lock, so no handler runs meanwhile.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime_state.hpp"
#include "ringkernel/checkpoint/snapshot.hpp"

namespace ringkernel {

namespace {

using detail::ActorCell;
using detail::RuntimeState;

std::vector<ActorCell*> all_cells(const RuntimeState& rt) {
  std::vector<ActorCell*> out;
  std::lock_guard lk(rt.cells_mu);
  out.reserve(rt.cells.size());
  for (const auto& c : rt.cells) out.push_back(c.get());
  return out;
}

// A state in which a cell can be captured: not running handlers and with no lifecycle change in progress.
bool settled(const ActorCell& c) {
  const ActorState s = control_state(c.cb);
  if (s == ActorState::Terminated) return true;
  if (c.pending_commands.load() != 0) return false;
  return s == ActorState::Launched || s == ActorState::Deactivated;
}

void reactivate(RuntimeState& rt, const std::vector<ActorCell*>& paused) {
  for (ActorCell* c : paused) (void)rt.command(*c, detail::Command::Activate, false);
}

Status check_cell_geometry(const ActorSnapshot& a, const ActorType& type) {
  const std::string ctx = "restore '" + a.name + "'";
  if (ring_check_geometry(a.opts.mailbox_capacity, a.opts.slot_size) != ErrorCode::Ok ||
      ring_check_geometry(a.opts.outbox_capacity, a.opts.slot_size) != ErrorCode::Ok) {
    return make_error(ErrorCode::Corrupt, "queue geometry is invalid", ctx);
  }
  if (type.largest_message + sizeof(MessageHeader) > a.opts.slot_size) {
    return make_error(ErrorCode::MessageTooLarge, "the actor type's messages no longer fit its slot size", ctx);
  }
  if (a.inbox.size() > a.opts.mailbox_capacity || a.outbox.size() > a.opts.outbox_capacity) {
    return make_error(ErrorCode::Corrupt, "more queued messages than the queue holds", ctx);
  }
  const std::size_t max_payload = a.opts.slot_size - sizeof(MessageHeader);
  for (const auto* q : {&a.inbox, &a.outbox}) {
    for (const Envelope& e : *q) {
      if (e.payload.size() != e.header.payload_len || e.payload.size() > max_payload || !e.header.valid()) {
        return make_error(ErrorCode::Corrupt, "a queued message is malformed or does not fit its slot", ctx);
      }
    }
  }
  if (a.state != ActorState::Launched && a.state != ActorState::Active && a.state != ActorState::Deactivated) {
    return make_error(ErrorCode::Corrupt, "actor state " + std::string(to_string(a.state)) + " cannot be restored",
                      ctx);
  }
  return {};
}

// States built and loaded before anything touches the runtime; destroys whatever was not handed over.
struct Prebuilt {
  std::vector<ActorType> types;
  std::vector<void*> states;
  Prebuilt() = default;
  Prebuilt(const Prebuilt&) = delete;
  Prebuilt& operator=(const Prebuilt&) = delete;
  ~Prebuilt() {
    for (std::size_t i = 0; i < states.size(); ++i) {
      if (states[i] != nullptr) types[i].destroy(states[i]);
    }
  }
};

} // namespace

namespace detail {

Status Executor::read_state(ActorCell& cell, std::size_t offset, std::span<std::byte> dst) {
  if (cell.state == nullptr) return make_error(ErrorCode::Internal, "actor has no state", cell.name);
  std::memcpy(dst.data(), static_cast<const std::byte*>(cell.state) + offset, dst.size());
  return {};
}

std::shared_ptr<std::byte[]> Executor::host_staging(std::size_t bytes) {
  return std::shared_ptr<std::byte[]>(new std::byte[bytes]);
}

// Stops at the first claimed but not yet published slot: a host send still in progress is after the cut.
std::vector<Envelope> peek_ring(const RingView& v) {
  std::vector<Envelope> out;
  const std::uint64_t tail = detail::load_acquire(&v.control->tail);
  const std::uint64_t head = detail::load_acquire(&v.control->head) & ~kRingClosed;
  std::vector<std::byte> decoded(v.ll != 0 ? v.slot_size : 0);
  for (std::uint64_t pos = tail; pos < head; ++pos) {
    const std::byte* slot = v.slot(pos);
    if (v.ll != 0) {
      if (!ll_read_message(v, pos, decoded.data())) break;
      slot = decoded.data();
    } else if (detail::load_acquire(&v.seq[pos & v.mask]) != pos + 1) {
      break;
    }
    Envelope e;
    std::memcpy(&e.header, slot, sizeof(MessageHeader));
    const std::size_t len = std::min<std::size_t>(e.header.payload_len, v.max_payload());
    e.payload.assign(slot + sizeof(MessageHeader), slot + sizeof(MessageHeader) + len);
    out.push_back(std::move(e));
  }
  return out;
}

} // namespace detail

namespace {

// Reads streamed states of the captured cells; the caller holds their consumer locks, so no worker applies a
// command (a restart or termination replaces or frees the state) while a segment is copied.
class CellStateReader final : public StateReader {
public:
  explicit CellStateReader(RuntimeState& rt) : rt_(rt) {}
  void add(ActorId id, ActorCell* c) { cells_[id] = c; }
  Status read(const ActorSnapshot& actor, std::uint64_t offset, std::span<std::byte> dst) override {
    auto it = cells_.find(actor.id);
    if (it == cells_.end() || actor.streamed_size == 0) {
      return make_error(ErrorCode::InvalidArgument, "actor state is not streamed", "read_state '" + actor.name + "'");
    }
    if (offset > actor.streamed_size || dst.size() > actor.streamed_size - offset) {
      return make_error(ErrorCode::InvalidArgument, "range outside the actor state", "read_state '" + actor.name + "'");
    }
    return rt_.exec->read_state(*it->second, static_cast<std::size_t>(offset), dst);
  }
  std::shared_ptr<std::byte[]> staging(std::size_t bytes) override { return rt_.exec->host_staging(bytes); }

private:
  RuntimeState& rt_;
  std::map<ActorId, ActorCell*> cells_;
};

// The consistent cut shared by snapshot() and snapshot_streamed(): pauses every actor, captures everything but
// the states of trivially copyable actors of at least `stream_min` bytes, runs `consume` with the actors still
// paused, then resumes them.
Status capture(RuntimeState& rt, const ActorCatalog& catalog, std::chrono::milliseconds timeout,
               std::size_t stream_min, const std::function<Status(SystemSnapshot&, StateReader&)>& consume) {
  if (rt.shutting_down.load()) return make_error(ErrorCode::ShuttingDown, "runtime is shutting down", "snapshot");
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  // Pause every actor that is processing, until all are settled. Repeated because handlers may spawn actors while
  // we pause, and a supervisor may restart a failed actor (which then becomes Active) meanwhile.
  std::vector<ActorCell*> paused;
  std::set<ActorCell*> seen;
  std::vector<ActorCell*> cells;
  for (;;) {
    cells = all_cells(rt);
    bool all_settled = true;
    for (ActorCell* c : cells) {
      const bool fresh = seen.insert(c).second;
      if (control_state(c->cb) == ActorState::Terminated) continue;
      if (fresh && catalog.find(c->type.type_key) == nullptr) {
        reactivate(rt, paused);
        return make_error(ErrorCode::InvalidArgument,
                          "actor type of '" + c->name + "' (" + c->type.type_key +
                              ") is not in the ActorCatalog: add<A>() it to checkpoint this system",
                          "snapshot");
      }
      if (settled(*c)) continue;
      all_settled = false;
      const bool mine = std::find(paused.begin(), paused.end(), c) != paused.end();
      const ActorState st = control_state(c->cb);
      if (!mine && (st == ActorState::Active || st == ActorState::Launched) &&
          rt.command(*c, detail::Command::Deactivate, true, "checkpoint")) {
        paused.push_back(c);
      }
    }
    if (all_settled) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      reactivate(rt, paused);
      for (ActorCell* c : cells) {
        if (!settled(*c)) {
          return make_error(ErrorCode::Timeout,
                            "actor '" + c->name + "' did not pause at a message boundary in time (it is " +
                                std::string(to_string(control_state(c->cb))) + ")",
                            "snapshot");
        }
      }
      return make_error(ErrorCode::Timeout, "actors did not pause in time", "snapshot");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }

  SystemSnapshot snap;
  CellStateReader reader(rt);
  // Consumer locks of streamed cells stay held until consume() has read their states.
  std::vector<std::unique_lock<std::mutex>> held;
  snap.node_id = rt.cfg.node_id;
  snap.backend = static_cast<std::uint8_t>(rt.backend);
  snap.created_unix_ms = system_physical_ms();
  snap.next_actor_id = rt.next_id.load();
  snap.next_message_id = rt.next_message_id.load();
  const std::set<ActorCell*> was_active(paused.begin(), paused.end());
  std::sort(cells.begin(), cells.end(), [](const ActorCell* a, const ActorCell* b) { return a->id < b->id; });
  Status failed;
  for (ActorCell* c : cells) {
    if (control_state(c->cb) == ActorState::Terminated) continue;
    // The consumer lock keeps the worker out (it holds it for a whole drain); out_mu keeps host receivers out.
    std::unique_lock consumer(c->consumer_mu);
    std::lock_guard out(c->out_mu);
    // Again under the lock termination runs under: a device executor hands a terminated actor's mailbox slots to
    // the next actor.
    if (control_state(c->cb) == ActorState::Terminated) continue;
    ActorSnapshot a;
    a.id = c->id;
    a.parent = c->parent;
    a.name = c->name;
    a.type_key = c->type.type_key;
    a.state = was_active.contains(c) ? ActorState::Active : control_state(c->cb);
    a.suspended = c->suspended.load();
    a.opts = c->opts;
    a.cb.state = static_cast<std::uint32_t>(a.state);
    a.cb.actor_id = c->id;
    a.cb.last_error = detail::load_relaxed(&c->cb.last_error);
    a.cb.restarts = detail::load_relaxed(&c->cb.restarts);
    a.cb.processed = detail::load_relaxed(&c->cb.processed);
    a.cb.errors = detail::load_relaxed(&c->cb.errors);
    a.cb.hlc = detail::load_relaxed(&c->cb.hlc);
    const ActorCodec* codec = catalog.find(a.type_key);
    if (codec->raw_size != 0 && codec->raw_size >= stream_min) {
      // Read later, in segments, by consume() (from device memory for device executors).
      a.streamed_size = codec->raw_size;
      reader.add(c->id, c);
    } else {
      if (auto st = rt.exec->sync_state_to_host(*c); !st) {
        failed = st.error().with_context("snapshot '" + c->name + "'");
        break;
      }
      try {
        codec->save(c->state, a.state_bytes);
      } catch (const std::exception& e) {
        failed = make_error(ErrorCode::HandlerFailed, std::string("checkpoint_save threw: ") + e.what(),
                            "snapshot '" + c->name + "'");
        break;
      }
    }
    a.inbox = detail::peek_ring(c->inbox.view());
    // Then what waits in device queues (K2K messages between GPU actors): restored into the mailbox, which
    // grows if both together need more room.
    const std::size_t host_queued = a.inbox.size();
    if (auto st = rt.exec->device_inbox(*c, false, a.inbox); !st) {
      failed = st.error().with_context("snapshot '" + c->name + "'");
      break;
    }
    // A cluster inbox's slots may be larger than the mailbox's: such a message could not be restored.
    for (std::size_t i = host_queued; i < a.inbox.size() && failed; ++i) {
      if (a.inbox[i].payload.size() > c->inbox.view().max_payload()) {
        failed = make_error(ErrorCode::MessageTooLarge,
                            "a K2K message of " + std::to_string(a.inbox[i].payload.size()) +
                                " bytes queued on the device does not fit the actor's mailbox slots (" +
                                std::to_string(c->inbox.view().max_payload()) + " bytes of payload)",
                            "snapshot '" + c->name + "'");
      }
    }
    if (!failed) break;
    if (a.inbox.size() > a.opts.mailbox_capacity) {
      a.opts.mailbox_capacity = static_cast<std::uint32_t>(std::bit_ceil(a.inbox.size()));
    }
    a.outbox = detail::peek_ring(c->outbox.view());
    if (a.streamed_size != 0) held.push_back(std::move(consumer));
    snap.actors.push_back(std::move(a));
  }
  // The runtime clock last: it has merged every stamp the host has seen up to here.
  snap.hlc = rt.clock.peek();
  if (failed) {
    try {
      failed = consume(snap, reader);
    } catch (const std::exception& e) {
      failed = make_error(ErrorCode::Internal, std::string("checkpoint consumer threw: ") + e.what(), "snapshot");
    }
  }
  held.clear();
  reactivate(rt, paused);
  return failed;
}

} // namespace

Result<SystemSnapshot> Runtime::snapshot(const ActorCatalog& catalog, std::chrono::milliseconds timeout) {
  if (!state_) return make_error(ErrorCode::ShuttingDown, "runtime is gone", "snapshot");
  SystemSnapshot out;
  auto st = capture(*state_, catalog, timeout, SIZE_MAX, [&](SystemSnapshot& snap, StateReader&) {
    out = std::move(snap);
    return Status{};
  });
  if (!st) return st.error();
  return out;
}

Status Runtime::snapshot_streamed(const ActorCatalog& catalog, std::size_t stream_min_bytes,
                                  const std::function<Status(SystemSnapshot&, StateReader&)>& consume,
                                  std::chrono::milliseconds timeout) {
  if (!state_) return make_error(ErrorCode::ShuttingDown, "runtime is gone", "snapshot");
  return capture(*state_, catalog, timeout, std::max<std::size_t>(stream_min_bytes, 1), consume);
}

Status Runtime::restore_snapshot(const SystemSnapshot& snap, const ActorCatalog& catalog) {
  if (!state_) return make_error(ErrorCode::ShuttingDown, "runtime is gone", "restore");
  RuntimeState& rt = *state_;
  if (rt.shutting_down.load()) return make_error(ErrorCode::ShuttingDown, "runtime is shutting down", "restore");
  {
    std::lock_guard lk(rt.cells_mu);
    if (!rt.cells.empty() || rt.next_id.load() != 1) {
      return make_error(ErrorCode::InvalidArgument, "restore needs a runtime in which no actor was launched yet",
                        "restore");
    }
  }
  if (snap.next_actor_id == 0 || snap.next_actor_id - 1 > rt.cfg.max_actors) {
    return make_error(ErrorCode::InvalidArgument,
                      "the checkpoint used actor ids up to " + std::to_string(snap.next_actor_id - 1) +
                          " but max_actors is " + std::to_string(rt.cfg.max_actors),
                      "restore");
  }

  // Phase 1: validate everything and build every state, without touching the runtime.
  Prebuilt pre;
  std::set<ActorId> ids;
  std::set<std::string> names;
  ActorId last = 0;
  for (const ActorSnapshot& a : snap.actors) {
    const std::string ctx = "restore '" + a.name + "'";
    if (a.id <= last || a.id >= snap.next_actor_id) {
      return make_error(ErrorCode::Corrupt, "actor ids are not increasing or exceed the recorded next id", ctx);
    }
    last = a.id;
    if (auto v = Registry::validate_name(a.name); !v) return v.error().with_context(ctx);
    if (!names.insert(a.name).second) return make_error(ErrorCode::Corrupt, "duplicate actor name", ctx);
    const ActorCodec* codec = catalog.find(a.type_key);
    if (codec == nullptr) {
      return make_error(ErrorCode::InvalidArgument, "actor type " + a.type_key + " is not in the ActorCatalog", ctx);
    }
    ActorType type = codec->make_type(a.name);
    if (auto st = check_cell_geometry(a, type); !st) return st.error();
    if (a.prepared) {
      // Built and loaded by a streaming decode; taken over only once everything else validated (below).
      if (a.prepared->type_key() != a.type_key || a.prepared->size() != codec->raw_size || codec->raw_size == 0 ||
          a.prepared->get() == nullptr) {
        return make_error(ErrorCode::InvalidArgument, "prepared state does not match the actor type (or was used)",
                          ctx);
      }
      pre.types.push_back(std::move(type));
      pre.states.push_back(nullptr);
      ids.insert(a.id);
      continue;
    }
    void* state = nullptr;
    try {
      state = type.create();
    } catch (...) {
      return make_error(ErrorCode::HandlerFailed, "actor constructor threw", ctx);
    }
    pre.types.push_back(std::move(type));
    pre.states.push_back(state);
    Status loaded = make_error(ErrorCode::Internal, "not loaded");
    try {
      loaded = codec->load(state, a.state_bytes);
    } catch (const std::exception& e) {
      loaded = make_error(ErrorCode::Corrupt, std::string("checkpoint_load threw: ") + e.what());
    }
    if (!loaded) return loaded.error().with_context(ctx);
    ids.insert(a.id);
  }
  // Everything validated: take over the prepared states (the snapshot no longer destroys them).
  for (std::size_t i = 0; i < snap.actors.size(); ++i) {
    if (snap.actors[i].prepared) pre.states[i] = snap.actors[i].prepared->release();
  }

  // Phase 2: launch with the recorded ids (paused), then refill queues and counters.
  std::vector<ActorCell*> launched;
  for (std::size_t i = 0; i < snap.actors.size(); ++i) {
    const ActorSnapshot& a = snap.actors[i];
    ActorType type = pre.types[i];
    // The first create() hands over the loaded state; later ones (supervisor restarts) build fresh ones.
    auto preset = std::make_shared<std::atomic<void*>>(pre.states[i]);
    pre.states[i] = nullptr;
    type.create = [preset, fresh = std::move(type.create)]() -> void* {
      void* p = preset->exchange(nullptr);
      return p != nullptr ? p : fresh();
    };
    LaunchOptions opts = a.opts;
    opts.auto_activate = false;
    const ActorId parent = ids.contains(a.parent) ? a.parent : kHostActor;
    rt.next_id.store(a.id);
    auto id = rt.launch(parent, a.name, opts, std::move(type));
    if (void* p = preset->exchange(nullptr); p != nullptr) pre.types[i].destroy(p);
    if (!id) return id.error().with_context("restore (after launching " + std::to_string(i) + " actors)");
    ActorCell* c = rt.cell(*id);
    // The actor is visible already: refilled as senders and deliveries are, so that one terminated meanwhile
    // (its rings then handed back) gets its messages dead-lettered, not written into reused slots.
    const auto refill = [&](const std::vector<Envelope>& queued, bool gone, const RingView& ring) {
      MpscProducer producer(ring);
      for (const Envelope& e : queued) {
        if (gone) {
          rt.dead_letter(e.header, e.payload.data(), DeadLetterReason::ActorTerminated, "restored to a terminated actor");
        } else {
          (void)producer.try_push(e.header, e.payload.data());
        }
      }
    };
    {
      detail::InProgress sending(c->inflight_sends);
      const bool gone = c->terminate_requested.load();
      refill(a.inbox, gone, c->inbox.view());
      if (!gone) c->received.fetch_add(a.inbox.size(), std::memory_order_relaxed);
    }
    {
      detail::InProgress delivering(c->outbox_pushers);
      refill(a.outbox, c->outbox_closed.load(), c->outbox.view());
    }
    detail::store_relaxed(&c->cb.processed, a.cb.processed);
    detail::store_relaxed(&c->cb.errors, a.cb.errors);
    detail::store_relaxed(&c->cb.restarts, a.cb.restarts);
    detail::store_relaxed(&c->cb.last_error, a.cb.last_error);
    std::uint64_t cur = detail::load_relaxed(&c->cb.hlc);
    while (cur < a.cb.hlc && !detail::compare_exchange_weak(&c->cb.hlc, cur, a.cb.hlc)) {
    }
    c->suspended.store(a.suspended);
    launched.push_back(c);
  }
  rt.next_id.store(std::max(rt.next_id.load(), snap.next_actor_id));
  std::uint64_t mid = rt.next_message_id.load();
  while (mid < snap.next_message_id && !rt.next_message_id.compare_exchange_weak(mid, snap.next_message_id)) {
  }
  rt.clock.restore(snap.hlc);

  // Phase 3: put every actor back into its recorded lifecycle state.
  for (std::size_t i = 0; i < launched.size(); ++i) {
    const ActorState want = snap.actors[i].state;
    if (want == ActorState::Active) {
      (void)rt.command(*launched[i], detail::Command::Activate, false);
    } else if (want == ActorState::Deactivated) {
      (void)rt.command(*launched[i], detail::Command::Deactivate, false);
    }
  }
  // Return only once every actor is in its recorded state, as launch() returns with the actor started.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (std::size_t i = 0; i < launched.size(); ++i) {
    const ActorState want = snap.actors[i].state;
    for (;;) {
      const ActorState s = control_state(launched[i]->cb);
      // A restored actor may already fail or be stopped by its own on_start: that is its business, not restore's.
      if (s == want || s == ActorState::Failed || s == ActorState::Terminating || s == ActorState::Terminated) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        return make_error(ErrorCode::Timeout,
                          "actor did not reach its recorded state " + std::string(to_string(want)) + " (it is " +
                              std::string(to_string(s)) + ")",
                          "restore '" + launched[i]->name + "'");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return {};
}

} // namespace ringkernel
