#include "redis/rate_limiter.h"

#include <gtest/gtest.h>

#include <mutex>
#include <random>
#include <vector>

#include "core/testing/fake_clock.h"
#include "redis/client.h"
#include "redis/telemetry.h"
#include "redis/testing/test_server.h"

namespace aureo::redis {
namespace {

using testing::deadServer;
using testing::testServer;
using testing::uniquePrefix;

class BucketScript : public ::testing::Test {
 protected:
  Client client_{testServer(), core::Logger::null(), nullptr};
  const std::string key_ = uniquePrefix() + "bucket";
  const int64_t t0_ = 1'700'000'000'000;

  BucketOutcome take(double rate, double burst, double cost, int64_t now) {
    auto r = takeFromBucket(client_, key_, rate, burst, cost, now);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : BucketOutcome{};
  }
};

TEST_F(BucketScript, AFreshBucketAllowsTheBurstThenRefuses) {
  for (int i = 0; i < 3; ++i) {
    auto o = take(1, 3, 1, t0_);
    EXPECT_TRUE(o.allowed) << i;
    EXPECT_EQ(o.tokens_milli, (2 - i) * 1000);
  }
  auto o = take(1, 3, 1, t0_);
  EXPECT_FALSE(o.allowed);
  EXPECT_EQ(o.retry_after_s, 1);
  EXPECT_EQ(o.tokens_milli, 0);
}

TEST_F(BucketScript, RefillsAtTheRateUpToTheBurst) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(take(2, 3, 1, t0_).allowed);
  // 0.75 s at 2/s: 1.5 tokens.
  auto o = take(2, 3, 1, t0_ + 750);
  EXPECT_TRUE(o.allowed);
  EXPECT_EQ(o.tokens_milli, 500);
  // An hour later the bucket is full again, not fuller.
  o = take(2, 3, 0, t0_ + 3'600'000);
  EXPECT_TRUE(o.allowed);
  EXPECT_EQ(o.tokens_milli, 3000);
}

TEST_F(BucketScript, ACostAboveTheBurstIsNeverAllowedAndTakesNothing) {
  auto o = take(1, 3, 4, t0_);
  EXPECT_FALSE(o.allowed);
  EXPECT_EQ(o.tokens_milli, 3000);
  o = take(1, 3, 4, t0_ + 86'400'000);
  EXPECT_FALSE(o.allowed);
}

TEST_F(BucketScript, RetryAfterIsTheWholeSecondsUntilTheCostIsThere) {
  ASSERT_TRUE(take(0.5, 2, 2, t0_).allowed);
  auto o = take(0.5, 2, 1, t0_ + 500);  // 0.25 tokens; 0.75 missing at 0.5/s = 1.5 s
  EXPECT_FALSE(o.allowed);
  EXPECT_EQ(o.retry_after_s, 2);
}

TEST_F(BucketScript, TheKeyExpiresWhenTheBucketWouldBeFullAgain) {
  ASSERT_TRUE(take(1, 10, 4, t0_).allowed);  // 6 left: full in 4 s
  auto ttl = client_.command({"PTTL", key_});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 4000);
  // A bucket left full has nothing to remember.
  ASSERT_TRUE(take(1, 10, 0, t0_ + 60'000).allowed);
  ttl = client_.command({"PTTL", key_});
  ASSERT_TRUE(ttl.ok());
  EXPECT_LE(ttl->integer, 1);  // expires within a millisecond (or already gone: -2)
}

TEST_F(BucketScript, DecidesExactlyAsTheLocalLimiterDoes) {
  core::testing::FakeClock clock;
  const double rate = 3, burst = 7;
  http::LocalRateLimiter local(rate, burst, clock);
  std::mt19937 rng(42);
  int64_t now = t0_;
  int allowed = 0;
  for (int i = 0; i < 300; ++i) {
    const int64_t step = std::uniform_int_distribution<int>(0, 4)(rng) == 0
                             ? std::uniform_int_distribution<int>(0, 3000)(rng)
                             : std::uniform_int_distribution<int>(0, 40)(rng);
    const double cost = std::uniform_int_distribution<int>(0, 9)(rng) == 0 ? 3 : 1;
    now += step;
    clock.advance(std::chrono::milliseconds(step));
    const auto expected = local.take("k", cost);
    const auto got = take(rate, burst, cost, now);
    ASSERT_EQ(got.allowed, expected.allowed) << "call " << i;
    if (!expected.allowed) {
      EXPECT_EQ(std::max<int64_t>(1, got.retry_after_s), expected.retry_after.count()) << i;
    }
    allowed += got.allowed;
  }
  // The sequence exercised both outcomes.
  EXPECT_GT(allowed, 50);
  EXPECT_LT(allowed, 290);
}

// A log sink that keeps the lines.
struct Lines {
  std::mutex mu;
  std::vector<std::string> lines;
  core::Logger logger{"test", core::LogLevel::kDebug, [this](std::string_view l) {
                        std::lock_guard lock(mu);
                        lines.emplace_back(l);
                      }};
  int count(std::string_view needle) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& l : lines) n += l.find(needle) != std::string::npos;
    return n;
  }
};

TEST(SharedRateLimiter, TwoLimitersOnOneRedisShareEachBucket) {
  core::testing::FakeClock clock;
  Telemetry telemetry(core::Logger::null(), nullptr);
  Client a_client(testServer(), core::Logger::null(), nullptr);
  Client b_client(testServer(), core::Logger::null(), nullptr);
  const std::string prefix = uniquePrefix();
  // A slow refill, so the real clock adds nothing within the test.
  SharedRateLimiter a(a_client, prefix, "ip", 0.001, 4,
                      std::make_unique<http::LocalRateLimiter>(0.001, 4, clock), telemetry);
  SharedRateLimiter b(b_client, prefix, "ip", 0.001, 4,
                      std::make_unique<http::LocalRateLimiter>(0.001, 4, clock), telemetry);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += (i % 2 ? a : b).take("ip:192.0.2.1").allowed;
  EXPECT_EQ(allowed, 4);
  auto refused = a.take("ip:192.0.2.1");
  EXPECT_FALSE(refused.allowed);
  EXPECT_GE(refused.retry_after.count(), 1);
  // Other keys have their own buckets.
  EXPECT_TRUE(b.take("ip:192.0.2.2").allowed);
  EXPECT_EQ(telemetry.fallbacks(Use::kRateLimit), 0);
}

TEST(SharedRateLimiter, FallsBackToTheLocalLimiterWhileRedisIsDownAndLogsOnce) {
  core::testing::FakeClock clock;
  Lines log;
  Telemetry telemetry(log.logger, nullptr);
  Client client(deadServer(), core::Logger::null(), nullptr);
  SharedRateLimiter limiter(client, uniquePrefix(), "ip", 1, 2,
                            std::make_unique<http::LocalRateLimiter>(1, 2, clock), telemetry);
  EXPECT_TRUE(limiter.take("ip:a").allowed);
  EXPECT_TRUE(limiter.take("ip:a").allowed);
  auto d = limiter.take("ip:a");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after.count(), 1);
  clock.advance(std::chrono::seconds(1));
  EXPECT_TRUE(limiter.take("ip:a").allowed) << "the local bucket refills on the local clock";
  EXPECT_EQ(telemetry.fallbacks(Use::kRateLimit), 4);
  EXPECT_EQ(log.count("rate limits are local"), 1);
}

}  // namespace
}  // namespace aureo::redis
