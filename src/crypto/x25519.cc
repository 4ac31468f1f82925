#include "crypto/x25519.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "crypto/encoding.h"
#include "crypto/internal/sodium.h"
#include "crypto/secret.h"

namespace aureo::crypto {
namespace {

constexpr size_t kKeyBytes = crypto_scalarmult_curve25519_BYTES;  // 32
constexpr size_t kKeyBase64Chars = 44;
static_assert(crypto_scalarmult_curve25519_SCALARBYTES == kKeyBytes);

using PrivateKey = Secret<kKeyBytes>;

// RFC 7748 section 5 / WireGuard's curve25519_clamp_secret: what `wg genkey`
// stores, so keys we hand out look exactly like the stock tools' keys.
void clamp(PrivateKey& k) {
  k.data()[0] &= 248;
  k.data()[31] &= 127;
  k.data()[31] |= 64;
}

std::string_view view(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// Decodes a 44-character base64 key into out; false unless it is exactly 32 bytes.
bool decodeKey(const std::string& base64, uint8_t* out) {
  if (base64.size() != kKeyBase64Chars) return false;
  auto raw = base64Decode(base64);
  if (!raw) return false;
  std::string& bytes = *raw;
  const bool ok = bytes.size() == kKeyBytes;
  if (ok) std::memcpy(out, bytes.data(), kKeyBytes);
  sodium_memzero(bytes.data(), bytes.size());
  return ok;
}

std::string publicFrom(PrivateKey& priv) {
  clamp(priv);
  uint8_t pub[kKeyBytes];
  // Fails only when the result is the all-zero point, which a clamped scalar
  // times the base point cannot produce.
  if (crypto_scalarmult_base(pub, priv.data()) != 0) std::abort();
  return base64Encode(view(pub, kKeyBytes));
}

}  // namespace

KeyPairBase64 generateX25519KeyPair() {
  internal::ensureSodium();
  PrivateKey priv;
  randombytes_buf(priv.data(), priv.size());
  KeyPairBase64 pair;
  pair.public_key = publicFrom(priv);  // clamps priv first
  pair.private_key = base64Encode(view(priv.data(), priv.size()));
  return pair;
}

core::Result<std::string> x25519PublicFromPrivate(const std::string& private_key_base64) {
  PrivateKey priv;
  if (!decodeKey(private_key_base64, priv.data())) {
    return core::invalidArgument("private key must be 32 bytes in base64 (44 characters)",
                                 "private_key");
  }
  internal::ensureSodium();
  return publicFrom(priv);
}

bool isValidWireGuardKey(const std::string& base64) {
  uint8_t raw[kKeyBytes];
  if (!decodeKey(base64, raw)) return false;
  // The all-zero key is what `wg` shows for "no key" and is never a usable peer key.
  const bool zero = sodium_is_zero(raw, kKeyBytes) == 1;
  sodium_memzero(raw, kKeyBytes);
  return !zero;
}

}  // namespace aureo::crypto
