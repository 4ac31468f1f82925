// The public REST API (DESIGN.md section 5): auth, the user's own account,
// node discovery, sessions, admin, health and metrics. Handlers depend only
// on the store interfaces, so the same gateway runs on SQLite and PostgreSQL.
//
// Dependency note: api depends on control for the session logic (node
// choice, device limits, address allocation, wg-quick configs, ending
// sessions), so the gateway and aureo-control share one implementation of
// it. control never depends on api.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/log.h"
#include "core/worker_pool.h"
#include "crypto/password.h"

namespace aureo::store {
class Store;
}
namespace aureo::http {
class Router;
class Metrics;
class RateLimiter;
class SharedCache;
}  // namespace aureo::http

namespace aureo::control {
class SessionService;
}

namespace aureo::api {

struct GatewayConfig {
  std::string jwt_secret;  // >= 32 bytes
  std::string issuer = "aureo-vpn";
  std::string audience = "aureo-vpn-api";
  std::chrono::seconds access_ttl{15 * 60};
  std::chrono::seconds refresh_ttl{7 * 24 * 3600};
  crypto::Argon2Params argon2;
  bool allow_registration = true;
  // How long a node list answer may be served from memory; 0 disables.
  std::chrono::milliseconds node_list_ttl{1000};
  // When set (Redis), node list answers are cached there instead, shared by
  // every gateway, and an admin node change clears them everywhere; the
  // in-memory cache takes over while it is unavailable. Must outlive the
  // gateway.
  http::SharedCache* shared_node_list = nullptr;
  // Lifetime of the one-time node enrollment tokens the admin API issues.
  std::chrono::seconds enrollment_ttl{24 * 3600};
  // How long POST /api/v1/sessions waits for the node to report the new peer
  // applied before answering (so the client's first handshake is not
  // dropped); 0 answers at once. The answer says which happened.
  std::chrono::milliseconds peer_ready_timeout{3000};
};

// Token buckets, each keyed by client IP or account. Any may be shared with
// other gateways (Redis) or local; none may be null.
struct RateLimiters {
  http::RateLimiter* per_ip = nullptr;             // every request
  http::RateLimiter* per_account = nullptr;        // every authenticated request
  http::RateLimiter* auth_per_ip = nullptr;        // login, register, refresh
  http::RateLimiter* login_per_account = nullptr;  // login attempts per email
};

class Gateway {
 public:
  // hash_pool runs Argon2id; when its queue is full logins get 503 at once.
  // write_pool, when given, runs session creation and deletion (several
  // database writes each, which may wait for the write lock) off the I/O
  // threads, so reads stay fast while writes queue; it must be stopped
  // before the server is destroyed, like hash_pool.
  // sessions must outlive the gateway.
  Gateway(GatewayConfig config, store::Store& store, control::SessionService& sessions,
          const core::Clock& clock, const core::Logger& log, http::Metrics& metrics,
          core::WorkerPool& hash_pool, RateLimiters limiters,
          core::WorkerPool* write_pool = nullptr);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Registers every route. The gateway must outlive the server using them.
  void addRoutes(http::Router& router);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::api
