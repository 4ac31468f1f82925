// The receive path: datagrams from the network (the kernel's receive.c).
#include <algorithm>
#include <cstring>

#include "wireguard/device.h"
#include "wireguard/internal/ip_packet.h"
#include "wireguard/internal/outbox.h"
#include "wireguard/internal/primitives.h"
#include "wireguard/messages.h"
#include "wireguard/peer.h"

namespace aureo::wireguard {

void Device::handleIncoming(std::span<const uint8_t> datagram, const Endpoint& source) {
  OutboxScope out;
  const uint32_t type = messageType(datagram);
  {
    Lock lock(peers_mutex_);
    if (type == MESSAGE_DATA && datagram.size() >= MESSAGE_TRANSPORT_MIN_SIZE) {
      receiveTransport(datagram, source, *out);
    } else if ((type == MESSAGE_HANDSHAKE_INITIATION &&
                datagram.size() == MESSAGE_INITIATION_SIZE) ||
               (type == MESSAGE_HANDSHAKE_RESPONSE && datagram.size() == MESSAGE_RESPONSE_SIZE)) {
      const core::SteadyTime now = clock_.steadyNow();
      const bool under_load = underLoad(now);
      switch (cookie_checker_.validate(datagram, source, under_load, now)) {
        case CookieChecker::Verdict::kInvalidMac1: countDrop(DropReason::kInvalidMac1); return;
        case CookieChecker::Verdict::kValidMac1:
          if (under_load) {
            // Prove the source address before spending DH work on it.
            MessageCookieReply reply{};
            cookie_checker_.createReply(datagram, wire::getLe32(datagram.data() + 4), source, now,
                                        &reply);
            std::span<uint8_t, MESSAGE_COOKIE_REPLY_SIZE> wire(
                out->reserve(MESSAGE_COOKIE_REPLY_SIZE), MESSAGE_COOKIE_REPLY_SIZE);
            write(reply, wire);
            out->commitUdp(MESSAGE_COOKIE_REPLY_SIZE, source);
            countDrop(DropReason::kCookieRequired);
            break;
          }
          [[fallthrough]];
        case CookieChecker::Verdict::kValidMac2:
          if (type == MESSAGE_HANDSHAKE_INITIATION) {
            receiveInitiation(datagram, source, *out);
          } else {
            receiveResponse(datagram, source, *out);
          }
          break;
      }
    } else if (type == MESSAGE_HANDSHAKE_COOKIE && datagram.size() == MESSAGE_COOKIE_REPLY_SIZE) {
      receiveCookieReply(datagram);
    } else {
      countDrop(DropReason::kMalformedMessage);
      return;
    }
  }
  flush(*out);
}

// Whether handshakes arrive faster than the configured rate; once tripped the
// state lasts UNDER_LOAD_AFTER_TIME (the kernel's last_under_load).
bool Device::underLoad(core::SteadyTime now) {
  std::lock_guard lock(load_mutex_);
  if (now - load_window_start_ >= std::chrono::seconds(1)) {
    load_window_start_ = now;
    load_window_count_ = 0;
  }
  ++load_window_count_;
  if (load_window_count_ > under_load_threshold_ ||
      handshake_backlog_.load(std::memory_order_relaxed) >= under_load_backlog_) {
    last_under_load_ = now;
  }
  return last_under_load_ && now - *last_under_load_ < UNDER_LOAD_AFTER_TIME;
}

void Device::receiveInitiation(std::span<const uint8_t> datagram, const Endpoint& source,
                               Outbox& out) {
  MessageInitiation msg{};
  read(datagram.first<MESSAGE_INITIATION_SIZE>(), &msg);
  DecryptedInitiation partial;
  if (!decryptInitiationStatic(msg, identity_, &partial)) {
    countDrop(identity_.has_private_key ? DropReason::kHandshakeFailed : DropReason::kNoPrivateKey);
    return;
  }
  auto it = peers_.find(partial.remote_static);
  if (it == peers_.end()) {
    countDrop(DropReason::kUnknownPeer);
    return;
  }
  Peer& peer = *it->second;
  std::lock_guard lock(peer.mutex);
  const core::SteadyTime now = clock_.steadyNow();
  switch (peer.handshake.consumeInitiation(msg, partial, now)) {
    case Handshake::InitiationVerdict::kOk: break;
    case Handshake::InitiationVerdict::kDecryptFailed:
      countDrop(DropReason::kHandshakeFailed);
      return;
    case Handshake::InitiationVerdict::kReplayedTimestamp:
      countDrop(DropReason::kReplayedTimestamp);
      return;
    case Handshake::InitiationVerdict::kFlood: countDrop(DropReason::kHandshakeFlood); return;
  }
  // The consumed initiation replaced any initiation of ours in flight; its
  // index must not accept a response any more.
  if (peer.handshake_index) {
    indices_.remove(*peer.handshake_index);
    peer.handshake_index.reset();
  }
  peer.endpoint = source;
  peer.rx_bytes.fetch_add(datagram.size(), std::memory_order_relaxed);
  sendHandshakeResponse(peer, out);
  peer.timers.anyAuthenticatedPacketReceived();
  peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistent_keepalive);
}

void Device::receiveResponse(std::span<const uint8_t> datagram, const Endpoint& source,
                             Outbox& out) {
  MessageResponse msg{};
  read(datagram.first<MESSAGE_RESPONSE_SIZE>(), &msg);
  const auto entry = indices_.lookup(msg.receiver_index);
  if (!entry || entry->keypair) {
    countDrop(DropReason::kUnknownIndex);
    return;
  }
  Peer& peer = *entry->peer;
  std::lock_guard lock(peer.mutex);
  if (peer.handshake_index != msg.receiver_index ||
      !peer.handshake.consumeResponse(msg, identity_)) {
    countDrop(DropReason::kHandshakeFailed);
    return;
  }
  const core::SteadyTime now = clock_.steadyNow();
  peer.endpoint = source;
  peer.rx_bytes.fetch_add(datagram.size(), std::memory_order_relaxed);
  SessionKeys keys;
  if (peer.handshake.beginSession(&keys)) {
    auto keypair = std::make_shared<Keypair>(keys, now);
    indices_.replaceWithKeypair(msg.receiver_index, keypair);
    peer.handshake_index.reset();
    peer.addNewKeypair(std::move(keypair), indices_);
    peer.timers.sessionDerived(now);
    handshakeCompleted(peer, true, out);
    // Confirms the session to the responder: staged packets if any, else a keepalive.
    sendKeepalive(peer, out);
  }
  peer.timers.anyAuthenticatedPacketReceived();
  peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistent_keepalive);
}

void Device::receiveCookieReply(std::span<const uint8_t> datagram) {
  MessageCookieReply msg{};
  read(datagram.first<MESSAGE_COOKIE_REPLY_SIZE>(), &msg);
  const auto entry = indices_.lookup(msg.receiver_index);
  if (!entry) {
    countDrop(DropReason::kUnknownIndex);
    return;
  }
  Peer& peer = *entry->peer;
  std::lock_guard lock(peer.mutex);
  // The retry happens on the retransmit timer, now carrying a valid mac2.
  if (!peer.cookie.consumeReply(msg, clock_.steadyNow())) {
    countDrop(DropReason::kInvalidCookieReply);
  }
}

void Device::receiveTransport(std::span<const uint8_t> datagram, const Endpoint& source,
                              Outbox& out) {
  MessageTransportHeader header{};
  read(datagram.first<MESSAGE_TRANSPORT_HEADER_SIZE>(), &header);
  const auto entry = indices_.lookup(header.receiver_index);
  if (!entry || !entry->keypair) {
    countDrop(DropReason::kUnknownIndex);
    return;
  }
  const std::shared_ptr<Keypair>& keypair = entry->keypair;
  Peer& peer = *entry->peer;
  const core::SteadyTime now = clock_.steadyNow();
  if (!keypair->canReceive(now) || header.counter >= REJECT_AFTER_MESSAGES) {
    countDrop(DropReason::kKeypairExpired);
    return;
  }

  // Decrypt straight into the outbox slot the tunnel write will use.
  const auto cipher = datagram.subspan(MESSAGE_TRANSPORT_HEADER_SIZE);
  const size_t plain_len = cipher.size() - NOISE_AUTHTAG_LEN;
  uint8_t* plain = out.reserve(std::max<size_t>(plain_len, 1));
  if (!internal::aeadOpen(plain, keypair->receiving_key.span(), header.counter, cipher, {})) {
    countDrop(DropReason::kDecryptFailed);
    return;
  }
  // Only an authenticated counter may move the window.
  if (!keypair->acceptCounter(header.counter)) {
    countDrop(DropReason::kReplayedCounter);
    return;
  }

  const size_t plain_offset = out.hold(plain_len);

  {
    std::lock_guard lock(peer.mutex);
    peer.endpoint = source;  // roaming: the latest authenticated source wins
    if (peer.receivedWithKeypair(keypair, indices_)) {
      handshakeCompleted(peer, false, out);
      sendStaged(peer, out);
    }
    keepKeyFreshAfterReceive(peer, out);
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistent_keepalive);
    if (plain_len == 0) {  // keepalive
      peer.rx_bytes.fetch_add(datagram.size(), std::memory_order_relaxed);
      return;
    }
    peer.timers.dataReceived(now);
  }

  // Messages queued above may have moved the outbox arena: find the plaintext again.
  plain = out.at(plain_offset);
  const auto ip = internal::parseIpHeader(std::span<const uint8_t>(plain, plain_len));
  if (!ip) {
    countDrop(DropReason::kInvalidInnerPacket);
    return;
  }
  // Cryptokey routing, inbound: the peer may only send from its own allowed IPs.
  if (allowed_ips_.lookup(ip->family, ip->source) != &peer) {
    countDrop(DropReason::kDisallowedSource);
    return;
  }
  out.commitTunAt(plain_offset, ip->total_length);
  peer.rx_bytes.fetch_add(datagram.size(), std::memory_order_relaxed);
}

// The initiator's last chance to rekey before the session dies: if it is
// older than REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT when data
// arrives, start a handshake once. Caller holds peer.mutex.
void Device::keepKeyFreshAfterReceive(Peer& peer, Outbox& out) {
  if (peer.timers.sentLastMinuteHandshake()) return;
  const std::shared_ptr<Keypair>& kp = peer.current;
  if (kp && kp->sending_valid && kp->initiator &&
      clock_.steadyNow() - kp->birth >= REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) {
    peer.timers.setSentLastMinuteHandshake();
    sendHandshakeInitiation(peer, false, out);
  }
}

}  // namespace aureo::wireguard
