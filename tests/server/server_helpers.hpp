// Shared fixtures for the operations-server tests: a runtime with a counter actor, a server on a free
// loopback port, and real clients (curl subprocesses, raw sockets).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ringkernel/ringkernel.hpp"
#include "ringkernel/server/server.hpp"

namespace rk_server_test {

namespace rk = ringkernel;
namespace srv = ringkernel::server;

struct Add {
  static constexpr auto type_id = rk::message_type("test.Add");
  std::uint64_t value;
};
struct Sum {
  static constexpr auto type_id = rk::message_type("test.Sum");
  std::uint64_t total;
};
struct Counter {
  using messages = rk::message_list<Add>;
  std::uint64_t total = 0;
  void handle(auto& ctx, const Add& a) {
    total += a.value;
    (void)ctx.reply(Sum{total});
  }
};

inline srv::MessageTypes test_types() {
  srv::MessageTypes t;
  EXPECT_TRUE(t.add<Add>("test.Add", {srv::field("value", &Add::value)}).ok());
  EXPECT_TRUE(t.add<Sum>("test.Sum", {srv::field("total", &Sum::total)}).ok());
  return t;
}

/// Result of one curl run: HTTP status (0 when curl failed) and everything it printed.
struct CurlResult {
  int status = 0;
  std::string body;
};

/// Runs `curl -s <args>` and returns the status line written by -w and the body.
inline CurlResult curl(const std::string& args) {
  const std::string cmd = "curl -s -S --max-time 10 -o - -w '\\n%{http_code}' " + args + " 2>&1";
  CurlResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.body.append(buf.data(), n);
  pclose(p);
  const auto nl = r.body.rfind('\n');
  if (nl != std::string::npos) {
    r.status = std::atoi(r.body.c_str() + nl + 1);
    r.body.resize(nl);
  }
  return r;
}

/// Runs a shell command, returns its exit status and output.
inline std::pair<int, std::string> shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, out};
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

/// A curl streaming an SSE endpoint in the background for at most `seconds`, collecting its output.
class SseCurl {
public:
  SseCurl(const std::string& url, double seconds, const std::string& extra = {}) {
    cmd_ = "curl -s -N --max-time " + std::to_string(seconds) + " " + extra + " '" + url + "' 2>&1";
    thread_ = std::thread([this] {
      FILE* p = popen(cmd_.c_str(), "r");
      if (p == nullptr) return;
      std::array<char, 4096> buf{};
      std::size_t n = 0;
      // read() rather than fread(): deliver partial chunks as they arrive.
      while ((n = static_cast<std::size_t>(std::max<ssize_t>(0, read(fileno(p), buf.data(), buf.size())))) > 0) {
        std::lock_guard lk(mu_);
        out_.append(buf.data(), n);
      }
      pclose(p);
    });
  }
  ~SseCurl() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::string output() {
    std::lock_guard lk(mu_);
    return out_;
  }
  /// Waits until the output contains `needle` (true) or `timeout` passes (false).
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (output().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return output().find(needle) != std::string::npos;
  }

private:
  std::string cmd_;
  std::thread thread_;
  std::mutex mu_;
  std::string out_;
};

/// A raw TCP connection to 127.0.0.1:port (for malformed requests and clients that never read).
class RawSocket {
public:
  explicit RawSocket(std::uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }
  bool send(const std::string& s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()); }
  /// Reads until `needle` appears, the peer closes, or `timeout` passes.
  std::string read_until(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    std::array<char, 65536> buf{};
    while (std::chrono::steady_clock::now() < end && in_.find(needle) == std::string::npos) {
      timeval tv{0, 100000};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n == 0) break;
      if (n > 0) in_.append(buf.data(), static_cast<std::size_t>(n));
    }
    return in_;
  }

private:
  int fd_ = -1;
  bool ok_ = false;
  std::string in_;
};

/// A runtime with one counter actor ("counter") and a server in front of it.
class ServerFixture : public ::testing::Test {
protected:
  void SetUp() override {
    auto rt = rk::Runtime::builder().backend(rk::Backend::Cpu).workers(2).build();
    ASSERT_TRUE(rt.ok()) << rt.error().describe();
    rt_ = std::make_unique<rk::Runtime>(std::move(*rt));
    auto h = rt_->launch<Counter>("counter");
    ASSERT_TRUE(h.ok()) << h.error().describe();
    counter_id_ = h->id();
  }
  void TearDown() override {
    server_.reset();
    if (rt_) (void)rt_->shutdown();
  }
  /// Starts the server with `cfg` (port forced to 0: a free port, so parallel tests never collide).
  void start(srv::ServerConfig cfg = {}) {
    cfg.port = 0;
    auto s = srv::Server::start(*rt_, std::move(cfg), test_types());
    ASSERT_TRUE(s.ok()) << s.error().describe();
    server_ = std::move(*s);
  }
  std::string url(const std::string& path) const { return server_->url() + path; }

  std::unique_ptr<rk::Runtime> rt_;
  std::unique_ptr<srv::Server> server_;
  rk::ActorId counter_id_ = 0;
};

}  // namespace rk_server_test
