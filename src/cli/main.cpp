/// @file main.cpp
/// @brief The `ringkernel` command-line program: argument parsing and subcommand dispatch.
///
/// Exit codes: 0 success, 1 the command ran and failed (runtime error, verification mismatch), 2 usage error.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codegen_cmd.hpp"
#include "demo.hpp"
#include "serve.hpp"

namespace {

using ringkernel::cli::DemoOptions;

// Keep in step with project(VERSION) in the top-level CMakeLists.txt (no generated version header yet).
constexpr const char* kVersion = "0.1.0";

constexpr int kExitUsage = 2;

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: ringkernel <command> [options]\n"
      "\n"
      "RingKernel: a GPU-native persistent actor framework.\n"
      "\n"
      "commands:\n"
      "  demo      run the sensor-pipeline showcase and verify its results\n"
      "  serve     run the demo pipeline behind the operations server (HTTP, SSE, WebSocket, metrics)\n"
      "  codegen   print the CUDA, WGSL or MSL generated for a kernel written in the IR's text form\n"
      "  check     report which targets can run each kernel of an IR file, and why not\n"
      "  version   print the version and the backends available here\n"
      "  help      show this help (also: -h, --help anywhere; `ringkernel help demo|serve|codegen`)\n",
      out);
}

void print_demo_usage(std::FILE* out) {
  std::fputs(
      "usage: ringkernel demo [options]\n"
      "\n"
      "Runs an actor pipeline: ingest x N -> transform -> flaky -> aggregate, fed by the host with\n"
      "send_many, while a host-side probe times request/reply calls to the aggregate. `flaky` fails on\n"
      "every K-th message and is restarted by its supervisor. At the end the aggregate's totals must equal\n"
      "what the host sent minus what was dead-lettered; the exit code is 1 if they don't.\n"
      "\n"
      "options:\n"
      "  --backend NAME     auto|cpu|cuda|webgpu|metal (default auto: the best available)\n"
      "  --seconds N        how long to feed readings (default 5; fractions allowed)\n"
      "  --workers N        executor threads (default 0 = one per hardware thread)\n"
      "  --ingest N         number of ingest actors (default 2)\n"
      "  --rate N           target readings/s from the host; 0 = as fast as possible (default 0)\n"
      "  --fail-every K     flaky fails on every K-th message; 0 = never (default 5000)\n"
      "  --no-progress      no live progress line on stderr\n"
      "  --json FILE        also write the results as JSON to FILE\n"
      "  -h, --help         show this help\n",
      out);
}

int usage_error(const std::string& msg, bool demo) {
  std::fprintf(stderr, "ringkernel: %s\n\n", msg.c_str());
  if (demo) print_demo_usage(stderr);
  else print_usage(stderr);
  return kExitUsage;
}

template <class T>
std::optional<T> parse_uint(std::string_view s, T max) {
  unsigned long long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v > static_cast<unsigned long long>(max)) return std::nullopt;
  return static_cast<T>(v);
}

std::optional<double> parse_seconds(std::string_view s) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || !(v > 0) || v > 86400) return std::nullopt;
  return v;
}

int cmd_version() {
  std::printf("ringkernel %s\nbackends:", kVersion);
  using ringkernel::Backend;
  for (Backend b : {Backend::Cpu, Backend::Cuda, Backend::WebGpu, Backend::Metal}) {
    std::printf(" %s%s", std::string(ringkernel::to_string(b)).c_str(),
                ringkernel::backend_available(b) ? "" : " (unavailable)");
  }
  std::printf("\n");
  return 0;
}

int cmd_demo(const std::vector<std::string_view>& args) {
  DemoOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    // Accept both "--flag value" and "--flag=value".
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
    auto missing = [&] { return usage_error("option '" + std::string(arg) + "' needs a value", true); };
    auto bad = [&](std::string_view v, const char* expected) {
      return usage_error("invalid value '" + std::string(v) + "' for " + std::string(arg) + " (expected " +
                             expected + ")",
                         true);
    };

    if (arg == "--no-progress") {
      if (inline_value) return usage_error("option '--no-progress' takes no value", true);
      o.progress = false;
    } else if (arg == "--backend") {
      auto v = value();
      if (!v) return missing();
      auto b = ringkernel::parse_backend(*v);
      if (!b) return bad(*v, "auto, cpu, cuda, webgpu or metal");
      o.backend = *b;
    } else if (arg == "--seconds") {
      auto v = value();
      if (!v) return missing();
      auto s = parse_seconds(*v);
      if (!s) return bad(*v, "a number of seconds > 0");
      o.seconds = *s;
    } else if (arg == "--workers") {
      auto v = value();
      if (!v) return missing();
      auto n = parse_uint<unsigned>(*v, 1024);
      if (!n) return bad(*v, "0..1024");
      o.workers = *n;
    } else if (arg == "--ingest") {
      auto v = value();
      if (!v) return missing();
      auto n = parse_uint<unsigned>(*v, 256);
      if (!n || *n == 0) return bad(*v, "1..256");
      o.ingest = *n;
    } else if (arg == "--rate") {
      auto v = value();
      if (!v) return missing();
      auto n = parse_uint<std::uint64_t>(*v, 1'000'000'000'000ull);
      if (!n) return bad(*v, "readings per second, 0 = unthrottled");
      o.rate = *n;
    } else if (arg == "--fail-every") {
      auto v = value();
      if (!v) return missing();
      auto n = parse_uint<std::uint32_t>(*v, 0xFFFFFFFFu);
      if (!n) return bad(*v, "a message count, 0 = never");
      o.fail_every = *n;
    } else if (arg == "--json") {
      auto v = value();
      if (!v || v->empty()) return missing();
      o.json = std::string(*v);
    } else if (arg.starts_with("-")) {
      return usage_error("unknown option '" + std::string(arg) + "' for 'demo'", true);
    } else {
      return usage_error("unexpected argument '" + std::string(arg) + "' for 'demo'", true);
    }
  }
  return ringkernel::cli::run_demo(o);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("missing command", false);

  const std::string_view cmd = args.front();
  const std::vector<std::string_view> rest(args.begin() + 1, args.end());
  // -h/--help anywhere wins over everything else, so a half-typed command line can still ask for help.
  bool wants_help = false;
  for (std::string_view a : args) wants_help = wants_help || a == "-h" || a == "--help";

  if (cmd == "demo") {
    if (wants_help) {
      print_demo_usage(stdout);
      return 0;
    }
    return cmd_demo(rest);
  }
  if (cmd == "serve") {
    if (wants_help) {
      ringkernel::cli::print_serve_usage(stdout);
      return 0;
    }
    return ringkernel::cli::cmd_serve(rest);
  }
  if (cmd == "codegen" || cmd == "check") {
    if (wants_help) {
      ringkernel::cli::print_codegen_usage(stdout);
      return 0;
    }
    return cmd == "codegen" ? ringkernel::cli::cmd_codegen(rest) : ringkernel::cli::cmd_check(rest);
  }
  if (cmd == "help" || cmd == "-h" || cmd == "--help") {
    if (!rest.empty() && rest.front() == "demo") print_demo_usage(stdout);
    else if (!rest.empty() && (rest.front() == "codegen" || rest.front() == "check")) ringkernel::cli::print_codegen_usage(stdout);
    else if (!rest.empty() && rest.front() == "serve") ringkernel::cli::print_serve_usage(stdout);
    else print_usage(stdout);
    return 0;
  }
  if (wants_help) {
    print_usage(stdout);
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    if (!rest.empty()) return usage_error("'version' takes no arguments", false);
    return cmd_version();
  }
  if (cmd.starts_with("-")) return usage_error("unknown option '" + std::string(cmd) + "'", false);
  return usage_error("unknown command '" + std::string(cmd) + "'", false);
}
