// WebGPU backend benchmark: per-batch round trip and messages/s against batch size, through the public
// runtime API (send_many -> GPU batch -> replies received on the host), plus call() latency.
//
//   bench_webgpu_bench [--json out.json] [--md out.md] [--rounds N] [--require-hardware]
//
// A "round" sends B messages spread over min(B, 16) actors of one IR program and waits for all B replies;
// the executor's own counters (webgpu::batch_stats) give the dispatches that took and their GPU time. A second
// table spreads the same rounds over 4 programs (4 actors each), where the executor's one queue submit per
// step for all programs (instead of one per program) shows. The adapter is printed first (a hardware GPU is
// preferred whenever one exists; --require-hardware refuses to measure a CPU renderer such as lavapipe).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "ringkernel/ringkernel.hpp"
#include "ringkernel/webgpu/webgpu.hpp"

namespace rk = ringkernel;
namespace wg = ringkernel::webgpu;

namespace {

struct Add {
  static constexpr auto type_id = rk::message_type("bench.Add");
  std::uint64_t value;
};
struct Sum {
  static constexpr auto type_id = rk::message_type("bench.Sum");
  std::uint64_t total;
};

struct Row {
  std::uint32_t programs = 1, batch = 0, actors = 0, rounds = 0;
  double p50_us = 0, p99_us = 0, mean_us = 0, msgs_per_s = 0, dispatches_per_round = 0, gpu_us_per_dispatch = 0,
         overlapped = 0, submits_per_round = 0;
};

std::string json_escape(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

double pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

} // namespace

int main(int argc, char** argv) {
  std::string json_path, md_path;
  int rounds = 200;
  bool require_hardware = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--md" && i + 1 < argc) md_path = argv[++i];
    else if (a == "--rounds" && i + 1 < argc) rounds = std::max(10, std::atoi(argv[++i]));
    else if (a == "--require-hardware") require_hardware = true;
    else {
      std::fprintf(stderr, "usage: %s [--json out.json] [--md out.md] [--rounds N] [--require-hardware]\n", argv[0]);
      return 2;
    }
  }
  auto info = wg::probe();
  if (!info) {
    std::fprintf(stderr, "%s\n", info.error().describe().c_str());
    return 1;
  }
  std::printf("adapter: %s [%s, %s], subgroups %s\n", info->adapter.c_str(), info->backend.c_str(),
              info->hardware ? "hardware GPU" : "software/other", info->subgroups ? "yes" : "no");
  if (require_hardware && !info->hardware) {
    std::fprintf(stderr, "--require-hardware: the best adapter found is not a GPU (%s)\n", info->adapter.c_str());
    return 1;
  }
  wg::ActorSpec spec;
  spec.name = "bench_adder";
  spec.state_words = 2;
  spec.max_payload_words = 2;
  spec.max_outputs = 1;
  spec.batch_per_actor = 4096;
  spec.max_batch = 4096;
  spec.handlers.push_back({Add::type_id, [](wg::ActorContext& m) {
    auto total = m.state_u64(0) + m.payload<std::uint64_t>(0);
    m.set_state_u64(0, total);
    m.reply(Sum::type_id, {wg::lo(total), wg::hi(total)});
  }});
  constexpr std::uint32_t kPrograms = 4;
  std::vector<std::shared_ptr<const wg::ActorProgram>> programs;
  for (std::uint32_t p = 0; p < kPrograms; ++p) {
    spec.name = "bench_adder" + std::to_string(p);
    auto program = wg::compile(spec);
    if (!program) {
      std::fprintf(stderr, "%s\n", program.error().describe().c_str());
      return 1;
    }
    programs.push_back(*program);
  }
  auto rt = rk::Runtime::builder().backend(rk::Backend::WebGpu).build();
  if (!rt) {
    std::fprintf(stderr, "%s\n", rt.error().describe().c_str());
    return 1;
  }
  // actors[0..15]: program 0; spread[0..15]: 4 actors of each of the 4 programs.
  std::vector<rk::ActorHandle> actors, spread;
  rk::LaunchOptions opts;
  opts.mailbox_capacity = 4096;
  opts.outbox_capacity = 4096;
  for (int i = 0; i < 16; ++i) {
    auto h = wg::launch(*rt, "bench" + std::to_string(i), programs[0], opts);
    auto m = wg::launch(*rt, "spread" + std::to_string(i), programs[static_cast<std::size_t>(i) % kPrograms], opts);
    if (!h || !m) {
      std::fprintf(stderr, "%s\n", (!h ? h : m).error().describe().c_str());
      return 1;
    }
    actors.push_back(*h);
    spread.push_back(*m);
  }
  for (int i = 0; i < 20; ++i) (void)actors[0].call<Sum>(Add{0}, std::chrono::seconds(5));  // warm-up
  // call() latency: one message, one dispatch, one reply.
  std::vector<double> call_us;
  for (int i = 0; i < rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto s = actors[0].call<Sum>(Add{1}, std::chrono::seconds(5));
    const auto t1 = std::chrono::steady_clock::now();
    if (!s) {
      std::fprintf(stderr, "call: %s\n", s.error().describe().c_str());
      return 1;
    }
    call_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::vector<Row> rows;
  for (std::uint32_t progs : {1u, kPrograms}) {
  std::vector<rk::ActorHandle>& set = progs == 1 ? actors : spread;
  for (std::uint32_t batch : {1u, 8u, 64u, 256u, 1024u, 4096u}) {
    if (progs > 1 && batch < 16) continue;  // one message per program at least
    Row r;
    r.programs = progs;
    r.batch = batch;
    r.actors = std::min<std::uint32_t>(batch, 16);
    r.rounds = static_cast<std::uint32_t>(batch >= 1024 ? std::max(10, rounds / 10) : rounds);
    const std::uint32_t per = batch / r.actors;
    std::vector<Add> msgs(per, Add{1});
    std::vector<double> us;
    const auto before = wg::batch_stats();
    for (std::uint32_t round = 0; round < r.rounds; ++round) {
      const auto t0 = std::chrono::steady_clock::now();
      for (std::uint32_t a = 0; a < r.actors; ++a) {
        auto n = set[a].send_many(std::span<const Add>(msgs));
        if (!n || *n != per) {
          std::fprintf(stderr, "send_many refused\n");
          return 1;
        }
      }
      for (std::uint32_t a = 0; a < r.actors; ++a) {
        std::uint32_t got = 0;
        while (got < per) {
          got += static_cast<std::uint32_t>(set[a].receive_each(per - got, [](const rk::MessageHeader&, std::span<const std::byte>) {}));
          if (got < per) {
            auto e = set[a].receive(std::chrono::seconds(5));
            if (!e) {
              std::fprintf(stderr, "receive: %s\n", e.error().describe().c_str());
              return 1;
            }
            ++got;
          }
        }
      }
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    const auto after = wg::batch_stats();
    double sum = 0;
    for (double x : us) sum += x;
    r.mean_us = sum / static_cast<double>(us.size());
    r.p50_us = pct(us, 0.5);
    r.p99_us = pct(us, 0.99);
    r.msgs_per_s = static_cast<double>(batch) * 1e6 / r.mean_us;
    const double dispatches = static_cast<double>(after.batches - before.batches);
    r.dispatches_per_round = dispatches / r.rounds;
    r.submits_per_round = static_cast<double>(after.submits - before.submits) / r.rounds;
    r.overlapped = dispatches > 0 ? static_cast<double>(after.overlapped - before.overlapped) / dispatches : 0;
    r.gpu_us_per_dispatch = dispatches > 0 ? static_cast<double>(after.gpu_ns - before.gpu_ns) / 1e3 / dispatches : 0;
    rows.push_back(r);
    std::printf("programs %u batch %5u actors %2u: round p50 %9.1f us p99 %9.1f us  %10.0f msg/s  %.2f dispatches/round"
                "  %.2f submits/round  %.1f us GPU/dispatch  %.0f%% overlapped\n",
                r.programs, r.batch, r.actors, r.p50_us, r.p99_us, r.msgs_per_s, r.dispatches_per_round,
                r.submits_per_round, r.gpu_us_per_dispatch, 100 * r.overlapped);
  }
  }
  std::printf("call p50 %.1f us p99 %.1f us\n", pct(call_us, 0.5), pct(call_us, 0.99));
  const std::string device = info->adapter + " [" + info->backend + "]";
  int rc = 0;
  if (!json_path.empty()) {
    std::ofstream j(json_path);
    j << "{\n  \"device\": \"" << json_escape(device) << "\",\n  \"hardware\": " << (info->hardware ? "true" : "false")
      << ",\n  \"subgroups\": " << (info->subgroups ? "true" : "false")
      << ",\n  \"call_p50_us\": " << pct(call_us, 0.5) << ",\n  \"call_p99_us\": " << pct(call_us, 0.99) << ",\n  \"rows\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      j << "    {\"programs\": " << r.programs << ", \"batch\": " << r.batch << ", \"actors\": " << r.actors << ", \"rounds\": " << r.rounds
        << ", \"round_p50_us\": " << r.p50_us << ", \"round_p99_us\": " << r.p99_us << ", \"messages_per_s\": "
        << r.msgs_per_s << ", \"dispatches_per_round\": " << r.dispatches_per_round << ", \"gpu_us_per_dispatch\": "
        << r.gpu_us_per_dispatch << ", \"submits_per_round\": " << r.submits_per_round << ", \"overlapped_fraction\": " << r.overlapped << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    j << "  ]\n}\n";
    j.close();
    if (!j) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      rc = 1;
    }
  }
  if (!md_path.empty()) {
    std::ofstream m(md_path);
    m << "| programs | batch (messages) | actors | rounds | round trip p50 (us) | p99 (us) | messages/s | dispatches/round | submits/round | GPU time/dispatch (us) | overlapped |\n"
         "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    char line[256];
    for (const Row& r : rows) {
      std::snprintf(line, sizeof line, "| %u | %u | %u | %u | %.1f | %.1f | %.0f | %.2f | %.2f | %.1f | %.0f%% |\n", r.programs,
                    r.batch, r.actors, r.rounds, r.p50_us, r.p99_us, r.msgs_per_s, r.dispatches_per_round,
                    r.submits_per_round, r.gpu_us_per_dispatch, 100 * r.overlapped);
      m << line;
    }
    std::snprintf(line, sizeof line, "\n`call()` (one message, one dispatch): p50 %.1f us, p99 %.1f us. Device: ",
                  pct(call_us, 0.5), pct(call_us, 0.99));
    m << line << device << (info->hardware ? " (hardware GPU)" : " (software/other)") << ".\n";
    m.close();
    if (!m) {
      std::fprintf(stderr, "cannot write %s\n", md_path.c_str());
      rc = 1;
    }
  }
  return rc;
}
