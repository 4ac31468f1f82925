// Device configuration, statistics and the timer loop. The packet paths are
// in send.cc and receive.cc.
#include "wireguard/device.h"

#include <algorithm>

#include "wireguard/internal/outbox.h"
#include "wireguard/internal/primitives.h"
#include "wireguard/peer.h"

namespace aureo::wireguard {

std::string_view dropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kNoRouteToHost: return "no_route_to_host";
    case DropReason::kInvalidInnerPacket: return "invalid_inner_packet";
    case DropReason::kNoEndpoint: return "no_endpoint";
    case DropReason::kStagedQueueFull: return "staged_queue_full";
    case DropReason::kNoPrivateKey: return "no_private_key";
    case DropReason::kMalformedMessage: return "malformed_message";
    case DropReason::kInvalidMac1: return "invalid_mac1";
    case DropReason::kCookieRequired: return "cookie_required";
    case DropReason::kHandshakeFailed: return "handshake_failed";
    case DropReason::kUnknownPeer: return "unknown_peer";
    case DropReason::kReplayedTimestamp: return "replayed_timestamp";
    case DropReason::kHandshakeFlood: return "handshake_flood";
    case DropReason::kInvalidCookieReply: return "invalid_cookie_reply";
    case DropReason::kUnknownIndex: return "unknown_index";
    case DropReason::kKeypairExpired: return "keypair_expired";
    case DropReason::kDecryptFailed: return "decrypt_failed";
    case DropReason::kReplayedCounter: return "replayed_counter";
    case DropReason::kDisallowedSource: return "disallowed_source";
    case DropReason::kHandshakeQueueFull: return "handshake_queue_full";
    case DropReason::kUdpSendFailed: return "udp_send_failed";
    case DropReason::kTunWriteFailed: return "tun_write_failed";
    case DropReason::kCount: break;
  }
  return "unknown";
}

uint64_t DropCounters::total() const {
  uint64_t sum = 0;
  for (uint64_t c : counts) sum += c;
  return sum;
}

Device::Device(core::Clock& clock, TunnelIo& io, core::Logger& log, DeviceOptions options)
    : clock_(clock),
      io_(io),
      log_(log),
      mtu_(options.mtu),
      under_load_threshold_(options.under_load_handshakes_per_second),
      under_load_backlog_(options.under_load_backlog) {
  internal::initSodium();
  cookie_checker_.init(PublicKey{});
}

Device::~Device() {
  removeAllPeers();
}

// --- configuration -----------------------------------------------------------

void Device::setPrivateKey(const PrivateKey& key) {
  std::unique_lock lock(peers_mutex_);
  if (identity_.has_private_key && identity_.private_key == key) return;
  identity_.set(key);
  cookie_checker_.init(identity_.public_key);
  // A peer with our own public key would be ourselves; the kernel drops it too.
  if (auto it = peers_.find(identity_.public_key); it != peers_.end()) {
    eraseLocked(*it->second);
  }
  for (auto& [pub, peer] : peers_) {
    std::lock_guard peer_lock(peer->mutex);
    peer->handshake.precompute(identity_);
    peer->expireCurrentKeypairs(indices_);
  }
}

void Device::clearPrivateKey() {
  std::unique_lock lock(peers_mutex_);
  identity_.clear();
  cookie_checker_.init(PublicKey{});
  for (auto& [pub, peer] : peers_) {
    std::lock_guard peer_lock(peer->mutex);
    peer->handshake.precompute(identity_);
    peer->expireCurrentKeypairs(indices_);
  }
}

std::optional<PublicKey> Device::publicKey() const {
  Lock lock(peers_mutex_);
  if (!identity_.has_private_key) return std::nullopt;
  return identity_.public_key;
}

std::optional<PrivateKey> Device::privateKey() const {
  Lock lock(peers_mutex_);
  if (!identity_.has_private_key) return std::nullopt;
  return identity_.private_key;
}

core::Status Device::setListenPort(uint16_t port) {
  std::lock_guard lock(config_mutex_);
  AUREO_ASSIGN_OR_RETURN(listen_port_, io_.bindUdp(port, fwmark_));
  return core::okStatus();
}

core::Status Device::setFwmark(uint32_t fwmark) {
  std::lock_guard lock(config_mutex_);
  AUREO_ASSIGN_OR_RETURN(listen_port_, io_.bindUdp(listen_port_, fwmark));
  fwmark_ = fwmark;
  return core::okStatus();
}

core::Status Device::setListenPortAndFwmark(uint16_t port, uint32_t fwmark) {
  std::lock_guard lock(config_mutex_);
  AUREO_ASSIGN_OR_RETURN(listen_port_, io_.bindUdp(port, fwmark));
  fwmark_ = fwmark;
  return core::okStatus();
}

uint16_t Device::listenPort() const {
  std::lock_guard lock(config_mutex_);
  return listen_port_;
}

uint32_t Device::fwmark() const {
  std::lock_guard lock(config_mutex_);
  return fwmark_;
}

void Device::setMtu(size_t mtu) {
  mtu_ = mtu;
}

core::Status Device::addOrUpdatePeer(const PeerConfig& config) {
  for (const core::Cidr& cidr : config.allowed_ips) {
    if (cidr.prefix() < 0 || cidr.prefix() > cidr.address().bitLength()) {
      return core::invalidArgument("bad allowed IP prefix " + cidr.toString(), "allowed_ips");
    }
  }
  OutboxScope out;
  {
    std::unique_lock lock(peers_mutex_);
    if (identity_.has_private_key && config.public_key == identity_.public_key) {
      return core::invalidArgument("peer public key is the device's own", "public_key");
    }
    auto it = peers_.find(config.public_key);
    if (it == peers_.end()) {
      if (config.update_only) return core::notFound("no such peer");
      it = peers_.emplace(config.public_key, std::make_unique<Peer>(config.public_key, identity_))
               .first;
    }
    Peer& peer = *it->second;
    if (config.replace_allowed_ips) allowed_ips_.removeByPeer(&peer);
    for (const core::Cidr& cidr : config.allowed_ips) allowed_ips_.insert(cidr, &peer);

    std::lock_guard peer_lock(peer.mutex);
    if (config.preshared_key) peer.handshake.setPresharedKey(*config.preshared_key);
    if (config.endpoint) peer.endpoint = *config.endpoint;
    if (config.persistent_keepalive) {
      const bool was_off = peer.persistent_keepalive.count() == 0;
      peer.persistent_keepalive = *config.persistent_keepalive;
      // Turning it on sends one at once, so a peer behind NAT is reachable
      // without waiting for traffic (as the kernel does).
      if (was_off && peer.persistent_keepalive.count() > 0 && peer.endpoint) {
        sendKeepalive(peer, *out);
      }
    }
  }
  flush(*out);
  return core::okStatus();
}

// Removes a peer; the caller holds peers_mutex_ exclusively, so no data-path
// call can be holding a pointer to it. References cleared here: the peer map,
// the allowed-IPs trie and the index table (handshake and session indices).
void Device::eraseLocked(Peer& peer) {
  {
    std::lock_guard peer_lock(peer.mutex);
    peer.timers.stop();
    peer.clearKeypairs(indices_);
    peer.clearHandshake(indices_);
    peer.staged.clear();
  }
  allowed_ips_.removeByPeer(&peer);
  const PublicKey key = peer.public_key;  // erase() must not read a key it is freeing
  peers_.erase(key);
}

core::Status Device::removePeer(const PublicKey& key) {
  std::unique_lock lock(peers_mutex_);
  auto it = peers_.find(key);
  if (it == peers_.end()) return core::notFound("no such peer");
  eraseLocked(*it->second);
  return core::okStatus();
}

void Device::removeAllPeers() {
  std::unique_lock lock(peers_mutex_);
  while (!peers_.empty()) eraseLocked(*peers_.begin()->second);
  allowed_ips_.clear();
  indices_.clear();
}

size_t Device::peerCount() const {
  Lock lock(peers_mutex_);
  return peers_.size();
}

namespace {

PeerStats statsOf(Peer& peer, const AllowedIps& allowed_ips) {
  PeerStats s;
  s.public_key = peer.public_key;
  s.allowed_ips = allowed_ips.prefixesOf(&peer);
  s.rx_bytes = peer.rx_bytes.load();
  s.tx_bytes = peer.tx_bytes.load();
  std::lock_guard lock(peer.mutex);
  s.has_preshared_key = !peer.handshake.presharedKey().isZero();
  s.endpoint = peer.endpoint;
  s.persistent_keepalive = peer.persistent_keepalive;
  s.last_handshake = peer.last_handshake;
  return s;
}

}  // namespace

std::optional<PeerStats> Device::peerStats(const PublicKey& key) const {
  Lock lock(peers_mutex_);
  auto it = peers_.find(key);
  if (it == peers_.end()) return std::nullopt;
  return statsOf(*it->second, allowed_ips_);
}

std::optional<PresharedKey> Device::presharedKey(const PublicKey& key) const {
  Lock lock(peers_mutex_);
  auto it = peers_.find(key);
  if (it == peers_.end()) return std::nullopt;
  std::lock_guard peer_lock(it->second->mutex);
  return it->second->handshake.presharedKey();
}

std::vector<PeerStats> Device::allPeerStats() const {
  Lock lock(peers_mutex_);
  std::vector<PeerStats> out;
  out.reserve(peers_.size());
  for (const auto& [key, peer] : peers_) out.push_back(statsOf(*peer, allowed_ips_));
  return out;
}

DropCounters Device::drops() const {
  DropCounters c;
  for (size_t i = 0; i < c.counts.size(); ++i) c.counts[i] = drops_[i].load();
  return c;
}

uint64_t Device::dropCount(DropReason reason) const {
  return drops_[static_cast<size_t>(reason)].load();
}

void Device::countDrop(DropReason reason) {
  drops_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
}

uint64_t Device::subscribeHandshakes(HandshakeListener listener) {
  std::lock_guard lock(listeners_mutex_);
  const uint64_t id = next_listener_id_++;
  listeners_.emplace_back(id, std::make_shared<HandshakeListener>(std::move(listener)));
  return id;
}

void Device::unsubscribeHandshakes(uint64_t id) {
  std::lock_guard lock(listeners_mutex_);
  std::erase_if(listeners_, [id](const auto& entry) { return entry.first == id; });
}

// Delivers what a call produced; every engine lock is released by now.
void Device::flush(Outbox& out) {
  out.flushTo(io_);
  if (out.events().empty()) return;
  std::vector<std::shared_ptr<HandshakeListener>> listeners;
  {
    std::lock_guard lock(listeners_mutex_);
    for (const auto& entry : listeners_) listeners.push_back(entry.second);
  }
  for (const HandshakeEvent& event : out.events()) {
    for (const auto& listener : listeners) (*listener)(event);
  }
  out.clear();
}

// The peer's handshake finished and a session is usable: the kernel's
// wg_timers_handshake_complete, plus an event for subscribers.
void Device::handshakeCompleted(Peer& peer, bool initiator, Outbox& out) {
  peer.timers.handshakeComplete();
  peer.last_handshake = clock_.now();
  out.addEvent(HandshakeEvent{peer.public_key, *peer.last_handshake, initiator, peer.endpoint});
}

// --- timers --------------------------------------------------------------------

void Device::runTimers(Peer& peer, core::SteadyTime now, Outbox& out) {
  const TimerActions a = peer.timers.expire(now);
  if (!a.any()) return;
  if (a.retransmit_handshake) {
    log_.debug("handshake retry", {{"attempt", peer.timers.handshakeAttempts()}});
    sendHandshakeInitiation(peer, true, out);
  }
  if (a.give_up_handshake) {
    log_.debug("handshake did not complete, giving up", {{"attempts", MAX_TIMER_HANDSHAKES + 2}});
    peer.staged.clear();
  }
  if (a.send_keepalive) {
    sendKeepalive(peer, out);
    if (a.rearm_keepalive) peer.timers.armSendKeepalive(now);
  }
  if (a.new_handshake) {
    log_.debug("no reply after sending data, starting a new handshake");
    sendHandshakeInitiation(peer, false, out);
  }
  if (a.zero_key_material) {
    peer.clearHandshake(indices_);
    peer.clearKeypairs(indices_);
  }
  if (a.persistent_keepalive && peer.persistent_keepalive.count() > 0) sendKeepalive(peer, out);
}

void Device::tick() {
  OutboxScope out;
  {
    Lock lock(peers_mutex_);
    const core::SteadyTime now = clock_.steadyNow();
    for (auto& [key, peer] : peers_) {
      std::lock_guard peer_lock(peer->mutex);
      runTimers(*peer, now, *out);
    }
  }
  flush(*out);
}

core::SteadyTime Device::nextTimerDeadline() const {
  Lock lock(peers_mutex_);
  core::SteadyTime next = core::SteadyTime::max();
  for (const auto& [key, peer] : peers_) {
    std::lock_guard peer_lock(peer->mutex);
    next = std::min(next, peer->timers.nextDeadline());
  }
  return next;
}

}  // namespace aureo::wireguard
