#include "wireguard/noise.h"

#include <gtest/gtest.h>

#include <array>

#include "core/testing/fake_clock.h"

namespace aureo::wireguard {
namespace {

struct Side {
  StaticIdentity identity;
  Handshake handshake;
};

class NoiseTest : public ::testing::Test {
 protected:
  NoiseTest() {
    initiator_.identity.set(generatePrivateKey());
    responder_.identity.set(generatePrivateKey());
    initiator_.handshake.init(responder_.identity.public_key, initiator_.identity);
    responder_.handshake.init(initiator_.identity.public_key, responder_.identity);
  }

  // Runs message 1 through the responder; returns its verdict.
  Handshake::InitiationVerdict deliverInitiation(const MessageInitiation& msg) {
    DecryptedInitiation partial;
    if (!decryptInitiationStatic(msg, responder_.identity, &partial)) {
      return Handshake::InitiationVerdict::kDecryptFailed;
    }
    EXPECT_EQ(partial.remote_static, initiator_.identity.public_key);
    return responder_.handshake.consumeInitiation(msg, partial, clock_.steadyNow());
  }

  MessageInitiation initiate(uint32_t index = 0x11111111) {
    MessageInitiation msg{};
    EXPECT_TRUE(
        initiator_.handshake.createInitiation(initiator_.identity, index, clock_.now(), &msg));
    return msg;
  }

  core::testing::FakeClock clock_;
  Side initiator_;
  Side responder_;
};

TEST_F(NoiseTest, FullHandshakeDerivesMirroredTransportKeys) {
  MessageInitiation init = initiate(0xaabbccdd);
  EXPECT_EQ(initiator_.handshake.state(), Handshake::State::kCreatedInitiation);
  ASSERT_EQ(deliverInitiation(init), Handshake::InitiationVerdict::kOk);

  MessageResponse resp{};
  ASSERT_TRUE(responder_.handshake.createResponse(0x22222222, &resp));
  EXPECT_EQ(resp.receiver_index, 0xaabbccddu);
  ASSERT_TRUE(initiator_.handshake.consumeResponse(resp, initiator_.identity));

  SessionKeys i_keys, r_keys;
  ASSERT_TRUE(initiator_.handshake.beginSession(&i_keys));
  ASSERT_TRUE(responder_.handshake.beginSession(&r_keys));
  EXPECT_TRUE(i_keys.initiator);
  EXPECT_FALSE(r_keys.initiator);
  EXPECT_TRUE(i_keys.sending == r_keys.receiving);
  EXPECT_TRUE(i_keys.receiving == r_keys.sending);
  EXPECT_FALSE(i_keys.sending == i_keys.receiving);
  EXPECT_EQ(i_keys.local_index, 0xaabbccddu);
  EXPECT_EQ(i_keys.remote_index, 0x22222222u);
  EXPECT_EQ(r_keys.local_index, 0x22222222u);
  EXPECT_EQ(r_keys.remote_index, 0xaabbccddu);
  // Both sides forget the handshake once the session exists.
  EXPECT_EQ(initiator_.handshake.state(), Handshake::State::kZeroed);
  EXPECT_EQ(responder_.handshake.state(), Handshake::State::kZeroed);
  EXPECT_FALSE(initiator_.handshake.beginSession(&i_keys));
}

TEST_F(NoiseTest, PresharedKeyMustMatch) {
  PresharedKey psk;
  psk.data()[0] = 42;
  initiator_.handshake.setPresharedKey(psk);
  responder_.handshake.setPresharedKey(psk);
  ASSERT_EQ(deliverInitiation(initiate()), Handshake::InitiationVerdict::kOk);
  MessageResponse resp{};
  ASSERT_TRUE(responder_.handshake.createResponse(7, &resp));
  ASSERT_TRUE(initiator_.handshake.consumeResponse(resp, initiator_.identity));

  // With a different key on one side the response does not authenticate,
  // and the initiator keeps its initiation so a genuine response still works.
  clock_.advance(std::chrono::seconds(1));
  PresharedKey other;
  other.data()[0] = 43;
  responder_.handshake.setPresharedKey(other);
  MessageInitiation init = initiate();
  ASSERT_EQ(deliverInitiation(init), Handshake::InitiationVerdict::kOk);
  ASSERT_TRUE(responder_.handshake.createResponse(8, &resp));
  EXPECT_FALSE(initiator_.handshake.consumeResponse(resp, initiator_.identity));
  EXPECT_EQ(initiator_.handshake.state(), Handshake::State::kCreatedInitiation);
}

TEST_F(NoiseTest, ReplayedInitiationIsRejectedByTimestamp) {
  MessageInitiation first = initiate();
  ASSERT_EQ(deliverInitiation(first), Handshake::InitiationVerdict::kOk);
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(deliverInitiation(first), Handshake::InitiationVerdict::kReplayedTimestamp);

  // An initiation stamped within the same whitening slot is no newer either.
  clock_.advance(std::chrono::seconds(1));
  MessageInitiation second = initiate();
  MessageInitiation same_slot = initiate();
  ASSERT_EQ(deliverInitiation(second), Handshake::InitiationVerdict::kOk);
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(deliverInitiation(same_slot), Handshake::InitiationVerdict::kReplayedTimestamp);
}

TEST_F(NoiseTest, InitiationFloodIsRejected) {
  ASSERT_EQ(deliverInitiation(initiate()), Handshake::InitiationVerdict::kOk);
  // A newer timestamp (wall clock moved) but the steady clock says only 10 ms passed.
  clock_.setSystem(clock_.now() + std::chrono::seconds(1));
  clock_.advance(std::chrono::milliseconds(10));
  EXPECT_EQ(deliverInitiation(initiate()), Handshake::InitiationVerdict::kFlood);
  clock_.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(deliverInitiation(initiate()), Handshake::InitiationVerdict::kOk);
}

TEST_F(NoiseTest, InitiationForAnotherResponderDoesNotDecrypt) {
  StaticIdentity stranger;
  stranger.set(generatePrivateKey());
  DecryptedInitiation partial;
  EXPECT_FALSE(decryptInitiationStatic(initiate(), stranger, &partial));
}

TEST_F(NoiseTest, TamperedFieldsAreRejected) {
  MessageInitiation init = initiate();
  init.encrypted_timestamp[3] ^= 1;
  EXPECT_EQ(deliverInitiation(init), Handshake::InitiationVerdict::kDecryptFailed);
  init = initiate();
  init.encrypted_static[0] ^= 1;
  EXPECT_EQ(deliverInitiation(init), Handshake::InitiationVerdict::kDecryptFailed);

  clock_.advance(std::chrono::seconds(1));
  ASSERT_EQ(deliverInitiation(initiate(5)), Handshake::InitiationVerdict::kOk);
  MessageResponse resp{};
  ASSERT_TRUE(responder_.handshake.createResponse(9, &resp));
  MessageResponse bad = resp;
  bad.unencrypted_ephemeral[0] ^= 1;
  EXPECT_FALSE(initiator_.handshake.consumeResponse(bad, initiator_.identity));
  bad = resp;
  bad.receiver_index = 6;  // not our initiation
  EXPECT_FALSE(initiator_.handshake.consumeResponse(bad, initiator_.identity));
  EXPECT_TRUE(initiator_.handshake.consumeResponse(resp, initiator_.identity));
  // A response cannot be consumed twice.
  EXPECT_FALSE(initiator_.handshake.consumeResponse(resp, initiator_.identity));
}

TEST_F(NoiseTest, MessagesSerialiseToTheirProtocolSizes) {
  MessageInitiation init = initiate(0x01020304);
  std::array<uint8_t, MESSAGE_INITIATION_SIZE> wire{};
  write(init, wire);
  EXPECT_EQ(messageType(wire), MESSAGE_HANDSHAKE_INITIATION);
  EXPECT_EQ(wire[4], 0x04);  // little-endian sender index
  EXPECT_EQ(wire[7], 0x01);
  MessageInitiation back{};
  read(wire, &back);
  EXPECT_EQ(back.sender_index, init.sender_index);
  EXPECT_EQ(0, std::memcmp(back.encrypted_timestamp, init.encrypted_timestamp, 28));
  EXPECT_EQ(deliverInitiation(back), Handshake::InitiationVerdict::kOk);

  MessageResponse resp{};
  ASSERT_TRUE(responder_.handshake.createResponse(0x0a0b0c0d, &resp));
  std::array<uint8_t, MESSAGE_RESPONSE_SIZE> rwire{};
  write(resp, rwire);
  EXPECT_EQ(messageType(rwire), MESSAGE_HANDSHAKE_RESPONSE);
  MessageResponse rback{};
  read(rwire, &rback);
  EXPECT_TRUE(initiator_.handshake.consumeResponse(rback, initiator_.identity));
}

TEST_F(NoiseTest, NoPrivateKeyMeansNoHandshake) {
  StaticIdentity empty;
  Handshake h;
  h.init(responder_.identity.public_key, empty);
  MessageInitiation msg{};
  EXPECT_FALSE(h.createInitiation(empty, 1, clock_.now(), &msg));
  DecryptedInitiation partial;
  EXPECT_FALSE(decryptInitiationStatic(initiate(), empty, &partial));
}

TEST_F(NoiseTest, LowOrderPeerKeyCannotHandshake) {
  Handshake h;
  PublicKey zero;
  h.init(zero, initiator_.identity);
  MessageInitiation msg{};
  EXPECT_FALSE(h.createInitiation(initiator_.identity, 1, clock_.now(), &msg));
}

}  // namespace
}  // namespace aureo::wireguard
