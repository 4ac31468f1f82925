#include "node/cpu.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace aureo::node {
namespace {

TEST(CpuTest, ParsesTheAggregateLineAndCountsIowaitAsIdle) {
  const auto t =
      parseProcStat("cpu  100 10 50 800 40 0 0 0 7 0\ncpu0 50 5 25 400 20 0 0 0 0 0\nintr 1 2 3\n");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->total, 100u + 10 + 50 + 800 + 40);  // guest time is inside user
  EXPECT_EQ(t->busy, 160u);
}

TEST(CpuTest, RejectsTextWithoutACpuLine) {
  EXPECT_FALSE(parseProcStat("cpu0 1 2 3 4\n").has_value());
  EXPECT_FALSE(parseProcStat("cpu  1 2\n").has_value());
  EXPECT_FALSE(parseProcStat("").has_value());
}

TEST(CpuTest, PercentIsTheBusyShareOfTheInterval) {
  EXPECT_DOUBLE_EQ(cpuPercent({100, 1000}, {150, 1200}), 25.0);
  EXPECT_DOUBLE_EQ(cpuPercent({100, 1000}, {100, 1000}), 0.0);
  EXPECT_DOUBLE_EQ(cpuPercent({100, 1000}, {90, 900}), 0.0);  // counters went back
}

TEST(CpuTest, SamplerReportsTheDeltaBetweenReads) {
  char path[] = "/tmp/aureo-cpu-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  auto write = [&](const char* text) { std::ofstream(path) << text; };
  write("cpu  100 0 0 900 0 0 0 0 0 0\n");
  CpuSampler sampler(path);
  write("cpu  150 0 50 1000 0 0 0 0 0 0\n");
  auto pct = sampler.sample();
  ASSERT_TRUE(pct.has_value());
  EXPECT_DOUBLE_EQ(*pct, 50.0);
  std::remove(path);
  EXPECT_FALSE(sampler.sample().has_value());
}

}  // namespace
}  // namespace aureo::node
