#include "wireguard/internal/primitives.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace aureo::wireguard::internal {
namespace {

// OpenSSL fails here only when an algorithm is missing or memory is gone;
// neither leaves a safe way to continue.
void check(bool ok) {
  if (!ok) std::abort();
}

const EVP_MD* blake2s256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "BLAKE2S-256", nullptr);
  check(md != nullptr);
  return md;
}

const EVP_CIPHER* chacha20Poly1305() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  check(cipher != nullptr);
  return cipher;
}

EVP_MAC_CTX* newMacCtx(const char* algorithm, OSSL_PARAM* params) {
  EVP_MAC* m = EVP_MAC_fetch(nullptr, algorithm, nullptr);
  check(m != nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(m);
  EVP_MAC_free(m);  // the context holds its own reference
  check(ctx != nullptr && EVP_MAC_CTX_set_params(ctx, params) == 1);
  return ctx;
}

// One set per thread, created on first use and reused for every call.
struct ThreadContexts {
  ThreadContexts() {
    md = EVP_MD_CTX_new();
    check(md != nullptr);

    char digest[] = "BLAKE2S-256";
    OSSL_PARAM hmac_params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                OSSL_PARAM_END};
    hmac = newMacCtx("HMAC", hmac_params);

    size_t mac_size = COOKIE_LEN;
    OSSL_PARAM mac_params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &mac_size),
                               OSSL_PARAM_END};
    blake2s_mac = newMacCtx("BLAKE2SMAC", mac_params);

    seal = EVP_CIPHER_CTX_new();
    open = EVP_CIPHER_CTX_new();
    check(seal != nullptr && open != nullptr);
    check(EVP_EncryptInit_ex(seal, chacha20Poly1305(), nullptr, nullptr, nullptr) == 1);
    check(EVP_DecryptInit_ex(open, chacha20Poly1305(), nullptr, nullptr, nullptr) == 1);
  }
  ~ThreadContexts() {
    EVP_MD_CTX_free(md);
    EVP_MAC_CTX_free(hmac);
    EVP_MAC_CTX_free(blake2s_mac);
    EVP_CIPHER_CTX_free(seal);
    EVP_CIPHER_CTX_free(open);
  }
  ThreadContexts(const ThreadContexts&) = delete;
  ThreadContexts& operator=(const ThreadContexts&) = delete;

  EVP_MD_CTX* md;
  EVP_MAC_CTX* hmac;
  EVP_MAC_CTX* blake2s_mac;
  EVP_CIPHER_CTX* seal;
  EVP_CIPHER_CTX* open;
};

ThreadContexts& contexts() {
  thread_local ThreadContexts c;
  return c;
}

void macOver(EVP_MAC_CTX* ctx, uint8_t* out, size_t out_len, Bytes key,
             std::initializer_list<Bytes> parts) {
  check(EVP_MAC_init(ctx, key.data(), key.size(), nullptr) == 1);
  for (Bytes p : parts) {
    if (!p.empty()) check(EVP_MAC_update(ctx, p.data(), p.size()) == 1);
  }
  size_t written = 0;
  check(EVP_MAC_final(ctx, out, &written, out_len) == 1 && written == out_len);
}

void nonceFor(uint8_t (&nonce)[12], uint64_t counter) {
  std::memset(nonce, 0, 4);
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
}

int len(size_t n) {
  return static_cast<int>(n);
}

}  // namespace

void initSodium() {
  static const int rc = sodium_init();
  check(rc >= 0);
}

void hash(std::span<uint8_t, NOISE_HASH_LEN> out, std::initializer_list<Bytes> parts) {
  EVP_MD_CTX* ctx = contexts().md;
  check(EVP_DigestInit_ex2(ctx, blake2s256(), nullptr) == 1);
  for (Bytes p : parts) {
    if (!p.empty()) check(EVP_DigestUpdate(ctx, p.data(), p.size()) == 1);
  }
  unsigned int written = 0;
  check(EVP_DigestFinal_ex(ctx, out.data(), &written) == 1 && written == out.size());
}

void mac(std::span<uint8_t, COOKIE_LEN> out, Bytes key, std::initializer_list<Bytes> parts) {
  macOver(contexts().blake2s_mac, out.data(), out.size(), key, parts);
}

void hmac(std::span<uint8_t, NOISE_HASH_LEN> out, Bytes key, std::initializer_list<Bytes> parts) {
  macOver(contexts().hmac, out.data(), out.size(), key, parts);
}

namespace {

// Outputs t2 and t3 are optional (nullptr); every output may alias key.
void kdf(uint8_t* t1, uint8_t* t2, uint8_t* t3, Bytes key, Bytes input) {
  uint8_t tau0[32];
  uint8_t tau[33];
  hmac(tau0, key, {input});
  // tau1 = HMAC(tau0, 0x1)
  tau[32] = 1;
  hmac(std::span<uint8_t, 32>(tau, 32), tau0, {Bytes(tau + 32, 1)});
  std::memcpy(t1, tau, 32);
  if (t2 != nullptr) {
    // tau2 = HMAC(tau0, tau1 || 0x2)
    tau[32] = 2;
    hmac(std::span<uint8_t, 32>(tau, 32), tau0, {Bytes(tau, 33)});
    std::memcpy(t2, tau, 32);
  }
  if (t3 != nullptr) {
    // tau3 = HMAC(tau0, tau2 || 0x3)
    tau[32] = 3;
    hmac(std::span<uint8_t, 32>(tau, 32), tau0, {Bytes(tau, 33)});
    std::memcpy(t3, tau, 32);
  }
  sodium_memzero(tau0, sizeof(tau0));
  sodium_memzero(tau, sizeof(tau));
}

}  // namespace

void kdf1(std::span<uint8_t, 32> t1, Bytes key, Bytes input) {
  kdf(t1.data(), nullptr, nullptr, key, input);
}

void kdf2(std::span<uint8_t, 32> t1, std::span<uint8_t, 32> t2, Bytes key, Bytes input) {
  kdf(t1.data(), t2.data(), nullptr, key, input);
}

void kdf3(std::span<uint8_t, 32> t1, std::span<uint8_t, 32> t2, std::span<uint8_t, 32> t3,
          Bytes key, Bytes input) {
  kdf(t1.data(), t2.data(), t3.data(), key, input);
}

bool dh(std::span<uint8_t, 32> out, std::span<const uint8_t, 32> priv,
        std::span<const uint8_t, 32> pub) {
  initSodium();
  // libsodium rejects an all-zero result (a low-order point) with -1.
  if (crypto_scalarmult(out.data(), priv.data(), pub.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return false;
  }
  return true;
}

bool dh(std::span<uint8_t, 32> out, const PrivateKey& priv, const PublicKey& pub) {
  return dh(out, priv.span(), pub.span());
}

void aeadSeal(uint8_t* out, std::span<const uint8_t, 32> key, uint64_t counter, Bytes plain,
              Bytes auth) {
  uint8_t nonce[12];
  nonceFor(nonce, counter);
  aeadSealNonce(out, key, nonce, plain, auth);
}

void aeadSealNonce(uint8_t* out, std::span<const uint8_t, 32> key,
                   std::span<const uint8_t, 12> nonce, Bytes plain, Bytes auth) {
  EVP_CIPHER_CTX* ctx = contexts().seal;
  int n = 0;
  check(EVP_EncryptInit_ex(ctx, nullptr, nullptr, key.data(), nonce.data()) == 1);
  if (!auth.empty()) check(EVP_EncryptUpdate(ctx, nullptr, &n, auth.data(), len(auth.size())) == 1);
  if (!plain.empty()) {
    check(EVP_EncryptUpdate(ctx, out, &n, plain.data(), len(plain.size())) == 1);
  }
  check(EVP_EncryptFinal_ex(ctx, out + plain.size(), &n) == 1);
  check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, NOISE_AUTHTAG_LEN, out + plain.size()) ==
        1);
}

bool aeadOpen(uint8_t* out, std::span<const uint8_t, 32> key, uint64_t counter, Bytes cipher,
              Bytes auth) {
  if (cipher.size() < NOISE_AUTHTAG_LEN) return false;
  const size_t plain_len = cipher.size() - NOISE_AUTHTAG_LEN;
  EVP_CIPHER_CTX* ctx = contexts().open;
  uint8_t nonce[12];
  nonceFor(nonce, counter);
  int n = 0;
  check(EVP_DecryptInit_ex(ctx, nullptr, nullptr, key.data(), nonce) == 1);
  if (!auth.empty()) check(EVP_DecryptUpdate(ctx, nullptr, &n, auth.data(), len(auth.size())) == 1);
  if (plain_len > 0) {
    check(EVP_DecryptUpdate(ctx, out, &n, cipher.data(), len(plain_len)) == 1);
  }
  // The tag is read before Final; out may alias cipher, so copy it first.
  uint8_t tag[NOISE_AUTHTAG_LEN];
  std::memcpy(tag, cipher.data() + plain_len, sizeof(tag));
  check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, NOISE_AUTHTAG_LEN, tag) == 1);
  if (EVP_DecryptFinal_ex(ctx, out + plain_len, &n) != 1) {
    sodium_memzero(out, plain_len);
    return false;
  }
  return true;
}

void xaeadSeal(uint8_t* out, std::span<const uint8_t, 32> key,
               std::span<const uint8_t, COOKIE_NONCE_LEN> nonce, Bytes plain, Bytes auth) {
  initSodium();
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out, &written, plain.data(), plain.size(), auth.data(),
                                             auth.size(), nullptr, nonce.data(), key.data());
}

bool xaeadOpen(uint8_t* out, std::span<const uint8_t, 32> key,
               std::span<const uint8_t, COOKIE_NONCE_LEN> nonce, Bytes cipher, Bytes auth) {
  initSodium();
  unsigned long long written = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out, &written, nullptr, cipher.data(),
                                                    cipher.size(), auth.data(), auth.size(),
                                                    nonce.data(), key.data()) == 0;
}

void tai64n(std::span<uint8_t, NOISE_TIMESTAMP_LEN> out, core::SystemTime now) {
  const auto since_epoch = now.time_since_epoch();
  const auto secs = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs);
  // TAI64 label: 2^62 + 10 + seconds since the epoch, as wireguard-go and the kernel write it.
  const uint64_t label = 0x400000000000000aULL + static_cast<uint64_t>(secs.count());
  const uint32_t ns = static_cast<uint32_t>(nanos.count()) & ~TAI64N_WHITENER_MASK;
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<uint8_t>(label >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i)
    out[8 + static_cast<size_t>(i)] = static_cast<uint8_t>(ns >> (24 - 8 * i));
}

void randomFill(std::span<uint8_t> out) {
  initSodium();
  randombytes_buf(out.data(), out.size());
}

uint32_t randomU32() {
  initSodium();
  return randombytes_random();
}

uint32_t randomUniform(uint32_t upper_bound) {
  initSodium();
  return randombytes_uniform(upper_bound);
}

bool equal(Bytes a, Bytes b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace aureo::wireguard::internal
