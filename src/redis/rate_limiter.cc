#include "redis/rate_limiter.h"

#include <algorithm>

#include "redis/client.h"
#include "redis/telemetry.h"

namespace aureo::redis {
namespace {

// KEYS[1] bucket; ARGV rate/s, burst, cost, [now in ms]. Returns
// {allowed, retry_after_s, tokens_milli}. Mirrors LocalRateLimiter::take:
// a missing bucket is full; tokens refill linearly up to the burst; a cost
// above the tokens is refused without taking any. Times are whole
// milliseconds (tostring keeps 14 digits, enough for ms since 1970).
const Script& bucketScript() {
  static const Script script(R"lua(
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) / 1000 * rate)
local allowed = 0
local wait = 0
if cost <= tokens then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.min(86400, math.ceil((cost - tokens) / rate))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', now))
local full_in = math.min(86400000, math.ceil((burst - tokens) / rate * 1000))
redis.call('PEXPIRE', KEYS[1], math.max(1, full_in))
return {allowed, wait, math.floor(tokens * 1000)}
)lua");
  return script;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

core::Result<BucketOutcome> takeFromBucket(Client& client, const std::string& key,
                                           double rate_per_second, double burst, double cost,
                                           std::optional<int64_t> now_ms) {
  std::vector<std::string> args{number(rate_per_second > 0 ? rate_per_second : 1e-9),
                                number(burst > 0 ? burst : 0), number(cost)};
  if (now_ms) args.push_back(std::to_string(*now_ms));
  AUREO_ASSIGN_OR_RETURN(auto reply, client.eval(bucketScript(), {key}, args));
  if (reply.type != Reply::Type::kArray || reply.elements.size() != 3) {
    return core::internalError("rate limit script returned an unexpected reply");
  }
  BucketOutcome out;
  out.allowed = reply.elements[0].integer == 1;
  out.retry_after_s = reply.elements[1].integer;
  out.tokens_milli = reply.elements[2].integer;
  return out;
}

SharedRateLimiter::SharedRateLimiter(Client& client, std::string prefix, std::string name,
                                     double rate_per_second, double burst,
                                     std::unique_ptr<http::RateLimiter> fallback,
                                     Telemetry& telemetry)
    : client_(client),
      key_prefix_(std::move(prefix) + "rl:" + std::move(name) + ":"),
      rate_(rate_per_second),
      burst_(burst),
      fallback_(std::move(fallback)),
      telemetry_(telemetry) {}

http::RateLimiter::Decision SharedRateLimiter::take(std::string_view key, double cost) {
  std::string bucket = key_prefix_;
  bucket += key;
  auto outcome = takeFromBucket(client_, bucket, rate_, burst_, cost);
  if (!outcome.ok()) {
    telemetry_.fellBack(Use::kRateLimit, outcome.error());
    return fallback_->take(key, cost);
  }
  telemetry_.shared(Use::kRateLimit);
  if (outcome->allowed) return {true, std::chrono::seconds{0}};
  return {false, std::chrono::seconds{std::clamp<int64_t>(outcome->retry_after_s, 1, 86'400)}};
}

}  // namespace aureo::redis
