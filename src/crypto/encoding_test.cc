#include "crypto/encoding.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace aureo::crypto {
namespace {

// RFC 4648 section 10.
const std::vector<std::pair<std::string, std::string>> kRfc4648 = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

std::string allBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

TEST(Base64Test, EncodesRfc4648Vectors) {
  for (const auto& [plain, encoded] : kRfc4648) {
    EXPECT_EQ(base64Encode(plain), encoded);
    auto decoded = base64Decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64Test, UrlVariantOmitsPaddingAndUsesUrlAlphabet) {
  for (const auto& [plain, encoded] : kRfc4648) {
    std::string unpadded = encoded.substr(0, encoded.find('='));
    EXPECT_EQ(base64UrlEncode(plain), unpadded);
    auto decoded = base64UrlDecode(unpadded);
    ASSERT_TRUE(decoded.has_value()) << unpadded;
    EXPECT_EQ(*decoded, plain);
  }
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(base64Encode(bytes), "+/+/");
  EXPECT_EQ(base64UrlEncode(bytes), "-_-_");
  EXPECT_EQ(base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64Test, RoundTripsEveryByteAtEveryLength) {
  const std::string all = allBytes();
  for (size_t n = 0; n <= all.size(); ++n) {
    const std::string in = all.substr(all.size() - n);
    auto std_decoded = base64Decode(base64Encode(in));
    ASSERT_TRUE(std_decoded.has_value()) << n;
    EXPECT_EQ(*std_decoded, in);
    auto url_decoded = base64UrlDecode(base64UrlEncode(in));
    ASSERT_TRUE(url_decoded.has_value()) << n;
    EXPECT_EQ(*url_decoded, in);
  }
}

TEST(Base64Test, StandardDecodeRejectsMalformedInput) {
  const std::vector<std::string> bad = {
      "Zg",        // missing padding
      "Zg=",       // wrong length
      "Z===",      // three padding characters
      "====",      // padding only
      "Zm9v=Zg=",  // padding in the middle
      "Zm=v",      // padding followed by data
      "Zh==",      // non-zero trailing bits (non-canonical "f")
      "Zm9=",      // non-zero trailing bits in a 3-char group
      "Zm8 ",      // whitespace
      "Zm8\n",     // newline
      "Zm-v",      // URL alphabet in standard base64
      "Zm_v",      //
      std::string("Zm\0v", 4),
      "Zm9\xc3",  // non-ASCII
  };
  for (const auto& s : bad) EXPECT_FALSE(base64Decode(s).has_value()) << s;
}

TEST(Base64Test, UrlDecodeRejectsMalformedInput) {
  const std::vector<std::string> bad = {
      "Zg==",   // padding is not allowed in the URL variant
      "Zm8=",   //
      "Z",      // length 1 mod 4 cannot encode anything
      "Zm9vY",  //
      "Zh",     // non-zero trailing bits
      "Zm9",    //
      "+/8",    // standard alphabet
      "Zm 8",   //
  };
  for (const auto& s : bad) EXPECT_FALSE(base64UrlDecode(s).has_value()) << s;
}

TEST(HexTest, EncodesLowercaseAndDecodesEitherCase) {
  EXPECT_EQ(hexEncode(std::string("\x00\xff\x10\xab", 4)), "00ff10ab");
  EXPECT_EQ(hexEncode(""), "");
  EXPECT_EQ(hexDecode("00FF10aB"), std::string("\x00\xff\x10\xab", 4));
  EXPECT_EQ(hexDecode(""), "");
  EXPECT_EQ(hexDecode(hexEncode(allBytes())), allBytes());
}

TEST(HexTest, DecodeRejectsOddLengthAndNonHex) {
  EXPECT_FALSE(hexDecode("abc").has_value());
  EXPECT_FALSE(hexDecode("0g").has_value());
  EXPECT_FALSE(hexDecode("0x00").has_value());
  EXPECT_FALSE(hexDecode(" 0").has_value());
}

TEST(Sha256Test, MatchesFips180Vectors) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(HmacSha256Test, MatchesRfc4231Vectors) {
  // Test case 1.
  EXPECT_EQ(hexEncode(hmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the output.
  EXPECT_EQ(hexEncode(hmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block size is hashed first.
  EXPECT_EQ(hexEncode(hmacSha256(std::string(131, '\xaa'),
                                 "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, EmptyKeyAndMessageFollowRfc2104) {
  EXPECT_EQ(hexEncode(hmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(HmacSha256Test, SignsRfc7515ExampleJws) {
  // RFC 7515 appendix A.1: the signing input and key are given there, and the
  // expected signature is printed in base64url.
  const std::string key = base64UrlDecode(
                              "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4h"
                              "cgUuTwjAzZr1Z9CAow")
                              .value();
  const std::string input =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
      "fQ";
  EXPECT_EQ(base64UrlEncode(hmacSha256(key, input)), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  EXPECT_EQ(hexEncode(key),
            "0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebfd3fb5a92d20647ef968ab4"
            "c377623d223d2e2172052e4f08c0cd9af567d080a3");
}

TEST(ConstantTimeEqualTest, ComparesContentAndLength) {
  EXPECT_TRUE(constantTimeEqual("", ""));
  EXPECT_TRUE(constantTimeEqual("secret-value", "secret-value"));
  EXPECT_FALSE(constantTimeEqual("secret-value", "secret-valuE"));
  EXPECT_FALSE(constantTimeEqual("Secret-value", "secret-value"));
  EXPECT_FALSE(constantTimeEqual("secret", "secret-value"));
  EXPECT_FALSE(constantTimeEqual("", "x"));
  EXPECT_TRUE(constantTimeEqual(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constantTimeEqual(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(RandomTokenTest, IsUrlSafeOfRequestedSizeAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string t = randomToken();
    EXPECT_EQ(t.size(), 43u);  // 32 bytes, unpadded
    auto raw = base64UrlDecode(t);
    ASSERT_TRUE(raw.has_value()) << t;
    EXPECT_EQ(raw->size(), 32u);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(base64UrlDecode(randomToken(16)).value().size(), 16u);
  EXPECT_EQ(randomToken(0), "");
}

}  // namespace
}  // namespace aureo::crypto
