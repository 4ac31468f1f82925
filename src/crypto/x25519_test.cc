#include "crypto/x25519.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "crypto/encoding.h"

namespace aureo::crypto {
namespace {

std::string b64FromHex(std::string_view hex) {
  return base64Encode(hexDecode(hex).value());
}

TEST(X25519Test, MatchesRfc7748Section61Vectors) {
  // Alice.
  auto alice = x25519PublicFromPrivate(
      b64FromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  ASSERT_TRUE(alice.ok()) << alice.error().toString();
  EXPECT_EQ(*alice, b64FromHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  EXPECT_EQ(*alice, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  // Bob.
  auto bob = x25519PublicFromPrivate("XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os=");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(*bob, b64FromHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
}

TEST(X25519Test, PublicKeyIgnoresClampedBits) {
  // X25519 clamps the scalar, so bits cleared or set by clamping do not change
  // the public key; Alice's key with those bits flipped still maps to hers.
  std::string raw =
      hexDecode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").value();
  raw[0] = static_cast<char>(raw[0] | 0x07);
  raw[31] = static_cast<char>(raw[31] | 0x80);
  auto pub = x25519PublicFromPrivate(base64Encode(raw));
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
}

TEST(X25519Test, GeneratedPairsAreConsistentClampedAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const KeyPairBase64 pair = generateX25519KeyPair();
    ASSERT_EQ(pair.private_key.size(), 44u);
    ASSERT_EQ(pair.public_key.size(), 44u);
    EXPECT_TRUE(isValidWireGuardKey(pair.private_key));
    EXPECT_TRUE(isValidWireGuardKey(pair.public_key));
    auto pub = x25519PublicFromPrivate(pair.private_key);
    ASSERT_TRUE(pub.ok());
    EXPECT_EQ(*pub, pair.public_key);
    const std::string raw = *base64Decode(pair.private_key);
    EXPECT_EQ(static_cast<uint8_t>(raw[0]) & 7, 0);
    EXPECT_EQ(static_cast<uint8_t>(raw[31]) & 0xc0, 0x40);
    seen.insert(pair.private_key);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(X25519Test, PublicFromPrivateRejectsBadInput) {
  for (const std::string& bad :
       {std::string(), std::string("not base64"), base64Encode(std::string(31, 'a')),
        base64Encode(std::string(33, 'a')), base64UrlEncode(std::string(32, '\xff')),
        std::string("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"),
        std::string("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=")}) {
    auto r = x25519PublicFromPrivate(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, core::Code::kInvalidArgument);
  }
}

TEST(X25519Test, ValidatesWireGuardKeyFormat) {
  EXPECT_TRUE(isValidWireGuardKey("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="));
  EXPECT_FALSE(isValidWireGuardKey(""));
  EXPECT_FALSE(isValidWireGuardKey("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"));    // no pad
  EXPECT_FALSE(isValidWireGuardKey("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=="));  // 45
  EXPECT_FALSE(isValidWireGuardKey("hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo="));   // url
  EXPECT_FALSE(isValidWireGuardKey("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp="));   // bits
  EXPECT_FALSE(isValidWireGuardKey(" SDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="));
  EXPECT_FALSE(isValidWireGuardKey(base64Encode(std::string(33, 'a')).substr(0, 44)));
  EXPECT_FALSE(isValidWireGuardKey(base64Encode(std::string(32, '\0'))));  // "no key"
}

}  // namespace
}  // namespace aureo::crypto
