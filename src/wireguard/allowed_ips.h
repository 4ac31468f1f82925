// Cryptokey routing (whitepaper section 2): the table from IP prefixes to the
// peer allowed to send from them and receive for them.
//
// One path-compressed binary trie per address family, like the kernel's
// allowedips.c. A node sits only where a prefix ends or two branches part,
// so n prefixes cost at most 2n - 1 nodes. Each peer's nodes are also linked
// in a per-peer list, so removing or listing a peer's prefixes never walks
// the whole trie.
//
// Not thread-safe: the device guards it with its peer-table lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/ip.h"

namespace aureo::wireguard {

class Peer;

class AllowedIps {
 public:
  AllowedIps() = default;
  ~AllowedIps();
  AllowedIps(const AllowedIps&) = delete;
  AllowedIps& operator=(const AllowedIps&) = delete;

  // Routes cidr to peer, taking it from any peer that held exactly that prefix.
  void insert(const core::Cidr& cidr, Peer* peer);
  // Removes cidr if peer holds exactly it; false otherwise.
  bool remove(const core::Cidr& cidr, const Peer* peer);
  // Removes every prefix of peer.
  void removeByPeer(const Peer* peer);
  void clear();

  // The peer of the longest prefix containing the address, or nullptr.
  // address holds 4 (IPv4) or 16 (IPv6) bytes in network order.
  [[nodiscard]] Peer* lookup(core::IpAddress::Family family, const uint8_t* address) const;
  [[nodiscard]] Peer* lookup(const core::IpAddress& address) const {
    return lookup(address.family(), address.bytes().data());
  }

  [[nodiscard]] std::vector<core::Cidr> prefixesOf(const Peer* peer) const;
  // Number of prefixes held by any peer.
  [[nodiscard]] size_t size() const { return size_; }

 private:
  struct Node;

  Node*& rootFor(core::IpAddress::Family family);
  void link(Node* node, Peer* peer);
  void unlink(Node* node);
  void prune(Node* node);
  static void destroy(Node* node);

  Node* root4_ = nullptr;
  Node* root6_ = nullptr;
  std::unordered_map<const Peer*, Node*> peer_lists_;
  size_t size_ = 0;
};

}  // namespace aureo::wireguard
