// Every route the gateway registers is described in docs/openapi.yaml, and
// every path the spec describes exists in code.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "api/gateway.h"
#include "control/session_service.h"
#include "core/log.h"
#include "core/testing/fake_clock.h"
#include "core/worker_pool.h"
#include "http/metrics.h"
#include "http/rate_limit.h"
#include "http/server.h"
#include "store/store.h"

namespace aureo::api {
namespace {

std::set<std::pair<std::string, std::string>> specRoutes(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::set<std::pair<std::string, std::string>> out;
  const std::regex path_re(R"(^  (/[^:\s]*):\s*$)");
  const std::regex method_re(R"(^    (get|put|post|patch|delete|head|options):)");
  std::string line;
  std::string current;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!line.empty() && line[0] != ' ' && line[0] != '#') in_paths = false;
    if (!in_paths) continue;
    std::smatch m;
    if (std::regex_match(line, m, path_re)) {
      current = m[1];
    } else if (std::regex_search(line, m, method_re) && !current.empty()) {
      std::string method = m[1];
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      out.emplace(method, current);
    }
  }
  return out;
}

TEST(OpenApiTest, SpecAndCodeDescribeTheSameRoutes) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("aureo-openapi-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  store::StoreOptions so;
  so.url = "sqlite:" + (dir / "t.db").string();
  auto store = store::openStore(so);
  ASSERT_TRUE(store.ok()) << store.error().toString();
  core::testing::FakeClock clock;
  http::Metrics metrics;
  core::WorkerPool pool(1, 4);
  http::LocalRateLimiter limiter(100, 100, clock);
  GatewayConfig config;
  config.jwt_secret = std::string(40, 'k');
  config.argon2 = {1024, 1, 1};
  control::SessionService sessions(**store, clock, core::Logger::null(), {});
  Gateway gateway(config, **store, sessions, clock, core::Logger::null(), metrics, pool,
                  {&limiter, &limiter, &limiter, &limiter});
  http::Router router;
  gateway.addRoutes(router);

  std::set<std::pair<std::string, std::string>> code;
  for (const auto& r : router.routes()) code.insert(r);
  const auto spec = specRoutes(AUREO_SOURCE_DIR "/docs/openapi.yaml");
  ASSERT_FALSE(spec.empty());
  for (const auto& r : code) {
    EXPECT_TRUE(spec.count(r)) << r.first << " " << r.second
                               << " is served but missing from docs/openapi.yaml";
  }
  for (const auto& r : spec) {
    EXPECT_TRUE(code.count(r)) << r.first << " " << r.second
                               << " is in docs/openapi.yaml but not served";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aureo::api
