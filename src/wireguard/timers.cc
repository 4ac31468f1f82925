#include "wireguard/timers.h"

#include <algorithm>

#include "wireguard/internal/primitives.h"

namespace aureo::wireguard {

// The jitter only spreads retries apart; it guards no secret, and it is drawn
// for every data packet sent, so it comes from a per-thread xorshift64*
// seeded once from the CSPRNG instead of a getrandom() call each time.
Timers::Duration Timers::randomJitter() {
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    while (seed == 0) {
      seed = uint64_t{internal::randomU32()} << 32 | internal::randomU32();
    }
    return seed;
  }();
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  const uint64_t r = (state * 0x2545F4914F6CDD1DULL) >> 32;
  const auto max_ms = static_cast<uint64_t>(REKEY_TIMEOUT_JITTER_MAX.count());
  return std::chrono::milliseconds(static_cast<int64_t>(r % (max_ms + 1)));
}

void Timers::dataSent(Time now, Duration jitter) {
  if (new_handshake_ == kNever) new_handshake_ = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter;
}

void Timers::dataReceived(Time now) {
  if (send_keepalive_ == kNever) {
    send_keepalive_ = now + KEEPALIVE_TIMEOUT;
  } else {
    need_another_keepalive_ = true;
  }
}

void Timers::anyAuthenticatedPacketSent() {
  send_keepalive_ = kNever;
}

void Timers::anyAuthenticatedPacketReceived() {
  new_handshake_ = kNever;
}

void Timers::anyAuthenticatedPacketTraversal(Time now, std::chrono::seconds persistent_keepalive) {
  if (persistent_keepalive.count() > 0) persistent_keepalive_ = now + persistent_keepalive;
}

void Timers::handshakeInitiated(Time now, Duration jitter) {
  retransmit_handshake_ = now + REKEY_TIMEOUT + jitter;
}

void Timers::handshakeComplete() {
  retransmit_handshake_ = kNever;
  handshake_attempts_ = 0;
  sent_lastminute_handshake_ = false;
}

void Timers::sessionDerived(Time now) {
  zero_key_material_ = now + REJECT_AFTER_TIME * 3;
}

void Timers::armSendKeepalive(Time now) {
  send_keepalive_ = now + KEEPALIVE_TIMEOUT;
}

void Timers::stop() {
  retransmit_handshake_ = send_keepalive_ = new_handshake_ = zero_key_material_ =
      persistent_keepalive_ = kNever;
  need_another_keepalive_ = false;
}

TimerActions Timers::expire(Time now) {
  TimerActions a;
  if (retransmit_handshake_ <= now) {
    retransmit_handshake_ = kNever;
    if (handshake_attempts_ > MAX_TIMER_HANDSHAKES) {
      // REKEY_ATTEMPT_TIME is up: stop, and make sure the keys die eventually.
      a.give_up_handshake = true;
      send_keepalive_ = kNever;
      if (zero_key_material_ == kNever) zero_key_material_ = now + REJECT_AFTER_TIME * 3;
    } else {
      ++handshake_attempts_;
      a.retransmit_handshake = true;
    }
  }
  if (send_keepalive_ <= now) {
    send_keepalive_ = kNever;
    a.send_keepalive = true;
    a.rearm_keepalive = need_another_keepalive_;
    need_another_keepalive_ = false;
  }
  if (new_handshake_ <= now) {
    new_handshake_ = kNever;
    a.new_handshake = true;
  }
  if (zero_key_material_ <= now) {
    zero_key_material_ = kNever;
    a.zero_key_material = true;
  }
  if (persistent_keepalive_ <= now) {
    persistent_keepalive_ = kNever;
    a.persistent_keepalive = true;
  }
  return a;
}

Timers::Time Timers::nextDeadline() const {
  return std::min({retransmit_handshake_, send_keepalive_, new_handshake_, zero_key_material_,
                   persistent_keepalive_});
}

}  // namespace aureo::wireguard
