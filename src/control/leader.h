// Leader election through a lease row (store::LeaseRepository). Every
// aureo-control instance calls tick() every lease_period / 3; the one that
// holds the lease runs the background loops. A leader that dies stops
// renewing, and another instance takes the lease once it expires, i.e.
// within one lease period.
//
// Safety: an instance counts itself leader only until its *local* view of
// the lease runs out (measured on the steady clock from before the renewal
// was sent), so a leader cut off from the database stops acting before the
// row expires for the others. Work done as leader can carry fencingToken().
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "store/store.h"

namespace aureo::control {

struct LeaderOptions {
  std::string lease_name = "aureo-control";
  std::string holder_id;  // unique per instance (host, pid and a random part)
  std::chrono::milliseconds lease_period{15'000};
};

class LeaderElector {
 public:
  LeaderElector(store::LeaseRepository& leases, const core::Clock& clock, const core::Logger& log,
                LeaderOptions options);

  // Called on transitions, on the thread that calls tick(), outside locks.
  void onChange(std::function<void(bool leader)> callback);

  // One round: renews the lease if held, otherwise tries to take it.
  // Returns whether this instance leads afterwards; a database error is
  // returned as is (the local lease keeps running out meanwhile).
  core::Result<bool> tick();
  // Gives the lease up (on shutdown) so another instance takes over at once.
  void resign();

  // Safe from any thread.
  [[nodiscard]] bool isLeader() const;
  [[nodiscard]] int64_t fencingToken() const;
  [[nodiscard]] const std::string& holderId() const { return options_.holder_id; }
  [[nodiscard]] const std::string& leaseName() const { return options_.lease_name; }
  [[nodiscard]] std::chrono::milliseconds renewInterval() const {
    return options_.lease_period / 3;
  }
  [[nodiscard]] std::chrono::milliseconds leasePeriod() const { return options_.lease_period; }

 private:
  bool leaderLocked() const;
  void notify(bool was, bool now);

  store::LeaseRepository& leases_;
  const core::Clock& clock_;
  const core::Logger& log_;
  LeaderOptions options_;
  std::function<void(bool)> on_change_;

  mutable std::mutex mu_;
  bool holds_ = false;               // guarded by mu_
  core::SteadyTime local_expiry_{};  // guarded by mu_
  int64_t fencing_token_ = 0;        // guarded by mu_
  bool reported_leader_ = false;     // guarded by mu_: what callbacks last heard
};

}  // namespace aureo::control
