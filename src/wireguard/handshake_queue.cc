#include "wireguard/handshake_queue.h"

#include <algorithm>
#include <cstring>

namespace aureo::wireguard {

HandshakeQueue::HandshakeQueue(size_t capacity) : slots_(std::max<size_t>(1, capacity)) {}

bool HandshakeQueue::push(std::span<const uint8_t> datagram, const Endpoint& from) {
  if (datagram.size() > MESSAGE_INITIATION_SIZE) return false;
  {
    std::lock_guard lock(mutex_);
    if (count_ == slots_.size()) return false;
    QueuedHandshake& slot = slots_[(head_ + count_) % slots_.size()];
    std::memcpy(slot.bytes.data(), datagram.data(), datagram.size());
    slot.length = datagram.size();
    slot.from = from;
    ++count_;
  }
  ready_.notify_one();
  return true;
}

size_t HandshakeQueue::popUntil(std::span<QueuedHandshake> out, core::SteadyTime deadline) {
  std::unique_lock lock(mutex_);
  ready_.wait_until(lock, deadline, [this] { return count_ > 0 || woken_; });
  woken_ = false;
  const size_t n = std::min(out.size(), count_);
  for (size_t i = 0; i < n; ++i) {
    out[i] = slots_[head_];
    head_ = (head_ + 1) % slots_.size();
  }
  count_ -= n;
  return n;
}

void HandshakeQueue::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  ready_.notify_one();
}

size_t HandshakeQueue::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace aureo::wireguard
