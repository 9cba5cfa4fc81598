// WebGPU backend, failure paths: handlers that fail, per-launch state, validation errors forced through the
// test hooks (webgpu::testing), and device loss (wgpuDeviceDestroy). Runs on Mesa lavapipe in CI.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "ringkernel/ringkernel.hpp"
#include "ringkernel/webgpu/webgpu.hpp"

namespace rk = ringkernel;
namespace wg = ringkernel::webgpu;
using namespace std::chrono_literals;

namespace {

struct Put {  // adds `value` to the total in state words 0..1 and replies with it
  static constexpr auto type_id = rk::message_type("wgf.Put");
  std::uint32_t value;
};
struct Total {
  static constexpr auto type_id = rk::message_type("wgf.Total");
  std::uint32_t total;
};
struct Boom {  // fails when `fail` is non-zero, after a reply that must still be delivered
  static constexpr auto type_id = rk::message_type("wgf.Boom");
  std::uint32_t fail;
};
struct Poke {  // state word at a computed index: write `value` to word `index` (clamped), reply with word 3
  static constexpr auto type_id = rk::message_type("wgf.Poke");
  std::uint32_t index, value;
};

using V32 = wg::Val<std::uint32_t>;

std::shared_ptr<const wg::ActorProgram> program() {
  wg::ActorSpec s;
  s.name = "faulty";
  s.state_words = 4;
  s.max_payload_words = 2;
  s.max_outputs = 1;
  s.handlers.push_back({Put::type_id, [](wg::ActorContext& m) {
    V32 total = m.state_word(0).load() + m.payload<std::uint32_t>(0);
    m.state_word(0) = total;
    m.reply(Total::type_id, {total});
  }});
  s.handlers.push_back({Boom::type_id, [](wg::ActorContext& m) {
    m.reply(Total::type_id, {m.state_word(0).load()});
    m.if_(m.payload<std::uint32_t>(0) != 0u, [&] { m.fail(); });
  }});
  s.handlers.push_back({Poke::type_id, [](wg::ActorContext& m) {
    m.state_word_at(m.payload<std::uint32_t>(0)) = m.payload<std::uint32_t>(4);
    m.reply(Total::type_id, {m.state_word(3).load()});
  }});
  auto p = wg::compile(s);
  EXPECT_TRUE(p) << (p ? "" : p.error().describe());
  return p ? *p : nullptr;
}

// `max_restarts` = 0: a failure leaves the actor failed (the root supervisor's budget is spent at once).
rk::Runtime runtime(rk::Backend b, std::uint32_t max_restarts = rk::SupervisorSpec{}.max_restarts) {
  rk::RuntimeConfig cfg;
  cfg.backend = b;
  cfg.root_supervision.max_restarts = max_restarts;
  auto rt = rk::Runtime::builder().config(cfg).build();
  EXPECT_TRUE(rt) << (rt ? "" : rt.error().describe());
  return std::move(*rt);
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return p();
}

// Launches the faulty actor (its total starts at 10) and sends Put{1}, Boom{1}, Put{2}, Put{3} back to back (one
// batch on WebGPU).
std::optional<rk::ActorHandle> start_sequence(rk::Runtime& rt) {
  auto a = wg::launch(rt, "f", program(), {}, {10});  // per-launch initial state
  EXPECT_TRUE(a) << (a ? "" : a.error().describe());
  if (!a) return std::nullopt;
  EXPECT_TRUE(a->send(Put{1}));
  EXPECT_TRUE(a->send(Boom{1}));
  EXPECT_TRUE(a->send(Put{2}));
  EXPECT_TRUE(a->send(Put{3}));
  return *a;
}

// The totals the host receives, up to four (fewer if one does not come within `wait`).
std::vector<std::uint32_t> totals(rk::ActorHandle& a, std::chrono::milliseconds wait) {
  std::vector<std::uint32_t> got;
  for (int i = 0; i < 4; ++i) {
    auto env = a.receive(wait);
    if (!env) break;
    auto r = env->as<Total>();
    EXPECT_TRUE(r);
    if (!r) break;
    got.push_back(r->total);
  }
  return got;
}

// The sequence's totals: the failure restarts the actor from its initial state and the messages behind it run on
// the restarted instance, as on the CPU backend.
std::vector<std::uint32_t> fail_sequence(rk::Backend backend, std::uint64_t* restarts, std::uint64_t* failed_letters) {
  auto rt = runtime(backend);
  auto a = start_sequence(rt);
  if (!a) return {};
  const auto got = totals(*a, 5s);
  *restarts = a->metrics()->restarts;
  *failed_letters = rt.dead_letters().stats().by_reason[static_cast<std::size_t>(rk::DeadLetterReason::HandlerFailed)];
  EXPECT_TRUE(rt.shutdown());
  return got;
}

// The sequence with no automatic restart: the failure leaves the actor failed with Put{2} and Put{3} still to run
// (on WebGPU already taken from the inbox, in the same batch as Boom). restart(), then a terminate() as soon as
// the actor is active again: the terminate is ordered after the two messages, which the restarted instance runs
// first. Returns the totals received; `terminated_letters` counts what the terminate dead-lettered.
std::vector<std::uint32_t> restart_then_terminate(rk::Backend backend, std::uint64_t* terminated_letters) {
  auto rt = runtime(backend, 0);
  auto a = start_sequence(rt);
  if (!a) return {};
  EXPECT_TRUE(eventually([&] { return a->status() && a->status()->state == rk::ActorState::Failed; }));
  EXPECT_TRUE(a->restart());
  // On the CPU backend the restart is applied by the actor's worker: a terminate sent before it ran would cancel
  // it. On WebGPU it is applied in this thread, so the terminate follows while Put{2} and Put{3} still wait.
  EXPECT_TRUE(eventually([&] { return a->status() && a->status()->state == rk::ActorState::Active; }));
  EXPECT_TRUE(a->terminate());
  const auto got = totals(*a, 2s);
  EXPECT_TRUE(a->wait_for(rk::ActorState::Terminated, 5s));
  *terminated_letters = rt.dead_letters().stats().by_reason[static_cast<std::size_t>(rk::DeadLetterReason::ActorTerminated)];
  EXPECT_TRUE(rt.shutdown());
  return got;
}

} // namespace

TEST(WebGpuFaults, HandlerFailRestartsAndKeepsLaterMessagesLikeTheCpuBackend) {
  std::uint64_t restarts = 0, letters = 0;
  const auto gpu = fail_sequence(rk::Backend::WebGpu, &restarts, &letters);
  // 11 after Put{1}; Boom replies 11 then fails; the restarted instance starts again from 10.
  EXPECT_EQ(gpu, (std::vector<std::uint32_t>{11, 11, 12, 15}));
  EXPECT_EQ(restarts, 1u);
  EXPECT_EQ(letters, 1u);
  const auto cpu = fail_sequence(rk::Backend::Cpu, &restarts, &letters);
  EXPECT_EQ(cpu, gpu);
  EXPECT_EQ(restarts, 1u);
  EXPECT_EQ(letters, 1u);
}

TEST(WebGpuFaults, LaunchStateAndComputedStateIndex) {
  auto rt = runtime(rk::Backend::WebGpu);
  auto p = program();
  auto too_many = wg::launch(rt, "x", p, {}, {1, 2, 3, 4, 5});
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code(), rk::ErrorCode::InvalidArgument);
  auto a = wg::launch(rt, "a", p, {}, {0, 0, 0, 7});
  auto b = wg::launch(rt, "b", p);
  ASSERT_TRUE(a && b);
  auto r = a->call<Total>(Poke{0, 5}, 2s);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->total, 7u);  // word 3 from the launch state
  r = a->call<Total>(Poke{1000, 9}, 2s);  // clamped to the last word (3), never another actor's slot
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->total, 9u);
  r = b->call<Total>(Poke{0, 0}, 2s);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->total, 0u);  // b's slot untouched
  r = a->call<Total>(Put{0}, 2s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->total, 5u);  // word 0 written through the computed index
}

TEST(WebGpuFaults, OversizedDispatchFailsTheBatchThenTheActorRecovers) {
  auto rt = runtime(rk::Backend::WebGpu);
  auto a = wg::launch(rt, "a", program(), {}, {100});
  ASSERT_TRUE(a) << a.error().describe();
  ASSERT_TRUE(a->call<Total>(Put{1}, 2s));
  wg::testing::inject(wg::testing::Fault::OversizedDispatch);
  // The call's message was in the failed batch: it is dead-lettered and the call ends with that error (not a
  // timeout), naming the validation error.
  auto r = a->call<Total>(Put{1}, 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), rk::ErrorCode::HandlerFailed) << r.error().describe();
  EXPECT_NE(r.error().describe().find("WebGPU error"), std::string::npos) << r.error().describe();
  EXPECT_TRUE(eventually([&] { return a->metrics()->restarts >= 1; }));
  // The device survives a validation error: the restarted actor (initial state 100) runs again.
  auto ok = a->call<Total>(Put{2}, 5s);
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->total, 102u);
  EXPECT_TRUE(rt.shutdown());
}

TEST(WebGpuFaults, BadBindingFailsTheLaunchWithTheValidationError) {
  auto rt = runtime(rk::Backend::WebGpu);
  wg::testing::inject(wg::testing::Fault::BadBinding);
  auto bad = wg::launch(rt, "bad", program());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), rk::ErrorCode::BackendUnavailable);
  EXPECT_NE(bad.error().describe().find("pipeline"), std::string::npos) << bad.error().describe();
  auto good = wg::launch(rt, "good", program());  // the fault was used up; the device is fine
  ASSERT_TRUE(good) << good.error().describe();
  EXPECT_TRUE(good->call<Total>(Put{4}, 2s));
}

// Device loss is permanent for the process, so it runs in a child process (death-test machinery, re-executed
// binary): the child checks every step and exits 0 only when all of them behaved.
TEST(WebGpuFaults, DeviceLossSurfacesAsErrorsAndShutdownIsClean) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int bad = 0;
        auto check = [&](bool ok, const std::string& what) {
          if (!ok) {
            std::fprintf(stderr, "FAILED: %s\n", what.c_str());
            ++bad;
          }
        };
        auto built = rk::Runtime::builder().backend(rk::Backend::WebGpu).build();
        if (!built) std::_Exit(3);
        rk::Runtime& rt = *built;
        auto p = program();
        auto a = wg::launch(rt, "a", p);
        if (!a || !a->call<Total>(Put{1}, 2s)) std::_Exit(4);
        auto st = wg::testing::destroy_device();
        check(static_cast<bool>(st), "destroy_device: " + (st ? std::string() : st.error().describe()));
        // A call after the loss ends with an error naming it, well before its timeout.
        const auto t0 = std::chrono::steady_clock::now();
        auto r = a->call<Total>(Put{1}, 10s);
        check(!r, "call after device loss succeeded");
        if (!r) check(r.error().describe().find("device lost") != std::string::npos, "call error: " + r.error().describe());
        check(std::chrono::steady_clock::now() - t0 < 5s, "call after device loss waited for its timeout");
        // The actor failed; its restart cannot reload the slot, so it stays failed and refuses messages.
        check(eventually([&] { return a->status() && a->status()->state == rk::ActorState::Failed; }),
              "actor not failed after device loss");
        auto late = a->call<Total>(Put{1}, 1s);
        check(!late, "call to the failed actor succeeded");
        // New work on the lost device: clear BackendUnavailable errors.
        auto launch = wg::launch(rt, "b", p);
        check(!launch, "launch after device loss succeeded");
        if (!launch) check(launch.error().code() == rk::ErrorCode::BackendUnavailable, launch.error().describe());
        auto probe = wg::probe();
        check(!probe && probe.error().describe().find("device lost") != std::string::npos, "probe after loss");
        auto rt2 = rk::Runtime::builder().backend(rk::Backend::WebGpu).build();
        check(!rt2, "a new WebGPU runtime started on a lost device");
        // Shutdown completes (bounded) without touching the lost device.
        const auto t1 = std::chrono::steady_clock::now();
        (void)rt.shutdown();
        check(std::chrono::steady_clock::now() - t1 < 5s, "shutdown took too long");
        std::fprintf(stderr, bad == 0 ? "device-loss-ok\n" : "device-loss-bad\n");
        std::_Exit(bad == 0 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "device-loss-ok");
}

namespace {
struct Started {  // on_start's reply to the host: how many times this slot's state saw a start
  static constexpr auto type_id = rk::message_type("wgf.Started");
  std::uint32_t starts, marker;
};
struct Stopped {  // on_stop's K2K message to the observer (state word 1): the total when it stopped
  static constexpr auto type_id = rk::message_type("wgf.Stopped");
  std::uint32_t total;
};

std::shared_ptr<const wg::ActorProgram> hooked_program() {
  wg::ActorSpec s;
  s.name = "hooked";
  s.state_words = 4;  // 0 total, 1 observer id, 2 starts
  s.max_payload_words = 2;
  s.max_outputs = 1;
  s.handlers.push_back({Put::type_id, [](wg::ActorContext& m) {
    V32 total = m.state_word(0).load() + m.payload<std::uint32_t>(0);
    m.state_word(0) = total;
  }});
  s.handlers.push_back({Boom::type_id, [](wg::ActorContext& m) { m.fail(); }});
  s.handlers.push_back({Poke::type_id, [](wg::ActorContext& m) { m.reply(Total::type_id, {m.state_word(0).load()}); }});
  s.on_start = [](wg::ActorContext& m) {
    V32 starts = m.state_word(2).load() + 1u;
    m.state_word(2) = starts;
    m.reply(Started::type_id, {starts, m.u32(0xABCD)});
  };
  s.on_stop = [](wg::ActorContext& m) { m.send(m.state_word(1).load(), Stopped::type_id, {m.state_word(0).load()}); };
  auto p = wg::compile(s);
  EXPECT_TRUE(p) << (p ? "" : p.error().describe());
  return p ? *p : nullptr;
}

// Runs the hook scenario on `backend`; returns what the host saw, in order, as text.
std::string hook_sequence(rk::Backend backend) {
  auto rt = runtime(backend);
  std::string seen;
  // The observer collects Stopped messages in its state word 0 (Put adds them up) — a plain IR actor too.
  wg::ActorSpec os;
  os.name = "observer";
  os.state_words = 1;
  os.max_payload_words = 2;
  os.handlers.push_back({Stopped::type_id, [](wg::ActorContext& m) {
    m.state_word(0) = m.state_word(0).load() * 1000u + m.payload<std::uint32_t>(0);
  }});
  os.handlers.push_back({Put::type_id, [](wg::ActorContext& m) { m.reply(Total::type_id, {m.state_word(0).load()}); }});
  auto op = wg::compile(os);
  EXPECT_TRUE(op);
  auto obs = wg::launch(rt, "obs", *op);
  auto a = wg::launch(rt, "a", hooked_program(), {}, {0, obs ? obs->id() : 0});
  EXPECT_TRUE(obs && a);
  if (!obs || !a) return "launch failed";
  auto started = [&] {
    auto env = a->receive(5s);
    if (!env) return std::string("no start: ") + env.error().describe();
    auto s = env->as<Started>();
    return s && s->marker == 0xABCD ? "start" + std::to_string(s->starts) + " " : std::string("bad start ");
  };
  seen += started();
  EXPECT_TRUE(a->send(Put{5}));
  EXPECT_TRUE(a->send(Boom{0}));  // fails: restart without on_stop, then on_start on fresh state
  seen += started();
  EXPECT_TRUE(a->send(Put{7}));
  // restart() is urgent (not ordered with queued messages): make sure Put{7} ran first.
  auto peek = a->call<Total>(Poke{0, 0}, 5s);
  seen += peek ? "total" + std::to_string(peek->total) + " " : "no peek ";
  EXPECT_TRUE(a->restart());      // healthy restart: on_stop (total 7) then on_start
  seen += started();
  EXPECT_TRUE(a->send(Put{2}));
  EXPECT_TRUE(a->terminate());    // on_stop (total 2)
  EXPECT_TRUE(eventually([&] { return a->status() && a->status()->state == rk::ActorState::Terminated; }));
  auto t = obs->call<Total>(Put{0}, 5s);
  seen += t ? "stops " + std::to_string(t->total) : "no total: " + t.error().describe();
  EXPECT_TRUE(rt.shutdown());
  return seen;
}
} // namespace

TEST(WebGpuFaults, OnStartOnStopHooksRunOnTheDeviceLikeOnTheCpu) {
  const std::string gpu = hook_sequence(rk::Backend::WebGpu);
  // Every (re)start begins from the initial state (starts = 1); on_stop ran for the healthy restart (7) and the
  // termination (2), not for the failure.
  EXPECT_EQ(gpu, "start1 start1 total7 start1 stops 7002");
  EXPECT_EQ(hook_sequence(rk::Backend::Cpu), gpu);
}

TEST(WebGpuFaults, TerminateAfterARestartRunsTheKeptMessagesFirstLikeTheCpuBackend) {
  std::uint64_t letters = 0;
  const auto cpu = restart_then_terminate(rk::Backend::Cpu, &letters);
  // 11 after Put{1}; Boom replies 11 then fails; the restarted instance starts again from 10: 12, then 15.
  EXPECT_EQ(cpu, (std::vector<std::uint32_t>{11, 11, 12, 15}));
  EXPECT_EQ(letters, 0u);
  const auto gpu = restart_then_terminate(rk::Backend::WebGpu, &letters);
  EXPECT_EQ(gpu, cpu);
  EXPECT_EQ(letters, 0u);
}
