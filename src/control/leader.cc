#include "control/leader.h"

namespace aureo::control {

LeaderElector::LeaderElector(store::LeaseRepository& leases, const core::Clock& clock,
                             const core::Logger& log, LeaderOptions options)
    : leases_(leases), clock_(clock), log_(log), options_(std::move(options)) {}

void LeaderElector::onChange(std::function<void(bool)> callback) {
  on_change_ = std::move(callback);
}

bool LeaderElector::leaderLocked() const {
  return holds_ && clock_.steadyNow() < local_expiry_;
}

bool LeaderElector::isLeader() const {
  std::lock_guard lock(mu_);
  return leaderLocked();
}

int64_t LeaderElector::fencingToken() const {
  std::lock_guard lock(mu_);
  return fencing_token_;
}

void LeaderElector::notify(bool was, bool now) {
  if (was == now) return;
  if (now) {
    log_.info("became leader", {{"lease", options_.lease_name},
                                {"holder", options_.holder_id},
                                {"fencing_token", fencingToken()}});
  } else {
    log_.warn("lost leadership", {{"lease", options_.lease_name}, {"holder", options_.holder_id}});
  }
  if (on_change_) on_change_(now);
}

core::Result<bool> LeaderElector::tick() {
  // The local lease starts before the request leaves: whatever the
  // database decides, it cannot have granted more than this.
  const core::SteadyTime sent = clock_.steadyNow();
  bool held;
  {
    std::lock_guard lock(mu_);
    held = leaderLocked();
  }
  core::Result<store::Lease> lease = held ? leases_.renew(options_.lease_name, options_.holder_id,
                                                          options_.lease_period, clock_.now())
                                          : leases_.acquire(options_.lease_name, options_.holder_id,
                                                            options_.lease_period, clock_.now());
  bool was = false;
  bool now = false;
  core::Result<bool> out = false;
  {
    std::lock_guard lock(mu_);
    was = reported_leader_;
    if (lease.ok()) {
      holds_ = lease->holder == options_.holder_id;
      if (holds_) {
        local_expiry_ = sent + options_.lease_period;
        fencing_token_ = lease->fencing_token;
      }
    } else if (lease.error().code == core::Code::kFailedPrecondition) {
      holds_ = false;  // renewal refused: someone else has it now
    }
    now = leaderLocked();
    reported_leader_ = now;
    if (lease.ok() || lease.error().code == core::Code::kFailedPrecondition) {
      out = now;
    } else {
      out = lease.error();
    }
  }
  notify(was, now);
  return out;
}

void LeaderElector::resign() {
  bool was;
  {
    std::lock_guard lock(mu_);
    was = reported_leader_;
    if (!holds_) return;
    holds_ = false;
    reported_leader_ = false;
  }
  if (auto st = leases_.release(options_.lease_name, options_.holder_id, clock_.now()); !st.ok()) {
    log_.warn("could not release the lease", {{"error", st.error().toString()}});
  }
  notify(was, false);
}

}  // namespace aureo::control
