#include "crypto/jwt_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace aureo::crypto {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef";
constexpr int64_t kIat = 1700000000;

JwtClaims claimsFor(const std::string& sub, int64_t exp = kIat + 900) {
  JwtClaims c;
  c.sub = sub;
  c.typ = "access";
  c.role = "user";
  c.iat = kIat;
  c.nbf = kIat;
  c.exp = exp;
  return c;
}

core::SystemTime at(int64_t unix_s) {
  return core::fromUnixSeconds(unix_s);
}

class CachingJwtVerifierTest : public ::testing::Test {
 protected:
  JwtCodec codec_{kSecret, "aureo-test", "aureo-api"};
};

TEST_F(CachingJwtVerifierTest, AHitReturnsTheClaimsTheCodecReturned) {
  CachingJwtVerifier v(codec_);
  const std::string token = codec_.sign(claimsFor("user-1"));
  auto first = v.verify(token, "access", at(kIat + 10));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(v.size(), 1u);
  auto second = v.verify(token, "access", at(kIat + 20));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->get(), first->get());  // the same cached claims
  EXPECT_EQ((*second)->sub, "user-1");
  EXPECT_EQ((*second)->role, "user");
}

TEST_F(CachingJwtVerifierTest, ACachedTokenStillExpires) {
  CachingJwtVerifier v(codec_);
  const std::string token = codec_.sign(claimsFor("user-1", kIat + 60));
  ASSERT_TRUE(v.verify(token, "access", at(kIat + 10)).ok());
  auto late = v.verify(token, "access", at(kIat + 60 + JwtCodec::kDefaultLeeway.count()));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, core::Code::kUnauthenticated);
  EXPECT_EQ(late.error().message, codec_.verify(token, "access", at(kIat + 3600)).error().message);
  EXPECT_EQ(v.size(), 0u);
}

TEST_F(CachingJwtVerifierTest, ACachedTokenIsNotValidBeforeNbf) {
  CachingJwtVerifier v(codec_);
  JwtClaims c = claimsFor("user-1");
  c.nbf = kIat + 100;
  const std::string token = codec_.sign(c);
  ASSERT_TRUE(v.verify(token, "access", at(kIat + 100)).ok());
  EXPECT_FALSE(v.verify(token, "access", at(kIat)).ok());
}

TEST_F(CachingJwtVerifierTest, TheTypeIsCheckedOnAHit) {
  CachingJwtVerifier v(codec_);
  const std::string token = codec_.sign(claimsFor("user-1"));
  ASSERT_TRUE(v.verify(token, "access", at(kIat + 10)).ok());
  auto refresh = v.verify(token, "refresh", at(kIat + 10));
  ASSERT_FALSE(refresh.ok());
  EXPECT_EQ(refresh.error().message, "wrong token type");
}

TEST_F(CachingJwtVerifierTest, FailuresAreNotCachedAndATamperedTokenMisses) {
  CachingJwtVerifier v(codec_);
  const std::string token = codec_.sign(claimsFor("user-1"));
  ASSERT_TRUE(v.verify(token, "access", at(kIat + 10)).ok());
  std::string tampered = token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(v.verify(tampered, "access", at(kIat + 10)).ok());
  EXPECT_FALSE(v.verify("garbage", "access", at(kIat + 10)).ok());
  EXPECT_EQ(v.size(), 1u);
  const JwtCodec other{"another-secret-of-at-least-32-bytes!!", "aureo-test", "aureo-api"};
  EXPECT_FALSE(v.verify(other.sign(claimsFor("user-1")), "access", at(kIat + 10)).ok());
}

TEST_F(CachingJwtVerifierTest, StaysWithinItsCapacity) {
  CachingJwtVerifier v(codec_, 64);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(
        v.verify(codec_.sign(claimsFor("user-" + std::to_string(i))), "access", at(kIat + 10))
            .ok());
    ASSERT_LE(v.size(), 64u);
  }
}

TEST_F(CachingJwtVerifierTest, ConcurrentCallersAgree) {
  CachingJwtVerifier v(codec_, 128);
  std::vector<std::string> tokens;
  for (int i = 0; i < 32; ++i) tokens.push_back(codec_.sign(claimsFor("u" + std::to_string(i))));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 200; ++round) {
        for (size_t i = 0; i < tokens.size(); ++i) {
          auto c = v.verify(tokens[i], "access", at(kIat + 10));
          if (!c.ok() || (*c)->sub != "u" + std::to_string(i)) ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace aureo::crypto
