// The WireGuard engine: a set of peers behind one static key, and the
// I/O-neutral packet processing between a tunnel (IP packets) and the network
// (UDP datagrams). Embedders (aureo-node, the client, tests) plug the two
// sides in through TunnelIo and feed packets in; the device never reads a
// socket or spawns a thread itself.
//
// Threads: every method is safe from any thread unless marked otherwise.
// handleOutgoing/handleIncoming may run on many workers at once; tick() is
// meant for one control thread. Callbacks (TunnelIo, handshake listeners)
// run on the calling thread after every engine lock is released, so they may
// call back into the device.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/ip.h"
#include "core/log.h"
#include "core/result.h"
#include "wireguard/allowed_ips.h"
#include "wireguard/cookie.h"
#include "wireguard/endpoint.h"
#include "wireguard/index_table.h"
#include "wireguard/keys.h"
#include "wireguard/noise.h"

namespace aureo::wireguard {

class Peer;
class Outbox;

// The I/O side: a Linux TUN + UDP sockets in production, memory in tests.
class TunnelIo {
 public:
  virtual ~TunnelIo() = default;
  // A decrypted IP packet for the tunnel interface.
  virtual void writeToTun(std::span<const uint8_t> packet) = 0;
  // A datagram for the network.
  virtual void sendUdp(std::span<const uint8_t> datagram, const Endpoint& to) = 0;
  // (Re)binds the UDP socket(s) to listen_port (0: any free port) with the
  // fwmark (0: none); returns the port actually bound. Called only from
  // setListenPort/setFwmark, serialised with other configuration calls.
  virtual core::Result<uint16_t> bindUdp(uint16_t listen_port, uint32_t fwmark) = 0;
};

// Why a packet was dropped; each has a counter.
enum class DropReason : uint8_t {
  kNoRouteToHost,       // outgoing: no peer's allowed IPs cover the destination
  kInvalidInnerPacket,  // an IP packet (either way) with a bad header or length
  kNoEndpoint,          // a message for a peer whose endpoint is unknown
  kStagedQueueFull,     // oldest staged packet pushed out while awaiting a handshake
  kNoPrivateKey,        // handshake impossible: the device has no private key
  kMalformedMessage,    // unknown type or wrong size
  kInvalidMac1,         // handshake message with a wrong mac1
  kCookieRequired,      // under load without a valid mac2; a cookie reply was sent
  kHandshakeFailed,     // handshake message did not decrypt or authenticate
  kUnknownPeer,         // initiation from a static key we do not know
  kReplayedTimestamp,   // initiation not newer than the last from that peer
  kHandshakeFlood,      // initiations faster than INITIATIONS_PER_SECOND
  kInvalidCookieReply,  // cookie reply that did not decrypt or was not expected
  kUnknownIndex,        // receiver index names no handshake or session
  kKeypairExpired,      // session older than REJECT_AFTER_TIME
  kDecryptFailed,       // transport message failed authentication
  kReplayedCounter,     // counter replayed or older than the window
  kDisallowedSource,    // inner source address not in the sending peer's allowed IPs
  // Counted by the I/O layer (LinuxDevice) through recordDrop():
  kHandshakeQueueFull,  // handshake message shed because the control thread's queue was full
  kUdpSendFailed,       // the kernel refused a datagram (unreachable, buffer full for too long)
  kTunWriteFailed,      // the kernel refused a packet written to the tunnel interface
  kCount,
};
std::string_view dropReasonName(DropReason reason);

struct DropCounters {
  std::array<uint64_t, static_cast<size_t>(DropReason::kCount)> counts{};
  [[nodiscard]] uint64_t operator[](DropReason r) const { return counts[static_cast<size_t>(r)]; }
  [[nodiscard]] uint64_t total() const;
};

struct PeerConfig {
  PublicKey public_key;
  // Fields left empty keep their current value on update.
  std::optional<PresharedKey> preshared_key;  // all zeros: none
  std::optional<Endpoint> endpoint;
  std::optional<std::chrono::seconds> persistent_keepalive;  // 0: off
  std::vector<core::Cidr> allowed_ips;                       // added to the peer's current ones
  bool replace_allowed_ips = false;                          // drop the current ones first
  bool update_only = false;  // do not create the peer if it is unknown
};

struct PeerStats {
  PublicKey public_key;
  bool has_preshared_key = false;
  std::optional<Endpoint> endpoint;
  std::chrono::seconds persistent_keepalive{0};
  std::vector<core::Cidr> allowed_ips;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  std::optional<core::SystemTime> last_handshake;
};

struct HandshakeEvent {
  PublicKey peer;
  core::SystemTime time;
  bool initiator = false;  // we sent the initiation
  std::optional<Endpoint> endpoint;
};

struct DeviceOptions {
  // Interface MTU; transport plaintext is padded to 16 bytes but never past it.
  size_t mtu = 1420;
  // Handshake messages per second above which the device is "under load" and
  // answers messages without a valid mac2 with a cookie reply.
  uint32_t under_load_handshakes_per_second = 512;
  // Handshake messages waiting in the embedder's queue (setHandshakeBacklog)
  // at or above which the device is under load too, as the kernel does.
  size_t under_load_backlog = MAX_QUEUED_INCOMING_HANDSHAKES / 8;
};

class Device {
 public:
  Device(core::Clock& clock, TunnelIo& io, core::Logger& log, DeviceOptions options = {});
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // --- configuration -------------------------------------------------------
  void setPrivateKey(const PrivateKey& key);
  void clearPrivateKey();
  [[nodiscard]] std::optional<PublicKey> publicKey() const;
  [[nodiscard]] std::optional<PrivateKey> privateKey() const;
  [[nodiscard]] core::Status setListenPort(uint16_t port);
  [[nodiscard]] core::Status setFwmark(uint32_t fwmark);
  // Both at once, with a single TunnelIo::bindUdp call; nothing changes on error.
  [[nodiscard]] core::Status setListenPortAndFwmark(uint16_t port, uint32_t fwmark);
  [[nodiscard]] uint16_t listenPort() const;
  [[nodiscard]] uint32_t fwmark() const;
  void setMtu(size_t mtu);

  // Creates or updates a peer. InvalidArgument for the device's own key;
  // NotFound for update_only on an unknown peer.
  [[nodiscard]] core::Status addOrUpdatePeer(const PeerConfig& config);
  [[nodiscard]] core::Status removePeer(const PublicKey& key);
  void removeAllPeers();
  [[nodiscard]] size_t peerCount() const;

  [[nodiscard]] std::optional<PeerStats> peerStats(const PublicKey& key) const;
  // The peer's preshared key (all zeros when none); nullopt for an unknown
  // peer. Kept out of PeerStats so statistics never carry a secret.
  [[nodiscard]] std::optional<PresharedKey> presharedKey(const PublicKey& key) const;
  [[nodiscard]] std::vector<PeerStats> allPeerStats() const;
  [[nodiscard]] DropCounters drops() const;
  [[nodiscard]] uint64_t dropCount(DropReason reason) const;
  // For the I/O layer: a packet it dropped before or after the engine saw it.
  void recordDrop(DropReason reason) { countDrop(reason); }
  // For an embedder that queues handshake messages before handleIncoming:
  // how many are waiting now. A long queue puts the device under load, so
  // initiations without a valid mac2 get a cookie reply instead of DH work.
  void setHandshakeBacklog(size_t queued) {
    handshake_backlog_.store(queued, std::memory_order_relaxed);
  }

  // Called on the thread that completed the handshake, with no lock held.
  using HandshakeListener = std::function<void(const HandshakeEvent&)>;
  uint64_t subscribeHandshakes(HandshakeListener listener);
  void unsubscribeHandshakes(uint64_t id);

  // --- data plane ------------------------------------------------------------
  // An IP packet read from the tunnel: encrypt it to the peer whose allowed
  // IPs hold its destination, or stage it and start a handshake.
  void handleOutgoing(std::span<const uint8_t> packet);
  // A UDP datagram received from source: a handshake message, cookie reply
  // or transport message.
  void handleIncoming(std::span<const uint8_t> datagram, const Endpoint& source);

  // --- timers ------------------------------------------------------------------
  // Runs every peer timer due now (retransmissions, keepalives, rekeys, key
  // zeroing). Call from one control thread, e.g. every 100 ms or at
  // nextTimerDeadline().
  void tick();
  [[nodiscard]] core::SteadyTime nextTimerDeadline() const;

 private:
  using Lock = std::shared_lock<std::shared_mutex>;

  // send.cc
  void sendToPeer(Peer& peer, std::span<const uint8_t> packet, Outbox& out);
  void sendStaged(Peer& peer, Outbox& out);
  void sendKeepalive(Peer& peer, Outbox& out);
  void sendHandshakeInitiation(Peer& peer, bool is_retry, Outbox& out);
  void sendHandshakeResponse(Peer& peer, Outbox& out);
  void keepKeyFreshAfterSend(Peer& peer, Outbox& out);
  void encryptTo(Outbox& out, const Keypair& keypair, uint64_t counter,
                 std::span<const uint8_t> packet, const Endpoint& to);
  // receive.cc
  void receiveInitiation(std::span<const uint8_t> datagram, const Endpoint& source, Outbox& out);
  void receiveResponse(std::span<const uint8_t> datagram, const Endpoint& source, Outbox& out);
  void receiveCookieReply(std::span<const uint8_t> datagram);
  void receiveTransport(std::span<const uint8_t> datagram, const Endpoint& source, Outbox& out);
  void keepKeyFreshAfterReceive(Peer& peer, Outbox& out);
  bool underLoad(core::SteadyTime now);
  // device.cc
  void runTimers(Peer& peer, core::SteadyTime now, Outbox& out);
  void handshakeCompleted(Peer& peer, bool initiator, Outbox& out);
  void eraseLocked(Peer& peer);
  void flush(Outbox& out);
  void countDrop(DropReason reason);

  core::Clock& clock_;
  TunnelIo& io_;
  core::Logger& log_;
  std::atomic<size_t> mtu_;
  const uint32_t under_load_threshold_;
  const size_t under_load_backlog_;
  std::atomic<size_t> handshake_backlog_{0};

  // Serialises configuration calls that call out to the TunnelIo (bindUdp);
  // never taken on the data path.
  mutable std::mutex config_mutex_;
  uint16_t listen_port_ = 0;  // guarded by config_mutex_
  uint32_t fwmark_ = 0;       // guarded by config_mutex_

  // The peer table. Data-path calls hold it shared; configuration exclusive.
  mutable std::shared_mutex peers_mutex_;
  StaticIdentity identity_;  // guarded by peers_mutex_
  std::unordered_map<PublicKey, std::unique_ptr<Peer>, PublicKeyHash>
      peers_;                     // guarded by peers_mutex_
  AllowedIps allowed_ips_;        // guarded by peers_mutex_
  CookieChecker cookie_checker_;  // keys guarded by peers_mutex_; secret internally
  IndexTable indices_;            // internally locked

  std::mutex load_mutex_;
  core::SteadyTime load_window_start_{};             // guarded by load_mutex_
  uint32_t load_window_count_ = 0;                   // guarded by load_mutex_
  std::optional<core::SteadyTime> last_under_load_;  // guarded by load_mutex_

  std::mutex listeners_mutex_;
  uint64_t next_listener_id_ = 1;  // guarded by listeners_mutex_
  std::vector<std::pair<uint64_t, std::shared_ptr<HandshakeListener>>> listeners_;  // guarded

  std::array<std::atomic<uint64_t>, static_cast<size_t>(DropReason::kCount)> drops_{};
};

}  // namespace aureo::wireguard
