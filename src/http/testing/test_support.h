// Test helpers for the http module: a real Server on a loopback port in its
// own thread, and plain POSIX sockets to talk to it byte by byte.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/log.h"
#include "http/server.h"

namespace aureo::http::testing {

// Starts the server on construction, stops and joins on destruction.
class ServerHarness {
 public:
  ServerHarness(ServerOptions options, Router router, Metrics* metrics = nullptr)
      : log_("test", core::LogLevel::kDebug,
             [this](std::string_view line) {
               std::lock_guard lock(mu_);
               lines_.emplace_back(line);
             }),
        server_(withLoopback(std::move(options)), std::move(router), log_, metrics) {
    auto status = server_.start();
    if (!status.ok())
      throw std::runtime_error("server did not start: " + status.error().toString());
    thread_ = std::thread([this] { server_.run(); });
  }
  ~ServerHarness() { stopAndJoin(); }

  void stopAndJoin() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

  [[nodiscard]] uint16_t port() const { return server_.port(); }
  [[nodiscard]] std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(port()); }
  Server& server() { return server_; }

  [[nodiscard]] std::vector<std::string> logLines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  static ServerOptions withLoopback(ServerOptions options) {
    options.host = "127.0.0.1";
    options.port = 0;
    return options;
  }

  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  core::Logger log_;
  Server server_;
  std::thread thread_;
};

// A blocking TCP client socket with generous receive/send timeouts, so a
// broken server fails the test instead of hanging it.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    timeval tv{};
    tv.tv_sec = 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error(std::string("connect failed: ") + std::strerror(errno));
    }
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  // False if the peer has closed (EPIPE/ECONNRESET).
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response: the header, then Content-Length bytes of body (none
  // for HEAD requests when head is true). Empty if the peer closed first.
  std::string readResponse(bool head = false) {
    size_t header_end;
    while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return {};
    }
    header_end += 4;
    size_t length = 0;
    const std::string lower = lowered(pending_.substr(0, header_end));
    if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos && !head) {
      length = std::stoul(lower.substr(at + 17));
    }
    while (pending_.size() < header_end + length) {
      if (!fill()) break;
    }
    std::string out = pending_.substr(0, header_end + length);
    pending_.erase(0, out.size());
    return out;
  }

  // True once the peer has closed the connection (orderly or by reset);
  // false if it sends data instead.
  bool waitForClose() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
    return false;
  }

  // Non-blocking: has the peer closed already?
  bool closedByPeer() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n == 0) return true;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
  }

  [[nodiscard]] int fd() const { return fd_; }

 private:
  static std::string lowered(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  bool fill() {
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
};

struct ParsedResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

inline ParsedResponse parseResponse(const std::string& raw) {
  ParsedResponse out;
  if (raw.size() < 12) return out;
  out.status = std::stoi(raw.substr(9, 3));
  size_t end = raw.find("\r\n\r\n");
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out.headers[name] = value;
    pos = eol + 2;
  }
  out.body = raw.substr(end + 4);
  return out;
}

}  // namespace aureo::http::testing
