#include "wireguard/allowed_ips.h"

#include <algorithm>
#include <array>
#include <bit>

namespace aureo::wireguard {

struct AllowedIps::Node {
  std::array<uint8_t, 16> key{};  // masked to cidr bits
  uint8_t cidr = 0;
  core::IpAddress::Family family = core::IpAddress::Family::kV4;
  Peer* peer = nullptr;  // null for a pure branch point
  Node* child[2] = {nullptr, nullptr};
  Node* parent = nullptr;
  // The owning peer's list of nodes.
  Node* list_prev = nullptr;
  Node* list_next = nullptr;
};

namespace {

unsigned maxBits(core::IpAddress::Family family) {
  return family == core::IpAddress::Family::kV4 ? 32 : 128;
}

// Bit i of a big-endian key, counting from the most significant.
unsigned bitAt(const uint8_t* key, unsigned i) {
  return (key[i / 8] >> (7 - i % 8)) & 1u;
}

// Number of leading bits a and b share, up to max_bits.
unsigned commonBits(const uint8_t* a, const uint8_t* b, unsigned max_bits) {
  for (unsigned i = 0; i < max_bits / 8; ++i) {
    const uint8_t x = static_cast<uint8_t>(a[i] ^ b[i]);
    if (x != 0) return i * 8 + static_cast<unsigned>(std::countl_zero(x));
  }
  return max_bits;
}

// Whether the first cidr bits of key and address agree.
bool prefixMatches(const uint8_t* key, const uint8_t* address, unsigned cidr) {
  const unsigned full = cidr / 8;
  for (unsigned i = 0; i < full; ++i) {
    if (key[i] != address[i]) return false;
  }
  const unsigned rest = cidr % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return ((key[full] ^ address[full]) & mask) == 0;
}

std::array<uint8_t, 16> masked(const uint8_t* key, unsigned cidr, unsigned max_bits) {
  std::array<uint8_t, 16> out{};
  for (unsigned i = 0; i < max_bits / 8; ++i) {
    if (cidr >= (i + 1) * 8) {
      out[i] = key[i];
    } else if (cidr > i * 8) {
      out[i] = static_cast<uint8_t>(key[i] & (0xff00u >> (cidr - i * 8)));
    }
  }
  return out;
}

}  // namespace

AllowedIps::~AllowedIps() {
  clear();
}

AllowedIps::Node*& AllowedIps::rootFor(core::IpAddress::Family family) {
  return family == core::IpAddress::Family::kV4 ? root4_ : root6_;
}

void AllowedIps::link(Node* node, Peer* peer) {
  node->peer = peer;
  Node*& head = peer_lists_[peer];
  node->list_prev = nullptr;
  node->list_next = head;
  if (head != nullptr) head->list_prev = node;
  head = node;
  ++size_;
}

void AllowedIps::unlink(Node* node) {
  if (node->list_prev != nullptr) {
    node->list_prev->list_next = node->list_next;
  } else {
    auto it = peer_lists_.find(node->peer);
    if (node->list_next == nullptr) {
      peer_lists_.erase(it);
    } else {
      it->second = node->list_next;
    }
  }
  if (node->list_next != nullptr) node->list_next->list_prev = node->list_prev;
  node->list_prev = node->list_next = nullptr;
  node->peer = nullptr;
  --size_;
}

void AllowedIps::insert(const core::Cidr& cidr, Peer* peer) {
  const core::IpAddress::Family family = cidr.address().family();
  const unsigned max_bits = maxBits(family);
  const auto bits = static_cast<unsigned>(cidr.prefix());
  const std::array<uint8_t, 16> key = masked(cidr.address().bytes().data(), bits, max_bits);
  Node*& root = rootFor(family);

  // The deepest node whose prefix contains (key, bits).
  Node* parent = nullptr;
  for (Node* n = root;
       n != nullptr && n->cidr <= bits && prefixMatches(n->key.data(), key.data(), n->cidr);) {
    parent = n;
    if (n->cidr == bits) break;
    n = n->child[bitAt(key.data(), n->cidr)];
  }
  if (parent != nullptr && parent->cidr == bits) {
    if (parent->peer == peer) return;
    if (parent->peer != nullptr) unlink(parent);
    link(parent, peer);
    return;
  }

  auto* node = new Node;
  node->key = key;
  node->cidr = static_cast<uint8_t>(bits);
  node->family = family;
  node->parent = parent;
  link(node, peer);

  Node*& slot = parent == nullptr ? root : parent->child[bitAt(key.data(), parent->cidr)];
  Node* down = slot;
  if (down == nullptr) {
    slot = node;
    return;
  }
  // down lies below parent but does not contain the new prefix: either the
  // new prefix contains down, or the two part at `common` and need a branch.
  const unsigned common = std::min(bits, commonBits(down->key.data(), key.data(), max_bits));
  if (common == bits) {
    node->child[bitAt(down->key.data(), bits)] = down;
    down->parent = node;
    slot = node;
    return;
  }
  auto* branch = new Node;
  branch->key = masked(key.data(), common, max_bits);
  branch->cidr = static_cast<uint8_t>(common);
  branch->family = family;
  branch->parent = parent;
  branch->child[bitAt(down->key.data(), common)] = down;
  branch->child[bitAt(key.data(), common)] = node;
  down->parent = branch;
  node->parent = branch;
  slot = branch;
}

// Removes node, which no longer has a peer, and any branch point left with
// a single child, walking up.
void AllowedIps::prune(Node* node) {
  while (node != nullptr && node->peer == nullptr) {
    Node* parent = node->parent;
    Node*& slot =
        parent == nullptr ? rootFor(node->family) : parent->child[parent->child[0] == node ? 0 : 1];
    if (node->child[0] != nullptr && node->child[1] != nullptr) return;
    Node* only = node->child[0] != nullptr ? node->child[0] : node->child[1];
    slot = only;
    if (only != nullptr) only->parent = parent;
    delete node;
    if (only != nullptr) return;  // parent keeps the same number of children
    node = parent;
    // A peerless parent now has one child at most; the loop collapses it.
    if (node != nullptr && node->child[0] != nullptr && node->child[1] != nullptr) return;
  }
}

bool AllowedIps::remove(const core::Cidr& cidr, const Peer* peer) {
  const core::IpAddress::Family family = cidr.address().family();
  const unsigned max_bits = maxBits(family);
  const auto bits = static_cast<unsigned>(cidr.prefix());
  const std::array<uint8_t, 16> key = masked(cidr.address().bytes().data(), bits, max_bits);
  Node* n = rootFor(family);
  while (n != nullptr && n->cidr < bits && prefixMatches(n->key.data(), key.data(), n->cidr)) {
    n = n->child[bitAt(key.data(), n->cidr)];
  }
  if (n == nullptr || n->cidr != bits || n->key != key || n->peer == nullptr || n->peer != peer) {
    return false;
  }
  unlink(n);
  prune(n);
  return true;
}

void AllowedIps::removeByPeer(const Peer* peer) {
  auto it = peer_lists_.find(peer);
  if (it == peer_lists_.end()) return;
  Node* n = it->second;
  while (n != nullptr) {
    Node* next = n->list_next;
    // Only peerless nodes are deleted by prune, so `next` (still owned) survives.
    unlink(n);
    prune(n);
    n = next;
  }
}

void AllowedIps::destroy(Node* node) {
  // Iterative post-order free, so a deep trie cannot overflow the stack.
  while (node != nullptr) {
    if (node->child[0] != nullptr) {
      Node* c = node->child[0];
      node->child[0] = nullptr;
      node = c;
    } else if (node->child[1] != nullptr) {
      Node* c = node->child[1];
      node->child[1] = nullptr;
      node = c;
    } else {
      Node* parent = node->parent;
      delete node;
      node = parent;
    }
  }
}

void AllowedIps::clear() {
  destroy(root4_);
  destroy(root6_);
  root4_ = root6_ = nullptr;
  peer_lists_.clear();
  size_ = 0;
}

Peer* AllowedIps::lookup(core::IpAddress::Family family, const uint8_t* address) const {
  const unsigned max_bits = maxBits(family);
  Peer* best = nullptr;
  const Node* n = family == core::IpAddress::Family::kV4 ? root4_ : root6_;
  while (n != nullptr && prefixMatches(n->key.data(), address, n->cidr)) {
    if (n->peer != nullptr) best = n->peer;
    if (n->cidr == max_bits) break;
    n = n->child[bitAt(address, n->cidr)];
  }
  return best;
}

std::vector<core::Cidr> AllowedIps::prefixesOf(const Peer* peer) const {
  std::vector<core::Cidr> out;
  auto it = peer_lists_.find(peer);
  if (it == peer_lists_.end()) return out;
  for (const Node* n = it->second; n != nullptr; n = n->list_next) {
    out.emplace_back(core::IpAddress::fromBytes(n->family, n->key.data()), n->cidr);
  }
  // The list is newest first; report in insertion order, as the kernel does,
  // so `wg showconf | wg setconf` keeps the order.
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace aureo::wireguard
