// "The network state" a client must leave exactly as it found it: routes of
// every table, policy rules, the nftables ruleset and resolv.conf. Two
// snapshots compare equal when nothing the client touches differs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "netcfg/netlink.h"
#include "netcfg/nftables.h"

namespace aureo::netcfg {

struct NetworkSnapshot {
  std::vector<Route> routes;  // IPv4 then IPv6, every table, sorted
  std::vector<Rule> rules;    // IPv4 then IPv6, in kernel (priority) order
  std::string ruleset;        // `nft -s list ruleset`
  // resolv.conf: its bytes, or the link target if it is a symbolic link;
  // nullopt if the path does not exist.
  std::optional<std::string> resolv_conf;
  std::optional<std::string> resolv_conf_link;

  bool operator==(const NetworkSnapshot&) const = default;
};

core::Result<NetworkSnapshot> captureSnapshot(
    Netlink& netlink, Nftables& nft, const std::filesystem::path& resolv_conf = "/etc/resolv.conf");

// A readable account of what changed from `before` to `after`: "-" lines
// were only in before, "+" lines only in after. Empty when they are equal.
std::string diffSnapshots(const NetworkSnapshot& before, const NetworkSnapshot& after);

}  // namespace aureo::netcfg
