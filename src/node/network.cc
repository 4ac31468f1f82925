#include "node/network.h"

#include "netcfg/netlink.h"
#include "netcfg/nftables.h"
#include "netcfg/rulesets.h"

namespace aureo::node {
namespace {

std::optional<std::string> defaultRouteOf(netcfg::Netlink& nl, netcfg::Family family) {
  auto routes = nl.listRoutes(family, netcfg::kTableMain);
  if (!routes.ok()) return std::nullopt;
  int oif = 0;
  uint32_t best_metric = 0;
  for (const auto& r : *routes) {
    if (r.destination.prefix() != 0 || r.type != netcfg::RouteType::kUnicast) continue;
    int candidate = r.oif;
    if (candidate == 0 && !r.nexthops.empty()) candidate = r.nexthops.front().oif;
    if (candidate == 0) continue;
    if (oif == 0 || r.metric < best_metric) {
      oif = candidate;
      best_metric = r.metric;
    }
  }
  if (oif == 0) return std::nullopt;
  auto links = nl.listLinks();
  if (!links.ok()) return std::nullopt;
  for (const auto& l : *links) {
    if (l.index == oif) return l.name;
  }
  return std::nullopt;
}

}  // namespace

core::IpAddress nodeAddress(const core::Cidr& prefix) {
  return prefix.address().plus(1);
}

core::Result<std::string> defaultRouteInterface() {
  AUREO_ASSIGN_OR_RETURN(auto nl, netcfg::Netlink::open());
  if (auto v4 = defaultRouteOf(nl, netcfg::Family::kV4)) return *v4;
  if (auto v6 = defaultRouteOf(nl, netcfg::Family::kV6)) return *v6;
  return core::failedPrecondition(
      "there is no default route to find the egress interface; set node.egress_interface");
}

core::Result<std::unique_ptr<NodeNetwork>> NodeNetwork::setUp(const NetworkSpec& spec,
                                                              core::Logger& log) {
  std::unique_ptr<NodeNetwork> net(new NodeNetwork(spec, log));
  net->egress_ = spec.egress_interface;
  if (net->egress_.empty()) {
    AUREO_ASSIGN_OR_RETURN(net->egress_, defaultRouteInterface());
  }
  if (net->egress_ == spec.interface_name) {
    return core::failedPrecondition("the egress interface is the tunnel interface itself");
  }

  AUREO_ASSIGN_OR_RETURN(auto nl, netcfg::Netlink::open());
  std::vector<netcfg::InterfaceAddress> addresses{
      {nodeAddress(spec.tunnel_v4), spec.tunnel_v4.prefix()}};
  if (spec.tunnel_v6) addresses.push_back({nodeAddress(*spec.tunnel_v6), spec.tunnel_v6->prefix()});
  for (const auto& a : addresses) {
    auto st = nl.addAddress(spec.interface_name, a);
    if (!st.ok() && st.error().code != core::Code::kAlreadyExists) {
      return core::Error{
          st.error().code,
          "cannot add " + a.toString() + " to " + spec.interface_name + ": " + st.error().message,
          {}};
    }
  }
  if (auto st = nl.setLinkUp(spec.interface_name); !st.ok()) {
    return core::Error{
        st.error().code, "cannot bring " + spec.interface_name + " up: " + st.error().message, {}};
  }

  AUREO_ASSIGN_OR_RETURN(auto forward, netcfg::SysctlGuard::set(netcfg::kIpv4Forward, "1"));
  net->sysctls_.push_back(std::move(forward));
  if (spec.tunnel_v6) {
    AUREO_ASSIGN_OR_RETURN(auto forward6, netcfg::SysctlGuard::set(netcfg::kIpv6ForwardAll, "1"));
    net->sysctls_.push_back(std::move(forward6));
  }

  netcfg::NatSpec nat;
  nat.table = spec.nat_table;
  nat.tunnel_interface = spec.interface_name;
  nat.tunnel_v4 = {spec.tunnel_v4};
  if (spec.tunnel_v6) nat.tunnel_v6 = {*spec.tunnel_v6};
  nat.egress_interface = net->egress_;
  AUREO_ASSIGN_OR_RETURN(auto script, netcfg::natMasquerade(nat));
  AUREO_ASSIGN_OR_RETURN(auto nft, netcfg::Nftables::open());
  if (auto st = nft.applyRuleset(script); !st.ok()) {
    return core::Error{st.error().code, "cannot apply the NAT table: " + st.error().message, {}};
  }
  net->nat_applied_ = true;
  log.info("node networking up", {{"interface", spec.interface_name},
                                  {"address", addresses.front().toString()},
                                  {"egress", net->egress_},
                                  {"nat_table", spec.nat_table}});
  return net;
}

void NodeNetwork::tearDown() {
  if (torn_down_) return;
  torn_down_ = true;
  if (nat_applied_) {
    auto nft = netcfg::Nftables::open();
    auto st = nft.ok() ? nft->deleteTable(netcfg::TableFamily::kInet, spec_.nat_table)
                       : core::Status(nft.error());
    if (!st.ok()) log_.warn("cannot remove the NAT table", {{"error", st.error().message}});
  }
  // Restore in reverse order of setting.
  for (auto it = sysctls_.rbegin(); it != sysctls_.rend(); ++it) {
    if (auto st = it->restore(); !st.ok()) {
      log_.warn("cannot restore a sysctl", {{"error", st.error().message}});
    }
  }
  sysctls_.clear();
}

NodeNetwork::~NodeNetwork() {
  tearDown();
}

}  // namespace aureo::node
