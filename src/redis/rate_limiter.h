// Token buckets shared by every gateway: the same semantics as
// http::LocalRateLimiter, kept in Redis and updated atomically by a Lua
// script, so N gateways behind a load balancer enforce one limit together.
// While Redis is unavailable each gateway falls back to its own local
// buckets (logged once, counted in aureo_vpn_redis_fallbacks_total) and
// shares again as soon as the client reconnects.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "http/rate_limit.h"

namespace aureo::redis {

class Client;
class Telemetry;

// One bucket operation, exactly as the script runs it; public for tests.
struct BucketOutcome {
  bool allowed = false;
  int64_t retry_after_s = 0;  // ceil((cost - tokens) / rate) when refused, else 0
  int64_t tokens_milli = 0;   // tokens left after the call, x1000, rounded down
};
// Takes `cost` tokens from the bucket at `key` (full at `burst`, refilling at
// `rate_per_second`). `now_ms` fixes the time (tests); without it the script
// reads the Redis server's clock, one clock for every gateway. The key
// expires when the bucket would be full again.
core::Result<BucketOutcome> takeFromBucket(Client& client, const std::string& key,
                                           double rate_per_second, double burst, double cost,
                                           std::optional<int64_t> now_ms = std::nullopt);

class SharedRateLimiter final : public http::RateLimiter {
 public:
  // Buckets live at "<prefix>rl:<name>:<key>". `fallback` answers while
  // Redis is down; it should have the same rate and burst. client and
  // telemetry must outlive this.
  SharedRateLimiter(Client& client, std::string prefix, std::string name, double rate_per_second,
                    double burst, std::unique_ptr<http::RateLimiter> fallback,
                    Telemetry& telemetry);

  // Safe from any thread; blocks for at most the client's command timeout.
  Decision take(std::string_view key, double cost = 1) override;

 private:
  Client& client_;
  const std::string key_prefix_;
  const double rate_;
  const double burst_;
  std::unique_ptr<http::RateLimiter> fallback_;
  Telemetry& telemetry_;
};

}  // namespace aureo::redis
