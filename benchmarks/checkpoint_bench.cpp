// Checkpoint/restore throughput of an actor system holding about 1 GiB of actor state, to local disk.
//
//   build/default/benchmarks/bench_checkpoint_bench [--mib 1024] [--dir build/ckpt-bench]
//       [--json docs/benchmarks/checkpoint-cpu.json] [--md docs/benchmarks/checkpoint-cpu.md]
//
// The same source, compiled by nvcc as benchmarks/gpu/checkpoint_gpu_bench.cu (RK_CHECKPOINT_BENCH_CUDA), runs
// the actors on the CUDA backend: their states live in device memory and stream out through page-locked
// staging buffers (bench_checkpoint_gpu_bench --json docs/benchmarks/checkpoint-h100.json ...).
//
// Checkpoint = checkpoint::checkpoint_to: pause every actor, stream each 16 MiB state in 4 MiB segments
// (Executor::read_state into staging buffers on a copy thread, xxHash64/zstd on worker threads, written in order
// into FileStorage's writer while the next segments are copied), resume, commit (fsync, rename, fsync dir).
// Restore = checkpoint::restore_from: read the file once with read-ahead on a thread, verify every chunk as it
// arrives (hash/decompress on worker threads) straight into freshly built actor objects, verify the trailer and
// digest, then Runtime::restore_snapshot launches them. Run without compression and with zstd level 1.
#include <ringkernel/checkpoint/checkpoint.hpp>
#include <ringkernel/ringkernel.hpp>
#if defined(RK_CHECKPOINT_BENCH_CUDA)
#include <ringkernel/cuda/actor_kernel.cuh>
#endif

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace rk = ringkernel;
namespace ck = ringkernel::checkpoint;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kStateBytes = std::size_t{16} << 20;  // per actor

struct Fill { static constexpr auto type_id = rk::message_type("bench.Fill"); std::uint32_t seed; };
struct Probe { static constexpr auto type_id = rk::message_type("bench.Probe"); std::uint32_t index; };
struct Value { static constexpr auto type_id = rk::message_type("bench.Value"); std::uint64_t v; };

// 16 MiB of trivially copyable state. The data imitates a numeric working set: a quarter random bytes, the rest
// small counters and repeated records, so zstd has something to find but far from everything.
struct BigState {
  using messages = rk::message_list<Fill, Probe>;
  std::array<std::uint64_t, kStateBytes / 8> words;
  BigState() {}  // NOLINT: left uninitialized on purpose (restore overwrites it; Fill initializes it)
  RK_HOST_DEVICE void handle(auto&, const Fill& f) {
    std::uint64_t x = 0x9E3779B97F4A7C15ull * (f.seed + 1);
    for (std::size_t i = 0; i < words.size(); ++i) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      switch (i & 3) {
        case 0: words[i] = x; break;                        // random
        case 1: words[i] = i / 64; break;                   // slowly growing counter
        case 2: words[i] = (x & 0xff) * 1000; break;        // small values
        default: words[i] = 0x4000000000000000ull; break;   // a repeated constant (1.0 as double bits-ish)
      }
    }
  }
  RK_HOST_DEVICE void handle(auto& ctx, const Probe& p) { (void)ctx.reply(Value{words[p.index % words.size()]}); }
};

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

#if defined(RK_CHECKPOINT_BENCH_CUDA)
constexpr rk::Backend kBackend = rk::Backend::Cuda;
constexpr const char* kSlug = "h100";
std::string device_line() {
  cudaDeviceProp p{};
  int drv = 0;
  (void)cudaGetDeviceProperties(&p, 0);
  (void)cudaDriverGetVersion(&drv);
  return std::string(p.name) + " (CUDA driver API " + std::to_string(drv) + ")";
}
#else
constexpr rk::Backend kBackend = rk::Backend::Cpu;
constexpr const char* kSlug = "cpu";
std::string device_line() { return "none (CPU backend)"; }
#endif

struct Row {
  std::string mode;
  ck::StreamStats cp, rs;
  std::uint64_t raw, stored;
};

double gbps(std::uint64_t bytes, double s) { return s > 0 ? static_cast<double>(bytes) / 1e9 / s : 0; }
// A stage rate for the table; "-" for a stage that did not run (zstd restore decompresses straight into the
// actor objects: there is no separate copy).
std::string rate(std::uint64_t bytes, double s) {
  if (s <= 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", gbps(bytes, s));
  return b;
}

} // namespace

#if defined(RK_CHECKPOINT_BENCH_CUDA)
RINGKERNEL_CUDA_ACTOR(BigState)
#endif

int main(int argc, char** argv) {
  std::size_t mib = 1024;
  std::string dir = "build/ckpt-bench";
  std::string json_path;
  std::string md_path;
  int repeat = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--mib") mib = std::stoul(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--json") json_path = argv[i + 1];
    else if (a == "--md") md_path = argv[i + 1];
    else if (a == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  const std::size_t actors = std::max<std::size_t>(1, (mib << 20) / kStateBytes);
  // Hash/compress workers: two on the 2-core CI machine, up to eight where there are more cores.
  const unsigned threads = std::clamp(std::thread::hardware_concurrency() / 2, 2u, 8u);
  rk::ActorCatalog catalog;
  catalog.add<BigState>();
  rk::RuntimeConfig cfg;
  cfg.backend = kBackend;
  cfg.workers = 2;
  cfg.cuda_slots_per_type = static_cast<std::uint32_t>(actors);  // one slot per actor (CUDA only)
  auto rt = rk::Runtime::builder().config(cfg).build();
  if (!rt) { std::puts(rt.error().describe().c_str()); return 1; }
  std::vector<rk::ActorHandle> hs;
  for (std::size_t i = 0; i < actors; ++i) {
    auto h = rt->launch<BigState>("state." + std::to_string(i));
    if (!h) { std::puts(h.error().describe().c_str()); return 1; }
    (void)h->send(Fill{static_cast<std::uint32_t>(i)});
    hs.push_back(*h);
  }
  std::fprintf(stderr, "%zu actors launched on %s, filling their states\n", actors, std::string(rk::to_string(rt->backend())).c_str());
  for (auto& h : hs) {  // wait for every fill
    auto v = h.call<Value>(Probe{12345}, std::chrono::seconds(60));
    if (!v) { std::puts(v.error().describe().c_str()); return 1; }
  }
  std::fprintf(stderr, "states filled\n");
  std::filesystem::create_directories(dir);
  ck::FileStorage disk(dir);
  std::vector<Row> rows;
  // Uncompressed, zstd level 1 (the default level) and zstd's fast level -5.
  for (int level : {0, 1, -5}) {
    const ck::Compression comp = level == 0 ? ck::Compression::None : ck::Compression::Zstd;
    Row best{};
    for (int rep = 0; rep < repeat; ++rep) {
      Row r{};
      r.mode = level == 0 ? "uncompressed" : "zstd level " + std::to_string(level);
      const std::string name = "bench-" + std::to_string(level + 10) + ".rkc";
      ck::EncodeOptions eo;
      eo.compression = comp;
      if (level != 0) eo.zstd_level = level;
      eo.threads = threads;
      auto info = ck::checkpoint_to(*rt, catalog, disk, name, eo, &r.cp, std::chrono::seconds(60));
      if (!info) { std::puts(info.error().describe().c_str()); return 1; }
      r.raw = info->raw_bytes;
      r.stored = info->total_bytes;
      // Restore into a fresh runtime.
      auto rt2 = rk::Runtime::builder().config(cfg).build();
      if (auto st = ck::restore_from(*rt2, catalog, disk, name, {}, &r.rs, threads); !st) {
        std::puts(st.error().describe().c_str());
        return 1;
      }
      // Spot check: restored state equals the original.
      auto a = hs.back().call<Value>(Probe{777}, std::chrono::seconds(10));
      auto b = rt2->find("state." + std::to_string(actors - 1))->call<Value>(Probe{777}, std::chrono::seconds(10));
      if (!a || !b || a->v != b->v) { std::puts("restored state differs"); return 1; }
      (void)rt2->shutdown();
      (void)disk.remove(name);
      std::fprintf(stderr, "%s run %d: checkpoint %.3f s, restore %.3f s\n", r.mode.c_str(), rep + 1, r.cp.wall_s,
                   r.rs.wall_s);
      if (rep == 0 || r.cp.wall_s + r.rs.wall_s < best.cp.wall_s + best.rs.wall_s) best = r;
    }
    rows.push_back(best);
  }
  // Machine reference rates, to read the table against: hashing and copying warm memory, and copying into
  // freshly allocated memory (page faults), which is what snapshot, encode and decode mostly do.
  double hash_gbps = 0, warm_gbps = 0, fresh_gbps = 0;
  {
    std::vector<std::byte> a(std::size_t{1} << 30, std::byte{1});  // the size the stages move
    std::vector<std::byte> b(a.size(), std::byte{2});
    const auto r0 = Clock::now();
    volatile std::uint64_t sink = ck::xxh64(a.data(), a.size());
    (void)sink;
    const auto r1 = Clock::now();
    std::memcpy(b.data(), a.data(), a.size());
    const auto r2 = Clock::now();
    std::vector<std::byte> c(a.begin(), a.end());
    const auto r3 = Clock::now();
    const double gb = static_cast<double>(a.size()) / 1e9;
    hash_gbps = gb / secs(r1 - r0);
    warm_gbps = gb / secs(r2 - r1);
    fresh_gbps = gb / secs(r3 - r2);
  }
  utsname u{};
  ::uname(&u);
  double load[3] = {0, 0, 0};
  (void)::getloadavg(load, 3);
  const double gib = static_cast<double>(rows[0].raw) / double(1u << 30);
  char buf[512];
  const std::string backend(rk::to_string(kBackend));
  const std::string exe = kBackend == rk::Backend::Cuda ? "bench_checkpoint_gpu_bench" : "bench_checkpoint_bench";
  std::string md = "# Checkpoint / restore benchmark (" + backend + " backend, local disk)\n\n";
  md += "Produced by `" + exe + " --mib " + std::to_string(mib) + " --repeat " + std::to_string(repeat) +
        " --json docs/benchmarks/checkpoint-" + kSlug + ".json --md docs/benchmarks/checkpoint-" + kSlug + ".md` "
        "(benchmarks/checkpoint_bench.cpp; each row the best of the repeats), RelWithDebInfo build, " + backend +
        " backend, " + std::to_string(threads) + " hash/compress threads, streaming path (checkpoint_to / "
        "restore_from, FileStorage with O_DIRECT).\n\n";
  std::snprintf(buf, sizeof buf, "Machine: %u hardware threads, %s %s; GPU: %s. State: %zu actors x 16 MiB = %.2f GiB of "
                "trivially copyable actor state (a quarter random bytes, the rest counters and repeated values). "
                "Load average %.2f at the end of the run.\n\n",
                std::thread::hardware_concurrency(), u.sysname, u.release, device_line().c_str(), actors, gib, load[0]);
  md += buf;
  std::snprintf(buf, sizeof buf, "Reference rates on this machine during the run: xxHash64 %.2f GB/s, memcpy of warm memory "
                "%.2f GB/s, copy into freshly allocated memory %.2f GB/s.\n\n", hash_gbps, warm_gbps, fresh_gbps);
  md += buf;
  md += "### Checkpoint (pause, stream, resume, commit)\n\n"
        "| mode | total (s) | GB/s | capture (s) | copy GB/s | hash+zstd GB/s | write GB/s | commit/fsync (s) | "
        "file (MiB) | ratio |\n|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const Row& r : rows) {
    std::snprintf(buf, sizeof buf, "| %s | %.3f | %.2f | %.3f | %s | %s | %s | %.3f | %.1f | %.2f |\n",
                  r.mode.c_str(), r.cp.wall_s, gbps(r.raw, r.cp.wall_s), r.cp.pause_s, rate(r.raw, r.cp.copy_s).c_str(),
                  rate(r.raw, r.cp.hash_s / threads).c_str(), rate(r.stored, r.cp.io_s).c_str(), r.cp.commit_s,
                  static_cast<double>(r.stored) / double(1 << 20), static_cast<double>(r.raw) / static_cast<double>(r.stored));
    md += buf;
  }
  md += "\n### Restore (read, verify into new actor objects, launch)\n\n"
        "| mode | total (s) | GB/s | read GB/s | copy GB/s | hash+unzstd GB/s | restore_snapshot (s) |\n"
        "|:--|--:|--:|--:|--:|--:|--:|\n";
  for (const Row& r : rows) {
    std::snprintf(buf, sizeof buf, "| %s | %.3f | %.2f | %s | %s | %s | %.3f |\n", r.mode.c_str(), r.rs.wall_s,
                  gbps(r.raw, r.rs.wall_s), rate(r.stored, r.rs.io_s).c_str(), rate(r.raw, r.rs.copy_s).c_str(),
                  rate(r.raw, r.rs.hash_s / threads).c_str(), r.rs.pause_s);
    md += buf;
  }
  std::snprintf(buf, sizeof buf, "  \"load_average\": %.2f,\n  \"xxh64_gbps\": %.3f,\n  \"memcpy_warm_gbps\": %.3f,\n"
                "  \"copy_fresh_gbps\": %.3f,\n", load[0], hash_gbps, warm_gbps, fresh_gbps);
  std::string js = "{\n  \"benchmark\": \"checkpoint_" + std::string(kSlug) + "\",\n  \"backend\": \"" + backend +
                   "\",\n  \"device\": \"" + device_line() + "\",\n  \"path\": \"streaming (checkpoint_to / restore_from)\",\n" +
                   std::string(buf) + "  \"actors\": " + std::to_string(actors) +
                   ",\n  \"state_bytes\": " + std::to_string(rows[0].raw) + ",\n  \"results\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::snprintf(buf, sizeof buf,
                  "    {\"mode\": \"%s\", \"checkpoint_s\": %.4f, \"checkpoint_gbps\": %.3f, \"capture_s\": %.4f, "
                  "\"copy_busy_s\": %.4f, \"hash_compress_busy_s\": %.4f, \"write_busy_s\": %.4f, \"commit_s\": %.4f, "
                  "\"restore_s\": %.4f, \"restore_gbps\": %.3f, \"read_busy_s\": %.4f, \"restore_copy_busy_s\": %.4f, "
                  "\"verify_busy_s\": %.4f, \"restore_snapshot_s\": %.4f, \"stored_bytes\": %llu, \"ratio\": %.3f}%s\n",
                  r.mode.c_str(), r.cp.wall_s, gbps(r.raw, r.cp.wall_s), r.cp.pause_s, r.cp.copy_s, r.cp.hash_s,
                  r.cp.io_s, r.cp.commit_s, r.rs.wall_s, gbps(r.raw, r.rs.wall_s), r.rs.io_s, r.rs.copy_s, r.rs.hash_s,
                  r.rs.pause_s, static_cast<unsigned long long>(r.stored),
                  static_cast<double>(r.raw) / static_cast<double>(r.stored), i + 1 < rows.size() ? "," : "");
    js += buf;
  }
  js += "  ]\n}\n";
  md += "\nGB/s = 10^9 bytes of actor state per second. *total* is end to end (checkpoint: from the call until the "
        "object is committed; restore: from opening the object until every actor is launched). Stage rates are bytes "
        "over each stage's busy time, so overlapping stages can each be faster than the total: *copy* is "
        "Executor::read_state into the staging buffers (checkpoint) or the copy from the read-ahead buffers into the "
        "new actor objects (restore); *hash+zstd* is the rate of the worker threads together (bytes over their summed busy time divided by the thread count); *write*/*read* is the time "
        "spent in the storage calls (page cache; the disk work is mostly in *commit/fsync*). *capture* is pausing "
        "every actor and copying queues (the states stream afterwards, with the actors still paused until the "
        "last segment was read). The page cache is warm for the read (the file was just written).\n\n"
        + std::string(kBackend == rk::Backend::Cuda
                          ? "CUDA backend: *copy* is the copy engine moving each segment from the paused actor's device "
                            "memory into a page-locked staging buffer (Executor::read_state); restore loads each "
                            "state into device memory with one copy-engine transfer when the actor is launched "
                            "(included in *restore_snapshot*). The lent GPU machine is a VM with a virtual disk.\n"
                          : "This VM has 2 shared cores and a slow virtual disk, so the numbers are rough and vary by "
                            "several x with the machine's load; the same stages on a dedicated host with NVMe are "
                            "expected to be much faster. The CUDA backend's numbers are in checkpoint-h100.md.\n");
  std::fputs(md.c_str(), stdout);
  if (!md_path.empty()) std::ofstream(md_path) << md;
  if (!json_path.empty()) std::ofstream(json_path) << js;
  return 0;
}
