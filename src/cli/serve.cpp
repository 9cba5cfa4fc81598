#include "serve.hpp"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "demo_actors.hpp"
#include "demo_webgpu.hpp"
#include "ringkernel/runtime.hpp"

#if defined(RINGKERNEL_HAS_SERVER)
#include <pthread.h>
#include <signal.h>

#include "ringkernel/server/server.hpp"
#endif

namespace ringkernel::cli {

void print_serve_usage(std::FILE* out) {
  std::fputs(
      "usage: ringkernel serve [options]\n"
      "\n"
      "Runs the demo pipeline (ingest -> transform -> flaky -> aggregate, fed at --rate readings/s, with a\n"
      "host probe calling the aggregate) behind the operations server until SIGINT/SIGTERM or --seconds:\n"
      "  GET /            dashboard            GET /metrics       Prometheus text\n"
      "  GET /health/live, /health/ready       GET /api/actors    REST (see docs/server.md)\n"
      "  GET /api/events  Server-Sent Events   GET /api/ws        WebSocket (docs/server-protocol.md)\n"
      "\n"
      "options:\n"
      "  --address ADDR     address to bind (default 127.0.0.1; non-loopback needs --token)\n"
      "  --port N           port (default 8080; 0 = any free port, printed on stdout)\n"
      "  --port-file FILE   write the bound port to FILE once listening\n"
      "  --token TOKEN      require 'Authorization: Bearer TOKEN' (default: $RINGKERNEL_TOKEN if set)\n"
      "  --seconds N        stop after N seconds (default 0 = run until SIGINT/SIGTERM)\n"
      "  --backend NAME     auto|cpu|cuda|webgpu|metal (default auto)\n"
      "  --workers N        executor threads (default 0 = one per hardware thread)\n"
      "  --ingest N         ingest actors (default 2)\n"
      "  --rate N           readings/s fed by the host (default 2000; 0 = no feed)\n"
      "  --fail-every K     flaky fails on every K-th message; 0 = never (default 5000)\n"
      "  --stats-ms N       period of the stats events (default 1000)\n"
      "  --max-connections N  (default 256)     --replay-buffer N  events kept for resume (default 4096)\n"
      "  --max-frame-bytes N  (default 65536)   --keepalive-ms N   SSE/WebSocket keep-alive (default 15000)\n"
      "  -h, --help         show this help\n",
      out);
}

#if !defined(RINGKERNEL_HAS_SERVER)

int cmd_serve(const std::vector<std::string_view>& /*args*/) {
  std::fputs("ringkernel serve: this build has no operations server (it needs Boost >= 1.81 and nlohmann_json at "
             "build time: apt-get install libboost1.81-dev nlohmann-json3-dev, then rebuild)\n",
             stderr);
  return 1;
}

#else

namespace {

namespace srv = ringkernel::server;

struct ServeOptions {
  srv::ServerConfig server;
  std::optional<std::string> port_file;
  double seconds = 0;
  Backend backend = Backend::Auto;
  unsigned workers = 0;
  unsigned ingest = 2;
  std::uint64_t rate = 2000;
  std::uint32_t fail_every = 5000;
};

int usage(const std::string& msg) {
  std::fprintf(stderr, "ringkernel: %s\n\n", msg.c_str());
  print_serve_usage(stderr);
  return 2;
}

template <class T>
std::optional<T> parse_uint(std::string_view s, T max) {
  unsigned long long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v > static_cast<unsigned long long>(max)) return std::nullopt;
  return static_cast<T>(v);
}

srv::MessageTypes demo_types() {
  srv::MessageTypes t;
  using srv::field;
  // Registration cannot fail here (distinct names, fields inside their structs); a failure is a bug.
  auto must = [](Status s) {
    if (!s) {
      std::fprintf(stderr, "ringkernel serve: %s\n", s.error().describe().c_str());
      std::abort();
    }
  };
  must(t.add<RawReading>("rk.demo.RawReading", {field("sensor", &RawReading::sensor), field("seq", &RawReading::seq),
                                                 field("raw", &RawReading::raw)}));
  must(t.add<Validated>("rk.demo.Validated", {field("sensor", &Validated::sensor), field("seq", &Validated::seq),
                                               field("raw", &Validated::raw)}));
  must(t.add<Scaled>("rk.demo.Scaled", {field("sensor", &Scaled::sensor), field("seq", &Scaled::seq),
                                         field("milli", &Scaled::milli)}));
  must(t.add<Rejected>("rk.demo.Rejected", {field("sensor", &Rejected::sensor), field("seq", &Rejected::seq)}));
  must(t.add<Query>("rk.demo.Query", {field("reserved", &Query::reserved)}));
  must(t.add<Snapshot>("rk.demo.Snapshot", {field("accepted", &Snapshot::accepted), field("rejected", &Snapshot::rejected),
                                             field("sum_milli", &Snapshot::sum_milli), field("min_milli", &Snapshot::min_milli),
                                             field("max_milli", &Snapshot::max_milli)}));
  must(t.add<SensorQuery>("rk.demo.SensorQuery", {field("sensor", &SensorQuery::sensor)}));
  must(t.add<SensorStats>("rk.demo.SensorStats",
                          {field("sensor", &SensorStats::sensor), field("count", &SensorStats::count),
                           field("sum_milli", &SensorStats::sum_milli), field("min_milli", &SensorStats::min_milli),
                           field("max_milli", &SensorStats::max_milli)}));
  return t;
}

int run(ServeOptions o) {
  // Block the stop signals in every thread (they inherit the mask) and take them with sigtimedwait below:
  // no async-signal-safety concerns, and --seconds is the same wait with a deadline.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that disconnects mid-write must not kill the process

  RuntimeConfig cfg;
  cfg.backend = o.backend;
  cfg.workers = o.workers;
  // flaky fails by design; the budget must outlast any run or the supervisor would give up on it.
  cfg.root_supervision = SupervisorSpec{SupervisionStrategy::OneForOne, 1u << 30, std::chrono::milliseconds(1000)};
  auto built = Runtime::builder().config(cfg).build();
  if (!built) {
    std::fprintf(stderr, "ringkernel serve: cannot start the runtime: %s\n", built.error().describe().c_str());
    return 1;
  }
  Runtime& rt = *built;
  LaunchOptions lo;
  lo.mailbox_capacity = 4096;
  auto pipeline = launch_demo_pipeline(rt, lo, o.ingest, o.fail_every);
  if (!pipeline) {
    std::fprintf(stderr, "ringkernel serve: launch failed: %s\n", pipeline.error().describe().c_str());
    return 1;
  }
  ActorHandle agg = pipeline->aggregate;
  std::vector<ActorHandle>& ingest = pipeline->ingest;

  auto server = srv::Server::start(rt, o.server, demo_types());
  if (!server) {
    std::fprintf(stderr, "ringkernel serve: %s\n", server.error().describe().c_str());
    (void)rt.shutdown();
    return 1;
  }
  srv::Server& s = **server;
  if (o.port_file) {
    // Write then rename, so a reader polling for the file never sees it half-written.
    const std::string tmp = *o.port_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << s.port() << "\n";
    }
    if (std::rename(tmp.c_str(), o.port_file->c_str()) != 0) {
      std::fprintf(stderr, "ringkernel serve: cannot write %s: %s\n", o.port_file->c_str(), std::strerror(errno));
      return 1;
    }
  }
  std::printf("ringkernel serve: listening on %s (dashboard %s/, metrics %s/metrics)%s\n", s.url().c_str(),
              s.url().c_str(), s.url().c_str(), o.server.bearer_token.empty() ? "" : ", bearer token required");
  std::fflush(stdout);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> send_failures{0};
  std::thread producer([&] {
    if (o.rate == 0) return;
    ReadingSource src;
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t batch = static_cast<std::size_t>(std::clamp<std::uint64_t>(o.rate / 100, 1, 64));
    std::vector<RawReading> buf(batch);
    std::size_t next = 0;
    std::uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const auto due = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(static_cast<double>(n) / static_cast<double>(o.rate)));
      if (due > std::chrono::steady_clock::now()) std::this_thread::sleep_until(due);
      for (auto& r : buf) r = src.next();
      auto k = ingest[next].send_many(std::span<const RawReading>(buf));
      if (k) n += *k;
      else send_failures.fetch_add(1, std::memory_order_relaxed);
      if (!k || *k < buf.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // back-pressure
      sent.store(n, std::memory_order_relaxed);
      next = (next + 1) % ingest.size();
    }
  });
  // The host probe keeps the runtime's call-latency percentiles (dashboard, /metrics) live.
  std::thread probe([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      (void)agg.call<Snapshot>(Query{0}, std::chrono::seconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });

  const auto deadline = o.seconds > 0 ? std::chrono::steady_clock::now() +
                                            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                std::chrono::duration<double>(o.seconds))
                                      : std::chrono::steady_clock::time_point::max();
  int sig = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    timespec ts{0, 200'000'000};  // wake 5x a second for --seconds and the progress event
    sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig > 0) break;
    if (std::chrono::steady_clock::now() - last_progress >= std::chrono::seconds(1)) {
      last_progress = std::chrono::steady_clock::now();
      (void)s.publish("custom/progress", "{\"readings_sent\":" + std::to_string(sent.load()) +
                                             ",\"send_failures\":" + std::to_string(send_failures.load()) + "}");
    }
  }
  if (sig > 0) std::fprintf(stderr, "ringkernel serve: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  stop.store(true);
  producer.join();
  probe.join();
  s.stop();
  Status sd = rt.shutdown();
  if (!sd) {
    std::fprintf(stderr, "ringkernel serve: shutdown: %s\n", sd.error().describe().c_str());
    return 1;
  }
  std::printf("ringkernel serve: stopped after %llu readings\n", static_cast<unsigned long long>(sent.load()));
  return 0;
}

}  // namespace

int cmd_serve(const std::vector<std::string_view>& args) {
  ServeOptions o;
  if (const char* env = std::getenv("RINGKERNEL_TOKEN"); env != nullptr) o.server.bearer_token = env;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::optional<std::string_view> inline_value;
    if (arg.starts_with("--")) {
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    }
    auto value = [&]() -> std::optional<std::string_view> {
      if (inline_value) return inline_value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    const std::string name(arg);
    auto v = arg.starts_with("--") ? value() : std::nullopt;
    if (!arg.starts_with("--")) return usage("unexpected argument '" + name + "' for 'serve'");
    if (!v) return usage("option '" + name + "' needs a value");
    auto bad = [&](const char* expected) {
      return usage("invalid value '" + std::string(*v) + "' for " + name + " (expected " + expected + ")");
    };
    if (arg == "--address") {
      o.server.address = std::string(*v);
    } else if (arg == "--port") {
      auto n = parse_uint<std::uint16_t>(*v, 65535);
      if (!n) return bad("0..65535");
      o.server.port = *n;
    } else if (arg == "--port-file") {
      if (v->empty()) return bad("a file name");
      o.port_file = std::string(*v);
    } else if (arg == "--token") {
      o.server.bearer_token = std::string(*v);
    } else if (arg == "--seconds") {
      double d = 0;
      const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), d);
      if (ec != std::errc{} || p != v->data() + v->size() || d < 0 || d > 1e7) return bad("seconds >= 0");
      o.seconds = d;
    } else if (arg == "--backend") {
      auto b = parse_backend(*v);
      if (!b) return bad("auto, cpu, cuda, webgpu or metal");
      o.backend = *b;
    } else if (arg == "--workers") {
      auto n = parse_uint<unsigned>(*v, 1024);
      if (!n) return bad("0..1024");
      o.workers = *n;
    } else if (arg == "--ingest") {
      auto n = parse_uint<unsigned>(*v, 256);
      if (!n || *n == 0) return bad("1..256");
      o.ingest = *n;
    } else if (arg == "--rate") {
      auto n = parse_uint<std::uint64_t>(*v, 100'000'000ull);
      if (!n) return bad("readings per second");
      o.rate = *n;
    } else if (arg == "--fail-every") {
      auto n = parse_uint<std::uint32_t>(*v, 0xFFFFFFFFu);
      if (!n) return bad("a message count, 0 = never");
      o.fail_every = *n;
    } else if (arg == "--stats-ms") {
      auto n = parse_uint<std::uint32_t>(*v, 3'600'000);
      if (!n) return bad("milliseconds, 0 = no stats events");
      o.server.stats_interval = std::chrono::milliseconds(*n);
    } else if (arg == "--max-connections") {
      auto n = parse_uint<std::size_t>(*v, 1'000'000);
      if (!n || *n == 0) return bad("1..1000000");
      o.server.max_connections = *n;
    } else if (arg == "--replay-buffer") {
      auto n = parse_uint<std::size_t>(*v, 10'000'000);
      if (!n || *n == 0) return bad("1..10000000");
      o.server.replay_buffer = *n;
    } else if (arg == "--max-frame-bytes") {
      auto n = parse_uint<std::size_t>(*v, 64u << 20);
      if (!n || *n < 128) return bad("128..67108864");
      o.server.max_frame_bytes = *n;
    } else if (arg == "--keepalive-ms") {
      auto n = parse_uint<std::uint32_t>(*v, 3'600'000);
      if (!n || *n == 0) return bad("1..3600000");
      o.server.keepalive_interval = std::chrono::milliseconds(*n);
    } else {
      return usage("unknown option '" + name + "' for 'serve'");
    }
  }
  return run(std::move(o));
}

#endif

}  // namespace ringkernel::cli
