#include "server/api.hpp"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "server/assets.hpp"

namespace ringkernel::server::detail {

namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string u64(std::uint64_t v) { return std::to_string(v); }

Response json_response(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response error_of(const Error& e) {
  return error_response(http_status_for(e.code()), error_code_name(e.code()), e.message());
}

std::string runtime_event_json(const RuntimeEvent& ev) {
  return "{\"kind\":" + json_string(to_string(ev.kind)) + ",\"actor\":" + u64(ev.actor) + ",\"name\":" +
         json_string(ev.name) + ",\"detail\":" + json_string(ev.detail) + ",\"hlc\":" + u64(ev.hlc) +
         ",\"time_ms\":" + u64(wall_ms()) + "}";
}

// Prometheus label values: backslash, double quote and newline must be escaped.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string seconds(std::uint64_t ns) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(ns) / 1e9);
  return buf;
}

// Emits a LatencyHistogram as a Prometheus histogram. The `le` bounds are the histogram's own power-of-two
// bucket edges (2^k - 1 ns), so every cumulative count is exact rather than interpolated.
void histogram(std::string& out, std::string_view name, std::string_view help, const LatencyHistogram& h) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " histogram\n";
  std::uint64_t cumulative = 0;
  std::size_t next = 0;
  for (std::size_t k = 7; k <= 31; ++k) {
    const std::size_t last = 8 * k + 7;
    for (; next <= last && next < LatencyHistogram::kBuckets; ++next) cumulative += h.bucket_count(next);
    out += name;
    out += "_bucket{le=\"" + seconds(LatencyHistogram::bucket_upper(last)) + "\"} " + u64(cumulative) + "\n";
  }
  for (; next < LatencyHistogram::kBuckets; ++next) cumulative += h.bucket_count(next);
  out += name;
  out += "_bucket{le=\"+Inf\"} " + u64(cumulative) + "\n";
  out += name;
  out += "_sum " + seconds(h.sum()) + "\n";
  out += name;
  out += "_count " + u64(cumulative) + "\n";
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t v) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += u64(v);
  out += '\n';
}

constexpr ActorState kStates[] = {ActorState::Created,     ActorState::Launched,    ActorState::Active,
                                  ActorState::Deactivated, ActorState::Terminating, ActorState::Terminated,
                                  ActorState::Failed};

}  // namespace

// --- WorkerPool ------------------------------------------------------------------------------------------

WorkerPool::WorkerPool(std::size_t threads, std::size_t queue_limit) : limit_(std::max<std::size_t>(queue_limit, 1)) {
  for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { stop(); }

bool WorkerPool::submit(std::function<void()> job) {
  {
    std::lock_guard lk(mu_);
    if (stopping_ || jobs_.size() >= limit_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void WorkerPool::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void WorkerPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

// --- helpers ---------------------------------------------------------------------------------------------

Response error_response(int status, std::string_view code, std::string_view message) {
  return json_response(status, "{\"error\":{\"code\":" + json_string(code) + ",\"message\":" + json_string(message) + "}}");
}

int http_status_for(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument:
    case ErrorCode::NameInvalid:
    case ErrorCode::UnknownMessageType: return 400;
    case ErrorCode::TenantViolation: return 403;
    case ErrorCode::ActorNotFound: return 404;
    case ErrorCode::IllegalTransition:
    case ErrorCode::ActorInactive:
    case ErrorCode::NameTaken: return 409;
    case ErrorCode::ActorTerminated: return 410;
    case ErrorCode::MessageTooLarge: return 413;
    case ErrorCode::QueueFull:
    case ErrorCode::Dropped:
    case ErrorCode::ShuttingDown:
    case ErrorCode::BackendUnavailable: return 503;
    case ErrorCode::Timeout: return 504;
    default: return 500;
  }
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex(in[i + 1]);
      const int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      const char c = static_cast<char>(hi * 16 + lo);
      if (c == '\0') return false;
      out += c;
      i += 2;
    } else {
      out += in[i];
    }
  }
  return true;
}

std::map<std::string, std::string, std::less<>> parse_query(std::string_view q) {
  std::map<std::string, std::string, std::less<>> out;
  while (!q.empty()) {
    const auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string key(pair.substr(0, eq));
    std::string raw(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    std::replace(raw.begin(), raw.end(), '+', ' ');
    std::string value;
    if (!percent_decode(raw, value)) continue;  // a malformed parameter is ignored, as browsers do
    out.emplace(std::move(key), std::move(value));
  }
  return out;
}

std::string actor_json(const ActorStatus& s) {
  const ActorMetrics& m = s.metrics;
  std::string children = "[";
  for (std::size_t i = 0; i < s.children.size(); ++i) children += (i ? "," : "") + u64(s.children[i]);
  children += "]";
  return "{\"id\":" + u64(s.id) + ",\"name\":" + json_string(s.name) + ",\"type\":" + json_string(s.type_name) +
         ",\"state\":" + json_string(to_string(s.state)) + ",\"suspended\":" + (s.suspended ? "true" : "false") +
         ",\"stalled\":" + (s.stalled ? "true" : "false") + ",\"parent\":" + u64(s.parent) +
         ",\"children\":" + children + ",\"tenant\":" + u64(s.tenant) + ",\"worker\":" + u64(s.worker) +
         ",\"heartbeat_age_ns\":" + u64(s.heartbeat_age_ns) + ",\"metrics\":{\"received\":" + u64(m.received) +
         ",\"processed\":" + u64(m.processed) + ",\"sent\":" + u64(m.sent) + ",\"dropped\":" + u64(m.dropped) +
         ",\"rejected\":" + u64(m.rejected) + ",\"tenant_violations\":" + u64(m.tenant_violations) +
         ",\"errors\":" + u64(m.errors) + ",\"restarts\":" + u64(m.restarts) + ",\"stalls\":" + u64(m.stalls) +
         ",\"queue_depth\":" + u64(m.queue_depth) + ",\"queue_capacity\":" + u64(m.queue_capacity) +
         ",\"handler_p50_ns\":" + u64(m.handler_p50_ns) + ",\"handler_p99_ns\":" + u64(m.handler_p99_ns) +
         ",\"last_error\":" + json_string(to_string(static_cast<ErrorCode>(m.last_error))) + "}}";
}

// --- Api -------------------------------------------------------------------------------------------------

Api::Api(Runtime& rt, const ServerConfig& cfg, MessageTypes types, std::shared_ptr<EventHub> hub, Counters& counters,
         WorkerPool& pool)
    : rt_(rt), cfg_(cfg), types_(std::move(types)), hub_(std::move(hub)), counters_(counters), pool_(pool),
      readiness_(std::make_shared<ReadinessState>()) {
  // The observer runs on runtime threads and may still run (from a copy) after detach(): it holds only
  // shared state and does O(1) work (one append to the hub).
  observer_id_ = rt_.on_event([hub = hub_, ready = readiness_](const RuntimeEvent& ev) {
    {
      std::lock_guard lk(ready->mu);
      if (ev.kind == RuntimeEvent::Kind::RestartLimit) ready->exhausted.insert(ev.actor);
      else if (ev.kind == RuntimeEvent::Kind::Restarted || ev.kind == RuntimeEvent::Kind::Terminated ||
               ev.kind == RuntimeEvent::Kind::Activated)
        ready->exhausted.erase(ev.actor);
    }
    hub->publish("lifecycle", runtime_event_json(ev));
  });
  if (!cfg_.pubsub_bridge.empty()) {
    const MessageTypes* types_ptr = &types_;
    auto sub = rt_.pubsub().subscribe(cfg_.pubsub_bridge, [hub = hub_, types_ptr](const std::string& topic, const Envelope& env) {
      // Runs on the publishing thread: encode and append, nothing more.
      hub->publish("pubsub/" + topic,
                   "{\"pubsub_topic\":" + json_string(topic) + ",\"source\":" + std::to_string(env.header.source) +
                       ",\"message\":" + message_json(*types_ptr, env.header.type_id, env.payload) + "}");
    });
    if (sub) bridge_sub_ = *sub;
  }
  attached_ = true;
}

Api::~Api() { detach(); }

void Api::detach() {
  if (!attached_) return;
  attached_ = false;
  rt_.remove_observer(observer_id_);
  if (bridge_sub_ != 0) (void)rt_.pubsub().unsubscribe(bridge_sub_);
}

ServerStats Api::stats() const {
  ServerStats s;
  s.connections_open = counters_.connections_open.load();
  s.connections_total = counters_.connections_total.load();
  s.connections_rejected = counters_.connections_rejected.load();
  s.http_requests = counters_.http_requests.load();
  s.auth_failures = counters_.auth_failures.load();
  s.limit_rejections = counters_.limit_rejections.load();
  s.sse_clients = counters_.sse_clients.load();
  s.ws_clients = counters_.ws_clients.load();
  s.ws_messages_in = counters_.ws_in.load();
  s.ws_messages_out = counters_.ws_out.load();
  s.ws_errors = counters_.ws_errors.load();
  s.events_published = hub_->published();
  s.events_delivered = counters_.events_delivered.load();
  s.events_dropped = counters_.events_dropped.load();
  s.busy_rejections = counters_.busy.load();
  s.last_event_id = hub_->last_id();
  return s;
}

std::string Api::stats_json() {
  const RuntimeMetrics m = rt_.metrics();
  const ServerStats s = stats();
  std::string actors = "[";
  bool first = true;
  for (const ActorStatus& a : rt_.actors()) {
    if (!first) actors += ',';
    first = false;
    actors += actor_json(a);
  }
  actors += ']';
  const auto dl = rt_.dead_letters().stats();
  return "{\"time_ms\":" + u64(wall_ms()) + ",\"backend\":" + json_string(to_string(rt_.backend())) +
         ",\"workers\":" + u64(rt_.workers()) + ",\"running\":" + (rt_.running() ? "true" : "false") +
         ",\"runtime\":{\"actors_live\":" + u64(m.actors_live) + ",\"actors_launched\":" + u64(m.actors_launched) +
         ",\"messages_sent\":" + u64(m.messages_sent) + ",\"messages_processed\":" + u64(m.messages_processed) +
         ",\"dead_letters\":" + u64(m.dead_letters) + ",\"tenant_violations\":" + u64(m.tenant_violations) +
         ",\"restarts\":" + u64(m.restarts) + ",\"failures\":" + u64(m.failures) + ",\"calls\":" + u64(m.calls) +
         ",\"call_timeouts\":" + u64(m.call_timeouts) + ",\"call_p50_ns\":" + u64(m.call_p50_ns) +
         ",\"call_p99_ns\":" + u64(m.call_p99_ns) + ",\"dead_letters_queued\":" + u64(dl.pushed - dl.evicted - dl.expired) +
         "},\"actors\":" + actors + ",\"server\":{\"connections_open\":" + u64(s.connections_open) +
         ",\"connections_total\":" + u64(s.connections_total) + ",\"connections_rejected\":" +
         u64(s.connections_rejected) + ",\"http_requests\":" + u64(s.http_requests) + ",\"sse_clients\":" +
         u64(s.sse_clients) + ",\"ws_clients\":" + u64(s.ws_clients) + ",\"events_published\":" +
         u64(s.events_published) + ",\"events_delivered\":" + u64(s.events_delivered) + ",\"events_dropped\":" +
         u64(s.events_dropped) + ",\"busy_rejections\":" + u64(s.busy_rejections) + ",\"ws_call_p50_ns\":" +
         u64(counters_.ws_call_latency.percentile(0.5)) + ",\"ws_call_p99_ns\":" +
         u64(counters_.ws_call_latency.percentile(0.99)) + "}}";
}

void Api::publish_stats() { hub_->publish("stats", stats_json()); }

std::string Api::metrics_text() {
  std::string out;
  out.reserve(16 * 1024);
  const auto actors = rt_.actors();
  const RuntimeMetrics rm = rt_.metrics();
  const ServerStats ss = stats();

  family(out, "ringkernel_runtime_info", "gauge", "Always 1; labels name the backend and the number of workers.");
  sample(out, "ringkernel_runtime_info",
         "backend=\"" + label(to_string(rt_.backend())) + "\",workers=\"" + u64(rt_.workers()) + "\"", 1);
  family(out, "ringkernel_runtime_up", "gauge", "1 while the runtime accepts work, 0 once shutdown started.");
  sample(out, "ringkernel_runtime_up", "", rt_.running() ? 1 : 0);
  family(out, "ringkernel_actors_live", "gauge", "Actors not yet terminated.");
  sample(out, "ringkernel_actors_live", "", rm.actors_live);
  struct RtCounter {
    const char* name;
    const char* help;
    std::uint64_t v;
  };
  const RtCounter rt_counters[] = {
      {"ringkernel_actors_launched_total", "Actors launched or spawned.", rm.actors_launched},
      {"ringkernel_messages_sent_total", "Messages accepted into mailboxes.", rm.messages_sent},
      {"ringkernel_messages_processed_total", "Messages handled.", rm.messages_processed},
      {"ringkernel_dead_letters_total", "Messages put in the dead-letter queue.", rm.dead_letters},
      {"ringkernel_tenant_violations_total", "Cross-tenant sends refused.", rm.tenant_violations},
      {"ringkernel_restarts_total", "Supervisor restarts.", rm.restarts},
      {"ringkernel_failures_total", "Handler failures.", rm.failures},
      {"ringkernel_calls_total", "Completed request/reply calls.", rm.calls},
      {"ringkernel_call_timeouts_total", "Calls that timed out.", rm.call_timeouts},
  };
  for (const auto& c : rt_counters) {
    family(out, c.name, "counter", c.help);
    sample(out, c.name, "", c.v);
  }
  if (rm.device_memory_total_bytes != 0) {  // a device backend is active
    family(out, "ringkernel_gpu_memory_total_bytes", "gauge", "Memory of the GPU the runtime uses.");
    sample(out, "ringkernel_gpu_memory_total_bytes", "", rm.device_memory_total_bytes);
    family(out, "ringkernel_gpu_memory_used_bytes", "gauge", "GPU memory in use, by every process on the device.");
    sample(out, "ringkernel_gpu_memory_used_bytes", "", rm.device_memory_used_bytes);
    family(out, "ringkernel_ring_memory_bytes", "gauge", "Memory this runtime's queues occupy, by kind.");
    sample(out, "ringkernel_ring_memory_bytes", "kind=\"device\"", rm.device_ring_bytes);
    sample(out, "ringkernel_ring_memory_bytes", "kind=\"mapped\"", rm.mapped_ring_bytes);
  }
  // The runtime keeps only percentiles of these (no sum/count), so they are gauges, one per percentile
  // (a "quantile" label is reserved for summaries).
  family(out, "ringkernel_call_latency_p50_seconds", "gauge", "Median host call round trip over the runtime's life.");
  out += "ringkernel_call_latency_p50_seconds " + seconds(rm.call_p50_ns) + "\n";
  family(out, "ringkernel_call_latency_p99_seconds", "gauge", "99th percentile host call round trip over the runtime's life.");
  out += "ringkernel_call_latency_p99_seconds " + seconds(rm.call_p99_ns) + "\n";

  struct ActorCounter {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t ActorMetrics::*field;
  };
  static constexpr ActorCounter kActorCounters[] = {
      {"ringkernel_actor_messages_received_total", "counter", "Messages accepted into the actor's mailbox.", &ActorMetrics::received},
      {"ringkernel_actor_messages_processed_total", "counter", "Messages the actor handled.", &ActorMetrics::processed},
      {"ringkernel_actor_messages_sent_total", "counter", "Messages the actor sent (replies included).", &ActorMetrics::sent},
      {"ringkernel_actor_messages_dropped_total", "counter", "Messages dropped or dead-lettered on the way to the actor.", &ActorMetrics::dropped},
      {"ringkernel_actor_messages_rejected_total", "counter", "Sends to the actor refused (full, suspended, terminated).", &ActorMetrics::rejected},
      {"ringkernel_actor_tenant_violations_total", "counter", "Cross-tenant sends to the actor refused.", &ActorMetrics::tenant_violations},
      {"ringkernel_actor_errors_total", "counter", "Handler failures.", &ActorMetrics::errors},
      {"ringkernel_actor_restarts_total", "counter", "Supervisor restarts of the actor.", &ActorMetrics::restarts},
      {"ringkernel_actor_stalls_total", "counter", "Watchdog stall detections.", &ActorMetrics::stalls},
      {"ringkernel_actor_queue_depth", "gauge", "Messages waiting in the mailbox.", &ActorMetrics::queue_depth},
      {"ringkernel_actor_queue_capacity", "gauge", "Mailbox slots.", &ActorMetrics::queue_capacity},
  };
  std::vector<std::string> labels;
  labels.reserve(actors.size());
  for (const auto& a : actors)
    labels.push_back("actor=\"" + label(a.name) + "\",id=\"" + u64(a.id) + "\"");
  for (const auto& c : kActorCounters) {
    family(out, c.name, c.type, c.help);
    for (std::size_t i = 0; i < actors.size(); ++i) sample(out, c.name, labels[i], actors[i].metrics.*(c.field));
  }
  family(out, "ringkernel_actor_handler_latency_p50_seconds", "gauge", "Median handler time per actor.");
  for (std::size_t i = 0; i < actors.size(); ++i)
    out += "ringkernel_actor_handler_latency_p50_seconds{" + labels[i] + "} " + seconds(actors[i].metrics.handler_p50_ns) + "\n";
  family(out, "ringkernel_actor_handler_latency_p99_seconds", "gauge", "99th percentile handler time per actor.");
  for (std::size_t i = 0; i < actors.size(); ++i)
    out += "ringkernel_actor_handler_latency_p99_seconds{" + labels[i] + "} " + seconds(actors[i].metrics.handler_p99_ns) + "\n";
  family(out, "ringkernel_actor_state", "gauge", "1 for the actor's current lifecycle state, 0 for the others.");
  for (std::size_t i = 0; i < actors.size(); ++i)
    for (ActorState st : kStates)
      sample(out, "ringkernel_actor_state", labels[i] + ",state=\"" + std::string(to_string(st)) + "\"",
             actors[i].state == st ? 1 : 0);

  family(out, "ringkernel_server_connections", "gauge", "Open TCP connections to the operations server.");
  sample(out, "ringkernel_server_connections", "", ss.connections_open);
  family(out, "ringkernel_server_clients", "gauge", "Open streaming clients by kind.");
  sample(out, "ringkernel_server_clients", "kind=\"sse\"", ss.sse_clients);
  sample(out, "ringkernel_server_clients", "kind=\"websocket\"", ss.ws_clients);
  const RtCounter server_counters[] = {
      {"ringkernel_server_connections_total", "Connections accepted.", ss.connections_total},
      {"ringkernel_server_connections_rejected_total", "Connections refused by the connection limit.", ss.connections_rejected},
      {"ringkernel_server_auth_failures_total", "Requests refused for a missing or wrong bearer token.", ss.auth_failures},
      {"ringkernel_server_limit_rejections_total", "Requests or frames refused for size.", ss.limit_rejections},
      {"ringkernel_server_ws_messages_received_total", "WebSocket messages received.", ss.ws_messages_in},
      {"ringkernel_server_ws_messages_sent_total", "WebSocket messages sent.", ss.ws_messages_out},
      {"ringkernel_server_ws_errors_total", "WebSocket error replies sent.", ss.ws_errors},
      {"ringkernel_server_events_published_total", "Events put into the replay buffer.", ss.events_published},
      {"ringkernel_server_events_delivered_total", "Event deliveries written to clients.", ss.events_delivered},
      {"ringkernel_server_events_dropped_total", "Events slow clients missed (overwritten before they read them).", ss.events_dropped},
      {"ringkernel_server_busy_rejections_total", "Runtime calls refused because the worker queue was full.", ss.busy_rejections},
  };
  for (const auto& c : server_counters) {
    family(out, c.name, "counter", c.help);
    sample(out, c.name, "", c.v);
  }
  family(out, "ringkernel_server_http_requests_total", "counter", "HTTP requests answered, by status class.");
  for (std::size_t k = 1; k <= 5; ++k)
    sample(out, "ringkernel_server_http_requests_total", "code=\"" + u64(k) + "xx\"", counters_.http_by_class[k].load());
  histogram(out, "ringkernel_server_http_request_duration_seconds",
            "REST request time from the parsed request to the response handed to the socket.", counters_.http_latency);
  histogram(out, "ringkernel_server_ws_call_duration_seconds",
            "WebSocket call time from the parsed command to the actor's reply.", counters_.ws_call_latency);
  return out;
}

Response Api::health_live() {
  // Liveness: this thread answered, so the server loop is alive; the runtime object exists. A runtime that has
  // shut down cannot recover, so a restart is the right answer.
  if (!rt_.running()) return error_response(503, "not_live", "the runtime has shut down");
  return json_response(200, "{\"status\":\"live\"}");
}

Response Api::health_ready() {
  std::vector<std::string> reasons;
  if (!rt_.running()) reasons.emplace_back("the runtime is shutting down");
  if (!backend_available(rt_.backend())) reasons.emplace_back("backend " + std::string(to_string(rt_.backend())) + " is not available");
  std::size_t active = 0;
  std::vector<std::string> exhausted;
  // Snapshot first, then lock: the observer takes readiness_->mu on runtime threads that may hold runtime
  // locks, so this lock must never be held while calling into the runtime.
  const auto actors = rt_.actors();
  {
    std::lock_guard lk(readiness_->mu);
    for (const auto& a : actors) {
      if (a.state == ActorState::Active) ++active;
      if (a.state == ActorState::Failed && readiness_->exhausted.count(a.id) != 0) exhausted.push_back(a.name);
    }
  }
  if (active == 0) reasons.emplace_back("no actor is active");
  for (const auto& n : exhausted) reasons.push_back("actor '" + n + "' failed and exhausted its restart budget");
  if (cfg_.readiness) {
    std::string r = cfg_.readiness();
    if (!r.empty()) reasons.push_back(std::move(r));
  }
  if (!reasons.empty()) {
    std::string list = "[";
    for (std::size_t i = 0; i < reasons.size(); ++i) list += (i ? "," : "") + json_string(reasons[i]);
    list += "]";
    return json_response(503, "{\"status\":\"not_ready\",\"reasons\":" + list + "}");
  }
  return json_response(200, "{\"status\":\"ready\",\"active_actors\":" + u64(active) + "}");
}

Response Api::list_actors() {
  std::string body = "{\"actors\":[";
  bool first = true;
  for (const auto& a : rt_.actors()) {
    if (!first) body += ',';
    first = false;
    body += actor_json(a);
  }
  body += "]}";
  return json_response(200, std::move(body));
}

Result<ActorHandle> Api::resolve(const ActorRef& ref) const {
  return ref.by_id ? rt_.handle(ref.id) : rt_.find(ref.name);
}

Result<ActorHandle> Api::resolve_text(std::string_view ref) const {
  // All digits = an id; anything else is a registered name (names may contain digits but not only digits
  // in practice; an all-digit name can still be reached through WebSocket {"actor":"123"}... by id).
  if (!ref.empty() && ref.size() <= 10 && std::all_of(ref.begin(), ref.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const auto v = std::stoull(std::string(ref));
    if (v == 0 || v > 0xFFFFFFFFull) return make_error(ErrorCode::ActorNotFound, "no actor with id " + std::string(ref));
    return rt_.handle(static_cast<ActorId>(v));
  }
  return rt_.find(ref);
}

Response Api::get_actor(std::string_view ref) {
  auto h = resolve_text(ref);
  if (!h) return error_of(h.error());
  auto st = h->status();
  if (!st) return error_of(st.error());
  return json_response(200, actor_json(*st));
}

Response Api::list_types() {
  std::string body = "{\"types\":[";
  bool first = true;
  for (const MessageTypeInfo* t : types_.list()) {
    if (!first) body += ',';
    first = false;
    body += "{\"name\":" + json_string(t->name) + ",\"type_id\":" + u64(t->type_id) + ",\"size\":" + u64(t->size) +
            ",\"fields\":[";
    for (std::size_t i = 0; i < t->fields.size(); ++i) {
      const auto& f = t->fields[i];
      body += (i ? "," : "") + std::string("{\"name\":") + json_string(f.name) + ",\"kind\":" +
              json_string(to_string(f.kind)) + ",\"count\":" + u64(f.count) + ",\"offset\":" + u64(f.offset) + "}";
    }
    body += "]}";
  }
  body += "]}";
  return json_response(200, std::move(body));
}

namespace {
Status issue_action(ActorHandle& h, std::string_view action) {
  if (action == "activate") return h.activate();
  if (action == "deactivate") return h.deactivate();
  if (action == "suspend") return h.suspend();
  if (action == "resume") return h.resume();
  if (action == "terminate") return h.terminate();
  if (action == "restart") return h.restart();
  return make_error(ErrorCode::InvalidArgument, "unknown action");
}

// Lifecycle commands are ordered behind the messages already queued, so they take effect a little later.
// Wait briefly for the resulting state so the answer usually reports it; a long queue just reports the state
// as it is (the command still applies in order, and a lifecycle event announces it).
Status apply_action(ActorHandle& h, std::string_view action) {
  Status s = issue_action(h, action);
  if (!s) return s;
  const ActorState target = action == "activate" || action == "resume" || action == "restart" ? ActorState::Active
                            : action == "terminate"                                            ? ActorState::Terminated
                                                                                               : ActorState::Deactivated;
  (void)h.wait_for(target, std::chrono::milliseconds(200));
  return {};
}
}  // namespace

void Api::lifecycle(const std::string& ref, const std::string& action, std::function<void(Response)> done) {
  auto h = resolve_text(ref);
  if (!h) return done(error_of(h.error()));
  auto job = [h = *h, action, done]() mutable {
    Status s = apply_action(h, action);
    if (!s) return done(error_of(s.error()));
    auto st = h.status();
    done(json_response(200, "{\"ok\":true,\"action\":" + json_string(action) + ",\"actor\":" +
                                (st ? actor_json(*st) : std::string("null")) + "}"));
  };
  if (!pool_.submit(std::move(job))) {
    counters_.busy.fetch_add(1, std::memory_order_relaxed);
    done(error_response(503, "busy", "the server's worker queue is full; retry later"));
  }
}

void Api::message(const std::string& ref, bool call, const std::string& body, std::function<void(Response)> done) {
  auto h = resolve_text(ref);
  if (!h) return done(error_of(h.error()));
  std::chrono::milliseconds timeout{1000};
  auto spec = parse_message_body(body, &timeout);
  if (!spec) return done(error_response(400, "bad_request", spec.error().message()));
  const MessageTypeInfo* type = types_.find(spec->type);
  if (type == nullptr) return done(error_response(400, "unknown_type", "message type '" + spec->type + "' is not registered"));
  auto bytes = encode_payload(*type, *spec);
  if (!bytes) return done(error_response(400, "invalid_payload", bytes.error().message()));
  timeout = std::min(timeout, cfg_.max_call_timeout);
  auto job = [this, h = *h, call, timeout, type_id = type->type_id, bytes = std::move(*bytes), done]() mutable {
    if (!call) {
      Status s = h.send_raw(type_id, bytes.data(), bytes.size(), {}, 0, 0);
      if (!s) return done(error_of(s.error()));
      return done(json_response(202, "{\"ok\":true,\"accepted\":true}"));
    }
    const auto t0 = Clock::now();
    auto env = h.call_envelope(type_id, bytes.data(), bytes.size(), timeout);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    if (!env) return done(error_of(env.error()));
    const std::string msg = message_json(types_, env->header.type_id, env->payload);
    hub_->publish("reply", "{\"actor\":" + u64(h.id()) + ",\"via\":\"rest\",\"latency_us\":" + std::to_string(us) +
                               ",\"message\":" + msg + "}");
    done(json_response(200, "{\"ok\":true,\"latency_us\":" + std::to_string(us) + ",\"reply\":" + msg + "}"));
  };
  if (!pool_.submit(std::move(job))) {
    counters_.busy.fetch_add(1, std::memory_order_relaxed);
    done(error_response(503, "busy", "the server's worker queue is full; retry later"));
  }
}

void Api::handle(const Request& req, std::function<void(Response)> done) {
  // Split the raw path into segments and percent-decode each one, so a registry name with '/' can be given
  // as one segment (%2F).
  std::vector<std::string> seg;
  {
    std::string_view p = req.path;
    while (!p.empty()) {
      if (p.front() == '/') {
        p.remove_prefix(1);
        continue;
      }
      const auto slash = p.find('/');
      std::string decoded;
      if (!percent_decode(p.substr(0, slash), decoded))
        return done(error_response(400, "bad_request", "malformed percent-encoding in the path"));
      seg.push_back(std::move(decoded));
      p = slash == std::string_view::npos ? std::string_view{} : p.substr(slash);
    }
  }
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";
  auto method_not_allowed = [&](const char* allow) {
    Response r = error_response(405, "method_not_allowed", std::string("use ") + allow);
    r.headers.emplace_back("Allow", allow);
    return done(std::move(r));
  };

  if (seg.empty() || (seg.size() == 1 && asset(seg[0]) != nullptr)) {
    if (!get) return method_not_allowed("GET");
    const Asset* a = asset(seg.empty() ? "index.html" : seg[0]);
    Response r;
    r.content_type = std::string(a->content_type);
    r.body = std::string(a->body);
    r.headers.emplace_back("Cache-Control", "no-cache");
    return done(std::move(r));
  }
  if (seg[0] == "health" && seg.size() == 2) {
    if (!get) return method_not_allowed("GET");
    if (seg[1] == "live") return done(health_live());
    if (seg[1] == "ready") return done(health_ready());
  }
  if (seg[0] == "metrics" && seg.size() == 1) {
    if (!get) return method_not_allowed("GET");
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_text();
    return done(std::move(r));
  }
  if (seg[0] == "api") {
    if (seg.size() == 1) {
      if (!get) return method_not_allowed("GET");
      return done(json_response(200,
                                "{\"protocol\":" + std::to_string(kProtocolVersion) +
                                    ",\"endpoints\":[\"GET /api/actors\",\"GET /api/actors/{id|name}\","
                                    "\"POST /api/actors/{id|name}/{activate|deactivate|suspend|resume|terminate|restart}\","
                                    "\"POST /api/actors/{id|name}/send\",\"POST /api/actors/{id|name}/call\","
                                    "\"GET /api/stats\",\"GET /api/types\",\"GET /api/events\",\"GET /api/ws\","
                                    "\"GET /metrics\",\"GET /health/live\",\"GET /health/ready\"]}"));
    }
    if (seg[1] == "stats" && seg.size() == 2) {
      if (!get) return method_not_allowed("GET");
      return done(json_response(200, stats_json()));
    }
    if (seg[1] == "types" && seg.size() == 2) {
      if (!get) return method_not_allowed("GET");
      return done(list_types());
    }
    if (seg[1] == "actors") {
      if (seg.size() == 2) {
        if (!get) return method_not_allowed("GET");
        return done(list_actors());
      }
      if (seg.size() == 3) {
        if (!get) return method_not_allowed("GET");
        return done(get_actor(seg[2]));
      }
      if (seg.size() == 4) {
        if (!post) return method_not_allowed("POST");
        if (seg[3] == "send" || seg[3] == "call") return message(seg[2], seg[3] == "call", req.body, std::move(done));
        if (valid_action(seg[3])) return lifecycle(seg[2], seg[3], std::move(done));
        return done(error_response(404, "not_found", "unknown actor operation '" + seg[3] + "'"));
      }
    }
  }
  return done(error_response(404, "not_found", "no route for " + req.method + " " + req.path));
}

void Api::execute(const Command& cmd, std::function<void(std::string)> done) {
  const std::string id = cmd.id_json;
  auto error = [id](const std::string& code, const std::string& message) {
    return "{\"type\":\"error\",\"id\":" + id + ",\"code\":" + json_string(code) + ",\"message\":" + json_string(message) + "}";
  };
  if (cmd.op == Op::GetStats) return done("{\"type\":\"stats\",\"id\":" + id + ",\"data\":" + stats_json() + "}");
  auto h = resolve(cmd.actor);
  if (!h) return done(error(error_code_name(h.error().code()), h.error().message()));

  std::function<void()> job;
  if (cmd.op == Op::Lifecycle) {
    job = [h = *h, action = cmd.action, id, done, error]() mutable {
      Status s = apply_action(h, action);
      if (!s) return done(error(error_code_name(s.error().code()), s.error().message()));
      auto st = h.status();
      done("{\"type\":\"ack\",\"id\":" + id + ",\"op\":\"lifecycle\",\"action\":" + json_string(action) +
           ",\"state\":" + (st ? json_string(to_string(st->state)) : std::string("null")) + "}");
    };
  } else {
    const MessageTypeInfo* type = types_.find(cmd.payload.type);
    if (type == nullptr) return done(error("unknown_type", "message type '" + cmd.payload.type + "' is not registered"));
    auto bytes = encode_payload(*type, cmd.payload);
    if (!bytes) return done(error("invalid_payload", bytes.error().message()));
    const bool call = cmd.op == Op::Call;
    const auto timeout = std::min(cmd.timeout, cfg_.max_call_timeout);
    job = [this, h = *h, call, timeout, type_id = type->type_id, bytes = std::move(*bytes), id, done, error]() mutable {
      if (!call) {
        Status s = h.send_raw(type_id, bytes.data(), bytes.size(), {}, 0, 0);
        if (!s) return done(error(error_code_name(s.error().code()), s.error().message()));
        return done("{\"type\":\"ack\",\"id\":" + id + ",\"op\":\"send\"}");
      }
      const auto t0 = Clock::now();
      auto env = h.call_envelope(type_id, bytes.data(), bytes.size(), timeout);
      const auto ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      if (!env) return done(error(error_code_name(env.error().code()), env.error().message()));
      counters_.ws_call_latency.record(ns);
      const std::string msg = message_json(types_, env->header.type_id, env->payload);
      hub_->publish("reply", "{\"actor\":" + u64(h.id()) + ",\"via\":\"ws\",\"latency_us\":" + u64(ns / 1000) +
                                 ",\"message\":" + msg + "}");
      done("{\"type\":\"reply\",\"id\":" + id + ",\"actor\":" + u64(h.id()) + ",\"correlation\":" +
           u64(env->header.correlation_id) + ",\"latency_us\":" + u64(ns / 1000) + ",\"message\":" + msg + "}");
    };
  }
  if (!pool_.submit(std::move(job))) {
    counters_.busy.fetch_add(1, std::memory_order_relaxed);
    done(error("busy", "the server's worker queue is full; retry later"));
  }
}

}  // namespace ringkernel::server::detail
