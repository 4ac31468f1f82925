#include "node/openvpn_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "crypto/encoding.h"
#include "openvpn/pki.h"
#include "openvpn/supervisor.h"

namespace aureo::node {
namespace {

constexpr const char* kKeyFile = "openvpn-server.key";
constexpr const char* kCertFile = "openvpn-server.crt";
constexpr const char* kCaFile = "openvpn-ca.crt";
constexpr const char* kTlsCryptFile = "openvpn-tls-crypt.key";
constexpr const char* kPortFile = "openvpn-port";
constexpr const char* kTransportFile = "openvpn-transport";
constexpr const char* kConfigFile = "openvpn-server.conf";
constexpr const char* kSocketFile = "openvpn.sock";

// Whether an IPv6 socket binds here: false on a host without IPv6, where the
// daemon must listen on IPv4 only.
bool hostHasIpv6() {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_any;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&any), sizeof any) == 0;
  ::close(fd);
  return ok;
}

std::string netmaskOf(int prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return std::to_string(mask >> 24) + "." + std::to_string((mask >> 16) & 0xff) + "." +
         std::to_string((mask >> 8) & 0xff) + "." + std::to_string(mask & 0xff);
}

std::optional<openvpn::Transport> parseTransport(const std::string& s) {
  if (s.starts_with("udp")) return openvpn::Transport::kUdp;
  if (s.starts_with("tcp")) return openvpn::Transport::kTcp;
  return std::nullopt;
}

const char* transportName(openvpn::Transport t) {
  return t == openvpn::Transport::kTcp ? "tcp" : "udp";
}

}  // namespace

OpenVpnListen openvpnListen(const OpenVpnServerOptions& options, const OpenVpnMaterial& material) {
  if (material.transport) return {*material.transport, material.port};
  return {options.transport, options.port != 0 ? options.port : material.port};
}

core::Result<OpenVpnMaterial> loadOrRenewCertificate(const StateDir& state, ControlClient& control,
                                                     const std::string& node_id,
                                                     core::SystemTime now, bool force,
                                                     core::Logger& log) {
  OpenVpnMaterial m;
  if (!force) {
    AUREO_ASSIGN_OR_RETURN(auto key, state.readPrivate(kKeyFile));
    AUREO_ASSIGN_OR_RETURN(auto cert, state.readPrivate(kCertFile));
    AUREO_ASSIGN_OR_RETURN(auto ca, state.readPrivate(kCaFile));
    AUREO_ASSIGN_OR_RETURN(auto tls, state.readPrivate(kTlsCryptFile));
    AUREO_ASSIGN_OR_RETURN(auto port, state.readPrivate(kPortFile));
    AUREO_ASSIGN_OR_RETURN(auto transport, state.readPrivate(kTransportFile));
    if (key && cert && ca && tls && port &&
        openvpn::verifyServerCertificate(*cert, *ca, now).ok()) {
      auto renew = openvpn::needsRenewal(*cert, now);
      if (renew.ok() && !*renew) {
        m.key_pem = std::move(*key);
        m.cert_pem = std::move(*cert);
        m.ca_pem = std::move(*ca);
        m.tls_crypt_key = std::move(*tls);
        m.port = static_cast<uint16_t>(std::clamp(std::atoi(port->c_str()), 1, 65535));
        if (transport) m.transport = parseTransport(*transport);
        return m;
      }
    }
  }
  AUREO_ASSIGN_OR_RETURN(auto request, openvpn::createServerKeyRequest(node_id));
  AUREO_ASSIGN_OR_RETURN(auto answer, control.openvpnCertificate(request.csr_pem));
  if (auto st = openvpn::verifyServerCertificate(answer.server_cert, answer.ca_cert, now);
      !st.ok()) {
    return core::internalError("control sent an OpenVPN certificate that does not verify: " +
                               st.error().message);
  }
  AUREO_RETURN_IF_ERROR(openvpn::validateTlsCryptKey(answer.tls_crypt_key));
  m.key_pem = std::move(request.key_pem);
  m.cert_pem = std::move(answer.server_cert);
  m.ca_pem = std::move(answer.ca_cert);
  m.tls_crypt_key = std::move(answer.tls_crypt_key);
  m.port = static_cast<uint16_t>(answer.port > 0 && answer.port <= 65535 ? answer.port : 1194);
  m.transport = parseTransport(answer.transport);
  // The key first: a certificate on disk always has its key.
  AUREO_RETURN_IF_ERROR(state.writePrivate(kKeyFile, m.key_pem));
  AUREO_RETURN_IF_ERROR(state.writePrivate(kCaFile, m.ca_pem));
  AUREO_RETURN_IF_ERROR(state.writePrivate(kTlsCryptFile, m.tls_crypt_key));
  AUREO_RETURN_IF_ERROR(state.writePrivate(kPortFile, std::to_string(m.port) + "\n"));
  // "" when control did not say: a later start then uses the local options.
  AUREO_RETURN_IF_ERROR(state.writePrivate(
      kTransportFile, m.transport ? std::string(transportName(*m.transport)) + "\n" : ""));
  AUREO_RETURN_IF_ERROR(state.writePrivate(kCertFile, m.cert_pem));
  auto info = openvpn::inspectCertificate(m.cert_pem);
  log.info("OpenVPN server certificate obtained",
           {{"serial", info.ok() ? info->serial_hex : ""},
            {"not_after", info.ok() ? core::unixSeconds(info->not_after) : 0}});
  return m;
}

OpenVpnServer::OpenVpnServer(OpenVpnServerOptions options, const StateDir& state,
                             ControlClient& control, const core::Clock& clock, core::Logger& log)
    : options_(std::move(options)), state_(state), control_(control), clock_(clock), log_(log) {}

OpenVpnServer::~OpenVpnServer() {
  stop();
}

core::Status OpenVpnServer::start(const std::string& node_id, const NodeSettings& settings) {
  if (::access(options_.openvpn_binary.c_str(), X_OK) != 0) {
    return core::failedPrecondition(options_.openvpn_binary +
                                    " is not an executable; install openvpn or set openvpn.binary");
  }
  node_id_ = node_id;
  settings_ = settings;
  auto v4 = core::Cidr::parse(settings.tunnel_ipv4_cidr);
  if (!v4) return core::failedPrecondition("bad tunnel prefix " + settings.tunnel_ipv4_cidr);
  AUREO_ASSIGN_OR_RETURN(pool_v4_, openvpn::openvpnHalf(*v4));
  if (!settings.tunnel_ipv6_cidr.empty()) {
    if (auto v6 = core::Cidr::parse(settings.tunnel_ipv6_cidr)) {
      if (auto half = openvpn::openvpnHalf(*v6); half.ok()) pool_v6_ = *half;
    }
  }
  thread_ = std::jthread([this](const std::stop_token& st) { run(st); });
  return core::okStatus();
}

void OpenVpnServer::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  stopDaemon();
}

std::shared_ptr<openvpn::Supervisor> OpenVpnServer::supervisor() const {
  std::lock_guard lock(mu_);
  return supervisor_;
}

std::optional<int> OpenVpnServer::daemonPid() const {
  auto sup = supervisor();
  if (!sup) return std::nullopt;
  auto pid = sup->daemonPid();
  if (!pid) return std::nullopt;
  return static_cast<int>(*pid);
}

core::Status OpenVpnServer::startDaemon(const OpenVpnMaterial& m) {
  openvpn::ServerConfig c;
  const OpenVpnListen listen = openvpnListen(options_, m);
  c.transport = listen.transport;
  c.port = listen.port;
  c.dual_stack = hostHasIpv6();
  c.device = options_.device;
  c.tunnel_v4 = pool_v4_;
  c.tunnel_v6 = pool_v6_;
  for (const auto& d : settings_.dns_servers) {
    if (auto ip = core::IpAddress::parse(d)) c.dns_servers.push_back(*ip);
  }
  if (c.dns_servers.size() > 8) c.dns_servers.resize(8);
  c.management_socket = state_.path() + "/" + kSocketFile;
  c.ca_pem = m.ca_pem;
  c.cert_pem = m.cert_pem;
  c.key_pem = m.key_pem;
  c.tls_crypt_key = m.tls_crypt_key;
  c.keepalive_interval = options_.keepalive_interval;
  c.keepalive_timeout = options_.keepalive_timeout;
  AUREO_ASSIGN_OR_RETURN(auto text, openvpn::renderServerConfig(c));
  AUREO_RETURN_IF_ERROR(state_.writePrivate(kConfigFile, text));

  openvpn::SupervisorOptions so;
  so.openvpn_binary = options_.openvpn_binary;
  so.config_path = state_.path() + "/" + kConfigFile;
  so.management_socket = c.management_socket;
  so.bytecount_interval_seconds = options_.bytecount_interval_seconds;
  openvpn::SupervisorCallbacks cb;
  cb.authenticate = [this](const openvpn::ClientInfo& info) { return authenticate(info); };
  cb.on_established = [this](const openvpn::ClientSession& s) {
    log_.info("OpenVPN client connected", {{"session_id", s.username}, {"cid", s.cid}});
  };
  cb.on_disconnected = [this](const openvpn::ClientSession& s) { onDisconnected(s); };
  cb.on_daemon_event = [this](const openvpn::DaemonEvent& e) {
    if (e.kind == openvpn::DaemonEvent::Kind::kExited && stopping_.load()) {
      log_.info("openvpn stopped with the node", {{"status", e.exit ? e.exit->toString() : ""}});
    } else if (e.kind == openvpn::DaemonEvent::Kind::kExited) {
      log_.warn("openvpn exited; restarting",
                {{"status", e.exit ? e.exit->toString() : ""},
                 {"restart_ms", static_cast<int64_t>(e.restart_delay.count())}});
    } else if (e.kind == openvpn::DaemonEvent::Kind::kManagementConnected) {
      log_.info("openvpn up", {{"pid", static_cast<int64_t>(e.pid)},
                               {"generation", static_cast<int64_t>(e.generation)}});
    } else if (e.kind == openvpn::DaemonEvent::Kind::kSpawnFailed) {
      log_.warn("openvpn did not start", {{"error", e.message}});
    }
  };
  auto sup = std::make_shared<openvpn::Supervisor>(so, std::move(cb), log_, clock_);
  AUREO_RETURN_IF_ERROR(sup->start());
  {
    std::lock_guard lock(mu_);
    supervisor_ = sup;
  }
  cert_pem_ = m.cert_pem;
  listen_ = listen;
  {
    std::lock_guard lock(mu_);
    running_ = listen;
  }
  log_.info("OpenVPN server started", {{"device", options_.device},
                                       {"transport", transportName(c.transport)},
                                       {"port", static_cast<int64_t>(c.port)},
                                       {"pool", pool_v4_.toString()}});
  return core::okStatus();
}

void OpenVpnServer::stopDaemon() {
  stopping_.store(true);
  std::shared_ptr<openvpn::Supervisor> sup;
  {
    std::lock_guard lock(mu_);
    sup.swap(supervisor_);
  }
  if (sup) sup->stop();  // reports the remaining clients disconnected
  stopping_.store(false);
}

void OpenVpnServer::run(const std::stop_token& stop) {
  for (;;) {
    std::chrono::milliseconds next = options_.renewal_check;
    if (!supervisor()) {
      auto m = loadOrRenewCertificate(state_, control_, node_id_, clock_.now(), false, log_);
      core::Status st = m.ok() ? startDaemon(*m) : core::Status(m.error());
      if (!st.ok()) {
        log_.warn("OpenVPN server not running yet; retrying",
                  {{"error", st.error().message},
                   {"retry_s", static_cast<int64_t>(options_.retry.count())}});
        next = options_.retry;
      }
    } else if (cert_pem_) {
      auto renew = openvpn::needsRenewal(*cert_pem_, clock_.now());
      const bool renewing = renew.ok() && *renew;
      if (renewing) log_.info("OpenVPN server certificate expires soon; renewing");
      // Also asks control each check for the transport and port an admin
      // may have changed; the daemon restarts only on a renewal or a change.
      auto m = loadOrRenewCertificate(state_, control_, node_id_, clock_.now(), true, log_);
      if (m.ok()) {
        const OpenVpnListen listen = openvpnListen(options_, *m);
        if (renewing || listen != listen_) {
          if (!renewing) {
            log_.info("OpenVPN transport or port changed; restarting",
                      {{"transport", transportName(listen.transport)},
                       {"port", static_cast<int64_t>(listen.port)}});
          }
          stopDaemon();
          if (auto st = startDaemon(*m); !st.ok()) {
            log_.warn("OpenVPN restart failed", {{"error", st.error().message}});
            next = options_.retry;
          }
        }
      } else if (renewing) {
        log_.warn("OpenVPN certificate renewal failed; retrying", {{"error", m.error().message}});
        next = options_.retry;
      }
    }
    {
      std::unique_lock lock(mu_);
      wake_cv_.wait_for(lock, stop, next, [this] { return recheck_; });
      recheck_ = false;
    }
    if (stop.stop_requested()) return;
  }
}

void OpenVpnServer::noticeListen(const std::string& transport, int64_t port) {
  const auto t = parseTransport(transport);
  if (!t || port <= 0 || port > 65535) return;
  const OpenVpnListen wanted{*t, static_cast<uint16_t>(port)};
  std::lock_guard lock(mu_);
  if (!running_ || *running_ == wanted || recheck_) return;
  log_.info("control changed the OpenVPN transport or port; checking now",
            {{"transport", transportName(wanted.transport)},
             {"port", static_cast<int64_t>(wanted.port)}});
  recheck_ = true;
  wake_cv_.notify_all();
}

openvpn::AuthDecision OpenVpnServer::authenticate(const openvpn::ClientInfo& info) {
  std::unique_lock lock(mu_);
  auto it = desired_.find(info.username);
  if (it == desired_.end() && !info.reauth && clock_.steadyNow() >= no_wait_until_) {
    // A session created a moment ago may not have reached this node yet.
    // This runs on the supervisor's only event thread, and every client
    // holds the tls-crypt key, so a flood of made-up names must not keep it
    // waiting: after a wait that found nothing, the next ones are refused at
    // once for a while.
    const bool found = desired_cv_.wait_for(lock, options_.auth_wait,
                                            [&] { return desired_.count(info.username) != 0; });
    if (!found) no_wait_until_ = clock_.steadyNow() + options_.auth_wait / 2;
    it = desired_.find(info.username);
  }
  if (it == desired_.end()) {
    return openvpn::AuthDecision::deny("unknown or ended session", "session not valid");
  }
  if (!accept_new_ && !info.reauth) {
    return openvpn::AuthDecision::deny("node draining", "server is draining; try another");
  }
  const DesiredOpenVpnClient client = it->second;
  lock.unlock();
  if (!crypto::constantTimeEqual(crypto::sha256Hex(info.password), client.credential_hash)) {
    return openvpn::AuthDecision::deny("wrong credential", "session not valid");
  }
  auto ip = core::IpAddress::parse(client.tunnel_ip);
  if (!ip || !pool_v4_.contains(*ip)) {
    return openvpn::AuthDecision::deny("session address outside the OpenVPN pool");
  }
  auto decision = openvpn::AuthDecision::accept();
  decision.client_config.push_back("ifconfig-push " + ip->toString() + " " +
                                   netmaskOf(pool_v4_.prefix()));
  if (pool_v6_ && !client.tunnel_ipv6.empty()) {
    auto ip6 = core::IpAddress::parse(client.tunnel_ipv6);
    if (ip6 && pool_v6_->contains(*ip6)) {
      decision.client_config.push_back("ifconfig-ipv6-push " + ip6->toString() + "/" +
                                       std::to_string(pool_v6_->prefix()));
    }
  }
  return decision;
}

void OpenVpnServer::onDisconnected(const openvpn::ClientSession& s) {
  {
    std::lock_guard lock(mu_);
    Account& a = accounts_[s.username];
    a.retired_rx += s.bytes_received;
    a.retired_tx += s.bytes_sent;
  }
  log_.info("OpenVPN client disconnected", {{"session_id", s.username}, {"cid", s.cid}});
}

void OpenVpnServer::applyDesired(const std::vector<DesiredOpenVpnClient>& clients) {
  std::map<std::string, DesiredOpenVpnClient> next;
  for (const auto& c : clients) next[c.session_id] = c;
  std::shared_ptr<openvpn::Supervisor> sup;
  {
    std::lock_guard lock(mu_);
    desired_ = std::move(next);
    sup = supervisor_;
  }
  desired_cv_.notify_all();
  if (!sup) return;
  // Every connected client whose session is no longer wanted goes, which
  // also catches a session that ended while this node was restarting.
  const auto live = sup->clients();  // not under mu_: callbacks take mu_
  std::set<std::string> gone;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : live) {
      if (!desired_.count(s.username)) gone.insert(s.username);
    }
  }
  for (const auto& id : gone) {
    auto kicked = sup->kickUser(id);
    log_.info("OpenVPN session ended; client kicked",
              {{"session_id", id}, {"clients", kicked.ok() ? *kicked : 0}});
  }
}

void OpenVpnServer::setAcceptNew(bool accept) {
  std::lock_guard lock(mu_);
  accept_new_ = accept;
}

std::vector<OpenVpnSessionReport> OpenVpnServer::report() {
  auto sup = supervisor();
  std::vector<openvpn::ClientSession> live =
      sup ? sup->clients() : std::vector<openvpn::ClientSession>{};
  std::map<std::string, std::pair<uint64_t, uint64_t>> current;
  for (const auto& c : live) {
    auto& v = current[c.username];
    v.first += c.bytes_received;
    v.second += c.bytes_sent;
  }
  std::vector<OpenVpnSessionReport> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, bytes] : current) accounts_.try_emplace(id);
  for (auto it = accounts_.begin(); it != accounts_.end();) {
    Account& a = it->second;
    const auto cur = current.find(it->first);
    const bool connected = cur != current.end();
    // A client that disconnected between the two reads above would count
    // neither live nor retired for a moment: never report less than before.
    a.last_rx = std::max(a.last_rx, a.retired_rx + (connected ? cur->second.first : 0));
    a.last_tx = std::max(a.last_tx, a.retired_tx + (connected ? cur->second.second : 0));
    out.push_back(
        {it->first, connected, static_cast<int64_t>(a.last_rx), static_cast<int64_t>(a.last_tx)});
    if (!connected && !desired_.count(it->first)) {
      // Reported one last time; the session is over.
      dropped_rx_ += a.last_rx;
      dropped_tx_ += a.last_tx;
      it = accounts_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

OpenVpnTotals OpenVpnServer::totals() const {
  auto sup = supervisor();
  std::vector<openvpn::ClientSession> live =
      sup ? sup->clients() : std::vector<openvpn::ClientSession>{};
  OpenVpnTotals t;
  t.connections = static_cast<int64_t>(live.size());
  std::lock_guard lock(mu_);
  t.rx_bytes = dropped_rx_;
  t.tx_bytes = dropped_tx_;
  for (const auto& c : live) {
    t.rx_bytes += c.bytes_received;
    t.tx_bytes += c.bytes_sent;
  }
  for (const auto& [id, a] : accounts_) {
    t.rx_bytes += a.retired_rx;
    t.tx_bytes += a.retired_tx;
  }
  return t;
}

}  // namespace aureo::node
