#include "openvpn/backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace aureo::openvpn {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RestartBackoffTest, DoublesFromOneSecondUpToSixtySeconds) {
  RestartBackoff backoff;
  std::vector<long> delays;
  for (int i = 0; i < 9; ++i) delays.push_back(backoff.nextDelay(seconds(2)).count());
  EXPECT_EQ(delays, (std::vector<long>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
}

TEST(RestartBackoffTest, ResetsAfterARunThatStayedUp) {
  RestartBackoff backoff;
  backoff.nextDelay(seconds(0));
  backoff.nextDelay(seconds(0));
  EXPECT_EQ(backoff.nextDelay(seconds(59)), milliseconds(4000));
  EXPECT_EQ(backoff.nextDelay(seconds(60)), milliseconds(1000));
  EXPECT_EQ(backoff.nextDelay(seconds(1)), milliseconds(2000));
}

TEST(RestartBackoffTest, FollowsACustomPolicy) {
  RestartBackoff backoff({milliseconds(100), milliseconds(250), seconds(5)});
  EXPECT_EQ(backoff.nextDelay(seconds(0)), milliseconds(100));
  EXPECT_EQ(backoff.nextDelay(seconds(0)), milliseconds(200));
  EXPECT_EQ(backoff.nextDelay(seconds(0)), milliseconds(250));
  EXPECT_EQ(backoff.nextDelay(seconds(6)), milliseconds(100));
}

}  // namespace
}  // namespace aureo::openvpn
