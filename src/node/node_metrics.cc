#include "node/node_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

namespace aureo::node {
namespace {

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& r, const char* name,
                                             const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

}  // namespace

NodeMetrics::NodeMetrics(prometheus::Registry& registry) {
  connections_ = &gauge(registry, "aureo_vpn_active_connections",
                        "WireGuard peers with a handshake in the last 3 minutes plus "
                        "connected OpenVPN clients")
                      .Add({});
  openvpn_connections_ =
      &gauge(registry, "aureo_vpn_openvpn_connections", "OpenVPN clients connected to the node")
           .Add({});
  peers_ =
      &gauge(registry, "aureo_vpn_node_peers", "WireGuard peers configured on the node").Add({});
  cpu_ = &gauge(registry, "aureo_vpn_node_cpu_usage", "Node CPU utilisation in percent").Add({});
  auto& transferred = gauge(registry, "aureo_vpn_data_transferred_bytes",
                            "Bytes the node's WireGuard peers and OpenVPN clients have moved since "
                            "the node started");
  sent_ = &transferred.Add({{"direction", "sent"}});
  received_ = &transferred.Add({{"direction", "received"}});
  load_ = &gauge(registry, "aureo_vpn_node_load_score", "Node load score, 0-100").Add({});
  reachable_ = &gauge(registry, "aureo_vpn_control_reachable",
                      "1 when the node's last call to the control plane succeeded")
                    .Add({});
  auto& dropped = prometheus::BuildCounter()
                      .Name("aureo_vpn_wireguard_dropped_packets_total")
                      .Help("Packets the WireGuard engine dropped, by reason")
                      .Register(registry);
  auto& queries = prometheus::BuildCounter()
                      .Name("aureo_vpn_dns_queries_total")
                      .Help("Client DNS queries the node's resolver forwarded, by transport")
                      .Register(registry);
  auto& answers = prometheus::BuildCounter()
                      .Name("aureo_vpn_dns_answers_total")
                      .Help("Answers the node's resolver gave: relayed from upstream or SERVFAIL")
                      .Register(registry);
  auto& dns_dropped =
      prometheus::BuildCounter()
          .Name("aureo_vpn_dns_dropped_total")
          .Help("DNS packets and connections the node's resolver dropped, by reason")
          .Register(registry);
  dns_[0] = &queries.Add({{"transport", "udp"}});
  dns_[1] = &queries.Add({{"transport", "tcp"}});
  dns_[2] = &answers.Add({{"result", "relayed"}});
  dns_[3] = &answers.Add({{"result", "servfail"}});
  dns_[4] = &prometheus::BuildCounter()
                 .Name("aureo_vpn_dns_upstream_failures_total")
                 .Help("Upstream DNS tries that timed out or failed (the next upstream is tried)")
                 .Register(registry)
                 .Add({});
  for (size_t i = 0; i < static_cast<size_t>(DnsDrop::kCount); ++i) {
    dns_[5 + i] = &dns_dropped.Add({{"reason", std::string(dnsDropName(static_cast<DnsDrop>(i)))}});
  }
  for (size_t i = 0; i < drops_.size(); ++i) {
    drops_[i] = &dropped.Add({{"reason", std::string(wireguard::dropReasonName(
                                             static_cast<wireguard::DropReason>(i)))}});
  }
}

void NodeMetrics::update(const NodeSample& s, const wireguard::DropCounters& drops) {
  connections_->Set(static_cast<double>(s.connections));
  openvpn_connections_->Set(static_cast<double>(s.openvpn_connections));
  peers_->Set(static_cast<double>(s.peers));
  cpu_->Set(s.cpu_usage);
  sent_->Set(static_cast<double>(s.bytes_sent));
  received_->Set(static_cast<double>(s.bytes_received));
  load_->Set(s.load_score);
  reachable_->Set(s.control_reachable ? 1 : 0);
  for (size_t i = 0; i < drops_.size(); ++i) {
    const uint64_t now = drops.counts[i];
    if (now > last_drops_[i]) drops_[i]->Increment(static_cast<double>(now - last_drops_[i]));
    last_drops_[i] = now;
  }
}

void NodeMetrics::updateDns(const DnsStats& s) {
  std::array<uint64_t, kDnsCounters> now{s.udp_queries, s.tcp_queries, s.answered, s.servfail,
                                         s.upstream_failures};
  for (size_t i = 0; i < s.drops.size(); ++i) now[5 + i] = s.drops[i];
  for (size_t i = 0; i < now.size(); ++i) {
    if (now[i] > last_dns_[i]) dns_[i]->Increment(static_cast<double>(now[i] - last_dns_[i]));
    last_dns_[i] = now[i];
  }
}

}  // namespace aureo::node
