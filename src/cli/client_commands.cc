// connect, disconnect, status, exclude: the protected Linux client. The
// connection itself (engine, routing, protections, reconnects) lives in
// src/client; this file turns the command line into ConnectOptions, runs the
// daemon and prints what it did.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "cli/internal/context.h"
#include "cli/table.h"
#include "client/connection.h"
#include "client/daemon.h"
#include "client/state.h"
#include "client/teardown.h"
#include "client/tunnel_stats.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/process.h"
#include "netcfg/cgroup.h"

namespace aureo::cli {
namespace {

namespace fs = std::filesystem;

struct ClientPaths {
  std::string run_dir = std::string(client::kDefaultRunDir);
};

struct ConnectCliOptions {
  ClientPaths paths;
  std::string country;
  std::string node;
  std::string protocol = "wireguard";
  bool kill_switch = false;
  bool allow_lan = false;
  std::vector<std::string> dns;
  std::vector<std::string> split_include;
  std::vector<std::string> split_exclude;
  std::vector<std::string> exclude_apps;
  std::string interface_name = "aureo0";
  std::string resolv_conf = "/etc/resolv.conf";
  std::string cgroup = "aureo-vpn-exclude";
  int handshake_timeout = 20;
  int stale_after = 30;
  std::string log_level = "info";
};

core::Result<std::vector<core::Cidr>> parseCidrs(const std::vector<std::string>& items,
                                                 const char* flag) {
  std::vector<core::Cidr> out;
  for (const auto& item : items) {
    auto c = core::Cidr::parse(item);
    if (!c) return usageError(fmt::format("{}: '{}' is not an address prefix", flag, item));
    out.push_back(*c);
  }
  return out;
}

// Runs `command` with /bin/sh in the excluded cgroup, detached from us.
core::Status launchExcluded(const netcfg::Cgroup& cgroup, const std::string& command) {
  const pid_t pid = ::fork();
  if (pid < 0)
    return core::internalError(fmt::format("fork: {}", std::system_category().message(errno)));
  if (pid > 0) return {};
  ::setsid();
  // Detached from our output too: whoever reads it waits for us, not for it.
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
  }
  if (!cgroup.addProcess(::getpid()).ok()) ::_exit(126);
  ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
  ::_exit(127);
}

std::string onOff(bool on) {
  return on ? "on" : "off";
}

std::string joined(const std::vector<std::string>& items, const char* empty = "-") {
  if (items.empty()) return empty;
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string tunnelAddresses(const client::ConnectionState& s) {
  std::vector<std::string> out;
  for (const auto& a : s.addresses) out.push_back(a.substr(0, a.find('/')));
  return joined(out);
}

std::string splitText(const client::ConnectionState& s) {
  if (!s.split_include.empty()) return "only " + joined(s.split_include) + " through the tunnel";
  if (!s.split_exclude.empty()) return joined(s.split_exclude) + " outside the tunnel";
  return "off";
}

Json stateJson(const client::ConnectionState& s, bool alive,
               const std::optional<client::TunnelStats>& stats, int64_t now) {
  Json j{{"connected", alive && s.phase == "connected"},
         {"phase", alive ? s.phase : std::string("daemon-dead")},
         {"pid", s.pid},
         {"session_id", s.session_id},
         {"node", {{"id", s.node_id}, {"name", s.node_name}, {"country", s.node_country}}},
         {"endpoint", s.endpoint},
         {"interface", s.interface_name},
         {"tunnel_addresses", Json::array()},
         {"protections",
          {{"kill_switch", s.kill_switch},
           {"allow_lan", s.allow_lan},
           {"dns", s.dns},
           {"ipv6", s.ipv6_tunneled ? "tunneled" : "blocked"},
           {"split_include", s.split_include},
           {"split_exclude", s.split_exclude},
           {"excluded_apps_cgroup", s.cgroup}}}};
  for (const auto& a : s.addresses) j["tunnel_addresses"].push_back(a.substr(0, a.find('/')));
  if (stats) {
    j["rx_bytes"] = stats->rx_bytes;
    j["tx_bytes"] = stats->tx_bytes;
    j["last_handshake_age_s"] =
        stats->last_handshake_unix ? Json(now - *stats->last_handshake_unix) : Json(nullptr);
  }
  return j;
}

core::Status connect(Context& ctx, const ConnectCliOptions& o) {
  if (o.protocol != "wireguard") {
    return usageError(
        "the built-in client speaks WireGuard; for OpenVPN use `config generate "
        "--protocol openvpn` with the openvpn program");
  }
  if (o.allow_lan && !o.kill_switch) return usageError("--allow-lan needs --kill-switch");
  client::ConnectOptions options;
  AUREO_ASSIGN_OR_RETURN(options.split_include, parseCidrs(o.split_include, "--split-include"));
  AUREO_ASSIGN_OR_RETURN(options.split_exclude, parseCidrs(o.split_exclude, "--split-exclude"));
  for (const auto& d : o.dns) {
    auto ip = core::IpAddress::parse(d);
    if (!ip) return usageError(fmt::format("--dns: '{}' is not an IP address", d));
    options.dns.push_back(*ip);
  }
  core::LogLevel level = core::LogLevel::kInfo;
  if (!core::parseLogLevel(o.log_level, &level)) return usageError("bad --log-level");

  AUREO_ASSIGN_OR_RETURN(auto creds, ctx.login());
  if (!creds) return core::unauthenticated("sign in first: aureo-vpn login");
  AUREO_ASSIGN_OR_RETURN(options.server, ctx.server());
  // The daemon reaches the API at one address fixed now: once connected, name
  // resolution needs the tunnel, which is exactly what is down when the
  // daemon must ask for another node.
  AUREO_ASSIGN_OR_RETURN(auto api_endpoints, client::resolveApiEndpoints(options.server));
  if (api_endpoints.empty()) {
    return core::unavailable(fmt::format("{} resolves to no address", options.server));
  }
  options.api_endpoints = {api_endpoints.front()};
  AUREO_ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> daemon_api,
                         ctx.pinnedApi(api_endpoints.front().address.toString()));
  ApiClient* api = daemon_api.get();
  if (!o.node.empty()) {
    options.node_id = o.node;
    if (!core::isUuid(o.node)) {
      AUREO_ASSIGN_OR_RETURN(Json n, ctx.findNode(o.node));
      options.node_id = n.value("id", "");
    }
  }
  options.country = o.country;
  options.kill_switch = o.kill_switch;
  options.allow_lan = o.allow_lan;
  options.exclude_apps = !o.exclude_apps.empty();
  options.interface_name = o.interface_name;
  options.run_dir = o.paths.run_dir;
  options.resolv_conf = o.resolv_conf;
  options.cgroup = o.cgroup;
  options.handshake_timeout = std::chrono::seconds(o.handshake_timeout);
  options.stale_after = std::chrono::seconds(o.stale_after);
  options.probe_after = std::min(options.probe_after, options.stale_after / 3);

  std::error_code ec;
  fs::create_directories(options.run_dir, ec);
  if (ec) {
    return core::failedPrecondition(
        fmt::format("cannot create {}: {} (connect needs root)", o.paths.run_dir, ec.message()));
  }
  fs::permissions(options.run_dir, fs::perms::owner_all, ec);

  const auto body = [&](const client::ReportReady& ready) -> int {
    // Before any thread exists, so only the main thread takes them (sigwait).
    sigset_t signals = core::blockTerminationSignals();
    core::Logger log("aureo-vpn", level);
    core::SystemClock clock;
    client::ApiCall call = [api](std::string_view method, std::string_view path,
                                 const Json& request) { return api->call(method, path, request); };
    auto connection = client::Connection::establish(options, call, clock, log);
    if (!connection.ok()) {
      ready(connection.error());
      return 1;
    }
    ready(core::okStatus());
    {
      std::jthread watcher([&](const std::stop_token& stop) { (*connection)->run(stop); });
      int sig = 0;
      while (::sigwait(&signals, &sig) != 0) {
      }
      log.info("stopping; the protections stay until `aureo-vpn disconnect`", {{"signal", sig}});
    }
    connection->reset();
    return 0;
  };
  AUREO_RETURN_IF_ERROR(client::runDetached(options.run_dir / "daemon.log", body));

  AUREO_ASSIGN_OR_RETURN(auto state, client::loadState(client::statePath(options.run_dir)));
  if (!state) return core::internalError("the daemon reported success but wrote no state");
  if (!state->cgroup.empty()) {
    AUREO_ASSIGN_OR_RETURN(auto cg, netcfg::Cgroup::open(state->cgroup, state->cgroup_mount));
    for (const auto& cmd : o.exclude_apps) AUREO_RETURN_IF_ERROR(launchExcluded(cg, cmd));
  }
  if (ctx.json()) {
    ctx.printJson(stateJson(*state, true, std::nullopt, 0));
    return {};
  }
  ctx.out << fmt::format("Connected to {} ({}) at {}, tunnel address {}.\n", state->node_name,
                         state->node_country.empty() ? "-" : state->node_country, state->endpoint,
                         tunnelAddresses(*state));
  ctx.out << fmt::format(
      "Kill switch {}{}, DNS {}, IPv6 {}, split tunneling {}.\n", onOff(state->kill_switch),
      state->allow_lan ? " (LAN allowed)" : "", joined(state->dns),
      state->ipv6_tunneled ? "through the tunnel" : "blocked", splitText(*state));
  return {};
}

core::Status waitGone(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (client::processAlive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return core::Error{core::Code::kDeadlineExceeded, "still running", {}};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

core::Status disconnect(Context& ctx, const ClientPaths& paths) {
  const fs::path path = client::statePath(paths.run_dir);
  AUREO_ASSIGN_OR_RETURN(auto state, client::loadState(path));
  if (!state) return core::failedPrecondition("not connected");
  if (client::processAlive(state->pid)) {
    ::kill(state->pid, SIGTERM);
    if (!waitGone(state->pid, std::chrono::seconds(20)).ok()) {
      ::kill(state->pid, SIGKILL);
      AUREO_RETURN_IF_ERROR(waitGone(state->pid, std::chrono::seconds(10)));
    }
  }
  AUREO_RETURN_IF_ERROR(client::tearDown(*state, core::Logger::null()));
  AUREO_RETURN_IF_ERROR(client::removeState(path));
  // The session ends last, with the machine's own network (and DNS) back; a
  // failure here only leaves a session the server will close on its own.
  std::string warning;
  if (!state->session_id.empty()) {
    auto api = ctx.api();
    auto ended = api.ok() ? (*api)->call("DELETE", "/api/v1/sessions/" + state->session_id)
                          : core::Result<Json>(api.error());
    if (!ended.ok() && ended.error().code != core::Code::kNotFound) {
      warning = ended.error().message;
    }
  }
  if (ctx.json()) {
    Json j{{"disconnected", true}, {"session_id", state->session_id}};
    if (!warning.empty()) j["warning"] = warning;
    ctx.printJson(j);
    return {};
  }
  ctx.out << fmt::format(
      "Disconnected from {}; the kill switch and every other change are "
      "undone.\n",
      state->node_name.empty() ? "the VPN" : state->node_name);
  if (!warning.empty()) {
    ctx.err << fmt::format("aureo-vpn: warning: the session {} could not be ended: {}\n",
                           state->session_id, warning);
  }
  return {};
}

std::string age(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return fmt::format("{} s ago", seconds);
  if (seconds < 7200) return fmt::format("{} min ago", seconds / 60);
  return fmt::format("{} h ago", seconds / 3600);
}

core::Status status(Context& ctx, const ClientPaths& paths) {
  AUREO_ASSIGN_OR_RETURN(auto state, client::loadState(client::statePath(paths.run_dir)));
  if (!state) {
    if (ctx.json()) {
      ctx.printJson(Json{{"connected", false}});
    } else {
      ctx.out << "Not connected.\n";
    }
    return {};
  }
  const bool alive = client::processAlive(state->pid);
  std::optional<client::TunnelStats> stats;
  if (alive) {
    auto q = client::queryTunnel(state->uapi_socket);
    if (q.ok()) stats = *q;
  }
  const int64_t now = core::unixSeconds(core::SystemClock().now());
  if (ctx.json()) {
    ctx.printJson(stateJson(*state, alive, stats, now));
    return {};
  }
  std::string phase = state->phase;
  if (!alive) phase = "daemon not running: fail-closed until `aureo-vpn disconnect`";
  std::vector<std::pair<std::string, std::string>> fields{
      {"State", phase},
      {"Node", fmt::format("{} ({})", state->node_name,
                           state->node_country.empty() ? "-" : state->node_country)},
      {"Endpoint", state->endpoint},
      {"Tunnel IP", tunnelAddresses(*state)},
      {"Interface", state->interface_name}};
  if (stats) {
    fields.emplace_back("Last handshake", stats->last_handshake_unix
                                              ? age(now - *stats->last_handshake_unix)
                                              : "none yet");
    fields.emplace_back("Received", formatBytes(stats->rx_bytes));
    fields.emplace_back("Sent", formatBytes(stats->tx_bytes));
  }
  fields.emplace_back("Kill switch",
                      state->kill_switch ? (state->allow_lan ? "on (LAN allowed)" : "on") : "off");
  fields.emplace_back("DNS", joined(state->dns) + " (only through the tunnel)");
  fields.emplace_back("IPv6", state->ipv6_tunneled ? "through the tunnel" : "blocked");
  fields.emplace_back("Split tunneling", splitText(*state));
  if (!state->cgroup.empty()) fields.emplace_back("Excluded apps", "cgroup " + state->cgroup);
  fields.emplace_back("Session", state->session_id);
  fields.emplace_back("Daemon PID", std::to_string(state->pid));
  ctx.out << renderFields(fields);
  return {};
}

core::Status exclude(const ClientPaths& paths, const std::vector<std::string>& command) {
  if (command.empty()) return usageError("give the command to run: exclude -- CMD [ARGS...]");
  AUREO_ASSIGN_OR_RETURN(auto state, client::loadState(client::statePath(paths.run_dir)));
  if (!state || state->cgroup.empty()) {
    return core::failedPrecondition(
        "no excluded-app cgroup: connect with --exclude-app (e.g. --exclude-app true) first");
  }
  AUREO_ASSIGN_OR_RETURN(auto cg, netcfg::Cgroup::open(state->cgroup, state->cgroup_mount));
  AUREO_RETURN_IF_ERROR(cg.addProcess(::getpid()));
  std::vector<char*> argv;
  argv.reserve(command.size() + 1);
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  return core::failedPrecondition(
      fmt::format("cannot run {}: {}", command.front(), std::system_category().message(errno)));
}

void addRunDir(CLI::App* cmd, ClientPaths& paths) {
  cmd->add_option("--run-dir", paths.run_dir, "Where the daemon keeps its state and log")
      ->capture_default_str()
      ->group("Advanced");
}

}  // namespace

void addClientCommands(CLI::App& app, Context& ctx, Action& action) {
  {
    auto o = std::make_shared<ConnectCliOptions>();
    auto* cmd = app.add_subcommand(
        "connect",
        "Connect this Linux machine: open a session, bring up WireGuard in a background daemon "
        "and protect the connection with nftables");
    cmd->footer(
        "Needs root (TUN device, routes, nftables, resolv.conf). Returns once the first "
        "handshake completed; `aureo-vpn disconnect` undoes everything.\n"
        "Kill switch: fail-closed. While connecting, connected, reconnecting and after the "
        "daemon dies, nothing leaves except to the VPN endpoint and the API (and the LAN with "
        "--allow-lan); only `disconnect` lifts it.\n"
        "DNS: resolv.conf names the resolvers the session offers (the node's own resolver, or "
        "its DNS servers; 1.1.1.1 and 1.0.0.1 if it offers none), or those of --dns, reached "
        "through the tunnel; DNS (53, 853) to anyone else is dropped.\n"
        "IPv6: through the tunnel when the node offers it, blocked otherwise.\n"
        "Split tunneling: --split-include sends only those prefixes through the tunnel; "
        "--split-exclude sends everything else (AllowedIPs = the complement); --exclude-app "
        "runs a command in a cgroup whose traffic bypasses the tunnel (later: `aureo-vpn "
        "exclude -- CMD`).\n"
        "Reconnect: when the node stops answering, the daemon asks the API for another node "
        "and moves there, the kill switch staying in place.");
    auto* node = cmd->add_option("--node", o->node, "Node id or name (default: the best one)");
    cmd->add_option("--country", o->country, "Pick the best node in this country (ISO code)")
        ->excludes(node);
    cmd->add_option("--protocol", o->protocol, "Only wireguard is built in")
        ->capture_default_str()
        ->check(CLI::IsMember({"wireguard"}));
    cmd->add_flag("--kill-switch", o->kill_switch,
                  "Block all traffic outside the tunnel, until disconnect");
    cmd->add_flag("--allow-lan", o->allow_lan, "With --kill-switch: keep the local network");
    cmd->add_option("--dns", o->dns, "Resolver(s) to use through the tunnel (repeatable)");
    auto* include = cmd->add_option("--split-include", o->split_include,
                                    "Only this prefix through the tunnel (repeatable)");
    cmd->add_option("--split-exclude", o->split_exclude,
                    "This prefix outside the tunnel (repeatable)")
        ->excludes(include);
    cmd->add_option("--exclude-app", o->exclude_apps,
                    "Run this shell command outside the tunnel (repeatable)");
    addRunDir(cmd, o->paths);
    cmd->add_option("--interface", o->interface_name, "Tunnel interface name")
        ->capture_default_str()
        ->group("Advanced");
    cmd->add_option("--resolv-conf", o->resolv_conf, "The resolv.conf to replace")
        ->capture_default_str()
        ->group("Advanced");
    cmd->add_option("--cgroup", o->cgroup, "cgroup v2 (relative) for excluded apps")
        ->capture_default_str()
        ->group("Advanced");
    cmd->add_option("--handshake-timeout", o->handshake_timeout,
                    "Seconds to wait for the first handshake")
        ->capture_default_str()
        ->check(CLI::Range(1, 600))
        ->group("Advanced");
    cmd->add_option("--stale-after", o->stale_after,
                    "Seconds without an answer before moving to another node")
        ->capture_default_str()
        ->check(CLI::Range(6, 3600))
        ->group("Advanced");
    cmd->add_option("--log-level", o->log_level, "Daemon log level (RUN_DIR/daemon.log)")
        ->capture_default_str()
        ->group("Advanced");
    cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return connect(ctx, *o); }; });
  }
  {
    auto paths = std::make_shared<ClientPaths>();
    auto* cmd = app.add_subcommand(
        "disconnect",
        "Stop the daemon (or clean up after a dead one), end the session and undo every change");
    addRunDir(cmd, *paths);
    cmd->callback(
        [&ctx, &action, paths] { action = [&ctx, paths] { return disconnect(ctx, *paths); }; });
  }
  {
    auto paths = std::make_shared<ClientPaths>();
    auto* cmd = app.add_subcommand(
        "status", "Node, endpoint, tunnel IP, last handshake, traffic and active protections");
    addRunDir(cmd, *paths);
    cmd->callback(
        [&ctx, &action, paths] { action = [&ctx, paths] { return status(ctx, *paths); }; });
  }
  {
    auto paths = std::make_shared<ClientPaths>();
    auto command = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand(
        "exclude", "Run a command outside the tunnel (its cgroup bypasses it): exclude -- CMD");
    addRunDir(cmd, *paths);
    cmd->add_option("command", *command, "The command and its arguments (after --)")->required();
    cmd->callback([&action, paths, command] {
      action = [paths, command] { return exclude(*paths, *command); };
    });
  }
}

}  // namespace aureo::cli
