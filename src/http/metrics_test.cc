#include "http/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace aureo::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// Pipes exposition text through `promtool check metrics`.
PromtoolResult promtoolCheck(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("aureo_metrics_" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream out(path);
    out << text;
  }
  std::string command = std::string(AUREO_PROMTOOL) + " check metrics < " + path.string() + " 2>&1";
  PromtoolResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::filesystem::remove(path);
  return result;
}

TEST(MetricsTest, CountsRequestsByMethodRouteAndStatus) {
  Metrics metrics;
  metrics.recordRequest("GET", "/api/v1/nodes", 200, 0.002);
  metrics.recordRequest("GET", "/api/v1/nodes", 200, 0.004);
  metrics.recordRequest("POST", "/api/v1/auth/login", 401, 0.3);
  std::string text = metrics.serialize();
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(aureo_vpn_http_requests_total{method="GET",route="/api/v1/nodes",status="200"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(aureo_vpn_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"} 1)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(aureo_vpn_http_request_duration_seconds_count{method="GET",route="/api/v1/nodes"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(aureo_vpn_http_request_duration_seconds_bucket{method="GET",route="/api/v1/nodes",le="0.005"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(aureo_vpn_http_request_duration_seconds_bucket{method="GET",route="/api/v1/nodes",le="0.0025"} 1)"));
}

TEST(MetricsTest, UnknownMethodsAndEmptyRoutesKeepLabelsBounded) {
  Metrics metrics;
  metrics.recordRequest("BREW", "", 404, 0.001);
  std::string text = metrics.serialize();
  EXPECT_THAT(text, HasSubstr(R"(method="OTHER",route="unmatched",status="404"} 1)"));
  EXPECT_THAT(text, Not(HasSubstr("BREW")));
}

TEST(MetricsTest, OtherModulesRegisterOnTheSameRegistry) {
  Metrics metrics;
  prometheus::BuildCounter()
      .Name("aureo_vpn_login_attempts_total")
      .Help("Login attempts by result.")
      .Register(metrics.registry())
      .Add({{"result", "success"}})
      .Increment(3);
  EXPECT_THAT(metrics.serialize(),
              HasSubstr(R"(aureo_vpn_login_attempts_total{result="success"} 3)"));
}

TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  Metrics metrics;
  metrics.recordRequest("GET", "/health", 200, 0.0001);
  metrics.recordRequest("DELETE", "/api/v1/user/me", 204, 0.05);
  metrics.recordRejectedConnection();
  auto result = promtoolCheck(metrics.serialize());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "");
}

TEST(MetricsTest, PromtoolCheckCatchesABadMetric) {
  // The harness itself: a counter without _total must be flagged.
  auto result = promtoolCheck("# HELP bad_counter x\n# TYPE bad_counter counter\nbad_counter 1\n");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.output, HasSubstr("_total"));
}

}  // namespace
}  // namespace aureo::http
