// Makes the engine's peer set equal to the desired state control sent:
// missing peers are added, peers whose allowed IPs changed are updated, and
// peers control no longer lists are removed. Entries that fail validation (a
// malformed key, an address outside the node's tunnel prefixes) are skipped
// and counted, so one bad row cannot take the other sessions down.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ip.h"
#include "node/control_client.h"
#include "wireguard/device.h"

namespace aureo::node {

struct ReconcileOptions {
  // Allowed IPs must lie inside one of these (the node's tunnel prefixes).
  std::vector<core::Cidr> tunnel_prefixes;
  // False while draining: removals still happen, nothing new is added.
  bool accept_new_peers = true;
};

struct ReconcileResult {
  int64_t added = 0;
  int64_t updated = 0;
  int64_t removed = 0;
  int64_t invalid = 0;  // desired entries skipped by validation
  int64_t refused = 0;  // new peers not added because the node is draining
  int64_t failed = 0;   // the engine refused a change
  // Bytes the removed peers had moved, so totals survive their removal.
  uint64_t removed_rx_bytes = 0;
  uint64_t removed_tx_bytes = 0;
  [[nodiscard]] bool changed() const { return added + updated + removed > 0; }
};

// Safe to call from any thread, but calls must not overlap: the result of
// two concurrent reconciliations would be either one's set.
ReconcileResult reconcilePeers(wireguard::Device& device, const DesiredState& desired,
                               const ReconcileOptions& options);

}  // namespace aureo::node
