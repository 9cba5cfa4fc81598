// Everything the server answers that is not socket handling: REST routes, health, Prometheus text, stats
// snapshots, WebSocket command execution and the runtime-event bridge. No Boost here: http_server.cpp turns
// sockets into Request/Response and back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ringkernel/metrics.hpp"
#include "ringkernel/runtime.hpp"
#include "ringkernel/server/server.hpp"
#include "server/event_hub.hpp"
#include "server/protocol.hpp"

namespace ringkernel::server::detail {

/// Server-wide counters (all relaxed atomics: they are statistics, not synchronisation).
struct Counters {
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<std::uint64_t> http_requests{0};
  std::array<std::atomic<std::uint64_t>, 6> http_by_class{};  ///< index = status / 100 (1xx..5xx)
  std::atomic<std::uint64_t> auth_failures{0};
  std::atomic<std::uint64_t> limit_rejections{0};
  std::atomic<std::uint64_t> sse_clients{0};
  std::atomic<std::uint64_t> ws_clients{0};
  std::atomic<std::uint64_t> ws_in{0};
  std::atomic<std::uint64_t> ws_out{0};
  std::atomic<std::uint64_t> ws_errors{0};
  std::atomic<std::uint64_t> events_delivered{0};
  std::atomic<std::uint64_t> events_dropped{0};
  std::atomic<std::uint64_t> busy{0};
  LatencyHistogram http_latency;     ///< Request read -> response written to the socket buffer (REST).
  LatencyHistogram ws_call_latency;  ///< WebSocket call: command parsed -> reply available.
};

/// Runs blocking runtime operations off the network thread; bounded so overload becomes "busy", not memory.
class WorkerPool {
public:
  WorkerPool(std::size_t threads, std::size_t queue_limit);
  ~WorkerPool();
  /// False when the queue is full or the pool stopped.
  bool submit(std::function<void()> job);
  /// Runs what is executing to completion, drops what is queued, joins the threads.
  void stop();

private:
  void run();
  const std::size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

struct Request {
  std::string method;
  std::string path;   ///< Decoded path without the query.
  std::map<std::string, std::string, std::less<>> query;
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// {"error":{"code":..,"message":..}} with a status.
Response error_response(int status, std::string_view code, std::string_view message);
/// HTTP status for a runtime error code.
int http_status_for(ErrorCode code) noexcept;
/// Percent-decoding; false on a malformed escape or a decoded NUL.
bool percent_decode(std::string_view in, std::string& out);
/// Splits "a=1&b=2" (values percent-decoded; '+' is a space).
std::map<std::string, std::string, std::less<>> parse_query(std::string_view q);

/// Actors that exhausted their restart budget (from RestartLimit events) - they make the server unready.
struct ReadinessState {
  std::mutex mu;
  std::set<ActorId> exhausted;
};

class Api {
public:
  Api(Runtime& rt, const ServerConfig& cfg, MessageTypes types, std::shared_ptr<EventHub> hub, Counters& counters,
      WorkerPool& pool);
  ~Api();

  /// Answers a REST/health/metrics request; `done` is called exactly once (on this thread or a pool thread).
  void handle(const Request& req, std::function<void(Response)> done);
  /// Executes a WebSocket send/call/lifecycle/get_stats; `done` gets the JSON message to send back.
  void execute(const Command& cmd, std::function<void(std::string)> done);
  /// The stats snapshot (runtime, actors, server) as a JSON object.
  std::string stats_json();
  /// Publishes a "stats" event.
  void publish_stats();
  /// Prometheus text exposition format 0.0.4.
  std::string metrics_text();
  /// Stops forwarding runtime events (observer and pubsub bridge removed).
  void detach();
  [[nodiscard]] const MessageTypes& types() const noexcept { return types_; }
  [[nodiscard]] ServerStats stats() const;

private:
  Response health_live();
  Response health_ready();
  Response list_actors();
  Response get_actor(std::string_view ref);
  Response list_types();
  void lifecycle(const std::string& ref, const std::string& action, std::function<void(Response)> done);
  void message(const std::string& ref, bool call, const std::string& body, std::function<void(Response)> done);
  Result<ActorHandle> resolve(const ActorRef& ref) const;
  Result<ActorHandle> resolve_text(std::string_view ref) const;

  Runtime& rt_;
  const ServerConfig& cfg_;
  MessageTypes types_;
  std::shared_ptr<EventHub> hub_;
  Counters& counters_;
  WorkerPool& pool_;
  std::shared_ptr<ReadinessState> readiness_;
  std::uint64_t observer_id_ = 0;
  std::uint64_t bridge_sub_ = 0;
  bool attached_ = false;
};

/// Status/metrics of one actor as a JSON object.
std::string actor_json(const ActorStatus& s);

} // namespace ringkernel::server::detail
