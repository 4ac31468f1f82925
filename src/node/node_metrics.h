// The node's Prometheus gauges (DESIGN.md section 11), refreshed from the
// engine every metrics interval:
//   aureo_vpn_active_connections        peers with a handshake in the window,
//                                       plus connected OpenVPN clients
//   aureo_vpn_openvpn_connections       connected OpenVPN clients
//   aureo_vpn_node_cpu_usage            percent, from /proc/stat
//   aureo_vpn_data_transferred_bytes    {direction="sent"|"received"}
//   aureo_vpn_node_load_score           0-100
//   aureo_vpn_node_peers                peers configured on the engine
//   aureo_vpn_control_reachable         1 when the last call to control worked
//   aureo_vpn_wireguard_dropped_packets_total{reason}
//   aureo_vpn_dns_queries_total{transport="udp"|"tcp"}   the resolver for
//   aureo_vpn_dns_answers_total{result="relayed"|"servfail"}   clients
//   aureo_vpn_dns_upstream_failures_total
//   aureo_vpn_dns_dropped_total{reason}
#pragma once

#include <array>
#include <cstdint>

#include "node/dns_forwarder.h"
#include "wireguard/device.h"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
}  // namespace prometheus

namespace aureo::node {

struct NodeSample {
  int64_t connections = 0;
  int64_t openvpn_connections = 0;
  int64_t peers = 0;
  double cpu_usage = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  double load_score = 0;
  bool control_reachable = false;
};

class NodeMetrics {
 public:
  explicit NodeMetrics(prometheus::Registry& registry);
  // Safe from any thread, but meant for one updater.
  void update(const NodeSample& sample, const wireguard::DropCounters& drops);
  // The resolver's counters, cumulative over every forwarder the agent ran.
  void updateDns(const DnsStats& stats);

 private:
  prometheus::Gauge* connections_ = nullptr;
  prometheus::Gauge* openvpn_connections_ = nullptr;
  prometheus::Gauge* peers_ = nullptr;
  prometheus::Gauge* cpu_ = nullptr;
  prometheus::Gauge* sent_ = nullptr;
  prometheus::Gauge* received_ = nullptr;
  prometheus::Gauge* load_ = nullptr;
  prometheus::Gauge* reachable_ = nullptr;
  std::array<prometheus::Counter*, static_cast<size_t>(wireguard::DropReason::kCount)> drops_{};
  std::array<uint64_t, static_cast<size_t>(wireguard::DropReason::kCount)> last_drops_{};

  static constexpr size_t kDnsCounters = 5 + static_cast<size_t>(DnsDrop::kCount);
  std::array<prometheus::Counter*, kDnsCounters> dns_{};
  std::array<uint64_t, kDnsCounters> last_dns_{};
};

}  // namespace aureo::node
