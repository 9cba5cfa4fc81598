/// @file server.hpp
/// @brief The embeddable operations server: REST, Server-Sent Events, WebSocket, Prometheus metrics,
/// health probes and an offline dashboard for a running Runtime.
///
/// @code
/// auto rt = ringkernel::Runtime::builder().build();
/// ringkernel::server::ServerConfig cfg;   // 127.0.0.1:8080, no token
/// cfg.port = 0;                           // any free port
/// auto srv = ringkernel::server::Server::start(*rt, cfg, types);
/// if (!srv) { std::puts(srv.error().describe().c_str()); return 1; }
/// std::printf("dashboard at %s/\n", (*srv)->url().c_str());
/// @endcode
///
/// Endpoints and the WebSocket protocol are documented in docs/server.md and docs/server-protocol.md.
/// The server runs on its own threads (one network thread plus a small pool for blocking runtime calls);
/// nothing it does can block the runtime's workers: runtime observers only append to a bounded buffer.
/// The Server must be stopped (or destroyed) before the Runtime it serves.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ringkernel/error.hpp"
#include "ringkernel/runtime.hpp"
#include "ringkernel/server/message_types.hpp"

namespace ringkernel::server {

/// Version of the WebSocket JSON protocol spoken by this build (docs/server-protocol.md).
inline constexpr int kProtocolVersion = 1;

/// Server settings. The defaults are safe for a developer machine: loopback only, no token needed.
struct ServerConfig {
  std::string address = "127.0.0.1";   ///< Address to bind (IPv4 or IPv6 literal).
  std::uint16_t port = 8080;           ///< TCP port; 0 = any free port (read it back with Server::port()).
  /// Bearer token; empty = no authentication. Required (start() fails) when `address` is not loopback.
  std::string bearer_token;
  bool public_health = true;           ///< /health/* answer without a token (probes rarely carry one).
  std::size_t max_header_bytes = 8 * 1024;     ///< Larger request headers get 431.
  std::size_t max_body_bytes = 64 * 1024;      ///< Larger request bodies get 413.
  std::size_t max_frame_bytes = 64 * 1024;     ///< Larger WebSocket messages close the socket with 1009.
  std::size_t max_connections = 256;           ///< Further connections get 503 and are closed.
  std::size_t replay_buffer = 4096;            ///< Events kept for Last-Event-ID resume and slow readers.
  std::size_t client_batch = 256;              ///< Most events written to one client in one write.
  std::size_t max_pending_replies = 256;       ///< WebSocket replies queued per client before reading pauses.
  std::size_t worker_threads = 2;              ///< Threads running blocking runtime calls (send/call/lifecycle).
  std::size_t worker_queue = 1024;             ///< Queued runtime calls before clients get "busy".
  std::chrono::milliseconds keepalive_interval{15000};  ///< SSE comment / WebSocket ping when idle.
  std::chrono::milliseconds stats_interval{1000};       ///< Period of "stats" snapshot events; 0 = none.
  std::chrono::milliseconds idle_timeout{60000};        ///< Idle keep-alive HTTP connections are closed.
  std::chrono::milliseconds write_timeout{10000};       ///< A client that accepts no bytes this long is dropped.
  std::chrono::milliseconds max_call_timeout{10000};    ///< Upper bound on a client-requested call timeout.
  /// Extra readiness condition (e.g. "the pipeline is warmed up"); empty string = ready, otherwise the reason.
  std::function<std::string()> readiness;
  /// PubSub pattern whose messages are forwarded as "pubsub/<topic>" events; empty = none.
  std::string pubsub_bridge;
};

/// Counters of a running server (also exported on /metrics).
struct ServerStats {
  std::uint64_t connections_open = 0;      ///< TCP connections now.
  std::uint64_t connections_total = 0;     ///< Connections accepted over the server's life.
  std::uint64_t connections_rejected = 0;  ///< Connections refused by max_connections.
  std::uint64_t http_requests = 0;         ///< HTTP requests answered (any status).
  std::uint64_t auth_failures = 0;         ///< Requests refused with 401.
  std::uint64_t limit_rejections = 0;      ///< Requests/messages refused for size (413/431/1009).
  std::uint64_t sse_clients = 0;           ///< Open SSE streams.
  std::uint64_t ws_clients = 0;            ///< Open WebSocket sessions.
  std::uint64_t ws_messages_in = 0;        ///< WebSocket messages received.
  std::uint64_t ws_messages_out = 0;       ///< WebSocket messages sent.
  std::uint64_t ws_errors = 0;             ///< WebSocket "error" replies sent.
  std::uint64_t events_published = 0;      ///< Events put into the replay buffer.
  std::uint64_t events_delivered = 0;      ///< Event deliveries written to clients.
  std::uint64_t events_dropped = 0;        ///< Events a slow client missed (overwritten before it read them).
  std::uint64_t busy_rejections = 0;       ///< Runtime calls refused because the worker queue was full.
  std::uint64_t last_event_id = 0;         ///< Id of the newest event.
};

/// A running operations server. Created by start(); stops on destruction.
class Server {
public:
  /// Binds, starts the network thread and the worker pool, and subscribes to the runtime's events.
  /// InvalidArgument for a bad address or a non-loopback address without a bearer token; Internal when the
  /// port cannot be bound (the message says why, e.g. "address already in use").
  static Result<std::unique_ptr<Server>> start(Runtime& runtime, ServerConfig config, MessageTypes types = {});

  /// The bound port (the real one when the configuration asked for port 0).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// "http://<address>:<port>" (IPv6 addresses in brackets).
  [[nodiscard]] std::string url() const;
  /// Publishes a custom event under `topic` ("custom/..." is conventional); `json` must be one JSON value.
  /// Returns the event id; InvalidArgument for malformed JSON or a malformed topic.
  Result<std::uint64_t> publish(std::string_view topic, std::string_view json);
  /// Current counters.
  [[nodiscard]] ServerStats stats() const;
  /// Closes every connection and stops the threads (idempotent; bounded by max_call_timeout).
  void stop();

  ~Server();
  Server(const Server&) = delete;             ///< Not copyable.
  Server& operator=(const Server&) = delete;  ///< Not copyable.

  /// Implementation (defined in src/server).
  struct Impl;
  /// Built by start().
  explicit Server(std::unique_ptr<Impl> impl) noexcept;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace ringkernel::server
