// Key material of the engine: public keys as plain values, private and
// preshared keys in self-wiping Secret<N>, and the text forms wg(8) uses
// (44-character base64 on the command line, lowercase hex over UAPI).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "wireguard/constants.h"

namespace aureo::wireguard {

// Wipes n bytes so the compiler cannot elide it.
void secureZero(void* p, size_t n);

// Fixed-size key material that wipes itself whenever it is overwritten or
// destroyed. Comparisons run in constant time.
template <size_t N>
class Secret {
 public:
  Secret() { bytes_.fill(0); }
  explicit Secret(std::span<const uint8_t, N> bytes) {
    std::copy(bytes.begin(), bytes.end(), bytes_.begin());
  }
  Secret(const Secret& other) = default;
  Secret& operator=(const Secret& other) = default;
  ~Secret() { secureZero(bytes_.data(), N); }

  uint8_t* data() { return bytes_.data(); }
  [[nodiscard]] const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }
  std::span<uint8_t, N> span() { return std::span<uint8_t, N>(bytes_); }
  [[nodiscard]] std::span<const uint8_t, N> span() const {
    return std::span<const uint8_t, N>(bytes_);
  }

  void clear() { secureZero(bytes_.data(), N); }
  [[nodiscard]] bool isZero() const {
    uint8_t acc = 0;
    for (uint8_t b : bytes_) acc |= b;
    return acc == 0;
  }
  friend bool operator==(const Secret& a, const Secret& b) {
    uint8_t acc = 0;
    for (size_t i = 0; i < N; ++i) acc |= static_cast<uint8_t>(a.bytes_[i] ^ b.bytes_[i]);
    return acc == 0;
  }

 private:
  std::array<uint8_t, N> bytes_;
};

using PrivateKey = Secret<NOISE_PUBLIC_KEY_LEN>;
using PresharedKey = Secret<NOISE_SYMMETRIC_KEY_LEN>;
using SymmetricKey = Secret<NOISE_SYMMETRIC_KEY_LEN>;

// A Curve25519 public key; not secret, compared and hashed as a value.
struct PublicKey {
  std::array<uint8_t, NOISE_PUBLIC_KEY_LEN> bytes{};

  [[nodiscard]] const uint8_t* data() const { return bytes.data(); }
  uint8_t* data() { return bytes.data(); }
  [[nodiscard]] std::span<const uint8_t, NOISE_PUBLIC_KEY_LEN> span() const { return bytes; }
  [[nodiscard]] bool isZero() const;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const PublicKey&) const = default;
};

struct PublicKeyHash {
  size_t operator()(const PublicKey& k) const noexcept;
};

// A fresh private key from the system CSPRNG, clamped as wg genkey does.
PrivateKey generatePrivateKey();
// The Curve25519 public key of a private key.
PublicKey publicKeyOf(const PrivateKey& key);

// Base64 (standard alphabet, padded: 44 characters for 32 bytes).
std::string toBase64(std::span<const uint8_t, 32> key);
// Lowercase hex, 64 characters.
std::string toHex(std::span<const uint8_t, 32> key);
// Parse into out; false (and out untouched) unless text is exactly one
// 32-byte key in that encoding.
bool fromBase64(std::string_view text, std::span<uint8_t, 32> out);
bool fromHex(std::string_view text, std::span<uint8_t, 32> out);

std::optional<PublicKey> parsePublicKey(std::string_view base64);
std::optional<PrivateKey> parsePrivateKey(std::string_view base64);

}  // namespace aureo::wireguard
