// http::SharedCache in one Redis hash: every entry carries its own expiry,
// judged by the Redis server's clock, and clear() drops the hash, so an
// admin change on one gateway invalidates the cache of all of them.
#pragma once

#include <string>

#include "http/shared_cache.h"
#include "redis/telemetry.h"

namespace aureo::redis {

class Client;
class Telemetry;

class SharedCache final : public http::SharedCache {
 public:
  // `key` names the hash; beyond `max_entries` the hash is dropped before
  // the next put (distinct filters are few; a flood of odd ones only costs
  // a refill). Failures count as fallbacks of `use`. client and telemetry
  // must outlive this.
  SharedCache(Client& client, std::string key, Use use, Telemetry& telemetry,
              size_t max_entries = 1024);

  core::Result<std::optional<std::string>> get(std::string_view key) override;
  core::Status put(std::string_view key, std::string_view value,
                   std::chrono::milliseconds ttl) override;
  core::Status clear() override;

 private:
  Client& client_;
  const std::string hash_;
  const Use use_;
  Telemetry& telemetry_;
  const size_t max_entries_;
};

}  // namespace aureo::redis
