// Blocking HTTP and WebSocket client (client.hpp). Each call runs its own io_context for a bounded time, so a
// silent server turns into a Timeout instead of a hang.
#include "ringkernel/server/client.hpp"

#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace ringkernel::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

Error net_error(const char* what, const beast::error_code& ec) {
  if (ec == beast::error::timeout || ec == net::error::timed_out)
    return make_error(ErrorCode::Timeout, std::string(what) + " timed out", "server client");
  return make_error(ErrorCode::Internal, std::string(what) + ": " + ec.message(), "server client");
}

}  // namespace

Result<HttpResponse> http_request(std::string_view host, std::uint16_t port, std::string_view method,
                                  std::string_view target, std::string_view body, std::string_view token,
                                  std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(std::string(host), std::to_string(port), ec);
  if (ec) return net_error("resolve", ec);
  stream.expires_after(timeout);
  stream.connect(endpoints, ec);
  if (ec) return net_error("connect", ec);

  http::request<http::string_body> req(http::string_to_verb(method), std::string(target), 11);
  if (req.method() == http::verb::unknown) return make_error(ErrorCode::InvalidArgument, "unknown HTTP method", "http_request");
  req.set(http::field::host, std::string(host) + ":" + std::to_string(port));
  req.set(http::field::user_agent, "ringkernel-client");
  req.keep_alive(false);
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + std::string(token));
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.prepare_payload();

  HttpResponse out;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u * 1024 * 1024);
  http::async_write(stream, req, [&](beast::error_code e, std::size_t) {
    if (e) {
      ec = e;
      return;
    }
    http::async_read(stream, buffer, parser, [&](beast::error_code e2, std::size_t) { ec = e2; });
  });
  ioc.run();  // the stream's expiry bounds the whole exchange
  if (ec) return net_error("request", ec);
  auto res = parser.release();
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  bool broken = false;
};

Result<std::unique_ptr<WsClient>> WsClient::connect(std::string_view host, std::uint16_t port, std::string_view target,
                                                    std::string_view token, std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  beast::error_code ec;
  tcp::resolver resolver(impl->ioc);
  const auto endpoints = resolver.resolve(std::string(host), std::to_string(port), ec);
  if (ec) return net_error("resolve", ec);
  auto& lowest = beast::get_lowest_layer(impl->ws);
  lowest.expires_after(timeout);
  lowest.connect(endpoints, ec);
  if (ec) return net_error("connect", ec);
  lowest.socket().set_option(tcp::no_delay(true), ec);
  const std::string auth = token.empty() ? std::string() : "Bearer " + std::string(token);
  impl->ws.set_option(websocket::stream_base::decorator([auth](websocket::request_type& req) {
    req.set(http::field::user_agent, "ringkernel-client");
    if (!auth.empty()) req.set(http::field::authorization, auth);
  }));
  websocket::response_type res;
  impl->ws.async_handshake(res, std::string(host) + ":" + std::to_string(port), std::string(target),
                           [&](beast::error_code e) { ec = e; });
  impl->ioc.run();
  if (ec) {
    if (res.result_int() != 0 && res.result_int() != 101)
      return make_error(ErrorCode::InvalidArgument,
                        "WebSocket upgrade refused with HTTP " + std::to_string(res.result_int()) + ": " + res.body(),
                        "WsClient::connect");
    return net_error("WebSocket handshake", ec);
  }
  lowest.expires_never();
  return std::unique_ptr<WsClient>(new WsClient(std::move(impl)));
}

WsClient::WsClient(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

WsClient::~WsClient() = default;

Status WsClient::send_text(std::string_view text) {
  if (impl_->broken) return make_error(ErrorCode::ShuttingDown, "connection is closed", "WsClient::send_text");
  std::optional<beast::error_code> result;
  impl_->ws.text(true);
  impl_->ws.async_write(net::buffer(text.data(), text.size()), [&](beast::error_code e, std::size_t) { result = e; });
  impl_->ioc.restart();
  impl_->ioc.run_for(std::chrono::seconds(10));  // a server that stops reading must not hang the caller
  const beast::error_code ec = result.value_or(beast::error_code(net::error::timed_out));
  if (ec) {
    impl_->broken = true;
    return net_error("send", ec);
  }
  return {};
}

Result<std::string> WsClient::receive_text(std::chrono::milliseconds timeout) {
  if (impl_->broken) return make_error(ErrorCode::ShuttingDown, "connection is closed", "WsClient::receive_text");
  std::optional<beast::error_code> result;
  impl_->ws.async_read(impl_->buffer, [&](beast::error_code e, std::size_t) { result = e; });
  impl_->ioc.restart();
  impl_->ioc.run_for(timeout);
  if (!result) {
    // No message in time: cancel the read; the stream cannot be resumed after an interrupted read.
    beast::error_code ignored;
    beast::get_lowest_layer(impl_->ws).socket().cancel(ignored);
    impl_->ioc.restart();
    impl_->ioc.run_for(std::chrono::milliseconds(100));
    impl_->broken = true;
    return make_error(ErrorCode::Timeout, "no message within " + std::to_string(timeout.count()) + " ms",
                      "WsClient::receive_text");
  }
  if (*result) {
    impl_->broken = true;
    if (*result == websocket::error::closed) {
      const auto& reason = impl_->ws.reason();
      return make_error(ErrorCode::ShuttingDown,
                        "closed by the server with code " + std::to_string(reason.code) + " " + std::string(reason.reason.c_str()),
                        "WsClient::receive_text");
    }
    return net_error("receive", *result);
  }
  std::string out = beast::buffers_to_string(impl_->buffer.data());
  impl_->buffer.consume(impl_->buffer.size());
  return out;
}

void WsClient::close() {
  if (impl_->broken) return;
  impl_->broken = true;
  impl_->ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
  impl_->ioc.restart();
  impl_->ioc.run_for(std::chrono::seconds(1));
}

}  // namespace ringkernel::server
