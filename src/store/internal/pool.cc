#include "store/internal/pool.h"

#include <exception>
#include <string>
#include <utility>

namespace aureo::store::internal {

ConnectionPool::ConnectionPool(std::string name, size_t size, Opener open, Probe probe)
    : name_(std::move(name)), open_(std::move(open)), probe_(std::move(probe)) {
  slots_.reserve(size);
  free_.reserve(size);
  for (size_t i = 0; i < size; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    free_.push_back(size - 1 - i);  // hands out slot 0 first
  }
}

ConnectionPool::~ConnectionPool() = default;

void ConnectionPool::openAll() {
  for (auto& slot : slots_) {
    if (!slot->broken) continue;
    open_(slot->session);
    slot->broken = false;
  }
}

ConnectionPool::Lease::Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) {
  other.pool_ = nullptr;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->giveBack(slot_);
}

soci::session& ConnectionPool::Lease::session() {
  return pool_->slots_[slot_]->session;
}

void ConnectionPool::Lease::markBroken() {
  pool_->slots_[slot_]->broken = true;
}

core::Result<ConnectionPool::Lease> ConnectionPool::acquire(std::chrono::milliseconds timeout) {
  size_t index = 0;
  {
    std::unique_lock lock(mu_);
    if (!freed_.wait_for(lock, timeout, [&] { return !free_.empty(); })) {
      return core::unavailable("no free " + name_ + " database connection within " +
                               std::to_string(timeout.count()) + " ms (all " +
                               std::to_string(slots_.size()) + " busy)");
    }
    index = free_.back();
    free_.pop_back();
  }
  Lease lease(this, index);
  Slot& slot = *slots_[index];
  if (!slot.broken && !probe_(slot.session)) slot.broken = true;
  if (slot.broken) {
    // Reopening happens outside the lock: it may wait on the network.
    try {
      slot.session.close();
      open_(slot.session);
      slot.broken = false;
    } catch (const std::exception& e) {
      // libpq's text spans lines; a log line or an error body wants one.
      std::string why = e.what();
      for (char& c : why) {
        if (c == '\n') c = ' ';
      }
      return core::unavailable("cannot reconnect to the " + name_ + " database: " + why);
    }
  }
  return lease;
}

void ConnectionPool::giveBack(size_t slot) {
  {
    std::lock_guard lock(mu_);
    free_.push_back(slot);
  }
  freed_.notify_one();
}

}  // namespace aureo::store::internal
