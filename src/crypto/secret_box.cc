#include "crypto/secret_box.h"

#include <sodium.h>

#include <cstring>

#include "crypto/encoding.h"
#include "crypto/internal/sodium.h"

namespace aureo::crypto {
namespace {

constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  // 24
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;       // 16
static_assert(MasterKey::size() == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

core::Result<MasterKey> parseMasterKey(std::string_view base64) {
  if (base64.size() != 44) {
    return core::invalidArgument("master key must be 32 bytes in base64 (44 characters)");
  }
  auto raw = base64Decode(base64);
  if (!raw) return core::invalidArgument("master key must be 32 bytes in base64 (44 characters)");
  std::string& bytes = *raw;
  if (bytes.size() != MasterKey::size()) {
    sodium_memzero(bytes.data(), bytes.size());
    return core::invalidArgument("master key must be 32 bytes in base64 (44 characters)");
  }
  MasterKey key;
  std::memcpy(key.data(), bytes.data(), MasterKey::size());
  sodium_memzero(bytes.data(), bytes.size());
  if (sodium_is_zero(key.data(), MasterKey::size()) == 1) {
    return core::invalidArgument("master key is all zero bytes");
  }
  return key;
}

std::string generateMasterKeyBase64() {
  internal::ensureSodium();
  MasterKey key;
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  return base64Encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

std::string seal(const MasterKey& key, std::string_view plaintext, std::string_view associated) {
  internal::ensureSodium();
  std::string box(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(box.data());
  // Random 192-bit nonces never collide in practice, so no counter is kept.
  randombytes_buf(out, kNonceBytes);
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + kNonceBytes, &ct_len, bytes(plaintext),
                                             plaintext.size(), bytes(associated), associated.size(),
                                             nullptr, out, key.data());
  return base64Encode(box);
}

core::Result<std::string> open(const MasterKey& key, std::string_view sealed,
                               std::string_view associated) {
  const auto box = base64Decode(sealed);
  if (!box) return core::invalidArgument("sealed value is not valid base64");
  if (box->size() < kNonceBytes + kTagBytes) {
    return core::invalidArgument("sealed value is truncated");
  }
  internal::ensureSodium();
  const auto* in = bytes(*box);
  const size_t ct_len = box->size() - kNonceBytes;
  std::string plain(ct_len - kTagBytes, '\0');
  unsigned long long plain_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plain_len, nullptr, in + kNonceBytes,
          ct_len, bytes(associated), associated.size(), in, key.data()) != 0) {
    return core::Error{core::Code::kDataLoss,
                       "sealed value failed authentication (wrong key, wrong associated data or "
                       "tampered)",
                       {}};
  }
  plain.resize(static_cast<size_t>(plain_len));
  return plain;
}

}  // namespace aureo::crypto
