#include "crypto/secret_box.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "crypto/encoding.h"

namespace aureo::crypto {
namespace {

MasterKey keyFrom(char fill) {
  auto k = parseMasterKey(base64Encode(std::string(32, fill)));
  EXPECT_TRUE(k.ok());
  return k.ok() ? *k : MasterKey{};
}

TEST(MasterKeyTest, ParsesExactly32BytesOfBase64) {
  const std::string raw(32, '\x42');
  auto k = parseMasterKey(base64Encode(raw));
  ASSERT_TRUE(k.ok()) << k.error().toString();
  EXPECT_EQ(std::memcmp(k->data(), raw.data(), 32), 0);
}

TEST(MasterKeyTest, RejectsAnythingElse) {
  const std::string good = base64Encode(std::string(32, '\x42'));
  std::string bad_char = good;
  bad_char[5] = '!';
  std::string url_alphabet = base64Encode(std::string(32, '\xfb'));
  for (auto& c : url_alphabet) {
    if (c == '+') c = '-';
  }
  const std::string cases[] = {
      "",
      base64Encode(std::string(31, 'a')),
      base64Encode(std::string(33, 'a')),
      good.substr(0, 43),
      good + "=",
      " " + good.substr(1),
      bad_char,
      url_alphabet,
      base64UrlEncode(std::string(32, '\x42')),  // 43 chars, unpadded
      base64Encode(std::string(32, '\0')),       // all-zero key
  };
  for (const auto& c : cases) {
    auto k = parseMasterKey(c);
    ASSERT_FALSE(k.ok()) << c;
    EXPECT_EQ(k.error().code, core::Code::kInvalidArgument);
  }
}

TEST(MasterKeyTest, GeneratedKeysParseAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string k = generateMasterKeyBase64();
    EXPECT_EQ(k.size(), 44u);
    EXPECT_TRUE(parseMasterKey(k).ok()) << k;
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(SecretBoxTest, RoundTripsWithAssociatedData) {
  const MasterKey key = keyFrom('k');
  for (const std::string& plain : {std::string(), std::string("node private key"),
                                   std::string(10000, '\x01'), std::string("a\0b", 3)}) {
    const std::string sealed = seal(key, plain, "node:1");
    auto opened = open(key, sealed, "node:1");
    ASSERT_TRUE(opened.ok()) << opened.error().toString();
    EXPECT_EQ(*opened, plain);
  }
}

TEST(SecretBoxTest, OutputIsBase64OfNonceCiphertextAndTag) {
  const MasterKey key = keyFrom('k');
  const std::string plain = "0123456789";
  const std::string sealed = seal(key, plain, "ad");
  auto raw = base64Decode(sealed);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->size(), 24 + plain.size() + 16);
  EXPECT_EQ(raw->find(plain), std::string::npos);
}

TEST(SecretBoxTest, UsesAFreshNonceEachTime) {
  const MasterKey key = keyFrom('k');
  const std::string a = seal(key, "same", "ad");
  const std::string b = seal(key, "same", "ad");
  EXPECT_NE(a, b);
  EXPECT_NE(base64Decode(a)->substr(0, 24), base64Decode(b)->substr(0, 24));
}

TEST(SecretBoxTest, RejectsWrongKey) {
  const std::string sealed = seal(keyFrom('k'), "secret", "node:1");
  auto r = open(keyFrom('j'), sealed, "node:1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::Code::kDataLoss);
}

TEST(SecretBoxTest, RejectsWrongAssociatedData) {
  const MasterKey key = keyFrom('k');
  const std::string sealed = seal(key, "secret", "node:1");
  for (const char* ad : {"node:2", "", "node:1 ", "node:"}) {
    auto r = open(key, sealed, ad);
    ASSERT_FALSE(r.ok()) << ad;
    EXPECT_EQ(r.error().code, core::Code::kDataLoss);
  }
}

TEST(SecretBoxTest, RejectsEveryFlippedByte) {
  const MasterKey key = keyFrom('k');
  const std::string raw = *base64Decode(seal(key, "secret", "ad"));
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string tampered = raw;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    auto r = open(key, base64Encode(tampered), "ad");
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.error().code, core::Code::kDataLoss);
  }
}

TEST(SecretBoxTest, RejectsTruncatedAndExtendedInput) {
  const MasterKey key = keyFrom('k');
  const std::string raw = *base64Decode(seal(key, "secret", "ad"));
  for (size_t n : {size_t{0}, size_t{1}, size_t{24}, size_t{39}}) {
    auto r = open(key, base64Encode(raw.substr(0, n)), "ad");
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code, core::Code::kInvalidArgument) << n;
  }
  // Long enough to parse, but the tag no longer matches.
  auto shorter = open(key, base64Encode(raw.substr(0, raw.size() - 1)), "ad");
  ASSERT_FALSE(shorter.ok());
  EXPECT_EQ(shorter.error().code, core::Code::kDataLoss);
  auto longer = open(key, base64Encode(raw + "x"), "ad");
  ASSERT_FALSE(longer.ok());
  EXPECT_EQ(longer.error().code, core::Code::kDataLoss);
}

TEST(SecretBoxTest, RejectsInvalidBase64) {
  const MasterKey key = keyFrom('k');
  const std::string sealed = seal(key, "secret", "ad");
  for (const std::string& bad : {sealed + "=", sealed.substr(1), "!" + sealed.substr(1),
                                 base64UrlEncode(*base64Decode(sealed))}) {
    auto r = open(key, bad, "ad");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, core::Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace aureo::crypto
