/// @file client.hpp
/// @brief A small blocking client for the operations server (HTTP requests and one WebSocket), for tools,
/// examples and benchmarks written in C++. Browsers, curl and any WebSocket library work just as well.
///
/// @code
/// auto ws = ringkernel::server::WsClient::connect("127.0.0.1", port, "/api/ws");
/// (void)ws->send_text(R"({"op":"ping","id":1})");
/// auto msg = ws->receive_text(std::chrono::seconds(1));   // {"type":"connected",...} first
/// @endcode
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringkernel/error.hpp"

namespace ringkernel::server {

/// One HTTP response as received.
struct HttpResponse {
  int status = 0;                                            ///< Status code (200, 404, ...).
  std::vector<std::pair<std::string, std::string>> headers;  ///< Header fields in order.
  std::string body;                                          ///< Entire body.
};

/// Sends one HTTP/1.1 request and reads the whole response (Connection: close). `token` non-empty adds
/// `Authorization: Bearer <token>`. Timeout when nothing completes within `timeout`.
Result<HttpResponse> http_request(std::string_view host, std::uint16_t port, std::string_view method,
                                  std::string_view target, std::string_view body = {},
                                  std::string_view token = {},
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

/// A blocking WebSocket client connection (text messages).
class WsClient {
public:
  /// Opens `ws://host:port/target`; `token` non-empty adds a bearer Authorization header to the upgrade.
  static Result<std::unique_ptr<WsClient>> connect(std::string_view host, std::uint16_t port,
                                                   std::string_view target, std::string_view token = {},
                                                   std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  /// Sends one text message.
  Status send_text(std::string_view text);
  /// Waits up to `timeout` for the next text message: Timeout if none came; ShuttingDown (naming the close
  /// code and reason) once the server closed the connection. After a Timeout the connection is unusable.
  Result<std::string> receive_text(std::chrono::milliseconds timeout);
  /// Sends a close frame and waits briefly for the peer's.
  void close();

  ~WsClient();
  WsClient(const WsClient&) = delete;             ///< Not copyable.
  WsClient& operator=(const WsClient&) = delete;  ///< Not copyable.

  /// Implementation (defined in src/server/client.cpp).
  struct Impl;
  /// Built by connect().
  explicit WsClient(std::unique_ptr<Impl> impl) noexcept;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace ringkernel::server
