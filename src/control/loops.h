// The control plane's background loops (the original architecture's
// cadence, each configurable):
//
//   health check   every 60 s: a node silent for `missed_heartbeats`
//                  heartbeat intervals goes offline, and its open sessions
//                  end with reason node_offline (failover: their addresses
//                  are released and `best` stops offering the node). The next
//                  heartbeat brings it back online.
//   load balancer  every 30 s: recomputes each node's load_score (below).
//   cleanup        every hour: closed sessions past retention, expired
//                  refresh tokens, orphaned IP allocations, idle sessions.
//   stats          every 15 s: the node gauges on /metrics.
//
// Only the leader runs them: each pass first asks the gate (normally
// LeaderElector::isLeader). Each pass is also a plain method, so tests run
// them with a fake clock and no threads.
//
// load_score, 0-100, a weighted sum of three utilisations, each clamped to
// 0-100:
//   connections  100 * current_connections / max_connections   weight 0.5
//   cpu          cpu_usage from the last heartbeat              weight 0.3
//   throughput   100 * bytes/s since the previous pass           weight 0.2
//                / node_link_bytes_per_second
// A node that is not online scores 100.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/periodic_task.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "store/store.h"

namespace aureo::http {
class Metrics;
}

namespace aureo::control {

class SessionService;

struct LoopOptions {
  std::chrono::seconds health_interval{60};
  std::chrono::seconds heartbeat_interval{30};  // what nodes are told to use
  int missed_heartbeats = 3;
  std::chrono::seconds load_interval{30};
  std::chrono::seconds cleanup_interval{3600};
  std::chrono::seconds stats_interval{15};
  std::chrono::seconds session_retention{30 * 24 * 3600};
  double node_link_bytes_per_second = 125'000'000;  // 1 Gbit/s
  int64_t orphan_batch = 1000;
};

// Pure, for tests and docs: the formula above.
double loadScore(const store::VpnNode& node, double bytes_per_second, double link_bytes_per_second);

class ControlLoops {
 public:
  // metrics may be null (no gauges).
  ControlLoops(store::Store& store, SessionService& sessions, const core::Clock& clock,
               const core::Logger& log, http::Metrics* metrics, LoopOptions options);
  ~ControlLoops();
  ControlLoops(const ControlLoops&) = delete;
  ControlLoops& operator=(const ControlLoops&) = delete;

  core::Status healthCheck();
  core::Status balanceLoad();
  core::Status cleanup();
  core::Status aggregateStats();

  // Starts one PeriodicTask per loop on sleeper; each pass runs only while
  // gate() is true.
  void start(Sleeper& sleeper, std::function<bool()> gate);
  void stop();

 private:
  struct Gauges;
  struct Sample {
    int64_t bytes = 0;
    core::SteadyTime at{};
  };

  store::Store& store_;
  SessionService& sessions_;
  const core::Clock& clock_;
  const core::Logger& log_;
  LoopOptions options_;
  std::unique_ptr<Gauges> gauges_;
  std::mutex samples_mu_;
  std::map<std::string, Sample> samples_;  // guarded by samples_mu_: node id -> last bytes
  std::vector<std::unique_ptr<PeriodicTask>> tasks_;
};

}  // namespace aureo::control
