#include "wireguard/device_uapi.h"

#include <errno.h>
#include <gtest/gtest.h>

#include <cstring>

#include "wireguard/testing/memory_network.h"

namespace aureo::wireguard {
namespace {

using testing::MemoryNetwork;
using testing::Node;

Endpoint ep(const char* text) {
  return *Endpoint::parse(text);
}
core::Cidr cidr(const char* text) {
  return *core::Cidr::parse(text);
}

UapiKey keyBytes(const PublicKey& key) {
  return key.bytes;
}

UapiSecret secretOf(const PrivateKey& key) {
  UapiKey bytes;
  std::memcpy(bytes.data(), key.data(), bytes.size());
  return UapiSecret(bytes);
}

// An IPv4/UDP packet from src to dst with payload_len bytes of payload.
std::vector<uint8_t> ipv4(const char* src, const char* dst, size_t payload_len) {
  std::vector<uint8_t> p(20 + payload_len, 0x5a);
  std::fill(p.begin(), p.begin() + 20, 0);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[8] = 64;
  p[9] = 17;
  std::memcpy(&p[12], core::IpAddress::parse(src)->bytes().data(), 4);
  std::memcpy(&p[16], core::IpAddress::parse(dst)->bytes().data(), 4);
  return p;
}

class DeviceUapiTest : public ::testing::Test {
 protected:
  DeviceUapiTest() : a_(clock_, ep("192.0.2.1:51820")), b_(clock_, ep("198.51.100.2:51821")) {
    net_.add(a_);
    net_.add(b_);
  }

  PeerChange peerB() const {
    PeerChange p;
    p.public_key = keyBytes(b_.publicKey());
    p.endpoint = b_.io.address();
    p.allowed_ips = {cidr("10.0.0.2/32"), cidr("fd00::2/128")};
    return p;
  }

  core::testing::FakeClock clock_;
  Node a_;
  Node b_;
  MemoryNetwork net_;
  DeviceUapi uapi_a_{a_.device};
};

TEST_F(DeviceUapiTest, SetAppliesEveryFieldAndGetReportsThem) {
  DeviceChange c;
  PrivateKey fresh = generatePrivateKey();
  c.private_key = secretOf(fresh);
  c.listen_port = 51999;
  c.fwmark = 0x42;
  PeerChange p = peerB();
  UapiKey psk;
  psk.fill(7);
  p.preshared_key = UapiSecret(psk);
  p.persistent_keepalive_interval = 25;
  c.peers.push_back(p);
  ASSERT_EQ(uapi_a_.applySet(c), 0);

  const DeviceState s = uapi_a_.getState();
  EXPECT_EQ(s.private_key, secretOf(fresh));
  EXPECT_EQ(s.listen_port, 51999);
  EXPECT_EQ(s.fwmark, 0x42u);
  EXPECT_EQ(a_.io.bound_fwmark, 0x42u);
  ASSERT_EQ(s.peers.size(), 1u);
  EXPECT_EQ(s.peers[0].public_key, p.public_key);
  EXPECT_EQ(s.peers[0].preshared_key, UapiSecret(psk));
  EXPECT_EQ(s.peers[0].endpoint, p.endpoint);
  EXPECT_EQ(s.peers[0].persistent_keepalive_interval, 25);
  // Insertion order, as `wg showconf` printed them.
  EXPECT_EQ(s.peers[0].allowed_ips, p.allowed_ips);
  EXPECT_EQ(s.peers[0].last_handshake_time_sec, 0);
}

TEST_F(DeviceUapiTest, PrivateKeyIsStoredClamped) {
  UapiKey raw;
  raw.fill(0xff);
  DeviceChange c;
  c.private_key = UapiSecret(raw);
  ASSERT_EQ(uapi_a_.applySet(c), 0);
  const UapiKey got = uapi_a_.getState().private_key.bytes();
  EXPECT_EQ(got[0], 0xf8);
  EXPECT_EQ(got[31], 0x7f);
}

TEST_F(DeviceUapiTest, TakenListenPortAnswersEaddrinuseAndChangesNothing) {
  DeviceChange first;
  first.listen_port = 51820;
  ASSERT_EQ(uapi_a_.applySet(first), 0);
  const DeviceState before = uapi_a_.getState();

  a_.io.taken_ports.insert(5555);
  DeviceChange c;
  c.private_key = secretOf(generatePrivateKey());
  c.listen_port = 5555;
  c.replace_peers = true;
  c.peers.push_back(peerB());
  EXPECT_EQ(uapi_a_.applySet(c), EADDRINUSE);
  EXPECT_EQ(uapi_a_.getState(), before);
  EXPECT_EQ(a_.device.peerCount(), 0u);
}

TEST_F(DeviceUapiTest, PeerWithTheDevicesOwnKeyIsIgnored) {
  DeviceChange c;
  PeerChange self;
  self.public_key = keyBytes(a_.publicKey());
  self.allowed_ips = {cidr("10.9.0.0/24")};
  c.peers.push_back(self);
  c.peers.push_back(peerB());
  ASSERT_EQ(uapi_a_.applySet(c), 0);
  const DeviceState s = uapi_a_.getState();
  ASSERT_EQ(s.peers.size(), 1u);
  EXPECT_EQ(s.peers[0].public_key, keyBytes(b_.publicKey()));
}

TEST_F(DeviceUapiTest, UpdateOnlyAndRemoveOfAnUnknownPeerAreNoOps) {
  DeviceChange c;
  PeerChange update = peerB();
  update.update_only = true;
  c.peers.push_back(update);
  PeerChange remove;
  remove.public_key = keyBytes(publicKeyOf(generatePrivateKey()));
  remove.remove = true;
  c.peers.push_back(remove);
  EXPECT_EQ(uapi_a_.applySet(c), 0);
  EXPECT_EQ(a_.device.peerCount(), 0u);
}

TEST_F(DeviceUapiTest, ReplacePeersAndReplaceAllowedIps) {
  DeviceChange c;
  c.peers.push_back(peerB());
  PeerChange other;
  other.public_key = keyBytes(publicKeyOf(generatePrivateKey()));
  other.allowed_ips = {cidr("10.0.0.3/32")};
  c.peers.push_back(other);
  ASSERT_EQ(uapi_a_.applySet(c), 0);
  ASSERT_EQ(a_.device.peerCount(), 2u);

  DeviceChange replace;
  replace.replace_peers = true;
  PeerChange b = peerB();
  b.replace_allowed_ips = true;
  b.allowed_ips = {cidr("10.0.5.0/24")};
  replace.peers.push_back(b);
  ASSERT_EQ(uapi_a_.applySet(replace), 0);
  const DeviceState s = uapi_a_.getState();
  ASSERT_EQ(s.peers.size(), 1u);
  EXPECT_EQ(s.peers[0].allowed_ips, std::vector<core::Cidr>{cidr("10.0.5.0/24")});
}

TEST_F(DeviceUapiTest, ZeroPrivateKeyRemovesIt) {
  DeviceChange c;
  c.private_key = UapiSecret();
  ASSERT_EQ(uapi_a_.applySet(c), 0);
  EXPECT_TRUE(uapi_a_.getState().private_key.isZero());
  EXPECT_FALSE(a_.device.publicKey().has_value());
}

TEST_F(DeviceUapiTest, GetReportsHandshakeTimeAndBytesBothSidesAgreeOn) {
  DeviceChange c;
  c.peers.push_back(peerB());
  ASSERT_EQ(uapi_a_.applySet(c), 0);
  PeerConfig to_a;
  to_a.public_key = a_.publicKey();
  to_a.allowed_ips = {cidr("10.0.0.1/32")};
  ASSERT_TRUE(b_.device.addOrUpdatePeer(to_a).ok());

  a_.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 100));
  net_.pump();
  b_.device.handleOutgoing(ipv4("10.0.0.2", "10.0.0.1", 300));
  net_.pump();
  ASSERT_EQ(b_.io.tun.size(), 1u);
  ASSERT_EQ(a_.io.tun.size(), 1u);

  DeviceUapi uapi_b(b_.device);
  const PeerState at_a = uapi_a_.getState().peers.at(0);
  const PeerState at_b = uapi_b.getState().peers.at(0);
  EXPECT_EQ(at_a.last_handshake_time_sec, core::unixSeconds(clock_.now()));
  EXPECT_GT(at_a.tx_bytes, 100u);
  EXPECT_GT(at_a.rx_bytes, 300u);
  EXPECT_EQ(at_a.tx_bytes, at_b.rx_bytes);
  EXPECT_EQ(at_a.rx_bytes, at_b.tx_bytes);
  EXPECT_EQ(at_b.endpoint, a_.io.address());
}

}  // namespace
}  // namespace aureo::wireguard
