// A small Redis client over hiredis (DESIGN.md section 9): the optional layer
// that lets gateways share rate limits and a node-list cache, and lets any
// process wake node long-polls on every control instance.
//
// Redis is never required: every caller has a local fallback, so the client
// is built to fail fast. Commands run on a few blocking connections with a
// short timeout; after any I/O error the client stops using Redis at once
// (commands return kUnavailable without touching the network) and its own
// thread reconnects with back-off. So a request thread waits at most one
// command timeout when Redis dies, and not at all while it stays down.
// hiredis stays inside client.cc and subscriber.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/result.h"

namespace aureo::redis {

class Telemetry;

// redis://[[user]:password@]host[:port][/db]; host may be [v6]. Port
// defaults to 6379 and db to 0.
struct Endpoint {
  std::string host;
  uint16_t port = 6379;
  int db = 0;
  std::string user;
  std::string password;
  // The URL without its password, for logs.
  [[nodiscard]] std::string redacted() const;
};
core::Result<Endpoint> parseUrl(std::string_view url);

struct ClientOptions {
  Endpoint endpoint;
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds command_timeout{200};
  size_t connections = 4;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // CLIENT SETNAME on every connection, so `CLIENT LIST` shows who is who.
  std::string client_name;
};

// A reply without hiredis types. Error replies never become a Reply: they
// are returned as core::Error (kFailedPrecondition, the server's message).
struct Reply {
  enum class Type { kNil, kInteger, kString, kStatus, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // kString and kStatus
  std::vector<Reply> elements;
  [[nodiscard]] bool isNil() const { return type == Type::kNil; }
};

// A Lua script run by EVALSHA, falling back to EVAL (which also caches it on
// the server) when the server answers NOSCRIPT, e.g. after a restart.
struct Script {
  explicit Script(std::string source);
  std::string source;
  std::string sha1;  // lowercase hex
};

class Client {
 public:
  // Starts the reconnect thread and makes one connection attempt before
  // returning, so a process started next to a live Redis shares from its
  // first request. A failed attempt is no error: the client keeps trying.
  // `telemetry` may be null; it and `log` must outlive the client.
  Client(ClientOptions options, const core::Logger& log, Telemetry* telemetry);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs one command. kUnavailable when Redis is down or the connection
  // failed during the call (the caller falls back); kFailedPrecondition for
  // an error reply. Blocks for at most the command timeout. Safe from any
  // thread.
  core::Result<Reply> command(const std::vector<std::string>& args);
  core::Result<Reply> eval(const Script& script, const std::vector<std::string>& keys,
                           const std::vector<std::string>& args);

  // Whether commands are currently sent to Redis. Safe from any thread.
  [[nodiscard]] bool healthy() const;
  [[nodiscard]] const Endpoint& endpoint() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::redis
