#include "wireguard/peer.h"

namespace aureo::wireguard {

Peer::Peer(const PublicKey& key, const StaticIdentity& identity) : public_key(key) {
  handshake.init(key, identity);
  cookie.init(key);
}

void Peer::drop(std::shared_ptr<Keypair>& slot, IndexTable& indices) {
  if (slot) {
    indices.remove(slot->local_index);
    slot.reset();
  }
}

void Peer::addNewKeypair(std::shared_ptr<Keypair> keypair, IndexTable& indices) {
  if (keypair->initiator) {
    if (next) {
      // A next session never confirmed: it becomes previous (as the kernel
      // does, for robustness) and the current one goes.
      drop(previous, indices);
      previous = std::move(next);
      drop(current, indices);
    } else {
      drop(previous, indices);
      previous = std::move(current);
    }
    current = std::move(keypair);
  } else {
    drop(next, indices);
    next = std::move(keypair);
    drop(previous, indices);
  }
}

bool Peer::receivedWithKeypair(const std::shared_ptr<Keypair>& keypair, IndexTable& indices) {
  if (!next || next != keypair) return false;
  drop(previous, indices);
  previous = std::move(current);
  current = std::move(next);
  return true;
}

void Peer::clearKeypairs(IndexTable& indices) {
  drop(current, indices);
  drop(previous, indices);
  drop(next, indices);
}

void Peer::clearHandshake(IndexTable& indices) {
  if (handshake_index) {
    indices.remove(*handshake_index);
    handshake_index.reset();
  }
  handshake.clear();
}

void Peer::expireCurrentKeypairs(IndexTable& indices) {
  clearHandshake(indices);
  last_sent_handshake.reset();
  if (next) next->sending_valid = false;
  if (current) current->sending_valid = false;
}

uint32_t Peer::newHandshakeIndex(IndexTable& indices) {
  if (handshake_index) indices.remove(*handshake_index);
  handshake_index = indices.insertHandshake(this);
  return *handshake_index;
}

bool Peer::stage(std::span<const uint8_t> packet) {
  bool dropped = false;
  if (staged.size() >= MAX_STAGED_PACKETS) {
    staged.erase(staged.begin());
    dropped = true;
  }
  staged.emplace_back(packet.begin(), packet.end());
  return !dropped;
}

}  // namespace aureo::wireguard
