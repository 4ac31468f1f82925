// A transport session: the keys one handshake derived, with the send counter
// and the receive replay window (whitepaper section 5.4.6).
//
// Shared by pointer between the peer (which owns the current/previous/next
// slots), the index table and any packet in flight; the keys wipe themselves
// when the last reference goes.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/clock.h"
#include "wireguard/constants.h"
#include "wireguard/keys.h"
#include "wireguard/noise.h"
#include "wireguard/replay_window.h"

namespace aureo::wireguard {

class Keypair {
 public:
  Keypair(const SessionKeys& keys, core::SteadyTime created)
      : sending_key(keys.sending),
        receiving_key(keys.receiving),
        local_index(keys.local_index),
        remote_index(keys.remote_index),
        initiator(keys.initiator),
        birth(created) {}
  Keypair(const Keypair&) = delete;
  Keypair& operator=(const Keypair&) = delete;

  const SymmetricKey sending_key;
  const SymmetricKey receiving_key;
  const uint32_t local_index;
  const uint32_t remote_index;
  const bool initiator;
  const core::SteadyTime birth;

  // Next counter to send. Safe from any thread.
  std::atomic<uint64_t> sending_counter{0};
  // Cleared when the device key changes: the session must not send again.
  std::atomic<bool> sending_valid{true};

  // Whether this session may still encrypt at now (REJECT_AFTER_TIME and
  // REJECT_AFTER_MESSAGES). Safe from any thread.
  [[nodiscard]] bool canSend(core::SteadyTime now) const {
    return sending_valid.load(std::memory_order_relaxed) && now - birth < REJECT_AFTER_TIME &&
           sending_counter.load(std::memory_order_relaxed) < REJECT_AFTER_MESSAGES;
  }
  // Whether it may still decrypt at now. Safe from any thread.
  [[nodiscard]] bool canReceive(core::SteadyTime now) const {
    return now - birth < REJECT_AFTER_TIME;
  }
  // Records an authenticated counter; false for a replay. Safe from any thread.
  [[nodiscard]] bool acceptCounter(uint64_t counter) {
    std::lock_guard lock(replay_mutex_);
    return replay_.accept(counter);
  }

 private:
  std::mutex replay_mutex_;
  ReplayWindow replay_;  // guarded by replay_mutex_
};

}  // namespace aureo::wireguard
