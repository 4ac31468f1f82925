#include "control/periodic_task.h"

#include <gtest/gtest.h>

#include <atomic>

#include "control/testing/fake_sleeper.h"

namespace aureo::control {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(PeriodicTaskTest, DelaysStayWithinTheJitterBand) {
  core::testing::FakeClock clock;
  testing::FakeSleeper sleeper(clock);
  PeriodicTask task(
      {"t", seconds(60), 0.1, milliseconds(0), true}, [] { return core::okStatus(); }, sleeper,
      core::Logger::null(), 42);
  bool below = false, above = false;
  for (int i = 0; i < 200; ++i) {
    const auto d = task.nextDelay(0);
    EXPECT_GE(d, milliseconds(54'000));
    EXPECT_LE(d, milliseconds(66'000));
    below = below || d < milliseconds(59'000);
    above = above || d > milliseconds(61'000);
  }
  EXPECT_TRUE(below && above) << "jitter should spread delays on both sides of the period";
}

TEST(PeriodicTaskTest, FailuresBackOffByDoublingUpToTheCap) {
  core::testing::FakeClock clock;
  testing::FakeSleeper sleeper(clock);
  PeriodicTask task(
      {"t", seconds(10), 0.0, seconds(45), true}, [] { return core::okStatus(); }, sleeper,
      core::Logger::null(), 1);
  EXPECT_EQ(task.nextDelay(0), seconds(10));
  EXPECT_EQ(task.nextDelay(1), seconds(10));
  EXPECT_EQ(task.nextDelay(2), seconds(20));
  EXPECT_EQ(task.nextDelay(3), seconds(40));
  EXPECT_EQ(task.nextDelay(4), seconds(45));
  EXPECT_EQ(task.nextDelay(60), seconds(45));
}

TEST(PeriodicTaskTest, RunsAtStartAndThenOncePerPeriodOfTheFakeClock) {
  core::testing::FakeClock clock;
  testing::FakeSleeper sleeper(clock);
  std::atomic<int> calls{0};
  PeriodicTask task(
      {"t", seconds(30), 0.0, milliseconds(0), true},
      [&] {
        ++calls;
        return core::okStatus();
      },
      sleeper, core::Logger::null(), 1);
  task.start();
  sleeper.awaitSleeps(1);
  EXPECT_EQ(calls.load(), 1);
  sleeper.advance(seconds(29));  // not yet
  sleeper.advance(seconds(1));
  sleeper.awaitSleeps(2);
  EXPECT_EQ(calls.load(), 2);
  sleeper.advance(seconds(30));
  sleeper.awaitSleeps(3);
  EXPECT_EQ(calls.load(), 3);
  task.stop();
  EXPECT_EQ(task.runs(), 3);
  EXPECT_EQ(task.failures(), 0);
  for (auto d : sleeper.requested()) EXPECT_EQ(d, seconds(30));
}

TEST(PeriodicTaskTest, ErrorsAndExceptionsAreCountedAndBackedOff) {
  core::testing::FakeClock clock;
  testing::FakeSleeper sleeper(clock);
  std::atomic<int> calls{0};
  PeriodicTask task(
      {"t", seconds(10), 0.0, seconds(100), true},
      [&]() -> core::Status {
        const int n = ++calls;
        if (n == 2) throw std::runtime_error("boom");
        if (n <= 3) return core::unavailable("database away");
        return core::okStatus();
      },
      sleeper, core::Logger::null(), 1);
  task.start();
  sleeper.awaitSleeps(1);
  sleeper.advance(seconds(10));
  sleeper.awaitSleeps(2);
  sleeper.advance(seconds(20));
  sleeper.awaitSleeps(3);
  sleeper.advance(seconds(40));
  sleeper.awaitSleeps(4);
  task.stop();
  EXPECT_EQ(task.runs(), 4);
  EXPECT_EQ(task.failures(), 3);
  const auto requested = sleeper.requested();
  ASSERT_EQ(requested.size(), 4u);
  EXPECT_EQ(requested[0], seconds(10));  // 1st failure
  EXPECT_EQ(requested[1], seconds(20));  // 2nd (the exception)
  EXPECT_EQ(requested[2], seconds(40));  // 3rd
  EXPECT_EQ(requested[3], seconds(10));  // success resets
}

TEST(PeriodicTaskTest, WithoutRunAtStartTheFirstRunWaitsOnePeriod) {
  core::testing::FakeClock clock;
  testing::FakeSleeper sleeper(clock);
  std::atomic<int> calls{0};
  PeriodicTask task(
      {"t", seconds(5), 0.0, milliseconds(0), false},
      [&] {
        ++calls;
        return core::okStatus();
      },
      sleeper, core::Logger::null(), 1);
  task.start();
  sleeper.awaitSleeps(1);
  EXPECT_EQ(calls.load(), 0);
  sleeper.advance(seconds(5));
  sleeper.awaitSleeps(2);
  EXPECT_EQ(calls.load(), 1);
}

TEST(PeriodicTaskTest, StopEndsARealSleepAtOnce) {
  RealSleeper sleeper;
  std::atomic<int> calls{0};
  PeriodicTask task(
      {"t", std::chrono::hours(1), 0.1, milliseconds(0), true},
      [&] {
        ++calls;
        return core::okStatus();
      },
      sleeper, core::Logger::null());
  task.start();
  while (task.runs() == 0) std::this_thread::yield();
  task.stop();  // would block for an hour if the sleep ignored the stop request
  task.stop();  // and again is harmless
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace aureo::control
