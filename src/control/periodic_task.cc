#include "control/periodic_task.h"

#include <algorithm>

namespace aureo::control {

bool RealSleeper::sleepUntil(core::SteadyTime deadline, std::stop_token stop) {
  std::unique_lock lock(mu_);
  // Nothing but time or a stop request ends the wait; the stop_token
  // overload wakes at once on request_stop().
  cv_.wait_until(lock, stop, deadline, [] { return false; });
  return !stop.stop_requested();
}

PeriodicTask::PeriodicTask(PeriodicOptions options, Fn fn, Sleeper& sleeper,
                           const core::Logger& log, uint64_t seed)
    : options_(std::move(options)),
      fn_(std::move(fn)),
      sleeper_(sleeper),
      log_(log),
      rng_(seed != 0 ? seed : std::random_device{}()) {
  if (options_.max_backoff.count() <= 0) options_.max_backoff = options_.period * 8;
  options_.jitter = std::clamp(options_.jitter, 0.0, 0.9);
}

PeriodicTask::~PeriodicTask() {
  stop();
}

void PeriodicTask::start() {
  thread_ = std::jthread([this](const std::stop_token& stop) { loop(stop); });
}

void PeriodicTask::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

std::chrono::milliseconds PeriodicTask::nextDelay(int consecutive_failures) {
  using std::chrono::milliseconds;
  milliseconds base = options_.period;
  if (consecutive_failures > 0) {
    const int doublings = std::min(consecutive_failures - 1, 20);
    base = std::min(options_.period * (int64_t{1} << doublings), options_.max_backoff);
  }
  if (options_.jitter <= 0) return base;
  std::uniform_real_distribution<double> factor(1.0 - options_.jitter, 1.0 + options_.jitter);
  const auto ms = static_cast<int64_t>(static_cast<double>(base.count()) * factor(rng_));
  return milliseconds(std::max<int64_t>(ms, 1));
}

void PeriodicTask::loop(const std::stop_token& stop) {
  int consecutive_failures = 0;
  if (!options_.run_at_start) {
    if (!sleeper_.sleepUntil(sleeper_.now() + nextDelay(0), stop)) return;
  }
  while (!stop.stop_requested()) {
    core::Status status = core::okStatus();
    try {
      status = fn_();
    } catch (const std::exception& e) {
      status = core::internalError(std::string("threw: ") + e.what());
    }
    runs_.fetch_add(1);
    if (status.ok()) {
      consecutive_failures = 0;
    } else {
      ++consecutive_failures;
      failures_.fetch_add(1);
      log_.warn("periodic task failed", {{"task", options_.name},
                                         {"error", status.error().toString()},
                                         {"consecutive_failures", consecutive_failures}});
    }
    const auto delay = nextDelay(consecutive_failures);
    if (!sleeper_.sleepUntil(sleeper_.now() + delay, stop)) return;
  }
}

}  // namespace aureo::control
