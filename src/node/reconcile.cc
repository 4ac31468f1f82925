#include "node/reconcile.h"

#include <algorithm>
#include <unordered_map>

#include "wireguard/keys.h"

namespace aureo::node {
namespace {

using wireguard::PublicKey;

struct Wanted {
  std::vector<core::Cidr> allowed_ips;
};

bool insideTunnel(const core::Cidr& cidr, const std::vector<core::Cidr>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const core::Cidr& p) {
    return p.address().family() == cidr.address().family() && p.prefix() <= cidr.prefix() &&
           p.contains(cidr.address());
  });
}

std::vector<core::Cidr> sorted(std::vector<core::Cidr> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

ReconcileResult reconcilePeers(wireguard::Device& device, const DesiredState& desired,
                               const ReconcileOptions& options) {
  ReconcileResult result;
  std::unordered_map<PublicKey, Wanted, wireguard::PublicKeyHash> wanted;
  const auto own = device.publicKey();
  for (const auto& peer : desired.peers) {
    auto key = wireguard::parsePublicKey(peer.public_key);
    if (!key || key->isZero() || (own && *own == *key)) {
      ++result.invalid;
      continue;
    }
    Wanted w;
    bool ok = !peer.allowed_ips.empty();
    for (const auto& text : peer.allowed_ips) {
      auto cidr = core::Cidr::parse(text);
      if (!cidr || !insideTunnel(*cidr, options.tunnel_prefixes)) {
        ok = false;
        break;
      }
      w.allowed_ips.push_back(*cidr);
    }
    if (!ok) {
      ++result.invalid;
      continue;
    }
    w.allowed_ips = sorted(std::move(w.allowed_ips));
    wanted[*key] = std::move(w);
  }

  // Removals first, so an address moving from an old session to a new one
  // is never claimed by both.
  std::unordered_map<PublicKey, std::vector<core::Cidr>, wireguard::PublicKeyHash> current;
  for (auto& stats : device.allPeerStats()) {
    if (!wanted.contains(stats.public_key)) {
      if (device.removePeer(stats.public_key).ok()) {
        ++result.removed;
        result.removed_rx_bytes += stats.rx_bytes;
        result.removed_tx_bytes += stats.tx_bytes;
      } else {
        ++result.failed;
      }
      continue;
    }
    current[stats.public_key] = sorted(std::move(stats.allowed_ips));
  }

  for (auto& [key, w] : wanted) {
    auto it = current.find(key);
    if (it != current.end() && it->second == w.allowed_ips) continue;
    if (it == current.end() && !options.accept_new_peers) {
      ++result.refused;
      continue;
    }
    wireguard::PeerConfig config;
    config.public_key = key;
    config.allowed_ips = w.allowed_ips;
    config.replace_allowed_ips = true;
    if (!device.addOrUpdatePeer(config).ok()) {
      ++result.failed;
    } else if (it == current.end()) {
      ++result.added;
    } else {
      ++result.updated;
    }
  }
  return result;
}

}  // namespace aureo::node
