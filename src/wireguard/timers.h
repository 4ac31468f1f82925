// The per-peer timer state machine of whitepaper section 6, as a pure
// function of events and time: the peer reports what happened (data sent,
// handshake initiated, ...), and expire(now) says which timers fired and what
// the peer must do about them. Nothing here sends, sleeps or reads a clock,
// so a fake clock drives it exactly.
//
// The timers and their rules mirror the kernel's timers.c:
//   retransmit_handshake  REKEY_TIMEOUT + jitter after an initiation; resend
//                         until MAX_TIMER_HANDSHAKES retries, then give up
//   send_keepalive        KEEPALIVE_TIMEOUT after data arrives with nothing sent back
//   new_handshake         KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter after data is
//                         sent with nothing authenticated heard back
//   zero_key_material     REJECT_AFTER_TIME * 3 after a session is derived
//   persistent_keepalive  the configured interval after any authenticated packet
//
// Not thread-safe: the owning peer's lock guards it.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/clock.h"
#include "wireguard/constants.h"

namespace aureo::wireguard {

// What the peer must do after expire(); several may be set at once.
struct TimerActions {
  bool retransmit_handshake = false;  // send an initiation as a retry
  bool give_up_handshake = false;     // drop staged packets; stop retrying
  bool send_keepalive = false;
  bool rearm_keepalive = false;  // after sending it, call armSendKeepalive(now)
  bool new_handshake = false;    // send an initiation as a fresh attempt
  bool zero_key_material = false;
  bool persistent_keepalive = false;

  [[nodiscard]] bool any() const {
    return retransmit_handshake || give_up_handshake || send_keepalive || new_handshake ||
           zero_key_material || persistent_keepalive;
  }
};

class Timers {
 public:
  using Time = core::SteadyTime;
  using Duration = core::SteadyTime::duration;

  // A random delay in [0, REKEY_TIMEOUT_JITTER_MAX] for the events that take one.
  static Duration randomJitter();

  void dataSent(Time now, Duration jitter);
  void dataReceived(Time now);
  void anyAuthenticatedPacketSent();
  void anyAuthenticatedPacketReceived();
  void anyAuthenticatedPacketTraversal(Time now, std::chrono::seconds persistent_keepalive);
  void handshakeInitiated(Time now, Duration jitter);
  void handshakeComplete();
  void sessionDerived(Time now);
  void armSendKeepalive(Time now);
  // A fresh (non-retry) initiation starts the attempt count over.
  void resetHandshakeAttempts() { handshake_attempts_ = 0; }
  // Cancels every timer (peer removed or device down).
  void stop();

  // Fires every timer due at or before now and returns the resulting actions.
  [[nodiscard]] TimerActions expire(Time now);

  // The earliest pending deadline, or Time::max() when none is pending.
  [[nodiscard]] Time nextDeadline() const;

  [[nodiscard]] int handshakeAttempts() const { return handshake_attempts_; }
  [[nodiscard]] bool sentLastMinuteHandshake() const { return sent_lastminute_handshake_; }
  void setSentLastMinuteHandshake() { sent_lastminute_handshake_ = true; }

  // Inspection for tests and stats.
  [[nodiscard]] Time retransmitDeadline() const { return retransmit_handshake_; }
  [[nodiscard]] Time sendKeepaliveDeadline() const { return send_keepalive_; }
  [[nodiscard]] Time newHandshakeDeadline() const { return new_handshake_; }
  [[nodiscard]] Time zeroKeyDeadline() const { return zero_key_material_; }
  [[nodiscard]] Time persistentKeepaliveDeadline() const { return persistent_keepalive_; }

 private:
  static constexpr Time kNever = Time::max();

  Time retransmit_handshake_ = kNever;
  Time send_keepalive_ = kNever;
  Time new_handshake_ = kNever;
  Time zero_key_material_ = kNever;
  Time persistent_keepalive_ = kNever;
  int handshake_attempts_ = 0;
  bool need_another_keepalive_ = false;
  bool sent_lastminute_handshake_ = false;
};

}  // namespace aureo::wireguard
