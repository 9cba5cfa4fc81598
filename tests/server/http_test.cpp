// Integration tests of the operations server over loopback with real clients: curl (REST, SSE, metrics),
// promtool, and raw sockets for malformed requests and clients that never read.
#include <fstream>
#include <regex>

#include "server/server_helpers.hpp"

namespace rk_server_test {
namespace {

using namespace std::chrono_literals;

TEST_F(ServerFixture, MetricsAreValidPrometheusTextAndCountRealTraffic) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto h = rt_->handle(counter_id_);
  ASSERT_TRUE(h.ok());
  for (std::uint64_t i = 1; i <= 25; ++i) ASSERT_TRUE(h->call<Sum>(Add{i}, 2s).ok());
  const CurlResult r = curl("'" + url("/metrics") + "'");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("ringkernel_actor_messages_processed_total{actor=\"counter\",id=\"1\"} 25"), std::string::npos)
      << r.body.substr(0, 2000);
  EXPECT_NE(r.body.find("ringkernel_server_http_request_duration_seconds_bucket{le=\"+Inf\"}"), std::string::npos);
  EXPECT_NE(r.body.find("ringkernel_actor_state{actor=\"counter\",id=\"1\",state=\"active\"} 1"), std::string::npos);
  // GPU memory gauges appear only with a device backend (this runtime is on the CPU).
  EXPECT_EQ(r.body.find("ringkernel_gpu_memory_total_bytes"), std::string::npos);

  const std::string file = ::testing::TempDir() + "rk_metrics_" + std::to_string(::getpid()) + ".prom";
  {
    std::ofstream f(file);
    f << r.body;
  }
  const auto [rc, out] = shell("promtool check metrics < '" + file + "'");
  EXPECT_EQ(rc, 0) << "promtool (Debian package 'prometheus') rejected /metrics or is missing:\n" << out;
  std::remove(file.c_str());
}

TEST_F(ServerFixture, HealthProbesFollowKubernetesSemantics) {
  std::atomic<bool> warm{false};
  srv::ServerConfig cfg;
  cfg.readiness = [&warm] { return warm.load() ? std::string() : std::string("warming up"); };
  ASSERT_NO_FATAL_FAILURE(start(cfg));
  EXPECT_EQ(curl("'" + url("/health/live") + "'").status, 200);
  CurlResult r = curl("'" + url("/health/ready") + "'");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("warming up"), std::string::npos) << r.body;
  warm = true;
  EXPECT_EQ(curl("'" + url("/health/ready") + "'").status, 200);
  // No active actor -> not ready, with the reason.
  auto h = rt_->handle(counter_id_);
  ASSERT_TRUE(h->deactivate().ok());
  ASSERT_TRUE(h->wait_for(rk::ActorState::Deactivated, 2s).ok());
  r = curl("'" + url("/health/ready") + "'");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("no actor is active"), std::string::npos) << r.body;
  EXPECT_EQ(curl("'" + url("/health/live") + "'").status, 200);  // still alive: a restart would not help
}

TEST_F(ServerFixture, RestListsAndDescribesActors) {
  ASSERT_NO_FATAL_FAILURE(start());
  CurlResult r = curl("'" + url("/api/actors") + "'");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"name\":\"counter\""), std::string::npos) << r.body;
  r = curl("'" + url("/api/actors/counter") + "'");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"state\":\"active\""), std::string::npos);
  r = curl("'" + url("/api/actors/" + std::to_string(counter_id_)) + "'");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"name\":\"counter\""), std::string::npos);
  r = curl("'" + url("/api/actors/nobody") + "'");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("\"code\":\"actor_not_found\""), std::string::npos) << r.body;
  r = curl("'" + url("/api/types") + "'");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"name\":\"test.Add\""), std::string::npos);
  EXPECT_EQ(curl("'" + url("/api/nothing") + "'").status, 404);
}

TEST_F(ServerFixture, RestLifecycleCommandsChangeStateAndRefuseIllegalOnes) {
  ASSERT_NO_FATAL_FAILURE(start());
  CurlResult r = curl("-X POST '" + url("/api/actors/counter/deactivate") + "'");
  ASSERT_EQ(r.status, 200) << r.body;
  auto h = rt_->handle(counter_id_);
  ASSERT_TRUE(h->wait_for(rk::ActorState::Deactivated, 2s).ok());
  r = curl("-X POST '" + url("/api/actors/counter/activate") + "'");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(h->wait_for(rk::ActorState::Active, 2s).ok());
  r = curl("-X POST '" + url("/api/actors/counter/terminate") + "'");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(h->wait_for(rk::ActorState::Terminated, 2s).ok());
  // The name is unbound once terminated; by id the actor still exists, and nothing comes back from Terminated.
  r = curl("-X POST '" + url("/api/actors/" + std::to_string(counter_id_) + "/activate") + "'");
  EXPECT_TRUE(r.status == 409 || r.status == 410) << r.status << " " << r.body;
  EXPECT_TRUE(r.body.find("illegal_transition") != std::string::npos || r.body.find("actor_terminated") != std::string::npos)
      << r.body;
  r = curl("'" + url("/api/actors/counter/activate") + "'");  // GET on a POST route
  EXPECT_EQ(r.status, 405);
  r = curl("-X POST '" + url("/api/actors/counter/explode") + "'");
  EXPECT_EQ(r.status, 404);
}

TEST_F(ServerFixture, RestSendAndCallEncodeJsonAndBase64Payloads) {
  ASSERT_NO_FATAL_FAILURE(start());
  CurlResult r = curl("-X POST -d '{\"type\":\"test.Add\",\"payload\":{\"value\":40}}' '" + url("/api/actors/counter/send") + "'");
  ASSERT_EQ(r.status, 202) << r.body;
  // 2 as a little-endian u64, base64.
  r = curl("-X POST -d '{\"type\":\"test.Add\",\"payload_b64\":\"AgAAAAAAAAA=\",\"timeout_ms\":2000}' '" +
           url("/api/actors/counter/call") + "'");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"payload\":{\"total\":42}"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"type\":\"test.Sum\""), std::string::npos) << r.body;

  r = curl("-X POST -d '{\"type\":\"test.Add\",\"payload\":{\"valu\":1}}' '" + url("/api/actors/counter/send") + "'");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid_payload"), std::string::npos) << r.body;
  r = curl("-X POST -d '{\"type\":\"test.Add\",\"payload\":{\"value\":-1}}' '" + url("/api/actors/counter/send") + "'");
  EXPECT_EQ(r.status, 400) << "a negative value must not wrap into a u64";
  r = curl("-X POST -d '{\"type\":\"nope\",\"payload\":{}}' '" + url("/api/actors/counter/send") + "'");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("unknown_type"), std::string::npos);
  r = curl("-X POST -d '{\"type\":' '" + url("/api/actors/counter/send") + "'");
  EXPECT_EQ(r.status, 400);
  r = curl("-X POST -d '{\"type\":\"test.Add\",\"payload_b64\":\"AgAA\"}' '" + url("/api/actors/counter/send") + "'");
  EXPECT_EQ(r.status, 400) << "3 bytes are not a test.Add";
}

TEST_F(ServerFixture, BearerTokenIsRequiredAndChecked) {
  srv::ServerConfig cfg;
  cfg.bearer_token = "s3cret-token";
  ASSERT_NO_FATAL_FAILURE(start(cfg));
  CurlResult r = curl("-i '" + url("/api/actors") + "'");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("WWW-Authenticate: Bearer"), std::string::npos) << r.body;
  EXPECT_EQ(curl("-H 'Authorization: Bearer wrong' '" + url("/api/actors") + "'").status, 401);
  EXPECT_EQ(curl("-H 'Authorization: Bearer s3cret-tokenX' '" + url("/metrics") + "'").status, 401);
  EXPECT_EQ(curl("-H 'Authorization: Bearer s3cret-token' '" + url("/api/actors") + "'").status, 200);
  EXPECT_EQ(curl("'" + url("/api/actors?access_token=s3cret-token") + "'").status, 200);
  EXPECT_EQ(curl("'" + url("/health/live") + "'").status, 200) << "probes are public by default";
  EXPECT_EQ(curl("'" + url("/") + "'").status, 200) << "the dashboard page itself holds no data";
  EXPECT_EQ(curl("'" + url("/api/events") + "'").status, 401);
  EXPECT_GE(server_->stats().auth_failures, 4u);
}

TEST_F(ServerFixture, NonLoopbackBindNeedsAToken) {
  srv::ServerConfig cfg;
  cfg.address = "0.0.0.0";
  cfg.port = 0;
  auto s = srv::Server::start(*rt_, cfg, test_types());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_NE(s.error().message().find("bearer token"), std::string::npos);
  cfg.address = "not-an-address";
  cfg.bearer_token = "t";
  EXPECT_EQ(srv::Server::start(*rt_, cfg, test_types()).error().code(), rk::ErrorCode::InvalidArgument);
  cfg.address = "0.0.0.0";
  auto ok = srv::Server::start(*rt_, cfg, test_types());
  EXPECT_TRUE(ok.ok()) << ok.error().describe();
}

TEST_F(ServerFixture, OversizedHeadersAndBodiesAreRefused) {
  srv::ServerConfig cfg;
  cfg.max_header_bytes = 1024;
  cfg.max_body_bytes = 256;
  ASSERT_NO_FATAL_FAILURE(start(cfg));
  CurlResult r = curl("-H 'X-Big: " + std::string(4000, 'a') + "' '" + url("/api/actors") + "'");
  EXPECT_EQ(r.status, 431) << r.body;
  r = curl("-X POST -d '{\"type\":\"test.Add\",\"payload\":{\"value\":1},\"pad\":\"" + std::string(1000, 'x') + "\"}' '" +
           url("/api/actors/counter/send") + "'");
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(server_->stats().limit_rejections, 2u);
  EXPECT_EQ(curl("'" + url("/api/actors") + "'").status, 200) << "the server keeps serving";
}

TEST_F(ServerFixture, ConnectionLimitRefusesExtraClients) {
  srv::ServerConfig cfg;
  cfg.max_connections = 2;
  ASSERT_NO_FATAL_FAILURE(start(cfg));
  RawSocket a(server_->port());
  RawSocket b(server_->port());
  ASSERT_TRUE(a.ok() && b.ok());
  // Both idle connections are accepted before curl's (the server accepts in order).
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (server_->stats().connections_open < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  CurlResult r = curl("'" + url("/api/actors") + "'");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("too_many_connections"), std::string::npos);
  EXPECT_GE(server_->stats().connections_rejected, 1u);
}

TEST_F(ServerFixture, MalformedRequestsGet400AndTheServerKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(start());
  {
    RawSocket s(server_->port());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s.send("THIS IS NOT HTTP\r\n\r\n"));
    EXPECT_EQ(s.read_until("\r\n", 3s).rfind("HTTP/1.1 400", 0), 0u);
  }
  {
    RawSocket s(server_->port());
    ASSERT_TRUE(s.send(std::string("GET /api/actors HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n")));
    EXPECT_EQ(s.read_until("\r\n", 3s).rfind("HTTP/1.1 400", 0), 0u);
  }
  {
    RawSocket s(server_->port());
    ASSERT_TRUE(s.send("GET /api/actors/%zz HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(s.read_until("\r\n", 3s).rfind("HTTP/1.1 400", 0), 0u);
  }
  EXPECT_EQ(curl("'" + url("/api/actors") + "'").status, 200);
}

TEST_F(ServerFixture, CrossOriginRequestsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string host = server_->url().substr(7);  // "127.0.0.1:port"
  CurlResult r = curl("-X POST -H 'Origin: http://evil.example' '" + url("/api/actors/counter/deactivate") + "'");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(curl("-H 'Origin: http://evil.example' '" + url("/api/events") + "'").status, 403);
  r = curl("-X POST -H 'Origin: http://" + host + "' -d '{\"type\":\"test.Add\",\"payload\":{\"value\":1}}' '" +
           url("/api/actors/counter/send") + "'");
  EXPECT_EQ(r.status, 202) << r.body;
}

TEST_F(ServerFixture, DashboardIsServedWithoutExternalAssets) {
  ASSERT_NO_FATAL_FAILURE(start());
  CurlResult page = curl("-i '" + url("/") + "'");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(page.body.find("<canvas"), std::string::npos);
  CurlResult js = curl("-i '" + url("/app.js") + "'");
  ASSERT_EQ(js.status, 200);
  EXPECT_NE(js.body.find("Content-Type: text/javascript"), std::string::npos);
  EXPECT_NE(js.body.find("EventSource"), std::string::npos);
  for (const CurlResult* r : {&page, &js}) {
    EXPECT_EQ(r->body.find("https://"), std::string::npos) << "no CDN or remote asset may be referenced";
    EXPECT_EQ(r->body.find("src=\"http"), std::string::npos);
  }
  EXPECT_EQ(curl("'" + url("/style.css") + "'").status, 200);
}

// --- Server-Sent Events ----------------------------------------------------------------------------------

TEST_F(ServerFixture, SseStreamsLifecycleEventsWithIds) {
  ASSERT_NO_FATAL_FAILURE(start());
  SseCurl sse(url("/api/events?topics=lifecycle"), 5);
  ASSERT_TRUE(sse.wait_for(": connected", 3s)) << sse.output();
  auto h = rt_->launch<Counter>("second");
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(sse.wait_for("\"name\":\"second\"", 3s)) << sse.output();
  const std::string out = sse.output();
  EXPECT_TRUE(std::regex_search(out, std::regex("id: [0-9]+\nevent: lifecycle\ndata: \\{\"id\":[0-9]+,\"topic\":\"lifecycle\",\"kind\":\"launched\"")))
      << out;
  EXPECT_EQ(out.find("event: stats"), std::string::npos) << "topic filter must exclude stats";
}

TEST_F(ServerFixture, SseResumesFromLastEventId) {
  ASSERT_NO_FATAL_FAILURE(start());
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = server_->publish("custom/test", "{\"n\":" + std::to_string(i) + "}");
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  SseCurl sse(url("/api/events?topics=custom"), 1.5, "-H 'Last-Event-ID: " + std::to_string(ids[1]) + "'");
  sse.join();
  const std::string out = sse.output();
  EXPECT_EQ(out.find("\"n\":0"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"n\":1"), std::string::npos) << out;
  for (int i = 2; i < 5; ++i) EXPECT_NE(out.find("id: " + std::to_string(ids[static_cast<std::size_t>(i)]) + "\n"), std::string::npos) << out;
  EXPECT_LT(out.find("\"n\":2"), out.find("\"n\":4")) << "replayed in order";
  EXPECT_EQ(curl("-H 'Last-Event-ID: abc' '" + url("/api/events") + "'").status, 400);
}

TEST_F(ServerFixture, SseResumeOlderThanTheReplayBufferReportsAGap) {
  srv::ServerConfig cfg;
  cfg.replay_buffer = 8;
  cfg.stats_interval = std::chrono::milliseconds(0);
  ASSERT_NO_FATAL_FAILURE(start(cfg));
  std::uint64_t first = 0;
  for (int i = 0; i < 20; ++i) {
    auto id = server_->publish("custom/x", "{\"n\":" + std::to_string(i) + "}");
    ASSERT_TRUE(id.ok());
    if (i == 0) first = *id;
  }
  SseCurl sse(url("/api/events?topics=custom"), 1.5, "-H 'Last-Event-ID: " + std::to_string(first) + "'");
  sse.join();
  const std::string out = sse.output();
  EXPECT_NE(out.find("event: gap\ndata: {\"missed\":"), std::string::npos) << out;
  EXPECT_NE(out.find("\"n\":19"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"n\":5}"), std::string::npos) << "evicted events cannot be replayed";
}

TEST_F(ServerFixture, SseTopicFilterAndKeepAliveComments) {
  srv::ServerConfig cfg;
  cfg.keepalive_interval = std::chrono::milliseconds(200);
  ASSERT_NO_FATAL_FAILURE(start(cfg));
  SseCurl sse(url("/api/events?topics=custom/a"), 1.5);
  ASSERT_TRUE(sse.wait_for(": connected", 3s));
  ASSERT_TRUE(server_->publish("custom/b", "{\"which\":\"b\"}").ok());
  ASSERT_TRUE(server_->publish("custom/a", "{\"which\":\"a\"}").ok());
  ASSERT_TRUE(server_->publish("custom/a/deeper", "7").ok());
  sse.join();
  const std::string out = sse.output();
  EXPECT_NE(out.find("\"which\":\"a\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"topic\":\"custom/a/deeper\",\"value\":7"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"which\":\"b\""), std::string::npos) << out;
  EXPECT_NE(out.find(": keep-alive\n\n"), std::string::npos) << out;
  EXPECT_EQ(curl("'" + url("/api/events?topics=bad//topic") + "'").status, 400);
}

TEST_F(ServerFixture, SlowSseClientNeverBlocksTheRuntimeAndItsDropsAreCounted) {
  srv::ServerConfig cfg;
  cfg.replay_buffer = 64;
  cfg.stats_interval = std::chrono::milliseconds(0);
  ASSERT_NO_FATAL_FAILURE(start(cfg));
  RawSocket slow(server_->port(), 4096);  // tiny receive buffer, and we do not read while flooding
  ASSERT_TRUE(slow.send("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (server_->stats().sse_clients < 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(server_->stats().sse_clients, 1u);

  // Runtime-side producers: the actor keeps answering calls while events flood a client that reads nothing.
  // ~20 MB in total: far more than the kernel buffers between the server and a client that reads nothing.
  const std::string pad(3500, 'x');
  auto h = rt_->handle(counter_id_);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 6000; ++i) {
    ASSERT_TRUE(server_->publish("custom/flood", "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + pad + "\"}").ok());
    if (i % 600 == 0) {
      ASSERT_TRUE(h->call<Sum>(Add{1}, 1s).ok()) << "runtime blocked behind a slow client";
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Generous bound (sanitizer builds on a loaded 2-core machine): a publisher that waited for this client
  // would never finish at all.
  EXPECT_LT(secs, 30.0) << "publishing must not wait for the client";
  // Now read: the client learns how much it missed, and the server counted it.
  const std::string got = slow.read_until("event: gap", 10s);
  EXPECT_NE(got.find("event: gap"), std::string::npos) << got.substr(0, 300);
  EXPECT_GT(server_->stats().events_dropped, 0u);
  const CurlResult m = curl("'" + url("/metrics") + "'");
  EXPECT_EQ(m.body.find("ringkernel_server_events_dropped_total 0\n"), std::string::npos);
}

TEST_F(ServerFixture, PubSubBridgeForwardsDecodedMessagesAsEvents) {
  srv::ServerConfig cfg;
  cfg.pubsub_bridge = "sensors/#";
  ASSERT_NO_FATAL_FAILURE(start(cfg));
  SseCurl sse(url("/api/events?topics=pubsub"), 5);
  ASSERT_TRUE(sse.wait_for(": connected", 3s));
  ASSERT_TRUE(rt_->publish("sensors/room-1", Add{77}).ok());
  ASSERT_TRUE(rt_->publish("other/topic", Add{5}).ok());
  ASSERT_TRUE(sse.wait_for("\"pubsub_topic\":\"sensors/room-1\"", 3s)) << sse.output();
  const std::string out = sse.output();
  EXPECT_NE(out.find("event: pubsub\n"), std::string::npos);
  EXPECT_NE(out.find("\"topic\":\"pubsub/sensors/room-1\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"payload\":{\"value\":77}"), std::string::npos) << out;
  EXPECT_EQ(out.find("other/topic"), std::string::npos) << "outside the bridge pattern";
  cfg.pubsub_bridge = "bad//pattern";
  EXPECT_FALSE(srv::Server::start(*rt_, cfg, test_types()).ok());
}

TEST_F(ServerFixture, CustomEventsAreValidatedAndStopIsIdempotent) {
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_FALSE(server_->publish("", "{}").ok());
  EXPECT_FALSE(server_->publish("a//b", "{}").ok());
  EXPECT_FALSE(server_->publish("ok", "{not json").ok());
  EXPECT_FALSE(server_->publish("ok", std::string(40, '[')).ok());
  EXPECT_TRUE(server_->publish("ok", "[1,2]").ok());
  server_->stop();
  server_->stop();
  EXPECT_NE(curl("--max-time 2 '" + url("/health/live") + "'").status, 200);
}

}  // namespace
}  // namespace rk_server_test
