// aureo-node: a VPN server. It enrolls with aureo-control once, then keeps
// its WireGuard interface equal to the control plane's desired peer set,
// heartbeats, reports sessions and serves /metrics. SIGTERM/SIGINT drain it
// gracefully. Wiring only; the work is in src/node.
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "core/config.h"
#include "core/ip.h"
#include "core/log.h"
#include "core/process.h"
#include "http/metrics.h"
#include "http/server.h"
#include "netcfg/netlink.h"
#include "node/agent.h"
#include "node/state.h"

namespace {

using aureo::core::ConfigType;

std::optional<std::string> validListenOrEmpty(const std::string& v) {
  if (v.empty() || aureo::core::parseHostPort(v)) return std::nullopt;
  return "must be HOST:PORT, e.g. 127.0.0.1:9586, or empty to serve no metrics";
}

std::optional<std::string> validUrl(const std::string& v) {
  if (v.starts_with("http://") || v.starts_with("https://")) return std::nullopt;
  return "must be an http:// or https:// URL of aureo-control";
}

std::optional<std::string> validInterface(const std::string& v) {
  if (v.empty() || aureo::netcfg::isValidInterfaceName(v)) return std::nullopt;
  return "must be an interface name (1-15 letters, digits, '_', '-', '.')";
}

std::optional<std::string> validPort(const std::string& v) {
  const long p = std::strtol(v.c_str(), nullptr, 10);
  if (p < 0 || p > 65535) return "must be 0-65535";
  return std::nullopt;
}

aureo::core::ConfigSchema schema() {
  return {
      {"control.url", ConfigType::kString, "http://127.0.0.1:8090", "URL of aureo-control",
       "--control", validUrl},
      {"control.ca_file", ConfigType::kString, "",
       "PEM bundle trusted for HTTPS to control (default: the system store)", "--ca-file", nullptr},
      {"control.insecure", ConfigType::kBool, "false",
       "Skip TLS certificate checks towards control (tests only)", "", nullptr},
      {"node.enrollment_token", ConfigType::kString, "",
       "One-time token from POST /api/v1/admin/nodes; needed on the first start only",
       "--enrollment-token", nullptr},
      {"node.hostname", ConfigType::kString, "",
       "Name or address clients dial, sent at enrollment (default: what the admin set)",
       "--hostname", nullptr},
      {"node.state_dir", ConfigType::kString, "/var/lib/aureo-node",
       "Folder for the node credential and WireGuard key (mode 0700)", "--state-dir", nullptr},
      {"node.interface", ConfigType::kString, "aureo0", "WireGuard interface name", "--interface",
       validInterface},
      {"node.listen_port", ConfigType::kInt, "0",
       "WireGuard UDP port (0: the port control assigned, 51820 by default)", "--listen-port",
       validPort},
      {"node.egress_interface", ConfigType::kString, "",
       "Interface NAT sends tunnel traffic out of (default: the default route's)", "--egress",
       validInterface},
      {"node.nat_table", ConfigType::kString, "aureo-nat", "nftables table for the NAT rules", "",
       nullptr},
      {"node.dns_resolver", ConfigType::kBool, "true",
       "Run the DNS resolver for clients on the tunnel gateway address when control's "
       "nodes.dns_resolver asks for it",
       "", nullptr},
      {"node.workers", ConfigType::kInt, "0", "Engine worker threads (0: one per CPU)", "",
       nullptr},
      {"node.drain_wait", ConfigType::kDuration, "2s",
       "How long a SIGTERM drain waits before the final report", "--drain-wait", nullptr},
      {"node.max_connections", ConfigType::kInt, "1000",
       "Capacity used for the load score computed on the node", "", nullptr},
      {"openvpn.enabled", ConfigType::kBool, "true",
       "Run an OpenVPN server (the stock openvpn daemon) next to WireGuard", "--openvpn", nullptr},
      {"openvpn.binary", ConfigType::kString, "/usr/sbin/openvpn", "The openvpn executable", "",
       nullptr},
      {"openvpn.device", ConfigType::kString, "aureo-ovpn", "OpenVPN tun device name", "",
       validInterface},
      {"openvpn.port", ConfigType::kInt, "0",
       "OpenVPN port when control does not send a transport (an older control; 0: the port "
       "control assigned)",
       "", validPort},
      {"openvpn.transport", ConfigType::kString, "udp",
       "udp or tcp, used only when control does not send a transport (an older control); "
       "otherwise the node's openvpn_transport set by an admin applies",
       "", nullptr},
      {"openvpn.keepalive_interval", ConfigType::kInt, "10", "Seconds between pings to clients", "",
       nullptr},
      {"openvpn.keepalive_timeout", ConfigType::kInt, "60",
       "Seconds without traffic before a client (or the server) restarts the connection", "",
       nullptr},
      {"metrics.listen", ConfigType::kString, "127.0.0.1:9586",
       "Address /metrics is served on (empty: none)", "--metrics-listen", validListenOrEmpty},
      {"intervals.heartbeat", ConfigType::kDuration, "0",
       "Heartbeat cadence (0: what control says, 30s by default)", "", nullptr},
      {"intervals.report", ConfigType::kDuration, "0",
       "Session report cadence (0: what control says, 60s by default)", "", nullptr},
      {"intervals.long_poll", ConfigType::kDuration, "0",
       "Desired-state wait (0: what control says, 30s by default)", "", nullptr},
      {"intervals.metrics", ConfigType::kDuration, "15s", "Metrics refresh cadence", "", nullptr},
      {"log.level", ConfigType::kString, "info", "debug, info, warn or error", "--log-level",
       nullptr},
  };
}

int fail(const std::string& message) {
  std::cerr << "aureo-node: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aureo;
  const auto options = schema();
  auto settings =
      core::loadProcessSettings("aureo-node",
                                "Aureo VPN node agent: the WireGuard engine kept in step with "
                                "aureo-control.",
                                options, argc, argv);
  if (!settings.ok()) return fail(settings.error().message);
  if (!settings->has_value()) return 0;  // --help
  core::Config* cfg = &(*settings)->config;
  const core::LogLevel level = (*settings)->log_level;
  core::Logger log("aureo-node", level);
  core::SystemClock clock;

  sigset_t signals = core::blockTerminationSignals();

  auto state = node::StateDir::open(cfg->getString("node.state_dir"));
  if (!state.ok()) return fail(state.error().message);

  node::ControlClientOptions control;
  control.url = cfg->getString("control.url");
  control.ca_file = cfg->getString("control.ca_file");
  control.insecure_skip_verify = cfg->getBool("control.insecure");

  node::AgentOptions ao;
  ao.enrollment_token = cfg->getString("node.enrollment_token");
  ao.hostname = cfg->getString("node.hostname");
  ao.interface_name = cfg->getString("node.interface");
  ao.listen_port = static_cast<uint16_t>(cfg->getInt("node.listen_port"));
  ao.egress_interface = cfg->getString("node.egress_interface");
  ao.nat_table = cfg->getString("node.nat_table");
  ao.dns_resolver = cfg->getBool("node.dns_resolver");
  ao.workers = static_cast<size_t>(std::max<int64_t>(0, cfg->getInt("node.workers")));
  ao.drain_wait = cfg->getDuration("node.drain_wait");
  ao.max_connections = cfg->getInt("node.max_connections");
  ao.heartbeat_interval = cfg->getDuration("intervals.heartbeat");
  ao.report_interval = cfg->getDuration("intervals.report");
  ao.long_poll_wait = cfg->getDuration("intervals.long_poll");
  ao.metrics_interval = cfg->getDuration("intervals.metrics");
  ao.openvpn.enabled = cfg->getBool("openvpn.enabled");
  ao.openvpn.openvpn_binary = cfg->getString("openvpn.binary");
  ao.openvpn.device = cfg->getString("openvpn.device");
  ao.openvpn.port = static_cast<uint16_t>(cfg->getInt("openvpn.port"));
  if (const auto t = cfg->getString("openvpn.transport"); t == "tcp") {
    ao.openvpn.transport = openvpn::Transport::kTcp;
  } else if (t != "udp") {
    return fail("invalid value for 'openvpn.transport': must be udp or tcp");
  }
  ao.openvpn.keepalive_interval = static_cast<int>(cfg->getInt("openvpn.keepalive_interval"));
  ao.openvpn.keepalive_timeout = static_cast<int>(cfg->getInt("openvpn.keepalive_timeout"));

  http::Metrics metrics;
  node::Agent agent(ao, std::move(*state), control, clock, log, &metrics.registry());

  // A signal during start-up (say, while enrollment waits for control)
  // stops it; afterwards the same signal drains the node.
  std::stop_source stop;
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log.info("shutting down", {{"signal", sig}});
    stop.request_stop();
  });
  auto finish = [&](int code) {
    if (!stop.stop_requested()) {
      stop.request_stop();
      // Wakes the sigwait() (SIGTERM is blocked, so nothing terminates).
      // NOLINTNEXTLINE(bugprone-bad-signal-to-kill-thread)
      pthread_kill(signal_thread.native_handle(), SIGTERM);
    }
    signal_thread.join();
    return code;
  };

  if (auto st = agent.start(stop.get_token()); !st.ok()) {
    if (st.error().code == core::Code::kCancelled) return finish(0);
    std::cerr << "aureo-node: " << st.error().message << "\n";
    agent.stop();
    return finish(1);
  }

  std::unique_ptr<http::Server> server;
  std::thread server_thread;
  if (const auto listen = cfg->getString("metrics.listen"); !listen.empty()) {
    const auto hp = *core::parseHostPort(listen);
    http::Router router;
    router.add("GET", "/metrics",
               [&metrics](http::Request&) -> boost::asio::awaitable<http::Response> {
                 co_return http::Response::text(200, metrics.serialize(),
                                                "text/plain; version=0.0.4; charset=utf-8");
               });
    http::ServerOptions so;
    so.host = hp.host;
    so.port = hp.port;
    so.threads = 1;
    so.max_connections = 64;
    so.service_name = "aureo-node";
    server = std::make_unique<http::Server>(so, std::move(router), log, nullptr);
    if (auto st = server->start(); !st.ok()) {
      std::cerr << "aureo-node: cannot serve metrics on " << listen << ": " << st.error().message
                << "\n";
      agent.stop();
      return finish(1);
    }
    server_thread = std::thread([&] { server->run(); });
    std::cout << "  Aureo VPN node metrics: http://" << listen.substr(0, listen.rfind(':')) << ":"
              << server->port() << "/metrics\n";
  }
  std::cout << "  Aureo VPN node " << agent.nodeId() << " up on " << ao.interface_name << " ("
            << agent.tunnelAddress() << ")\n"
            << std::flush;

  // Park until a signal, then drain.
  {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait(lock, stop.get_token(), [] { return false; });
  }
  agent.drain();
  agent.stop();
  if (server) {
    server->stop();
    server_thread.join();
  }
  return finish(0);
}
