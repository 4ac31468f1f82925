// Wiring shared by the executables: the configuration schemas of the
// gateway and the control server, and the objects each builds from its
// configuration. aureo-gateway and aureo-control use one each; aureo-server
// (all-in-one) uses both in one process, on one store and one SessionService.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "control/leader.h"
#include "control/loops.h"
#include "control/node_api.h"
#include "control/notifier.h"
#include "control/openvpn_authority.h"
#include "control/periodic_task.h"
#include "control/session_service.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/result.h"
#include "core/worker_pool.h"
#include "http/metrics.h"
#include "http/rate_limit.h"
#include "http/server.h"
#include "redis/layer.h"
#include "store/store.h"

namespace aureo::api {
class Gateway;
}

namespace aureo::wiring {

// "host:port" check for schema validators.
std::optional<std::string> validListen(const std::string& v);
std::optional<std::string> validDatabase(const std::string& v);
// Empty or a redis:// URL.
std::optional<std::string> validRedis(const std::string& v);

// Options the gateway reads (server.*, database.*, auth.*, ratelimit.*,
// sessions.limit_*, ...).
core::ConfigSchema gatewaySchema();
// Options the control server reads. Its HTTP server options live under
// `server_prefix` ("server" for aureo-control, "control" in the all-in-one
// binary, where "server" is the gateway's), and its listen flag is
// `listen_flag`. Database and log options are the gateway's too; skip_shared
// leaves them out so the two schemas can be merged.
core::ConfigSchema controlSchema(const std::string& server_prefix, const std::string& listen_flag,
                                 bool skip_shared);

// Server options (listen, threads, limits, TLS) read from `<prefix>.*`.
core::Result<http::ServerOptions> serverOptions(const core::Config& cfg, const std::string& prefix,
                                                const std::string& service_name);
// "http://127.0.0.1:8080" for a started server.
std::string serverUrl(const http::ServerOptions& options, uint16_t port);

// Device limits (sessions.limit_*) and, when present, the session timeouts.
// What every process that creates, ends or accounts sessions opens first,
// in this order: the store, the session policy, the optional Redis layer and
// the OpenVPN authority (null when openvpn.enabled is false).
struct SessionDeps {
  std::unique_ptr<store::Store> store;
  control::SessionPolicy policy;
  std::unique_ptr<redis::Layer> redis;
  std::unique_ptr<control::OpenVpnAuthority> openvpn;
};
// `process` names this process in Redis's CLIENT LIST.
core::Result<SessionDeps> openSessionDeps(const core::Config& cfg, const std::string& process,
                                          const core::Clock& clock, const core::Logger& log,
                                          http::Metrics& metrics);

core::Result<control::SessionPolicy> sessionPolicy(const core::Config& cfg);

// The OpenVPN PKI holder (openvpn.*, secrets.master_key, data_dir), its CA
// opened or created; null when openvpn.enabled is false.
core::Result<std::unique_ptr<control::OpenVpnAuthority>> openVpnAuthority(const core::Config& cfg,
                                                                          store::Store& store,
                                                                          const core::Clock& clock,
                                                                          const core::Logger& log);

core::Result<std::unique_ptr<store::Store>> openStore(const core::Config& cfg,
                                                      http::Metrics& metrics);

// The Redis layer from redis.*, or null when redis.url is empty. A Redis
// that is down is no error: the process starts and uses it once it answers.
// `client_name` shows in CLIENT LIST. `log` and `metrics` must outlive it.
core::Result<std::unique_ptr<redis::Layer>> openRedis(const core::Config& cfg,
                                                      const std::string& client_name,
                                                      const core::Logger& log,
                                                      http::Metrics& metrics);
// The SessionService listener of a process: wakes the long-polls it holds
// (notifier may be null: a gateway holds none) and tells every other
// process through Redis (redis may be null).
control::SessionService::PeerChangeListener peerChangeListener(control::PeerNotifier* notifier,
                                                               redis::Layer* redis);

// The gateway's routes and what they need: JWT secret, Argon2id pool, rate
// limiters. The admin account is created on first start. With `redis` (may
// be null; must outlive the stack) rate limits and the node-list cache are
// shared with the other gateways.
class GatewayStack {
 public:
  static core::Result<std::unique_ptr<GatewayStack>> build(
      const core::Config& cfg, store::Store& store, control::SessionService& sessions,
      const core::Clock& clock, const core::Logger& log, http::Metrics& metrics,
      redis::Layer* redis = nullptr);
  ~GatewayStack();
  void addRoutes(http::Router& router);
  // The password of the admin created on this start, to show once.
  [[nodiscard]] const std::optional<std::string>& newAdminPassword() const {
    return admin_password_;
  }
  // Call after the server stopped and before it is destroyed: a queued job
  // must not post into a destroyed io_context (see http/offload.h).
  void stopWorkers() {
    hash_pool_.reset();
    write_pool_.reset();
  }

 private:
  GatewayStack() = default;
  std::optional<std::string> admin_password_;
  std::unique_ptr<core::WorkerPool> hash_pool_;
  std::unique_ptr<core::WorkerPool> write_pool_;  // session creates and deletes
  std::unique_ptr<http::RateLimiter> ip_limiter_, account_limiter_, auth_limiter_, login_limiter_;
  std::unique_ptr<api::Gateway> gateway_;
};

// Leader election, the loops, the version watcher and the node API. With
// `redis` (may be null; must outlive the stack) peer changes published by
// any process wake this instance's long-polls at once; the version watcher
// stays as the fallback.
class ControlStack {
 public:
  static core::Result<std::unique_ptr<ControlStack>> build(
      const core::Config& cfg, store::Store& store, control::SessionService& sessions,
      control::PeerNotifier& notifier, const core::Clock& clock, const core::Logger& log,
      http::Metrics& metrics, redis::Layer* redis = nullptr);
  ~ControlStack();
  void addRoutes(http::Router& router);
  // How long a handler may run: long-polls wait up to the API's max wait.
  [[nodiscard]] std::chrono::seconds maxWait() const { return api_config_.max_wait; }
  [[nodiscard]] const std::string& instanceId() const { return instance_id_; }
  void start();
  // Stops the loops and resigns the lease, so another instance takes over
  // at once.
  void stop();

 private:
  ControlStack() = default;
  store::Store* store_ = nullptr;
  control::PeerNotifier* notifier_ = nullptr;
  const core::Logger* log_ = nullptr;
  std::string instance_id_;
  int64_t poll_ms_ = 300;
  control::NodeApiConfig api_config_;
  std::unique_ptr<control::LeaderElector> elector_;
  std::unique_ptr<control::ControlLoops> loops_;
  std::unique_ptr<control::NodeApi> node_api_;
  http::Metrics* metrics_ = nullptr;
  const core::Clock* clock_ = nullptr;
  control::RealSleeper sleeper_;
  std::unique_ptr<control::PeriodicTask> leader_task_;
  std::unique_ptr<control::VersionWatcher> watcher_;
  redis::Layer* redis_ = nullptr;
  std::unique_ptr<redis::Subscriber> subscriber_;
  bool started_ = false;
};

}  // namespace aureo::wiring
