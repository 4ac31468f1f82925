// A small synchronous HTTP/1.1 client for the CLI and the node agent: one
// connection per request, http:// or https:// (peer verified by default, with
// SNI), one deadline over the whole exchange.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace aureo::http {

struct ClientOptions {
  // Deadline for the whole request: resolve, connect, TLS, send, receive.
  std::chrono::milliseconds timeout{10'000};
  // PEM bundle to trust instead of the system store (e.g. the control plane's CA).
  std::string ca_file;
  // Skips certificate and host name checks. For tests and first contact only.
  bool insecure_skip_verify = false;
  size_t max_response_bytes = size_t{16} * 1024 * 1024;
  // An IP address to connect to instead of resolving the URL's host (curl's
  // --resolve): Host, SNI and the certificate check still use the host. For
  // a VPN client whose DNS only works through a tunnel that may be down.
  std::string connect_to;
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  // Case-insensitive; empty if absent.
  [[nodiscard]] std::string_view header(std::string_view name) const;
};

using ClientHeaders = std::vector<std::pair<std::string, std::string>>;

class Client {
 public:
  // base_url: "http://host[:port][/prefix]" or "https://...". A bad URL is
  // reported by every request() as kInvalidArgument.
  explicit Client(const std::string& base_url, ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Sends `method` to base_url + path (path starts with '/' and may carry a
  // query). Content-Type defaults to application/json when a body is given.
  // kUnavailable when the server cannot be reached, the TLS handshake or
  // certificate check fails, the deadline passes or the answer is malformed;
  // kResourceExhausted if the answer exceeds max_response_bytes. Any HTTP
  // status, 4xx and 5xx included, is a successful result. Safe to call from
  // several threads at once. A stop requested on `stop` abandons the request
  // at once with kCancelled (for long-polls that must not hold a shutdown).
  core::Result<ClientResponse> request(std::string_view method, std::string_view path,
                                       std::string_view body = {},
                                       const ClientHeaders& headers = {},
                                       std::stop_token stop = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::http
