#include "core/process.h"

#include <gtest/gtest.h>

namespace aureo::core {
namespace {

ConfigSchema schema() {
  return {{"log.level", ConfigType::kString, "info", "log level", "--log-level", nullptr}};
}

TEST(ProcessTest, HelpIsNotAnErrorAndYieldsNoSettings) {
  const char* argv[] = {"prog", "--help"};
  testing::internal::CaptureStdout();
  auto s = loadProcessSettings("prog", "A program.", schema(), 2, argv);
  const std::string out = testing::internal::GetCapturedStdout();
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->has_value());
  EXPECT_NE(out.find("--log-level"), std::string::npos);
}

TEST(ProcessTest, ReadsTheLogLevelAndRejectsABadOne) {
  const char* good[] = {"prog", "--log-level", "warn"};
  auto s = loadProcessSettings("prog", "", schema(), 3, good);
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ((*s)->log_level, LogLevel::kWarn);
  const char* bad[] = {"prog", "--log-level", "loud"};
  auto b = loadProcessSettings("prog", "", schema(), 3, bad);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().field, "log.level");
  const char* unknown[] = {"prog", "--nope"};
  EXPECT_FALSE(loadProcessSettings("prog", "", schema(), 2, unknown).ok());
}

}  // namespace
}  // namespace aureo::core
