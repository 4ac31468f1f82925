#include "wireguard/internal/primitives.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string_view>

#include "wireguard/testing/hex.h"

namespace aureo::wireguard::internal {
namespace {

using testing::hex;
using testing::unhex;

Bytes text(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Expected values below come from RFC 7693, RFC 7748 and RFC 8439, and (for
// the keyed and HMAC forms) from Python's hashlib.blake2s and hmac modules.

TEST(HashTest, Blake2sOfAbcMatchesRfc7693) {
  std::array<uint8_t, 32> out{};
  hash(out, {text("abc")});
  EXPECT_EQ(hex(out), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

TEST(HashTest, PartsAreConcatenated) {
  std::array<uint8_t, 32> whole{};
  std::array<uint8_t, 32> split{};
  hash(whole, {text("abc")});
  hash(split, {text("a"), text(""), text("bc")});
  EXPECT_EQ(whole, split);
}

TEST(HashTest, InitialChainingKeyAndHashMatchTheProtocol) {
  std::array<uint8_t, 32> chaining_key{};
  hash(chaining_key, {text(CONSTRUCTION)});
  EXPECT_EQ(hex(chaining_key), "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  std::array<uint8_t, 32> h{};
  hash(h, {chaining_key, text(IDENTIFIER)});
  EXPECT_EQ(hex(h), "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

TEST(MacTest, KeyedBlake2sWith16ByteDigest) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  std::array<uint8_t, 16> out{};
  mac(out, key, {text("hello "), text("world")});
  EXPECT_EQ(hex(out), "9dc39de6198d670172a4bf1a20c88f06");
}

TEST(HmacTest, HmacBlake2s) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  std::array<uint8_t, 32> out{};
  hmac(out, key, {text("hello world")});
  EXPECT_EQ(hex(out), "ab8de334c780c9f8619f195f50dc4653044dc0a584c7398a3b89c2a8206ee1b6");
}

TEST(KdfTest, Kdf3ChainsHmacOutputs) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  std::array<uint8_t, 32> t1{}, t2{}, t3{};
  kdf3(t1, t2, t3, key, text("input"));
  EXPECT_EQ(hex(t1), "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040");
  EXPECT_EQ(hex(t2), "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824");
  EXPECT_EQ(hex(t3), "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9");

  std::array<uint8_t, 32> k1{}, k2{};
  kdf2(k1, k2, key, text("input"));
  EXPECT_EQ(k1, t1);
  EXPECT_EQ(k2, t2);
  // Output aliasing the key, as chaining_key = KDF1(chaining_key, ...) does.
  std::array<uint8_t, 32> chained = key;
  kdf1(chained, chained, text("input"));
  EXPECT_EQ(chained, t1);
}

TEST(DhTest, Rfc7748Vectors) {
  const auto scalar = unhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
  const auto u = unhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
  std::array<uint8_t, 32> out{};
  ASSERT_TRUE(dh(out, std::span<const uint8_t, 32>(scalar.data(), 32),
                 std::span<const uint8_t, 32>(u.data(), 32)));
  EXPECT_EQ(hex(out), "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");

  // Section 6.1: Alice and Bob agree.
  PrivateKey alice(std::span<const uint8_t, 32>(
      unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").data(), 32));
  PrivateKey bob(std::span<const uint8_t, 32>(
      unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb").data(), 32));
  EXPECT_EQ(hex(publicKeyOf(alice).bytes),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  std::array<uint8_t, 32> ab{}, ba{};
  ASSERT_TRUE(dh(ab, alice, publicKeyOf(bob)));
  ASSERT_TRUE(dh(ba, bob, publicKeyOf(alice)));
  EXPECT_EQ(hex(ab), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(ab, ba);
}

TEST(DhTest, RejectsLowOrderPointsWithZeroSharedSecret) {
  PrivateKey priv = generatePrivateKey();
  PublicKey zero;  // the point 0 has order 4; every result is all zeros
  std::array<uint8_t, 32> out{};
  out.fill(0xaa);
  EXPECT_FALSE(dh(out, priv, zero));
  EXPECT_EQ(out, (std::array<uint8_t, 32>{}));
  PublicKey one;
  one.bytes[0] = 1;  // u = 1, order 1
  EXPECT_FALSE(dh(out, priv, one));
}

TEST(AeadTest, Rfc8439Section282) {
  const auto key = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const auto nonce = unhex("070000004041424344454647");
  const auto aad = unhex("50515253c0c1c2c3c4c5c6c7");
  const std::string_view plain =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.";
  std::vector<uint8_t> out(plain.size() + 16);
  aeadSealNonce(out.data(), std::span<const uint8_t, 32>(key.data(), 32),
                std::span<const uint8_t, 12>(nonce.data(), 12), text(plain), aad);
  EXPECT_EQ(hex(out),
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca967128"
            "2fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab"
            "324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
            "1ae10b594f09e26a7e902ecbd0600691");
}

TEST(AeadTest, CounterIsALittleEndianNonceAfterFourZeroBytes) {
  const auto key = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  std::array<uint8_t, 9 + 16> out{};
  aeadSeal(out.data(), std::span<const uint8_t, 32>(key.data(), 32), 0x0102030405060708ULL,
           text("wireguard"), text("ad"));
  // From Python's cryptography ChaCha20Poly1305 with nonce 00000000 0807060504030201.
  EXPECT_EQ(hex(out).substr(0, 50), "83d89cde37af3aaf4710985da42bf42b712a40fa880f5467ec");
}

TEST(AeadTest, OpenReversesSealInPlaceAndRejectsTampering) {
  std::array<uint8_t, 32> key{};
  randomFill(key);
  std::vector<uint8_t> buf(1500 + 16);
  for (size_t i = 0; i < 1500; ++i) buf[i] = static_cast<uint8_t>(i * 7);
  const std::vector<uint8_t> original(buf.begin(), buf.begin() + 1500);
  aeadSeal(buf.data(), key, 42, std::span<const uint8_t>(buf.data(), 1500), {});
  EXPECT_NE(std::vector<uint8_t>(buf.begin(), buf.begin() + 1500), original);

  std::vector<uint8_t> sealed = buf;
  ASSERT_TRUE(aeadOpen(buf.data(), key, 42, buf, {}));
  EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + 1500), original);

  std::vector<uint8_t> out(1500);
  EXPECT_FALSE(aeadOpen(out.data(), key, 43, sealed, {}));  // wrong counter
  sealed[1000] ^= 1;
  EXPECT_FALSE(aeadOpen(out.data(), key, 42, sealed, {}));  // flipped bit
  sealed[1000] ^= 1;
  EXPECT_TRUE(aeadOpen(out.data(), key, 42, sealed, {}));
}

TEST(AeadTest, EmptyPlaintextIsJustATag) {
  std::array<uint8_t, 32> key{};
  randomFill(key);
  std::array<uint8_t, 16> tag{};
  std::array<uint8_t, 32> hash_ad{};
  aeadSeal(tag.data(), key, 0, {}, hash_ad);
  uint8_t unused = 0;
  EXPECT_TRUE(aeadOpen(&unused, key, 0, tag, hash_ad));
  hash_ad[0] = 1;
  EXPECT_FALSE(aeadOpen(&unused, key, 0, tag, hash_ad));
}

TEST(XaeadTest, RoundTripBindsNonceAndAuth) {
  std::array<uint8_t, 32> key{};
  std::array<uint8_t, 24> nonce{};
  randomFill(key);
  randomFill(nonce);
  std::array<uint8_t, 16> cookie{};
  randomFill(cookie);
  std::array<uint8_t, 16> mac1{};
  std::array<uint8_t, 32> sealed{};
  xaeadSeal(sealed.data(), key, nonce, cookie, mac1);
  std::array<uint8_t, 16> opened{};
  ASSERT_TRUE(xaeadOpen(opened.data(), key, nonce, sealed, mac1));
  EXPECT_EQ(opened, cookie);
  mac1[3] ^= 0x10;
  EXPECT_FALSE(xaeadOpen(opened.data(), key, nonce, sealed, mac1));
  mac1[3] ^= 0x10;
  nonce[23] ^= 1;
  EXPECT_FALSE(xaeadOpen(opened.data(), key, nonce, sealed, mac1));
}

TEST(Tai64nTest, EncodesSecondsAndWhitenedNanoseconds) {
  // 2023-11-14T22:13:20.123456789Z
  const core::SystemTime t =
      core::SystemTime{std::chrono::seconds{1'700'000'000}} +
      std::chrono::duration_cast<core::SystemTime::duration>(std::chrono::nanoseconds{123'456'789});
  std::array<uint8_t, 12> out{};
  tai64n(out, t);
  // 0x400000000000000a + 1700000000 = 0x400000006553f10a
  EXPECT_EQ(hex(std::span<const uint8_t>(out).first(8)), "400000006553f10a");
  // 123456789 & ~0xffffff = 117440512 = 0x07000000
  EXPECT_EQ(hex(std::span<const uint8_t>(out).last(4)), "07000000");

  std::array<uint8_t, 12> later{};
  tai64n(later, t + std::chrono::milliseconds(17));
  EXPECT_GT(std::memcmp(later.data(), out.data(), 12), 0);
  std::array<uint8_t, 12> same_slot{};
  tai64n(same_slot, t + std::chrono::milliseconds(1));
  EXPECT_EQ(same_slot, out);  // whitening hides sub-16ms differences
}

}  // namespace
}  // namespace aureo::wireguard::internal
