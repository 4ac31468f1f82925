#include "wireguard/noise.h"

#include <cstring>

#include "wireguard/internal/primitives.h"

namespace aureo::wireguard {
namespace {

using internal::Bytes;

Bytes text(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// HASH(CONSTRUCTION) and HASH(that || IDENTIFIER), computed once.
struct InitialState {
  uint8_t chaining_key[NOISE_HASH_LEN];
  uint8_t hash[NOISE_HASH_LEN];
  InitialState() {
    internal::hash(chaining_key, {text(CONSTRUCTION)});
    internal::hash(hash, {chaining_key, text(IDENTIFIER)});
  }
};

const InitialState& initial() {
  static const InitialState state;
  return state;
}

// hash = HASH(hash || data)
void mixHash(Secret<NOISE_HASH_LEN>& hash, Bytes data) {
  internal::hash(hash.span(), {hash.span(), data});
}

// chaining_key = KDF1(chaining_key, data)
void mixKey(Secret<NOISE_HASH_LEN>& chaining_key, Bytes data) {
  internal::kdf1(chaining_key.span(), chaining_key.span(), data);
}

// (chaining_key, key) = KDF2(chaining_key, dh(priv, pub)); false on a zero result.
[[nodiscard]] bool mixDh(Secret<NOISE_HASH_LEN>& chaining_key, SymmetricKey* key,
                         std::span<const uint8_t, 32> priv, std::span<const uint8_t, 32> pub) {
  Secret<32> shared;
  if (!internal::dh(shared.span(), priv, pub)) return false;
  if (key != nullptr) {
    internal::kdf2(chaining_key.span(), key->span(), chaining_key.span(), shared.span());
  } else {
    internal::kdf1(chaining_key.span(), chaining_key.span(), shared.span());
  }
  return true;
}

// (chaining_key, tau, key) = KDF3(chaining_key, psk); hash = HASH(hash || tau)
void mixPsk(Secret<NOISE_HASH_LEN>& chaining_key, Secret<NOISE_HASH_LEN>& hash, SymmetricKey& key,
            const PresharedKey& psk) {
  Secret<32> tau;
  internal::kdf3(chaining_key.span(), tau.span(), key.span(), chaining_key.span(), psk.span());
  mixHash(hash, tau.span());
}

// msg = AEAD(key, 0, plain, hash); hash = HASH(hash || msg)
void sealAndHash(uint8_t* out, const SymmetricKey& key, Bytes plain, Secret<NOISE_HASH_LEN>& hash) {
  internal::aeadSeal(out, key.span(), 0, plain, hash.span());
  mixHash(hash, Bytes(out, plain.size() + NOISE_AUTHTAG_LEN));
}

// plain = AEAD-open(key, 0, msg, hash); hash = HASH(hash || msg)
[[nodiscard]] bool openAndHash(uint8_t* out, const SymmetricKey& key, Bytes cipher,
                               Secret<NOISE_HASH_LEN>& hash) {
  if (!internal::aeadOpen(out, key.span(), 0, cipher, hash.span())) return false;
  mixHash(hash, cipher);
  return true;
}

}  // namespace

void StaticIdentity::set(const PrivateKey& key) {
  private_key = key;
  public_key = publicKeyOf(key);
  has_private_key = true;
  internal::hash(responder_hash.span(), {initial().hash, public_key.span()});
}

void StaticIdentity::clear() {
  has_private_key = false;
  private_key.clear();
  public_key = {};
  responder_hash.clear();
}

bool decryptInitiationStatic(const MessageInitiation& msg, const StaticIdentity& identity,
                             DecryptedInitiation* out) {
  if (!identity.has_private_key) return false;
  Secret<NOISE_HASH_LEN> chaining_key(std::span<const uint8_t, 32>(initial().chaining_key));
  Secret<NOISE_HASH_LEN> hash = identity.responder_hash;
  SymmetricKey key;
  const std::span<const uint8_t, 32> e(msg.unencrypted_ephemeral);

  // e
  mixKey(chaining_key, e);
  mixHash(hash, e);

  // es
  if (!mixDh(chaining_key, &key, identity.private_key.span(), e)) return false;

  // s
  PublicKey s;
  if (!openAndHash(s.data(), key, msg.encrypted_static, hash)) return false;

  out->remote_static = s;
  std::memcpy(out->remote_ephemeral.data(), msg.unencrypted_ephemeral, NOISE_PUBLIC_KEY_LEN);
  out->chaining_key = chaining_key;
  out->hash = hash;
  out->sender_index = msg.sender_index;
  return true;
}

void Handshake::init(const PublicKey& remote_static, const StaticIdentity& identity) {
  remote_static_ = remote_static;
  precompute(identity);
}

void Handshake::precompute(const StaticIdentity& identity) {
  static_static_valid_ =
      identity.has_private_key &&
      internal::dh(precomputed_static_static_.span(), identity.private_key, remote_static_);
  if (!static_static_valid_) precomputed_static_static_.clear();
}

void Handshake::clear() {
  state_ = State::kZeroed;
  ephemeral_private_.clear();
  remote_ephemeral_ = {};
  chaining_key_.clear();
  hash_.clear();
  local_index_ = 0;
  remote_index_ = 0;
}

bool Handshake::createInitiation(const StaticIdentity& identity, uint32_t sender_index,
                                 core::SystemTime now, MessageInitiation* msg) {
  if (!identity.has_private_key || !static_static_valid_) return false;
  clear();
  Secret<NOISE_HASH_LEN> chaining_key(std::span<const uint8_t, 32>(initial().chaining_key));
  Secret<NOISE_HASH_LEN> hash;
  internal::hash(hash.span(), {initial().hash, remote_static_.span()});
  SymmetricKey key;

  // e
  PrivateKey ephemeral = generatePrivateKey();
  const PublicKey e = publicKeyOf(ephemeral);
  std::memcpy(msg->unencrypted_ephemeral, e.data(), NOISE_PUBLIC_KEY_LEN);
  mixKey(chaining_key, e.span());
  mixHash(hash, e.span());

  // es
  if (!mixDh(chaining_key, &key, ephemeral.span(), remote_static_.span())) return false;

  // s
  sealAndHash(msg->encrypted_static, key, identity.public_key.span(), hash);

  // ss
  internal::kdf2(chaining_key.span(), key.span(), chaining_key.span(),
                 precomputed_static_static_.span());

  // {t}
  uint8_t timestamp[NOISE_TIMESTAMP_LEN];
  internal::tai64n(timestamp, now);
  sealAndHash(msg->encrypted_timestamp, key, timestamp, hash);

  msg->sender_index = sender_index;
  ephemeral_private_ = ephemeral;
  chaining_key_ = chaining_key;
  hash_ = hash;
  local_index_ = sender_index;
  state_ = State::kCreatedInitiation;
  return true;
}

Handshake::InitiationVerdict Handshake::consumeInitiation(const MessageInitiation& msg,
                                                          const DecryptedInitiation& partial,
                                                          core::SteadyTime now) {
  if (!static_static_valid_) return InitiationVerdict::kDecryptFailed;
  Secret<NOISE_HASH_LEN> chaining_key = partial.chaining_key;
  Secret<NOISE_HASH_LEN> hash = partial.hash;
  SymmetricKey key;

  // ss
  internal::kdf2(chaining_key.span(), key.span(), chaining_key.span(),
                 precomputed_static_static_.span());

  // {t}
  uint8_t timestamp[NOISE_TIMESTAMP_LEN];
  if (!openAndHash(timestamp, key, msg.encrypted_timestamp, hash)) {
    return InitiationVerdict::kDecryptFailed;
  }

  // TAI64N is big-endian, so byte order is time order.
  if (std::memcmp(timestamp, latest_timestamp_, NOISE_TIMESTAMP_LEN) <= 0) {
    return InitiationVerdict::kReplayedTimestamp;
  }
  if (last_initiation_consumption_ &&
      now - *last_initiation_consumption_ < HANDSHAKE_INITIATION_RATE) {
    return InitiationVerdict::kFlood;
  }

  clear();
  std::memcpy(latest_timestamp_, timestamp, NOISE_TIMESTAMP_LEN);
  last_initiation_consumption_ = now;
  remote_ephemeral_ = partial.remote_ephemeral;
  chaining_key_ = chaining_key;
  hash_ = hash;
  remote_index_ = partial.sender_index;
  state_ = State::kConsumedInitiation;
  return InitiationVerdict::kOk;
}

bool Handshake::createResponse(uint32_t sender_index, MessageResponse* msg) {
  if (state_ != State::kConsumedInitiation) return false;
  Secret<NOISE_HASH_LEN> chaining_key = chaining_key_;
  Secret<NOISE_HASH_LEN> hash = hash_;
  SymmetricKey key;

  // e
  PrivateKey ephemeral = generatePrivateKey();
  const PublicKey e = publicKeyOf(ephemeral);
  std::memcpy(msg->unencrypted_ephemeral, e.data(), NOISE_PUBLIC_KEY_LEN);
  mixKey(chaining_key, e.span());
  mixHash(hash, e.span());

  // ee
  if (!mixDh(chaining_key, nullptr, ephemeral.span(), remote_ephemeral_.span())) return false;

  // se
  if (!mixDh(chaining_key, nullptr, ephemeral.span(), remote_static_.span())) return false;

  // psk
  mixPsk(chaining_key, hash, key, preshared_key_);

  // {}
  sealAndHash(msg->encrypted_nothing, key, {}, hash);

  msg->sender_index = sender_index;
  msg->receiver_index = remote_index_;
  ephemeral_private_ = ephemeral;
  chaining_key_ = chaining_key;
  hash_ = hash;
  local_index_ = sender_index;
  state_ = State::kCreatedResponse;
  return true;
}

bool Handshake::consumeResponse(const MessageResponse& msg, const StaticIdentity& identity) {
  if (state_ != State::kCreatedInitiation || msg.receiver_index != local_index_ ||
      !identity.has_private_key) {
    return false;
  }
  // Work on copies: a forged response must leave our initiation usable.
  Secret<NOISE_HASH_LEN> chaining_key = chaining_key_;
  Secret<NOISE_HASH_LEN> hash = hash_;
  SymmetricKey key;
  const std::span<const uint8_t, 32> e(msg.unencrypted_ephemeral);

  // e
  mixKey(chaining_key, e);
  mixHash(hash, e);

  // ee
  if (!mixDh(chaining_key, nullptr, ephemeral_private_.span(), e)) return false;

  // se
  if (!mixDh(chaining_key, nullptr, identity.private_key.span(), e)) return false;

  // psk
  mixPsk(chaining_key, hash, key, preshared_key_);

  // {}
  uint8_t nothing = 0;
  if (!openAndHash(&nothing, key, msg.encrypted_nothing, hash)) return false;

  std::memcpy(remote_ephemeral_.data(), msg.unencrypted_ephemeral, NOISE_PUBLIC_KEY_LEN);
  chaining_key_ = chaining_key;
  hash_ = hash;
  remote_index_ = msg.sender_index;
  state_ = State::kConsumedResponse;
  return true;
}

bool Handshake::beginSession(SessionKeys* out) {
  if (state_ != State::kCreatedResponse && state_ != State::kConsumedResponse) return false;
  out->initiator = state_ == State::kConsumedResponse;
  // (T_send_i = T_recv_r, T_recv_i = T_send_r) = KDF2(chaining_key, empty)
  if (out->initiator) {
    internal::kdf2(out->sending.span(), out->receiving.span(), chaining_key_.span(), {});
  } else {
    internal::kdf2(out->receiving.span(), out->sending.span(), chaining_key_.span(), {});
  }
  out->local_index = local_index_;
  out->remote_index = remote_index_;
  clear();
  return true;
}

}  // namespace aureo::wireguard
