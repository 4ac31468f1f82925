#include "control/leader.h"

#include <gtest/gtest.h>

#include <vector>

#include "control/testing/temp_store.h"
#include "core/testing/fake_clock.h"

namespace aureo::control {
namespace {

using std::chrono::seconds;

class LeaderTest : public ::testing::Test {
 protected:
  LeaderElector make(const std::string& id) {
    return LeaderElector(store_->leases(), clock_, core::Logger::null(),
                         {"aureo-control", id, std::chrono::milliseconds(15'000)});
  }
  testing::TempStore store_;
  core::testing::FakeClock clock_;
};

TEST_F(LeaderTest, OfTwoElectorsExactlyOneLeads) {
  auto a = make("a");
  auto b = make("b");
  EXPECT_TRUE(*a.tick());
  EXPECT_FALSE(*b.tick());
  EXPECT_TRUE(a.isLeader());
  EXPECT_FALSE(b.isLeader());
  EXPECT_EQ(a.renewInterval(), std::chrono::milliseconds(5'000));
  // Renewing every third of the period keeps the lease.
  for (int i = 0; i < 10; ++i) {
    clock_.advance(seconds(5));
    EXPECT_TRUE(*a.tick());
    EXPECT_FALSE(*b.tick());
  }
  EXPECT_EQ(a.fencingToken(), 1);
}

TEST_F(LeaderTest, WhenTheHolderStopsRenewingTheOtherTakesOverAfterExpiry) {
  auto a = make("a");
  auto b = make("b");
  std::vector<bool> a_changes, b_changes;
  a.onChange([&](bool leader) { a_changes.push_back(leader); });
  b.onChange([&](bool leader) { b_changes.push_back(leader); });
  ASSERT_TRUE(*a.tick());
  ASSERT_FALSE(*b.tick());

  // a dies (no more ticks). Before the period is over b cannot take it...
  clock_.advance(seconds(14));
  EXPECT_FALSE(*b.tick());
  // ...and a no longer counts itself leader once its local lease has run out.
  clock_.advance(seconds(1));
  EXPECT_FALSE(a.isLeader());
  clock_.advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(*b.tick());
  EXPECT_TRUE(b.isLeader());
  EXPECT_EQ(b.fencingToken(), 2);

  // a comes back: it learns it lost.
  EXPECT_FALSE(*a.tick());
  EXPECT_FALSE(a.isLeader());
  EXPECT_EQ(a_changes, (std::vector<bool>{true, false}));
  EXPECT_EQ(b_changes, (std::vector<bool>{true}));
}

TEST_F(LeaderTest, ResigningHandsTheLeaseOverAtOnce) {
  auto a = make("a");
  auto b = make("b");
  ASSERT_TRUE(*a.tick());
  a.resign();
  EXPECT_FALSE(a.isLeader());
  EXPECT_TRUE(*b.tick());
  EXPECT_EQ(b.fencingToken(), 2);
}

}  // namespace
}  // namespace aureo::control
