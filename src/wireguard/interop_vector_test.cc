// A handshake initiation captured from the real wireguard-go (Debian 12's
// 0.0.20220316), sent to an Aureo device over loopback with `ping` through a
// wireguard-go interface. Both static keys were generated for that run with
// `wg genkey`; nothing here is secret.
#include <gtest/gtest.h>

#include <array>

#include "core/testing/fake_clock.h"
#include "wireguard/cookie.h"
#include "wireguard/messages.h"
#include "wireguard/noise.h"
#include "wireguard/testing/hex.h"

namespace aureo::wireguard {
namespace {

constexpr const char* kInitiation =
    "0100000075dfe7bfd9dfad1cb8530ae1243e790612a54dc3cd376a2b0cf8e4feb445bd4003013830de97e23abafa"
    "460bd2b92f950850bf97ff7b5feaa6a27c4a7c160d9249f49c70aacb9600962ca5aedf21e805a78ec8bc789f10c0"
    "6fe29177957c8e12a87da9b3f59c6f7d69c7cb4eb46302ac81503b86a3dadeb2f65c9ec3eb19cece000000000000"
    "00000000000000000000";
// The Aureo device's private key and wireguard-go's public key in that run.
constexpr const char* kResponderPrivate = "KBgIUSg5bq8xyEOb0S5gGWzc6gnRczw+fJhI/bok03c=";
constexpr const char* kInitiatorPublic = "rCzvnBizpePsOAlahuS3kM6hZqJoJPmmYGH6qmq5wlA=";

TEST(InteropVectorTest, ConsumesAnInitiationFromWireguardGo) {
  const auto bytes = testing::unhex(kInitiation);
  ASSERT_EQ(bytes.size(), MESSAGE_INITIATION_SIZE);
  EXPECT_EQ(messageType(bytes), MESSAGE_HANDSHAKE_INITIATION);

  StaticIdentity identity;
  identity.set(*parsePrivateKey(kResponderPrivate));
  core::testing::FakeClock clock;

  CookieChecker checker;
  checker.init(identity.public_key);
  EXPECT_EQ(checker.validate(bytes, *Endpoint::parse("127.0.0.1:51999"), false, clock.steadyNow()),
            CookieChecker::Verdict::kValidMac1);

  MessageInitiation msg{};
  read(std::span<const uint8_t, MESSAGE_INITIATION_SIZE>(bytes.data(), bytes.size()), &msg);
  EXPECT_EQ(msg.sender_index, 0xbfe7df75u);
  DecryptedInitiation partial;
  ASSERT_TRUE(decryptInitiationStatic(msg, identity, &partial));
  EXPECT_EQ(partial.remote_static, *parsePublicKey(kInitiatorPublic));

  Handshake handshake;
  handshake.init(partial.remote_static, identity);
  ASSERT_EQ(handshake.consumeInitiation(msg, partial, clock.steadyNow()),
            Handshake::InitiationVerdict::kOk);
  // The same message again is a replay, by its TAI64N timestamp.
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(handshake.consumeInitiation(msg, partial, clock.steadyNow()),
            Handshake::InitiationVerdict::kReplayedTimestamp);
  MessageResponse response{};
  EXPECT_TRUE(handshake.createResponse(1, &response));
  EXPECT_EQ(response.receiver_index, 0xbfe7df75u);

  // One flipped bit anywhere before mac1 breaks mac1.
  auto tampered = bytes;
  tampered[60] ^= 0x80;
  EXPECT_EQ(
      checker.validate(tampered, *Endpoint::parse("127.0.0.1:51999"), false, clock.steadyNow()),
      CookieChecker::Verdict::kInvalidMac1);
}

}  // namespace
}  // namespace aureo::wireguard
