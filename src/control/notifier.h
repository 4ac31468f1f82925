// Waking node long-polls (GET /api/v1/node/desired-state) when a node's
// desired peer set changes.
//
// In the process that made the change, SessionService calls notify() and the
// waiting requests return at once. Changes made by other processes (a
// gateway, another aureo-control) reach the waiters through one shared
// VersionWatcher that re-reads every node's peer_version a few times a
// second while anyone waits, instead of each waiter polling on its own.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "control/periodic_task.h"
#include "core/log.h"
#include "store/store.h"

namespace prometheus {
class Gauge;
}
namespace aureo::http {
class Metrics;
}

namespace aureo::control {

class PeerNotifier {
 public:
  // With metrics, exports aureo_vpn_node_long_polls_waiting (the long-polls
  // parked here). metrics must outlive the notifier.
  explicit PeerNotifier(http::Metrics* metrics = nullptr);
  ~PeerNotifier();
  PeerNotifier(const PeerNotifier&) = delete;
  PeerNotifier& operator=(const PeerNotifier&) = delete;

  // Wakes every wait() on the node. Safe from any thread.
  void notify(const std::string& node_id);
  // Wakes the waits whose seen version differs from the node's version in
  // `versions` (node id -> peer_version). Safe from any thread.
  void observe(const std::vector<std::pair<std::string, int64_t>>& versions);
  // Wakes every wait and makes later ones return at once (server shutdown).
  void shutdown();
  [[nodiscard]] bool hasWaiters() const;
  [[nodiscard]] bool isShutDown() const;

  // Completes at `deadline`, when woken as above, or at shutdown, whichever
  // comes first; the caller re-reads the version to learn which. Runs on the
  // caller's executor, which must be a strand (each server connection is
  // one): a wake-up is posted to it, so it cannot slip in between the
  // registration and the start of the wait.
  boost::asio::awaitable<void> wait(const std::string& node_id, int64_t seen_version,
                                    std::chrono::steady_clock::time_point deadline);

 private:
  struct Waiter;
  void wake(const std::shared_ptr<Waiter>& waiter);

  mutable std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<Waiter>> waiters_;  // guarded by mu_
  bool shut_down_ = false;                                       // guarded by mu_
  prometheus::Gauge* waiting_ = nullptr;
};

// The shared poller: while the notifier has waiters, reads every node's
// peer_version each `interval` and hands it to PeerNotifier::observe().
class VersionWatcher {
 public:
  VersionWatcher(store::NodeRepository& nodes, PeerNotifier& notifier, Sleeper& sleeper,
                 const core::Logger& log,
                 std::chrono::milliseconds interval = std::chrono::milliseconds(300));
  void start() { task_.start(); }
  void stop() { task_.stop(); }
  // One poll; what the task runs. Public for tests.
  core::Status pollOnce();

 private:
  store::NodeRepository& nodes_;
  PeerNotifier& notifier_;
  PeriodicTask task_;
};

}  // namespace aureo::control
