#include "netcfg/rulesets.h"

#include <string_view>

#include <fmt/format.h>

#include "netcfg/netlink.h"
#include "netcfg/nftables.h"

namespace aureo::netcfg {
namespace {

// Address ranges a client may reach with "allow LAN", as Mullvad defines them.
constexpr std::string_view kLanV4[] = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                       "169.254.0.0/16"};
constexpr std::string_view kMulticastV4[] = {"224.0.0.0/4", "255.255.255.255"};
constexpr std::string_view kLanV6[] = {"fe80::/10"};
constexpr std::string_view kMulticastV6[] = {"ff00::/8"};

// IPv6 neighbour discovery only ever travels one hop, so a hop limit of 255
// proves the packet stayed on the link.
constexpr std::string_view kNdpOut =
    "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } "
    "ip6 hoplimit 255 accept";
constexpr std::string_view kNdpIn =
    "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } "
    "ip6 hoplimit 255 accept";

core::Status checkTable(const std::string& name) {
  if (!isValidTableName(name)) {
    return core::invalidArgument(fmt::format("invalid nftables table name '{}'", name), "table");
  }
  return {};
}

core::Status checkInterface(const std::string& name, std::string_view field) {
  if (!isValidInterfaceName(name)) {
    return core::invalidArgument(fmt::format("invalid interface name '{}'", name),
                                 std::string(field));
  }
  return {};
}

core::Status checkEndpoints(const std::vector<Endpoint>& endpoints, std::string_view field) {
  for (const auto& e : endpoints) {
    if (e.port == 0) {
      return core::invalidArgument(fmt::format("endpoint {} has port 0", e.address.toString()),
                                   std::string(field));
    }
  }
  return {};
}

core::Status checkCgroup(const CgroupMatch& cgroup, std::string_view field) {
  if (!isValidCgroupPath(cgroup.path)) {
    return core::invalidArgument(fmt::format("invalid cgroup path '{}'", cgroup.path),
                                 std::string(field));
  }
  if (cgroup.level < 1 || cgroup.level > 255) {
    return core::invalidArgument("cgroup level must be 1..255", std::string(field));
  }
  return {};
}

std::string quoted(std::string_view validated) {
  return fmt::format("\"{}\"", validated);
}

// "x" for one element, "{ x, y }" for several.
std::string setOf(const std::vector<std::string>& items) {
  if (items.size() == 1) return items.front();
  return fmt::format("{{ {} }}", fmt::join(items, ", "));
}

template <size_t N>
std::vector<std::string> strings(const std::string_view (&items)[N]) {
  return {std::begin(items), std::end(items)};
}

std::string cgroupMatch(const CgroupMatch& cgroup) {
  return fmt::format("socket cgroupv2 level {} {}", cgroup.level, quoted(cgroup.path));
}

std::string endpointOut(const Endpoint& e) {
  return fmt::format("{} daddr {} udp dport {}", e.address.isV4() ? "ip" : "ip6",
                     e.address.toString(), e.port);
}

std::string endpointIn(const Endpoint& e) {
  return fmt::format("{} saddr {} udp sport {}", e.address.isV4() ? "ip" : "ip6",
                     e.address.toString(), e.port);
}

// Accumulates the script; every table starts with the atomic-replace prelude.
class Script {
 public:
  explicit Script(const std::string& table) : table_(table) {
    out_ = fmt::format("table inet {0} {{}}\ndelete table inet {0}\ntable inet {0} {{\n", table);
  }
  void chain(std::string_view name, std::string_view type, std::string_view hook,
             std::string_view priority, std::string_view policy) {
    closeChain();
    out_ += fmt::format("\tchain {} {{\n\t\ttype {} hook {} priority {}; policy {};\n", name, type,
                        hook, priority, policy);
    in_chain_ = true;
  }
  void rule(std::string_view text) { out_ += fmt::format("\t\t{}\n", text); }
  std::string finish() {
    closeChain();
    out_ += "}\n";
    return std::move(out_);
  }

 private:
  void closeChain() {
    if (in_chain_) out_ += "\t}\n";
    in_chain_ = false;
  }
  std::string table_;
  std::string out_;
  bool in_chain_ = false;
};

}  // namespace

bool isValidCgroupPath(std::string_view path) {
  if (path.empty() || path.size() > 255) return false;
  if (path.front() == '/' || path.back() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (const char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '.' || c == '@' || c == ':' || c == '+';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

core::Result<std::string> natMasquerade(const NatSpec& spec) {
  AUREO_RETURN_IF_ERROR(checkTable(spec.table));
  AUREO_RETURN_IF_ERROR(checkInterface(spec.tunnel_interface, "tunnel_interface"));
  if (!spec.egress_interface.empty()) {
    AUREO_RETURN_IF_ERROR(checkInterface(spec.egress_interface, "egress_interface"));
    if (spec.egress_interface == spec.tunnel_interface) {
      return core::invalidArgument("egress interface equals the tunnel interface",
                                   "egress_interface");
    }
  }
  if (spec.tunnel_v4.empty() && spec.tunnel_v6.empty()) {
    return core::invalidArgument("no tunnel subnet to masquerade", "tunnel_v4");
  }
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  for (const auto& c : spec.tunnel_v4) {
    if (!c.address().isV4())
      return core::invalidArgument("tunnel_v4 holds an IPv6 prefix", "tunnel_v4");
    v4.push_back(c.toString());
  }
  for (const auto& c : spec.tunnel_v6) {
    if (c.address().isV4())
      return core::invalidArgument("tunnel_v6 holds an IPv4 prefix", "tunnel_v6");
    v6.push_back(c.toString());
  }

  const std::string tun = quoted(spec.tunnel_interface);
  const bool any_egress = spec.egress_interface.empty();
  const std::string out_egress = any_egress
                                     ? fmt::format("oifname != {}", tun)
                                     : fmt::format("oifname {}", quoted(spec.egress_interface));
  const std::string in_egress = any_egress
                                    ? fmt::format("iifname != {}", tun)
                                    : fmt::format("iifname {}", quoted(spec.egress_interface));

  Script s(spec.table);
  s.chain("postrouting", "nat", "postrouting", "srcnat", "accept");
  if (!v4.empty()) s.rule(fmt::format("ip saddr {} {} masquerade", setOf(v4), out_egress));
  if (!v6.empty()) s.rule(fmt::format("ip6 saddr {} {} masquerade", setOf(v6), out_egress));

  // Policy accept: this table must not break forwarding the host does for
  // others. It only opens tunnel <-> egress and closes the rest of the tunnel.
  s.chain("forward", "filter", "forward", "filter", "accept");
  if (spec.clamp_mss) {
    s.rule(fmt::format(
        "iifname {} tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu", tun));
    s.rule(fmt::format(
        "oifname {} tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu", tun));
  }
  if (spec.isolate_clients) s.rule(fmt::format("iifname {0} oifname {0} drop", tun));
  s.rule(fmt::format("iifname {} {} accept", tun, out_egress));
  s.rule(fmt::format("{} oifname {} ct state established,related accept", in_egress, tun));
  s.rule(fmt::format("{} oifname {} drop", in_egress, tun));
  return s.finish();
}

core::Result<std::string> killSwitch(const KillSwitchSpec& spec) {
  AUREO_RETURN_IF_ERROR(checkTable(spec.table));
  AUREO_RETURN_IF_ERROR(checkInterface(spec.tunnel_interface, "tunnel_interface"));
  AUREO_RETURN_IF_ERROR(checkEndpoints(spec.endpoints, "endpoints"));
  AUREO_RETURN_IF_ERROR(checkEndpoints(spec.tcp_endpoints, "tcp_endpoints"));
  if (spec.fwmark && *spec.fwmark == 0)
    return core::invalidArgument("fwmark 0 marks nothing", "fwmark");
  if (spec.excluded_cgroup)
    AUREO_RETURN_IF_ERROR(checkCgroup(*spec.excluded_cgroup, "excluded_cgroup"));

  const std::string tun = quoted(spec.tunnel_interface);
  const std::string mark = spec.fwmark ? fmt::format(" meta mark {:#x}", *spec.fwmark) : "";

  Script s(spec.table);
  // Output: fail closed. The final reject makes blocked connections fail at
  // once instead of hanging; nothing reaches the wire either way.
  s.chain("output", "filter", "output", "filter", "drop");
  s.rule("oifname \"lo\" accept");
  s.rule(fmt::format("oifname {} accept", tun));
  for (const auto& e : spec.endpoints) s.rule(fmt::format("{}{} accept", endpointOut(e), mark));
  if (spec.excluded_cgroup) s.rule(fmt::format("{} accept", cgroupMatch(*spec.excluded_cgroup)));
  for (const auto& e : spec.tcp_endpoints) {
    s.rule(fmt::format("{} daddr {} tcp dport {} accept", e.address.isV4() ? "ip" : "ip6",
                       e.address.toString(), e.port));
  }
  std::vector<std::string> bypass_v4;
  std::vector<std::string> bypass_v6;
  for (const auto& c : spec.bypass) {
    (c.address().isV4() ? bypass_v4 : bypass_v6).push_back(c.toString());
  }
  if (!bypass_v4.empty()) s.rule(fmt::format("ip daddr {} accept", setOf(bypass_v4)));
  if (!bypass_v6.empty()) s.rule(fmt::format("ip6 daddr {} accept", setOf(bypass_v6)));
  if (spec.allow_dhcp) {
    s.rule("meta nfproto ipv4 udp sport 68 udp dport 67 accept");
    s.rule("ip6 saddr fe80::/10 udp sport 546 udp dport 547 accept");
    s.rule(kNdpOut);
  }
  if (spec.allow_lan) {
    auto v4 = strings(kLanV4);
    for (auto m : kMulticastV4) v4.emplace_back(m);
    auto v6 = strings(kLanV6);
    for (auto m : kMulticastV6) v6.emplace_back(m);
    s.rule(fmt::format("ip daddr {} accept", setOf(v4)));
    s.rule(fmt::format("ip6 daddr {} accept", setOf(v6)));
  }
  s.rule("reject with icmpx type admin-prohibited");

  // Input: replies to what output let through, plus the same exceptions.
  s.chain("input", "filter", "input", "filter", "drop");
  s.rule("iifname \"lo\" accept");
  s.rule(fmt::format("iifname {} accept", tun));
  for (const auto& e : spec.endpoints) s.rule(fmt::format("{} accept", endpointIn(e)));
  s.rule("ct state established,related accept");
  if (spec.allow_dhcp) {
    s.rule("meta nfproto ipv4 udp sport 67 udp dport 68 accept");
    s.rule("ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept");
    s.rule(kNdpIn);
  }
  if (spec.allow_lan) {
    s.rule(fmt::format("ip saddr {} accept", setOf(strings(kLanV4))));
    s.rule(fmt::format("ip6 saddr {} accept", setOf(strings(kLanV6))));
  }
  return s.finish();
}

core::Result<std::string> dnsLeak(const DnsSpec& spec) {
  AUREO_RETURN_IF_ERROR(checkTable(spec.table));
  AUREO_RETURN_IF_ERROR(checkInterface(spec.tunnel_interface, "tunnel_interface"));
  if (spec.excluded_cgroup)
    AUREO_RETURN_IF_ERROR(checkCgroup(*spec.excluded_cgroup, "excluded_cgroup"));
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  for (const auto& r : spec.resolvers) (r.isV4() ? v4 : v6).push_back(r.toString());

  const std::string tun = quoted(spec.tunnel_interface);
  constexpr std::string_view kDns = "meta l4proto { tcp, udp } th dport { 53, 853 }";
  Script s(spec.table);
  s.chain("output", "filter", "output", "filter", "accept");
  s.rule("oifname \"lo\" accept");
  if (!v4.empty()) s.rule(fmt::format("oifname {} ip daddr {} {} accept", tun, setOf(v4), kDns));
  if (!v6.empty()) s.rule(fmt::format("oifname {} ip6 daddr {} {} accept", tun, setOf(v6), kDns));
  if (spec.excluded_cgroup) s.rule(fmt::format("{} accept", cgroupMatch(*spec.excluded_cgroup)));
  s.rule(fmt::format("{} drop", kDns));
  return s.finish();
}

core::Result<std::string> ipv6Block(const Ipv6BlockSpec& spec) {
  AUREO_RETURN_IF_ERROR(checkTable(spec.table));
  AUREO_RETURN_IF_ERROR(checkEndpoints(spec.allowed_endpoints, "allowed_endpoints"));
  for (const auto& e : spec.allowed_endpoints) {
    if (e.address.isV4()) {
      return core::invalidArgument("allowed_endpoints must be IPv6 addresses", "allowed_endpoints");
    }
  }
  const bool endpoints = !spec.allowed_endpoints.empty();
  Script s(spec.table);
  s.chain("output", "filter", "output", "filter", "accept");
  s.rule("meta nfproto ipv6 oifname \"lo\" accept");
  for (const auto& e : spec.allowed_endpoints) s.rule(fmt::format("{} accept", endpointOut(e)));
  if (endpoints) s.rule(kNdpOut);
  s.rule("meta nfproto ipv6 reject with icmpv6 type admin-prohibited");

  s.chain("input", "filter", "input", "filter", "accept");
  s.rule("meta nfproto ipv6 iifname \"lo\" accept");
  for (const auto& e : spec.allowed_endpoints) s.rule(fmt::format("{} accept", endpointIn(e)));
  if (endpoints) s.rule(kNdpIn);
  s.rule("meta nfproto ipv6 drop");

  s.chain("forward", "filter", "forward", "filter", "accept");
  s.rule("meta nfproto ipv6 drop");
  return s.finish();
}

core::Result<std::string> tunnelMark(const TunnelMarkSpec& spec) {
  AUREO_RETURN_IF_ERROR(checkTable(spec.table));
  AUREO_RETURN_IF_ERROR(checkInterface(spec.tunnel_interface, "tunnel_interface"));
  if (spec.fwmark == 0) return core::invalidArgument("fwmark 0 marks nothing", "fwmark");
  const std::string mark = fmt::format("{:#x}", spec.fwmark);
  const std::string tun = quoted(spec.tunnel_interface);

  Script s(spec.table);
  // Before conntrack: spoofed packets for the tunnel address from outside.
  s.chain("preraw", "filter", "prerouting", "raw", "accept");
  for (const auto& a : spec.tunnel_addresses) {
    s.rule(fmt::format("iifname != {} {} daddr {} fib saddr type != local drop", tun,
                       a.isV4() ? "ip" : "ip6", a.toString()));
  }
  s.chain("premangle", "filter", "prerouting", "mangle", "accept");
  s.rule("meta l4proto udp meta mark set ct mark");
  s.chain("postmangle", "filter", "postrouting", "mangle", "accept");
  s.rule(fmt::format("meta l4proto udp meta mark {} ct mark set meta mark", mark));
  return s.finish();
}

core::Result<std::string> splitTunnelMark(const SplitTunnelSpec& spec) {
  AUREO_RETURN_IF_ERROR(checkTable(spec.table));
  AUREO_RETURN_IF_ERROR(checkCgroup(spec.cgroup, "cgroup"));
  if (spec.fwmark == 0) return core::invalidArgument("fwmark 0 marks nothing", "fwmark");
  const std::string mark = fmt::format("{:#x}", spec.fwmark);

  Script s(spec.table);
  // A route chain: the kernel looks the route up again after it changes the
  // mark, so the policy rule for `mark` decides where the packet goes.
  s.chain("output", "route", "output", "mangle", "accept");
  s.rule(fmt::format("ct mark {0} meta mark set {0}", mark));
  s.rule(fmt::format("{} meta mark set {} ct mark set meta mark", cgroupMatch(spec.cgroup), mark));
  // Replies carry the connection's mark too, so reverse-path filtering (with
  // src_valid_mark) and routing see them as the excluded traffic they are.
  s.chain("prerouting", "filter", "prerouting", "mangle", "accept");
  s.rule(fmt::format("ct mark {0} meta mark set {0}", mark));
  s.chain("postrouting", "nat", "postrouting", "srcnat", "accept");
  s.rule(fmt::format("oifname != \"lo\" ct mark {} masquerade", mark));
  return s.finish();
}

}  // namespace aureo::netcfg
