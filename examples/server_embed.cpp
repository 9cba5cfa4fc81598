// Embedding the operations server: a program runs its actors, exposes its message types, and serves them over
// HTTP/SSE/WebSocket. The same program then acts as a client of itself with the small C++ client from
// <ringkernel/server/client.hpp>: a REST call, a WebSocket call and a subscription to lifecycle events.
//
//   ./example_server_embed            # runs the round trip and exits (a ctest)
//   ./example_server_embed --serve    # keeps serving on 127.0.0.1:8080 until Ctrl-C: open http://127.0.0.1:8080/
#include <ringkernel/ringkernel.hpp>
#include <ringkernel/server/client.hpp>
#include <ringkernel/server/server.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace rk = ringkernel;
namespace srv = ringkernel::server;

struct Deposit {
  static constexpr auto type_id = rk::message_type("bank.Deposit");
  std::uint32_t account;
  std::int64_t cents;
};
struct Balance {
  static constexpr auto type_id = rk::message_type("bank.Balance");
  std::uint32_t account;
  std::int64_t cents;
};

// One account ledger; replies with the new balance.
struct Ledger {
  using messages = rk::message_list<Deposit>;
  std::int64_t balance[16]{};
  void handle(auto& ctx, const Deposit& d) {
    balance[d.account % 16] += d.cents;
    (void)ctx.reply(Balance{d.account, balance[d.account % 16]});
  }
};

namespace {
volatile std::sig_atomic_t g_stop = 0;
int fail(const std::string& what) {
  std::fprintf(stderr, "server_embed: FAILED: %s\n", what.c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  const bool serve = argc > 1 && std::strcmp(argv[1], "--serve") == 0;
  auto rt = rk::Runtime::builder().backend(rk::Backend::Cpu).workers(1).build();
  if (!rt) return fail(rt.error().describe());
  auto ledger = rt->launch<Ledger>("ledger");
  if (!ledger) return fail(ledger.error().describe());

  srv::MessageTypes types;
  if (auto s = types.add<Deposit>("bank.Deposit", {srv::field("account", &Deposit::account), srv::field("cents", &Deposit::cents)}); !s)
    return fail(s.error().describe());
  if (auto s = types.add<Balance>("bank.Balance", {srv::field("account", &Balance::account), srv::field("cents", &Balance::cents)}); !s)
    return fail(s.error().describe());

  srv::ServerConfig cfg;
  cfg.port = serve ? 8080 : 0;  // 0: any free port (the ctest must not collide with anything)
  auto server = srv::Server::start(*rt, cfg, types);
  if (!server) return fail(server.error().describe());
  const std::uint16_t port = (*server)->port();
  std::printf("server_embed: serving %s\n", (*server)->url().c_str());

  if (serve) {
    std::signal(SIGINT, [](int) { g_stop = 1; });
    while (g_stop == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*server)->stop();
    return rt->shutdown().ok() ? 0 : 1;
  }

  // REST: deposit 250 cents into account 3 with a call.
  auto rest = srv::http_request("127.0.0.1", port, "POST", "/api/actors/ledger/call",
                                R"({"type":"bank.Deposit","payload":{"account":3,"cents":250}})");
  if (!rest) return fail(rest.error().describe());
  std::printf("REST call -> %d %s\n", rest->status, rest->body.c_str());
  if (rest->status != 200 || rest->body.find("\"cents\":250") == std::string::npos) return fail("unexpected REST reply");

  // WebSocket: subscribe to lifecycle events, then call again.
  auto ws = srv::WsClient::connect("127.0.0.1", port, "/api/ws");
  if (!ws) return fail(ws.error().describe());
  auto hello = (*ws)->receive_text(std::chrono::seconds(2));
  if (!hello) return fail(hello.error().describe());
  std::printf("WS <- %s\n", hello->c_str());
  if (auto s = (*ws)->send_text(R"({"v":1,"id":1,"op":"subscribe","topics":["lifecycle"]})"); !s) return fail(s.error().describe());
  if (auto s = (*ws)->send_text(R"({"v":1,"id":2,"op":"call","actor":"ledger","type":"bank.Deposit","payload":{"account":3,"cents":-50}})"); !s)
    return fail(s.error().describe());
  bool got_reply = false;
  for (int i = 0; i < 2; ++i) {
    auto m = (*ws)->receive_text(std::chrono::seconds(2));
    if (!m) return fail(m.error().describe());
    std::printf("WS <- %s\n", m->c_str());
    got_reply = got_reply || (m->find("\"type\":\"reply\"") != std::string::npos && m->find("\"cents\":200") != std::string::npos);
  }
  if (!got_reply) return fail("no reply with the new balance (200)");

  // A lifecycle change reaches the subscriber as an event.
  auto second = rt->launch<Ledger>("ledger-2");
  if (!second) return fail(second.error().describe());
  auto ev = (*ws)->receive_text(std::chrono::seconds(2));
  if (!ev) return fail(ev.error().describe());
  std::printf("WS <- %s\n", ev->c_str());
  if (ev->find("\"kind\":\"launched\"") == std::string::npos) return fail("expected a 'launched' event");
  (*ws)->close();

  (*server)->stop();
  if (auto s = rt->shutdown(); !s) return fail(s.error().describe());
  std::puts("server_embed: ok");
  return 0;
}
