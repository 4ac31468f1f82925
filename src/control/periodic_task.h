// A loop that runs a function every period, with jitter, a back-off after
// errors and a clean stop (std::jthread + stop_token), after userver's
// utils::PeriodicTask. Time comes from a Sleeper, so tests drive it with a
// fake clock (control/testing/fake_sleeper.h) and never wait for real time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"

namespace aureo::control {

class Sleeper {
 public:
  virtual ~Sleeper() = default;
  [[nodiscard]] virtual core::SteadyTime now() const = 0;
  // Blocks until now() >= deadline (true) or stop is requested (false).
  // Called from the task's own thread; must be safe from several at once.
  virtual bool sleepUntil(core::SteadyTime deadline, std::stop_token stop) = 0;
};

// Sleeps on the real steady clock.
class RealSleeper final : public Sleeper {
 public:
  [[nodiscard]] core::SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  bool sleepUntil(core::SteadyTime deadline, std::stop_token stop) override;

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
};

struct PeriodicOptions {
  std::string name;  // for logs
  std::chrono::milliseconds period{60'000};
  // Each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter], so
  // several instances started together do not hit the database in step.
  double jitter = 0.1;
  // After k consecutive failures the next run waits period * 2^(k-1),
  // capped at max_backoff (0: 8 periods).
  std::chrono::milliseconds max_backoff{0};
  bool run_at_start = true;  // first run at start(); otherwise after one delay
};

class PeriodicTask {
 public:
  using Fn = std::function<core::Status()>;

  // seed fixes the jitter sequence (tests); 0 draws one at random.
  PeriodicTask(PeriodicOptions options, Fn fn, Sleeper& sleeper, const core::Logger& log,
               uint64_t seed = 0);
  ~PeriodicTask();  // stop()
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Starts the thread. Call once.
  void start();
  // Asks the loop to stop and joins it; a run in progress finishes first.
  // Safe to call more than once, from any thread but the task's own.
  void stop();

  // The delay before the next run, given the number of consecutive
  // failures so far (0 after a success). Used by the loop; public for tests.
  std::chrono::milliseconds nextDelay(int consecutive_failures);

  [[nodiscard]] int64_t runs() const { return runs_.load(); }
  [[nodiscard]] int64_t failures() const { return failures_.load(); }

 private:
  void loop(const std::stop_token& stop);

  PeriodicOptions options_;
  Fn fn_;
  Sleeper& sleeper_;
  const core::Logger& log_;
  std::mt19937_64 rng_;  // used only on the task's thread (and by tests before start)
  std::atomic<int64_t> runs_{0};
  std::atomic<int64_t> failures_{0};
  std::jthread thread_;
};

}  // namespace aureo::control
