#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>

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

}  // namespace
}  // namespace aureo::core
