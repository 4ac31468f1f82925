// The cryptographic primitives of section 5.4 of the whitepaper, over OpenSSL 3
// and libsodium. Private to the engine.
//
//   HASH(input)            BLAKE2s-256
//   MAC(key, input)        keyed BLAKE2s, 16-byte output
//   HMAC(key, input)       HMAC-BLAKE2s-256
//   KDF_n(key, input)      HKDF over HMAC, n = 1, 2, 3 outputs
//   AEAD(key, counter, plain, auth)   ChaCha20-Poly1305, 96-bit nonce =
//                          32 zero bits || 64-bit little-endian counter
//   XAEAD(key, nonce, plain, auth)    XChaCha20-Poly1305
//   DH(private, public)    X25519
//   TAI64N()               12-byte external timestamp
//
// Contexts are created once per thread and reused, so none of these allocate
// after a thread's first call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "core/clock.h"
#include "wireguard/constants.h"
#include "wireguard/keys.h"

namespace aureo::wireguard::internal {

using Bytes = std::span<const uint8_t>;

// Calls sodium_init() once; every entry point below does it for you.
void initSodium();

// HASH(a || b || ...) into out (32 bytes).
void hash(std::span<uint8_t, NOISE_HASH_LEN> out, std::initializer_list<Bytes> parts);
// MAC(key, input): keyed BLAKE2s with a 16-byte digest; key is 16..32 bytes.
void mac(std::span<uint8_t, COOKIE_LEN> out, Bytes key, std::initializer_list<Bytes> parts);
// HMAC-BLAKE2s(key, input), 32 bytes.
void hmac(std::span<uint8_t, NOISE_HASH_LEN> out, Bytes key, std::initializer_list<Bytes> parts);

// KDF_n(key, input) per section 5.4: tau0 = HMAC(key, input),
// tau1 = HMAC(tau0, 0x1), tau_i = HMAC(tau0, tau_{i-1} || i). Outputs may alias key.
void kdf1(std::span<uint8_t, 32> t1, Bytes key, Bytes input);
void kdf2(std::span<uint8_t, 32> t1, std::span<uint8_t, 32> t2, Bytes key, Bytes input);
void kdf3(std::span<uint8_t, 32> t1, std::span<uint8_t, 32> t2, std::span<uint8_t, 32> t3,
          Bytes key, Bytes input);

// X25519. False when the result is all zeros (a low-order public key).
[[nodiscard]] bool dh(std::span<uint8_t, 32> out, const PrivateKey& priv, const PublicKey& pub);
[[nodiscard]] bool dh(std::span<uint8_t, 32> out, std::span<const uint8_t, 32> priv,
                      std::span<const uint8_t, 32> pub);

// ChaCha20-Poly1305 with the WireGuard nonce. A per-thread pair of
// EVP_CIPHER_CTX objects is reused for every call.
//   seal: out must hold plain.size() + 16 bytes; out may equal plain.data().
//   open: out must hold cipher.size() - 16 bytes; false on authentication failure.
void aeadSeal(uint8_t* out, std::span<const uint8_t, 32> key, uint64_t counter, Bytes plain,
              Bytes auth);
// The same with an arbitrary 96-bit nonce (RFC 8439), for the known-answer tests.
void aeadSealNonce(uint8_t* out, std::span<const uint8_t, 32> key,
                   std::span<const uint8_t, 12> nonce, Bytes plain, Bytes auth);
[[nodiscard]] bool aeadOpen(uint8_t* out, std::span<const uint8_t, 32> key, uint64_t counter,
                            Bytes cipher, Bytes auth);

// XChaCha20-Poly1305 (libsodium), for cookie replies.
void xaeadSeal(uint8_t* out, std::span<const uint8_t, 32> key,
               std::span<const uint8_t, COOKIE_NONCE_LEN> nonce, Bytes plain, Bytes auth);
[[nodiscard]] bool xaeadOpen(uint8_t* out, std::span<const uint8_t, 32> key,
                             std::span<const uint8_t, COOKIE_NONCE_LEN> nonce, Bytes cipher,
                             Bytes auth);

// TAI64N of a wall-clock time: big-endian (2^62 + seconds) || big-endian
// nanoseconds, with the nanoseconds rounded down to TAI64N_WHITENER_MASK.
void tai64n(std::span<uint8_t, NOISE_TIMESTAMP_LEN> out, core::SystemTime now);

// Random bytes from libsodium's CSPRNG.
void randomFill(std::span<uint8_t> out);
uint32_t randomU32();
uint32_t randomUniform(uint32_t upper_bound);

// Constant-time equality.
[[nodiscard]] bool equal(Bytes a, Bytes b);

}  // namespace aureo::wireguard::internal
