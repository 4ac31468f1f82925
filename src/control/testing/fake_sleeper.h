// A Sleeper on a FakeClock: sleeping threads wake only when a test advances
// the clock, and a test can wait (without a timeout) until a given number of
// sleeps has begun, so loops are stepped deterministically.
#pragma once

#include <condition_variable>
#include <mutex>
#include <vector>

#include "control/periodic_task.h"
#include "core/testing/fake_clock.h"

namespace aureo::control::testing {

class FakeSleeper final : public Sleeper {
 public:
  explicit FakeSleeper(core::testing::FakeClock& clock) : clock_(clock) {}

  [[nodiscard]] core::SteadyTime now() const override { return clock_.steadyNow(); }

  bool sleepUntil(core::SteadyTime deadline, std::stop_token stop) override {
    std::unique_lock lock(mu_);
    requested_.push_back(deadline - clock_.steadyNow());
    ++sleeps_;
    cv_.notify_all();
    return cv_.wait(lock, stop, [&] { return clock_.steadyNow() >= deadline; });
  }

  // Moves the clock and wakes every sleeper whose deadline has come.
  template <typename Rep, typename Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    {
      std::lock_guard lock(mu_);
      clock_.advance(d);
    }
    cv_.notify_all();
  }

  // Blocks until at least n sleeps have begun in total.
  void awaitSleeps(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return sleeps_ >= n; });
  }

  [[nodiscard]] std::vector<core::SteadyTime::duration> requested() const {
    std::lock_guard lock(mu_);
    return requested_;
  }

 private:
  core::testing::FakeClock& clock_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  size_t sleeps_ = 0;
  std::vector<core::SteadyTime::duration> requested_;
};

}  // namespace aureo::control::testing
