#include "http/rate_limit.h"

#include <gtest/gtest.h>

#include "core/testing/fake_clock.h"

namespace aureo::http {
namespace {

using std::chrono::seconds;

TEST(LocalRateLimiterTest, AllowsTheBurstThenRefusesWithRetryAfter) {
  core::testing::FakeClock clock;
  LocalRateLimiter limiter(1.0, 3.0, clock);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.take("ip:1").allowed) << i;
  auto denied = limiter.take("ip:1");
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after, seconds(1));
  clock.advance(seconds(1));
  EXPECT_TRUE(limiter.take("ip:1").allowed);
  EXPECT_FALSE(limiter.take("ip:1").allowed);
}

TEST(LocalRateLimiterTest, RetryAfterReflectsTheRefillRate) {
  core::testing::FakeClock clock;
  LocalRateLimiter limiter(0.1, 1.0, clock);  // one token every 10 s
  EXPECT_TRUE(limiter.take("k").allowed);
  EXPECT_EQ(limiter.take("k").retry_after, seconds(10));
  clock.advance(seconds(4));
  EXPECT_EQ(limiter.take("k").retry_after, seconds(6));
}

TEST(LocalRateLimiterTest, RefillStopsAtTheBurst) {
  core::testing::FakeClock clock;
  LocalRateLimiter limiter(10.0, 2.0, clock);
  EXPECT_TRUE(limiter.take("k").allowed);
  clock.advance(seconds(3600));
  EXPECT_TRUE(limiter.take("k").allowed);
  EXPECT_TRUE(limiter.take("k").allowed);
  EXPECT_FALSE(limiter.take("k").allowed);
}

TEST(LocalRateLimiterTest, KeysHaveSeparateBuckets) {
  core::testing::FakeClock clock;
  LocalRateLimiter limiter(1.0, 1.0, clock);
  EXPECT_TRUE(limiter.take("a").allowed);
  EXPECT_FALSE(limiter.take("a").allowed);
  EXPECT_TRUE(limiter.take("b").allowed);
}

TEST(LocalRateLimiterTest, CostTakesSeveralTokensAndMoreThanBurstNeverPasses) {
  core::testing::FakeClock clock;
  LocalRateLimiter limiter(1.0, 5.0, clock);
  EXPECT_TRUE(limiter.take("k", 4).allowed);
  auto denied = limiter.take("k", 3);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after, seconds(2));
  clock.advance(seconds(3600));
  EXPECT_FALSE(limiter.take("k", 6).allowed);
  EXPECT_TRUE(limiter.take("k", 5).allowed);
}

TEST(LocalRateLimiterTest, KeyCountStaysBoundedUnderAFloodOfKeys) {
  core::testing::FakeClock clock;
  LocalRateLimiter limiter(1.0, 2.0, clock, /*max_keys=*/160);
  for (int i = 0; i < 20000; ++i) {
    EXPECT_TRUE(limiter.take("ip:" + std::to_string(i)).allowed);
    if (i % 1000 == 0) clock.advance(std::chrono::milliseconds(1));
  }
  EXPECT_LE(limiter.size(), 160u);
  EXPECT_GT(limiter.size(), 0u);
}

TEST(LocalRateLimiterTest, EvictsFullBucketsBeforeALimitedClient) {
  core::testing::FakeClock clock;
  LocalRateLimiter limiter(0.001, 1.0, clock, /*max_keys=*/32);
  EXPECT_TRUE(limiter.take("attacker").allowed);
  EXPECT_FALSE(limiter.take("attacker").allowed);
  // Cost 0 leaves each new bucket full: nothing is lost by dropping them.
  for (int i = 0; i < 5000; ++i) limiter.take("other:" + std::to_string(i), 0);
  EXPECT_LE(limiter.size(), 32u);
  EXPECT_FALSE(limiter.take("attacker").allowed);
}

TEST(LocalRateLimiterTest, WhenFullOfLimitedClientsTheLeastRecentlyUsedGo) {
  core::testing::FakeClock clock;
  LocalRateLimiter limiter(1e-6, 1.0, clock, /*max_keys=*/16);  // one per shard, no refill
  EXPECT_TRUE(limiter.take("old").allowed);
  for (int i = 0; i < 2000; ++i) {
    clock.advance(seconds(1));
    limiter.take("new:" + std::to_string(i));
  }
  EXPECT_LE(limiter.size(), 16u);
  // "old" was evicted, so it starts again with a full bucket.
  EXPECT_TRUE(limiter.take("old").allowed);
}

}  // namespace
}  // namespace aureo::http
