// The bounded queue between the data-path workers and the control thread:
// workers hand every handshake message (initiation, response, cookie reply)
// over instead of spending DH work inline, and the control thread consumes
// them. A full queue sheds the message, on purpose: under a flood the workers
// keep moving transport data and the device answers with cookies (the
// kernel's incoming_handshakes queue and under_load).
//
// Storage is allocated once; push and pop never allocate.
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "core/clock.h"
#include "wireguard/constants.h"
#include "wireguard/endpoint.h"

namespace aureo::wireguard {

struct QueuedHandshake {
  std::array<uint8_t, MESSAGE_INITIATION_SIZE> bytes{};  // the largest handshake message
  size_t length = 0;
  Endpoint from;

  [[nodiscard]] std::span<const uint8_t> datagram() const { return {bytes.data(), length}; }
};

class HandshakeQueue {
 public:
  explicit HandshakeQueue(size_t capacity = MAX_QUEUED_INCOMING_HANDSHAKES);

  // Safe from any thread. False when the queue is full or the message is
  // larger than any handshake message; the caller counts the drop.
  bool push(std::span<const uint8_t> datagram, const Endpoint& from);

  // Waits until a message is queued, deadline passes or wake() is called,
  // then moves up to out.size() messages into out. Returns how many.
  // One consumer thread.
  size_t popUntil(std::span<QueuedHandshake> out, core::SteadyTime deadline);

  // Makes a waiting popUntil return now (e.g. to stop). Safe from any thread.
  void wake();

  [[nodiscard]] size_t size() const;
  [[nodiscard]] size_t capacity() const { return slots_.size(); }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<QueuedHandshake> slots_;  // ring; guarded by mutex_
  size_t head_ = 0;                     // guarded by mutex_
  size_t count_ = 0;                    // guarded by mutex_
  bool woken_ = false;                  // guarded by mutex_
};

}  // namespace aureo::wireguard
