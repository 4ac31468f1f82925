// The HTTP server on hostile bytes: each input is sent as-is on a fresh
// loopback connection to a real Server, the write side is then closed, and
// the answer is read to the end. The server must answer or close (never
// hang), every answer must start with a status line, and none may be a 500:
// the handlers here never fail, so a 500 would be the server's own fault.
// The handlers echo what they were given (path parameters, query, a header,
// the body) back as headers and bodies, so hostile bytes reach the answer
// writer too.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include "core/log.h"
#include "http/server.h"

namespace {

using aureo::http::Request;
using aureo::http::Response;
using Awaitable = boost::asio::awaitable<Response>;

aureo::http::Router fuzzRouter() {
  aureo::http::Router router;
  router.add("GET", "/items/{id}", [](Request& req) -> Awaitable {
    Response res = Response::json(200, R"({"id":")" + req.params.at("id") + R"("})");
    res.header("X-Item", req.params.at("id"));
    co_return res;
  });
  router.add("POST", "/echo", [](Request& req) -> Awaitable {
    Response res = Response::text(200, req.body, std::string(req.header("x-content-type")));
    res.header("X-Query", req.queryParam("q").value_or(""));
    res.header(std::string(req.header("x-name")), std::string(req.header("x-value")));
    co_return res;
  });
  router.add("DELETE", "/items/{id}",
             [](Request&) -> Awaitable { co_return Response::json(204, "ignored"); });
  return router;
}

class FuzzServer {
 public:
  FuzzServer()
      : log_("fuzz", aureo::core::LogLevel::kError, [](std::string_view) {}),
        server_(options(), fuzzRouter(), log_, nullptr) {
    if (auto st = server_.start(); !st.ok()) {
      std::fprintf(stderr, "server did not start: %s\n", st.error().toString().c_str());
      std::abort();
    }
    thread_ = std::thread([this] { server_.run(); });
    thread_.detach();  // lives as long as the process
  }

  [[nodiscard]] uint16_t port() const { return server_.port(); }

 private:
  static aureo::http::ServerOptions options() {
    aureo::http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 1;
    o.max_header_bytes = 4096;
    o.max_body_bytes = 8192;
    o.header_timeout = std::chrono::seconds(2);
    o.body_timeout = std::chrono::seconds(2);
    o.idle_timeout = std::chrono::seconds(2);
    return o;
  }

  aureo::core::Logger log_;
  aureo::http::Server server_;
  std::thread thread_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FuzzServer* server = new FuzzServer();  // never destroyed: the thread runs on
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) std::abort();
  timeval tv{};
  tv.tv_sec = 10;  // the server's own deadlines are 2 s: beyond this it hangs
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
  // The server may close early (an error answer): a failed send is fine.
  for (size_t sent = 0; sent < size;) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == ECONNRESET) break;  // closed after an error answer
      std::fprintf(stderr, "no answer and no close within 10 s (errno %d)\n", errno);
      std::abort();
    }
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (answer.empty()) return 0;
  if (answer.size() < 12 || answer.compare(0, 7, "HTTP/1.") != 0) {
    std::fprintf(stderr, "answer without a status line: %.40s\n", answer.c_str());
    std::abort();
  }
  if (answer.compare(9, 3, "500") == 0) {
    std::fprintf(stderr, "500 for a request the handlers accept:\n%s\n", answer.c_str());
    std::abort();
  }
  return 0;
}
