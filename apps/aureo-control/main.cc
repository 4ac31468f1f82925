// aureo-control: leader election, the background loops and the node-facing
// API. Wiring only; the work is in src/control. Several instances may share
// one database: they elect a leader through the leases table, only the
// leader runs the loops, and every instance serves nodes.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "control/leader.h"
#include "control/loops.h"
#include "control/node_api.h"
#include "control/notifier.h"
#include "control/periodic_task.h"
#include "control/session_service.h"
#include "control/status_routes.h"
#include "core/config.h"
#include "core/ip.h"
#include "core/log.h"
#include "crypto/encoding.h"
#include "http/metrics.h"
#include "http/server.h"
#include "store/store.h"

namespace {

using aureo::core::ConfigType;

std::optional<std::string> validListen(const std::string& v) {
  if (!aureo::core::parseHostPort(v)) return "must be HOST:PORT, e.g. 127.0.0.1:8090 or [::]:8443";
  return std::nullopt;
}

std::optional<std::string> validDatabase(const std::string& v) {
  if (v.starts_with("sqlite:") && v.size() > 7) return std::nullopt;
  if (v.starts_with("postgres://") || v.starts_with("postgresql://")) return std::nullopt;
  return "must be sqlite:PATH or postgres://...";
}

std::optional<std::string> positive(const std::string& v) {
  auto d = aureo::core::parseDuration(v);
  if (!d || d->count() < 1) return "must be a duration of at least 1s, e.g. 30s, 15m, 1h";
  return std::nullopt;
}

aureo::core::ConfigSchema schema() {
  return {
      {"server.listen", ConfigType::kString, "127.0.0.1:8090",
       "Address the node API and status endpoints listen on", "--listen", validListen},
      {"server.threads", ConfigType::kInt, "0", "I/O threads (0: one per core)", "", nullptr},
      {"server.max_connections", ConfigType::kInt, "16384",
       "Concurrent connection cap (each node keeps a long-poll open)", "", nullptr},
      {"server.max_body_bytes", ConfigType::kInt, "33554432",
       "Largest request body (session reports of big nodes)", "", nullptr},
      {"server.tls_cert", ConfigType::kString, "", "PEM certificate chain; with tls_key: HTTPS",
       "--tls-cert", nullptr},
      {"server.tls_key", ConfigType::kString, "", "PEM private key", "--tls-key", nullptr},
      {"database.url", ConfigType::kString, "sqlite:data/aureo.db", "sqlite:PATH or postgres://...",
       "--database", validDatabase},
      {"database.pool_size", ConfigType::kInt, "8", "Database connections", "", nullptr},
      {"log.level", ConfigType::kString, "info", "debug, info, warn or error", "--log-level",
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
       "How often peer versions changed by other processes are re-read while nodes wait", "",
       nullptr},
      {"sessions.pending_timeout", ConfigType::kDuration, "5m",
       "A session without a handshake this long after creation ends", "", positive},
      {"sessions.handshake_timeout", ConfigType::kDuration, "10m",
       "A session whose last handshake is older than this ends", "", positive},
  };
}

int fail(const std::string& message) {
  std::cerr << "aureo-control: " << message << "\n";
  return 1;
}

std::string defaultInstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "control") + "-" + std::to_string(getpid()) + "-" +
         aureo::crypto::randomToken(4);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aureo;
  const auto options = schema();
  auto cl = core::parseCommandLine(options, argc, argv);
  if (!cl.ok()) return fail(cl.error().message);
  if (cl->help) {
    std::cout << core::helpText("aureo-control",
                                "Aureo VPN control server: leader-elected background loops and "
                                "the node-facing API.",
                                options);
    return 0;
  }
  auto cfg = core::loadConfig(options, cl->sources);
  if (!cfg.ok()) return fail(cfg.error().message);

  core::LogLevel level{};
  if (!core::parseLogLevel(cfg->getString("log.level"), &level)) {
    return fail("invalid value for 'log.level': must be debug, info, warn or error");
  }
  core::Logger log("aureo-control", level);
  core::SystemClock clock;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  if (cfg->getInt("loops.missed_heartbeats") < 1) {
    return fail("loops.missed_heartbeats must be at least 1");
  }
  const int64_t poll_ms = cfg->getInt("nodes.version_poll_ms");
  if (poll_ms < 50 || poll_ms > 5000) return fail("nodes.version_poll_ms must be 50..5000");

  http::Metrics metrics;
  store::StoreOptions store_options;
  store_options.url = cfg->getString("database.url");
  store_options.pool_size = static_cast<int>(cfg->getInt("database.pool_size"));
  store_options.observer = metrics.databaseObserver();
  auto opened = store::openStore(store_options);
  if (!opened.ok()) return fail("cannot open database: " + opened.error().message);
  store::Store& store = **opened;

  control::PeerNotifier notifier;
  control::SessionPolicy policy;
  policy.pending_timeout = cfg->getDuration("sessions.pending_timeout");
  policy.handshake_timeout = cfg->getDuration("sessions.handshake_timeout");
  control::SessionService sessions(store, clock, log, policy,
                                   [&notifier](const std::string& node) { notifier.notify(node); });

  std::string instance_id = cfg->getString("control.instance_id");
  if (instance_id.empty()) instance_id = defaultInstanceId();
  control::LeaderElector elector(store.leases(), clock, log,
                                 {"aureo-control", instance_id,
                                  std::chrono::duration_cast<std::chrono::milliseconds>(
                                      cfg->getDuration("leader.lease_period"))});

  control::LoopOptions loop_options;
  loop_options.health_interval = cfg->getDuration("loops.health_interval");
  loop_options.heartbeat_interval = cfg->getDuration("nodes.heartbeat_interval");
  loop_options.missed_heartbeats = static_cast<int>(cfg->getInt("loops.missed_heartbeats"));
  loop_options.load_interval = cfg->getDuration("loops.load_interval");
  loop_options.cleanup_interval = cfg->getDuration("loops.cleanup_interval");
  loop_options.stats_interval = cfg->getDuration("loops.stats_interval");
  loop_options.session_retention = cfg->getDuration("loops.session_retention");
  loop_options.node_link_bytes_per_second =
      static_cast<double>(cfg->getInt("loops.node_link_mbps")) * 1e6 / 8.0;
  control::ControlLoops loops(store, sessions, clock, log, &metrics, loop_options);

  control::NodeApiConfig api_config;
  api_config.heartbeat_interval = loop_options.heartbeat_interval;
  api_config.report_interval = cfg->getDuration("nodes.report_interval");
  api_config.long_poll_timeout =
      std::min(cfg->getDuration("nodes.long_poll_timeout"), api_config.max_wait);
  control::NodeApi node_api(store, sessions, notifier, clock, log, api_config);

  http::Router router;
  node_api.addRoutes(router);
  control::addStatusRoutes(router, store, elector, metrics, clock);

  const auto listen = *core::parseHostPort(cfg->getString("server.listen"));
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  http::ServerOptions so;
  so.host = listen.host;
  so.port = listen.port;
  so.threads = cfg->getInt("server.threads") > 0
                   ? static_cast<size_t>(cfg->getInt("server.threads"))
                   : cores;
  so.max_connections = static_cast<size_t>(cfg->getInt("server.max_connections"));
  so.max_body_bytes = static_cast<size_t>(cfg->getInt("server.max_body_bytes"));
  // Long-polls wait up to max_wait; the handler deadline must outlast them.
  so.handler_timeout = api_config.max_wait + std::chrono::seconds(15);
  so.idle_timeout = api_config.max_wait + std::chrono::seconds(30);
  so.tls_cert_file = cfg->getString("server.tls_cert");
  so.tls_key_file = cfg->getString("server.tls_key");
  so.service_name = "aureo-control";
  if (so.tls_cert_file.empty() != so.tls_key_file.empty()) {
    return fail("server.tls_cert and server.tls_key must be set together");
  }
  http::Server server(so, std::move(router), log, &metrics);
  if (auto st = server.start(); !st.ok()) return fail(st.error().message);

  control::RealSleeper sleeper;
  control::PeriodicTask leader_task(
      {"leader-election", elector.renewInterval(), 0.1, elector.renewInterval(), true},
      [&elector]() -> core::Status {
        auto leading = elector.tick();
        if (!leading.ok()) return leading.error();
        return core::okStatus();
      },
      sleeper, log);
  leader_task.start();
  loops.start(sleeper, [&elector] { return elector.isLeader(); });
  control::VersionWatcher watcher(store.nodes(), notifier, sleeper, log,
                                  std::chrono::milliseconds(poll_ms));
  watcher.start();

  const std::string scheme = so.tls_cert_file.empty() ? "http" : "https";
  const std::string host =
      listen.host.find(':') != std::string::npos ? "[" + listen.host + "]" : listen.host;
  const std::string url = scheme + "://" + host + ":" + std::to_string(server.port());
  log.info("control listening", {{"url", url}, {"instance_id", instance_id}});
  std::cout << "  Aureo VPN control: " << url << "\n" << std::flush;

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log.info("shutting down", {{"signal", sig}});
    notifier.shutdown();  // parked long-polls answer now instead of holding the shutdown
    server.stop();
  });
  server.run();
  watcher.stop();
  loops.stop();
  leader_task.stop();
  elector.resign();  // another instance takes over at once, not after the lease lapses
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return 0;
}
