#include "node/reconcile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "core/testing/fake_clock.h"
#include "wireguard/keys.h"
#include "wireguard/testing/memory_network.h"

namespace aureo::node {
namespace {

using wireguard::testing::MemoryNetwork;
using wireguard::testing::Node;

std::string b64(const wireguard::PublicKey& k) {
  return wireguard::toBase64(k.span());
}

std::string newKey() {
  return b64(wireguard::publicKeyOf(wireguard::generatePrivateKey()));
}

DesiredPeer peer(std::string key, std::vector<std::string> ips) {
  return DesiredPeer{"session-" + key.substr(0, 6), std::move(key), std::move(ips)};
}

std::vector<std::string> allowedOf(const wireguard::Device& d, const std::string& key) {
  auto stats = d.peerStats(*wireguard::parsePublicKey(key));
  if (!stats) return {};
  std::vector<std::string> out;
  for (const auto& c : stats->allowed_ips) out.push_back(c.toString());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint8_t> ipv4Packet(const char* src, const char* dst, size_t payload) {
  std::vector<uint8_t> p(20 + payload, 0xab);
  std::fill(p.begin(), p.begin() + 20, 0);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
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

class ReconcileTest : public ::testing::Test {
 protected:
  ReconcileOptions options() const {
    ReconcileOptions o;
    o.tunnel_prefixes = {*core::Cidr::parse("10.8.0.0/16"), *core::Cidr::parse("fd00:8::/64")};
    return o;
  }

  core::testing::FakeClock clock;
  Node server{clock, *wireguard::Endpoint::parse("192.0.2.1:51820")};
};

TEST_F(ReconcileTest, AddsEveryDesiredPeerWithItsAllowedIps) {
  const auto a = newKey();
  const auto b = newKey();
  DesiredState want{3, {peer(a, {"10.8.0.2/32", "fd00:8::2/128"}), peer(b, {"10.8.0.3/32"})}};
  const auto r = reconcilePeers(server.device, want, options());
  EXPECT_EQ(r.added, 2);
  EXPECT_EQ(r.removed + r.updated + r.invalid + r.failed, 0);
  EXPECT_EQ(server.device.peerCount(), 2u);
  EXPECT_EQ(allowedOf(server.device, a),
            (std::vector<std::string>{"10.8.0.2/32", "fd00:8::2/128"}));
  EXPECT_EQ(allowedOf(server.device, b), (std::vector<std::string>{"10.8.0.3/32"}));
}

TEST_F(ReconcileTest, SameStateTwiceChangesNothing) {
  DesiredState want{1, {peer(newKey(), {"10.8.0.2/32"})}};
  reconcilePeers(server.device, want, options());
  const auto r = reconcilePeers(server.device, want, options());
  EXPECT_FALSE(r.changed());
  EXPECT_EQ(server.device.peerCount(), 1u);
}

TEST_F(ReconcileTest, RemovesPeersNoLongerListedAndUpdatesMovedAddresses) {
  const auto a = newKey();
  const auto b = newKey();
  reconcilePeers(server.device, {1, {peer(a, {"10.8.0.2/32"}), peer(b, {"10.8.0.3/32"})}},
                 options());
  // b's session ended and its address went to a.
  const auto r =
      reconcilePeers(server.device, {2, {peer(a, {"10.8.0.2/32", "10.8.0.3/32"})}}, options());
  EXPECT_EQ(r.removed, 1);
  EXPECT_EQ(r.updated, 1);
  EXPECT_EQ(r.added, 0);
  EXPECT_FALSE(server.device.peerStats(*wireguard::parsePublicKey(b)).has_value());
  EXPECT_EQ(allowedOf(server.device, a), (std::vector<std::string>{"10.8.0.2/32", "10.8.0.3/32"}));
}

TEST_F(ReconcileTest, EmptyStateRemovesEveryPeer) {
  reconcilePeers(server.device,
                 {1, {peer(newKey(), {"10.8.0.2/32"}), peer(newKey(), {"10.8.0.9/32"})}},
                 options());
  const auto r = reconcilePeers(server.device, {2, {}}, options());
  EXPECT_EQ(r.removed, 2);
  EXPECT_EQ(server.device.peerCount(), 0u);
}

TEST_F(ReconcileTest, SkipsMalformedOrForeignEntriesAndKeepsTheRest) {
  const auto good = newKey();
  const auto own = b64(server.publicKey());
  DesiredState want{1,
                    {peer(good, {"10.8.0.2/32"}), peer("not-a-key", {"10.8.0.3/32"}),
                     peer(newKey(), {"0.0.0.0/0"}),       // would capture every destination
                     peer(newKey(), {"192.168.1.5/32"}),  // outside the tunnel
                     peer(newKey(), {"10.8.0.4/40"}),     // not a CIDR
                     peer(newKey(), {}), peer(own, {"10.8.0.5/32"})}};
  const auto r = reconcilePeers(server.device, want, options());
  EXPECT_EQ(r.added, 1);
  EXPECT_EQ(r.invalid, 6);
  EXPECT_EQ(server.device.peerCount(), 1u);
  EXPECT_EQ(allowedOf(server.device, good), (std::vector<std::string>{"10.8.0.2/32"}));
}

TEST_F(ReconcileTest, DrainingRefusesNewPeersButKeepsAndRemovesOthers) {
  const auto kept = newKey();
  const auto gone = newKey();
  reconcilePeers(server.device, {1, {peer(kept, {"10.8.0.2/32"}), peer(gone, {"10.8.0.3/32"})}},
                 options());
  auto draining = options();
  draining.accept_new_peers = false;
  const auto r = reconcilePeers(
      server.device, {2, {peer(kept, {"10.8.0.2/32"}), peer(newKey(), {"10.8.0.4/32"})}}, draining);
  EXPECT_EQ(r.refused, 1);
  EXPECT_EQ(r.removed, 1);
  EXPECT_EQ(r.added, 0);
  EXPECT_EQ(server.device.peerCount(), 1u);
  EXPECT_TRUE(server.device.peerStats(*wireguard::parsePublicKey(kept)).has_value());
}

TEST_F(ReconcileTest, RemovedPeerHandsBackTheBytesItMoved) {
  Node client{clock, *wireguard::Endpoint::parse("198.51.100.7:40000")};
  MemoryNetwork net;
  net.add(server);
  net.add(client);
  wireguard::PeerConfig to_server;
  to_server.public_key = server.publicKey();
  to_server.endpoint = server.io.address();
  to_server.allowed_ips = {*core::Cidr::parse("0.0.0.0/0")};
  ASSERT_TRUE(client.device.addOrUpdatePeer(to_server).ok());
  const auto key = b64(client.publicKey());
  reconcilePeers(server.device, {1, {peer(key, {"10.8.0.2/32"})}}, options());

  client.device.handleOutgoing(ipv4Packet("10.8.0.2", "203.0.113.9", 100));
  net.pump();
  ASSERT_EQ(server.io.tun.size(), 1u) << "the packet went through the tunnel";
  const auto stats = server.device.peerStats(*wireguard::parsePublicKey(key));
  ASSERT_TRUE(stats && stats->rx_bytes > 0);

  const auto r = reconcilePeers(server.device, {2, {}}, options());
  EXPECT_EQ(r.removed, 1);
  EXPECT_EQ(r.removed_rx_bytes, stats->rx_bytes);
  EXPECT_EQ(r.removed_tx_bytes, stats->tx_bytes);
}

}  // namespace
}  // namespace aureo::node
