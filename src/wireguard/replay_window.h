// The receive-side sliding window against replayed transport messages
// (whitepaper section 5.4.6; the bitmap layout of RFC 6479).
//
// A ring of 64-bit blocks holds one bit per counter. Moving the window forward
// clears whole blocks instead of shifting bits, so an update costs O(1) except
// for the jump itself (at most kRingBlocks stores).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace aureo::wireguard {

class ReplayWindow {
 public:
  static constexpr size_t kBlockBits = 64;
  static constexpr size_t kRingBlocks = 128;  // 8192 counter bits
  // How far behind the highest counter seen a counter may still arrive. One
  // block is kept spare so the newest block never aliases the oldest.
  static constexpr uint64_t kWindowSize = (kRingBlocks - 1) * kBlockBits;

  // True, and the counter is recorded, when the counter is below
  // REJECT_AFTER_MESSAGES, not older than kWindowSize behind the highest
  // counter accepted so far, and not seen before. Call only after the message
  // authenticated, or a forged counter could slide the window.
  [[nodiscard]] bool accept(uint64_t counter);

  void reset();

  // The highest counter accepted (0 before any).
  [[nodiscard]] uint64_t highest() const { return last_; }

 private:
  uint64_t last_ = 0;
  std::array<uint64_t, kRingBlocks> ring_{};
};

}  // namespace aureo::wireguard
