#include "wireguard/replay_window.h"

#include <algorithm>

#include "wireguard/constants.h"

namespace aureo::wireguard {

bool ReplayWindow::accept(uint64_t counter) {
  if (counter >= REJECT_AFTER_MESSAGES) return false;
  const uint64_t block = counter / kBlockBits;
  if (counter > last_) {
    // Slide forward: clear the blocks between the old head and the new one.
    const uint64_t current = last_ / kBlockBits;
    const uint64_t steps = std::min<uint64_t>(block - current, kRingBlocks);
    for (uint64_t i = 1; i <= steps; ++i) ring_[(current + i) % kRingBlocks] = 0;
    last_ = counter;
  } else if (last_ - counter > kWindowSize) {
    return false;
  }
  const uint64_t bit = uint64_t{1} << (counter % kBlockBits);
  uint64_t& word = ring_[block % kRingBlocks];
  if ((word & bit) != 0) return false;
  word |= bit;
  return true;
}

void ReplayWindow::reset() {
  last_ = 0;
  ring_.fill(0);
}

}  // namespace aureo::wireguard
