#include "wireguard/cookie.h"

#include <gtest/gtest.h>

#include <array>

#include "core/testing/fake_clock.h"
#include "wireguard/internal/primitives.h"

namespace aureo::wireguard {
namespace {

class CookieTest : public ::testing::Test {
 protected:
  CookieTest() {
    responder_key_ = publicKeyOf(generatePrivateKey());
    checker_.init(responder_key_);
    state_.init(responder_key_);
    internal::randomFill(message_);
    source_ = *Endpoint::parse("192.0.2.7:40000");
  }

  core::testing::FakeClock clock_;
  PublicKey responder_key_;
  CookieChecker checker_;
  CookieState state_;
  std::array<uint8_t, MESSAGE_INITIATION_SIZE> message_{};
  Endpoint source_;
};

TEST_F(CookieTest, Mac1IsKeyedToTheResponderPublicKey) {
  state_.addMacs(message_, clock_.steadyNow());
  EXPECT_EQ(checker_.validate(message_, source_, false, clock_.steadyNow()),
            CookieChecker::Verdict::kValidMac1);
  // Without a cookie mac2 is zero.
  EXPECT_EQ(std::count(message_.end() - 16, message_.end(), 0), 16);

  CookieChecker other;
  other.init(publicKeyOf(generatePrivateKey()));
  EXPECT_EQ(other.validate(message_, source_, false, clock_.steadyNow()),
            CookieChecker::Verdict::kInvalidMac1);
  message_[10] ^= 1;
  EXPECT_EQ(checker_.validate(message_, source_, false, clock_.steadyNow()),
            CookieChecker::Verdict::kInvalidMac1);
}

TEST_F(CookieTest, CookieReplyLetsTheInitiatorPassMac2) {
  const auto now = clock_.steadyNow();
  state_.addMacs(message_, now);
  ASSERT_EQ(checker_.validate(message_, source_, true, now), CookieChecker::Verdict::kValidMac1);

  MessageCookieReply reply{};
  checker_.createReply(message_, 0x1234, source_, now, &reply);
  EXPECT_EQ(reply.receiver_index, 0x1234u);
  std::array<uint8_t, MESSAGE_COOKIE_REPLY_SIZE> wire{};
  write(reply, wire);
  EXPECT_EQ(messageType(wire), MESSAGE_HANDSHAKE_COOKIE);
  MessageCookieReply parsed{};
  read(wire, &parsed);
  ASSERT_TRUE(state_.consumeReply(parsed, now));
  EXPECT_FALSE(state_.consumeReply(parsed, now));  // only once per message sent

  clock_.advance(std::chrono::seconds(5));
  internal::randomFill(std::span(message_).first(100));
  state_.addMacs(message_, clock_.steadyNow());
  EXPECT_EQ(checker_.validate(message_, source_, true, clock_.steadyNow()),
            CookieChecker::Verdict::kValidMac2);

  // The cookie is bound to the source address and port.
  Endpoint moved = source_;
  moved.port = 40001;
  EXPECT_EQ(checker_.validate(message_, moved, true, clock_.steadyNow()),
            CookieChecker::Verdict::kValidMac1);
}

TEST_F(CookieTest, ReplyForAnotherMessageIsRejected) {
  const auto now = clock_.steadyNow();
  state_.addMacs(message_, now);
  MessageCookieReply reply{};
  checker_.createReply(message_, 1, source_, now, &reply);
  // The initiator has since sent a different message: the reply's AD no longer matches.
  message_[0] ^= 1;
  state_.addMacs(message_, now);
  EXPECT_FALSE(state_.consumeReply(reply, now));
}

TEST_F(CookieTest, InitiatorStopsUsingTheCookieAfter115Seconds) {
  auto now = clock_.steadyNow();
  state_.addMacs(message_, now);
  MessageCookieReply reply{};
  checker_.createReply(message_, 1, source_, now, &reply);
  ASSERT_TRUE(state_.consumeReply(reply, now));
  EXPECT_TRUE(state_.hasFreshCookie(now + COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY -
                                    std::chrono::milliseconds(1)));
  EXPECT_FALSE(state_.hasFreshCookie(now + COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY));
  state_.addMacs(message_, now + std::chrono::seconds(116));
  EXPECT_EQ(std::count(message_.end() - 16, message_.end(), 0), 16);
}

TEST_F(CookieTest, ResponderSecretRotatesEveryTwoMinutes) {
  auto now = clock_.steadyNow();
  state_.addMacs(message_, now);
  MessageCookieReply reply{};
  checker_.createReply(message_, 1, source_, now, &reply);
  ASSERT_TRUE(state_.consumeReply(reply, now));
  // 119 s later the responder still honours it.
  const auto later = now + std::chrono::seconds(119);
  state_.addMacs(message_, now + std::chrono::seconds(100));
  EXPECT_EQ(checker_.validate(message_, source_, true, later), CookieChecker::Verdict::kValidMac2);
  // After the secret rotates, the same mac2 fails.
  EXPECT_EQ(checker_.validate(message_, source_, true, now + std::chrono::seconds(121)),
            CookieChecker::Verdict::kValidMac1);
}

}  // namespace
}  // namespace aureo::wireguard
