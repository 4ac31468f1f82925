#include "wireguard/udp.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <set>
#include <vector>

namespace aureo::wireguard {
namespace {

using Bytes = std::vector<uint8_t>;

Endpoint ep(std::string_view text) {
  auto e = Endpoint::parse(text);
  EXPECT_TRUE(e.has_value()) << text;
  return e.value_or(Endpoint{});
}

UdpSocket openOrDie(UdpOptions o) {
  auto s = UdpSocket::open(o);
  if (!s.ok()) ADD_FAILURE() << s.error().toString();
  return std::move(s).value();
}

Bytes payload(size_t index, size_t size) {
  Bytes b(size);
  for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(index * 31 + i);
  return b;
}

struct Received {
  Bytes data;
  Endpoint from;
};

// Receives until want datagrams arrived (poll keeps this from spinning; the
// generous deadline only guards against a hang).
std::vector<Received> receiveAll(UdpSocket& s, size_t want, size_t* gro_slots = nullptr) {
  std::vector<Received> got;
  RecvBatch batch(16);
  for (int rounds = 0; got.size() < want && rounds < 200; ++rounds) {
    pollfd p{s.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int n = s.receive(batch);
    EXPECT_GE(n, 0);
    if (gro_slots) *gro_slots += batch.groSlots();
    for (size_t i = 0; i < batch.size(); ++i) {
      got.push_back({Bytes(batch.data(i).begin(), batch.data(i).end()), batch.from(i)});
    }
  }
  return got;
}

TEST(Endpoint, ParsesAndFormatsBothFamilies) {
  EXPECT_EQ(ep("192.0.2.1:51820").toString(), "192.0.2.1:51820");
  EXPECT_EQ(ep("[2001:db8::1]:443").toString(), "[2001:db8::1]:443");
  // A v4-mapped address is a v4 peer.
  EXPECT_EQ(ep("[::ffff:10.1.2.3]:5").toString(), "10.1.2.3:5");
  EXPECT_TRUE(ep("[::ffff:10.1.2.3]:5").address.isV4());
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "[::1]", "::1:80",
                          "[1.2.3.4]:80", "[fe80::1%eth0]:80", "host.example:80", "1.2.3.4:-1"}) {
    EXPECT_FALSE(Endpoint::parse(bad).has_value()) << bad;
  }
}

TEST(Endpoint, SockaddrRoundTripMapsV4OnDualStack) {
  const Endpoint v4 = ep("127.0.0.1:1234");
  sockaddr_storage ss;
  socklen_t len = v4.toSockaddr(&ss, true);
  EXPECT_EQ(ss.ss_family, AF_INET6);
  EXPECT_EQ(Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len), v4);
  len = v4.toSockaddr(&ss, false);
  EXPECT_EQ(ss.ss_family, AF_INET);
  EXPECT_EQ(Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len), v4);
}

class UdpBatch : public ::testing::TestWithParam<std::tuple<bool, bool, bool>> {};

TEST_P(UdpBatch, DeliversEveryDatagramInOrderWithSender) {
  const auto [gso, gro, v6] = GetParam();
  UdpOptions ro;
  ro.gro = gro;
  UdpSocket rx = openOrDie(ro);
  UdpOptions so;
  so.gso = gso;
  so.family = v6 ? UdpFamily::kV6Only : UdpFamily::kV4;
  UdpSocket tx = openOrDie(so);
  ASSERT_GT(rx.localPort(), 0);
  EXPECT_EQ(rx.groEnabled(), gro);
  EXPECT_EQ(tx.gsoEnabled(), gso);

  const Endpoint dst = ep((v6 ? "[::1]:" : "127.0.0.1:") + std::to_string(rx.localPort()));
  // 40 equal datagrams and a short tail (one GSO run), then a different size.
  std::vector<Bytes> bufs;
  for (size_t i = 0; i < 40; ++i) bufs.push_back(payload(i, 1200));
  bufs.push_back(payload(40, 333));
  bufs.push_back(payload(41, 1400));
  bufs.push_back(payload(42, 1400));
  std::vector<OutgoingDatagram> out;
  for (const auto& b : bufs) out.push_back({dst, b});
  SendBatch sb(64);
  ASSERT_EQ(tx.send(out, sb), static_cast<int>(out.size()));

  size_t gro_slots = 0;
  const auto got = receiveAll(rx, out.size(), &gro_slots);
  ASSERT_EQ(got.size(), out.size());
  const Endpoint sender = ep((v6 ? "[::1]:" : "127.0.0.1:") + std::to_string(tx.localPort()));
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data, bufs[i]) << i;
    EXPECT_EQ(got[i].from, sender) << i;
    EXPECT_EQ(got[i].from.address.isV4(), !v6);
  }
  // Over loopback a GSO send reaches a GRO socket as one super-datagram.
  if (gso && gro) {
    EXPECT_GT(gro_slots, 0u);
  } else {
    EXPECT_EQ(gro_slots, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Offloads, UdpBatch,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(),
                                            ::testing::Bool()));

TEST(UdpSocket, DualStackSendsToBothFamilies) {
  UdpSocket a = openOrDie({});
  UdpOptions v4o;
  v4o.family = UdpFamily::kV4;
  UdpSocket b4 = openOrDie(v4o);
  UdpOptions v6o;
  v6o.family = UdpFamily::kV6Only;
  UdpSocket b6 = openOrDie(v6o);
  ASSERT_TRUE(a.dualStack());
  const Bytes m4 = payload(1, 100), m6 = payload(2, 200);
  const std::vector<OutgoingDatagram> out = {
      {ep("127.0.0.1:" + std::to_string(b4.localPort())), m4},
      {ep("[::1]:" + std::to_string(b6.localPort())), m6}};
  SendBatch sb;
  ASSERT_EQ(a.send(out, sb), 2);
  const auto g4 = receiveAll(b4, 1);
  const auto g6 = receiveAll(b6, 1);
  ASSERT_EQ(g4.size(), 1u);
  ASSERT_EQ(g6.size(), 1u);
  EXPECT_EQ(g4[0].data, m4);
  EXPECT_EQ(g6[0].data, m6);
  EXPECT_EQ(g6[0].from.toString(), "[::1]:" + std::to_string(a.localPort()));
}

TEST(UdpSocket, RejectsAddressFamilyItCannotReach) {
  UdpOptions v4o;
  v4o.family = UdpFamily::kV4;
  UdpSocket s = openOrDie(v4o);
  const Bytes m = payload(0, 10);
  const std::vector<OutgoingDatagram> out = {{ep("[::1]:9"), m}};
  SendBatch sb;
  EXPECT_EQ(s.send(out, sb), -EAFNOSUPPORT);
  UdpOptions bad;
  bad.family = UdpFamily::kV4;
  bad.bind_address = core::IpAddress::parse("::1");
  EXPECT_FALSE(UdpSocket::open(bad).ok());
}

TEST(UdpSocket, ReusePortLetsWorkersShareAPortAndSplitsTraffic) {
  UdpSocket first = openOrDie({});
  UdpOptions o;
  o.port = first.localPort();
  UdpSocket second = openOrDie(o);
  EXPECT_EQ(second.localPort(), first.localPort());

  o.reuse_port = false;
  EXPECT_EQ(UdpSocket::open(o).error().code, core::Code::kAlreadyExists);

  // Many senders (distinct source ports) so the reuseport hash spreads them.
  constexpr size_t kSenders = 32;
  std::vector<UdpSocket> senders;
  SendBatch sb;
  const Endpoint dst = ep("127.0.0.1:" + std::to_string(first.localPort()));
  for (size_t i = 0; i < kSenders; ++i) {
    UdpOptions so;
    so.family = UdpFamily::kV4;
    senders.push_back(openOrDie(so));
    const Bytes m = payload(i, 64);
    const std::vector<OutgoingDatagram> out = {{dst, m}};
    ASSERT_EQ(senders.back().send(out, sb), 1);
  }
  std::set<uint16_t> ports_first, ports_second;
  RecvBatch rb;
  for (int rounds = 0; ports_first.size() + ports_second.size() < kSenders && rounds < 100;
       ++rounds) {
    pollfd p[2] = {{first.fd(), POLLIN, 0}, {second.fd(), POLLIN, 0}};
    if (::poll(p, 2, 100) <= 0) continue;
    for (auto [sock, set] : {std::pair{&first, &ports_first}, std::pair{&second, &ports_second}}) {
      ASSERT_GE(sock->receive(rb), 0);
      for (size_t i = 0; i < rb.size(); ++i) set->insert(rb.from(i).port);
    }
  }
  EXPECT_EQ(ports_first.size() + ports_second.size(), kSenders);
  EXPECT_FALSE(ports_first.empty());
  EXPECT_FALSE(ports_second.empty());
}

TEST(UdpSocket, GsoIsSwitchedOffWhenTheKernelRefusesIt) {
  // The kernel refuses UDP_SEGMENT on a socket without checksums (EINVAL).
  UdpOptions so;
  so.family = UdpFamily::kV4;
  UdpSocket tx = openOrDie(so);
  ASSERT_TRUE(tx.gsoEnabled());
  int one = 1;
  ASSERT_EQ(setsockopt(tx.fd(), SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)), 0);
  UdpSocket rx = openOrDie({});
  const Endpoint dst = ep("127.0.0.1:" + std::to_string(rx.localPort()));
  std::vector<Bytes> bufs;
  for (size_t i = 0; i < 5; ++i) bufs.push_back(payload(i, 500));
  std::vector<OutgoingDatagram> out;
  for (const auto& b : bufs) out.push_back({dst, b});
  SendBatch sb;
  ASSERT_EQ(tx.send(out, sb), 5);
  EXPECT_FALSE(tx.gsoEnabled());
  const auto got = receiveAll(rx, 5);
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(got[i].data, bufs[i]);
  ASSERT_EQ(tx.send(out, sb), 5);  // and keeps working without it
  EXPECT_EQ(receiveAll(rx, 5).size(), 5u);
}

TEST(UdpSocket, ReceiveOnEmptySocketReturnsZero) {
  UdpSocket s = openOrDie({});
  RecvBatch rb(4);
  EXPECT_EQ(s.receive(rb), 0);
  EXPECT_EQ(rb.size(), 0u);
}

}  // namespace
}  // namespace aureo::wireguard
