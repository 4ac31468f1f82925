// The nftables rulesets Aureo installs, rendered as text by pure functions.
//
// Each ruleset is one `inet` table, and the rendered script starts with
//   table inet X {}        (create it if missing)
//   delete table inet X    (so the next line starts from nothing)
// so that Nftables::applyRuleset() replaces the table atomically: there is no
// moment with the old rules gone and the new ones not yet in place. Removing a
// protection is Nftables::deleteTable(TableFamily::kInet, spec.table).
//
// Every input is validated before it is written into the text (interface and
// table names, cgroup paths, address families); nothing is spliced unchecked.
// The client protections follow Mullvad's app: fail closed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/result.h"

namespace aureo::netcfg {

// A VPN server's UDP endpoint.
struct Endpoint {
  core::IpAddress address;
  uint16_t port = 0;
};

// A cgroup v2 as `socket cgroupv2 level N "path"` names it. nft resolves the
// path relative to /sys/fs/cgroup when the rule is added, so the cgroup must
// exist by then; Cgroup::nftMatch() fills this in.
struct CgroupMatch {
  std::string path;  // relative to /sys/fs/cgroup, e.g. "aureo-exclude"
  int level = 1;     // depth in the cgroup v2 hierarchy (root = 0)
};

// A node: masquerade tunnel traffic leaving through the egress interface and
// let it be forwarded.
struct NatSpec {
  std::string table = "aureo-nat";
  std::string tunnel_interface;
  std::vector<core::Cidr> tunnel_v4;
  std::vector<core::Cidr> tunnel_v6;
  std::string egress_interface;  // empty: any interface but the tunnel
  bool isolate_clients = true;   // drop tunnel-to-tunnel forwarding
  bool clamp_mss = true;         // clamp TCP MSS to the route MTU on the tunnel
};
core::Result<std::string> natMasquerade(const NatSpec& spec);

// A client: nothing leaves or arrives except through the tunnel, to and from
// the VPN endpoints, loopback, DHCP/NDP and (optionally) the LAN.
struct KillSwitchSpec {
  std::string table = "aureo-killswitch";
  std::string tunnel_interface;
  std::vector<Endpoint> endpoints;
  bool allow_lan = false;  // RFC 1918, 169.254/16, multicast; fe80::/10, ff00::/8
  bool allow_dhcp = true;  // DHCPv4, DHCPv6 and IPv6 neighbour discovery on the link
  // When set, only packets carrying this mark (the VPN socket's) may reach
  // the endpoints.
  std::optional<uint32_t> fwmark;
  // Applications in this cgroup bypass the kill switch (split tunneling).
  std::optional<CgroupMatch> excluded_cgroup;
  // Destinations routed outside the tunnel on purpose (split tunneling):
  // reachable directly, IPv4 and IPv6 mixed.
  std::vector<core::Cidr> bypass;
  // TCP services reachable outside the tunnel, e.g. the API, so a client
  // whose node died can still ask for another one.
  std::vector<Endpoint> tcp_endpoints;
};
core::Result<std::string> killSwitch(const KillSwitchSpec& spec);

// A client: DNS (udp/tcp 53) and DNS over TLS/QUIC (853) go only to the given
// resolvers through the tunnel; loopback stays open for local stubs.
struct DnsSpec {
  std::string table = "aureo-dns";
  std::string tunnel_interface;
  std::vector<core::IpAddress> resolvers;  // IPv4 and IPv6 mixed
  // Applications in this cgroup are outside the tunnel (split tunneling)
  // and resolve names the way they would without the VPN.
  std::optional<CgroupMatch> excluded_cgroup;
};
core::Result<std::string> dnsLeak(const DnsSpec& spec);

// A client whose node offers no IPv6: all IPv6 except loopback is dropped
// (and rejected on output, so applications fail fast).
struct Ipv6BlockSpec {
  std::string table = "aureo-ipv6";
  std::vector<Endpoint> allowed_endpoints;  // IPv6 VPN endpoints still reachable
};
core::Result<std::string> ipv6Block(const Ipv6BlockSpec& spec = {});

// A client: packets of sockets in an excluded cgroup get `fwmark` (and their
// connections the same ct mark, restored on every later packet, replies
// included) so that a policy-routing rule sends them outside the tunnel.
// Marked traffic leaving a non-loopback interface is masqueraded, because its
// source address may have been chosen for the tunnel before the mark applied.
struct SplitTunnelSpec {
  std::string table = "aureo-split";
  CgroupMatch cgroup;
  uint32_t fwmark = 0;
};
core::Result<std::string> splitTunnelMark(const SplitTunnelSpec& spec);

// A client, in the style of wg-quick: the engine's marked UDP saves its mark
// in the connection, and replies get it back before reverse-path filtering
// (with src_valid_mark) looks at them, so strict rp_filter routes them like
// the socket's own packets instead of into the tunnel; and a packet for a
// tunnel address arriving on any other interface is dropped.
struct TunnelMarkSpec {
  std::string table = "aureo-mark";
  std::string tunnel_interface;
  std::vector<core::IpAddress> tunnel_addresses;
  uint32_t fwmark = 0;
};
core::Result<std::string> tunnelMark(const TunnelMarkSpec& spec);

// Validation shared with other modules.
bool isValidCgroupPath(std::string_view path);

}  // namespace aureo::netcfg
