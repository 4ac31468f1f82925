// A small key-value cache shared by every process of a deployment (Redis),
// for answers that are expensive to build and fine to serve a little stale.
// Callers keep a local cache as the fallback: an error means "the shared
// cache is not available now", never "the value is wrong".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace aureo::http {

class SharedCache {
 public:
  virtual ~SharedCache() = default;
  // The value if present and not expired, nullopt if not; kUnavailable when
  // the cache cannot be reached. All methods are safe from any thread and
  // block for at most a short timeout.
  virtual core::Result<std::optional<std::string>> get(std::string_view key) = 0;
  virtual core::Status put(std::string_view key, std::string_view value,
                           std::chrono::milliseconds ttl) = 0;
  // Drops every entry (in every process sharing the cache).
  virtual core::Status clear() = 0;
};

}  // namespace aureo::http
