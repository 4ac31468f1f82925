// Token-bucket rate limiting by key (client IP, user id, "login:<email>", ...).
// The interface has a local implementation here; a Redis-backed one shared by
// every gateway comes later behind the same interface.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace aureo::http {

class RateLimiter {
 public:
  struct Decision {
    bool allowed = false;
    // When not allowed: how long until `cost` tokens will be there (at least
    // 1 s, for a Retry-After header). Zero when allowed.
    std::chrono::seconds retry_after{0};
  };

  virtual ~RateLimiter() = default;
  // Takes `cost` tokens from the bucket of `key` if it has them. A request
  // that costs more than the burst is never allowed. Safe from any thread.
  virtual Decision take(std::string_view key, double cost = 1) = 0;
};

// Buckets in process memory. Each key starts with a full bucket of `burst`
// tokens that refills at `rate_per_second`. Memory is bounded: buckets that
// have refilled completely carry no information and are dropped, and beyond
// `max_keys` the least recently used buckets are evicted (which forgives those
// clients, the safe direction for a flood of distinct keys).
class LocalRateLimiter final : public RateLimiter {
 public:
  LocalRateLimiter(double rate_per_second, double burst, const core::Clock& clock,
                   size_t max_keys = 100'000);

  Decision take(std::string_view key, double cost = 1) override;

  // Buckets currently held, for tests and gauges. Safe from any thread.
  [[nodiscard]] size_t size() const;

 private:
  static constexpr size_t kShards = 16;
  struct Bucket {
    double tokens = 0;
    core::SteadyTime updated;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;  // guarded by mu
  };

  [[nodiscard]] double refilled(const Bucket& bucket, core::SteadyTime now) const;
  // Called with the shard locked and full: frees at least an eighth of it.
  void evict(Shard& shard, core::SteadyTime now) const;

  const double rate_;
  const double burst_;
  const core::Clock& clock_;
  const size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace aureo::http
