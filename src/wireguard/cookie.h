// mac1, mac2 and cookies (whitepaper section 5.4.4 and 5.4.7).
//
// Every handshake message ends in mac1 = MAC(HASH(LABEL_MAC1 || S_pub_receiver),
// msg[0:mac1]) and mac2 = MAC(cookie, msg[0:mac2]). A responder under load
// answers a message without a valid mac2 by sealing a cookie, tied to the
// sender's address, under HASH(LABEL_COOKIE || S_pub_responder). The
// initiator then uses that cookie for mac2 in its next attempts.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>

#include "core/clock.h"
#include "wireguard/constants.h"
#include "wireguard/endpoint.h"
#include "wireguard/keys.h"
#include "wireguard/messages.h"

namespace aureo::wireguard {

// The responder's side, one per device. Safe from any thread.
class CookieChecker {
 public:
  enum class Verdict : uint8_t { kInvalidMac1, kValidMac1, kValidMac2 };

  // Keys the checker to the device's public key (zeros when it has none).
  void init(const PublicKey& local_public);

  // Checks mac1 of a whole handshake message; with check_cookie, also mac2
  // against the cookie this source would have been given.
  [[nodiscard]] Verdict validate(std::span<const uint8_t> message, const Endpoint& source,
                                 bool check_cookie, core::SteadyTime now);

  // A cookie reply to message (which passed mac1), from the sender's index.
  void createReply(std::span<const uint8_t> message, uint32_t sender_index, const Endpoint& source,
                   core::SteadyTime now, MessageCookieReply* out);

 private:
  void cookieFor(std::span<uint8_t, COOKIE_LEN> out, const Endpoint& source, core::SteadyTime now);

  uint8_t mac1_key_[NOISE_SYMMETRIC_KEY_LEN] = {};
  uint8_t cookie_key_[NOISE_SYMMETRIC_KEY_LEN] = {};
  std::mutex secret_mutex_;
  Secret<NOISE_HASH_LEN> secret_;                 // guarded by secret_mutex_
  std::optional<core::SteadyTime> secret_birth_;  // guarded by secret_mutex_
};

// The initiator's side, one per peer. Not thread-safe: the peer guards it.
class CookieState {
 public:
  // Keys mac1 and the cookie decryption to the peer's public key.
  void init(const PublicKey& remote_public);

  // Fills in the last 32 bytes of a handshake message: mac1, and mac2 when a
  // cookie younger than COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY is held.
  void addMacs(std::span<uint8_t> message, core::SteadyTime now);

  // Takes the cookie from a reply to the last message sent; false if it
  // does not decrypt against that message's mac1.
  [[nodiscard]] bool consumeReply(const MessageCookieReply& reply, core::SteadyTime now);

  [[nodiscard]] bool hasFreshCookie(core::SteadyTime now) const;

 private:
  uint8_t mac1_key_[NOISE_SYMMETRIC_KEY_LEN] = {};
  uint8_t cookie_decryption_key_[NOISE_SYMMETRIC_KEY_LEN] = {};
  Secret<COOKIE_LEN> cookie_;
  std::optional<core::SteadyTime> cookie_birth_;
  uint8_t last_mac1_sent_[COOKIE_LEN] = {};
  bool have_sent_mac1_ = false;
};

}  // namespace aureo::wireguard
