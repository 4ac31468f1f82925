// The send path: tunnel packets out to peers, keepalives, and handshake
// messages we originate (the kernel's send.c).
#include <cstring>

#include "wireguard/device.h"
#include "wireguard/internal/ip_packet.h"
#include "wireguard/internal/outbox.h"
#include "wireguard/internal/primitives.h"
#include "wireguard/messages.h"
#include "wireguard/peer.h"

namespace aureo::wireguard {
namespace {

// Zero padding so the plaintext length is a multiple of 16, without pushing
// a packet that fits the MTU past it (the kernel's calculate_skb_padding).
size_t paddedLength(size_t length, size_t mtu) {
  auto align = [](size_t n) {
    return (n + MESSAGE_PADDING_MULTIPLE - 1) / MESSAGE_PADDING_MULTIPLE * MESSAGE_PADDING_MULTIPLE;
  };
  if (mtu == 0) return align(length);
  size_t last_unit = length;
  if (last_unit > mtu) last_unit %= mtu;
  return length + std::min(mtu, align(last_unit)) - last_unit;
}

}  // namespace

void Device::handleOutgoing(std::span<const uint8_t> packet) {
  OutboxScope out;
  {
    Lock lock(peers_mutex_);
    const auto header = internal::parseIpHeader(packet);
    if (!header || packet.size() > MAX_INNER_PACKET_SIZE) {
      countDrop(DropReason::kInvalidInnerPacket);
      return;
    }
    Peer* peer = allowed_ips_.lookup(header->family, header->destination);
    if (peer == nullptr) {
      countDrop(DropReason::kNoRouteToHost);
      return;
    }
    sendToPeer(*peer, packet.first(header->total_length), *out);
  }
  flush(*out);
}

void Device::sendToPeer(Peer& peer, std::span<const uint8_t> packet, Outbox& out) {
  std::shared_ptr<Keypair> keypair;
  uint64_t counter = 0;
  Endpoint to;
  {
    std::lock_guard lock(peer.mutex);
    const core::SteadyTime now = clock_.steadyNow();
    // Packets already waiting go first, so this one may not overtake them.
    if (!peer.staged.empty() || !peer.current || !peer.current->canSend(now) || !peer.endpoint) {
      if (!peer.stage(packet)) countDrop(DropReason::kStagedQueueFull);
      sendStaged(peer, out);
      return;
    }
    keypair = peer.current;
    counter = keypair->sending_counter.fetch_add(1, std::memory_order_relaxed);
    if (counter >= REJECT_AFTER_MESSAGES) {
      keypair->sending_counter.store(REJECT_AFTER_MESSAGES);
      if (!peer.stage(packet)) countDrop(DropReason::kStagedQueueFull);
      sendHandshakeInitiation(peer, false, out);
      return;
    }
    to = *peer.endpoint;
    peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistent_keepalive);
    peer.timers.anyAuthenticatedPacketSent();
    if (!packet.empty()) peer.timers.dataSent(now, Timers::randomJitter());
    keepKeyFreshAfterSend(peer, out);
  }
  // Encrypt outside the peer lock so workers sending to one peer run in parallel.
  encryptTo(out, *keypair, counter, packet, to);
  peer.tx_bytes.fetch_add(MESSAGE_TRANSPORT_MIN_SIZE + paddedLength(packet.size(), mtu_),
                          std::memory_order_relaxed);
}

// Builds one transport message: header || AEAD(key, counter, packet || padding, empty).
void Device::encryptTo(Outbox& out, const Keypair& keypair, uint64_t counter,
                       std::span<const uint8_t> packet, const Endpoint& to) {
  const size_t padded = paddedLength(packet.size(), mtu_);
  const size_t total = MESSAGE_TRANSPORT_HEADER_SIZE + padded + NOISE_AUTHTAG_LEN;
  uint8_t* msg = out.reserve(total);
  write(MessageTransportHeader{keypair.remote_index, counter},
        std::span<uint8_t, MESSAGE_TRANSPORT_HEADER_SIZE>(msg, MESSAGE_TRANSPORT_HEADER_SIZE));
  uint8_t* body = msg + MESSAGE_TRANSPORT_HEADER_SIZE;
  if (!packet.empty()) std::memcpy(body, packet.data(), packet.size());
  std::memset(body + packet.size(), 0, padded - packet.size());
  internal::aeadSeal(body, keypair.sending_key.span(), counter,
                     std::span<const uint8_t>(body, padded), {});
  out.commitUdp(total, to);
}

// Sends every staged packet under the current session, or starts a
// handshake when there is none (the kernel's wg_packet_send_staged_packets).
// Caller holds peer.mutex.
void Device::sendStaged(Peer& peer, Outbox& out) {
  if (peer.staged.empty()) return;
  const core::SteadyTime now = clock_.steadyNow();
  const std::shared_ptr<Keypair> keypair = peer.current;
  if (!keypair || !keypair->canSend(now) || !peer.endpoint) {
    sendHandshakeInitiation(peer, false, out);
    return;
  }
  bool data_sent = false;
  size_t sent = 0;
  for (const auto& packet : peer.staged) {
    const uint64_t counter = keypair->sending_counter.fetch_add(1, std::memory_order_relaxed);
    if (counter >= REJECT_AFTER_MESSAGES) {
      keypair->sending_counter.store(REJECT_AFTER_MESSAGES);
      break;
    }
    encryptTo(out, *keypair, counter, packet, *peer.endpoint);
    peer.tx_bytes.fetch_add(MESSAGE_TRANSPORT_MIN_SIZE + paddedLength(packet.size(), mtu_),
                            std::memory_order_relaxed);
    data_sent = data_sent || !packet.empty();
    ++sent;
  }
  peer.staged.erase(peer.staged.begin(), peer.staged.begin() + static_cast<ptrdiff_t>(sent));
  if (sent > 0) {
    peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistent_keepalive);
    peer.timers.anyAuthenticatedPacketSent();
    if (data_sent) peer.timers.dataSent(now, Timers::randomJitter());
  }
  if (!peer.staged.empty()) {
    sendHandshakeInitiation(peer, false, out);
    return;
  }
  keepKeyFreshAfterSend(peer, out);
}

// An empty transport message, unless real packets are about to go anyway.
// Caller holds peer.mutex.
void Device::sendKeepalive(Peer& peer, Outbox& out) {
  if (peer.staged.empty()) peer.stage({});
  sendStaged(peer, out);
}

// Rekey before the session gets old: after REKEY_AFTER_MESSAGES on either
// side, after REKEY_AFTER_TIME only if we were the initiator (so the two
// sides do not both start one). Caller holds peer.mutex.
void Device::keepKeyFreshAfterSend(Peer& peer, Outbox& out) {
  const std::shared_ptr<Keypair>& kp = peer.current;
  if (!kp || !kp->sending_valid) return;
  const core::SteadyTime now = clock_.steadyNow();
  if (kp->sending_counter.load(std::memory_order_relaxed) > REKEY_AFTER_MESSAGES ||
      (kp->initiator && now - kp->birth >= REKEY_AFTER_TIME)) {
    sendHandshakeInitiation(peer, false, out);
  }
}

// Message 1. At most one per REKEY_TIMEOUT per peer, retries included.
// Caller holds peer.mutex and peers_mutex_ (shared or exclusive).
void Device::sendHandshakeInitiation(Peer& peer, bool is_retry, Outbox& out) {
  if (!is_retry) peer.timers.resetHandshakeAttempts();
  const core::SteadyTime now = clock_.steadyNow();
  if (peer.last_sent_handshake && now - *peer.last_sent_handshake < REKEY_TIMEOUT) return;
  if (!identity_.has_private_key) {
    countDrop(DropReason::kNoPrivateKey);
    return;
  }
  peer.last_sent_handshake = now;

  MessageInitiation msg{};
  const uint32_t index = peer.newHandshakeIndex(indices_);
  if (!peer.handshake.createInitiation(identity_, index, clock_.now(), &msg)) {
    peer.clearHandshake(indices_);
    countDrop(DropReason::kHandshakeFailed);
    return;
  }
  peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistent_keepalive);
  peer.timers.anyAuthenticatedPacketSent();
  peer.timers.handshakeInitiated(now, Timers::randomJitter());
  if (!peer.endpoint) {
    countDrop(DropReason::kNoEndpoint);
    return;
  }
  std::span<uint8_t, MESSAGE_INITIATION_SIZE> wire(out.reserve(MESSAGE_INITIATION_SIZE),
                                                   MESSAGE_INITIATION_SIZE);
  write(msg, wire);
  peer.cookie.addMacs(wire, now);
  out.commitUdp(MESSAGE_INITIATION_SIZE, *peer.endpoint);
  peer.tx_bytes.fetch_add(MESSAGE_INITIATION_SIZE, std::memory_order_relaxed);
}

// Message 2, after consuming an initiation; the session it derives waits in
// `next` until the initiator confirms it. Caller holds peer.mutex and peers_mutex_.
void Device::sendHandshakeResponse(Peer& peer, Outbox& out) {
  const core::SteadyTime now = clock_.steadyNow();
  peer.last_sent_handshake = now;
  MessageResponse msg{};
  const uint32_t index = peer.newHandshakeIndex(indices_);
  SessionKeys keys;
  if (!peer.handshake.createResponse(index, &msg) || !peer.handshake.beginSession(&keys)) {
    peer.clearHandshake(indices_);
    countDrop(DropReason::kHandshakeFailed);
    return;
  }
  auto keypair = std::make_shared<Keypair>(keys, now);
  indices_.replaceWithKeypair(index, keypair);
  peer.handshake_index.reset();  // the index now belongs to the session
  peer.addNewKeypair(std::move(keypair), indices_);
  peer.timers.sessionDerived(now);
  peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistent_keepalive);
  peer.timers.anyAuthenticatedPacketSent();
  if (!peer.endpoint) {
    countDrop(DropReason::kNoEndpoint);
    return;
  }
  std::span<uint8_t, MESSAGE_RESPONSE_SIZE> wire(out.reserve(MESSAGE_RESPONSE_SIZE),
                                                 MESSAGE_RESPONSE_SIZE);
  write(msg, wire);
  peer.cookie.addMacs(wire, now);
  out.commitUdp(MESSAGE_RESPONSE_SIZE, *peer.endpoint);
  peer.tx_bytes.fetch_add(MESSAGE_RESPONSE_SIZE, std::memory_order_relaxed);
}

}  // namespace aureo::wireguard
