#include "wireguard/device_uapi.h"

#include <errno.h>

#include <chrono>

namespace aureo::wireguard {
namespace {

int errnoOf(const core::Error& error) {
  switch (error.code) {
    case core::Code::kAlreadyExists: return EADDRINUSE;
    case core::Code::kPermissionDenied: return EPERM;
    case core::Code::kInvalidArgument: return EINVAL;
    case core::Code::kNotFound: return ENOENT;
    default: return EIO;
  }
}

PublicKey publicKeyFrom(const UapiKey& bytes) {
  PublicKey key;
  key.bytes = bytes;
  return key;
}

// wg(8), the kernel and wireguard-go all keep private keys clamped.
PrivateKey clampedPrivateKey(const UapiSecret& secret) {
  PrivateKey key(std::span<const uint8_t, 32>(secret.bytes()));
  key.data()[0] &= 248;
  key.data()[31] = static_cast<uint8_t>((key.data()[31] & 127) | 64);
  return key;
}

PeerConfig peerConfigOf(const PeerChange& change) {
  PeerConfig config;
  config.public_key = publicKeyFrom(change.public_key);
  if (change.preshared_key) {
    config.preshared_key =
        PresharedKey(std::span<const uint8_t, 32>(change.preshared_key->bytes()));
  }
  config.endpoint = change.endpoint;
  if (change.persistent_keepalive_interval) {
    config.persistent_keepalive = std::chrono::seconds(*change.persistent_keepalive_interval);
  }
  config.allowed_ips = change.allowed_ips;
  config.replace_allowed_ips = change.replace_allowed_ips;
  config.update_only = change.update_only;
  return config;
}

}  // namespace

int DeviceUapi::applySet(const DeviceChange& change) {
  // 1. The fallible part: sockets. Nothing else has been touched yet.
  if (change.listen_port || change.fwmark) {
    const uint16_t port = change.listen_port.value_or(device_.listenPort());
    const uint32_t mark = change.fwmark.value_or(device_.fwmark());
    if (port != device_.listenPort() || port == 0 || mark != device_.fwmark()) {
      if (core::Status s = device_.setListenPortAndFwmark(port, mark); !s.ok()) {
        return errnoOf(s.error());
      }
    }
  }

  // 2. Everything below cannot fail once the request parsed.
  std::optional<PublicKey> own = device_.publicKey();
  if (change.private_key) {
    if (change.private_key->isZero()) {
      device_.clearPrivateKey();
      own.reset();
    } else {
      const PrivateKey key = clampedPrivateKey(*change.private_key);
      device_.setPrivateKey(key);
      own = publicKeyOf(key);
    }
  }
  if (change.replace_peers) device_.removeAllPeers();
  for (const PeerChange& peer : change.peers) {
    const PublicKey key = publicKeyFrom(peer.public_key);
    if (own && key == *own) continue;  // ourselves: ignored, as the kernel does
    if (peer.remove) {
      (void)device_.removePeer(key);  // NotFound is fine: already gone
      continue;
    }
    // Fails only for update_only on an unknown peer, which is a no-op.
    (void)device_.addOrUpdatePeer(peerConfigOf(peer));
  }
  return 0;
}

DeviceState DeviceUapi::getState() {
  DeviceState state;
  if (auto key = device_.privateKey()) {
    UapiKey bytes;
    std::copy(key->span().begin(), key->span().end(), bytes.begin());
    state.private_key = UapiSecret(bytes);
    secureZero(bytes.data(), bytes.size());
  }
  state.listen_port = device_.listenPort();
  state.fwmark = device_.fwmark();
  for (const PeerStats& stats : device_.allPeerStats()) {
    PeerState peer;
    peer.public_key = stats.public_key.bytes;
    if (auto psk = device_.presharedKey(stats.public_key)) {
      UapiKey bytes;
      std::copy(psk->span().begin(), psk->span().end(), bytes.begin());
      peer.preshared_key = UapiSecret(bytes);
      secureZero(bytes.data(), bytes.size());
    }
    peer.endpoint = stats.endpoint;
    if (stats.last_handshake) {
      const auto since = stats.last_handshake->time_since_epoch();
      const auto secs = std::chrono::floor<std::chrono::seconds>(since);
      peer.last_handshake_time_sec = secs.count();
      peer.last_handshake_time_nsec =
          std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count();
    }
    peer.tx_bytes = stats.tx_bytes;
    peer.rx_bytes = stats.rx_bytes;
    peer.persistent_keepalive_interval = static_cast<uint16_t>(stats.persistent_keepalive.count());
    peer.allowed_ips = stats.allowed_ips;
    state.peers.push_back(std::move(peer));
  }
  return state;
}

}  // namespace aureo::wireguard
