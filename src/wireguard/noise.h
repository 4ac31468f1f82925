// The Noise_IKpsk2 handshake (whitepaper section 5.4), one state machine per
// peer. Message construction and consumption follow the paper line by line;
// each step is labelled with its Noise token (e, es, s, ss, ee, se, psk).
//
// Not thread-safe: the owning peer serialises access. Every intermediate
// secret lives in a self-wiping Secret, so each exit path wipes it.
#pragma once

#include <cstdint>
#include <optional>

#include "core/clock.h"
#include "wireguard/constants.h"
#include "wireguard/keys.h"
#include "wireguard/messages.h"

namespace aureo::wireguard {

// The device's static key pair.
struct StaticIdentity {
  bool has_private_key = false;
  PrivateKey private_key;
  PublicKey public_key;
  // HASH(HASH(HASH(CONSTRUCTION) || IDENTIFIER) || public_key): the responder's
  // first hash, the same for every initiation it receives.
  Secret<NOISE_HASH_LEN> responder_hash;

  void set(const PrivateKey& key);
  void clear();
};

// Transport keys derived at the end of a handshake.
struct SessionKeys {
  SymmetricKey sending;
  SymmetricKey receiving;
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  bool initiator = false;
};

// What the responder learns from an initiation before it knows which peer
// sent it: the initiator's static key, and the state to continue with.
struct DecryptedInitiation {
  PublicKey remote_static;
  PublicKey remote_ephemeral;
  Secret<NOISE_HASH_LEN> chaining_key;
  Secret<NOISE_HASH_LEN> hash;
  uint32_t sender_index = 0;
};

// Responder, first half: e, es, s. False if the static key does not decrypt.
[[nodiscard]] bool decryptInitiationStatic(const MessageInitiation& msg,
                                           const StaticIdentity& identity,
                                           DecryptedInitiation* out);

class Handshake {
 public:
  enum class State : uint8_t {
    kZeroed,
    kCreatedInitiation,
    kConsumedInitiation,
    kCreatedResponse,
    kConsumedResponse,
  };
  enum class InitiationVerdict : uint8_t { kOk, kDecryptFailed, kReplayedTimestamp, kFlood };

  // Binds the handshake to a peer's static key and precomputes DH(S_priv, S_pub_peer).
  void init(const PublicKey& remote_static, const StaticIdentity& identity);
  // Recomputes the static-static secret after the device key changed.
  void precompute(const StaticIdentity& identity);
  void setPresharedKey(const PresharedKey& psk) { preshared_key_ = psk; }
  [[nodiscard]] const PresharedKey& presharedKey() const { return preshared_key_; }

  // Initiator: builds message 1 (all but the MACs). False when the device
  // has no private key or the peer's public key is unusable.
  [[nodiscard]] bool createInitiation(const StaticIdentity& identity, uint32_t sender_index,
                                      core::SystemTime now, MessageInitiation* msg);
  // Responder, second half: ss and the timestamp, with the TAI64N replay and
  // flood checks. On kOk the handshake holds the initiator's state.
  [[nodiscard]] InitiationVerdict consumeInitiation(const MessageInitiation& msg,
                                                    const DecryptedInitiation& partial,
                                                    core::SteadyTime now);
  // Responder: builds message 2 (all but the MACs).
  [[nodiscard]] bool createResponse(uint32_t sender_index, MessageResponse* msg);
  // Initiator: consumes message 2 sent to our initiation.
  [[nodiscard]] bool consumeResponse(const MessageResponse& msg, const StaticIdentity& identity);
  // Derives the transport keys once the handshake is done (responder after
  // createResponse, initiator after consumeResponse), then zeroes the state.
  [[nodiscard]] bool beginSession(SessionKeys* out);

  // Forgets the in-flight handshake; keeps the peer binding, the preshared
  // key and the replay/flood history.
  void clear();

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] uint32_t localIndex() const { return local_index_; }
  [[nodiscard]] const PublicKey& remoteStatic() const { return remote_static_; }

 private:
  State state_ = State::kZeroed;
  PublicKey remote_static_;
  PresharedKey preshared_key_;
  Secret<NOISE_PUBLIC_KEY_LEN> precomputed_static_static_;
  bool static_static_valid_ = false;

  PrivateKey ephemeral_private_;
  PublicKey remote_ephemeral_;
  Secret<NOISE_HASH_LEN> chaining_key_;
  Secret<NOISE_HASH_LEN> hash_;
  uint32_t local_index_ = 0;
  uint32_t remote_index_ = 0;

  uint8_t latest_timestamp_[NOISE_TIMESTAMP_LEN] = {};
  std::optional<core::SteadyTime> last_initiation_consumption_;
};

}  // namespace aureo::wireguard
