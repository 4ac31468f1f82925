#include "http/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>
#include <vector>

namespace aureo::http {

LocalRateLimiter::LocalRateLimiter(double rate_per_second, double burst, const core::Clock& clock,
                                   size_t max_keys)
    : rate_(rate_per_second > 0 ? rate_per_second : 1e-9),
      burst_(burst > 0 ? burst : 0),
      clock_(clock),
      max_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

double LocalRateLimiter::refilled(const Bucket& bucket, core::SteadyTime now) const {
  const double elapsed =
      std::chrono::duration<double>(std::max(now - bucket.updated, core::SteadyTime::duration{}))
          .count();
  return std::min(burst_, bucket.tokens + elapsed * rate_);
}

void LocalRateLimiter::evict(Shard& shard, core::SteadyTime now) const {
  // Full buckets first: dropping them changes no decision.
  for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
    if (refilled(it->second, now) >= burst_) {
      it = shard.buckets.erase(it);
    } else {
      ++it;
    }
  }
  const size_t target = max_per_shard_ - std::max<size_t>(1, max_per_shard_ / 8);
  if (shard.buckets.size() <= target) return;
  // Then the least recently used, in one batch so the scan is amortised.
  std::vector<std::pair<core::SteadyTime, const std::string*>> by_age;
  by_age.reserve(shard.buckets.size());
  for (const auto& [key, bucket] : shard.buckets) by_age.emplace_back(bucket.updated, &key);
  const size_t drop = shard.buckets.size() - target;
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(drop - 1),
                   by_age.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> victims;
  victims.reserve(drop);
  for (size_t i = 0; i < drop; ++i) victims.push_back(*by_age[i].second);
  for (const auto& key : victims) shard.buckets.erase(key);
}

RateLimiter::Decision LocalRateLimiter::take(std::string_view key, double cost) {
  const core::SteadyTime now = clock_.steadyNow();
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) evict(shard, now);
    it = shard.buckets.emplace(std::string(key), Bucket{burst_, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = refilled(bucket, now);
  bucket.updated = now;
  if (cost <= bucket.tokens) {
    bucket.tokens -= cost;
    return {true, std::chrono::seconds{0}};
  }
  const double wait = std::ceil((cost - bucket.tokens) / rate_);
  const double capped = std::clamp(wait, 1.0, 86'400.0);
  return {false, std::chrono::seconds{static_cast<int64_t>(capped)}};
}

size_t LocalRateLimiter::size() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    total += shard.buckets.size();
  }
  return total;
}

}  // namespace aureo::http
