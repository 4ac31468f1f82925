// The node agent (DESIGN.md section 1): it owns a WireGuard interface built
// on the Aureo engine and keeps it equal to what the control plane wants.
//
//   start   key (generated once) -> TUN interface -> enrollment (first start
//           only) -> addresses, forwarding, NAT -> the loops below
//   peers   desired-state long-poll; every answer is reconciled into the
//           engine. Control being away never removes a peer: the tunnels keep
//           forwarding and the loop retries with back-off until it catches up.
//   heartbeat  every heartbeat interval (status, CPU, connections, bytes)
//   report     every report interval (per peer: last handshake, rx/tx)
//   metrics    every metrics interval, into the registry given
//   dns     the resolver for clients on the tunnel gateway addresses (port
//           53), forwarding to the node's dns_servers; run while both this
//           node's option and control's dns_resolver setting say so (each
//           heartbeat answer may switch it)
//   drain   heartbeat `draining`, no new peers, a final report
//   openvpn the stock daemon under a supervisor, its clients decided by the
//           same desired state (openvpn_server.h)
//   stop    loops stopped; interface, NAT table and sysctls removed
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ip.h"
#include "core/log.h"
#include "core/result.h"
#include "node/control_client.h"
#include "node/openvpn_server.h"
#include "node/state.h"

namespace prometheus {
class Registry;
}
namespace aureo::wireguard {
class LinuxDevice;
class UapiServer;
}  // namespace aureo::wireguard

namespace aureo::node {

class NodeNetwork;
class NodeMetrics;
class DnsForwarder;
struct DnsStats;

struct AgentOptions {
  std::string enrollment_token;  // used only when the node has not enrolled
  std::string hostname;          // sent at enrollment: what clients dial; empty keeps control's
  std::string interface_name = "aureo0";
  uint16_t listen_port = 0;      // 0: the port control assigned the node
  std::string egress_interface;  // empty: the interface of the default route
  std::string nat_table = "aureo-nat";
  size_t workers = 0;  // engine workers; 0: one per CPU
  bool uapi = true;    // serve /var/run/wireguard/<ifname>.sock for `wg show`
  // Run the DNS resolver for clients when control asks for it. Off: clients
  // told to use the gateway address get no answers, so turn control's
  // nodes.dns_resolver off too.
  bool dns_resolver = true;
  // Zero: the cadence control sent at enrollment.
  std::chrono::seconds heartbeat_interval{0};
  std::chrono::seconds report_interval{0};
  std::chrono::seconds long_poll_wait{0};
  std::chrono::seconds metrics_interval{15};
  std::chrono::seconds drain_wait{2};
  std::chrono::seconds max_backoff{30};
  // A peer with a handshake this recent counts as a connection.
  std::chrono::seconds connection_window{180};
  // For the load score computed here when control does not send one.
  int64_t max_connections = 1000;
  double link_bytes_per_second = 125'000'000;
  // The OpenVPN server next to the engine (see openvpn_server.h).
  OpenVpnServerOptions openvpn;
};

class Agent {
 public:
  // registry may be null (no metrics).
  Agent(AgentOptions options, StateDir state, ControlClientOptions control, core::Clock& clock,
        core::Logger& log, prometheus::Registry* registry);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Brings the node up and starts the loops. While control is unreachable
  // for the first enrollment it retries until `stop` is requested. Errors
  // carry a plain one-line message: kFailedPrecondition when no TUN device
  // can be created (no CAP_NET_ADMIN, no /dev/net/tun), kUnauthenticated
  // for a refused enrollment token, others for the networking.
  core::Status start(const std::stop_token& stop);

  // Graceful drain: tells control the node is draining, stops accepting new
  // peers, lets `drain_wait` pass (or less, if `stop` is requested), sends a
  // final session report. Peers keep forwarding until stop().
  void drain(const std::stop_token& stop = {});

  // Stops the loops and removes the interface, the NAT table and the
  // sysctls. Called by the destructor too.
  void stop();

  [[nodiscard]] const std::string& nodeId() const { return node_id_; }
  [[nodiscard]] std::string publicKey() const { return public_key_; }
  // The tunnel address of the node (first host of the IPv4 prefix).
  [[nodiscard]] const std::string& tunnelAddress() const { return tunnel_address_; }

 private:
  struct Totals;
  void pollLoop(const std::stop_token& stop);
  void heartbeatLoop(const std::stop_token& stop);
  void reportLoop(const std::stop_token& stop);
  void metricsLoop(const std::stop_token& stop);
  bool sendHeartbeat();
  bool sendReport();
  void sampleMetrics();
  core::Result<Enrollment> enroll(const std::string& public_key, const std::stop_token& stop);
  void markControl(bool reachable, const core::Error* error, const char* what);
  // Starts or stops the resolver to match `wanted` (and the node's option),
  // and restarts it when `upstreams` (given: control's current list) differ
  // from the ones it forwards to.
  void applyDns(bool wanted, const std::optional<std::vector<std::string>>& upstreams = {});

  AgentOptions options_;
  StateDir state_;
  ControlClient control_;
  core::Clock& clock_;
  core::Logger& log_;
  prometheus::Registry* registry_;

  std::string node_id_;
  std::string public_key_;
  std::string tunnel_address_;
  NodeSettings settings_;
  std::vector<core::Cidr> prefixes_;

  std::unique_ptr<wireguard::LinuxDevice> device_;
  std::unique_ptr<wireguard::UapiServer> uapi_;
  std::unique_ptr<NodeNetwork> network_;
  std::unique_ptr<NodeMetrics> metrics_;
  std::unique_ptr<OpenVpnServer> openvpn_;
  std::unique_ptr<Totals> totals_;
  // dns_, dns_wanted_, dns_upstreams_, dns_retired_: start, heartbeats, metrics, stop
  std::mutex dns_mutex_;
  std::unique_ptr<DnsForwarder> dns_;
  std::optional<bool> dns_wanted_;          // the last setting applied
  std::vector<std::string> dns_upstreams_;  // what the resolver forwards to
  std::unique_ptr<DnsStats> dns_retired_;   // counts of forwarders since stopped

  std::atomic<bool> draining_{false};
  std::atomic<bool> control_reachable_{false};
  std::atomic<bool> control_warned_{false};
  std::atomic<double> cpu_usage_{0};
  std::atomic<double> control_load_score_{-1};  // < 0: none from control

  std::mutex cpu_mutex_;  // the sampler and the throughput baseline
  std::vector<std::jthread> loops_;
  bool stopped_ = false;
};

}  // namespace aureo::node
