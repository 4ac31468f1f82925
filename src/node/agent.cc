#include "node/agent.h"

#include <algorithm>
#include <condition_variable>
#include <random>

#include "node/cpu.h"
#include "node/dns_forwarder.h"
#include "node/network.h"
#include "node/node_metrics.h"
#include "node/reconcile.h"
#include "wireguard/keys.h"
#include "wireguard/linux_device.h"
#include "wireguard/uapi.h"

namespace aureo::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kFirstBackoff{500};

// Sleeps for d unless stop is requested first; false when stopped.
bool sleepFor(const std::stop_token& stop, milliseconds d) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

// The period with up to 10% of jitter either way, so a fleet of nodes
// started together does not call control in lockstep.
milliseconds jittered(milliseconds period) {
  thread_local std::mt19937 rng{std::random_device{}()};
  const auto spread = period.count() / 10;
  if (spread <= 0) return period;
  std::uniform_int_distribution<int64_t> d(-spread, spread);
  return period + milliseconds(d(rng));
}

milliseconds nextBackoff(milliseconds current, milliseconds max) {
  return std::min(max, current * 2);
}

seconds orDefault(seconds configured, int64_t from_control, int64_t fallback) {
  if (configured.count() > 0) return configured;
  return seconds(from_control > 0 ? from_control : fallback);
}

void accumulate(DnsStats& into, const DnsStats& s) {
  into.udp_queries += s.udp_queries;
  into.tcp_queries += s.tcp_queries;
  into.answered += s.answered;
  into.servfail += s.servfail;
  into.upstream_failures += s.upstream_failures;
  for (size_t i = 0; i < s.drops.size(); ++i) into.drops[i] += s.drops[i];
}

struct Snapshot {
  int64_t peers = 0;
  int64_t connections = 0;
  uint64_t rx = 0;
  uint64_t tx = 0;
  std::vector<PeerReport> reports;
};

}  // namespace

struct Agent::Totals {
  // Bytes of peers already removed, so node totals only grow.
  std::atomic<uint64_t> retired_rx{0};
  std::atomic<uint64_t> retired_tx{0};
  CpuSampler cpu;  // guarded by cpu_mutex_
  // Throughput baseline for the local load score; guarded by cpu_mutex_.
  uint64_t last_bytes = 0;
  std::optional<core::SteadyTime> last_at;
  double bytes_per_second = 0;
};

Agent::Agent(AgentOptions options, StateDir state, ControlClientOptions control, core::Clock& clock,
             core::Logger& log, prometheus::Registry* registry)
    : options_(std::move(options)),
      state_(std::move(state)),
      control_(std::move(control)),
      clock_(clock),
      log_(log),
      registry_(registry),
      totals_(std::make_unique<Totals>()),
      dns_retired_(std::make_unique<DnsStats>()) {}

Agent::~Agent() {
  stop();
}

core::Result<Enrollment> Agent::enroll(const std::string& public_key, const std::stop_token& stop) {
  AUREO_ASSIGN_OR_RETURN(auto saved, state_.loadEnrollment());
  if (saved) return std::move(*saved);
  if (options_.enrollment_token.empty()) {
    return core::failedPrecondition(
        "the node has not enrolled yet: give it the enrollment token from `POST "
        "/api/v1/admin/nodes` (node.enrollment_token)");
  }
  milliseconds backoff = kFirstBackoff;
  for (;;) {
    auto e = control_.enroll(options_.enrollment_token, public_key, options_.hostname);
    if (e.ok()) {
      AUREO_RETURN_IF_ERROR(state_.saveEnrollment(*e));
      log_.info("enrolled", {{"node_id", e->node_id}});
      return e;
    }
    if (e.error().code == core::Code::kUnauthenticated) {
      return core::unauthenticated(
          "the control plane refused the enrollment token (already used, expired or unknown); "
          "issue a new one with POST /api/v1/admin/nodes/{id}/enrollment-token");
    }
    if (!e.error().retryable()) return e.error();
    log_.warn("control unreachable for enrollment; retrying",
              {{"error", e.error().message}, {"retry_ms", backoff.count()}});
    if (!sleepFor(stop, jittered(backoff)))
      return core::Error{core::Code::kCancelled, "stopped", {}};
    backoff = nextBackoff(backoff, options_.max_backoff);
  }
}

core::Status Agent::start(const std::stop_token& stop) {
  AUREO_ASSIGN_OR_RETURN(auto key, state_.loadOrCreatePrivateKey());
  public_key_ = wireguard::toBase64(wireguard::publicKeyOf(key).span());

  // The TUN device first: a host where the node cannot run should say so
  // before spending an enrollment token.
  wireguard::LinuxDeviceOptions dev_options;
  dev_options.interface_name = options_.interface_name;
  dev_options.workers = options_.workers;
  auto device = wireguard::LinuxDevice::create(dev_options, clock_, log_);
  if (!device.ok()) {
    return core::failedPrecondition(
        "cannot create the TUN device " + options_.interface_name +
        " (needs CAP_NET_ADMIN and /dev/net/tun): " + device.error().message);
  }
  device_ = std::move(*device);
  device_->device().setPrivateKey(key);

  AUREO_ASSIGN_OR_RETURN(auto enrollment, enroll(public_key_, stop));
  node_id_ = enrollment.node_id;
  settings_ = enrollment.settings;
  control_.setCredential(enrollment.node_credential);

  auto v4 = core::Cidr::parse(settings_.tunnel_ipv4_cidr);
  if (!v4 || !v4->address().isV4() || v4->prefix() > 30) {
    return core::failedPrecondition("control sent an unusable tunnel prefix '" +
                                    settings_.tunnel_ipv4_cidr + "'");
  }
  NetworkSpec net;
  net.interface_name = options_.interface_name;
  net.tunnel_v4 = *v4;
  prefixes_ = {*v4};
  if (!settings_.tunnel_ipv6_cidr.empty()) {
    auto v6 = core::Cidr::parse(settings_.tunnel_ipv6_cidr);
    if (!v6 || v6->address().isV4() || v6->prefix() > 126) {
      return core::failedPrecondition("control sent an unusable IPv6 tunnel prefix '" +
                                      settings_.tunnel_ipv6_cidr + "'");
    }
    net.tunnel_v6 = *v6;
    prefixes_.push_back(*v6);
  }
  net.egress_interface = options_.egress_interface;
  net.nat_table = options_.nat_table;
  net.saved_sysctls_file = state_.path() + "/sysctl.json";
  tunnel_address_ = nodeAddress(*v4).toString();

  const int64_t port = options_.listen_port != 0 ? options_.listen_port : settings_.wg_port;
  if (port <= 0 || port > 65535) return core::failedPrecondition("bad WireGuard port");
  if (auto st = device_->device().setListenPort(static_cast<uint16_t>(port)); !st.ok()) {
    return core::Error{
        st.error().code,
        "cannot listen on UDP port " + std::to_string(port) + ": " + st.error().message,
        {}};
  }
  AUREO_ASSIGN_OR_RETURN(network_, NodeNetwork::setUp(net, log_));

  if (options_.uapi) {
    auto uapi = wireguard::UapiServer::start(options_.interface_name, device_->uapi(), log_);
    if (uapi.ok()) {
      uapi_ = std::move(*uapi);
    } else {
      log_.warn("no UAPI socket; `wg show` will not see the interface",
                {{"error", uapi.error().message}});
    }
  }
  if (registry_ != nullptr) metrics_ = std::make_unique<NodeMetrics>(*registry_);
  if (options_.openvpn.enabled) {
    openvpn_ = std::make_unique<OpenVpnServer>(options_.openvpn, state_, control_, clock_, log_);
    if (auto st = openvpn_->start(node_id_, settings_); !st.ok()) {
      // WireGuard still works; say plainly why OpenVPN does not.
      log_.warn("OpenVPN disabled on this node", {{"error", st.error().message}});
      openvpn_.reset();
    }
  }
  // After the addresses exist: the resolver binds the gateway addresses.
  applyDns(settings_.dns_resolver, settings_.dns_servers);

  log_.info("node up", {{"node_id", node_id_},
                        {"interface", options_.interface_name},
                        {"listen_port", port},
                        {"address", tunnel_address_}});
  // Online at once rather than one interval later.
  sendHeartbeat();
  sampleMetrics();
  loops_.emplace_back([this](const std::stop_token& st) { pollLoop(st); });
  loops_.emplace_back([this](const std::stop_token& st) { heartbeatLoop(st); });
  loops_.emplace_back([this](const std::stop_token& st) { reportLoop(st); });
  loops_.emplace_back([this](const std::stop_token& st) { metricsLoop(st); });
  return core::okStatus();
}

void Agent::markControl(bool reachable, const core::Error* error, const char* what) {
  control_reachable_.store(reachable);
  if (reachable) {
    if (control_warned_.exchange(false)) log_.info("control reachable again");
    return;
  }
  // One warning per outage, not one per retry.
  if (!control_warned_.exchange(true)) {
    log_.warn("control unreachable; peers keep forwarding",
              {{"call", what}, {"error", error ? error->message : ""}});
  } else {
    log_.debug("control still unreachable",
               {{"call", what}, {"error", error ? error->message : ""}});
  }
}

void Agent::pollLoop(const std::stop_token& stop) {
  const seconds wait = orDefault(options_.long_poll_wait, settings_.long_poll_timeout_s, 30);
  std::optional<int64_t> version;  // none: the first answer comes at once, with every peer
  milliseconds backoff = kFirstBackoff;
  while (!stop.stop_requested()) {
    auto state = control_.desiredState(version, wait, stop);
    if (!state.ok()) {
      if (state.error().code == core::Code::kCancelled) return;
      if (state.error().code == core::Code::kUnauthenticated) {
        log_.error("control refused the node credential; enroll the node again",
                   {{"error", state.error().message}});
        backoff = options_.max_backoff;
      }
      markControl(false, &state.error(), "desired-state");
      if (!sleepFor(stop, jittered(backoff))) return;
      backoff = nextBackoff(backoff, options_.max_backoff);
      continue;
    }
    markControl(true, nullptr, "desired-state");
    backoff = kFirstBackoff;
    ReconcileOptions ro;
    ro.tunnel_prefixes = prefixes_;
    ro.accept_new_peers = !draining_.load();
    const auto r = reconcilePeers(device_->device(), *state, ro);
    totals_->retired_rx += r.removed_rx_bytes;
    totals_->retired_tx += r.removed_tx_bytes;
    if (openvpn_) openvpn_->applyDesired(state->openvpn_clients);
    if (r.changed() || r.invalid > 0 || r.failed > 0 || !version) {
      log_.info("peers reconciled", {{"version", state->version},
                                     {"peers", device_->device().peerCount()},
                                     {"added", r.added},
                                     {"updated", r.updated},
                                     {"removed", r.removed},
                                     {"invalid", r.invalid},
                                     {"refused", r.refused},
                                     {"failed", r.failed}});
    }
    version = state->version;
  }
}

namespace {

Snapshot snapshotOf(wireguard::Device& device, core::SystemTime now, seconds window) {
  Snapshot s;
  for (const auto& p : device.allPeerStats()) {
    ++s.peers;
    s.rx += p.rx_bytes;
    s.tx += p.tx_bytes;
    int64_t last = 0;
    if (p.last_handshake) {
      last = core::unixSeconds(*p.last_handshake);
      if (now - *p.last_handshake <= window) ++s.connections;
    }
    s.reports.push_back({wireguard::toBase64(p.public_key.span()), last,
                         static_cast<int64_t>(p.rx_bytes), static_cast<int64_t>(p.tx_bytes)});
  }
  return s;
}

}  // namespace

bool Agent::sendHeartbeat() {
  const Snapshot s = snapshotOf(device_->device(), clock_.now(), options_.connection_window);
  Heartbeat hb;
  hb.status = draining_.load() ? "draining" : "online";
  hb.cpu_usage = cpu_usage_.load();
  hb.connections = s.connections;
  // The node's view: it sends what its peers receive and vice versa.
  hb.bytes_sent = static_cast<int64_t>(s.tx + totals_->retired_tx.load());
  hb.bytes_received = static_cast<int64_t>(s.rx + totals_->retired_rx.load());
  if (openvpn_) {
    const auto o = openvpn_->totals();
    hb.openvpn_connections = o.connections;
    hb.connections += o.connections;
    hb.bytes_sent += static_cast<int64_t>(o.tx_bytes);
    hb.bytes_received += static_cast<int64_t>(o.rx_bytes);
  }
  auto reply = control_.heartbeat(hb);
  if (!reply.ok()) {
    markControl(false, &reply.error(), "heartbeat");
    return false;
  }
  markControl(true, nullptr, "heartbeat");
  control_load_score_.store(reply->load_score.value_or(-1));
  if (reply->dns_resolver) applyDns(*reply->dns_resolver, reply->dns_servers);
  if (openvpn_ && reply->openvpn_transport && reply->openvpn_port) {
    openvpn_->noticeListen(*reply->openvpn_transport, *reply->openvpn_port);
  }
  return true;
}

void Agent::applyDns(bool wanted, const std::optional<std::vector<std::string>>& upstreams) {
  std::lock_guard lock(dns_mutex_);
  const bool new_upstreams = upstreams && *upstreams != dns_upstreams_;
  if (dns_wanted_ && *dns_wanted_ == wanted && !new_upstreams) return;
  if (new_upstreams) {
    dns_upstreams_ = *upstreams;
    if (dns_ && wanted) {  // restarted below with the new list
      std::string list;
      for (const auto& s : dns_upstreams_) list += (list.empty() ? "" : ",") + s;
      log_.info("upstream DNS servers changed; restarting the resolver", {{"dns_servers", list}});
      accumulate(*dns_retired_, dns_->stats());
      dns_.reset();
    }
  }
  dns_wanted_ = wanted;
  if (!wanted || !options_.dns_resolver) {
    if (dns_) {
      accumulate(*dns_retired_, dns_->stats());
      log_.info("DNS resolver stopped: control's dns_resolver setting is off");
    }
    dns_.reset();
    if (wanted) {
      log_.warn(
          "control tells clients to use the node's DNS resolver, which this node runs "
          "without (node.dns_resolver = false)");
    }
    return;
  }
  DnsForwarderOptions o;
  for (const auto& prefix : prefixes_) o.listen.push_back({nodeAddress(prefix), 53});
  o.bind_device = options_.interface_name;
  o.allowed_sources = prefixes_;
  for (const auto& s : dns_upstreams_) {
    auto upstream = parseDnsEndpoint(s);
    if (upstream.ok()) {
      o.upstreams.push_back(*upstream);
    } else {
      log_.warn("ignoring an upstream DNS server", {{"error", upstream.error().message}});
    }
  }
  if (o.upstreams.empty()) {
    log_.error("no DNS resolver for clients: the node has no usable dns_servers");
    return;
  }
  auto forwarder = DnsForwarder::start(std::move(o), log_);
  if (!forwarder.ok()) {
    // The tunnels work without it; clients resolve nothing until it runs.
    log_.error("no DNS resolver for clients", {{"error", forwarder.error().message}});
    dns_wanted_.reset();  // try again at the next heartbeat
    return;
  }
  dns_ = std::move(*forwarder);
}

bool Agent::sendReport() {
  Snapshot s = snapshotOf(device_->device(), clock_.now(), options_.connection_window);
  std::vector<OpenVpnSessionReport> openvpn;
  if (openvpn_) openvpn = openvpn_->report();
  auto st = control_.report(s.reports, openvpn);
  if (!st.ok()) {
    markControl(false, &st.error(), "sessions/report");
    return false;
  }
  markControl(true, nullptr, "sessions/report");
  return true;
}

void Agent::sampleMetrics() {
  Snapshot s = snapshotOf(device_->device(), clock_.now(), options_.connection_window);
  OpenVpnTotals o;
  if (openvpn_) o = openvpn_->totals();
  s.connections += o.connections;
  const uint64_t tx = s.tx + totals_->retired_tx.load() + o.tx_bytes;
  const uint64_t rx = s.rx + totals_->retired_rx.load() + o.rx_bytes;
  double cpu = 0;
  double throughput = 0;
  {
    std::lock_guard lock(cpu_mutex_);
    if (auto c = totals_->cpu.sample()) cpu_usage_.store(*c);
    cpu = cpu_usage_.load();
    const auto now = clock_.steadyNow();
    const uint64_t bytes = rx + tx;
    if (totals_->last_at) {
      const double dt = std::chrono::duration<double>(now - *totals_->last_at).count();
      if (dt > 0 && bytes >= totals_->last_bytes) {
        totals_->bytes_per_second = static_cast<double>(bytes - totals_->last_bytes) / dt;
      }
    }
    totals_->last_at = now;
    totals_->last_bytes = bytes;
    throughput = totals_->bytes_per_second;
  }
  if (!metrics_) return;
  NodeSample sample;
  sample.connections = s.connections;
  sample.openvpn_connections = o.connections;
  sample.peers = s.peers;
  sample.cpu_usage = cpu;
  sample.bytes_sent = tx;
  sample.bytes_received = rx;
  sample.control_reachable = control_reachable_.load();
  const double from_control = control_load_score_.load();
  if (from_control >= 0) {
    sample.load_score = from_control;
  } else {
    // The control plane's formula, with what the node knows.
    auto pct = [](double v) { return std::clamp(v, 0.0, 100.0); };
    const double conn = options_.max_connections > 0
                            ? 100.0 * static_cast<double>(s.connections) /
                                  static_cast<double>(options_.max_connections)
                            : 100.0;
    const double link = options_.link_bytes_per_second > 0
                            ? 100.0 * throughput / options_.link_bytes_per_second
                            : 0.0;
    sample.load_score = pct(0.5 * pct(conn) + 0.3 * pct(cpu) + 0.2 * pct(link));
  }
  metrics_->update(sample, device_->device().drops());
  DnsStats dns;
  {
    std::lock_guard lock(dns_mutex_);
    dns = *dns_retired_;
    if (dns_) accumulate(dns, dns_->stats());
  }
  metrics_->updateDns(dns);
}

void Agent::heartbeatLoop(const std::stop_token& stop) {
  const seconds period = orDefault(options_.heartbeat_interval, settings_.heartbeat_interval_s, 30);
  while (sleepFor(stop, jittered(period))) sendHeartbeat();
}

void Agent::reportLoop(const std::stop_token& stop) {
  const seconds period = orDefault(options_.report_interval, settings_.report_interval_s, 60);
  while (sleepFor(stop, jittered(period))) sendReport();
}

void Agent::metricsLoop(const std::stop_token& stop) {
  const seconds period =
      options_.metrics_interval.count() > 0 ? options_.metrics_interval : seconds(15);
  while (sleepFor(stop, period)) sampleMetrics();
}

void Agent::drain(const std::stop_token& stop) {
  if (!device_ || draining_.exchange(true)) return;
  if (openvpn_) openvpn_->setAcceptNew(false);
  log_.info("draining", {{"wait_s", options_.drain_wait.count()}});
  sendHeartbeat();
  if (options_.drain_wait.count() > 0) sleepFor(stop, options_.drain_wait);
  if (sendReport()) log_.info("final session report sent");
}

void Agent::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& t : loops_) t.request_stop();
  loops_.clear();    // joins; the long-poll is cancelled by its stop token
  openvpn_.reset();  // stops the daemon before the network goes
  {
    std::lock_guard lock(dns_mutex_);
    dns_.reset();  // before the interface its sockets are bound to
  }
  uapi_.reset();
  device_.reset();  // the kernel removes the interface with its last queue
  if (network_) network_->tearDown();
  network_.reset();
  if (!node_id_.empty()) log_.info("node stopped", {{"node_id", node_id_}});
}

}  // namespace aureo::node
