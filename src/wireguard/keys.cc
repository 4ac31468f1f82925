#include "wireguard/keys.h"

#include <sodium.h>

#include <cstring>

#include "wireguard/internal/primitives.h"

namespace aureo::wireguard {

void secureZero(void* p, size_t n) {
  sodium_memzero(p, n);
}

bool PublicKey::isZero() const {
  return sodium_is_zero(bytes.data(), bytes.size()) == 1;
}

size_t PublicKeyHash::operator()(const PublicKey& k) const noexcept {
  // Public keys are uniformly random already; any 8 bytes make a good hash.
  size_t h = 0;
  std::memcpy(&h, k.bytes.data(), sizeof(h));
  return h;
}

PrivateKey generatePrivateKey() {
  internal::initSodium();
  PrivateKey key;
  randombytes_buf(key.data(), key.size());
  key.data()[0] &= 248;
  key.data()[31] = static_cast<uint8_t>((key.data()[31] & 127) | 64);
  return key;
}

PublicKey publicKeyOf(const PrivateKey& key) {
  internal::initSodium();
  PublicKey pub;
  crypto_scalarmult_base(pub.data(), key.data());
  return pub;
}

std::string toBase64(std::span<const uint8_t, 32> key) {
  char buf[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(buf, sizeof(buf), key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  return buf;
}

std::string toHex(std::span<const uint8_t, 32> key) {
  char buf[65];
  sodium_bin2hex(buf, sizeof(buf), key.data(), key.size());
  return buf;
}

bool fromBase64(std::string_view text, std::span<uint8_t, 32> out) {
  if (text.size() != 44 || text[43] != '=') return false;
  uint8_t buf[32];
  size_t len = 0;
  const char* end = nullptr;
  const int rc = sodium_base642bin(buf, sizeof(buf), text.data(), text.size(), nullptr, &len, &end,
                                   sodium_base64_VARIANT_ORIGINAL);
  const bool ok = rc == 0 && len == 32 && end == text.data() + text.size();
  if (ok) std::memcpy(out.data(), buf, 32);
  sodium_memzero(buf, sizeof(buf));
  return ok;
}

bool fromHex(std::string_view text, std::span<uint8_t, 32> out) {
  if (text.size() != 64) return false;
  uint8_t buf[32];
  size_t len = 0;
  const char* end = nullptr;
  const int rc = sodium_hex2bin(buf, sizeof(buf), text.data(), text.size(), nullptr, &len, &end);
  const bool ok = rc == 0 && len == 32 && end == text.data() + text.size();
  if (ok) std::memcpy(out.data(), buf, 32);
  sodium_memzero(buf, sizeof(buf));
  return ok;
}

std::optional<PublicKey> parsePublicKey(std::string_view base64) {
  PublicKey key;
  if (!fromBase64(base64, key.bytes)) return std::nullopt;
  return key;
}

std::optional<PrivateKey> parsePrivateKey(std::string_view base64) {
  PrivateKey key;
  if (!fromBase64(base64, key.span())) return std::nullopt;
  return key;
}

}  // namespace aureo::wireguard
