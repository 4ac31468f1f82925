#include "core/log.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vector>

#include "core/testing/fake_clock.h"

namespace aureo::core {
namespace {

TEST(LogTest, WritesOneJsonObjectPerLineWithContext) {
  testing::FakeClock clock;
  std::vector<std::string> lines;
  Logger log(
      "api-gateway", LogLevel::kInfo, [&](std::string_view l) { lines.emplace_back(l); }, &clock);
  log.info("User login successful",
           {{"user_id", "u-1"}, {"ip", "1.2.3.4"}, {"attempt", 3}, {"ok", true}});
  log.debug("hidden");
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["timestamp"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["service"], "api-gateway");
  EXPECT_EQ(j["message"], "User login successful");
  EXPECT_EQ(j["user_id"], "u-1");
  EXPECT_EQ(j["attempt"], 3);
  EXPECT_EQ(j["ok"], true);
}

TEST(LogTest, RedactsSecretsByFieldName) {
  const std::string line = Logger::formatLine(SystemTime{}, LogLevel::kWarn, "s", "m",
                                              {{"password", "hunter2"},
                                               {"refresh_token", "abc"},
                                               {"private_key", "k"},
                                               {"Authorization", "Bearer x"},
                                               {"public_key", "pub"},
                                               {"email", "a@b"}});
  EXPECT_EQ(line.find("hunter2"), std::string::npos);
  EXPECT_EQ(line.find("abc"), std::string::npos);
  EXPECT_EQ(line.find("Bearer"), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["password"], "[redacted]");
  EXPECT_EQ(j["public_key"], "pub");
  EXPECT_EQ(j["email"], "a@b");
}

TEST(LogTest, EscapesControlCharactersAndProtectsReservedKeys) {
  const std::string line =
      Logger::formatLine(SystemTime{}, LogLevel::kError, "s", "a\"b\n\x01", {{"level", "spoofed"}});
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["message"], "a\"b\n\x01");
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["ctx_level"], "spoofed");
}

}  // namespace
}  // namespace aureo::core

namespace aureo::core {
namespace {

// The stderr logger batches lines on a flusher thread; destroying it must
// flush and return (a hang here fails the test by timeout).
TEST(LogTest, StderrLoggerFlushesAndStopsOnDestruction) {
  for (int i = 0; i < 4; ++i) {
    Logger log("log-test", LogLevel::kInfo,
               i % 2 == 0 ? Logger::Flush::kBatched : Logger::Flush::kEveryLine);
    log.info("batched line", {{"i", i}});
    log.warn("flushed at once");
  }
  SUCCEED();
}

}  // namespace
}  // namespace aureo::core
