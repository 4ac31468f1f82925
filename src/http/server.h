// The HTTP/1.1 server every Aureo service uses: Boost.Beast on C++20
// coroutines, optional TLS, and the limits that keep bad clients from hurting
// good ones (header/body size, read timeouts, a connection cap).
//
// Handlers are coroutines on the server's io_context threads. They must not
// block for long: CPU-heavy work goes to a core::WorkerPool via runOn().
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/result.h"

namespace aureo::http {

struct Request {
  std::string method;                                        // as sent (case-sensitive): GET, ...
  std::string target;                                        // raw request target
  std::string path;                                          // percent-decoded path, no query
  std::map<std::string, std::string> query;                  // decoded; last value wins
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote_ip;
  std::string route;       // matched pattern, e.g. "/api/v1/nodes/{id}"; "" if none
  std::string request_id;  // echoed or generated X-Request-Id, also in the access log
  std::map<std::string, std::string> params;  // path parameters from the pattern

  // Filled by authentication wrappers.
  std::string user_id;
  std::string role;

  // Case-insensitive; empty if absent.
  [[nodiscard]] std::string_view header(std::string_view name) const;
  [[nodiscard]] std::optional<std::string> queryParam(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, sent instead of `body` without copying it: for answers served
  // from a cache to many clients at once.
  std::shared_ptr<const std::string> shared_body;

  static Response json(int status, std::string body);
  static Response json(int status, std::shared_ptr<const std::string> body);
  // What will be sent.
  [[nodiscard]] std::string_view bodyView() const { return shared_body ? *shared_body : body; }
  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  // {"error":{"code":"...","message":"...","field":"..."}} with the status from core::httpStatus.
  static Response error(const core::Error& error);
  static Response error(int status, std::string_view code, std::string_view message,
                        std::string_view field = {});
  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

// Matches "/api/v1/nodes/{id}" style patterns. A path that matches a pattern
// under another method gets 405 with Allow; no match at all gets 404.
//
// Matching works on the percent-decoded path, segment by segment: a literal
// segment must be equal, a "{name}" segment takes any non-empty segment. One
// trailing slash is ignored on both sides ("/a/b/" matches "/a/b"). When more
// than one pattern matches, the one with a literal segment at the first place
// where they differ wins ("/nodes/best" over "/nodes/{id}"), then the one added
// first. HEAD falls back to the GET handler when no HEAD route exists (the
// server drops the body). Methods are compared exactly (they are case-sensitive).
class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);
  // Every registered (method, pattern), for the OpenAPI coverage test.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> routes() const;

  struct Match {
    const Handler* handler = nullptr;
    std::string pattern;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed;  // when the path matched but the method did not
  };
  // `allowed` lists every method registered for the path (sorted, with HEAD
  // when GET is there), filled whether or not `method` matched.
  [[nodiscard]] Match match(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IP address ("::" for all) or "localhost"
  uint16_t port = 8080;            // 0: pick a free port (see Server::port())
  size_t threads = 2;
  size_t max_connections = 4096;
  size_t max_header_bytes = size_t{16} * 1024;  // 431 beyond
  size_t max_body_bytes = size_t{1024} * 1024;  // 413 beyond
  std::chrono::seconds header_timeout{10};      // whole header must arrive in this time
  std::chrono::seconds body_timeout{30};
  std::chrono::seconds idle_timeout{60};     // keep-alive between requests
  std::chrono::seconds handler_timeout{30};  // 504 beyond
  std::chrono::seconds write_timeout{30};    // a client too slow to read the response is dropped
  std::chrono::seconds shutdown_grace{10};   // stop(): how long in-flight requests may still run
  std::string tls_cert_file;                 // both set: HTTPS (TLS 1.2 minimum)
  std::string tls_key_file;
  std::string service_name = "aureo";
};

class Metrics;

class Server {
 public:
  // metrics may be null. The router is copied in.
  Server(ServerOptions options, Router router, core::Logger& log, Metrics* metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; kUnavailable if the address is taken, kInvalidArgument
  // for a bad host or unreadable TLS files.
  core::Status start();
  [[nodiscard]] uint16_t port() const;
  // Runs the io threads until stop(); blocks.
  void run();
  // Stops accepting, closes connections waiting for a request, and lets
  // in-flight requests finish (answered with Connection: close) for up to
  // options.shutdown_grace; then run() returns. Safe from any thread and from
  // signal-handling code paths posted to the context.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::http
