#include "wiring.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <thread>

#include "api/bootstrap.h"
#include "api/gateway.h"
#include "control/status_routes.h"
#include "core/ip.h"
#include "crypto/encoding.h"

namespace aureo::wiring {
namespace {

using core::ConfigType;

std::optional<std::string> positive(const std::string& v) {
  auto d = core::parseDuration(v);
  if (!d || d->count() < 1) return "must be a duration of at least 1s, e.g. 30s, 15m, 1h";
  return std::nullopt;
}

std::string defaultInstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "control") + "-" + std::to_string(getpid()) + "-" +
         crypto::randomToken(4);
}

size_t threadsOr(int64_t configured) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return configured > 0 ? static_cast<size_t>(configured) : cores;
}

}  // namespace

std::optional<std::string> validListen(const std::string& v) {
  if (!core::parseHostPort(v)) return "must be HOST:PORT, e.g. 127.0.0.1:8080 or [::]:8443";
  return std::nullopt;
}

std::optional<std::string> validRedis(const std::string& v) {
  if (v.empty()) return std::nullopt;
  if (auto e = redis::parseUrl(v); !e.ok()) return e.error().message;
  return std::nullopt;
}

std::optional<std::string> validDatabase(const std::string& v) {
  if (v.starts_with("sqlite:") && v.size() > 7) return std::nullopt;
  if (v.starts_with("postgres://") || v.starts_with("postgresql://")) return std::nullopt;
  return "must be sqlite:PATH or postgres://...";
}

namespace {

// Read by the gateway (what configs say) and by control (what nodes run);
// in the all-in-one binary it appears once.
constexpr const char* kDnsResolverHelp =
    "Client configs use the node's own DNS resolver (its tunnel gateway address), which nodes "
    "run forwarding to their dns_servers; false: configs list the dns_servers themselves";

// Options every server reads; in the all-in-one binary they appear once.
void addRedisOptions(core::ConfigSchema& s) {
  s.push_back({"redis.url", ConfigType::kString, "",
               "redis://[:password@]host:port/db shared by gateways and control instances "
               "(rate limits, node-list cache, long-poll wake-ups); empty: no Redis",
               "--redis", validRedis});
  s.push_back({"redis.prefix", ConfigType::kString, "aureo:",
               "Prefix of every Redis key and channel (one per deployment)", "", nullptr});
  s.push_back({"redis.timeout_ms", ConfigType::kInt, "200",
               "Redis connect and command timeout; past it a call uses its local fallback", "",
               nullptr});
}

}  // namespace

std::optional<std::string> validReplica(const std::string& v) {
  if (v.empty() || v.starts_with("postgres://") || v.starts_with("postgresql://")) {
    return std::nullopt;
  }
  return "must be empty or postgres://...";
}

std::optional<std::string> validPoolSize(const std::string& v) {
  int n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc() && end == v.data() + v.size() && n >= 1 && n <= 1000) return std::nullopt;
  return "must be a whole number from 1 to 1000";
}

namespace {

// Monthly data quotas: checked where sessions are created (gateways) and
// where usage is accounted (control), so both read them.
void addQuotaOptions(core::ConfigSchema& s) {
  for (const char* tier : {"free", "basic", "premium", "enterprise"}) {
    s.push_back(
        {std::string("sessions.quota_gib_") + tier, ConfigType::kInt, "0",
         std::string("Monthly data per account on the ") + tier + " tier, GiB (0: unlimited)", "",
         nullptr});
  }
}

}  // namespace

core::ConfigSchema gatewaySchema() {
  core::ConfigSchema s = {
      {"server.listen", ConfigType::kString, "127.0.0.1:8080", "Address the API listens on",
       "--listen", validListen},
      {"server.threads", ConfigType::kInt, "0", "I/O threads (0: one per core)", "", nullptr},
      {"server.max_connections", ConfigType::kInt, "4096", "Concurrent connection cap", "",
       nullptr},
      {"server.max_body_bytes", ConfigType::kInt, "1048576", "Largest request body accepted", "",
       nullptr},
      {"server.tls_cert", ConfigType::kString, "",
       "PEM certificate chain; with tls_key enables HTTPS", "--tls-cert", nullptr},
      {"server.tls_key", ConfigType::kString, "", "PEM private key", "--tls-key", nullptr},
      {"database.url", ConfigType::kString, "sqlite:data/aureo.db", "sqlite:PATH or postgres://...",
       "--database", validDatabase},
      {"database.pool_size", ConfigType::kInt, "8", "Database connections", "", validPoolSize},
      {"database.replica_url", ConfigType::kString, "",
       "PostgreSQL read replica for list and statistics queries (empty: none)", "", validReplica},
      {"database.acquire_timeout", ConfigType::kDuration, "10s",
       "Longest wait for a free pooled connection before answering 503", "", positive},
      {"database.statement_timeout", ConfigType::kDuration, "10s",
       "PostgreSQL cancels statements running longer (0: no limit)", "", nullptr},
      {"data_dir", ConfigType::kString, "data", "Folder for generated secrets", "--data-dir",
       nullptr},
      {"log.level", ConfigType::kString, "info", "debug, info, warn or error", "--log-level",
       nullptr},
      {"secrets.master_key", ConfigType::kString, "",
       "32 bytes in base64 sealing secrets at rest (the OpenVPN CA); default: generated into "
       "DATA_DIR/master.key. Gateways and control instances must share it",
       "", nullptr},
      {"openvpn.enabled", ConfigType::kBool, "true", "Issue OpenVPN sessions and node certificates",
       "", nullptr},
      {"auth.jwt_secret", ConfigType::kString, "",
       "HS256 secret (>= 32 chars); default: generated into DATA_DIR/jwt.secret", "", nullptr},
      {"auth.access_ttl", ConfigType::kDuration, "15m", "Access token lifetime", "", nullptr},
      {"auth.refresh_ttl", ConfigType::kDuration, "7d", "Refresh token lifetime", "", nullptr},
      {"auth.allow_registration", ConfigType::kBool, "true", "Whether anyone may register", "",
       nullptr},
      {"auth.argon2_memory_kib", ConfigType::kInt, "19456", "Argon2id memory in KiB (>= 19456)", "",
       nullptr},
      {"auth.argon2_iterations", ConfigType::kInt, "2", "Argon2id passes (>= 2)", "", nullptr},
      {"auth.hash_workers", ConfigType::kInt, "0",
       "Argon2id threads (0: half the cores, at least 1)", "", nullptr},
      {"auth.hash_queue", ConfigType::kInt, "64",
       "Argon2id jobs allowed to wait; beyond it logins get 503", "", nullptr},
      {"admin.email", ConfigType::kString, "admin@aureo.local",
       "Email of the admin created on first start", "--admin-email", nullptr},
      {"ratelimit.ip_rate", ConfigType::kInt, "50", "Requests per second per client IP", "",
       nullptr},
      {"ratelimit.ip_burst", ConfigType::kInt, "200", "Burst per client IP", "", nullptr},
      {"ratelimit.account_rate", ConfigType::kInt, "20", "Requests per second per account", "",
       nullptr},
      {"ratelimit.account_burst", ConfigType::kInt, "100", "Burst per account", "", nullptr},
      {"ratelimit.auth_per_minute", ConfigType::kInt, "10",
       "Login/register/refresh attempts per minute per IP", "", nullptr},
      {"ratelimit.auth_burst", ConfigType::kInt, "10", "Burst of auth attempts per IP", "",
       nullptr},
      {"ratelimit.login_per_minute", ConfigType::kInt, "5", "Login attempts per minute per account",
       "", nullptr},
      {"sessions.limit_free", ConfigType::kInt, "1", "Concurrent sessions on the free tier", "",
       nullptr},
      {"sessions.limit_basic", ConfigType::kInt, "3", "Concurrent sessions on the basic tier", "",
       nullptr},
      {"sessions.limit_premium", ConfigType::kInt, "5", "Concurrent sessions on the premium tier",
       "", nullptr},
      {"sessions.limit_enterprise", ConfigType::kInt, "10",
       "Concurrent sessions on the enterprise tier", "", nullptr},

      {"nodes.enrollment_ttl", ConfigType::kDuration, "24h",
       "How long a node enrollment token stays valid", "", nullptr},
      {"api.node_list_cache", ConfigType::kDuration, "1s",
       "How long a node list answer is reused (0: never); shared through Redis if set", "",
       nullptr},
      {"nodes.dns_resolver", ConfigType::kBool, "true", kDnsResolverHelp, "", nullptr},
      {"sessions.peer_ready_timeout", ConfigType::kDuration, "3s",
       "How long POST /api/v1/sessions waits for the node to add the peer (0: no wait)", "",
       nullptr},
  };
  addRedisOptions(s);
  addQuotaOptions(s);
  return s;
}

core::ConfigSchema controlSchema(const std::string& p, const std::string& listen_flag,
                                 bool skip_shared) {
  core::ConfigSchema s{
      {p + ".listen", ConfigType::kString, "127.0.0.1:8090",
       "Address the node API and status endpoints listen on", listen_flag, validListen},
      {p + ".threads", ConfigType::kInt, "0", "I/O threads (0: one per core)", "", nullptr},
      {p + ".max_connections", ConfigType::kInt, "16384",
       "Concurrent connection cap (each node keeps a long-poll open)", "", nullptr},
      {p + ".max_body_bytes", ConfigType::kInt, "33554432",
       "Largest request body (session reports of big nodes)", "", nullptr},
      {p + ".tls_cert", ConfigType::kString, "", "PEM certificate chain; with tls_key: HTTPS",
       p == "server" ? "--tls-cert" : "", nullptr},
      {p + ".tls_key", ConfigType::kString, "", "PEM private key", p == "server" ? "--tls-key" : "",
       nullptr},
      {"control.instance_id", ConfigType::kString, "",
       "Name of this instance in the lease (default: host, pid and a random part)", "", nullptr},
      {"leader.lease_period", ConfigType::kDuration, "15s",
       "Leader lease; renewed every third of it, taken over after it lapses", "--lease-period",
       positive},
      {"loops.health_interval", ConfigType::kDuration, "60s", "Health check cadence", "", positive},
      {"loops.missed_heartbeats", ConfigType::kInt, "3",
       "Heartbeat intervals without a heartbeat before a node goes offline", "", nullptr},
      {"loops.load_interval", ConfigType::kDuration, "30s", "Load balancer cadence", "", positive},
      {"loops.cleanup_interval", ConfigType::kDuration, "1h", "Cleanup cadence", "", positive},
      {"loops.stats_interval", ConfigType::kDuration, "15s", "Node gauge refresh cadence", "",
       positive},
      {"loops.session_retention", ConfigType::kDuration, "30d",
       "How long closed sessions are kept (no client IPs are kept at all)", "", positive},
      {"loops.node_link_mbps", ConfigType::kInt, "1000",
       "Link speed a node's throughput is measured against in its load score", "", nullptr},
      {"nodes.heartbeat_interval", ConfigType::kDuration, "30s", "Heartbeat cadence nodes are told",
       "", positive},
      {"nodes.report_interval", ConfigType::kDuration, "60s",
       "Session report cadence nodes are told", "", positive},
      {"nodes.long_poll_timeout", ConfigType::kDuration, "30s",
       "Desired-state wait nodes are told to ask for (at most 60s is honoured)", "", positive},
      {"nodes.version_poll_ms", ConfigType::kInt, "300",
       "How often peer versions changed by other processes are re-read while nodes wait "
       "(50..60000; with Redis only the fallback for missed wake-ups)",
       "", nullptr},
      {"sessions.pending_timeout", ConfigType::kDuration, "5m",
       "A session without a handshake this long after creation ends", "", positive},
      {"sessions.handshake_timeout", ConfigType::kDuration, "10m",
       "A session whose last handshake is older than this ends", "", positive},
  };
  if (!skip_shared) {
    s.push_back({"database.url", ConfigType::kString, "sqlite:data/aureo.db",
                 "sqlite:PATH or postgres://...", "--database", validDatabase});
    s.push_back({"nodes.dns_resolver", ConfigType::kBool, "true", kDnsResolverHelp, "", nullptr});
    s.push_back(
        {"database.pool_size", ConfigType::kInt, "8", "Database connections", "", validPoolSize});
    s.push_back({"database.replica_url", ConfigType::kString, "",
                 "PostgreSQL read replica for list and statistics queries (empty: none)", "",
                 validReplica});
    s.push_back({"database.acquire_timeout", ConfigType::kDuration, "10s",
                 "Longest wait for a free pooled connection before answering 503", "", positive});
    s.push_back({"database.statement_timeout", ConfigType::kDuration, "10s",
                 "PostgreSQL cancels statements running longer (0: no limit)", "", nullptr});
    s.push_back({"log.level", ConfigType::kString, "info", "debug, info, warn or error",
                 "--log-level", nullptr});
    addRedisOptions(s);
    addQuotaOptions(s);
    s.push_back({"data_dir", ConfigType::kString, "data", "Folder for generated secrets",
                 "--data-dir", nullptr});
    s.push_back({"secrets.master_key", ConfigType::kString, "",
                 "32 bytes in base64 sealing secrets at rest (the OpenVPN CA); default: generated "
                 "into DATA_DIR/master.key. Gateways and control instances must share it",
                 "", nullptr});
    s.push_back({"openvpn.enabled", ConfigType::kBool, "true",
                 "Issue OpenVPN sessions and node certificates", "", nullptr});
  }
  return s;
}

core::Result<std::unique_ptr<control::OpenVpnAuthority>> openVpnAuthority(const core::Config& cfg,
                                                                          store::Store& store,
                                                                          const core::Clock& clock,
                                                                          const core::Logger& log) {
  if (!cfg.getBool("openvpn.enabled")) return std::unique_ptr<control::OpenVpnAuthority>();
  std::string text = cfg.getString("secrets.master_key");
  if (text.empty()) {
    const std::string path = cfg.getString("data_dir") + "/master.key";
    AUREO_ASSIGN_OR_RETURN(auto token, api::loadOrCreateSecretFile(path, 32));
    auto raw = crypto::base64UrlDecode(token);
    if (!raw || raw->size() != crypto::MasterKey::size()) {
      return core::failedPrecondition(path + " must hold the 32-byte key it was generated with");
    }
    text = crypto::base64Encode(*raw);
  }
  auto key = crypto::parseMasterKey(text);
  if (!key.ok())
    return core::invalidArgument("invalid value for 'secrets.master_key': " + key.error().message);
  auto authority = std::make_unique<control::OpenVpnAuthority>(store, std::move(*key), clock, log);
  // Opens (or creates) the CA now: a wrong master key is a start-up error,
  // not a failure of the first OpenVPN session.
  if (auto m = authority->material(); !m.ok()) return m.error();
  return authority;
}

core::Result<http::ServerOptions> serverOptions(const core::Config& cfg, const std::string& p,
                                                const std::string& service_name) {
  const auto listen = *core::parseHostPort(cfg.getString(p + ".listen"));
  http::ServerOptions so;
  so.host = listen.host;
  so.port = listen.port;
  so.threads = threadsOr(cfg.getInt(p + ".threads"));
  so.max_connections = static_cast<size_t>(cfg.getInt(p + ".max_connections"));
  so.max_body_bytes = static_cast<size_t>(cfg.getInt(p + ".max_body_bytes"));
  so.tls_cert_file = cfg.getString(p + ".tls_cert");
  so.tls_key_file = cfg.getString(p + ".tls_key");
  so.service_name = service_name;
  if (so.tls_cert_file.empty() != so.tls_key_file.empty()) {
    return core::invalidArgument(p + ".tls_cert and " + p + ".tls_key must be set together");
  }
  return so;
}

std::string serverUrl(const http::ServerOptions& so, uint16_t port) {
  const std::string scheme = so.tls_cert_file.empty() ? "http" : "https";
  const std::string host = so.host.find(':') != std::string::npos ? "[" + so.host + "]" : so.host;
  return scheme + "://" + host + ":" + std::to_string(port);
}

core::Result<SessionDeps> openSessionDeps(const core::Config& cfg, const std::string& process,
                                          const core::Clock& clock, const core::Logger& log,
                                          http::Metrics& metrics) {
  SessionDeps d;
  AUREO_ASSIGN_OR_RETURN(d.store, openStore(cfg, metrics));
  AUREO_ASSIGN_OR_RETURN(d.policy, sessionPolicy(cfg));
  AUREO_ASSIGN_OR_RETURN(d.redis, openRedis(cfg, process, log, metrics));
  AUREO_ASSIGN_OR_RETURN(d.openvpn, openVpnAuthority(cfg, *d.store, clock, log));
  return d;
}

core::Result<control::SessionPolicy> sessionPolicy(const core::Config& cfg) {
  control::SessionPolicy policy;
  for (const char* tier : {"free", "basic", "premium", "enterprise"}) {
    const std::string key = std::string("sessions.limit_") + tier;
    if (!cfg.has(key)) continue;
    const int64_t limit = cfg.getInt(key);
    if (limit < 1) return core::invalidArgument(key + " must be at least 1");
    policy.device_limits[tier] = limit;
  }
  if (cfg.has("sessions.pending_timeout")) {
    policy.pending_timeout = cfg.getDuration("sessions.pending_timeout");
  }
  if (cfg.has("nodes.dns_resolver")) policy.node_dns_resolver = cfg.getBool("nodes.dns_resolver");
  for (const char* tier : {"free", "basic", "premium", "enterprise"}) {
    const std::string key = std::string("sessions.quota_gib_") + tier;
    if (!cfg.has(key)) continue;
    const int64_t gib = cfg.getInt(key);
    if (gib < 0 || gib > (int64_t{1} << 30)) {
      return core::invalidArgument(key + " must be between 0 (unlimited) and 2^30 GiB");
    }
    policy.monthly_quota_bytes[tier] = gib << 30;
  }
  if (cfg.has("sessions.handshake_timeout")) {
    policy.handshake_timeout = cfg.getDuration("sessions.handshake_timeout");
  }
  return policy;
}

core::Result<std::unique_ptr<store::Store>> openStore(const core::Config& cfg,
                                                      http::Metrics& metrics) {
  store::StoreOptions options;
  options.url = cfg.getString("database.url");
  options.pool_size = static_cast<int>(cfg.getInt("database.pool_size"));
  options.replica_url = cfg.getString("database.replica_url");
  options.acquire_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      cfg.getDuration("database.acquire_timeout"));
  options.statement_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      cfg.getDuration("database.statement_timeout"));
  options.observer = metrics.databaseObserver();
  auto store = store::openStore(options);
  if (!store.ok()) return core::unavailable("cannot open database: " + store.error().message);
  return std::move(*store);
}

core::Result<std::unique_ptr<redis::Layer>> openRedis(const core::Config& cfg,
                                                      const std::string& client_name,
                                                      const core::Logger& log,
                                                      http::Metrics& metrics) {
  redis::LayerOptions options;
  options.url = cfg.getString("redis.url");
  if (options.url.empty()) return std::unique_ptr<redis::Layer>();
  options.prefix = cfg.getString("redis.prefix");
  const int64_t timeout = cfg.getInt("redis.timeout_ms");
  if (timeout < 1 || timeout > 10'000) {
    return core::invalidArgument("redis.timeout_ms must be 1..10000");
  }
  options.timeout = std::chrono::milliseconds(timeout);
  options.client_name = client_name;
  auto layer = redis::Layer::create(options, log, &metrics.registry());
  if (!layer.ok()) return core::invalidArgument("redis.url: " + layer.error().message);
  return std::move(*layer);
}

control::SessionService::PeerChangeListener peerChangeListener(control::PeerNotifier* notifier,
                                                               redis::Layer* redis) {
  return [notifier, redis](const std::string& node_id) {
    if (notifier != nullptr) notifier->notify(node_id);
    if (redis != nullptr) redis->publishPeerChange(node_id);
  };
}

// ---- GatewayStack -------------------------------------------------------------

GatewayStack::~GatewayStack() = default;

core::Result<std::unique_ptr<GatewayStack>> GatewayStack::build(
    const core::Config& cfg, store::Store& store, control::SessionService& sessions,
    const core::Clock& clock, const core::Logger& log, http::Metrics& metrics,
    redis::Layer* redis) {
  std::unique_ptr<GatewayStack> g(new GatewayStack());
  const std::string data_dir = cfg.getString("data_dir");
  crypto::Argon2Params argon2;
  argon2.memory_kib = static_cast<uint32_t>(cfg.getInt("auth.argon2_memory_kib"));
  argon2.iterations = static_cast<uint32_t>(cfg.getInt("auth.argon2_iterations"));
  if (argon2.memory_kib < 19456 || argon2.iterations < 2) {
    return core::invalidArgument(
        "auth.argon2_memory_kib must be >= 19456 and auth.argon2_iterations >= 2");
  }
  std::string jwt_secret = cfg.getString("auth.jwt_secret");
  if (jwt_secret.empty()) {
    AUREO_ASSIGN_OR_RETURN(jwt_secret, api::loadOrCreateSecretFile(data_dir + "/jwt.secret", 48));
  } else if (jwt_secret.size() < 32) {
    return core::invalidArgument(
        "invalid value for 'auth.jwt_secret': must be at least 32 characters");
  }
  auto admin = api::ensureAdmin(store, clock, cfg.getString("admin.email"), argon2);
  if (!admin.ok()) {
    return core::Error{
        admin.error().code, "cannot create the admin account: " + admin.error().message, {}};
  }
  g->admin_password_ = *admin;

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  size_t hash_workers = static_cast<size_t>(cfg.getInt("auth.hash_workers"));
  if (hash_workers == 0) hash_workers = std::max(1u, cores / 2);
  g->hash_pool_ = std::make_unique<core::WorkerPool>(
      hash_workers, static_cast<size_t>(cfg.getInt("auth.hash_queue")));
  // Session writes wait for the database's write lock: two threads keep
  // that wait off the I/O threads; beyond 1024 queued connects answer 503.
  g->write_pool_ = std::make_unique<core::WorkerPool>(2, 1024);

  // With Redis each limiter shares its buckets with the other gateways and
  // keeps a local one of the same shape for when Redis is unavailable.
  auto limiter = [&](const char* name, const char* rate, const char* burst,
                     double per) -> std::unique_ptr<http::RateLimiter> {
    const double r = static_cast<double>(cfg.getInt(rate)) / per;
    const double b = static_cast<double>(cfg.getInt(burst));
    auto local = std::make_unique<http::LocalRateLimiter>(r, b, clock);
    if (redis == nullptr) return local;
    return redis->rateLimiter(name, r, b, std::move(local));
  };
  g->ip_limiter_ = limiter("ip", "ratelimit.ip_rate", "ratelimit.ip_burst", 1.0);
  g->account_limiter_ =
      limiter("account", "ratelimit.account_rate", "ratelimit.account_burst", 1.0);
  g->auth_limiter_ = limiter("auth", "ratelimit.auth_per_minute", "ratelimit.auth_burst", 60.0);
  g->login_limiter_ =
      limiter("login", "ratelimit.login_per_minute", "ratelimit.login_per_minute", 60.0);

  api::GatewayConfig gw;
  gw.jwt_secret = jwt_secret;
  gw.access_ttl = cfg.getDuration("auth.access_ttl");
  gw.refresh_ttl = cfg.getDuration("auth.refresh_ttl");
  gw.allow_registration = cfg.getBool("auth.allow_registration");
  gw.argon2 = argon2;
  gw.enrollment_ttl = cfg.getDuration("nodes.enrollment_ttl");
  gw.node_list_ttl =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.getDuration("api.node_list_cache"));
  gw.peer_ready_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      cfg.getDuration("sessions.peer_ready_timeout"));
  if (redis != nullptr) gw.shared_node_list = &redis->nodeListCache();
  g->gateway_ = std::make_unique<api::Gateway>(
      gw, store, sessions, clock, log, metrics, *g->hash_pool_,
      api::RateLimiters{g->ip_limiter_.get(), g->account_limiter_.get(), g->auth_limiter_.get(),
                        g->login_limiter_.get()},
      g->write_pool_.get());
  return g;
}

void GatewayStack::addRoutes(http::Router& router) {
  gateway_->addRoutes(router);
}

// ---- ControlStack -------------------------------------------------------------

ControlStack::~ControlStack() {
  stop();
}

core::Result<std::unique_ptr<ControlStack>> ControlStack::build(
    const core::Config& cfg, store::Store& store, control::SessionService& sessions,
    control::PeerNotifier& notifier, const core::Clock& clock, const core::Logger& log,
    http::Metrics& metrics, redis::Layer* redis) {
  if (cfg.getInt("loops.missed_heartbeats") < 1) {
    return core::invalidArgument("loops.missed_heartbeats must be at least 1");
  }
  std::unique_ptr<ControlStack> c(new ControlStack());
  c->poll_ms_ = cfg.getInt("nodes.version_poll_ms");
  if (c->poll_ms_ < 50 || c->poll_ms_ > 60000) {
    return core::invalidArgument("nodes.version_poll_ms must be 50..60000");
  }
  c->store_ = &store;
  c->redis_ = redis;
  c->notifier_ = &notifier;
  c->log_ = &log;
  c->metrics_ = &metrics;
  c->clock_ = &clock;
  c->instance_id_ = cfg.getString("control.instance_id");
  if (c->instance_id_.empty()) c->instance_id_ = defaultInstanceId();
  c->elector_ = std::make_unique<control::LeaderElector>(
      store.leases(), clock, log,
      control::LeaderOptions{"aureo-control", c->instance_id_,
                             std::chrono::duration_cast<std::chrono::milliseconds>(
                                 cfg.getDuration("leader.lease_period"))});

  control::LoopOptions lo;
  lo.health_interval = cfg.getDuration("loops.health_interval");
  lo.heartbeat_interval = cfg.getDuration("nodes.heartbeat_interval");
  lo.missed_heartbeats = static_cast<int>(cfg.getInt("loops.missed_heartbeats"));
  lo.load_interval = cfg.getDuration("loops.load_interval");
  lo.cleanup_interval = cfg.getDuration("loops.cleanup_interval");
  lo.stats_interval = cfg.getDuration("loops.stats_interval");
  lo.session_retention = cfg.getDuration("loops.session_retention");
  lo.node_link_bytes_per_second =
      static_cast<double>(cfg.getInt("loops.node_link_mbps")) * 1e6 / 8.0;
  c->loops_ = std::make_unique<control::ControlLoops>(store, sessions, clock, log, &metrics, lo);

  c->api_config_.heartbeat_interval = lo.heartbeat_interval;
  c->api_config_.report_interval = cfg.getDuration("nodes.report_interval");
  c->api_config_.long_poll_timeout =
      std::min(cfg.getDuration("nodes.long_poll_timeout"), c->api_config_.max_wait);
  if (cfg.has("nodes.dns_resolver"))
    c->api_config_.dns_resolver = cfg.getBool("nodes.dns_resolver");
  c->node_api_ =
      std::make_unique<control::NodeApi>(store, sessions, notifier, clock, log, c->api_config_);
  return c;
}

void ControlStack::addRoutes(http::Router& router) {
  node_api_->addRoutes(router);
  control::addStatusRoutes(router, *store_, *elector_, *metrics_, *clock_);
}

void ControlStack::start() {
  if (started_) return;
  started_ = true;
  auto* elector = elector_.get();
  leader_task_ = std::make_unique<control::PeriodicTask>(
      control::PeriodicOptions{"leader-election", elector->renewInterval(), 0.1,
                               elector->renewInterval(), true},
      [elector]() -> core::Status {
        auto leading = elector->tick();
        if (!leading.ok()) return leading.error();
        return core::okStatus();
      },
      sleeper_, *log_);
  leader_task_->start();
  loops_->start(sleeper_, [elector] { return elector->isLeader(); });
  watcher_ = std::make_unique<control::VersionWatcher>(store_->nodes(), *notifier_, sleeper_, *log_,
                                                       std::chrono::milliseconds(poll_ms_));
  watcher_->start();
  if (redis_ != nullptr) {
    auto* notifier = notifier_;
    auto* watcher = watcher_.get();
    subscriber_ = redis_->subscribePeerChanges(
        [notifier](const std::string& node_id) { notifier->notify(node_id); },
        // Changes published while the subscription was down were lost:
        // catch up from the database once it is back.
        [watcher] { (void)watcher->pollOnce(); });
  }
}

void ControlStack::stop() {
  if (!started_) return;
  started_ = false;
  subscriber_.reset();
  watcher_->stop();
  loops_->stop();
  leader_task_->stop();
  elector_->resign();
}

}  // namespace aureo::wiring
