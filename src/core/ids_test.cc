#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace aureo::core {
namespace {

TEST(IdsTest, UuidsAreVersion4AndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = newUuid();
    ASSERT_TRUE(isUuid(id)) << id;
    EXPECT_EQ(id[14], '4');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(isUuid("not-a-uuid"));
  EXPECT_FALSE(isUuid("3b241101-e2bb-4255-8caf-4136c566a96g"));
  EXPECT_FALSE(isUuid("3b241101e2bb-4255-8caf-4136c566a962-"));
}

TEST(IdsTest, RequestIdsAreUuidShapedAndDistinctAcrossThreads) {
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& ids : per_thread) {
    threads.emplace_back([&ids] {
      for (int i = 0; i < 20000; ++i) ids.push_back(newRequestId());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> seen;
  for (const auto& ids : per_thread) {
    for (const auto& id : ids) {
      ASSERT_TRUE(isUuid(id)) << id;
      EXPECT_EQ(id[14], '4');
      seen.insert(id);
    }
  }
  EXPECT_EQ(seen.size(), 80000u);
}

}  // namespace
}  // namespace aureo::core
