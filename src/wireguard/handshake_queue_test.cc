#include "wireguard/handshake_queue.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace aureo::wireguard {
namespace {

Endpoint ep(const char* text) {
  return *Endpoint::parse(text);
}

core::SteadyTime past() {
  return std::chrono::steady_clock::now() - std::chrono::seconds(1);
}

TEST(HandshakeQueueTest, PopsInArrivalOrderWithTheSource) {
  HandshakeQueue q(8);
  for (uint8_t i = 1; i <= 3; ++i) {
    const std::vector<uint8_t> msg(MESSAGE_RESPONSE_SIZE, i);
    ASSERT_TRUE(q.push(msg, Endpoint{*core::IpAddress::parse("192.0.2.1"), i}));
  }
  std::vector<QueuedHandshake> out(2);
  ASSERT_EQ(q.popUntil(out, past()), 2u);
  EXPECT_EQ(out[0].datagram().size(), MESSAGE_RESPONSE_SIZE);
  EXPECT_EQ(out[0].bytes[0], 1);
  EXPECT_EQ(out[0].from.port, 1);
  EXPECT_EQ(out[1].bytes[0], 2);
  ASSERT_EQ(q.popUntil(out, past()), 1u);
  EXPECT_EQ(out[0].bytes[0], 3);
  EXPECT_EQ(q.size(), 0u);
}

TEST(HandshakeQueueTest, FullQueueRefusesUntilDrained) {
  HandshakeQueue q(4);
  const std::vector<uint8_t> msg(MESSAGE_INITIATION_SIZE, 1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.push(msg, ep("192.0.2.1:1")));
  EXPECT_FALSE(q.push(msg, ep("192.0.2.1:1")));
  std::vector<QueuedHandshake> out(1);
  ASSERT_EQ(q.popUntil(out, past()), 1u);
  EXPECT_TRUE(q.push(msg, ep("192.0.2.1:1")));
  EXPECT_EQ(q.size(), 4u);
}

TEST(HandshakeQueueTest, RefusesMessagesLargerThanAnInitiation) {
  HandshakeQueue q(4);
  const std::vector<uint8_t> big(MESSAGE_INITIATION_SIZE + 1, 1);
  EXPECT_FALSE(q.push(big, ep("192.0.2.1:1")));
  EXPECT_EQ(q.size(), 0u);
}

TEST(HandshakeQueueTest, EmptyQueueReturnsNothingOncePastTheDeadline) {
  HandshakeQueue q(4);
  std::vector<QueuedHandshake> out(4);
  EXPECT_EQ(q.popUntil(out, past()), 0u);
}

TEST(HandshakeQueueTest, WakeReleasesAWaitingConsumer) {
  HandshakeQueue q(4);
  std::vector<QueuedHandshake> out(4);
  size_t got = 99;
  std::thread consumer(
      [&] { got = q.popUntil(out, std::chrono::steady_clock::now() + std::chrono::hours(1)); });
  q.wake();
  consumer.join();
  EXPECT_EQ(got, 0u);
}

TEST(HandshakeQueueTest, PushWakesAWaitingConsumer) {
  HandshakeQueue q(4);
  std::vector<QueuedHandshake> out(4);
  size_t got = 0;
  std::thread consumer(
      [&] { got = q.popUntil(out, std::chrono::steady_clock::now() + std::chrono::hours(1)); });
  const std::vector<uint8_t> msg(MESSAGE_COOKIE_REPLY_SIZE, 3);
  ASSERT_TRUE(q.push(msg, ep("[2001:db8::1]:7")));
  consumer.join();
  ASSERT_EQ(got, 1u);
  EXPECT_EQ(out[0].from, ep("[2001:db8::1]:7"));
}

}  // namespace
}  // namespace aureo::wireguard
