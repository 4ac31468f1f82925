// A bounded pool of database sessions. Callers wait at most a given time for a
// free session, and a session found dead (the server restarted, the network
// dropped it) is reopened before it is handed out, so one outage does not
// leave the pool full of broken connections.
#pragma once

#include <soci/soci.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/result.h"

namespace aureo::store::internal {

class ConnectionPool {
 public:
  // Opens (and configures) a closed session; throws on failure.
  using Opener = std::function<void(soci::session&)>;
  // Whether an open, idle session can be used as it is; false reopens it.
  using Probe = std::function<bool(soci::session&)>;

  // `name` ("primary", "replica") appears in error messages.
  ConnectionPool(std::string name, size_t size, Opener open, Probe probe);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool();

  // Opens every session now; throws what the first failing open threw.
  void openAll();

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    soci::session& session();
    // The connection failed while leased: it is reopened before its next use.
    void markBroken();

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, size_t slot) : pool_(pool), slot_(slot) {}
    ConnectionPool* pool_;
    size_t slot_;
  };

  // A usable session, waiting up to `timeout` for one to be free.
  // kUnavailable when none frees up in time or a dead one cannot be reopened.
  // Safe from any thread.
  core::Result<Lease> acquire(std::chrono::milliseconds timeout);

  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  struct Slot {
    soci::session session;
    bool broken = true;  // touched only by the slot's current holder
  };

  void giveBack(size_t slot);

  std::string name_;
  Opener open_;
  Probe probe_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<size_t> free_;  // guarded by mu_
};

}  // namespace aureo::store::internal
