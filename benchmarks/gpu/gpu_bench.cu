// GPU round-trip benchmark: RingKernel's persistent actors against the launch-per-request baselines, all in
// one run on one device. Every latency is end to end: from the host call until the host sees the result.
//
//   1. empty kernel: cudaLaunchKernel + cudaStreamSynchronize
//   2. CUDA graph (one empty kernel node): cudaGraphLaunch + cudaStreamSynchronize
//   3. raw ping-pong over mapped memory with a spinning kernel (the floor for any host<->GPU request/reply)
//   4. RingKernel call(): host -> H2K ring -> real handler on the GPU -> K2H ring -> pump -> host
//   5. sustained request->reply throughput through real handlers from one host thread (send_many/receive_many)
//   7. actor create (launch -> Active acknowledged) and restart (restart() -> running again) latency
//
// Usage: bench_gpu_bench [--json FILE] [--md FILE] [--iters N] [--commit ID] [--driver-release VERSION]
// (--commit and --driver-release label the results: the source's git commit, the driver's release as
// nvidia-smi prints it; scripts/gpu-check.sh passes both.)
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ringkernel/cuda/actor_kernel.cuh"
#include "../../tests/cuda/gpu_actors.hpp"
#include "direct_slot.cuh"

RINGKERNEL_CUDA_ACTOR(gpu_test::Echo)
RINGKERNEL_CUDA_ACTOR(gpu_test::Bouncer)
RINGKERNEL_CUDA_ACTOR(gpu_test::Hub)
RINGKERNEL_CUDA_ACTOR(gpu_test::Producer)
RINGKERNEL_CUDA_ACTOR(gpu_test::Sink)

namespace {

using namespace ringkernel;
using clk = std::chrono::steady_clock;

#define CK(x)                                                                                                   \
  do {                                                                                                          \
    cudaError_t e_ = (x);                                                                                       \
    if (e_ != cudaSuccess) {                                                                                    \
      std::fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__);             \
      std::exit(1);                                                                                             \
    }                                                                                                           \
  } while (0)

struct Stats {
  double p50 = 0, p99 = 0, mean = 0, min = 0;
  std::size_t n = 0;
};

// A benchmark's setup step (runtime, launch) that failed: prints why; true when it did.
template <class R>
bool setup_failed(const R& r) {
  if (r) return false;
  std::fprintf(stderr, "%s\n", r.error().describe().c_str());
  return true;
}

// A throughput row: one measurement, in millions per second.
Stats rate_row(double per_second) {
  Stats s;
  s.p50 = per_second / 1e6;
  s.n = 1;
  return s;
}

Stats summarize(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = v.size();
  s.p50 = v[v.size() / 2];
  s.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  s.min = v.front();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

double us_since(clk::time_point t0) { return std::chrono::duration<double, std::micro>(clk::now() - t0).count(); }

__global__ void empty_kernel() {}

__device__ __forceinline__ std::uint64_t ld_acq_sys(const std::uint64_t* p) {
  std::uint64_t v;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void st_rel_sys(std::uint64_t* p, std::uint64_t v) {
  asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}
// Floor: the kernel echoes a sequence number from one mapped line to another.
__global__ void pingpong_kernel(std::uint64_t* ping, std::uint64_t* pong, std::uint64_t rounds) {
  for (std::uint64_t i = 1; i <= rounds; ++i) {
    while (ld_acq_sys(ping) != i) {
    }
    st_rel_sys(pong, i);
  }
}

struct Row {
  std::string name;
  Stats s;
  std::string unit;
  std::string note;
};

// `iters` timed call() round trips through an Echo actor after `warm` untimed ones; nullopt (after saying why)
// when a call fails or returns the wrong reply.
std::optional<Stats> measure_calls(ringkernel::ActorHandle& echo, int iters, int warm) {
  std::vector<double> v;
  for (int i = 0; i < iters + warm; ++i) {
    auto t0 = clk::now();
    auto r = echo.call<gpu_test::Pong>(gpu_test::Ping{static_cast<std::uint64_t>(i), 1}, std::chrono::seconds(1));
    const double us = us_since(t0);
    if (!r || r->seq != static_cast<std::uint64_t>(i)) {
      std::fprintf(stderr, "call failed: %s\n", r ? "wrong reply" : r.error().describe().c_str());
      return std::nullopt;
    }
    if (i >= warm) v.push_back(us);
  }
  return summarize(v);
}

// One-way K2K latency: two Bouncer actors launched in `rt` (in launch order, so in neighbouring slots) bounce a
// volley of 100000 hops on the GPU, five times; the host legs are amortised over the volley. The actors are
// terminated afterwards. nullopt (after saying why) on failure.
std::optional<Stats> measure_volley(ringkernel::Runtime& rt, const std::string& prefix) {
  using namespace ringkernel;
  auto a = rt.launch<gpu_test::Bouncer>(prefix + "-a");
  auto b = rt.launch<gpu_test::Bouncer>(prefix + "-b");
  if (!a || !b) {
    std::fprintf(stderr, "%s\n", (!a ? a.error() : b.error()).describe().c_str());
    return std::nullopt;
  }
  const std::uint32_t volley = 100000;  // even: the last hop lands on `a`
  std::vector<double> per_hop;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = clk::now();
    if (!a->send(gpu_test::Volley{volley, b->id()}).ok()) return std::nullopt;
    auto done = a->receive(std::chrono::seconds(20));
    if (!done) {
      std::fprintf(stderr, "volley lost: %s\n", done.error().describe().c_str());
      return std::nullopt;
    }
    per_hop.push_back(us_since(t0) / volley);
  }
  for (ActorHandle* h : {&*a, &*b}) (void)h->terminate();
  for (ActorHandle* h : {&*a, &*b}) (void)h->wait_for(ActorState::Terminated, std::chrono::seconds(1));
  return summarize(per_hop);
}

} // namespace

int main(int argc, char** argv) {
  std::string json_path, md_path, commit = "unknown", driver_release = "unknown";
  int iters = 20000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--md" && i + 1 < argc) md_path = argv[++i];
    else if (a == "--iters" && i + 1 < argc) iters = std::max(100, std::atoi(argv[++i]));
    else if (a == "--commit" && i + 1 < argc) commit = argv[++i];
    else if (a == "--driver-release" && i + 1 < argc) driver_release = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--md FILE] [--iters N] [--commit ID] [--driver-release VERSION]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!backend_available(Backend::Cuda)) {
    std::fprintf(stderr, "no usable CUDA device: nothing to measure\n");
    return 1;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  int driver = 0, runtime = 0;
  CK(cudaDriverGetVersion(&driver));
  CK(cudaRuntimeGetVersion(&runtime));
  int clock_khz = 0, mem_clock_khz = 0;
  (void)cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
  (void)cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, 0);
  std::printf("device: %s (cc %d.%d, %d SMs), driver %d, runtime %d\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount, driver, runtime);
  const int warm = iters / 10;
  std::vector<Row> rows;
  // Progress on stderr as each row completes (stdout is buffered when piped): shows where a run stops.
  const auto bench_start = clk::now();
  auto add_row = [&](Row r) {
    std::fprintf(stderr, "[%6.1f s] %s: p50 %.3f %s\n", std::chrono::duration<double>(clk::now() - bench_start).count(),
                 r.name.c_str(), r.s.p50, r.unit.c_str());
    rows.push_back(std::move(r));
  };

  // 1. Launch + sync.
  {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    std::vector<double> v;
    for (int i = 0; i < iters + warm; ++i) {
      auto t0 = clk::now();
      empty_kernel<<<1, 32, 0, s>>>();
      CK(cudaStreamSynchronize(s));
      if (i >= warm) v.push_back(us_since(t0));
    }
    add_row({"1. empty kernel cudaLaunchKernel + sync", summarize(v), "us", "baseline"});
    // 2. Graph launch + sync.
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    empty_kernel<<<1, 32, 0, s>>>();
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    v.clear();
    for (int i = 0; i < iters + warm; ++i) {
      auto t0 = clk::now();
      CK(cudaGraphLaunch(ge, s));
      CK(cudaStreamSynchronize(s));
      if (i >= warm) v.push_back(us_since(t0));
    }
    add_row({"2. CUDA graph launch + sync", summarize(v), "us", "baseline"});
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    // 3. Raw mapped ping-pong.
    std::uint64_t* mem = nullptr;
    CK(cudaHostAlloc(reinterpret_cast<void**>(&mem), 256, cudaHostAllocMapped));
    std::memset(mem, 0, 256);
    std::uint64_t* dmem = nullptr;
    CK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dmem), mem, 0));
    const std::uint64_t rounds = static_cast<std::uint64_t>(iters + warm);
    pingpong_kernel<<<1, 1, 0, s>>>(dmem, dmem + 16, rounds);
    auto* ping = reinterpret_cast<std::atomic<std::uint64_t>*>(mem);
    auto* pong = reinterpret_cast<std::atomic<std::uint64_t>*>(mem + 16);
    v.clear();
    for (std::uint64_t i = 1; i <= rounds; ++i) {
      auto t0 = clk::now();
      ping->store(i, std::memory_order_release);
      while (pong->load(std::memory_order_acquire) != i) {
      }
      if (i > static_cast<std::uint64_t>(warm)) v.push_back(us_since(t0));
    }
    CK(cudaStreamSynchronize(s));
    CK(cudaFreeHost(mem));
    CK(cudaStreamDestroy(s));
    add_row({"3. raw mapped-memory ping-pong (spinning kernel)", summarize(v), "us", "floor"});
  }

  Stats reload_s;
  // 3b. The actor kernel itself, driven without the host runtime: the same actor_kernel<Echo>, inbox and K2H
  // rings, one slot loaded and activated by hand, the host pushing requests and polling replies directly.
  // The gap between 3b and 4 is host-runtime overhead; between 3 and 3b, the kernel's own path.
  {
    rk_bench::DirectSlot<gpu_test::Echo> slot;
    if (!slot.start(gpu_test::Echo{})) return 1;
    std::vector<double> v;
    for (int i = 0; i < iters + warm; ++i) {
      gpu_test::Pong r{};
      auto t0 = clk::now();
      const bool answered = slot.request(gpu_test::Ping{static_cast<std::uint64_t>(i), 1}, r);
      if (i >= warm) v.push_back(us_since(t0));
      if (!answered || r.seq != static_cast<std::uint64_t>(i)) {
        std::fprintf(stderr, "direct kernel: wrong reply\n");
        return 1;
      }
    }
    // The restart command alone (row 7b): the same slot reloaded, timed from the command's store to its
    // acknowledgement; the host runtime's part of a restart is the gap to row 7.
    std::vector<double> rl;
    for (int i = 0; i < 200 + 20; ++i) {
      auto t0 = clk::now();
      slot.reload();
      if (i >= 20) rl.push_back(us_since(t0));
    }
    gpu_test::Pong fresh{};
    if (!slot.request(gpu_test::Ping{1, 1}, fresh) || fresh.count != 1) {
      std::fprintf(stderr, "direct kernel: a reloaded actor did not start from its initial state\n");
      return 1;
    }
    reload_s = summarize(rl);
    if (!slot.stop()) return 1;
    add_row({"3b. actor_kernel<Echo> driven directly (no host runtime)", summarize(v), "us",
                    "same kernel and rings as (4)"});
  }

  double call_p50 = 0, launch_p50 = rows[0].s.p50;
  double throughput_1 = 0, throughput_8 = 0;
  Stats create_s, restart_s;
  {
    RuntimeConfig cfg;
    cfg.backend = Backend::Cuda;
    cfg.cuda_slots_per_type = 8;
    auto rt = Runtime::builder().config(cfg).build();
    if (setup_failed(rt)) return 1;
    // 4. call() round trip through a real handler.
    auto echo = rt->launch<gpu_test::Echo>("echo");
    if (setup_failed(echo)) return 1;
    auto calls = measure_calls(*echo, iters, warm);
    if (!calls) return 1;
    Stats cs = *calls;
    call_p50 = cs.p50;
    add_row({"4. RingKernel call(): request -> GPU handler -> reply", cs, "us",
                    "ratio vs (1): " + std::to_string(launch_p50 / cs.p50).substr(0, 4) + "x"});

    // 5. Sustained request->reply throughput from one host thread, 1 and 8 actors.
    auto stream = [&](std::vector<ActorHandle>& hs, std::uint64_t total) -> double {
      std::vector<gpu_test::Ping> batch(256);
      std::uint64_t sent = 0, got = 0, bad = 0;
      std::vector<std::uint64_t> next_seq(hs.size(), 0);
      std::vector<std::uint64_t> sent_per(hs.size(), 0);
      auto t0 = clk::now();
      std::size_t rr = 0;
      auto last_progress = t0;
      std::uint64_t last_got = 0;
      while (got < total) {
        if (got != last_got) {
          last_got = got;
          last_progress = clk::now();
        } else if (clk::now() - last_progress > std::chrono::seconds(10)) {  // a lost reply: say so, don't hang
          std::fprintf(stderr, "throughput: no reply for 10 s (sent %llu, received %llu of %llu)\n",
                       static_cast<unsigned long long>(sent), static_cast<unsigned long long>(got),
                       static_cast<unsigned long long>(total));
          std::exit(1);
        }
        if (sent < total) {
          const std::size_t a = rr++ % hs.size();
          const std::uint64_t k = std::min<std::uint64_t>(batch.size(), total - sent);
          for (std::uint64_t j = 0; j < k; ++j) batch[j] = gpu_test::Ping{sent_per[a] + j, 2};
          auto n = hs[a].send_many(std::span<const gpu_test::Ping>(batch.data(), k));
          if (n) {
            sent += *n;
            sent_per[a] += *n;
          }
        }
        for (std::size_t a = 0; a < hs.size(); ++a) {
          got += hs[a].receive_each(4096, [&](const MessageHeader& h, std::span<const std::byte> payload) {
            gpu_test::Pong p{};
            if (h.type_id != gpu_test::Pong::type_id || payload.size() != sizeof(p)) {
              ++bad;
            } else {
              std::memcpy(&p, payload.data(), sizeof(p));
              if (p.seq != next_seq[a] || p.value != 7) ++bad;
            }
            ++next_seq[a];
          });
        }
      }
      const double secs = std::chrono::duration<double>(clk::now() - t0).count();
      if (bad != 0) std::fprintf(stderr, "throughput: %llu bad replies\n", static_cast<unsigned long long>(bad));
      return static_cast<double>(total) / secs;
    };
    LaunchOptions big;
    big.mailbox_capacity = 8192;
    big.outbox_capacity = 16384;
    big.slot_size = 128;
    big.backpressure.policy = OverflowPolicy::Reject;
    std::vector<ActorHandle> one;
    auto a0 = rt->launch<gpu_test::Echo>("tp0", big, std::uint64_t{1});
    if (setup_failed(a0)) return 1;
    one.push_back(*a0);
    (void)stream(one, 200000);  // warm-up
    throughput_1 = stream(one, 2'000'000);
    std::vector<ActorHandle> many = one;
    for (int i = 1; i < 6; ++i) {
      auto a = rt->launch<gpu_test::Echo>("tp" + std::to_string(i), big, std::uint64_t{1});
      if (setup_failed(a)) return 1;
      many.push_back(*a);
    }
    (void)stream(many, 200000);
    throughput_8 = stream(many, 4'000'000);
    add_row({"5. sustained request->reply, 1 actor, 1 host thread", rate_row(throughput_1), "M msg/s",
                    "64 B header + 16 B payload, send_many/receive_each, every reply checked"});
    add_row({"5. sustained request->reply, 6 actors, 1 host thread", rate_row(throughput_8), "M msg/s", "same"});
    for (auto& h : many) (void)h.terminate();
    for (auto& h : many) (void)h.wait_for(ActorState::Terminated, std::chrono::seconds(1));
    (void)echo->terminate();
    (void)echo->wait_for(ActorState::Terminated, std::chrono::seconds(1));

    // 6. K2K on the device: one-way latency between two actors in different blocks (a volley bounced
    //    entirely on the GPU; host legs amortised over the volley), and fan-in throughput into one actor.
    {
      auto hop = measure_volley(*rt, "bounce");
      if (!hop) return 1;
      add_row({"6. K2K one-way latency, actors in different blocks (global memory)", *hop, "us",
                      "volley of 100000 hops bounced on the GPU; rows 9 for the same-cluster path"});
    }
    {
      LaunchOptions so;
      so.mailbox_capacity = 4096;
      auto sink = rt->launch<gpu_test::Sink>("k2k-sink", so);
      std::vector<ActorHandle> prods;
      for (int i = 0; i < 4; ++i) {
        auto p = rt->launch<gpu_test::Producer>("k2k-p" + std::to_string(i));
        if (!p || !sink) {
          std::fprintf(stderr, "%s\n", (!p ? p.error() : sink.error()).describe().c_str());
          return 1;
        }
        prods.push_back(*p);
      }
      const std::uint32_t per = 250000;
      auto t0 = clk::now();
      for (auto& p : prods) (void)p.send(gpu_test::Burst{per, sink->id()});
      gpu_test::Total t{};
      while (t.count < 4ull * per) {
        auto r = sink->call<gpu_test::Total>(gpu_test::Query{0}, std::chrono::seconds(5));
        if (!r) {
          std::fprintf(stderr, "sink query: %s\n", r.error().describe().c_str());
          return 1;
        }
        t = *r;
      }
      const double secs = std::chrono::duration<double>(clk::now() - t0).count();
      add_row({"6. K2K fan-in throughput, 4 producer actors -> 1 sink actor", rate_row(4.0 * per / secs), "M msg/s",
                      t.out_of_order == 0 ? "per-sender FIFO verified" : "FIFO VIOLATED"});
      for (auto& p : prods) (void)p.terminate();
      (void)sink->terminate();
      for (auto& p : prods) (void)p.wait_for(ActorState::Terminated, std::chrono::seconds(1));
      (void)sink->wait_for(ActorState::Terminated, std::chrono::seconds(1));
    }

    // 7. Create and restart latency. A restart is complete when the runtime reports the actor restarted, which
    // it does once the device has loaded and activated the fresh instance (the restart counter moves earlier;
    // restart() normally returns only then anyway, being applied in the calling thread). The observer adds the
    // event's delivery to what is timed.
    std::vector<double> cv, rv;
    std::atomic<std::uint64_t> restarted{0};
    const std::uint64_t watch = rt->on_event([&](const RuntimeEvent& e) {
      if (e.kind == RuntimeEvent::Kind::Restarted) restarted.fetch_add(1, std::memory_order_release);
    });
    for (int i = 0; i < 200; ++i) {
      auto t0 = clk::now();
      auto h = rt->launch<gpu_test::Echo>("life" + std::to_string(i));
      if (!h || !h->wait_for(ActorState::Active, std::chrono::seconds(1)).ok()) {
        std::fprintf(stderr, "create failed\n");
        return 1;
      }
      cv.push_back(us_since(t0));
      const std::uint64_t before = restarted.load(std::memory_order_acquire);
      t0 = clk::now();
      if (!h->restart().ok()) return 1;
      while (restarted.load(std::memory_order_acquire) == before) {
      }
      rv.push_back(us_since(t0));
      (void)h->terminate();
      (void)h->wait_for(ActorState::Terminated, std::chrono::seconds(1));
    }
    rt->remove_observer(watch);
    create_s = summarize(cv);
    restart_s = summarize(rv);
    add_row({"7. actor create (launch -> Active acknowledged by the GPU)", create_s, "us", ""});
    add_row({"7. actor restart (restart() -> reloaded and active on the GPU)", restart_s, "us", ""});
    add_row({"7b. restart command alone (Reload store -> acknowledgement, kernel as 3b)", reload_s, "us",
             "the device's part of row 7"});
    (void)rt->shutdown(std::chrono::milliseconds(2000));

    // 8. Warp-sized actors: eight actor slots per block (cuda_actors_per_block = 8), for systems of many
    //    small actors. Same measurements as 4, 5 and 6 in that layout.
    RuntimeConfig wcfg = cfg;
    wcfg.cuda_slots_per_type = 64;
    wcfg.cuda_actors_per_block = 8;
    auto wrt = Runtime::builder().config(wcfg).build();
    if (setup_failed(wrt)) return 1;
    auto wecho = wrt->launch<gpu_test::Echo>("w-echo");
    if (setup_failed(wecho)) return 1;
    auto wcalls = measure_calls(*wecho, iters, warm);
    if (!wcalls) return 1;
    add_row({"8. call() with warp-sized actors (8 per block)", *wcalls, "us", "same handler as 4"});
    std::vector<ActorHandle> warps;
    LaunchOptions wo = big;
    for (int i = 0; i < 32; ++i) {
      auto a = wrt->launch<gpu_test::Echo>("w-tp" + std::to_string(i), wo, std::uint64_t{1});
      if (setup_failed(a)) return 1;
      warps.push_back(*a);
    }
    (void)stream(warps, 400000);
    add_row({"8. sustained request->reply, 32 warp-sized actors (4 blocks), 1 host thread",
             rate_row(stream(warps, 4'000'000)), "M msg/s",
                    "same as 5"});
    {
      auto hop = measure_volley(*wrt, "w-bounce");
      if (!hop) return 1;
      add_row({"8. K2K one-way latency, two warp-sized actors of one block", *hop, "us",
                      "global-memory inbox, as 6"});
    }
    (void)wrt->shutdown(std::chrono::milliseconds(2000));

    // 9. Thread-block clusters of 2: two actors of one cluster exchange K2K messages through distributed
    //    shared memory (the receiver polls its own shared memory; no global-memory ring involved).
    RuntimeConfig ccfg = cfg;
    ccfg.cuda_cluster_size = 2;
    auto crt = Runtime::builder().config(ccfg).build();
    if (setup_failed(crt)) return 1;
    {
      auto hop = measure_volley(*crt, "c-bounce");
      if (!hop) return 1;
      add_row({"9. K2K one-way latency, same cluster (distributed shared memory)", *hop, "us",
                      "cuda_cluster_size = 2, blocks 0 and 1 of one cluster"});
    }
    {
      auto sink = crt->launch<gpu_test::Hub>("c-hub-sink");
      std::vector<ActorHandle> prods;
      for (int i = 0; i < 1; ++i) {
        auto p = crt->launch<gpu_test::Hub>("c-hub-p" + std::to_string(i));
        if (!p || !sink) {
          std::fprintf(stderr, "%s\n", (!p ? p.error() : sink.error()).describe().c_str());
          return 1;
        }
        prods.push_back(*p);
      }
      const std::uint32_t per = 1'000'000;
      auto t0 = clk::now();
      for (auto& p : prods) (void)p.send(gpu_test::Burst{per, sink->id()});
      gpu_test::Total t{};
      while (t.count < per * prods.size()) {
        auto r = sink->call<gpu_test::Total>(gpu_test::Query{0}, std::chrono::seconds(5));
        if (!r) {
          std::fprintf(stderr, "sink query: %s\n", r.error().describe().c_str());
          return 1;
        }
        t = *r;
      }
      const double secs = std::chrono::duration<double>(clk::now() - t0).count();
      add_row({"9. K2K throughput, 1 producer -> 1 sink in the same cluster",
               rate_row(static_cast<double>(per) * prods.size() / secs), "M msg/s",
                      t.out_of_order == 0 ? "FIFO verified; 16-slot shared-memory inbox" : "FIFO VIOLATED"});
    }
    (void)crt->shutdown(std::chrono::milliseconds(2000));

    // 5, continued: the stream of row 5 over 32 actors, a block (SM) each, in a runtime of their own (measured
    // last, so that 32 polling blocks do not share the PCIe link with the latency rows). Listed after row 5.
    RuntimeConfig mcfg = cfg;
    mcfg.cuda_slots_per_type = 32;
    auto mrt = Runtime::builder().config(mcfg).build();
    if (setup_failed(mrt)) return 1;
    std::vector<ActorHandle> wide;
    for (int i = 0; i < 32; ++i) {
      auto a = mrt->launch<gpu_test::Echo>("wide" + std::to_string(i), big, std::uint64_t{1});
      if (setup_failed(a)) return 1;
      wide.push_back(*a);
    }
    (void)stream(wide, 400000);
    add_row({"5. sustained request->reply, 32 actors (a block each), 1 host thread", rate_row(stream(wide, 8'000'000)),
             "M msg/s", "same as 5"});
    // Shown right after the other rows 5.
    const auto last5 = std::find_if(rows.rbegin() + 1, rows.rend(), [](const Row& r) { return r.name.rfind("5. ", 0) == 0; });
    if (last5 != rows.rend()) std::rotate(last5.base(), rows.end() - 1, rows.end());
    (void)mrt->shutdown(std::chrono::milliseconds(2000));
  }

  std::printf("\n%-62s %10s %10s %10s\n", "measurement", "p50", "p99", "unit");
  for (const auto& r : rows) {
    std::printf("%-62s %10.3f %10.3f %10s  %s\n", r.name.c_str(), r.s.p50, r.s.p99, r.unit.c_str(), r.note.c_str());
  }
  std::printf("\ncall p50 %.2f us vs launch+sync p50 %.2f us: %.2fx\n", call_p50, launch_p50, launch_p50 / call_p50);

  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << "{\n  \"device\": \"" << prop.name << "\",\n  \"compute_capability\": \"" << prop.major << "." << prop.minor
      << "\",\n  \"sms\": " << prop.multiProcessorCount << ",\n  \"driver_version\": " << driver
      << ",\n  \"driver_release\": \"" << driver_release << "\",\n  \"commit\": \"" << commit << "\""
      << ",\n  \"runtime_version\": " << runtime << ",\n  \"sm_clock_khz\": " << clock_khz
      << ",\n  \"mem_clock_khz\": " << mem_clock_khz << ",\n  \"date\": \"" << date << "\",\n  \"iterations\": " << iters
      << ",\n  \"results\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      f << "    {\"name\": \"" << r.name << "\", \"unit\": \"" << r.unit << "\", \"p50\": " << r.s.p50
        << ", \"p99\": " << r.s.p99 << ", \"mean\": " << r.s.mean << ", \"min\": " << r.s.min
        << ", \"samples\": " << r.s.n << ", \"note\": \"" << r.note << "\"}" << (i + 1 < rows.size() ? ",\n" : "\n");
    }
    f << "  ]\n}\n";
  }
  if (!md_path.empty()) {
    std::ofstream f(md_path);
    f << "| measurement | p50 | p99 | unit | note |\n|---|---:|---:|---|---|\n";
    for (const auto& r : rows) {
      char b[64], c[64];
      std::snprintf(b, sizeof(b), "%.3f", r.s.p50);
      std::snprintf(c, sizeof(c), "%.3f", r.s.p99);
      f << "| " << r.name << " | " << b << " | " << (r.s.n > 1 ? c : "") << " | " << r.unit << " | " << r.note << " |\n";
    }
    f << "\nDevice: " << prop.name << " (cc " << prop.major << "." << prop.minor << ", " << prop.multiProcessorCount
      << " SMs), driver " << driver_release << " (CUDA " << driver << "), CUDA runtime " << runtime << ", SM clock "
      << clock_khz / 1000 << " MHz, " << date << ", commit " << commit << ".\n";
  }
  return 0;
}
