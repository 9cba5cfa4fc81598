#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>

namespace ringkernel::cli {

LatencySummary summarize(std::vector<std::uint64_t>& samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  // Nearest rank: the smallest sample with at least q of all samples at or below it.
  const auto rank = [&](double q) {
    const auto n = static_cast<double>(samples.size());
    const auto idx = static_cast<std::size_t>(std::ceil(q * n));
    return samples[std::clamp<std::size_t>(idx, 1, samples.size()) - 1];
  };
  s.samples = samples.size();
  s.p50_ns = rank(0.50);
  s.p99_ns = rank(0.99);
  s.max_ns = samples.back();
  // long double: a run can hold millions of samples; a double sum would still be exact enough, but this
  // keeps the mean independent of sample order.
  const long double sum = std::accumulate(samples.begin(), samples.end(), static_cast<long double>(0));
  s.mean_ns = static_cast<double>(sum / static_cast<long double>(samples.size()));
  return s;
}

namespace {

/// 1234567 -> "1,234,567": the table is read by people, and long counts are hard to scan otherwise.
std::string grouped(std::uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  const std::size_t n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[i];
    if ((n - 1 - i) % 3 == 0 && i + 1 < n) out += ',';
  }
  return out;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string us(std::uint64_t ns) { return fixed(static_cast<double>(ns) / 1000.0, 1); }

void row(const char* label, const std::string& value) { std::printf("  %-20s %s\n", label, value.c_str()); }

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

void print_table(const DemoReport& r) {
  std::printf("\nRingKernel demo: sensor pipeline (ingest x%u -> transform -> flaky -> aggregate)\n",
              r.ingest_actors);
  std::printf("  %s\n", std::string(78, '-').c_str());
  row("backend", r.backend);
  row("workers", std::to_string(r.workers));
  row("run time", fixed(r.run_seconds, 2) + " s" +
                      (r.rate_target != 0 ? "  (rate target " + grouped(r.rate_target) + " readings/s)" : ""));
  row("readings sent", grouped(r.readings_sent) + "  (" + grouped(r.readings_invalid) + " deliberately invalid)");
  row("messages processed", grouped(r.messages_processed) + "  (handler runs over all actors and hops)");
  row("throughput", grouped(static_cast<std::uint64_t>(r.readings_per_s)) + " readings/s end to end, " +
                        grouped(static_cast<std::uint64_t>(r.messages_per_s)) + " actor msgs/s");
  if (r.call.samples != 0) {
    row("call latency", "p50 " + us(r.call.p50_ns) + " us   p99 " + us(r.call.p99_ns) + " us   max " +
                            us(r.call.max_ns) + " us   (" + grouped(r.call.samples) +
                            " host-timed samples under load, warm-up excluded)");
  } else {
    row("call latency", "no samples (run too short?)");
  }
  if (r.call_failures != 0) row("call failures", grouped(r.call_failures));
  row("flaky restarts", grouped(r.flaky_restarts) + "  (" + grouped(r.restart_events) + " restart events observed)");
  std::string dl = grouped(r.dead_letters_total);
  if (r.dead_letters_total != 0) {
    dl += "  (";
    bool first = true;
    for (std::size_t i = 0; i < r.dead_letters.size(); ++i) {
      if (r.dead_letters[i] == 0) continue;
      if (!first) dl += ", ";
      first = false;
      dl += std::string(to_string(static_cast<DeadLetterReason>(i))) + " " + grouped(r.dead_letters[i]);
    }
    dl += ")";
  }
  row("dead letters", dl);
  row("aggregate", grouped(r.agg_accepted) + " accepted, " + grouped(r.agg_rejected) + " rejected, range " +
                       fixed(static_cast<double>(r.agg_min_milli) / 1000.0, 3) + " .. " +
                       fixed(static_cast<double>(r.agg_max_milli) / 1000.0, 3) + " degC");
  row("shutdown", r.shutdown + " (" + fixed(r.shutdown_ms, 1) + " ms)");
  std::printf("  %s\n", std::string(78, '-').c_str());
  std::printf("  verification: %s %s\n", r.verified ? "PASS" : "FAIL", r.verification.c_str());
  std::fflush(stdout);
}

bool write_json(const DemoReport& r, const std::string& path) {
  std::ostringstream o;
  o << "{\n"
    << "  \"backend\": \"" << json_escape(r.backend) << "\",\n"
    << "  \"workers\": " << r.workers << ",\n"
    << "  \"ingest_actors\": " << r.ingest_actors << ",\n"
    << "  \"run_seconds\": " << fixed(r.run_seconds, 6) << ",\n"
    << "  \"rate_target\": " << r.rate_target << ",\n"
    << "  \"readings_sent\": " << r.readings_sent << ",\n"
    << "  \"readings_invalid\": " << r.readings_invalid << ",\n"
    << "  \"messages_processed\": " << r.messages_processed << ",\n"
    << "  \"throughput_readings_per_s\": " << fixed(r.readings_per_s, 1) << ",\n"
    << "  \"throughput_messages_per_s\": " << fixed(r.messages_per_s, 1) << ",\n"
    << "  \"call_latency_us\": {\"samples\": " << r.call.samples << ", \"p50\": " << us(r.call.p50_ns)
    << ", \"p99\": " << us(r.call.p99_ns) << ", \"max\": " << us(r.call.max_ns)
    << ", \"mean\": " << fixed(r.call.mean_ns / 1000.0, 1) << "},\n"
    << "  \"call_failures\": " << r.call_failures << ",\n"
    << "  \"flaky_restarts\": " << r.flaky_restarts << ",\n"
    << "  \"restart_events\": " << r.restart_events << ",\n"
    << "  \"dead_letters\": {\"total\": " << r.dead_letters_total;
  for (std::size_t i = 0; i < r.dead_letters.size(); ++i) {
    o << ", \"" << to_string(static_cast<DeadLetterReason>(i)) << "\": " << r.dead_letters[i];
  }
  o << "},\n"
    << "  \"aggregate\": {\"accepted\": " << r.agg_accepted << ", \"rejected\": " << r.agg_rejected
    << ", \"min_milli\": " << r.agg_min_milli << ", \"max_milli\": " << r.agg_max_milli << "},\n"
    << "  \"shutdown\": {\"ok\": " << (r.shutdown_ok ? "true" : "false") << ", \"result\": \""
    << json_escape(r.shutdown) << "\", \"ms\": " << fixed(r.shutdown_ms, 3) << "},\n"
    << "  \"verified\": " << (r.verified ? "true" : "false") << ",\n"
    << "  \"verification\": \"" << json_escape(r.verification) << "\"\n"
    << "}\n";
  std::ofstream f(path, std::ios::trunc);
  if (!f) {
    std::fprintf(stderr, "ringkernel demo: cannot open '%s' for writing\n", path.c_str());
    return false;
  }
  f << o.str();
  f.close();
  if (!f) {
    std::fprintf(stderr, "ringkernel demo: writing '%s' failed\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace ringkernel::cli
