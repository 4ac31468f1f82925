// One remote peer: its static key, handshake, sessions, timers, endpoint and
// counters. The device owns peers and drives them; the logic here is the
// session bookkeeping of the kernel's noise.c (current/previous/next).
//
// Thread rules: mutex guards everything not marked atomic or const. A Peer*
// is valid while the device's peer-table lock is held (shared or exclusive);
// removal happens under the exclusive lock, so a reader holding the shared
// lock can never see a peer freed under it. References to a peer live in:
// the device's peer map, the allowed-IPs trie and the index table, all
// cleared under that exclusive lock before the peer is destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/clock.h"
#include "wireguard/cookie.h"
#include "wireguard/endpoint.h"
#include "wireguard/index_table.h"
#include "wireguard/keypair.h"
#include "wireguard/keys.h"
#include "wireguard/noise.h"
#include "wireguard/timers.h"

namespace aureo::wireguard {

class Peer {
 public:
  Peer(const PublicKey& public_key, const StaticIdentity& identity);
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  const PublicKey public_key;

  std::mutex mutex;
  Handshake handshake;
  CookieState cookie;
  Timers timers;
  std::optional<uint32_t> handshake_index;  // the handshake's entry in the index table
  std::shared_ptr<Keypair> current;
  std::shared_ptr<Keypair> previous;
  std::shared_ptr<Keypair> next;
  std::optional<Endpoint> endpoint;
  std::chrono::seconds persistent_keepalive{0};
  std::optional<core::SteadyTime> last_sent_handshake;
  std::optional<core::SystemTime> last_handshake;
  // IP packets waiting for a session, oldest first, at most MAX_STAGED_PACKETS.
  std::vector<std::vector<uint8_t>> staged;

  std::atomic<uint64_t> rx_bytes{0};
  std::atomic<uint64_t> tx_bytes{0};

  // Installs a session derived by our handshake (kernel add_new_keypair).
  // As initiator it becomes current at once; as responder it waits in next
  // until the initiator's first transport message confirms it.
  void addNewKeypair(std::shared_ptr<Keypair> keypair, IndexTable& indices);
  // A transport message authenticated under keypair. If that was next, it
  // is now current; returns true then (the handshake is complete).
  bool receivedWithKeypair(const std::shared_ptr<Keypair>& keypair, IndexTable& indices);
  // Drops every session and the in-flight handshake (zero_key_material).
  void clearKeypairs(IndexTable& indices);
  void clearHandshake(IndexTable& indices);
  // The device key changed: sessions may finish receiving but not send.
  void expireCurrentKeypairs(IndexTable& indices);
  // Frees the handshake's current index (if any) and takes a fresh one.
  uint32_t newHandshakeIndex(IndexTable& indices);

  // Queues a packet until a session exists; drops the oldest when full.
  // Returns false when one had to be dropped.
  bool stage(std::span<const uint8_t> packet);

 private:
  static void drop(std::shared_ptr<Keypair>& slot, IndexTable& indices);
};

}  // namespace aureo::wireguard
