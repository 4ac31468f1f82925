#include "wireguard/replay_window.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "wireguard/constants.h"

namespace aureo::wireguard {
namespace {

TEST(ReplayWindowTest, AcceptsInOrderAndRejectsDuplicates) {
  ReplayWindow w;
  for (uint64_t c = 0; c < 10'000; ++c) ASSERT_TRUE(w.accept(c)) << c;
  for (uint64_t c = 10'000 - ReplayWindow::kWindowSize; c < 10'000; ++c) {
    ASSERT_FALSE(w.accept(c)) << c;
  }
}

TEST(ReplayWindowTest, CounterZeroIsAcceptedOnce) {
  ReplayWindow w;
  EXPECT_TRUE(w.accept(0));
  EXPECT_FALSE(w.accept(0));
  EXPECT_TRUE(w.accept(1));
}

TEST(ReplayWindowTest, OutOfOrderWithinTheWindowIsAccepted) {
  ReplayWindow w;
  EXPECT_TRUE(w.accept(100));
  EXPECT_TRUE(w.accept(50));
  EXPECT_TRUE(w.accept(99));
  EXPECT_FALSE(w.accept(50));
  EXPECT_TRUE(w.accept(0));
}

TEST(ReplayWindowTest, OldBeyondTheWindowIsRejectedAtTheExactEdge) {
  ReplayWindow w;
  const uint64_t head = 20'000;
  ASSERT_TRUE(w.accept(head));
  EXPECT_FALSE(w.accept(head - ReplayWindow::kWindowSize - 1));
  EXPECT_TRUE(w.accept(head - ReplayWindow::kWindowSize));
  EXPECT_FALSE(w.accept(head - ReplayWindow::kWindowSize));
}

TEST(ReplayWindowTest, FarAheadJumpForgetsEverythingBehindTheNewWindow) {
  ReplayWindow w;
  for (uint64_t c = 0; c < 200; ++c) ASSERT_TRUE(w.accept(c));
  const uint64_t far = uint64_t{1} << 40;
  EXPECT_TRUE(w.accept(far));
  EXPECT_FALSE(w.accept(far));
  EXPECT_FALSE(w.accept(150));  // far behind now
  // Every slot in the window below the jump is free: the ring was cleared,
  // not left holding bits of the old counters that alias these ones.
  for (uint64_t c = far - ReplayWindow::kWindowSize; c < far; ++c) ASSERT_TRUE(w.accept(c)) << c;
}

TEST(ReplayWindowTest, RingWrapsWithoutAliasingOldBits) {
  ReplayWindow w;
  // Walk the head around the ring several times, accepting every other
  // counter; each counter that was skipped must still be accepted late,
  // and every accepted one must be refused a second time.
  const uint64_t ring_bits = ReplayWindow::kRingBlocks * ReplayWindow::kBlockBits;
  for (uint64_t c = 0; c < 5 * ring_bits; c += 2) ASSERT_TRUE(w.accept(c));
  const uint64_t head = w.highest();
  for (uint64_t c = head - ReplayWindow::kWindowSize; c <= head; ++c) {
    ASSERT_EQ(w.accept(c), c % 2 == 1) << c;
  }
  // One step past a full ring from a block boundary reuses that block's slot.
  ReplayWindow v;
  ASSERT_TRUE(v.accept(63));
  ASSERT_TRUE(v.accept(63 + ring_bits));
  EXPECT_FALSE(v.accept(63));  // outside the window, not a stale bit
  EXPECT_TRUE(v.accept(64 + ring_bits - ReplayWindow::kBlockBits));
}

TEST(ReplayWindowTest, RejectsCountersAtTheMessageLimit) {
  ReplayWindow w;
  EXPECT_FALSE(w.accept(REJECT_AFTER_MESSAGES));
  EXPECT_FALSE(w.accept(~uint64_t{0}));
  EXPECT_TRUE(w.accept(REJECT_AFTER_MESSAGES - 1));
  EXPECT_FALSE(w.accept(REJECT_AFTER_MESSAGES - 1));
}

TEST(ReplayWindowTest, MatchesASetBasedReferenceOnRandomTraffic) {
  std::mt19937_64 rng(7);
  ReplayWindow w;
  std::set<uint64_t> seen;
  uint64_t highest = 0;
  bool any = false;
  uint64_t base = 0;
  for (int i = 0; i < 200'000; ++i) {
    // Mostly near the head, sometimes jumping ahead, sometimes far behind.
    const uint64_t r = rng() % 100;
    if (r < 2) base += rng() % 20'000;
    const uint64_t c = base + rng() % 10'000;
    const bool fresh = !seen.count(c);
    const bool in_window = !any || c > highest || highest - c <= ReplayWindow::kWindowSize;
    const bool expected = fresh && in_window;
    ASSERT_EQ(w.accept(c), expected) << "counter " << c << " head " << highest;
    if (expected) {
      seen.insert(c);
      if (!any || c > highest) highest = c;
      any = true;
    }
  }
}

}  // namespace
}  // namespace aureo::wireguard
