// What the Redis layer tells the operator: whether each connection is up
// (aureo_vpn_redis_up{connection}) and how often a call fell back to its
// local path (aureo_vpn_redis_fallbacks_total{use}: rate-limit decisions,
// node-list cache calls, peer-change publishes), with one log line when a
// use starts falling back and one when it is shared again.
#pragma once

#include <array>
#include <atomic>
#include <string_view>

#include "core/log.h"
#include "core/result.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
}  // namespace prometheus

namespace aureo::redis {

enum class Use { kRateLimit, kNodeListCache, kPubSub };
enum class Connection { kCommands, kSubscriber };

class Telemetry {
 public:
  // `registry` may be null (no metrics). `log` must outlive this.
  Telemetry(const core::Logger& log, prometheus::Registry* registry);

  // Safe from any thread.
  void setUp(Connection connection, bool up);
  // A call of `use` went to its local fallback because of `why`. Counts it,
  // and logs the first one since the use last worked.
  void fellBack(Use use, const core::Error& why);
  // A call of `use` went to Redis; logs when it had fallen back before.
  void shared(Use use);

  // Fallbacks counted so far (tests, status pages).
  [[nodiscard]] int64_t fallbacks(Use use) const;

 private:
  static constexpr size_t kUses = 3;
  const core::Logger& log_;
  std::array<prometheus::Counter*, kUses> counters_{};
  std::array<prometheus::Gauge*, 2> up_{};
  std::array<std::atomic<int64_t>, kUses> counts_{};
  std::array<std::atomic<bool>, kUses> local_{};
};

}  // namespace aureo::redis
