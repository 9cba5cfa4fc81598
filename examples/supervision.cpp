// supervision: a parent actor spawns a child; when the child fails, the parent's OneForOne strategy restarts
// just that child with fresh state, within a restart budget. Lifecycle events are observed with on_event.
//
// Exits 0 when the child was restarted exactly as often as it failed and works afterwards, 1 otherwise.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "ringkernel/runtime.hpp"

using namespace ringkernel;
using namespace std::chrono_literals;

struct Work {
  static constexpr auto type_id = message_type("supervision.Work");
  std::uint32_t amount;
};
struct Crash {
  static constexpr auto type_id = message_type("supervision.Crash");
  std::uint32_t unused;
};
struct GetDone {
  static constexpr auto type_id = message_type("supervision.GetDone");
  std::uint32_t unused;
};
struct Done {
  static constexpr auto type_id = message_type("supervision.Done");
  std::uint64_t total;
};
struct SpawnWorker {
  static constexpr auto type_id = message_type("supervision.SpawnWorker");
  std::uint32_t unused;
};
struct Spawned {
  static constexpr auto type_id = message_type("supervision.Spawned");
  ActorId child;
  std::uint32_t ok;
};

// The child: accumulates work, and fails on request. ctx.fail() marks the handler as failed; after it returns,
// the runtime dead-letters the message and asks the child's supervisor (its parent) what to do.
struct Worker {
  using messages = message_list<Work, Crash, GetDone>;
  std::uint64_t total = 0;
  void handle(auto&, const Work& w) { total += w.amount; }
  void handle(auto& ctx, const Crash&) { ctx.fail("asked to crash"); }
  void handle(auto& ctx, const GetDone&) { ctx.reply(Done{total}); }
};

// The parent: spawns the worker when asked. How it supervises is set by its LaunchOptions::supervision.
struct Parent {
  using messages = message_list<SpawnWorker>;
  void handle(auto& ctx, const SpawnWorker&) {
    auto child = ctx.template spawn<Worker>("worker");
    ctx.reply(Spawned{child ? *child : 0, child ? 1u : 0u});
  }
};

int main() {
  auto rt = Runtime::builder().workers(2).build();
  if (!rt) {
    std::fprintf(stderr, "cannot build runtime: %s\n", rt.error().describe().c_str());
    return 1;
  }

  // Observers run on runtime threads: keep them short and thread safe (here: append under a lock).
  std::mutex mu;
  std::vector<RuntimeEvent> events;
  rt->on_event([&](const RuntimeEvent& e) {
    std::lock_guard lk(mu);
    events.push_back(e);
  });

  // OneForOne: restart only the failed child; at most 5 restarts in any 10-second window. Past that the
  // parent would give up and escalate (fail itself) to its own supervisor.
  LaunchOptions parent_opts;
  parent_opts.supervision = SupervisorSpec{SupervisionStrategy::OneForOne, 5, 10s};
  auto parent = rt->launch<Parent>("parent", parent_opts);
  if (!parent) {
    std::fprintf(stderr, "launch failed: %s\n", parent.error().describe().c_str());
    return 1;
  }
  auto spawned = parent->call<Spawned>(SpawnWorker{0}, 1s);
  if (!spawned || spawned->ok == 0) {
    std::fprintf(stderr, "spawn failed\n");
    return 1;
  }
  auto worker = rt->handle(spawned->child);
  if (!worker) return 1;

  int failures = 0;
  auto check = [&](bool cond, const char* what) {
    std::printf("  %-52s %s\n", what, cond ? "ok" : "FAILED");
    failures += cond ? 0 : 1;
  };

  // Some work, then a crash. The handle stays valid across restarts: same id, same name, fresh state.
  (void)worker->send(Work{10});
  (void)worker->send(Work{5});
  auto before = worker->call<Done>(GetDone{0}, 1s);
  check(before && before->total == 15, "worker accumulated 15 before the crash");

  constexpr int kCrashes = 3;
  for (int i = 0; i < kCrashes; ++i) (void)worker->send(Crash{0});
  (void)worker->send(Work{7});
  // Messages queued behind a failure are kept for the restarted instance, so this sees Work{7} only.
  auto after = worker->call<Done>(GetDone{0}, 1s);
  check(after && after->total == 7, "restarted worker starts fresh (total 7)");

  auto m = worker->metrics();
  check(m && m->restarts == kCrashes, "worker restarted once per crash (3)");
  auto st = worker->status();
  check(st && st->state == ActorState::Active && st->parent == parent->id(), "worker is active, parent unchanged");
  check(rt->dead_letters().stats().count(DeadLetterReason::HandlerFailed) == kCrashes,
        "each failing message was dead-lettered");

  std::size_t restarted = 0;
  {
    std::lock_guard lk(mu);
    std::printf("events:\n");
    for (const RuntimeEvent& e : events) {
      std::printf("  %-10s %-8s %s\n", std::string(to_string(e.kind)).c_str(), e.name.c_str(), e.detail.c_str());
      if (e.kind == RuntimeEvent::Kind::Restarted && e.actor == worker->id()) ++restarted;
    }
  }
  check(restarted == kCrashes, "observer saw 3 Restarted events for the worker");

  auto done = rt->shutdown();
  check(done.ok(), "clean shutdown");
  std::printf("%s\n", failures == 0 ? "supervision works" : "supervision example FAILED");
  return failures == 0 ? 0 : 1;
}
