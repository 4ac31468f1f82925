#include "http/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include "core/ids.h"
#include "core/worker_pool.h"
#include "http/client.h"
#include "http/metrics.h"
#include "http/offload.h"
#include "http/testing/test_support.h"

namespace aureo::http {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ParsedResponse;
using testing::RawSocket;
using testing::ServerHarness;

using Awaitable = boost::asio::awaitable<Response>;

Router testRouter() {
  Router router;
  router.add("GET", "/health",
             [](Request&) -> Awaitable { co_return Response::json(200, R"({"status":"ok"})"); });
  router.add("GET", "/api/v1/nodes/{id}", [](Request& req) -> Awaitable {
    co_return Response::json(
        200, R"({"id":")" + req.params.at("id") + R"(","route":")" + req.route + R"("})");
  });
  router.add("DELETE", "/api/v1/nodes/{id}",
             [](Request&) -> Awaitable { co_return Response::json(204, ""); });
  router.add("POST", "/echo", [](Request& req) -> Awaitable {
    Response res = Response::text(200, req.body);
    res.header("X-Method", req.method);
    res.header("X-Query-Name", req.queryParam("name").value_or("-"));
    res.header("X-Remote", req.remote_ip);
    res.header("X-Header-Seen", std::string(req.header("X-Custom")));
    co_return res;
  });
  router.add("GET", "/path",
             [](Request& req) -> Awaitable { co_return Response::text(200, req.path); });
  router.add("GET", "/throw", [](Request&) -> Awaitable {
    throw std::runtime_error("boom");
    co_return Response::json(200, "{}");
  });
  router.add("GET", "/page", [](Request&) -> Awaitable {
    Response res = Response::text(200, "<html></html>", "text/html; charset=utf-8");
    res.header("Content-Security-Policy", "default-src 'self'");
    co_return res;
  });
  return router;
}

ParsedResponse roundTrip(uint16_t port, const std::string& request) {
  RawSocket socket(port);
  EXPECT_TRUE(socket.send(request));
  return testing::parseResponse(socket.readResponse());
}

std::string get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

TEST(ServerTest, RoutesToTheHandlerWithPathParameters) {
  ServerHarness harness({}, testRouter());
  Client client(harness.baseUrl());
  auto res = client.request("GET", "/api/v1/nodes/node-7");
  ASSERT_TRUE(res.ok()) << res.error().toString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"id":"node-7","route":"/api/v1/nodes/{id}"})");
  EXPECT_EQ(res->header("content-type"), "application/json");
}

TEST(ServerTest, PassesMethodBodyQueryHeadersAndRemoteIp) {
  ServerHarness harness({}, testRouter());
  Client client(harness.baseUrl());
  auto res = client.request("POST", "/echo?name=J%C3%BCrgen+X", "payload", {{"X-Custom", "yes"}});
  ASSERT_TRUE(res.ok()) << res.error().toString();
  EXPECT_EQ(res->body, "payload");
  EXPECT_EQ(res->header("x-method"), "POST");
  EXPECT_EQ(res->header("x-query-name"), "J\xC3\xBCrgen X");
  EXPECT_EQ(res->header("x-remote"), "127.0.0.1");
  EXPECT_EQ(res->header("x-header-seen"), "yes");
}

TEST(ServerTest, UnknownPathGets404Json) {
  ServerHarness harness({}, testRouter());
  auto res = roundTrip(harness.port(), get("/nope"));
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.headers["content-type"], "application/json");
  EXPECT_THAT(res.body, HasSubstr(R"("code":"not_found")"));
}

TEST(ServerTest, WrongMethodGets405WithAllow) {
  ServerHarness harness({}, testRouter());
  auto res = roundTrip(harness.port(),
                       "PUT /api/v1/nodes/1 HTTP/1.1\r\nHost: t\r\n"
                       "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(res.headers["allow"], "DELETE, GET, HEAD, OPTIONS");
  EXPECT_THAT(res.body, HasSubstr(R"("code":"method_not_allowed")"));
}

TEST(ServerTest, OptionsAnswersWithAllow) {
  ServerHarness harness({}, testRouter());
  auto res = roundTrip(harness.port(), "OPTIONS /health HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(res.status, 204);
  EXPECT_EQ(res.headers["allow"], "GET, HEAD, OPTIONS");
}

TEST(ServerTest, HeadSendsTheGetHeadersWithoutABody) {
  ServerHarness harness({}, testRouter());
  RawSocket socket(harness.port());
  ASSERT_TRUE(socket.send("HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = testing::parseResponse(socket.readResponse(/*head=*/true));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["content-length"], "15");
  EXPECT_EQ(head.body, "");
  // Had a body been sent, it would now be read as the next status line.
  ASSERT_TRUE(socket.send(get("/health")));
  auto next = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, R"({"status":"ok"})");
}

TEST(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  ServerHarness harness({}, testRouter());
  RawSocket socket(harness.port());
  ASSERT_TRUE(socket.send(get("/health")));
  auto first = testing::parseResponse(socket.readResponse());
  ASSERT_TRUE(socket.send(get("/api/v1/nodes/2")));
  auto second = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(second.status, 200);
  EXPECT_THAT(second.body, HasSubstr(R"("id":"2")"));
  EXPECT_NE(first.headers["connection"], "close");
}

TEST(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  ServerHarness harness({}, testRouter());
  RawSocket socket(harness.port());
  ASSERT_TRUE(socket.send(get("/api/v1/nodes/a") + get("/api/v1/nodes/b") +
                          "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  EXPECT_THAT(testing::parseResponse(socket.readResponse()).body, HasSubstr(R"("id":"a")"));
  EXPECT_THAT(testing::parseResponse(socket.readResponse()).body, HasSubstr(R"("id":"b")"));
  auto last = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(last.headers["connection"], "close");
  EXPECT_TRUE(socket.waitForClose());
}

TEST(ServerTest, KeepAliveLastsWhileRequestsComeAndEndsAfterTheIdleTimeout) {
  ServerOptions options;
  options.header_timeout = std::chrono::seconds(1);
  options.idle_timeout = std::chrono::seconds(1);
  ServerHarness harness(options, testRouter());
  RawSocket socket(harness.port());
  // Eight requests 300 ms apart: well past the first deadline, each one
  // moving it later.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(socket.send(get("/health"))) << "request " << i;
    ASSERT_EQ(testing::parseResponse(socket.readResponse()).status, 200) << "request " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const auto quiet_since = std::chrono::steady_clock::now();
  EXPECT_TRUE(socket.waitForClose());
  EXPECT_GE(std::chrono::steady_clock::now() - quiet_since, std::chrono::milliseconds(500));
}

TEST(ServerTest, NoContentHasNeitherBodyNorContentLength) {
  ServerHarness harness({}, testRouter());
  RawSocket socket(harness.port());
  ASSERT_TRUE(socket.send("DELETE /api/v1/nodes/1 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto res = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(res.status, 204);
  EXPECT_EQ(res.headers.count("content-length"), 0U);
  EXPECT_EQ(res.headers.count("content-type"), 0U);
  // The next answer starts right after the header block.
  ASSERT_TRUE(socket.send(get("/health")));
  EXPECT_EQ(testing::parseResponse(socket.readResponse()).status, 200);
}

TEST(ServerTest, Http10ClientsGetHttp10AnswersAndKeepAliveOnlyWhenAsked) {
  ServerHarness harness({}, testRouter());
  {
    RawSocket socket(harness.port());
    ASSERT_TRUE(socket.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::string raw = socket.readResponse();
    EXPECT_EQ(raw.substr(0, 17), "HTTP/1.0 200 OK\r\n");
    EXPECT_EQ(testing::parseResponse(raw).headers["connection"], "keep-alive");
    ASSERT_TRUE(socket.send("GET /health HTTP/1.0\r\n\r\n"));
    auto second = testing::parseResponse(socket.readResponse());
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.headers.count("connection"), 0U);
    EXPECT_TRUE(socket.waitForClose());
  }
}

TEST(ServerTest, HugeBodyGets413AndTheConnectionCloses) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  ServerHarness harness(options, testRouter());
  RawSocket socket(harness.port());
  ASSERT_TRUE(socket.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n"));
  socket.send(std::string(64 * 1024, 'x'));  // may fail once the server has closed
  auto res = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(res.status, 413);
  EXPECT_THAT(res.body, HasSubstr("request body too large"));
  EXPECT_TRUE(socket.waitForClose());
}

TEST(ServerTest, ChunkedBodyOverTheLimitGets413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  ServerHarness harness(options, testRouter());
  RawSocket socket(harness.port());
  std::string chunk(800, 'y');
  ASSERT_TRUE(
      socket.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "320\r\n" +
                  chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
  EXPECT_EQ(testing::parseResponse(socket.readResponse()).status, 413);
}

TEST(ServerTest, HugeHeadersGet431) {
  ServerOptions options;
  options.max_header_bytes = 4096;
  ServerHarness harness(options, testRouter());
  auto res = roundTrip(harness.port(), get("/health", "X-Big: " + std::string(8192, 'a') + "\r\n"));
  EXPECT_EQ(res.status, 431);
  EXPECT_THAT(res.body, HasSubstr("too large"));
}

TEST(ServerTest, GarbageBytesGet400AndTheConnectionCloses) {
  ServerHarness harness({}, testRouter());
  RawSocket socket(harness.port());
  using namespace std::string_literals;
  ASSERT_TRUE(socket.send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 junk\r\n\r\n"s));
  auto res = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(res.status, 400);
  EXPECT_THAT(res.body, HasSubstr("malformed HTTP request"));
  EXPECT_TRUE(socket.waitForClose());
}

TEST(ServerTest, BadPercentEscapesAndNulBytesGet400) {
  ServerHarness harness({}, testRouter());
  for (std::string target : {"/path%zz", "/path%0", "/pa%00th", "/path?x=%00", "/a b"}) {
    auto res = roundTrip(harness.port(), get(target));
    EXPECT_EQ(res.status, 400) << target;
    EXPECT_THAT(res.body, HasSubstr(R"("code":"invalid_argument")")) << target;
  }
  auto ok = roundTrip(harness.port(), get("/path%3F%2541"));
  EXPECT_EQ(ok.status, 404);  // decodes to "/path?%41", which no route has
  auto decoded = roundTrip(harness.port(), get("/pat%68"));
  EXPECT_EQ(decoded.status, 200);
  EXPECT_EQ(decoded.body, "/path");
}

TEST(ServerTest, HandlerExceptionGets500AndTheServerKeepsServing) {
  ServerHarness harness({}, testRouter());
  RawSocket socket(harness.port());
  ASSERT_TRUE(socket.send(get("/throw")));
  auto res = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body, R"({"error":{"code":"internal","message":"internal error"}})");
  ASSERT_TRUE(socket.send(get("/health")));
  EXPECT_EQ(testing::parseResponse(socket.readResponse()).status, 200);
  bool logged = false;
  for (const auto& line : harness.logLines()) {
    if (line.find(R"("level":"error")") != std::string::npos &&
        line.find("handler threw") != std::string::npos && line.find("boom") != std::string::npos) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged);
}

TEST(ServerTest, HandlerTimeoutGets504) {
  Router router;
  router.add("GET", "/slow", [](Request&) -> Awaitable {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                    std::chrono::minutes(10));
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return Response::json(200, "{}");
  });
  ServerOptions options;
  options.handler_timeout = std::chrono::seconds(1);
  ServerHarness harness(options, std::move(router));
  auto res = roundTrip(harness.port(), get("/slow"));
  EXPECT_EQ(res.status, 504);
  EXPECT_THAT(res.body, HasSubstr("deadline_exceeded"));
}

TEST(ServerTest, AfterA504TheConnectionServesTheNextRequest) {
  Router router;
  router.add("GET", "/slow", [](Request&) -> Awaitable {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                    std::chrono::minutes(10));
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return Response::json(200, "{}");
  });
  router.add("GET", "/quick", [](Request&) -> Awaitable {
    // Awaits something, so a cancellation left over from the 504 would throw.
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                    std::chrono::milliseconds(1));
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return Response::json(200, R"({"quick":true})");
  });
  ServerOptions options;
  options.handler_timeout = std::chrono::seconds(1);
  ServerHarness harness(options, std::move(router));
  RawSocket socket(harness.port());
  ASSERT_TRUE(socket.send(get("/slow")));
  auto first = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(first.status, 504);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(socket.send(get("/quick")));
    auto next = testing::parseResponse(socket.readResponse());
    EXPECT_EQ(next.status, 200);
    EXPECT_THAT(next.body, HasSubstr("quick"));
  }
}

TEST(ServerTest, EveryResponseCarriesTheSecurityHeaders) {
  ServerHarness harness({}, testRouter());
  for (std::string target : {"/health", "/nope", "/path%zz"}) {
    auto res = roundTrip(harness.port(), get(target));
    EXPECT_EQ(res.headers["x-content-type-options"], "nosniff") << target;
    EXPECT_EQ(res.headers["x-frame-options"], "DENY") << target;
    EXPECT_EQ(res.headers["referrer-policy"], "no-referrer") << target;
    EXPECT_EQ(res.headers["cache-control"], "no-store") << target;
    EXPECT_EQ(res.headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'")
        << target;
    EXPECT_EQ(res.headers.count("strict-transport-security"), 0u) << target;
    EXPECT_TRUE(core::isUuid(res.headers["x-request-id"])) << target;
  }
}

TEST(ServerTest, HandlerMayReplaceADefaultHeaderButNotTheFraming) {
  ServerHarness harness({}, testRouter());
  auto res = roundTrip(harness.port(), get("/page"));
  EXPECT_EQ(res.headers["content-security-policy"], "default-src 'self'");
  EXPECT_EQ(res.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(res.headers["x-frame-options"], "DENY");
}

TEST(ServerTest, EchoesASaneRequestIdAndReplacesAnInsaneOne) {
  ServerHarness harness({}, testRouter());
  auto echoed = roundTrip(harness.port(), get("/health", "X-Request-Id: abc-123\r\n"));
  EXPECT_EQ(echoed.headers["x-request-id"], "abc-123");
  auto replaced = roundTrip(harness.port(), get("/health", "X-Request-Id: <script>\r\n"));
  EXPECT_TRUE(core::isUuid(replaced.headers["x-request-id"]));
}

TEST(ServerTest, AccessLogHasOneLinePerRequestWithoutSecrets) {
  ServerHarness harness({}, testRouter());
  auto res = roundTrip(harness.port(),
                       "POST /echo HTTP/1.1\r\nHost: t\r\n"
                       "Authorization: Bearer sekrit-token\r\n"
                       "X-Request-Id: log-test-1\r\n"
                       "Content-Length: 11\r\n\r\nhunter2-pwd");
  ASSERT_EQ(res.status, 200);
  harness.stopAndJoin();
  int access_lines = 0;
  for (const auto& line : harness.logLines()) {
    EXPECT_THAT(line, AllOf(Not(HasSubstr("sekrit-token")), Not(HasSubstr("hunter2-pwd"))));
    if (line.find(R"("request_id":"log-test-1")") == std::string::npos) continue;
    ++access_lines;
    EXPECT_THAT(line, HasSubstr(R"("method":"POST")"));
    EXPECT_THAT(line, HasSubstr(R"("route":"/echo")"));
    EXPECT_THAT(line, HasSubstr(R"("status":200)"));
    EXPECT_THAT(line, HasSubstr(R"("remote_ip":"127.0.0.1")"));
    EXPECT_THAT(line, HasSubstr(R"("duration_ms":)"));
  }
  EXPECT_EQ(access_lines, 1);
}

TEST(ServerTest, SlowlorisIsCutOffWhileOthersAreServed) {
  ServerOptions options;
  options.header_timeout = std::chrono::seconds(1);
  options.max_connections = 2;
  ServerHarness harness(options, testRouter());
  RawSocket slow(harness.port());
  std::atomic<bool> cut_off{false};
  std::atomic<int> bytes_sent{0};
  std::thread trickler([&] {
    const std::string header =
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(200, 'a');
    for (char c : header) {
      if (slow.closedByPeer() || !slow.send(std::string_view(&c, 1))) {
        cut_off = true;
        return;
      }
      ++bytes_sent;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // Served while the slow client holds its slot.
  while (bytes_sent.load() < 3 && !cut_off.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto res = roundTrip(harness.port(), get("/health"));
  EXPECT_EQ(res.status, 200);
  trickler.join();
  // The header never completed: the server gave up on it.
  EXPECT_TRUE(cut_off.load());
  EXPECT_LT(bytes_sent.load(), 230);
}

TEST(ServerTest, SlowlorisFreesItsSlot) {
  ServerOptions options;
  options.header_timeout = std::chrono::seconds(1);
  options.max_connections = 1;
  ServerHarness harness(options, testRouter());
  {
    RawSocket slow(harness.port());
    ASSERT_TRUE(slow.send("GET /health HTTP/1.1\r\n"));
    EXPECT_TRUE(slow.waitForClose());
  }
  // The slot comes back once the server has torn the connection down.
  int status = 0;
  for (int attempt = 0; attempt < 50 && status != 200; ++attempt) {
    status = roundTrip(harness.port(), get("/health")).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 200);
}

TEST(ServerTest, ConnectionsBeyondTheCapGet503WithRetryAfter) {
  ServerOptions options;
  options.max_connections = 2;
  Metrics metrics;
  ServerHarness harness(options, testRouter(), &metrics);
  auto held1 = std::make_unique<RawSocket>(harness.port());
  RawSocket held2(harness.port());
  RawSocket third(harness.port());
  auto res = testing::parseResponse(third.readResponse());
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(res.headers["retry-after"], "1");
  EXPECT_THAT(res.body, HasSubstr(R"("code":"unavailable")"));
  EXPECT_TRUE(third.waitForClose());
  EXPECT_THAT(metrics.serialize(), HasSubstr("aureo_vpn_http_rejected_connections_total 1"));
  // The held connections are still good.
  ASSERT_TRUE(held2.send(get("/health")));
  EXPECT_EQ(testing::parseResponse(held2.readResponse()).status, 200);
  // Closing one frees a slot.
  held1.reset();
  int status = 0;
  for (int attempt = 0; attempt < 50 && status != 200; ++attempt) {
    status = roundTrip(harness.port(), get("/health")).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 200);
}

TEST(ServerTest, RunOnReturnsTheJobsValue) {
  core::WorkerPool pool(1, 4);
  Router router;
  router.add("GET", "/work", [&pool](Request&) -> Awaitable {
    auto result = co_await runOn<int>(pool, [] { return 6 * 7; });
    if (!result.ok()) co_return Response::error(result.error());
    co_return Response::json(200, std::to_string(*result));
  });
  ServerHarness harness({}, std::move(router));
  auto res = roundTrip(harness.port(), get("/work"));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "42");
}

TEST(ServerTest, RunOnWithAFullPoolReturnsResourceExhausted) {
  core::WorkerPool pool(1, 1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  // Occupy the only worker and the only queue slot.
  ASSERT_TRUE(pool.submit([&] {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();
  ASSERT_TRUE(pool.submit([released] { released.wait(); }));

  std::atomic<bool> job_ran{false};
  Router router;
  router.add("GET", "/work", [&](Request&) -> Awaitable {
    auto result = co_await runOn<int>(pool, [&] {
      job_ran = true;
      return 1;
    });
    if (!result.ok()) co_return Response::error(result.error());
    co_return Response::json(200, "{}");
  });
  {
    ServerHarness harness({}, std::move(router));
    auto res = roundTrip(harness.port(), get("/work"));
    EXPECT_EQ(res.status, 429);
    EXPECT_THAT(res.body, HasSubstr(R"("code":"resource_exhausted")"));
  }
  release.set_value();
  EXPECT_FALSE(job_ran.load());
}

TEST(ServerTest, RunOnTurnsAThrowingJobIntoInternal) {
  core::WorkerPool pool(1, 4);
  Router router;
  router.add("GET", "/work", [&pool](Request&) -> Awaitable {
    auto result = co_await runOn<void>(pool, [] { throw std::runtime_error("argon2 failed"); });
    co_return Response::error(result.error());
  });
  ServerHarness harness({}, std::move(router));
  auto res = roundTrip(harness.port(), get("/work"));
  EXPECT_EQ(res.status, 500);
  EXPECT_THAT(res.body, HasSubstr(R"("code":"internal")"));
}

TEST(ServerTest, MetricsCountRequestsByRoutePattern) {
  Metrics metrics;
  ServerHarness harness({}, testRouter(), &metrics);
  roundTrip(harness.port(), get("/api/v1/nodes/1"));
  roundTrip(harness.port(), get("/api/v1/nodes/2"));
  roundTrip(harness.port(), get("/no/such/thing"));
  // Metrics are recorded after the answer is written: stop to be sure.
  harness.stopAndJoin();
  std::string text = metrics.serialize();
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(aureo_vpn_http_requests_total{method="GET",route="/api/v1/nodes/{id}",status="200"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(R"(aureo_vpn_http_requests_total{method="GET",route="unmatched",status="404"} 1)"));
  EXPECT_THAT(text, Not(HasSubstr("/no/such/thing")));
}

TEST(ServerTest, StartReportsAnAddressInUse) {
  ServerHarness first({}, testRouter());
  core::Logger& log = core::Logger::null();
  ServerOptions options;
  options.port = first.port();
  Server second(options, testRouter(), log, nullptr);
  auto status = second.start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::Code::kUnavailable);
}

TEST(ServerTest, StartRejectsABadHostAndMissingTlsFiles) {
  core::Logger& log = core::Logger::null();
  ServerOptions bad_host;
  bad_host.host = "not a host name";
  bad_host.port = 0;
  auto s1 = Server(bad_host, testRouter(), log, nullptr).start();
  ASSERT_FALSE(s1.ok());
  EXPECT_EQ(s1.error().code, core::Code::kInvalidArgument);

  ServerOptions bad_tls;
  bad_tls.port = 0;
  bad_tls.tls_cert_file = "/nonexistent/cert.pem";
  bad_tls.tls_key_file = "/nonexistent/key.pem";
  auto s2 = Server(bad_tls, testRouter(), log, nullptr).start();
  ASSERT_FALSE(s2.ok());
  EXPECT_EQ(s2.error().code, core::Code::kInvalidArgument);
}

TEST(ServerTest, StopClosesIdleConnectionsAndRunReturns) {
  ServerHarness harness({}, testRouter());
  RawSocket idle(harness.port());
  ASSERT_TRUE(idle.send(get("/health")));
  EXPECT_EQ(testing::parseResponse(idle.readResponse()).status, 200);
  harness.stopAndJoin();  // would hang if run() did not return
  EXPECT_TRUE(idle.waitForClose());
  EXPECT_THROW(RawSocket late(harness.port()), std::runtime_error);
}

TEST(ServerTest, StopLetsAnInFlightRequestFinish) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  core::WorkerPool pool(1, 4);
  Router router;
  router.add("GET", "/busy", [&](Request&) -> Awaitable {
    auto r = co_await runOn<int>(pool, [&] {
      entered.set_value();
      released.wait();
      return 7;
    });
    co_return Response::json(200, std::to_string(r.valueOr(0)));
  });
  ServerHarness harness({}, std::move(router));
  RawSocket socket(harness.port());
  ASSERT_TRUE(socket.send(get("/busy")));
  entered.get_future().wait();
  std::thread stopper([&] { harness.stopAndJoin(); });
  // Once new connections are refused, stop() has taken effect.
  for (;;) {
    try {
      RawSocket probe(harness.port());
    } catch (const std::runtime_error&) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  release.set_value();
  auto res = testing::parseResponse(socket.readResponse());
  stopper.join();
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "7");
  EXPECT_EQ(res.headers["connection"], "close");
}

TEST(ServerTest, ExpectContinueGetsAnInterimResponse) {
  ServerHarness harness({}, testRouter());
  RawSocket socket(harness.port());
  ASSERT_TRUE(
      socket.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                  "Content-Length: 5\r\n\r\n"));
  auto interim = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(interim.status, 100);
  ASSERT_TRUE(socket.send("hello"));
  auto res = testing::parseResponse(socket.readResponse());
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "hello");
}

}  // namespace
}  // namespace aureo::http
