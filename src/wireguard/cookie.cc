#include "wireguard/cookie.h"

#include <cstring>

#include "wireguard/internal/primitives.h"

namespace aureo::wireguard {
namespace {

using internal::Bytes;

constexpr size_t kMacsLen = 2 * COOKIE_LEN;

Bytes text(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// HASH(label || public key)
void labelKey(uint8_t (&out)[NOISE_SYMMETRIC_KEY_LEN], std::string_view label,
              const PublicKey& key) {
  internal::hash(out, {text(label), key.span()});
}

// mac1 covers everything before it; mac2 covers everything before it, mac1 included.
void computeMac1(std::span<uint8_t, COOKIE_LEN> out, std::span<const uint8_t> message, Bytes key) {
  internal::mac(out, key, {message.first(message.size() - kMacsLen)});
}
void computeMac2(std::span<uint8_t, COOKIE_LEN> out, std::span<const uint8_t> message,
                 Bytes cookie) {
  internal::mac(out, cookie, {message.first(message.size() - COOKIE_LEN)});
}

}  // namespace

void CookieChecker::init(const PublicKey& local_public) {
  labelKey(mac1_key_, LABEL_MAC1, local_public);
  labelKey(cookie_key_, LABEL_COOKIE, local_public);
}

void CookieChecker::cookieFor(std::span<uint8_t, COOKIE_LEN> out, const Endpoint& source,
                              core::SteadyTime now) {
  // cookie = MAC(R_m, source address || source port), R_m rotated every two minutes.
  uint8_t address[18];
  const size_t n = source.address.byteLength();
  std::memcpy(address, source.address.bytes().data(), n);
  address[n] = static_cast<uint8_t>(source.port >> 8);
  address[n + 1] = static_cast<uint8_t>(source.port);
  std::lock_guard lock(secret_mutex_);
  if (!secret_birth_ || now - *secret_birth_ >= COOKIE_SECRET_MAX_AGE) {
    internal::randomFill(secret_.span());
    secret_birth_ = now;
  }
  internal::mac(out, secret_.span(), {Bytes(address, n + 2)});
}

CookieChecker::Verdict CookieChecker::validate(std::span<const uint8_t> message,
                                               const Endpoint& source, bool check_cookie,
                                               core::SteadyTime now) {
  if (message.size() < kMacsLen) return Verdict::kInvalidMac1;
  const auto macs = message.last(kMacsLen);
  uint8_t computed[COOKIE_LEN];
  computeMac1(computed, message, mac1_key_);
  if (!internal::equal(computed, macs.first(COOKIE_LEN))) return Verdict::kInvalidMac1;
  if (!check_cookie) return Verdict::kValidMac1;

  Secret<COOKIE_LEN> cookie;
  cookieFor(cookie.span(), source, now);
  computeMac2(computed, message, cookie.span());
  if (!internal::equal(computed, macs.last(COOKIE_LEN))) return Verdict::kValidMac1;
  return Verdict::kValidMac2;
}

void CookieChecker::createReply(std::span<const uint8_t> message, uint32_t sender_index,
                                const Endpoint& source, core::SteadyTime now,
                                MessageCookieReply* out) {
  const auto mac1 = message.last(kMacsLen).first(COOKIE_LEN);
  out->receiver_index = sender_index;
  internal::randomFill(out->nonce);
  Secret<COOKIE_LEN> cookie;
  cookieFor(cookie.span(), source, now);
  // msg.cookie = XAEAD(HASH(LABEL_COOKIE || S_pub_m), nonce, cookie, mac1)
  internal::xaeadSeal(out->encrypted_cookie, cookie_key_, out->nonce, cookie.span(), mac1);
}

void CookieState::init(const PublicKey& remote_public) {
  labelKey(mac1_key_, LABEL_MAC1, remote_public);
  labelKey(cookie_decryption_key_, LABEL_COOKIE, remote_public);
  cookie_.clear();
  cookie_birth_.reset();
  have_sent_mac1_ = false;
}

bool CookieState::hasFreshCookie(core::SteadyTime now) const {
  return cookie_birth_ && now - *cookie_birth_ < COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY;
}

void CookieState::addMacs(std::span<uint8_t> message, core::SteadyTime now) {
  auto macs = message.last(kMacsLen);
  auto mac1 = macs.first<COOKIE_LEN>();
  auto mac2 = macs.last<COOKIE_LEN>();
  computeMac1(mac1, message, mac1_key_);
  std::memcpy(last_mac1_sent_, mac1.data(), COOKIE_LEN);
  have_sent_mac1_ = true;
  if (hasFreshCookie(now)) {
    computeMac2(mac2, message, cookie_.span());
  } else {
    std::memset(mac2.data(), 0, COOKIE_LEN);
  }
}

bool CookieState::consumeReply(const MessageCookieReply& reply, core::SteadyTime now) {
  if (!have_sent_mac1_) return false;
  Secret<COOKIE_LEN> cookie;
  if (!internal::xaeadOpen(cookie.data(), cookie_decryption_key_, reply.nonce,
                           reply.encrypted_cookie, last_mac1_sent_)) {
    return false;
  }
  cookie_ = cookie;
  cookie_birth_ = now;
  // One reply per message sent: a second copy of it is ignored.
  have_sent_mac1_ = false;
  return true;
}

}  // namespace aureo::wireguard
