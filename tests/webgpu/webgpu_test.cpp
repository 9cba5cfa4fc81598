// WebGPU backend: IR actors run in GPU batches (Mesa lavapipe on CI) through the ordinary runtime API.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <thread>

#include "ringkernel/ringkernel.hpp"
#include "ringkernel/webgpu/webgpu.hpp"

namespace rk = ringkernel;
namespace wg = ringkernel::webgpu;
using namespace std::chrono_literals;

namespace {

struct Add {
  static constexpr auto type_id = rk::message_type("wgt.Add");
  std::uint64_t value;
};
struct Sum {
  static constexpr auto type_id = rk::message_type("wgt.Sum");
  std::uint64_t total;
  std::uint32_t count;
  std::uint32_t pad;
};
struct Echo {
  static constexpr auto type_id = rk::message_type("wgt.Echo");
  std::uint32_t a, b;
};
struct Ping {  // K2K relay: forwarded to state word 0 while hops > 0, then sent to the host
  static constexpr auto type_id = rk::message_type("wgt.Ping");
  std::uint32_t hops, trail;
};
struct SetNext {
  static constexpr auto type_id = rk::message_type("wgt.SetNext");
  std::uint32_t next, pad;
};
struct Count {
  static constexpr auto type_id = rk::message_type("wgt.Count");
  std::uint64_t amount;
};
struct Unknown {
  static constexpr auto type_id = rk::message_type("wgt.Unknown");
  std::uint32_t x;
};
struct Spam {  // emits more outputs than max_outputs: a handler failure
  static constexpr auto type_id = rk::message_type("wgt.Spam");
  std::uint32_t x;
};

using V32 = wg::Val<std::uint32_t>;

wg::ActorSpec adder_spec(wg::CounterPath path = wg::CounterPath::Auto) {
  wg::ActorSpec s;
  s.name = "adder";
  s.state_words = 4;  // total (u64), count, next
  s.max_payload_words = 4;
  s.counters = 1;
  s.counter_path = path;
  s.handlers.push_back({Add::type_id, [](wg::ActorContext& m) {
    auto total = m.state_u64(0) + m.payload<std::uint64_t>(offsetof(Add, value));
    m.set_state_u64(0, total);
    V32 count = m.state_word(2).load() + 1u;
    m.state_word(2) = count;
    m.reply(Sum::type_id, {wg::lo(total), wg::hi(total), count, V32{&m.ir(), m.ir().u32(0)}});
  }});
  s.handlers.push_back({Echo::type_id, [](wg::ActorContext& m) {
    m.reply(Echo::type_id, {m.payload<std::uint32_t>(0), m.payload<std::uint32_t>(4)});
  }});
  s.handlers.push_back({SetNext::type_id, [](wg::ActorContext& m) {
    m.state_word(3) = m.payload<std::uint32_t>(0);
    m.reply(SetNext::type_id, {m.payload<std::uint32_t>(0), m.payload<std::uint32_t>(4)});
  }});
  s.handlers.push_back({Ping::type_id, [](wg::ActorContext& m) {
    V32 hops = m.payload<std::uint32_t>(0);
    V32 trail = m.payload<std::uint32_t>(4) * 16u + m.self();
    auto& b = m.ir();
    b.if_(b.cmp(rk::ir::CmpPred::Eq, hops.v, b.u32(0)),
          [&] { m.send(V32{&b, b.u32(0)}, Ping::type_id, {hops, trail}); },
          [&] { m.send(m.state_word(3).load(), Ping::type_id, {hops - 1u, trail}); });
  }});
  s.handlers.push_back({Count::type_id, [](wg::ActorContext& m) { m.count(0, m.payload<std::uint64_t>(0)); }});
  s.handlers.push_back({Spam::type_id, [](wg::ActorContext& m) {
    for (int i = 0; i < 3; ++i) m.reply(Spam::type_id, {m.payload<std::uint32_t>(0)});
  }});
  return s;
}

std::shared_ptr<const wg::ActorProgram> program(wg::CounterPath path = wg::CounterPath::Auto) {
  auto p = wg::compile(adder_spec(path));
  EXPECT_TRUE(static_cast<bool>(p)) << (p ? "" : p.error().describe());
  return p ? *p : nullptr;
}

rk::Runtime runtime(rk::Backend b = rk::Backend::WebGpu) {
  auto rt = rk::Runtime::builder().backend(b).build();
  EXPECT_TRUE(static_cast<bool>(rt)) << (rt ? "" : rt.error().describe());
  return std::move(*rt);
}

} // namespace

TEST(WebGpu, ProbeReadsAdapterAndLimits) {
  auto info = wg::probe();
  ASSERT_TRUE(info) << info.error().describe();
  EXPECT_FALSE(info->adapter.empty());
  EXPECT_GT(info->max_storage_binding, 0u);
  EXPECT_GE(info->max_storage_buffers, 8u);
  EXPECT_GE(info->max_workgroup_size_x, 64u);
  EXPECT_TRUE(rk::backend_available(rk::Backend::WebGpu));
  std::printf("adapter: %s [%s], subgroups %d (%u..%u)\n", info->adapter.c_str(), info->backend.c_str(),
              info->subgroups ? 1 : 0, info->subgroup_min, info->subgroup_max);
}

TEST(WebGpu, Echo) {
  auto rt = runtime();
  ASSERT_EQ(rt.backend(), rk::Backend::WebGpu);
  auto a = wg::launch(rt, "echo", program());
  ASSERT_TRUE(a) << a.error().describe();
  for (std::uint32_t i = 0; i < 3; ++i) {
    auto r = a->call<Echo>(Echo{i, 0xDEADBEEFu - i}, 2s);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->a, i);
    EXPECT_EQ(r->b, 0xDEADBEEFu - i);
  }
}

TEST(WebGpu, OrderingAndHlcAcrossBatches) {
  auto rt = runtime();
  auto a = wg::launch(rt, "adder", program());
  ASSERT_TRUE(a) << a.error().describe();
  constexpr std::uint32_t kN = 700;  // more than batch_per_actor (256): spans several batches
  std::vector<Add> adds;
  for (std::uint32_t i = 0; i < kN; ++i) adds.push_back(Add{(std::uint64_t{1} << 32) + i});
  const std::uint64_t before = rt.clock().now().packed;
  std::size_t sent = 0;
  while (sent < kN) {
    auto n = a->send_many(std::span<const Add>(adds.data() + sent, kN - sent));
    ASSERT_TRUE(n) << n.error().describe();
    sent += *n;
  }
  std::uint64_t running = 0, last_hlc = 0;
  for (std::uint32_t i = 0; i < kN; ++i) {
    auto env = a->receive(2s);
    ASSERT_TRUE(env) << "reply " << i << ": " << env.error().describe();
    auto sum = env->as<Sum>();
    ASSERT_TRUE(sum);
    running += (std::uint64_t{1} << 32) + i;
    ASSERT_EQ(sum->total, running) << "reply " << i;  // in order, 64-bit state carried across batches
    ASSERT_EQ(sum->count, i + 1);
    EXPECT_GT(env->header.hlc, last_hlc);  // device HLC strictly increasing
    EXPECT_GT(env->header.hlc, before);    // merged the host stamps of the requests
    EXPECT_EQ(env->header.source, a->id());
    last_hlc = env->header.hlc;
  }
  EXPECT_GT(rt.clock().now().packed, last_hlc);  // receiving merged the device stamps into the host clock
  auto m = a->metrics();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->processed, kN);
}

TEST(WebGpu, LifecycleOrderedWithMessages) {
  auto rt = runtime();
  rk::LaunchOptions o;
  o.auto_activate = false;
  auto a = wg::launch(rt, "lazy", program(), o);
  ASSERT_TRUE(a) << a.error().describe();
  ASSERT_TRUE(a->send(Add{1}));
  ASSERT_TRUE(a->send(Add{2}));
  auto none = a->receive(50ms);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), rk::ErrorCode::Timeout);  // launched, not active: nothing runs
  ASSERT_TRUE(a->activate());
  ASSERT_TRUE(a->send(Add{3}));
  ASSERT_TRUE(a->deactivate());  // ordered after Add{3}
  ASSERT_TRUE(a->send(Add{4}));  // queued while deactivated
  std::vector<std::uint64_t> totals;
  for (int i = 0; i < 3; ++i) {
    auto env = a->receive(2s);
    ASSERT_TRUE(env) << env.error().describe();
    totals.push_back(env->as<Sum>()->total);
  }
  EXPECT_EQ(totals, (std::vector<std::uint64_t>{1, 3, 6}));
  ASSERT_TRUE(a->wait_for(rk::ActorState::Deactivated, 2s));
  EXPECT_FALSE(a->receive(50ms));  // Add{4} waits
  ASSERT_TRUE(a->activate());
  auto env = a->receive(2s);
  ASSERT_TRUE(env) << env.error().describe();
  EXPECT_EQ(env->as<Sum>()->total, 10u);  // state survived deactivation on the GPU
  ASSERT_TRUE(a->send(Add{5}));
  ASSERT_TRUE(a->terminate());  // after Add{5}
  env = a->receive(2s);
  ASSERT_TRUE(env) << env.error().describe();
  EXPECT_EQ(env->as<Sum>()->total, 15u);
  ASSERT_TRUE(a->wait_for(rk::ActorState::Terminated, 2s));
  auto late = a->send(Add{6});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), rk::ErrorCode::ActorTerminated);
  // The slot is free again: a new actor of the program starts from the initial state.
  auto b = wg::launch(rt, "fresh", a ? program() : nullptr);
  ASSERT_TRUE(b) << b.error().describe();
  auto s = b->call<Sum>(Add{7}, 2s);
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->total, 7u);
}

TEST(WebGpu, K2kRelayAcrossBatches) {
  auto rt = runtime();
  auto p = program();
  std::vector<rk::ActorHandle> ring;
  for (int i = 0; i < 3; ++i) {
    auto h = wg::launch(rt, "relay" + std::to_string(i), p);
    ASSERT_TRUE(h) << h.error().describe();
    ring.push_back(*h);
  }
  for (int i = 0; i < 3; ++i) {
    auto r = ring[i].call<SetNext>(SetNext{ring[(i + 1) % 3].id(), 0}, 2s);
    ASSERT_TRUE(r) << r.error().describe();
  }
  // 7 hops: 0 -> 1 -> 2 -> 0 -> 1 -> 2 -> 0 -> 1, then actor 1 sends to its host queue. Each hop is a K2K send
  // that the runtime routes into the next actor's inbox and the next batch runs.
  ASSERT_TRUE(ring[0].send(Ping{7, 0}));
  auto env = ring[1].receive(3s);
  ASSERT_TRUE(env) << env.error().describe();
  auto ping = env->as<Ping>();
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->hops, 0u);
  // The trail records every actor on the way (4 bits each, oldest first).
  std::uint32_t want = 0;
  const int path[] = {0, 1, 2, 0, 1, 2, 0, 1};
  for (int i : path) want = want * 16 + ring[i].id();
  EXPECT_EQ(ping->trail, want);
  EXPECT_EQ(ring[0].metrics()->processed, 1u + 3u);
  EXPECT_EQ(ring[1].metrics()->processed, 1u + 3u);
  EXPECT_EQ(ring[2].metrics()->processed, 1u + 2u);
}

namespace {
// 16 actors x 100 messages each add 0xFFFFFFFF to one shared 64-bit counter in the same dispatches: every
// add carries into the high word, and all threads of a batch hit the same two words.
void counter_under_contention(wg::CounterPath path, const char* expect_path) {
  auto rt = runtime();
  auto p = program(path);
  ASSERT_TRUE(p);
  std::vector<rk::ActorHandle> actors;
  for (int i = 0; i < 16; ++i) {
    auto h = wg::launch(rt, "counter" + std::to_string(i), p);
    ASSERT_TRUE(h) << h.error().describe();
    actors.push_back(*h);
  }
  std::vector<Count> counts(100, Count{0xFFFFFFFFull});
  for (auto& a : actors) {
    auto n = a.send_many(std::span<const Count>(counts));
    ASSERT_TRUE(n);
    ASSERT_EQ(*n, counts.size());
  }
  for (auto& a : actors) ASSERT_TRUE(a.call<Echo>(Echo{0, 0}, 3s));  // every Count before it has run
  auto total = p->counter(0);
  ASSERT_TRUE(total) << total.error().describe();
  EXPECT_EQ(*total, 16ull * 100ull * 0xFFFFFFFFull);
  EXPECT_EQ(p->counter_path_used(), expect_path);
  EXPECT_FALSE(p->counter(1));
}
} // namespace

TEST(WebGpu, Counter64UnderContentionAtomicsFallback) {
  counter_under_contention(wg::CounterPath::Atomics, "atomics");
}

TEST(WebGpu, Counter64UnderContentionSubgroups) {
  auto info = wg::probe();
  ASSERT_TRUE(info);
  auto p = program(wg::CounterPath::Subgroups);
  ASSERT_TRUE(p && p->has_subgroup_variant());
  EXPECT_NE(p->subgroup_wgsl().source.find("subgroupAdd"), std::string::npos);
  EXPECT_EQ(p->portable_wgsl().source.find("subgroupAdd"), std::string::npos);
  if (!info->subgroups) {
    // Without the feature the subgroup path is refused with a clear error (Auto would use atomics).
    auto rt = runtime();
    auto a = wg::launch(rt, "sg", p);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code(), rk::ErrorCode::BackendUnavailable);
    return;
  }
  counter_under_contention(wg::CounterPath::Subgroups, "subgroups");
}

// The same IR handlers on the CPU backend (reference interpreter, one message at a time) and on WebGPU
// (batched dispatches) give the same replies, states and counters.
TEST(WebGpu, ParityCpuInterpreterVsWebGpu) {
  struct Outcome {
    std::vector<std::uint64_t> totals;
    std::vector<std::uint32_t> echoes;
    std::uint64_t counter = 0;
    std::uint32_t relay_trail = 0;
  };
  auto run = [](rk::Backend backend) {
    Outcome o;
    auto rt = runtime(backend);
    auto p = program(wg::CounterPath::Atomics);
    auto a = wg::launch(rt, "a", p);
    auto b = wg::launch(rt, "b", p);
    EXPECT_TRUE(a && b);
    if (!a || !b) return o;
    EXPECT_TRUE(a->call<SetNext>(SetNext{b->id(), 0}, 3s));
    EXPECT_TRUE(b->call<SetNext>(SetNext{a->id(), 0}, 3s));
    for (std::uint64_t i = 0; i < 40; ++i) {
      auto s = a->call<Sum>(Add{i * 0x100000001ull}, 3s);
      EXPECT_TRUE(s);
      if (s) o.totals.push_back(s->total);
      EXPECT_TRUE(b->send(Count{i + 1}));
    }
    auto e = b->call<Echo>(Echo{11, 22}, 3s);
    EXPECT_TRUE(e);
    if (e) o.echoes = {e->a, e->b};
    EXPECT_TRUE(a->send(Ping{3, 0}));
    // a -> b -> a -> b, which sends it to its host receive queue.
    auto env2 = b->receive(3s);
    EXPECT_TRUE(env2);
    if (env2) o.relay_trail = env2->as<Ping>()->trail;
    auto c = p->counter(0);
    EXPECT_TRUE(c);
    o.counter = c ? *c : 0;
    return o;
  };
  const Outcome cpu = run(rk::Backend::Cpu);
  const Outcome gpu = run(rk::Backend::WebGpu);
  ASSERT_EQ(cpu.totals.size(), 40u);
  EXPECT_EQ(cpu.totals, gpu.totals);
  EXPECT_EQ(cpu.echoes, gpu.echoes);
  EXPECT_EQ(cpu.echoes, (std::vector<std::uint32_t>{11, 22}));
  EXPECT_EQ(cpu.counter, 40u * 41u / 2u);
  EXPECT_EQ(cpu.counter, gpu.counter);
  EXPECT_NE(cpu.relay_trail, 0u);
  EXPECT_EQ(cpu.relay_trail, gpu.relay_trail);
}

TEST(WebGpu, BadInputGivesClearErrors) {
  // Misuse while building the handlers is reported by compile(), naming the problem.
  wg::ActorSpec s = adder_spec();
  s.handlers.push_back({Unknown::type_id, [](wg::ActorContext& m) { m.state_word(99) = 1u; }});
  auto bad = wg::compile(s);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_NE(bad.error().message().find("state word 99"), std::string::npos);
  wg::ActorSpec dup = adder_spec();
  dup.handlers.push_back(dup.handlers.front());
  EXPECT_FALSE(wg::compile(dup));
  wg::ActorSpec big = adder_spec();
  big.max_batch = 1u << 30;  // exceeds maxStorageBufferBindingSize
  auto bigp = wg::compile(big);
  ASSERT_TRUE(bigp);
  auto rt = runtime();
  auto too_big = wg::launch(rt, "big", *bigp);
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.error().message().find("maxStorageBufferBindingSize"), std::string::npos) << too_big.error().describe();

  // A plain C++ actor has no GPU code.
  struct Plain {
    using messages = rk::message_list<Echo>;
    void handle(rk::Context&, const Echo&) {}
  };
  auto plain = rt.launch<Plain>("plain");
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code(), rk::ErrorCode::BackendUnavailable);

  // Unknown message types are dead-lettered; the actor keeps running.
  auto a = wg::launch(rt, "a", program());
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->send(Unknown{1}));
  ASSERT_TRUE(a->call<Echo>(Echo{1, 1}, 2s));
  EXPECT_GE(rt.dead_letters().size(), 1u);

  // A handler emitting more than max_outputs fails; its supervisor restarts it from the initial state.
  ASSERT_TRUE(a->call<Sum>(Add{5}, 2s));
  ASSERT_TRUE(a->send(Spam{1}));
  bool restarted = false;
  for (int i = 0; i < 200 && !restarted; ++i) {
    restarted = a->metrics()->restarts >= 1;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(restarted);
  auto s2 = a->call<Sum>(Add{1}, 2s);
  ASSERT_TRUE(s2) << s2.error().describe();
  EXPECT_EQ(s2->total, 1u);
}
