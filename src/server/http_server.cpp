// The network side of the operations server: Boost.Beast/Asio lives in this file (and client.cpp) only.
//
// Threads: one io thread runs every socket handler, so sessions and the set of streaming clients need no
// locks. Blocking runtime calls go to Api's worker pool and come back with net::post. Runtime threads only
// touch the EventHub (an O(1) append) and post one wake-up per burst of events.
#include "ringkernel/server/server.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "server/api.hpp"
#include "server/assets.hpp"
#include "server/event_hub.hpp"
#include "server/protocol.hpp"

namespace ringkernel::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using detail::Counters;
using detail::EventHub;
using detail::json_string;

namespace {

constexpr const char* kServerName = "ringkernel/0.1.0";

/// Keeps connections_open right however a socket changes hands (HTTP -> SSE/WebSocket).
class ConnectionGuard {
public:
  explicit ConnectionGuard(Counters& c) : c_(&c) { c_->connections_open.fetch_add(1, std::memory_order_relaxed); }
  ~ConnectionGuard() {
    if (c_ != nullptr) c_->connections_open.fetch_sub(1, std::memory_order_relaxed);
  }
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

private:
  Counters* c_;
};

bool is_loopback(const net::ip::address& a) {
  if (a.is_loopback()) return true;
  return a.is_v6() && a.to_v6().is_v4_mapped() && net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
}

// Constant-time comparison: a token check must not leak how many leading characters matched.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace

/// A client that receives pushed events (SSE stream or WebSocket session).
class Streamer {
public:
  virtual ~Streamer() = default;
  /// Writes whatever is due if no write is in flight.
  virtual void pump() = 0;
  /// Closes the socket; pending handlers complete with errors and release the session.
  virtual void close() = 0;
};

struct Server::Impl {
  Impl(Runtime& r, ServerConfig c, MessageTypes types)
      : rt(r), cfg(std::move(c)), hub(std::make_shared<EventHub>(cfg.replay_buffer)),
        pool(cfg.worker_threads, cfg.worker_queue), api(rt, cfg, std::move(types), hub, counters, pool),
        acceptor(ioc), stats_timer(ioc) {}

  Runtime& rt;
  ServerConfig cfg;
  Counters counters;
  std::shared_ptr<EventHub> hub;
  detail::WorkerPool pool;
  detail::Api api;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer stats_timer;
  std::set<std::shared_ptr<Streamer>> streams;  // io thread only
  std::thread io_thread;
  std::uint16_t port = 0;
  std::string host;
  std::mutex stop_mu;
  bool stopped = false;

  void accept();
  void schedule_stats();
  void wake_streams() {
    hub->notified();  // first: an event published while we pump triggers another wake-up
    // Copy: pump() may close a session, which erases it from `streams`.
    std::vector<std::shared_ptr<Streamer>> copy(streams.begin(), streams.end());
    for (auto& s : copy) s->pump();
  }
};

namespace {

using Impl = Server::Impl;

std::string plain_response(int status, const char* reason, std::string_view body, bool close,
                           std::string_view extra_headers = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nServer: " + kServerName +
                  "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra_headers;
  if (close) r += "Connection: close\r\n";
  r += "\r\n";
  r += body;
  return r;
}

/// Writes one canned response to a socket and closes it (connection limit, malformed requests).
void write_and_close(std::shared_ptr<beast::tcp_stream> stream, std::string text,
                     std::shared_ptr<ConnectionGuard> guard = nullptr) {
  auto buf = std::make_shared<std::string>(std::move(text));
  stream->expires_after(std::chrono::seconds(5));
  net::async_write(*stream, net::buffer(*buf), [stream, buf, guard](beast::error_code, std::size_t) {
    beast::error_code ec;
    stream->socket().shutdown(tcp::socket::shutdown_both, ec);
    stream->socket().close(ec);
  });
}

// ---------------------------------------------------------------------------------------------------------
// SSE stream

class SseSession : public Streamer, public std::enable_shared_from_this<SseSession> {
public:
  SseSession(Impl& srv, beast::tcp_stream&& stream, std::shared_ptr<ConnectionGuard> guard, detail::TopicFilter filter,
             std::uint64_t cursor)
      : srv_(srv), stream_(std::move(stream)), guard_(std::move(guard)), filter_(std::move(filter)), cursor_(cursor),
        timer_(srv.ioc) {}

  ~SseSession() override { srv_.counters.sse_clients.fetch_sub(1, std::memory_order_relaxed); }

  void start() {
    srv_.counters.sse_clients.fetch_add(1, std::memory_order_relaxed);
    stream_.expires_never();  // our own watchdog handles write timeouts; reads wait for the client's EOF
    srv_.streams.insert(shared_from_this());
    out_ = "HTTP/1.1 200 OK\r\nServer: ";
    out_ += kServerName;
    out_ += "\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
            "Connection: close\r\n\r\nretry: 2000\n: connected, last event id " +
            std::to_string(srv_.hub->last_id()) + "\n\n";
    write_out();
    read_eof();
    tick();
  }

  void pump() override {
    if (closed_ || writing_) return;
    auto batch = srv_.hub->read(cursor_, srv_.cfg.client_batch, filter_);
    cursor_ = batch.cursor;
    if (batch.missed != 0) {
      srv_.counters.events_dropped.fetch_add(batch.missed, std::memory_order_relaxed);
      out_ += "event: gap\ndata: {\"missed\":" + std::to_string(batch.missed) + ",\"resume_from\":" +
              std::to_string(cursor_ + 1) + "}\n\n";
    }
    for (const auto& ev : batch.events) out_ += ev->sse;
    sent_in_write_ = batch.events.size();
    if (!out_.empty()) write_out();
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    srv_.streams.erase(shared_from_this());
  }

private:
  void write_out() {
    writing_ = true;
    write_started_ = Clock::now();
    wire_.swap(out_);
    out_.clear();
    net::async_write(stream_.socket(), net::buffer(wire_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) return close();
    srv_.counters.events_delivered.fetch_add(sent_in_write_, std::memory_order_relaxed);
    sent_in_write_ = 0;
    last_write_ = Clock::now();
    pump();
  }

  void read_eof() {
    stream_.socket().async_read_some(net::buffer(sink_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();  // EOF or reset: the client went away
      self->read_eof();              // SSE clients have nothing to say; discard
    });
  }

  // Once a second: drop a client that has not accepted bytes for write_timeout, and send a keep-alive comment
  // when nothing was written for keepalive_interval (proxies and browsers close silent streams).
  void tick() {
    timer_.expires_after(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(1000), srv_.cfg.keepalive_interval));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      const auto now = Clock::now();
      if (self->writing_ && now - self->write_started_ > self->srv_.cfg.write_timeout) return self->close();
      if (!self->writing_ && now - self->last_write_ >= self->srv_.cfg.keepalive_interval) {
        self->out_ += ": keep-alive\n\n";
        self->write_out();
      }
      self->tick();
    });
  }

  Impl& srv_;
  beast::tcp_stream stream_;
  std::shared_ptr<ConnectionGuard> guard_;
  detail::TopicFilter filter_;
  std::uint64_t cursor_;
  net::steady_timer timer_;
  std::string out_;
  std::string wire_;
  std::size_t sent_in_write_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  Clock::time_point write_started_{};
  Clock::time_point last_write_ = Clock::now();
  std::array<char, 512> sink_{};
};

// ---------------------------------------------------------------------------------------------------------
// WebSocket session

class WsSession : public Streamer, public std::enable_shared_from_this<WsSession> {
public:
  WsSession(Impl& srv, beast::tcp_stream&& stream, std::shared_ptr<ConnectionGuard> guard, detail::TopicFilter filter,
            std::uint64_t cursor)
      : srv_(srv), ws_(std::move(stream)), guard_(std::move(guard)), filter_(std::move(filter)), cursor_(cursor),
        timer_(srv.ioc) {}

  ~WsSession() override {
    if (counted_) srv_.counters.ws_clients.fetch_sub(1, std::memory_order_relaxed);
  }

  void run(http::request<http::string_body> req) {
    beast::get_lowest_layer(ws_).expires_never();  // the websocket stream's own timeouts take over
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = srv_.cfg.keepalive_interval * 2;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(srv_.cfg.max_frame_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, kServerName); }));
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void pump() override {
    if (closed_ || writing_) return;
    if (replies_.empty() && events_.empty() && !filter_.none()) {
      auto batch = srv_.hub->read(cursor_, srv_.cfg.client_batch, filter_);
      cursor_ = batch.cursor;
      if (batch.missed != 0) {
        srv_.counters.events_dropped.fetch_add(batch.missed, std::memory_order_relaxed);
        replies_.push_back("{\"type\":\"gap\",\"missed\":" + std::to_string(batch.missed) + ",\"resume_from\":" +
                           std::to_string(cursor_ + 1) + "}");
      }
      for (auto& e : batch.events) events_.push_back(std::move(e));
    } else if (filter_.none()) {
      cursor_ = srv_.hub->last_id();  // not subscribed: skip, so a later subscribe starts live
    }
    if (!replies_.empty()) {
      wire_ = std::move(replies_.front());
      replies_.pop_front();
      is_event_ = false;
    } else if (!events_.empty()) {
      wire_ = events_.front()->ws;
      events_.pop_front();
      is_event_ = true;
    } else {
      return;
    }
    writing_ = true;
    write_started_ = Clock::now();
    ws_.text(true);
    ws_.async_write(net::buffer(wire_), [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
    srv_.streams.erase(shared_from_this());
  }

private:
  void on_accept(beast::error_code ec) {
    if (ec) return;  // handshake failed: the socket is released with this session
    counted_ = true;
    srv_.counters.ws_clients.fetch_add(1, std::memory_order_relaxed);
    srv_.streams.insert(shared_from_this());
    std::string topics = "[";
    for (std::size_t i = 0; i < filter_.entries().size(); ++i) topics += (i ? "," : "") + json_string(filter_.entries()[i]);
    if (filter_.all()) topics += "\"*\"";
    topics += "]";
    replies_.push_back("{\"type\":\"connected\",\"protocol\":" + std::to_string(kProtocolVersion) + ",\"server\":\"" +
                       kServerName + "\",\"last_event_id\":" + std::to_string(srv_.hub->last_id()) + ",\"topics\":" +
                       topics + ",\"max_frame_bytes\":" + std::to_string(srv_.cfg.max_frame_bytes) + "}");
    pump();
    do_read();
    tick();
  }

  void do_read() {
    if (closed_ || reading_) return;
    // Back-pressure on the client's own commands: stop reading while its answers pile up.
    if (replies_.size() + in_flight_ >= srv_.cfg.max_pending_replies) return;
    reading_ = true;
    ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (ec) {
      // message_too_big: Beast has already sent close code 1009 (message too big).
      if (ec == websocket::error::message_too_big) srv_.counters.limit_rejections.fetch_add(1, std::memory_order_relaxed);
      return close();
    }
    srv_.counters.ws_in.fetch_add(1, std::memory_order_relaxed);
    const bool text = ws_.got_text();
    std::string msg = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    if (!text) {
      error("null", "bad_request", "binary messages are not part of the protocol; send JSON text");
    } else {
      handle(msg);
    }
    do_read();
  }

  void error(const std::string& id, std::string_view code, std::string_view message) {
    srv_.counters.ws_errors.fetch_add(1, std::memory_order_relaxed);
    replies_.push_back("{\"type\":\"error\",\"id\":" + id + ",\"code\":" + json_string(code) +
                       ",\"message\":" + json_string(message) + "}");
    pump();
  }

  void handle(const std::string& text) {
    detail::ParseResult r = detail::parse_command(text);
    if (!r.ok) return error(r.command.id_json, r.code, r.message);
    detail::Command& c = r.command;
    using detail::Op;
    switch (c.op) {
      case Op::Ping: {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
        replies_.push_back("{\"type\":\"pong\",\"id\":" + c.id_json + ",\"time_ms\":" + std::to_string(ms) + "}");
        return pump();
      }
      case Op::Subscribe:
      case Op::Unsubscribe: {
        for (const auto& t : c.topics)
          if (t != "*" && t != "#" && !detail::valid_topic(t))
            return error(c.id_json, "bad_request", "invalid topic '" + t + "'");
        const bool was_none = filter_.none();
        for (auto& t : c.topics) {
          if (c.op == Op::Subscribe) filter_.add(t);
          else filter_.remove(t);
        }
        if (was_none && c.op == Op::Subscribe) cursor_ = srv_.hub->last_id();  // live from now on
        std::string topics = "[";
        if (filter_.all()) topics += "\"*\"";
        for (std::size_t i = 0; i < filter_.entries().size(); ++i) topics += (i ? "," : "") + json_string(filter_.entries()[i]);
        topics += "]";
        replies_.push_back("{\"type\":\"ack\",\"id\":" + c.id_json + ",\"op\":\"" + std::string(to_string(c.op)) +
                           "\",\"topics\":" + topics + "}");
        return pump();
      }
      default:
        break;
    }
    ++in_flight_;
    srv_.api.execute(c, [self = shared_from_this()](std::string reply) {
      net::post(self->srv_.ioc, [self, reply = std::move(reply)]() mutable {
        --self->in_flight_;
        if (self->closed_) return;
        if (reply.rfind("{\"type\":\"error\"", 0) == 0) self->srv_.counters.ws_errors.fetch_add(1, std::memory_order_relaxed);
        self->replies_.push_back(std::move(reply));
        self->pump();
        self->do_read();
      });
    });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) return close();
    srv_.counters.ws_out.fetch_add(1, std::memory_order_relaxed);
    if (is_event_) srv_.counters.events_delivered.fetch_add(1, std::memory_order_relaxed);
    pump();
    do_read();
  }

  void tick() {
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (self->writing_ && Clock::now() - self->write_started_ > self->srv_.cfg.write_timeout) return self->close();
      self->tick();
    });
  }

  Impl& srv_;
  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<ConnectionGuard> guard_;
  detail::TopicFilter filter_;
  std::uint64_t cursor_;
  net::steady_timer timer_;
  beast::flat_buffer in_;
  std::deque<std::string> replies_;
  std::deque<std::shared_ptr<const detail::HubEvent>> events_;
  std::string wire_;
  bool is_event_ = false;
  bool writing_ = false;
  bool reading_ = false;
  bool closed_ = false;
  bool counted_ = false;
  std::size_t in_flight_ = 0;
  Clock::time_point write_started_{};
};

// ---------------------------------------------------------------------------------------------------------
// Plain HTTP session: reads requests, answers REST, hands the socket to SSE/WebSocket sessions.

class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
  HttpSession(Impl& srv, tcp::socket&& socket)
      : srv_(srv), stream_(std::move(socket)), guard_(std::make_shared<ConnectionGuard>(srv.counters)) {}

  void start() { read(); }

private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(srv_.cfg.max_header_bytes, 0xFFFFFFFFu)));
    parser_->body_limit(srv_.cfg.max_body_bytes);
    stream_.expires_after(srv_.cfg.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void fail_and_close(int status, const char* reason, std::string_view code, std::string_view message) {
    srv_.counters.http_requests.fetch_add(1, std::memory_order_relaxed);
    srv_.counters.http_by_class[static_cast<std::size_t>(status / 100)].fetch_add(1, std::memory_order_relaxed);
    const std::string body = "{\"error\":{\"code\":" + json_string(code) + ",\"message\":" + json_string(message) + "}}";
    auto s = std::make_shared<beast::tcp_stream>(std::move(stream_));
    write_and_close(s, plain_response(status, reason, body, true), guard_);
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::connection_reset ||
        ec == net::error::operation_aborted || ec == net::error::eof)
      return;  // the client is gone or idle: just release the socket
    if (ec == http::error::header_limit) {
      srv_.counters.limit_rejections.fetch_add(1, std::memory_order_relaxed);
      return fail_and_close(431, "Request Header Fields Too Large", "header_too_large",
                            "request headers exceed " + std::to_string(srv_.cfg.max_header_bytes) + " bytes");
    }
    if (ec == http::error::body_limit) {
      srv_.counters.limit_rejections.fetch_add(1, std::memory_order_relaxed);
      return fail_and_close(413, "Payload Too Large", "body_too_large",
                            "request body exceeds " + std::to_string(srv_.cfg.max_body_bytes) + " bytes");
    }
    if (ec) return fail_and_close(400, "Bad Request", "bad_request", "malformed HTTP request: " + ec.message());
    route(parser_->release());
  }

  bool authorized(const http::request<http::string_body>& req, const detail::Request& r) const {
    if (srv_.cfg.bearer_token.empty()) return true;
    const auto auth = req[http::field::authorization];
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() > kBearer.size() && beast::iequals(auth.substr(0, kBearer.size()), kBearer))
      return same_secret(std::string_view(auth.data() + kBearer.size(), auth.size() - kBearer.size()), srv_.cfg.bearer_token);
    // Browsers cannot put headers on EventSource/WebSocket requests: the token may come as a parameter.
    if (auto it = r.query.find("access_token"); it != r.query.end()) return same_secret(it->second, srv_.cfg.bearer_token);
    return false;
  }

  void route(http::request<http::string_body> req) {
    const auto t0 = Clock::now();
    detail::Request r;
    r.method = std::string(req.method_string());
    const std::string_view target = req.target();
    const auto q = target.find('?');
    r.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) r.query = detail::parse_query(target.substr(q + 1));
    r.body = std::move(req.body());
    keep_alive_ = req.keep_alive();

    if (r.path.empty() || r.path.front() != '/') return respond(detail::error_response(400, "bad_request", "the target must be an absolute path"), t0);

    // Public without a token: the dashboard's static files (no data in them) and, by default, health probes.
    const bool is_asset = r.path == "/" || (r.path.find('/', 1) == std::string::npos && detail::asset(r.path.substr(1)) != nullptr);
    const bool is_health = r.path.rfind("/health/", 0) == 0;
    if (!is_asset && !(is_health && srv_.cfg.public_health) && !authorized(req, r)) {
      srv_.counters.auth_failures.fetch_add(1, std::memory_order_relaxed);
      detail::Response res = detail::error_response(401, "unauthorized", "a valid bearer token is required");
      res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"ringkernel\"");
      keep_alive_ = false;
      return respond(std::move(res), t0);
    }
    // Cross-site requests: a web page on another origin must not drive a local server (CSRF, cross-site
    // WebSocket hijacking). Same-origin browser requests and non-browser clients (no Origin) pass.
    const auto origin = req[http::field::origin];
    const bool unsafe = r.method != "GET" || websocket::is_upgrade(req) || r.path == "/api/events";
    if (unsafe && !origin.empty() && origin != "http://" + std::string(req[http::field::host])) {
      return respond(detail::error_response(403, "forbidden_origin", "cross-origin requests are refused"), t0);
    }

    if (r.path == "/api/ws") {
      if (!websocket::is_upgrade(req))
        return respond(detail::error_response(426, "upgrade_required", "connect with a WebSocket client"), t0);
      auto [filter, cursor, err] = stream_params(r, req);
      if (!err.empty()) return respond(detail::error_response(400, "bad_request", err), t0);
      if (filter.all() && r.query.find("topics") == r.query.end()) filter = detail::TopicFilter::nothing();
      count(101);
      std::make_shared<WsSession>(srv_, std::move(stream_), guard_, std::move(filter), cursor)->run(std::move(req));
      return;
    }
    if (r.path == "/api/events" && r.method == "GET") {
      auto [filter, cursor, err] = stream_params(r, req);
      if (!err.empty()) return respond(detail::error_response(400, "bad_request", err), t0);
      count(200);
      std::make_shared<SseSession>(srv_, std::move(stream_), guard_, std::move(filter), cursor)->start();
      return;
    }
    srv_.api.handle(r, [self = shared_from_this(), t0](detail::Response res) {
      // May run on a worker thread: hop back to the io thread (inline when already there).
      net::dispatch(self->srv_.ioc, [self, t0, res = std::move(res)]() mutable { self->respond(std::move(res), t0); });
    });
  }

  struct StreamParams {
    detail::TopicFilter filter;
    std::uint64_t cursor = 0;
    std::string error;
  };
  // ?topics=a,b and resume point: Last-Event-ID header (EventSource reconnects) or ?last_event_id=.
  StreamParams stream_params(const detail::Request& r, const http::request<http::string_body>& req) const {
    StreamParams p;
    if (auto it = r.query.find("topics"); it != r.query.end()) {
      p.filter = detail::TopicFilter::parse(it->second);
      for (const auto& t : p.filter.entries())
        if (!detail::valid_topic(t)) p.error = "invalid topic '" + t + "' in ?topics=";
    }
    const std::uint64_t last = srv_.hub->last_id();
    p.cursor = last;
    std::string resume(req["Last-Event-ID"]);
    if (auto it = r.query.find("last_event_id"); resume.empty() && it != r.query.end()) resume = it->second;
    if (!resume.empty()) {
      std::uint64_t v = 0;
      bool ok = resume.size() <= 20;
      for (char c : resume) ok = ok && c >= '0' && c <= '9';
      if (ok) {
        for (char c : resume) v = v * 10 + static_cast<std::uint64_t>(c - '0');
        // An id from the future (the server restarted) resumes live rather than waiting for it.
        p.cursor = std::min(v, last);
      } else {
        p.error = "Last-Event-ID must be a decimal event id";
      }
    }
    return p;
  }

  void count(int status) {
    srv_.counters.http_requests.fetch_add(1, std::memory_order_relaxed);
    srv_.counters.http_by_class[static_cast<std::size_t>(std::clamp(status / 100, 1, 5))].fetch_add(1, std::memory_order_relaxed);
  }

  void respond(detail::Response res, Clock::time_point t0) {
    count(res.status);
    auto msg = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(res.status), 11);
    msg->set(http::field::server, kServerName);
    msg->set(http::field::content_type, res.content_type);
    msg->set(http::field::cache_control, "no-store");
    msg->set("X-Content-Type-Options", "nosniff");
    for (auto& [k, v] : res.headers) msg->set(k, v);
    msg->body() = std::move(res.body);
    msg->keep_alive(keep_alive_);
    msg->prepare_payload();
    stream_.expires_after(srv_.cfg.write_timeout);
    http::async_write(stream_, *msg, [self = shared_from_this(), msg, t0](beast::error_code ec, std::size_t) {
      self->srv_.counters.http_latency.record(
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
      if (ec || !self->keep_alive_) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      self->read();
    });
  }

  Impl& srv_;
  beast::tcp_stream stream_;
  std::shared_ptr<ConnectionGuard> guard_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
};

}  // namespace

void Server::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      counters.connections_total.fetch_add(1, std::memory_order_relaxed);
      if (counters.connections_open.load(std::memory_order_relaxed) >= cfg.max_connections) {
        counters.connections_rejected.fetch_add(1, std::memory_order_relaxed);
        auto s = std::make_shared<beast::tcp_stream>(std::move(socket));
        write_and_close(s, plain_response(503, "Service Unavailable",
                                          "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"connection limit reached\"}}",
                                          true, "Retry-After: 1\r\n"));
      } else {
        std::make_shared<HttpSession>(*this, std::move(socket))->start();
      }
    }
    accept();  // errors such as EMFILE affect one accept only
  });
}

void Server::Impl::schedule_stats() {
  if (cfg.stats_interval.count() <= 0) return;
  stats_timer.expires_after(cfg.stats_interval);
  stats_timer.async_wait([this](beast::error_code ec) {
    if (ec) return;
    api.publish_stats();
    schedule_stats();
  });
}

Result<std::unique_ptr<Server>> Server::start(Runtime& runtime, ServerConfig config, MessageTypes types) {
  beast::error_code ec;
  const auto addr = net::ip::make_address(config.address, ec);
  if (ec) return make_error(ErrorCode::InvalidArgument, "'" + config.address + "' is not an IP address", "Server::start");
  if (!is_loopback(addr) && config.bearer_token.empty())
    return make_error(ErrorCode::InvalidArgument,
                      "binding the non-loopback address " + config.address +
                          " requires a bearer token (ServerConfig::bearer_token / --token)",
                      "Server::start");
  if (config.max_connections == 0 || config.replay_buffer == 0 || config.client_batch == 0 ||
      config.max_frame_bytes < 128 || config.max_header_bytes < 512 || config.keepalive_interval.count() <= 0 ||
      config.write_timeout.count() <= 0 || config.idle_timeout.count() <= 0 || config.max_pending_replies == 0)
    return make_error(ErrorCode::InvalidArgument,
                      "limits must be positive (max_frame_bytes >= 128, max_header_bytes >= 512)", "Server::start");
  if (!config.pubsub_bridge.empty()) {
    if (auto st = PubSub::validate_pattern(config.pubsub_bridge); !st) return st.error().with_context("Server::start: pubsub_bridge");
  }
  if (!runtime.running()) return make_error(ErrorCode::ShuttingDown, "the runtime is not running", "Server::start");

  auto impl = std::make_unique<Impl>(runtime, std::move(config), std::move(types));
  Impl& s = *impl;
  const tcp::endpoint ep(addr, s.cfg.port);
  auto bind_error = [&](const char* what) {
    return make_error(ErrorCode::Internal,
                      std::string("cannot ") + what + " " + s.cfg.address + ":" + std::to_string(s.cfg.port) + ": " + ec.message(),
                      "Server::start");
  };
  s.acceptor.open(ep.protocol(), ec);
  if (ec) return bind_error("open a socket for");
  s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  s.acceptor.bind(ep, ec);
  if (ec) return bind_error("bind");
  s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return bind_error("listen on");
  s.port = s.acceptor.local_endpoint().port();
  s.host = addr.is_v6() ? "[" + s.cfg.address + "]" : s.cfg.address;

  s.hub->set_notifier([&s] { net::post(s.ioc, [&s] { s.wake_streams(); }); });
  s.accept();
  s.schedule_stats();
  s.io_thread = std::thread([&s] {
    for (;;) {
      try {
        s.ioc.run();
        return;
      } catch (const std::exception&) {
        // A handler threw (allocation failure, a Beast precondition): keep serving the other clients.
      }
    }
  });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

std::uint16_t Server::port() const noexcept { return impl_->port; }

std::string Server::url() const { return "http://" + impl_->host + ":" + std::to_string(impl_->port); }

ServerStats Server::stats() const { return impl_->api.stats(); }

Result<std::uint64_t> Server::publish(std::string_view topic, std::string_view json) {
  if (!detail::valid_topic(topic))
    return make_error(ErrorCode::InvalidArgument, "topic must be 1..128 characters of [A-Za-z0-9_.-/]", "Server::publish");
  bool is_object = false;
  if (!detail::is_json_value(json, &is_object))
    return make_error(ErrorCode::InvalidArgument, "the event data is not one JSON value", "Server::publish");
  if (is_object) return impl_->hub->publish(topic, json);
  return impl_->hub->publish(topic, "{\"value\":" + std::string(json) + "}");
}

void Server::stop() {
  if (!impl_) return;
  Impl& s = *impl_;
  {
    std::lock_guard lk(s.stop_mu);
    if (s.stopped) return;
    s.stopped = true;
  }
  s.api.detach();
  s.hub->set_notifier(nullptr);
  auto closed = std::make_shared<std::promise<void>>();
  auto closed_future = closed->get_future();
  net::post(s.ioc, [&s, closed] {
    beast::error_code ec;
    s.acceptor.close(ec);
    s.stats_timer.cancel();
    std::vector<std::shared_ptr<Streamer>> copy(s.streams.begin(), s.streams.end());
    for (auto& st : copy) st->close();
    closed->set_value();
  });
  s.pool.stop();  // waits for running calls (each bounded by max_call_timeout)
  // Let the close handlers run (sockets shut down cleanly), then stop the loop whatever is still pending.
  (void)closed_future.wait_for(std::chrono::seconds(2));
  s.ioc.stop();
  if (s.io_thread.joinable()) s.io_thread.join();
  s.streams.clear();
}

}  // namespace ringkernel::server
