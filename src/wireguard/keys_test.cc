#include "wireguard/keys.h"

#include <gtest/gtest.h>

namespace aureo::wireguard {
namespace {

TEST(KeysTest, Base64RoundTripsAndRejectsMalformedText) {
  PrivateKey priv = generatePrivateKey();
  const std::string text = toBase64(priv.span());
  EXPECT_EQ(text.size(), 44u);
  auto parsed = parsePrivateKey(text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(*parsed == priv);

  EXPECT_FALSE(parsePublicKey("").has_value());
  EXPECT_FALSE(parsePublicKey(text.substr(0, 43)).has_value());
  EXPECT_FALSE(parsePublicKey(text + "=").has_value());
  std::string bad = text;
  bad[5] = '*';
  EXPECT_FALSE(parsePublicKey(bad).has_value());
}

TEST(KeysTest, KnownKeyPairFromWgGenkeyFormat) {
  // RFC 7748 section 6.1 Alice, in wg(8)'s base64 form.
  auto priv = parsePrivateKey("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=");
  ASSERT_TRUE(priv.has_value());
  EXPECT_EQ(toBase64(publicKeyOf(*priv).span()), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
}

TEST(KeysTest, HexRoundTripsAndIsLowercase) {
  PublicKey pub = publicKeyOf(generatePrivateKey());
  const std::string text = toHex(pub.span());
  EXPECT_EQ(text.size(), 64u);
  EXPECT_EQ(text.find_first_of("ABCDEF"), std::string::npos);
  PublicKey back;
  ASSERT_TRUE(fromHex(text, back.bytes));
  EXPECT_EQ(back, pub);
  EXPECT_FALSE(fromHex(text.substr(1), back.bytes));
  EXPECT_FALSE(fromHex(text.substr(0, 63) + "g", back.bytes));
}

TEST(KeysTest, GeneratedPrivateKeysAreClamped) {
  PrivateKey k = generatePrivateKey();
  EXPECT_EQ(k.data()[0] & 7, 0);
  EXPECT_EQ(k.data()[31] & 128, 0);
  EXPECT_EQ(k.data()[31] & 64, 64);
}

TEST(KeysTest, SecretClearsAndComparesByValue) {
  PrivateKey a = generatePrivateKey();
  PrivateKey b = a;
  EXPECT_TRUE(a == b);
  b.data()[7] ^= 1;
  EXPECT_FALSE(a == b);
  a.clear();
  EXPECT_TRUE(a.isZero());
}

}  // namespace
}  // namespace aureo::wireguard
