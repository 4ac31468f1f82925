// aureo-gateway: the public REST API. Wiring only; the work is in src/api.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include "api/bootstrap.h"
#include "api/gateway.h"
#include "control/session_service.h"
#include "core/config.h"
#include "core/ip.h"
#include "core/log.h"
#include "http/metrics.h"
#include "http/rate_limit.h"
#include "http/server.h"
#include "store/store.h"

namespace {

using aureo::core::ConfigOption;
using aureo::core::ConfigType;

std::optional<std::string> validListen(const std::string& v) {
  if (!aureo::core::parseHostPort(v)) return "must be HOST:PORT, e.g. 127.0.0.1:8080 or [::]:8443";
  return std::nullopt;
}

std::optional<std::string> validDatabase(const std::string& v) {
  if (v.starts_with("sqlite:") && v.size() > 7) return std::nullopt;
  if (v.starts_with("postgres://") || v.starts_with("postgresql://")) return std::nullopt;
  return "must be sqlite:PATH or postgres://...";
}

aureo::core::ConfigSchema schema() {
  return {
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
      {"database.pool_size", ConfigType::kInt, "8", "Database connections", "", nullptr},
      {"data_dir", ConfigType::kString, "data", "Folder for generated secrets", "--data-dir",
       nullptr},
      {"log.level", ConfigType::kString, "info", "debug, info, warn or error", "--log-level",
       nullptr},
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
  };
}

int fail(const std::string& message) {
  std::cerr << "aureo-gateway: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aureo;
  const auto options = schema();
  auto cl = core::parseCommandLine(options, argc, argv);
  if (!cl.ok()) return fail(cl.error().message);
  if (cl->help) {
    std::cout << core::helpText("aureo-gateway", "Aureo VPN REST API gateway.", options);
    return 0;
  }
  auto cfg = core::loadConfig(options, cl->sources);
  if (!cfg.ok()) return fail(cfg.error().message);

  core::LogLevel level{};
  if (!core::parseLogLevel(cfg->getString("log.level"), &level)) {
    return fail("invalid value for 'log.level': must be debug, info, warn or error");
  }
  core::Logger log("aureo-gateway", level);
  core::SystemClock clock;

  // Signals are taken by a dedicated thread, so block them before any other starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  const std::string data_dir = cfg->getString("data_dir");
  crypto::Argon2Params argon2;
  argon2.memory_kib = static_cast<uint32_t>(cfg->getInt("auth.argon2_memory_kib"));
  argon2.iterations = static_cast<uint32_t>(cfg->getInt("auth.argon2_iterations"));
  if (argon2.memory_kib < 19456 || argon2.iterations < 2) {
    return fail("auth.argon2_memory_kib must be >= 19456 and auth.argon2_iterations >= 2");
  }

  std::string jwt_secret = cfg->getString("auth.jwt_secret");
  if (jwt_secret.empty()) {
    auto s = api::loadOrCreateSecretFile(data_dir + "/jwt.secret", 48);
    if (!s.ok()) return fail(s.error().message);
    jwt_secret = *s;
  } else if (jwt_secret.size() < 32) {
    return fail("invalid value for 'auth.jwt_secret': must be at least 32 characters");
  }

  http::Metrics metrics;
  store::StoreOptions store_options;
  store_options.url = cfg->getString("database.url");
  store_options.pool_size = static_cast<int>(cfg->getInt("database.pool_size"));
  store_options.observer = metrics.databaseObserver();
  auto store = store::openStore(store_options);
  if (!store.ok()) return fail("cannot open database: " + store.error().message);

  auto admin_password = api::ensureAdmin(**store, clock, cfg->getString("admin.email"), argon2);
  if (!admin_password.ok())
    return fail("cannot create the admin account: " + admin_password.error().message);

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  size_t hash_workers = static_cast<size_t>(cfg->getInt("auth.hash_workers"));
  if (hash_workers == 0) hash_workers = std::max(1u, cores / 2);
  // Destroyed by hand before the server (see http/offload.h): a job still
  // queued must not post its completion into a destroyed io_context.
  auto hash_pool = std::make_unique<core::WorkerPool>(
      hash_workers, static_cast<size_t>(cfg->getInt("auth.hash_queue")));

  auto per_sec = [&](const char* rate, const char* burst) {
    return std::make_unique<http::LocalRateLimiter>(static_cast<double>(cfg->getInt(rate)),
                                                    static_cast<double>(cfg->getInt(burst)), clock);
  };
  auto per_min = [&](const char* rate, const char* burst) {
    return std::make_unique<http::LocalRateLimiter>(static_cast<double>(cfg->getInt(rate)) / 60.0,
                                                    static_cast<double>(cfg->getInt(burst)), clock);
  };
  auto ip_limiter = per_sec("ratelimit.ip_rate", "ratelimit.ip_burst");
  auto account_limiter = per_sec("ratelimit.account_rate", "ratelimit.account_burst");
  auto auth_limiter = per_min("ratelimit.auth_per_minute", "ratelimit.auth_burst");
  auto login_limiter = per_min("ratelimit.login_per_minute", "ratelimit.login_per_minute");

  control::SessionPolicy policy;
  for (const char* tier : {"free", "basic", "premium", "enterprise"}) {
    const int64_t limit = cfg->getInt(std::string("sessions.limit_") + tier);
    if (limit < 1) return fail(std::string("sessions.limit_") + tier + " must be at least 1");
    policy.device_limits[tier] = limit;
  }
  // The gateway changes peer sets but serves no long-polls: aureo-control
  // instances notice the new peer_version through their version watcher.
  control::SessionService sessions(**store, clock, log, policy);

  api::GatewayConfig gw;
  gw.jwt_secret = jwt_secret;
  gw.access_ttl = cfg->getDuration("auth.access_ttl");
  gw.refresh_ttl = cfg->getDuration("auth.refresh_ttl");
  gw.allow_registration = cfg->getBool("auth.allow_registration");
  gw.argon2 = argon2;
  gw.enrollment_ttl = cfg->getDuration("nodes.enrollment_ttl");
  api::Gateway gateway(
      gw, **store, sessions, clock, log, metrics, *hash_pool,
      {ip_limiter.get(), account_limiter.get(), auth_limiter.get(), login_limiter.get()});
  http::Router router;
  gateway.addRoutes(router);

  const auto listen = *core::parseHostPort(cfg->getString("server.listen"));
  http::ServerOptions so;
  so.host = listen.host;
  so.port = listen.port;
  so.threads = cfg->getInt("server.threads") > 0
                   ? static_cast<size_t>(cfg->getInt("server.threads"))
                   : cores;
  so.max_connections = static_cast<size_t>(cfg->getInt("server.max_connections"));
  so.max_body_bytes = static_cast<size_t>(cfg->getInt("server.max_body_bytes"));
  so.tls_cert_file = cfg->getString("server.tls_cert");
  so.tls_key_file = cfg->getString("server.tls_key");
  so.service_name = "aureo-gateway";
  if (so.tls_cert_file.empty() != so.tls_key_file.empty()) {
    return fail("server.tls_cert and server.tls_key must be set together");
  }
  http::Server server(so, std::move(router), log, &metrics);
  if (auto st = server.start(); !st.ok()) return fail(st.error().message);

  const std::string scheme = so.tls_cert_file.empty() ? "http" : "https";
  const std::string host =
      listen.host.find(':') != std::string::npos ? "[" + listen.host + "]" : listen.host;
  const std::string url = scheme + "://" + host + ":" + std::to_string(server.port());
  log.info("gateway listening",
           {{"url", url}, {"database", store_options.url.substr(0, store_options.url.find(':'))}});
  if (admin_password->has_value()) {
    // Shown once, on stdout, never logged: the operator must save it now.
    std::cout << "\n  Aureo VPN admin account created\n"
              << "    email:    " << cfg->getString("admin.email") << "\n"
              << "    password: " << **admin_password << "\n"
              << "  This password is shown only once. Change it after signing in.\n\n";
  }
  std::cout << "  Aureo VPN API: " << url << "\n" << std::flush;

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log.info("shutting down", {{"signal", sig}});
    server.stop();
  });
  server.run();
  hash_pool.reset();
  // run() also returns if the server stops for another reason; wake the waiter.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return 0;
}
