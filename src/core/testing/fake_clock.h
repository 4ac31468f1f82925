// A clock that only moves when a test says so.
#pragma once

#include <atomic>
#include <chrono>

#include "core/clock.h"

namespace aureo::core::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime{std::chrono::seconds{1'700'000'000}})
      : system_ns_(start.time_since_epoch().count()) {}

  [[nodiscard]] SystemTime now() const override {
    return SystemTime{SystemTime::duration{system_ns_.load()}};
  }
  [[nodiscard]] SteadyTime steadyNow() const override {
    return SteadyTime{SteadyTime::duration{steady_ns_.load()}};
  }

  // Moves both clocks forward. Safe from any thread.
  template <typename Rep, typename Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    system_ns_ += std::chrono::duration_cast<SystemTime::duration>(d).count();
    steady_ns_ += std::chrono::duration_cast<SteadyTime::duration>(d).count();
  }
  void setSystem(SystemTime t) { system_ns_ = t.time_since_epoch().count(); }

 private:
  std::atomic<SystemTime::rep> system_ns_;
  std::atomic<SteadyTime::rep> steady_ns_{1'000'000'000};
};

}  // namespace aureo::core::testing
