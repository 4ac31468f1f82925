#include "wireguard/device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "wireguard/messages.h"
#include "wireguard/peer.h"
#include "wireguard/testing/memory_network.h"

namespace aureo::wireguard {
namespace {

using namespace std::chrono_literals;
using testing::Datagram;
using testing::MemoryNetwork;
using testing::Node;

Endpoint ep(const char* text) {
  return *Endpoint::parse(text);
}
core::Cidr cidr(const char* text) {
  return *core::Cidr::parse(text);
}

std::vector<uint8_t> ipv4(const char* src, const char* dst, size_t payload_len,
                          uint8_t fill = 0xab) {
  std::vector<uint8_t> p(20 + payload_len, fill);
  const size_t total = p.size();
  std::fill(p.begin(), p.begin() + 20, 0);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[8] = 64;
  p[9] = 17;
  std::memcpy(&p[12], core::IpAddress::parse(src)->bytes().data(), 4);
  std::memcpy(&p[16], core::IpAddress::parse(dst)->bytes().data(), 4);
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  return p;
}

std::vector<uint8_t> ipv6(const char* src, const char* dst, size_t payload_len,
                          uint8_t fill = 0xcd) {
  std::vector<uint8_t> p(40 + payload_len, fill);
  std::fill(p.begin(), p.begin() + 40, 0);
  p[0] = 0x60;
  p[4] = static_cast<uint8_t>(payload_len >> 8);
  p[5] = static_cast<uint8_t>(payload_len);
  p[6] = 17;
  p[7] = 64;
  std::memcpy(&p[8], core::IpAddress::parse(src)->bytes().data(), 16);
  std::memcpy(&p[24], core::IpAddress::parse(dst)->bytes().data(), 16);
  return p;
}

class DeviceTest : public ::testing::Test {
 protected:
  explicit DeviceTest(DeviceOptions b_options = {})
      : a_(clock_, ep("192.0.2.1:51820")), b_(clock_, ep("198.51.100.2:51821"), b_options) {
    net_.add(a_);
    net_.add(b_);
  }

  // A knows B's endpoint; B learns A's from the handshake.
  void configure(std::optional<PresharedKey> psk_a = std::nullopt,
                 std::optional<PresharedKey> psk_b = std::nullopt) {
    PeerConfig to_b;
    to_b.public_key = b_.publicKey();
    to_b.preshared_key = psk_a;
    to_b.endpoint = b_.io.address();
    to_b.allowed_ips = {cidr("10.0.0.2/32"), cidr("fd00::2/128")};
    ASSERT_TRUE(a_.device.addOrUpdatePeer(to_b).ok());
    PeerConfig to_a;
    to_a.public_key = a_.publicKey();
    to_a.preshared_key = psk_b;
    to_a.allowed_ips = {cidr("10.0.0.1/32"), cidr("fd00::1/128")};
    ASSERT_TRUE(b_.device.addOrUpdatePeer(to_a).ok());
  }

  // Handshake plus one packet A -> B.
  void connect() {
    a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
    net_.pump();
    ASSERT_EQ(b_.io.tun.size(), 1u);
    b_.io.tun.clear();
  }

  // Moves time forward in steps, running both devices' timers and the network.
  void advance(core::SteadyTime::duration total, core::SteadyTime::duration step = 10ms) {
    for (auto t = core::SteadyTime::duration::zero(); t < total; t += step) {
      clock_.advance(step);
      a_.device.tick();
      b_.device.tick();
      net_.pump();
    }
  }

  std::vector<Datagram> sent(const Node& from, uint32_t type) const {
    std::vector<Datagram> out;
    for (const Datagram& d : net_.log()) {
      if (d.from == from.io.address() && messageType(d.bytes) == type) out.push_back(d);
    }
    return out;
  }

  core::testing::FakeClock clock_;
  Node a_;
  Node b_;
  MemoryNetwork net_;
};

TEST_F(DeviceTest, HandshakeThenIpv4AndIpv6BothWays) {
  configure();
  std::vector<HandshakeEvent> a_events, b_events;
  a_.device.subscribeHandshakes([&](const HandshakeEvent& e) { a_events.push_back(e); });
  b_.device.subscribeHandshakes([&](const HandshakeEvent& e) { b_events.push_back(e); });

  const auto v4 = ipv4("10.0.0.1", "10.0.0.2", 100);
  a_.device.handleOutgoing(v4);
  // Staged until the handshake completes.
  ASSERT_EQ(a_.io.outbound.size(), 1u);
  EXPECT_EQ(messageType(a_.io.outbound.front().bytes), MESSAGE_HANDSHAKE_INITIATION);
  EXPECT_EQ(a_.io.outbound.front().bytes.size(), MESSAGE_INITIATION_SIZE);
  net_.pump();

  ASSERT_EQ(b_.io.tun.size(), 1u);
  EXPECT_EQ(b_.io.tun[0], v4);
  ASSERT_EQ(sent(b_, MESSAGE_HANDSHAKE_RESPONSE).size(), 1u);
  EXPECT_EQ(sent(b_, MESSAGE_HANDSHAKE_RESPONSE)[0].bytes.size(), MESSAGE_RESPONSE_SIZE);
  ASSERT_EQ(a_events.size(), 1u);
  EXPECT_TRUE(a_events[0].initiator);
  EXPECT_EQ(a_events[0].peer, b_.publicKey());
  ASSERT_EQ(b_events.size(), 1u);  // B completes on A's first transport message
  EXPECT_FALSE(b_events[0].initiator);

  const auto back4 = ipv4("10.0.0.2", "10.0.0.1", 1000);
  const auto back6 = ipv6("fd00::2", "fd00::1", 1200);
  b_.device.handleOutgoing(back4);
  b_.device.handleOutgoing(back6);
  net_.pump();
  ASSERT_EQ(a_.io.tun.size(), 2u);
  EXPECT_EQ(a_.io.tun[0], back4);
  EXPECT_EQ(a_.io.tun[1], back6);

  const auto fwd6 = ipv6("fd00::1", "fd00::2", 3);
  a_.device.handleOutgoing(fwd6);
  net_.pump();
  ASSERT_EQ(b_.io.tun.size(), 2u);
  EXPECT_EQ(b_.io.tun[1], fwd6);
  EXPECT_EQ(sent(a_, MESSAGE_HANDSHAKE_INITIATION).size(), 1u);  // one handshake served all
  EXPECT_EQ(a_.device.drops().total(), 0u);
  EXPECT_EQ(b_.device.drops().total(), 0u);

  auto stats_b = b_.device.peerStats(a_.publicKey());
  ASSERT_TRUE(stats_b.has_value());
  EXPECT_EQ(stats_b->endpoint, a_.io.address());  // learned from the handshake
  EXPECT_TRUE(stats_b->last_handshake.has_value());
  EXPECT_GT(stats_b->rx_bytes, 0u);
  EXPECT_GT(stats_b->tx_bytes, 0u);
  auto stats_a = a_.device.peerStats(b_.publicKey());
  ASSERT_TRUE(stats_a.has_value());
  EXPECT_EQ(stats_a->last_handshake, clock_.now());
  EXPECT_EQ(stats_a->allowed_ips.size(), 2u);
  // Every byte A sent, B received, and the other way round.
  EXPECT_EQ(stats_a->tx_bytes, stats_b->rx_bytes);
  EXPECT_EQ(stats_b->tx_bytes, stats_a->rx_bytes);
}

TEST_F(DeviceTest, PlaintextIsPaddedToSixteenBytesWithinTheMtu) {
  configure();
  connect();
  a_.device.setMtu(1420);
  net_.clearLog();
  for (size_t payload : {1u, 12u, 13u, 1380u, 1395u, 1400u}) {
    const auto packet = ipv4("10.0.0.1", "10.0.0.2", payload);
    a_.device.handleOutgoing(packet);
    net_.pump();
    const auto data = sent(a_, MESSAGE_DATA);
    ASSERT_FALSE(data.empty());
    const size_t len = packet.size();
    const size_t padded = std::min<size_t>((len + 15) / 16 * 16, 1420);
    EXPECT_EQ(data.back().bytes.size(), MESSAGE_TRANSPORT_HEADER_SIZE + padded + 16) << len;
    ASSERT_FALSE(b_.io.tun.empty());
    EXPECT_EQ(b_.io.tun.back(), packet);  // padding stripped by the IP length
  }
}

TEST_F(DeviceTest, PresharedKeyOnBothSidesWorks) {
  PresharedKey psk;
  psk.data()[5] = 9;
  configure(psk, psk);
  connect();
  EXPECT_TRUE(a_.device.peerStats(b_.publicKey())->has_preshared_key);
}

TEST_F(DeviceTest, MismatchedPresharedKeyNeverCompletes) {
  PresharedKey psk;
  psk.data()[5] = 9;
  configure(psk, std::nullopt);
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  net_.pump();
  EXPECT_TRUE(b_.io.tun.empty());
  // B accepted the initiation (the PSK only enters at the response) but A
  // cannot authenticate the response.
  EXPECT_EQ(sent(b_, MESSAGE_HANDSHAKE_RESPONSE).size(), 1u);
  EXPECT_EQ(a_.device.dropCount(DropReason::kHandshakeFailed), 1u);
  EXPECT_FALSE(a_.device.peerStats(b_.publicKey())->last_handshake.has_value());
}

TEST_F(DeviceTest, NoRouteToHostIsDroppedAndCounted) {
  configure();
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.9.9.9", 20));
  a_.device.handleOutgoing(ipv6("fd00::1", "fd00::99", 20));
  EXPECT_EQ(a_.device.dropCount(DropReason::kNoRouteToHost), 2u);
  EXPECT_TRUE(a_.io.outbound.empty());
  a_.device.handleOutgoing(std::vector<uint8_t>{0x45, 0, 0});
  EXPECT_EQ(a_.device.dropCount(DropReason::kInvalidInnerPacket), 1u);
}

TEST_F(DeviceTest, DisallowedInnerSourceIsDroppedAndCounted) {
  configure();
  connect();
  // A routes by destination, but the source is not one B allows for A.
  a_.device.handleOutgoing(ipv4("10.0.0.77", "10.0.0.2", 20));
  a_.device.handleOutgoing(ipv6("fd00::77", "fd00::2", 20));
  net_.pump();
  EXPECT_TRUE(b_.io.tun.empty());
  EXPECT_EQ(b_.device.dropCount(DropReason::kDisallowedSource), 2u);
}

TEST_F(DeviceTest, ReplayedTransportMessageIsDropped) {
  configure();
  connect();
  net_.clearLog();
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  net_.pump();
  ASSERT_EQ(b_.io.tun.size(), 1u);
  const Datagram data = sent(a_, MESSAGE_DATA).at(0);
  b_.device.handleIncoming(data.bytes, data.from);
  EXPECT_EQ(b_.io.tun.size(), 1u);
  EXPECT_EQ(b_.device.dropCount(DropReason::kReplayedCounter), 1u);

  // A flipped bit fails authentication and does not touch the window.
  auto forged = data.bytes;
  forged[20] ^= 1;
  b_.device.handleIncoming(forged, data.from);
  EXPECT_EQ(b_.device.dropCount(DropReason::kDecryptFailed), 1u);
}

TEST_F(DeviceTest, ReplayedInitiationIsRejectedByItsTimestamp) {
  configure();
  connect();
  const Datagram initiation = sent(a_, MESSAGE_HANDSHAKE_INITIATION).at(0);
  clock_.advance(1s);
  net_.clearLog();
  b_.device.handleIncoming(initiation.bytes, initiation.from);
  EXPECT_EQ(b_.device.dropCount(DropReason::kReplayedTimestamp), 1u);
  EXPECT_TRUE(b_.io.outbound.empty());  // no response to a replay
  // The genuine session is unaffected.
  b_.device.handleOutgoing(ipv4("10.0.0.2", "10.0.0.1", 20));
  net_.pump();
  EXPECT_EQ(a_.io.tun.size(), 1u);
}

TEST_F(DeviceTest, EndpointRoamsToTheLatestAuthenticatedSource) {
  configure();
  connect();
  const Endpoint roamed = ep("203.0.113.50:6000");
  a_.io.setAddress(roamed);
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  net_.pump();
  EXPECT_EQ(b_.device.peerStats(a_.publicKey())->endpoint, roamed);
  b_.device.handleOutgoing(ipv4("10.0.0.2", "10.0.0.1", 20));
  net_.pump();
  ASSERT_EQ(a_.io.tun.size(), 1u);  // B's reply found A at its new address

  // Junk from a third address does not move the endpoint.
  std::vector<uint8_t> junk(64, 0);
  junk[0] = MESSAGE_DATA;
  b_.device.handleIncoming(junk, ep("203.0.113.99:1"));
  EXPECT_EQ(b_.device.peerStats(a_.publicKey())->endpoint, roamed);
}

TEST_F(DeviceTest, MalformedAndBadMac1MessagesAreDropped) {
  configure();
  b_.device.handleIncoming(std::vector<uint8_t>{1, 2, 3}, a_.io.address());
  std::vector<uint8_t> wrong_size(MESSAGE_INITIATION_SIZE + 1, 0);
  wrong_size[0] = MESSAGE_HANDSHAKE_INITIATION;
  b_.device.handleIncoming(wrong_size, a_.io.address());
  EXPECT_EQ(b_.device.dropCount(DropReason::kMalformedMessage), 2u);

  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  Datagram init = a_.io.outbound.front();
  a_.io.outbound.clear();
  init.bytes[MESSAGE_INITIATION_SIZE - 20] ^= 1;  // inside mac1
  b_.device.handleIncoming(init.bytes, init.from);
  EXPECT_EQ(b_.device.dropCount(DropReason::kInvalidMac1), 1u);
  EXPECT_TRUE(b_.io.outbound.empty());
}

TEST_F(DeviceTest, UnknownPeerInitiationIsDropped) {
  configure();
  ASSERT_TRUE(b_.device.removePeer(a_.publicKey()).ok());
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  net_.pump();
  EXPECT_EQ(b_.device.dropCount(DropReason::kUnknownPeer), 1u);
  EXPECT_TRUE(sent(b_, MESSAGE_HANDSHAKE_RESPONSE).empty());
}

TEST_F(DeviceTest, RemovedPeerIsForgottenEverywhere) {
  configure();
  connect();
  ASSERT_TRUE(b_.device.removePeer(a_.publicKey()).ok());
  EXPECT_EQ(b_.device.peerCount(), 0u);
  EXPECT_FALSE(b_.device.removePeer(a_.publicKey()).ok());
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  net_.pump();
  EXPECT_TRUE(b_.io.tun.empty());
  EXPECT_EQ(b_.device.dropCount(DropReason::kUnknownIndex), 1u);
  b_.device.handleOutgoing(ipv4("10.0.0.2", "10.0.0.1", 20));
  EXPECT_EQ(b_.device.dropCount(DropReason::kNoRouteToHost), 1u);
}

TEST_F(DeviceTest, PeerConfigurationUpdatesAndValidates) {
  configure();
  PeerConfig self;
  self.public_key = a_.publicKey();
  EXPECT_EQ(a_.device.addOrUpdatePeer(self).error().code, core::Code::kInvalidArgument);
  PeerConfig unknown;
  unknown.public_key = publicKeyOf(generatePrivateKey());
  unknown.update_only = true;
  EXPECT_EQ(a_.device.addOrUpdatePeer(unknown).error().code, core::Code::kNotFound);

  PeerConfig update;
  update.public_key = b_.publicKey();
  update.allowed_ips = {cidr("10.1.0.0/16")};
  ASSERT_TRUE(a_.device.addOrUpdatePeer(update).ok());
  EXPECT_EQ(a_.device.peerStats(b_.publicKey())->allowed_ips.size(), 3u);
  EXPECT_EQ(a_.device.peerStats(b_.publicKey())->endpoint, b_.io.address());  // kept
  update.replace_allowed_ips = true;
  ASSERT_TRUE(a_.device.addOrUpdatePeer(update).ok());
  auto stats = a_.device.peerStats(b_.publicKey());
  ASSERT_EQ(stats->allowed_ips.size(), 1u);
  EXPECT_EQ(stats->allowed_ips[0].toString(), "10.1.0.0/16");

  // The same prefix configured on another peer moves to it.
  PeerConfig other;
  other.public_key = publicKeyOf(generatePrivateKey());
  other.allowed_ips = {cidr("10.1.0.0/16")};
  ASSERT_TRUE(a_.device.addOrUpdatePeer(other).ok());
  EXPECT_TRUE(a_.device.peerStats(b_.publicKey())->allowed_ips.empty());
  EXPECT_EQ(a_.device.allPeerStats().size(), 2u);
  a_.device.removeAllPeers();
  EXPECT_EQ(a_.device.peerCount(), 0u);
}

TEST_F(DeviceTest, ListenPortAndFwmarkGoToTheIoSide) {
  ASSERT_TRUE(a_.device.setListenPort(0).ok());
  EXPECT_EQ(a_.device.listenPort(), 40000);  // the port the socket actually got
  ASSERT_TRUE(a_.device.setFwmark(0x51820).ok());
  EXPECT_EQ(a_.io.bound_fwmark, 0x51820u);
  EXPECT_EQ(a_.device.fwmark(), 0x51820u);
  EXPECT_EQ(a_.io.bind_calls, 2);
}

TEST_F(DeviceTest, UnsubscribedListenerIsNotCalled) {
  configure();
  int calls = 0;
  const uint64_t id = a_.device.subscribeHandshakes([&](const HandshakeEvent&) { ++calls; });
  a_.device.unsubscribeHandshakes(id);
  connect();
  EXPECT_EQ(calls, 0);
}

TEST_F(DeviceTest, ChangingThePrivateKeyStopsTheOldSession) {
  configure();
  connect();
  b_.key = generatePrivateKey();
  b_.device.setPrivateKey(b_.key);
  // A still holds B's old public key, so B can no longer handshake with A.
  b_.device.handleOutgoing(ipv4("10.0.0.2", "10.0.0.1", 20));
  net_.pump();
  EXPECT_TRUE(a_.io.tun.empty());
  EXPECT_EQ(sent(b_, MESSAGE_DATA).size(), 0u);
  EXPECT_EQ(sent(b_, MESSAGE_HANDSHAKE_INITIATION).size(), 1u);
  EXPECT_EQ(a_.device.dropCount(DropReason::kUnknownPeer), 1u);  // B now has a key A does not know
}

TEST(PeerFootprintTest, AnIdlePeerFitsTheMemoryBudget) {
  // DESIGN section 12: 100k peers under 2 KiB each. An idle peer is this
  // struct plus its map entry and a couple of trie nodes; sessions (with their
  // 1 KiB replay windows) exist only while it is active.
  EXPECT_LE(sizeof(Peer), 1024u);
}

// --- timers, driven by the fake clock ----------------------------------------

TEST_F(DeviceTest, KeepaliveFollowsDataReceivedWithNothingSentBack) {
  configure();
  connect();  // B received data at t0
  net_.clearLog();
  advance(9900ms);
  EXPECT_TRUE(sent(b_, MESSAGE_DATA).empty());
  advance(200ms);
  const auto keepalives = sent(b_, MESSAGE_DATA);
  ASSERT_EQ(keepalives.size(), 1u);
  EXPECT_EQ(keepalives[0].bytes.size(), MESSAGE_TRANSPORT_MIN_SIZE);  // empty payload
  EXPECT_TRUE(a_.io.tun.empty());  // a keepalive is not written to the tunnel
  EXPECT_EQ(a_.device.drops().total(), 0u);
  // Nothing more while the line is quiet.
  advance(30s, 100ms);
  EXPECT_EQ(sent(b_, MESSAGE_DATA).size(), 1u);
}

TEST_F(DeviceTest, HandshakeRetriesEveryRekeyTimeoutWithJitterThenGivesUp) {
  configure();
  net_.setFilter([&](const Datagram& d) { return d.from != a_.io.address(); });  // B never hears A
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  advance(150s);
  const auto initiations = sent(a_, MESSAGE_HANDSHAKE_INITIATION);
  // One initiation plus MAX_TIMER_HANDSHAKES + 1 retries, over about REKEY_ATTEMPT_TIME.
  ASSERT_EQ(initiations.size(), static_cast<size_t>(MAX_TIMER_HANDSHAKES + 2));
  std::set<core::SteadyTime::duration::rep> gaps;
  for (size_t i = 1; i < initiations.size(); ++i) {
    const auto gap = initiations[i].sent_at - initiations[i - 1].sent_at;
    EXPECT_GE(gap, REKEY_TIMEOUT);
    EXPECT_LE(gap, REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 10ms);  // + one tick step
    gaps.insert(gap.count());
  }
  EXPECT_GT(gaps.size(), 1u);  // the jitter varies
  const auto span = initiations.back().sent_at - initiations.front().sent_at;
  EXPECT_GE(span, REKEY_ATTEMPT_TIME);
  EXPECT_LE(span, REKEY_ATTEMPT_TIME + REKEY_TIMEOUT + 20 * REKEY_TIMEOUT_JITTER_MAX);
  // Given up: the staged packet is gone, so a working network later delivers nothing old.
  net_.setFilter(nullptr);
  advance(10s, 100ms);
  EXPECT_TRUE(b_.io.tun.empty());
}

TEST_F(DeviceTest, NewHandshakeWhenDataSentGetsNoReply) {
  configure();
  connect();
  net_.clearLog();
  advance(11s, 100ms);  // B's keepalive has come and gone
  net_.clearLog();
  net_.setFilter([&](const Datagram& d) { return d.from != b_.io.address(); });  // B goes silent
  const auto t0 = clock_.steadyNow();
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  advance(20s);
  const auto initiations = sent(a_, MESSAGE_HANDSHAKE_INITIATION);
  ASSERT_FALSE(initiations.empty());
  const auto after = initiations[0].sent_at - t0;
  EXPECT_GE(after, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
  EXPECT_LE(after, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 10ms);
}

TEST_F(DeviceTest, InitiatorRekeysAfterRekeyAfterTime) {
  configure();
  connect();
  const auto start = clock_.steadyNow();
  std::vector<core::SteadyTime> rekeys;
  size_t delivered = 0;
  while (clock_.steadyNow() - start < REKEY_AFTER_TIME + 10s) {
    const size_t before = sent(a_, MESSAGE_HANDSHAKE_INITIATION).size();
    a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
    b_.device.handleOutgoing(ipv4("10.0.0.2", "10.0.0.1", 20));
    net_.pump();
    if (sent(a_, MESSAGE_HANDSHAKE_INITIATION).size() > before)
      rekeys.push_back(clock_.steadyNow());
    advance(1s, 100ms);
    delivered = b_.io.tun.size();
  }
  ASSERT_EQ(rekeys.size(), 1u);
  EXPECT_GE(rekeys[0] - start, REKEY_AFTER_TIME);
  EXPECT_LT(rekeys[0] - start, REKEY_AFTER_TIME + 2s);
  // The responder never rekeys on time, and traffic never stopped.
  EXPECT_EQ(sent(b_, MESSAGE_HANDSHAKE_INITIATION).size(), 0u);
  EXPECT_EQ(delivered, a_.io.tun.size());
  EXPECT_EQ(a_.device.drops().total() + b_.device.drops().total(), 0u);
}

TEST_F(DeviceTest, SessionIsNotUsedPastRejectAfterTime) {
  configure();
  connect();
  net_.setFilter([&](const Datagram& d) { return messageType(d.bytes) == MESSAGE_DATA; });
  advance(REJECT_AFTER_TIME + 1s, 1s);
  net_.clearLog();
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  net_.pump();
  EXPECT_TRUE(sent(a_, MESSAGE_DATA).empty());
  EXPECT_EQ(sent(a_, MESSAGE_HANDSHAKE_INITIATION).size(), 1u);
}

TEST_F(DeviceTest, KeysAreZeroedAfterThreeTimesRejectAfterTime) {
  configure();
  net_.clearLog();
  connect();
  const Datagram first_data = sent(a_, MESSAGE_DATA).at(0);
  advance(REJECT_AFTER_TIME + 10s, 1s);
  // Expired but still known: the index resolves to a session that refuses it.
  b_.device.handleIncoming(first_data.bytes, first_data.from);
  EXPECT_EQ(b_.device.dropCount(DropReason::kKeypairExpired), 1u);
  advance(REJECT_AFTER_TIME * 2, 1s);
  // Gone: the index names nothing any more.
  b_.device.handleIncoming(first_data.bytes, first_data.from);
  EXPECT_EQ(b_.device.dropCount(DropReason::kUnknownIndex), 1u);
}

TEST_F(DeviceTest, PersistentKeepaliveKeepsTheNatOpen) {
  configure();
  PeerConfig pk;
  pk.public_key = b_.publicKey();
  pk.persistent_keepalive = 25s;
  ASSERT_TRUE(a_.device.addOrUpdatePeer(pk).ok());
  net_.pump();  // turning it on handshakes at once
  EXPECT_EQ(sent(a_, MESSAGE_HANDSHAKE_INITIATION).size(), 1u);
  EXPECT_TRUE(b_.device.peerStats(a_.publicKey())->last_handshake.has_value());
  net_.clearLog();
  advance(101s, 100ms);
  const auto keepalives = sent(a_, MESSAGE_DATA);
  ASSERT_EQ(keepalives.size(), 4u);
  for (size_t i = 1; i < keepalives.size(); ++i) {
    EXPECT_EQ(keepalives[i].sent_at - keepalives[i - 1].sent_at, 25s);
    EXPECT_EQ(keepalives[i].bytes.size(), MESSAGE_TRANSPORT_MIN_SIZE);
  }
}

// --- cookies under load --------------------------------------------------------

class DeviceUnderLoadTest : public DeviceTest {
 protected:
  DeviceUnderLoadTest() : DeviceTest(DeviceOptions{1420, 0}) {}
};

TEST_F(DeviceUnderLoadTest, CookieReplyThenRetryWithMac2Succeeds) {
  configure();
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  net_.pump();
  ASSERT_EQ(sent(b_, MESSAGE_HANDSHAKE_COOKIE).size(), 1u);
  EXPECT_EQ(sent(b_, MESSAGE_HANDSHAKE_COOKIE)[0].bytes.size(), MESSAGE_COOKIE_REPLY_SIZE);
  EXPECT_TRUE(sent(b_, MESSAGE_HANDSHAKE_RESPONSE).empty());
  EXPECT_EQ(b_.device.dropCount(DropReason::kCookieRequired), 1u);
  EXPECT_EQ(a_.device.drops().total(), 0u);  // A took the cookie

  // The retransmit timer retries, now with mac2; B answers.
  advance(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 20ms);
  const auto initiations = sent(a_, MESSAGE_HANDSHAKE_INITIATION);
  ASSERT_EQ(initiations.size(), 2u);
  const auto& mac2 = std::span(initiations[1].bytes).last(16);
  EXPECT_NE(std::count(mac2.begin(), mac2.end(), 0), 16);
  EXPECT_EQ(sent(b_, MESSAGE_HANDSHAKE_RESPONSE).size(), 1u);
  ASSERT_EQ(b_.io.tun.size(), 1u);  // the staged packet went through
  EXPECT_EQ(b_.device.dropCount(DropReason::kCookieRequired), 1u);
}

TEST_F(DeviceUnderLoadTest, CookieReplyFromAStrangerIsIgnored) {
  configure();
  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 20));
  Datagram init = a_.io.outbound.front();
  std::vector<uint8_t> fake(MESSAGE_COOKIE_REPLY_SIZE, 0x33);
  fake[0] = MESSAGE_HANDSHAKE_COOKIE;
  fake[1] = fake[2] = fake[3] = 0;
  std::memcpy(&fake[4], &init.bytes[4], 4);  // the right index, garbage cookie
  a_.device.handleIncoming(fake, b_.io.address());
  EXPECT_EQ(a_.device.dropCount(DropReason::kInvalidCookieReply), 1u);
}

}  // namespace
}  // namespace aureo::wireguard
