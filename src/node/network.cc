#include "node/network.h"

#include <map>

#include "netcfg/netlink.h"
#include "netcfg/nftables.h"
#include "netcfg/rulesets.h"
#include "netcfg/sysctl.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

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

using Saved = std::map<std::string, std::string>;

Saved loadSaved(const std::string& file) {
  Saved out;
  if (file.empty()) return out;
  std::ifstream in(file);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

void storeSaved(const std::string& file, const Saved& saved) {
  if (file.empty()) return;
  std::ofstream out(file, std::ios::trunc);
  out << nlohmann::json(saved).dump() << "\n";
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

  // A value saved by a predecessor that did not stop cleanly is the one to
  // restore; what the kernel holds now is what that predecessor set.
  Saved saved = loadSaved(spec.saved_sysctls_file);
  std::vector<std::string_view> keys{netcfg::kIpv4Forward};
  if (spec.tunnel_v6) keys.push_back(netcfg::kIpv6ForwardAll);
  for (auto key : keys) {
    AUREO_ASSIGN_OR_RETURN(auto guard, netcfg::SysctlGuard::set(key, "1"));
    guard.release();  // restored by tearDown, with the value chosen here
    auto [it, fresh] = saved.emplace(std::string(key), guard.previous());
    net->sysctls_.emplace_back(it->first, it->second);
  }
  storeSaved(spec.saved_sysctls_file, saved);

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
  bool restored = true;
  for (auto it = sysctls_.rbegin(); it != sysctls_.rend(); ++it) {
    if (auto st = netcfg::writeSysctl(it->first, it->second); !st.ok()) {
      restored = false;
      log_.warn("cannot restore a sysctl", {{"key", it->first}, {"error", st.error().message}});
    }
  }
  sysctls_.clear();
  if (restored && !spec_.saved_sysctls_file.empty()) {
    std::remove(spec_.saved_sysctls_file.c_str());
  }
}

NodeNetwork::~NodeNetwork() {
  tearDown();
}

}  // namespace aureo::node
