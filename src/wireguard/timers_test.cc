#include "wireguard/timers.h"

#include <gtest/gtest.h>

namespace aureo::wireguard {
namespace {

using namespace std::chrono_literals;
using Time = Timers::Time;

const Time kStart = Time{} + 1000s;

TEST(TimersTest, NothingPendingAtFirst) {
  Timers t;
  EXPECT_EQ(t.nextDeadline(), Time::max());
  EXPECT_FALSE(t.expire(kStart + 10000s).any());
}

TEST(TimersTest, RetransmitUsesTheGivenJitterAndCountsAttempts) {
  Timers t;
  t.handshakeInitiated(kStart, 123ms);
  EXPECT_EQ(t.retransmitDeadline(), kStart + REKEY_TIMEOUT + 123ms);
  EXPECT_FALSE(t.expire(kStart + REKEY_TIMEOUT + 122ms).any());
  TimerActions a = t.expire(kStart + REKEY_TIMEOUT + 123ms);
  EXPECT_TRUE(a.retransmit_handshake);
  EXPECT_EQ(t.handshakeAttempts(), 1);
  // Fired once: not again until re-armed.
  EXPECT_FALSE(t.expire(kStart + 60s).retransmit_handshake);
}

TEST(TimersTest, GivesUpAfterMaxTimerHandshakesAndSchedulesKeyZeroing) {
  Timers t;
  Time now = kStart;
  t.handshakeInitiated(now, 0ms);
  int retries = 0;
  for (;;) {
    now += REKEY_TIMEOUT;
    TimerActions a = t.expire(now);
    if (a.give_up_handshake) break;
    ASSERT_TRUE(a.retransmit_handshake);
    ++retries;
    t.handshakeInitiated(now, 0ms);  // the peer resends
  }
  EXPECT_EQ(retries, MAX_TIMER_HANDSHAKES + 1);
  EXPECT_EQ(t.zeroKeyDeadline(), now + REJECT_AFTER_TIME * 3);
  EXPECT_EQ(t.retransmitDeadline(), Time::max());
}

TEST(TimersTest, HandshakeCompleteStopsRetriesAndResetsAttempts) {
  Timers t;
  t.handshakeInitiated(kStart, 0ms);
  ASSERT_TRUE(t.expire(kStart + REKEY_TIMEOUT).retransmit_handshake);
  t.setSentLastMinuteHandshake();
  t.handshakeComplete();
  EXPECT_EQ(t.handshakeAttempts(), 0);
  EXPECT_FALSE(t.sentLastMinuteHandshake());
  EXPECT_EQ(t.retransmitDeadline(), Time::max());
}

TEST(TimersTest, KeepaliveAfterDataReceivedUnlessSomethingIsSent) {
  Timers t;
  t.dataReceived(kStart);
  EXPECT_EQ(t.sendKeepaliveDeadline(), kStart + KEEPALIVE_TIMEOUT);
  t.anyAuthenticatedPacketSent();
  EXPECT_FALSE(t.expire(kStart + KEEPALIVE_TIMEOUT).send_keepalive);

  t.dataReceived(kStart + 20s);
  t.dataReceived(kStart + 25s);  // more data while pending: owe another one
  EXPECT_EQ(t.sendKeepaliveDeadline(), kStart + 20s + KEEPALIVE_TIMEOUT);
  TimerActions a = t.expire(kStart + 30s);
  EXPECT_TRUE(a.send_keepalive);
  EXPECT_TRUE(a.rearm_keepalive);
  t.dataReceived(kStart + 50s);
  a = t.expire(kStart + 60s);
  EXPECT_TRUE(a.send_keepalive);
  EXPECT_FALSE(a.rearm_keepalive);
}

TEST(TimersTest, NewHandshakeWhenSentDataIsNotAnswered) {
  Timers t;
  t.dataSent(kStart, 200ms);
  t.dataSent(kStart + 1s, 0ms);  // already pending: unchanged
  EXPECT_EQ(t.newHandshakeDeadline(), kStart + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 200ms);
  EXPECT_TRUE(t.expire(kStart + 15200ms).new_handshake);

  t.dataSent(kStart + 20s, 0ms);
  t.anyAuthenticatedPacketReceived();
  EXPECT_FALSE(t.expire(kStart + 60s).new_handshake);
}

TEST(TimersTest, SessionDerivedSchedulesZeroingAtThreeRejectAfterTime) {
  Timers t;
  t.sessionDerived(kStart);
  EXPECT_FALSE(t.expire(kStart + REJECT_AFTER_TIME * 3 - 1ms).zero_key_material);
  EXPECT_TRUE(t.expire(kStart + REJECT_AFTER_TIME * 3).zero_key_material);
}

TEST(TimersTest, PersistentKeepaliveFollowsEveryTraversal) {
  Timers t;
  t.anyAuthenticatedPacketTraversal(kStart, 0s);
  EXPECT_EQ(t.persistentKeepaliveDeadline(), Time::max());
  t.anyAuthenticatedPacketTraversal(kStart, 25s);
  t.anyAuthenticatedPacketTraversal(kStart + 10s, 25s);
  EXPECT_FALSE(t.expire(kStart + 34s).persistent_keepalive);
  EXPECT_TRUE(t.expire(kStart + 35s).persistent_keepalive);
}

TEST(TimersTest, StopCancelsEverything) {
  Timers t;
  t.handshakeInitiated(kStart, 0ms);
  t.dataReceived(kStart);
  t.dataSent(kStart, 0ms);
  t.sessionDerived(kStart);
  t.anyAuthenticatedPacketTraversal(kStart, 25s);
  EXPECT_EQ(t.nextDeadline(), kStart + REKEY_TIMEOUT);
  t.stop();
  EXPECT_EQ(t.nextDeadline(), Time::max());
  EXPECT_FALSE(t.expire(kStart + 10000s).any());
}

TEST(TimersTest, RandomJitterStaysWithinBounds) {
  for (int i = 0; i < 1000; ++i) {
    const auto j = Timers::randomJitter();
    ASSERT_GE(j, 0ms);
    ASSERT_LE(j, REKEY_TIMEOUT_JITTER_MAX);
  }
}

}  // namespace
}  // namespace aureo::wireguard
