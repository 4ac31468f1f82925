// Time sources. Libraries take a Clock& so tests can drive time by hand.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace aureo::core {

using SystemTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for timestamps stored or sent to others. Safe from any thread.
  [[nodiscard]] virtual SystemTime now() const = 0;
  // Monotonic time, for intervals and deadlines. Safe from any thread.
  [[nodiscard]] virtual SteadyTime steadyNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] SystemTime now() const override { return std::chrono::system_clock::now(); }
  [[nodiscard]] SteadyTime steadyNow() const override { return std::chrono::steady_clock::now(); }
};

// Seconds since the Unix epoch.
inline int64_t unixSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline SystemTime fromUnixSeconds(int64_t s) {
  return SystemTime{std::chrono::seconds{s}};
}

// RFC 3339 UTC with millisecond precision: 2024-01-15T10:30:00.123Z.
std::string formatRfc3339(SystemTime t);

}  // namespace aureo::core
