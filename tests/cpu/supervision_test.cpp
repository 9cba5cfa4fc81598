// Supervision on the CPU backend: restart strategies, restart budgets, escalation, kill_tree, manual restart.
#include "test_actors.hpp"

namespace rkt {
namespace {

struct Spawn {
  static constexpr auto type_id = message_type("t.Spawn");
  std::uint32_t n;
  std::uint32_t auto_activate;
};
struct Kids {
  static constexpr auto type_id = message_type("t.Kids");
  std::uint32_t n;
  ActorId ids[4];
};

/// The hooks of each child slot, shared between the test and every incarnation of the parent.
struct Family {
  std::array<std::shared_ptr<Hooks>, 4> kid_hooks{std::make_shared<Hooks>(), std::make_shared<Hooks>(),
                                                  std::make_shared<Hooks>(), std::make_shared<Hooks>()};
  std::shared_ptr<Hooks> parent_hooks = std::make_shared<Hooks>();
  std::atomic<int> generation{0};
};

/// Spawns Counter children on request; also a Counter itself (Add/Boom...).
struct Parent {
  using messages = message_list<Spawn, Add, Boom>;
  std::shared_ptr<Family> fam;
  std::uint64_t total = 0;
  int gen = 0;
  explicit Parent(std::shared_ptr<Family> f) : fam(std::move(f)) {
    fam->parent_hooks->constructed.fetch_add(1);
    gen = fam->generation.fetch_add(1);
  }
  void handle(auto& ctx, const Spawn& m) {
    Kids out{};
    LaunchOptions o;
    o.auto_activate = m.auto_activate != 0;
    for (std::uint32_t i = 0; i < m.n && i < 4; ++i) {
      auto id = ctx.template spawn<Counter>(ctx.name() + "/g" + std::to_string(gen) + "k" + std::to_string(i), o,
                                            fam->kid_hooks[i]);
      if (!id) {
        ctx.fail(id.error().describe());
        return;
      }
      out.ids[out.n++] = *id;
    }
    ctx.reply(out);
  }
  void handle(auto& ctx, const Add& m) { total += m.v; ctx.reply(Sum{total}); }
  void handle(auto& ctx, const Boom&) { ctx.fail("parent boom"); }
};

struct Events {
  std::mutex mu;
  std::vector<RuntimeEvent> all;
  std::size_t count(ActorId id, RuntimeEvent::Kind k) {
    std::lock_guard lk(mu);
    return static_cast<std::size_t>(
        std::count_if(all.begin(), all.end(), [&](auto& e) { return e.actor == id && e.kind == k; }));
  }
};

std::shared_ptr<Events> observe(Runtime& rt) {
  auto ev = std::make_shared<Events>();
  rt.on_event([ev](const RuntimeEvent& e) {
    std::lock_guard lk(ev->mu);
    ev->all.push_back(e);
  });
  return ev;
}

Kids spawn_kids(ActorHandle& parent, std::uint32_t n, bool auto_activate = true) {
  auto r = parent.call<Kids>(Spawn{n, auto_activate ? 1u : 0u}, kLong);
  EXPECT_TRUE(r.ok()) << r.error().describe();
  return r.ok() ? *r : Kids{};
}

TEST(Supervision, OneForOneRestartGivesFreshStateAndKeepsLaterMessages) {
  auto rt = make_runtime();
  auto hooks = std::make_shared<Hooks>();
  auto h = rt.launch<Counter>("c", {}, hooks);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Inc{10}).ok());
  ASSERT_TRUE(h->send(Boom{1}).ok());
  ASSERT_TRUE(h->send(Inc{5}).ok());
  ASSERT_TRUE(h->send(Inc{6}).ok());
  auto total = h->call<Sum>(Get{}, kLong);
  ASSERT_TRUE(total.ok()) << total.error().describe();
  EXPECT_EQ(total->total, 11u);  // 10 was lost with the old state; 5 and 6 reached the new one
  EXPECT_EQ(hooks->constructed.load(), 2);
  EXPECT_EQ(hooks->starts.load(), 2);
  auto m = h->metrics();
  EXPECT_EQ(m->restarts, 1u);
  EXPECT_EQ(m->errors, 1u);
  EXPECT_EQ(m->last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
  EXPECT_EQ(rt.metrics().restarts, 1u);
  EXPECT_EQ(rt.metrics().failures, 1u);
  auto failed = letters(rt, DeadLetterReason::HandlerFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].envelope.as<Boom>()->code, 1u);
  EXPECT_NE(failed[0].detail.find("boom 1"), std::string::npos) << failed[0].detail;
}

TEST(Supervision, ThrowingHandlerCountsAsFailure) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c");
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Inc{3}).ok());
  auto r = h->call<Sum>(Throw{9}, kLong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::HandlerFailed);
  auto total = h->call<Sum>(Add{1}, kLong);
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(total->total, 1u);
  EXPECT_EQ(h->metrics()->restarts, 1u);
  auto failed = letters(rt, DeadLetterReason::HandlerFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].detail.find("thrown 9"), std::string::npos) << failed[0].detail;
}

TEST(Supervision, OneForAllRestartsEverySibling) {
  auto rt = make_runtime(2);
  auto fam = std::make_shared<Family>();
  LaunchOptions po;
  po.supervision.strategy = SupervisionStrategy::OneForAll;
  auto p = rt.launch<Parent>("p", po, fam);
  ASSERT_TRUE(p.ok());
  Kids kids = spawn_kids(*p, 3);
  ASSERT_EQ(kids.n, 3u);
  std::vector<ActorHandle> hs;
  for (std::uint32_t i = 0; i < 3; ++i) hs.push_back(*rt.handle(kids.ids[i]));
  for (auto& k : hs) ASSERT_EQ(k.call<Sum>(Add{7}, kLong)->total, 7u);
  ASSERT_TRUE(hs[1].send(Boom{2}).ok());
  for (std::uint32_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(eventually([&] { return fam->kid_hooks[i]->constructed.load() == 2; })) << "kid " << i;
  }
  for (auto& k : hs) {
    auto t = k.call<Sum>(Get{}, kLong);
    ASSERT_TRUE(t.ok()) << t.error().describe();
    EXPECT_EQ(t->total, 0u);  // every sibling lost its state
    EXPECT_EQ(k.metrics()->restarts, 1u);
  }
  EXPECT_EQ(fam->parent_hooks->constructed.load(), 1);
  EXPECT_EQ(p->status()->children.size(), 3u);
}

TEST(Supervision, RestForOneRestartsTheFailedAndLaterSiblings) {
  auto rt = make_runtime(2);
  auto fam = std::make_shared<Family>();
  LaunchOptions po;
  po.supervision.strategy = SupervisionStrategy::RestForOne;
  auto p = rt.launch<Parent>("p", po, fam);
  ASSERT_TRUE(p.ok());
  Kids kids = spawn_kids(*p, 3);
  ASSERT_EQ(kids.n, 3u);
  std::vector<ActorHandle> hs;
  for (std::uint32_t i = 0; i < 3; ++i) hs.push_back(*rt.handle(kids.ids[i]));
  for (auto& k : hs) ASSERT_EQ(k.call<Sum>(Add{7}, kLong)->total, 7u);
  ASSERT_TRUE(hs[1].send(Boom{3}).ok());
  ASSERT_TRUE(eventually([&] { return fam->kid_hooks[1]->constructed.load() == 2; }));
  ASSERT_TRUE(eventually([&] { return fam->kid_hooks[2]->constructed.load() == 2; }));
  EXPECT_EQ(hs[0].call<Sum>(Get{}, kLong)->total, 7u);
  EXPECT_EQ(hs[1].call<Sum>(Get{}, kLong)->total, 0u);
  EXPECT_EQ(hs[2].call<Sum>(Get{}, kLong)->total, 0u);
  EXPECT_EQ(fam->kid_hooks[0]->constructed.load(), 1);
  EXPECT_EQ(hs[0].metrics()->restarts, 0u);
}

TEST(Supervision, EscalateFailsAndRestartsTheParent) {
  auto rt = make_runtime(2);
  auto ev = observe(rt);
  auto fam = std::make_shared<Family>();
  LaunchOptions po;
  po.supervision.strategy = SupervisionStrategy::Escalate;
  auto p = rt.launch<Parent>("p", po, fam);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->send(Add{40}).ok());
  Kids kids = spawn_kids(*p, 2);
  ASSERT_EQ(kids.n, 2u);
  ASSERT_EQ(p->receive(kLong)->as<Sum>()->total, 40u);
  auto k0 = *rt.handle(kids.ids[0]);
  auto k1 = *rt.handle(kids.ids[1]);
  ASSERT_TRUE(k0.send(Boom{4}).ok());
  ASSERT_TRUE(eventually([&] { return fam->parent_hooks->constructed.load() == 2; }));
  // The children of the failed parent are gone; the parent restarted with fresh state.
  ASSERT_TRUE(k0.wait_for(ActorState::Terminated, kLong).ok());
  ASSERT_TRUE(k1.wait_for(ActorState::Terminated, kLong).ok());
  auto t = p->call<Sum>(Add{1}, kLong);
  ASSERT_TRUE(t.ok()) << t.error().describe();
  EXPECT_EQ(t->total, 1u);
  EXPECT_EQ(p->metrics()->restarts, 1u);
  EXPECT_EQ(ev->count(k0.id(), RuntimeEvent::Kind::Escalated), 1u);
  EXPECT_EQ(ev->count(p->id(), RuntimeEvent::Kind::Restarted), 1u);
  EXPECT_EQ(fam->kid_hooks[0]->constructed.load(), 1);  // escalation does not restart the child
  // The restarted parent can spawn a new generation.
  Kids again = spawn_kids(*p, 1);
  ASSERT_EQ(again.n, 1u);
  EXPECT_EQ(p->status()->children.size(), 1u);
}

TEST(Supervision, RestartBudgetIsEnforced) {
  RuntimeConfig cfg;
  cfg.root_supervision = SupervisorSpec{SupervisionStrategy::OneForOne, 2, std::chrono::milliseconds(60000)};
  auto rt = make_runtime(2, cfg);
  auto ev = observe(rt);
  auto hooks = std::make_shared<Hooks>();
  auto h = rt.launch<Counter>("c", {}, hooks);
  ASSERT_TRUE(h.ok());
  for (std::uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(h->send(Boom{i}).ok());
  ASSERT_TRUE(eventually([&] { return ev->count(h->id(), RuntimeEvent::Kind::RestartLimit) == 1; }));
  auto st = h->status();
  EXPECT_EQ(st->state, ActorState::Failed);
  EXPECT_EQ(st->metrics.restarts, 2u);
  EXPECT_EQ(hooks->constructed.load(), 3);
  EXPECT_EQ(ev->count(h->id(), RuntimeEvent::Kind::Restarted), 2u);
  EXPECT_EQ(ev->count(h->id(), RuntimeEvent::Kind::Failed), 3u);
  // A Failed actor keeps its mailbox but does not process.
  ASSERT_TRUE(h->send(Inc{5}).ok());
  EXPECT_EQ(h->status()->state, ActorState::Failed);
  EXPECT_EQ(h->activate().error().code(), ErrorCode::IllegalTransition);
  // Manual restart: fresh state, the queued message is processed.
  ASSERT_TRUE(h->restart().ok());
  ASSERT_TRUE(h->wait_for(ActorState::Active, kLong).ok());
  auto t = h->call<Sum>(Get{}, kLong);
  ASSERT_TRUE(t.ok()) << t.error().describe();
  EXPECT_EQ(t->total, 5u);
  EXPECT_EQ(h->metrics()->restarts, 3u);
  EXPECT_EQ(hooks->constructed.load(), 4);
}

TEST(Supervision, NotRestartableTerminates) {
  auto rt = make_runtime();
  auto hooks = std::make_shared<Hooks>();
  LaunchOptions o;
  o.restartable = false;
  auto h = rt.launch<Counter>("c", o, hooks);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->send(Boom{1}).ok());
  ASSERT_TRUE(h->wait_for(ActorState::Terminated, kLong).ok());
  EXPECT_EQ(hooks->constructed.load(), 1);
  EXPECT_EQ(h->metrics()->restarts, 0u);
  EXPECT_EQ(h->send(Inc{1}).error().code(), ErrorCode::ActorTerminated);
  EXPECT_EQ(letters(rt, DeadLetterReason::HandlerFailed).size(), 1u);
}

TEST(Supervision, KillTreeTerminatesDescendantsAndDeadLettersTheirQueues) {
  auto rt = make_runtime(2);
  auto fam = std::make_shared<Family>();
  auto p = rt.launch<Parent>("p", {}, fam);
  ASSERT_TRUE(p.ok());
  Kids kids = spawn_kids(*p, 3, /*auto_activate=*/false);
  ASSERT_EQ(kids.n, 3u);
  std::vector<ActorHandle> hs;
  for (std::uint32_t i = 0; i < 3; ++i) hs.push_back(*rt.handle(kids.ids[i]));
  for (auto& k : hs) {
    ASSERT_TRUE(k.wait_for(ActorState::Launched, kLong).ok());
    for (int j = 0; j < 4; ++j) ASSERT_TRUE(k.send(Inc{1}).ok());
  }
  ASSERT_TRUE(rt.kill_tree(p->id()).ok());
  ASSERT_TRUE(p->wait_for(ActorState::Terminated, kLong).ok());
  for (auto& k : hs) ASSERT_TRUE(k.wait_for(ActorState::Terminated, kLong).ok());
  EXPECT_EQ(letters(rt, DeadLetterReason::ActorTerminated).size(), 12u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(fam->kid_hooks[i]->stops.load(), 1);
  }
  EXPECT_EQ(rt.metrics().actors_live, 0u);
  EXPECT_EQ(rt.kill_tree(p->id()).error().code(), ErrorCode::ActorTerminated);
  EXPECT_EQ(rt.kill_tree(12345).error().code(), ErrorCode::ActorNotFound);
}

TEST(Supervision, ManualRestartOfADeactivatedActorResetsState) {
  auto rt = make_runtime();
  auto h = rt.launch<Counter>("c");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->call<Sum>(Add{9}, kLong)->total, 9u);
  // restart() is urgent (not ordered after queued messages): deactivate first so the order is known.
  ASSERT_TRUE(h->deactivate().ok());
  ASSERT_TRUE(h->wait_for(ActorState::Deactivated, kLong).ok());
  ASSERT_TRUE(h->restart().ok());
  auto t = h->call<Sum>(Add{1}, kLong);
  ASSERT_TRUE(t.ok()) << t.error().describe();
  EXPECT_EQ(t->total, 1u);
  EXPECT_EQ(h->metrics()->restarts, 1u);
}

TEST(Supervision, ChildOfTenantParentInheritsTenant) {
  auto rt = make_runtime();
  auto fam = std::make_shared<Family>();
  LaunchOptions po;
  po.tenant = 7;
  auto p = rt.launch<Parent>("p", po, fam);
  ASSERT_TRUE(p.ok());
  Kids kids = spawn_kids(*p, 1);
  ASSERT_EQ(kids.n, 1u);
  auto st = rt.handle(kids.ids[0])->status();
  EXPECT_EQ(st->tenant, 7u);
  EXPECT_EQ(st->parent, p->id());
}

}  // namespace
}  // namespace rkt
