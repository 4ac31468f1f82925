// Choosing a node for a new session: the least-loaded online node that
// matches the filters and has a free connection slot.
#pragma once

#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/store.h"

namespace aureo::control {

struct NodeQuery {
  std::string country;  // ISO code, any case; empty: any
  std::string city;     // exact; empty: any
  std::string protocol = "wireguard";
  // Node ids never to pick, e.g. the one a client just lost.
  std::vector<std::string> exclude_ids;
};

// The load used to rank nodes, 0-100: the larger of the load balancer's
// load_score (refreshed every 30 s) and the share of connection slots taken
// now (refreshed with every session change), so a burst of new sessions
// spreads out before the next load-balancer pass.
double selectionLoad(const store::VpnNode& node);

// Online, serving the protocol (for WireGuard: enrolled, i.e. it has a
// public key), matching country/city, and current_connections < max_connections.
// Capacity is a soft limit: it is read at selection time, so creates racing
// for a node's last slot may each get it (overshooting by at most the number
// racing); the device limit per user, by contrast, is enforced atomically.
bool eligible(const store::VpnNode& node, const NodeQuery& query);

// The eligible node with the lowest selectionLoad(); ties are broken
// uniformly at random with rng. nullopt if none is eligible.
std::optional<store::VpnNode> pickLeastLoaded(const std::vector<store::VpnNode>& nodes,
                                              const NodeQuery& query, std::mt19937_64& rng);

// pickLeastLoaded over the store's nodes. Safe from any thread.
class NodeSelector {
 public:
  explicit NodeSelector(store::NodeRepository& nodes);
  // kNotFound when no node qualifies.
  core::Result<store::VpnNode> best(const NodeQuery& query);

 private:
  store::NodeRepository& nodes_;
  std::mutex mu_;
  std::mt19937_64 rng_;  // guarded by mu_
};

}  // namespace aureo::control
