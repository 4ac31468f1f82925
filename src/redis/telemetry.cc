#include "redis/telemetry.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace aureo::redis {
namespace {

constexpr std::array<std::string_view, 3> kUseNames = {"rate_limit", "node_list_cache", "pubsub"};
constexpr std::array<std::string_view, 3> kLocalPath = {
    "rate limits are local to this process", "node lists are cached in this process only",
    "long-poll wake-ups rely on the database version poll"};

size_t index(Use use) {
  return static_cast<size_t>(use);
}

}  // namespace

Telemetry::Telemetry(const core::Logger& log, prometheus::Registry* registry) : log_(log) {
  for (auto& c : counts_) c = 0;
  for (auto& l : local_) l = false;
  if (registry == nullptr) return;
  auto& fallbacks = prometheus::BuildCounter()
                        .Name("aureo_vpn_redis_fallbacks_total")
                        .Help("Calls that used the local fallback because Redis was unavailable")
                        .Register(*registry);
  for (size_t i = 0; i < kUses; ++i) {
    counters_[i] = &fallbacks.Add({{"use", std::string(kUseNames[i])}});
  }
  auto& up = prometheus::BuildGauge()
                 .Name("aureo_vpn_redis_up")
                 .Help("Whether the Redis connection is up (1) or not (0)")
                 .Register(*registry);
  up_[0] = &up.Add({{"connection", "commands"}});
  up_[1] = &up.Add({{"connection", "subscriber"}});
}

void Telemetry::setUp(Connection connection, bool up) {
  if (auto* g = up_[connection == Connection::kCommands ? 0 : 1]) g->Set(up ? 1 : 0);
}

void Telemetry::fellBack(Use use, const core::Error& why) {
  const size_t i = index(use);
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  if (counters_[i] != nullptr) counters_[i]->Increment();
  if (!local_[i].exchange(true)) {
    log_.warn("redis unavailable: " + std::string(kLocalPath[i]),
              {{"use", kUseNames[i]}, {"error", why.message}});
  }
}

void Telemetry::shared(Use use) {
  const size_t i = index(use);
  if (local_[i].load(std::memory_order_relaxed) && local_[i].exchange(false)) {
    log_.info("redis is back: shared again", {{"use", kUseNames[i]}});
  }
}

int64_t Telemetry::fallbacks(Use use) const {
  return counts_[index(use)].load(std::memory_order_relaxed);
}

}  // namespace aureo::redis
