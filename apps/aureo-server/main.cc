// aureo-server: the all-in-one mode. One process runs the gateway (public
// API), the control plane (loops and the node API, on loopback) and a local
// VPN node on one SQLite file, the embedded default that scripts/run.sh
// starts. The local node is an ordinary aureo-node agent: the process
// creates its row and an enrollment token through the store on first start,
// and the agent enrolls over loopback HTTP like any remote node. When no
// TUN device can be created the API is still served and the log says the
// local VPN node is disabled. Wiring only; see apps/wiring and src/node.
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "control/enrollment.h"
#include "control/notifier.h"
#include "control/session_service.h"
#include "core/config.h"
#include "core/ids.h"
#include "core/ip.h"
#include "core/log.h"
#include "core/process.h"
#include "http/metrics.h"
#include "http/server.h"
#include "netcfg/netlink.h"
#include "node/agent.h"
#include "node/network.h"
#include "node/state.h"
#include "wiring.h"

namespace {

using aureo::core::ConfigType;

std::optional<std::string> validInterface(const std::string& v) {
  if (v.empty() || aureo::netcfg::isValidInterfaceName(v)) return std::nullopt;
  return "must be an interface name (1-15 letters, digits, '_', '-', '.')";
}

aureo::core::ConfigSchema schema() {
  auto s = aureo::wiring::gatewaySchema();
  for (auto& o : aureo::wiring::controlSchema("control", "--control-listen", true)) {
    s.push_back(std::move(o));
  }
  const aureo::core::ConfigSchema node{
      {"node.enabled", ConfigType::kBool, "true", "Run a local VPN node in this process", "--node",
       nullptr},
      {"node.name", ConfigType::kString, "local", "Name of the local node", "", nullptr},
      {"node.public_address", ConfigType::kString, "",
       "Address clients dial for the local node (default: the address of the default route's "
       "interface)",
       "--public-address", nullptr},
      {"node.country", ConfigType::kString, "", "Country code of the local node (ISO 3166-1)", "",
       nullptr},
      {"node.city", ConfigType::kString, "", "City of the local node", "", nullptr},
      {"node.state_dir", ConfigType::kString, "",
       "Folder for the local node's key and credential (default: DATA_DIR/node)", "", nullptr},
      {"node.interface", ConfigType::kString, "aureo0", "WireGuard interface name", "",
       validInterface},
      {"node.egress_interface", ConfigType::kString, "",
       "Interface NAT sends tunnel traffic out of (default: the default route's)", "",
       validInterface},
      {"node.dns_resolver", ConfigType::kBool, "true",
       "Run the DNS resolver for clients on the local node's tunnel gateway address", "", nullptr},
      {"node.metrics_listen", ConfigType::kString, "",
       "Address the local node's own /metrics is served on (empty: none)", "",
       [](const std::string& v) -> std::optional<std::string> {
         if (v.empty() || aureo::core::parseHostPort(v)) return std::nullopt;
         return "must be HOST:PORT or empty";
       }},
      {"node.drain_wait", ConfigType::kDuration, "2s", "How long a shutdown drains the node", "",
       nullptr},
  };
  s.insert(s.end(), node.begin(), node.end());
  return s;
}

int fail(const std::string& message) {
  std::cerr << "aureo-server: " << message << "\n";
  return 1;
}

// The address of the interface the default route leaves through, for
// clients to dial; empty if there is none.
std::string defaultAddress() {
  auto ifname = aureo::node::defaultRouteInterface();
  if (!ifname.ok()) return "";
  auto nl = aureo::netcfg::Netlink::open();
  if (!nl.ok()) return "";
  auto index = nl->linkIndex(*ifname);
  if (!index.ok()) return "";
  auto addrs = nl->listAddresses(aureo::netcfg::Family::kV4, *index);
  if (!addrs.ok() || addrs->empty()) return "";
  return addrs->front().address.address.toString();
}

// The local node's row and, when it has not enrolled yet, a fresh
// enrollment token for it.
aureo::core::Result<std::string> prepareLocalNode(aureo::store::Store& store,
                                                  const aureo::core::Config& cfg,
                                                  const aureo::node::StateDir& state,
                                                  const aureo::core::Clock& clock) {
  using namespace aureo;
  AUREO_ASSIGN_OR_RETURN(auto enrolled, state.loadEnrollment());
  if (enrolled) return std::string();
  const std::string name = cfg.getString("node.name");
  AUREO_ASSIGN_OR_RETURN(auto nodes, store.nodes().list({}));
  std::string id;
  for (const auto& n : nodes) {
    if (n.name == name) id = n.id;
  }
  if (id.empty()) {
    store::VpnNode n;
    n.id = core::newUuid();
    n.name = name;
    n.public_ip = cfg.getString("node.public_address");
    if (n.public_ip.empty()) n.public_ip = defaultAddress();
    if (n.public_ip.empty()) n.public_ip = "127.0.0.1";
    n.country = cfg.getString("node.country");
    n.city = cfg.getString("node.city");
    n.status = "offline";
    n.created_at = n.updated_at = clock.now();
    AUREO_RETURN_IF_ERROR(store.nodes().create(n));
    id = n.id;
  }
  AUREO_ASSIGN_OR_RETURN(
      auto token, control::issueEnrollmentToken(store, id, std::chrono::minutes(10), clock.now()));
  return token.token;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aureo;
  const auto options = schema();
  auto settings =
      core::loadProcessSettings("aureo-server",
                                "Aureo VPN all-in-one: gateway, control plane and a local VPN "
                                "node in one process.",
                                options, argc, argv);
  if (!settings.ok()) return fail(settings.error().message);
  if (!settings->has_value()) return 0;  // --help
  core::Config* cfg = &(*settings)->config;
  const core::LogLevel level = (*settings)->log_level;
  core::Logger log("aureo-server", level, core::Logger::Flush::kBatched);
  core::SystemClock clock;

  sigset_t signals = core::blockTerminationSignals();

  // One registry for the gateway and control servers; the node keeps its own.
  http::Metrics metrics;
  auto deps = wiring::openSessionDeps(*cfg, "aureo-server", clock, log, metrics);
  if (!deps.ok()) return fail(deps.error().message);
  // One SessionService for both sides: a session created through the API
  // wakes the local node's long-poll at once.
  // Optional here too: an all-in-one next to split gateways and control
  // instances shares their Redis.
  control::PeerNotifier notifier(&metrics);
  control::SessionService sessions(*deps->store, clock, log, deps->policy,
                                   wiring::peerChangeListener(&notifier, deps->redis.get()),
                                   deps->openvpn.get());
  auto gateway = wiring::GatewayStack::build(*cfg, *deps->store, sessions, clock, log, metrics,
                                             deps->redis.get());
  if (!gateway.ok()) return fail(gateway.error().message);
  auto control = wiring::ControlStack::build(*cfg, *deps->store, sessions, notifier, clock, log,
                                             metrics, deps->redis.get());
  if (!control.ok()) return fail(control.error().message);

  http::Router api_router;
  (*gateway)->addRoutes(api_router);
  auto api_options = wiring::serverOptions(*cfg, "server", "aureo-gateway");
  if (!api_options.ok()) return fail(api_options.error().message);
  http::Server api_server(*api_options, std::move(api_router), log, &metrics);
  if (auto st = api_server.start(); !st.ok()) return fail(st.error().message);

  http::Router control_router;
  (*control)->addRoutes(control_router);
  auto control_options = wiring::serverOptions(*cfg, "control", "aureo-control");
  if (!control_options.ok()) return fail(control_options.error().message);
  control_options->handler_timeout = (*control)->maxWait() + std::chrono::seconds(15);
  control_options->idle_timeout = (*control)->maxWait() + std::chrono::seconds(30);
  http::Server control_server(*control_options, std::move(control_router), log, &metrics);
  if (auto st = control_server.start(); !st.ok()) return fail(st.error().message);
  (*control)->start();

  std::thread api_thread([&] { api_server.run(); });
  std::thread control_thread([&] { control_server.run(); });
  const std::string api_url = wiring::serverUrl(*api_options, api_server.port());
  const std::string control_url = wiring::serverUrl(*control_options, control_server.port());
  log.info("all-in-one listening", {{"api", api_url}, {"control", control_url}});
  if (const auto& password = (*gateway)->newAdminPassword()) {
    // Shown once, on stdout, never logged: the operator must save it now.
    std::cout << "\n  Aureo VPN admin account created\n"
              << "    email:    " << cfg->getString("admin.email") << "\n"
              << "    password: " << *password << "\n"
              << "  This password is shown only once. Change it after signing in.\n\n";
  }
  std::cout << "  Aureo VPN API: " << api_url << "\n"
            << "  Aureo VPN control: " << control_url << "\n"
            << std::flush;

  std::stop_source stop;
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log.info("shutting down", {{"signal", sig}});
    stop.request_stop();
  });

  // The local node.
  http::Metrics node_metrics;
  std::unique_ptr<node::Agent> agent;
  std::unique_ptr<http::Server> node_metrics_server;
  std::thread node_metrics_thread;
  if (cfg->getBool("node.enabled")) {
    std::string state_path = cfg->getString("node.state_dir");
    if (state_path.empty()) state_path = cfg->getString("data_dir") + "/node";
    auto state = node::StateDir::open(state_path);
    core::Result<std::string> token = state.ok()
                                          ? prepareLocalNode(*deps->store, *cfg, *state, clock)
                                          : core::Result<std::string>(state.error());
    if (!token.ok()) {
      log.error("local VPN node disabled", {{"reason", token.error().message}});
      std::cout << "  Local VPN node disabled: " << token.error().message << "\n" << std::flush;
    } else {
      node::AgentOptions ao;
      ao.enrollment_token = *token;
      ao.interface_name = cfg->getString("node.interface");
      ao.egress_interface = cfg->getString("node.egress_interface");
      ao.drain_wait = cfg->getDuration("node.drain_wait");
      ao.openvpn.enabled = cfg->getBool("openvpn.enabled");
      ao.dns_resolver = cfg->getBool("node.dns_resolver");
      node::ControlClientOptions co;
      co.url = "http://127.0.0.1:" + std::to_string(control_server.port());
      if (control_options->host != "127.0.0.1" && control_options->host != "0.0.0.0" &&
          control_options->host != "localhost") {
        co.url = control_url;
      }
      co.insecure_skip_verify = true;  // loopback, our own certificate if any
      agent = std::make_unique<node::Agent>(ao, std::move(*state), co, clock, log,
                                            &node_metrics.registry());
      if (auto st = agent->start(stop.get_token()); !st.ok()) {
        agent->stop();
        agent.reset();
        log.warn("local VPN node disabled; the API is still served",
                 {{"reason", st.error().message}});
        std::cout << "  Local VPN node disabled: " << st.error().message << "\n" << std::flush;
      } else {
        std::cout << "  Local VPN node: " << agent->nodeId() << " on "
                  << cfg->getString("node.interface") << " (" << agent->tunnelAddress() << ")\n"
                  << std::flush;
      }
    }
    const std::string metrics_listen = cfg->getString("node.metrics_listen");
    if (agent && !metrics_listen.empty()) {
      auto hp = core::parseHostPort(metrics_listen);
      http::Router r;
      r.add("GET", "/metrics",
            [&node_metrics](http::Request&) -> boost::asio::awaitable<http::Response> {
              co_return http::Response::text(200, node_metrics.serialize(),
                                             "text/plain; version=0.0.4; charset=utf-8");
            });
      http::ServerOptions so;
      so.host = hp ? hp->host : "";
      so.port = hp ? hp->port : 0;
      so.threads = 1;
      so.service_name = "aureo-node";
      node_metrics_server = std::make_unique<http::Server>(so, std::move(r), log, nullptr);
      if (auto st = node_metrics_server->start(); !st.ok()) {
        log.warn("local node metrics not served", {{"error", st.error().message}});
        node_metrics_server.reset();
      }
      if (node_metrics_server) {
        node_metrics_thread = std::thread([&] { node_metrics_server->run(); });
      }
    }
  }

  {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait(lock, stop.get_token(), [] { return false; });
  }
  if (agent) {
    agent->drain();
    agent->stop();
  }
  if (node_metrics_server) {
    node_metrics_server->stop();
    node_metrics_thread.join();
  }
  notifier.shutdown();
  control_server.stop();
  api_server.stop();
  control_thread.join();
  api_thread.join();
  (*control)->stop();
  (*gateway)->stopWorkers();
  signal_thread.join();
  return 0;
}
