// The node's host networking around the tunnel interface: its addresses (the
// first host of each tunnel prefix), the link up, IP forwarding, and the
// nftables NAT table that masquerades tunnel traffic out of the egress
// interface. Undone in reverse order when the object is destroyed.
//
// Use from one thread: netlink and nftables handles belong to the network
// namespace of the thread that opens them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/ip.h"
#include "core/log.h"
#include "core/result.h"

namespace aureo::node {

struct NetworkSpec {
  std::string interface_name;
  core::Cidr tunnel_v4;
  std::optional<core::Cidr> tunnel_v6;
  std::string egress_interface;  // empty: the interface of the default route
  std::string nat_table = "aureo-nat";
  // Where the sysctl values found before the first start are kept until a
  // clean stop, so a node restarted after a crash still restores them (its
  // predecessor had already changed them). Empty: not kept.
  std::string saved_sysctls_file;
};

// The address a node keeps for itself: the first host of the prefix
// (10.8.0.1 in 10.8.0.0/16).
core::IpAddress nodeAddress(const core::Cidr& prefix);

// The interface the IPv4 (else IPv6) default route leaves through.
core::Result<std::string> defaultRouteInterface();

class NodeNetwork {
 public:
  // Idempotent against what a killed predecessor left behind: addresses that
  // already exist are kept, and the NAT table is replaced atomically.
  static core::Result<std::unique_ptr<NodeNetwork>> setUp(const NetworkSpec& spec,
                                                          core::Logger& log);
  ~NodeNetwork();
  NodeNetwork(const NodeNetwork&) = delete;
  NodeNetwork& operator=(const NodeNetwork&) = delete;

  [[nodiscard]] const std::string& egressInterface() const { return egress_; }
  // Removes the NAT table and restores the sysctls now (the interface goes
  // away with the device).
  void tearDown();

 private:
  NodeNetwork(NetworkSpec spec, core::Logger& log) : spec_(std::move(spec)), log_(log) {}

  NetworkSpec spec_;
  core::Logger& log_;
  std::string egress_;
  std::vector<std::pair<std::string, std::string>> sysctls_;  // key, value to restore
  bool nat_applied_ = false;
  bool torn_down_ = false;
};

}  // namespace aureo::node
