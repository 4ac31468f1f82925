#include "redis/shared_cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "redis/client.h"
#include "redis/telemetry.h"
#include "redis/testing/test_server.h"

namespace aureo::redis {
namespace {

using std::chrono::milliseconds;
using testing::deadServer;
using testing::testServer;
using testing::uniquePrefix;

class SharedCacheTest : public ::testing::Test {
 protected:
  Telemetry telemetry_{core::Logger::null(), nullptr};
  Client a_client_{testServer(), core::Logger::null(), nullptr};
  Client b_client_{testServer(), core::Logger::null(), nullptr};
  const std::string hash_ = uniquePrefix() + "node-list";
  SharedCache a_{a_client_, hash_, Use::kNodeListCache, telemetry_};
  SharedCache b_{b_client_, hash_, Use::kNodeListCache, telemetry_};
};

TEST_F(SharedCacheTest, AValuePutByOneProcessIsReadByAnother) {
  auto miss = b_.get("f1");
  ASSERT_TRUE(miss.ok()) << miss.error().message;
  EXPECT_FALSE(miss->has_value());
  const std::string body = R"({"nodes":[],"total":0})" + std::string(":with:colons\0", 13);
  ASSERT_TRUE(a_.put("f1", body, milliseconds(60'000)).ok());
  auto hit = b_.get("f1");
  ASSERT_TRUE(hit.ok());
  ASSERT_TRUE(hit->has_value());
  EXPECT_EQ(**hit, body);
  EXPECT_FALSE(b_.get("f2")->has_value());
}

TEST_F(SharedCacheTest, AnEntryIsGoneAfterItsTtl) {
  ASSERT_TRUE(a_.put("short", "v", milliseconds(5)).ok());
  ASSERT_TRUE(a_.put("long", "w", milliseconds(60'000)).ok());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(b_.get("short")->has_value());
  // The hash outlives a short entry when a longer one was put later.
  ASSERT_TRUE(a_.put("long", "w", milliseconds(60'000)).ok());
  EXPECT_EQ(b_.get("long")->value_or(""), "w");
}

TEST_F(SharedCacheTest, ClearDropsTheEntriesForEveryProcess) {
  ASSERT_TRUE(a_.put("f1", "one", milliseconds(60'000)).ok());
  ASSERT_TRUE(a_.put("f2", "two", milliseconds(60'000)).ok());
  ASSERT_TRUE(b_.clear().ok());
  EXPECT_FALSE(a_.get("f1")->has_value());
  EXPECT_FALSE(a_.get("f2")->has_value());
}

TEST_F(SharedCacheTest, BeyondItsBoundTheCacheStartsOver) {
  SharedCache small(a_client_, hash_ + "-small", Use::kNodeListCache, telemetry_, 3);
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(small.put(k, k, milliseconds(60'000)).ok());
  ASSERT_TRUE(small.put("d", "d", milliseconds(60'000)).ok());
  auto len = a_client_.command({"HLEN", hash_ + "-small"});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(len->integer, 1);
  EXPECT_EQ(small.get("d")->value_or(""), "d");
}

TEST(SharedCache, WithoutRedisEveryCallIsUnavailableAndCounted) {
  Telemetry telemetry(core::Logger::null(), nullptr);
  Client client(deadServer(), core::Logger::null(), nullptr);
  SharedCache cache(client, "x", Use::kNodeListCache, telemetry);
  EXPECT_EQ(cache.get("k").error().code, core::Code::kUnavailable);
  EXPECT_EQ(cache.put("k", "v", milliseconds(1000)).error().code, core::Code::kUnavailable);
  EXPECT_EQ(cache.clear().error().code, core::Code::kUnavailable);
  EXPECT_EQ(telemetry.fallbacks(Use::kNodeListCache), 3);
}

}  // namespace
}  // namespace aureo::redis
