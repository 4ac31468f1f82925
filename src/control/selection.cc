#include "control/selection.h"

#include <algorithm>
#include <cctype>

namespace aureo::control {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

double selectionLoad(const store::VpnNode& node) {
  double slots = 100.0;
  if (node.max_connections > 0) {
    slots = 100.0 * static_cast<double>(node.current_connections) /
            static_cast<double>(node.max_connections);
  }
  return std::clamp(std::max(node.load_score, slots), 0.0, 100.0);
}

bool eligible(const store::VpnNode& node, const NodeQuery& query) {
  if (node.status != "online") return false;
  if (std::find(query.exclude_ids.begin(), query.exclude_ids.end(), node.id) !=
      query.exclude_ids.end()) {
    return false;
  }
  if (node.current_connections >= node.max_connections) return false;
  if (!query.country.empty() && upper(query.country) != upper(node.country)) return false;
  if (!query.city.empty() && query.city != node.city) return false;
  const std::string protocol = query.protocol.empty() ? "wireguard" : query.protocol;
  if (std::find(node.protocols.begin(), node.protocols.end(), protocol) == node.protocols.end()) {
    return false;
  }
  if (protocol == "wireguard" && node.wg_public_key.empty()) return false;  // not enrolled yet
  return true;
}

std::optional<store::VpnNode> pickLeastLoaded(const std::vector<store::VpnNode>& nodes,
                                              const NodeQuery& query, std::mt19937_64& rng) {
  std::vector<const store::VpnNode*> best;
  double best_load = 0;
  for (const auto& n : nodes) {
    if (!eligible(n, query)) continue;
    const double load = selectionLoad(n);
    if (best.empty() || load < best_load) {
      best.assign(1, &n);
      best_load = load;
    } else if (load == best_load) {
      best.push_back(&n);
    }
  }
  if (best.empty()) return std::nullopt;
  std::uniform_int_distribution<size_t> pick(0, best.size() - 1);
  return *best[pick(rng)];
}

NodeSelector::NodeSelector(store::NodeRepository& nodes)
    : nodes_(nodes), rng_(std::random_device{}()) {}

core::Result<store::VpnNode> NodeSelector::best(const NodeQuery& query) {
  store::NodeFilter filter;
  filter.status = "online";
  filter.country = query.country;
  filter.city = query.city;
  filter.protocol = query.protocol.empty() ? "wireguard" : query.protocol;
  AUREO_ASSIGN_OR_RETURN(auto nodes, nodes_.list(filter));
  std::lock_guard lock(mu_);
  auto picked = pickLeastLoaded(nodes, query, rng_);
  if (!picked) return core::notFound("no online node with free capacity matches the request");
  return *std::move(picked);
}

}  // namespace aureo::control
