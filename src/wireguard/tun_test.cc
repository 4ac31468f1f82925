// Needs CAP_NET_ADMIN (label netns): creates real TUN devices and drives the
// kernel's TCP/UDP stacks through them.
#include "wireguard/tun.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "wireguard/offload.h"
#include "wireguard/udp.h"

namespace aureo::wireguard {
namespace {

using Bytes = std::vector<uint8_t>;

std::string uniqueName(const char* prefix) {
  return std::string(prefix) + std::to_string(::getpid() % 100000);
}

void sh(const std::string& cmd) {
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

std::unique_ptr<TunDevice> openTun(const std::string& name, size_t queues, bool offload = true) {
  auto t = TunDevice::open({name, queues, offload});
  if (!t.ok()) {
    ADD_FAILURE() << t.error().toString();
    return nullptr;
  }
  return std::move(t).value();
}

// Reads frames from any queue until pred accepts one (or ~10 s pass).
template <typename Pred>
Bytes readFrame(TunDevice& tun, Pred pred) {
  Bytes buf(kTunMaxFrame);
  for (int rounds = 0; rounds < 100; ++rounds) {
    std::vector<pollfd> p;
    for (size_t q = 0; q < tun.queueCount(); ++q) p.push_back({tun.queueFd(q), POLLIN, 0});
    if (::poll(p.data(), p.size(), 100) <= 0) continue;
    for (size_t q = 0; q < tun.queueCount(); ++q) {
      for (;;) {
        const int n = tun.read(q, buf);
        if (n <= 0) break;
        Bytes frame(buf.begin(), buf.begin() + n);
        if (pred(frame)) return frame;
      }
    }
  }
  return {};
}

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

TEST(TunName, ValidatesLikeTheKernel) {
  EXPECT_TRUE(validateInterfaceName("wg0").ok());
  EXPECT_TRUE(validateInterfaceName("aureo-node_1.x").ok());
  EXPECT_TRUE(validateInterfaceName(std::string(15, 'a')).ok());
  for (const std::string& bad : {std::string(), std::string(16, 'a'), std::string("."),
                                 std::string(".."), std::string("a/b"), std::string("a:1"),
                                 std::string("wg%d"), std::string("a b"), std::string("a\nb")}) {
    const auto s = validateInterfaceName(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.error().code, core::Code::kInvalidArgument);
    }
  }
  EXPECT_FALSE(TunDevice::open({"bad/name", 1, true}).ok());
  EXPECT_FALSE(TunDevice::open({"wgq0", 0, true}).ok());
}

TEST(Tun, OpensQueuesReportsIndexAndControlsMtuAndFlags) {
  const std::string name = uniqueName("aut");
  auto tun = openTun(name, 3);
  ASSERT_NE(tun, nullptr);
  EXPECT_EQ(tun->queueCount(), 3u);
  EXPECT_EQ(tun->ifindex(), static_cast<int>(if_nametoindex(name.c_str())));
  EXPECT_TRUE(tun->offloadEnabled());
  ASSERT_TRUE(tun->setMtu(1420).ok());
  EXPECT_EQ(tun->mtu().value(), 1420);
  EXPECT_FALSE(tun->setMtu(10).ok());
  ASSERT_TRUE(tun->setUp(true).ok());
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(::ioctl(s, SIOCGIFFLAGS, &ifr), 0);
  EXPECT_NE(ifr.ifr_flags & IFF_UP, 0);
  ::close(s);
  ASSERT_TRUE(tun->setUp(false).ok());
  // The kernel may have queued its own IPv6 chatter (MLD, router
  // solicitations) while the link was up; once that is read, a non-blocking
  // read says nothing is left.
  Bytes buf(kTunMaxFrame);
  int got = 0;
  for (int i = 0; i < 64; ++i) {
    got = tun->read(0, buf);
    if (got <= 0) break;
  }
  EXPECT_EQ(got, 0);
  tun.reset();
  EXPECT_EQ(if_nametoindex(name.c_str()), 0u) << "interface goes away with its fds";
}

class TunTraffic : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = uniqueName("aut");
    tun_ = openTun(name_, 2);
    ASSERT_NE(tun_, nullptr);
    sh("ip addr add 10.201.7.1/24 dev " + name_);
    ASSERT_TRUE(tun_->setUp(true).ok());
  }
  std::string name_;
  std::unique_ptr<TunDevice> tun_;
};

TEST_F(TunTraffic, KernelUdpArrivesWithVirtioHeaderAndValidChecksums) {
  UdpOptions o;
  o.family = UdpFamily::kV4;
  auto sock = UdpSocket::open(o);
  ASSERT_TRUE(sock.ok());
  const Bytes payload(3000, 0x5a);
  std::vector<OutgoingDatagram> out;
  const Endpoint dst = Endpoint::parse("10.201.7.2:9999").value();
  for (int i = 0; i < 3; ++i) out.push_back({dst, {payload.data(), 1000}});
  SendBatch sb;
  ASSERT_EQ(sock->send(out, sb), 3);

  // With USO the three datagrams may arrive as one GSO_UDP_L4 frame; either
  // way segmentation must yield three valid 1000-byte datagrams.
  size_t datagrams = 0;
  for (int frames = 0; frames < 3 && datagrams < 3; ++frames) {
    const Bytes f = readFrame(*tun_, [](const Bytes& fr) {
      return fr.size() > kVirtioNetHdrLen + 28 && (fr[kVirtioNetHdrLen] >> 4) == 4 &&
             fr[kVirtioNetHdrLen + 9] == 17;
    });
    ASSERT_FALSE(f.empty());
    VirtioNetHdr h;
    ASSERT_TRUE(VirtioNetHdr::decode(f, &h));
    std::vector<Bytes> storage(8, Bytes(2048));
    std::vector<std::span<uint8_t>> segs(storage.begin(), storage.end());
    std::vector<size_t> lens(8);
    const auto r = segmentPacket(h, std::span(f).subspan(kVirtioNetHdrLen), segs, lens);
    ASSERT_TRUE(r.ok()) << offloadErrorName(r.error);
    for (size_t i = 0; i < r.count; ++i) {
      const uint8_t* p = storage[i].data();
      ASSERT_EQ(lens[i], 20u + 8 + 1000);
      EXPECT_EQ(ipv4HeaderChecksum({p, 20}), 0);
      EXPECT_EQ(transportChecksum(17, {p + 12, 4}, {p + 16, 4}, {p + 20, lens[i] - 20}), 0);
      EXPECT_EQ(get16(p + 22), 9999);
      ++datagrams;
    }
  }
  EXPECT_EQ(datagrams, 3u);
}

TEST_F(TunTraffic, UdpGsoRunAboveRouteMtuIsResentWithoutGso) {
  // A segment size above the route's MTU makes the kernel refuse a
  // UDP_SEGMENT send (EMSGSIZE); the datagrams must still go, plainly (the
  // kernel then fragments them), and GSO stays on for other routes.
  const std::string plain = uniqueName("aup");
  auto tun = openTun(plain, 1, false);
  ASSERT_NE(tun, nullptr);
  EXPECT_FALSE(tun->offloadEnabled());
  sh("ip addr add 10.201.8.1/24 dev " + plain);
  ASSERT_TRUE(tun->setMtu(576).ok());
  ASSERT_TRUE(tun->setUp(true).ok());
  UdpOptions o;
  o.family = UdpFamily::kV4;
  auto sock = UdpSocket::open(o);
  ASSERT_TRUE(sock.ok());
  ASSERT_TRUE(sock->gsoEnabled());
  const Bytes payload(1000, 0x11);
  const Endpoint dst = Endpoint::parse("10.201.8.2:7777").value();
  std::vector<OutgoingDatagram> out(4, OutgoingDatagram{dst, payload});
  SendBatch sb;
  EXPECT_EQ(sock->send(out, sb), 4);
  EXPECT_TRUE(sock->gsoEnabled());
  size_t first_fragments = 0;
  while (first_fragments < 4) {
    const Bytes f = readFrame(*tun, [](const Bytes& fr) {
      // UDP, fragment offset 0 with More Fragments set.
      return fr.size() > kVirtioNetHdrLen + 28 && fr[kVirtioNetHdrLen + 9] == 17 &&
             (get16(&fr[kVirtioNetHdrLen + 6]) & 0x3fff) == 0x2000;
    });
    if (f.empty()) break;
    EXPECT_EQ(get16(&f[kVirtioNetHdrLen + 24]), 1008) << "UDP length of the whole datagram";
    ++first_fragments;
  }
  EXPECT_EQ(first_fragments, 4u);
}

// Plays the remote end of a TCP connection by hand through the TUN: the
// kernel's TSO super-packets must segment into valid packets, and our
// coalesced super-packet must be accepted by the kernel's TCP stack.
TEST_F(TunTraffic, TcpTsoOutAndCoalescedWritesInWorkWithTheKernel) {
  const int cli = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(5555);
  inet_pton(AF_INET, "10.201.7.2", &dst.sin_addr);
  ::connect(cli, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));

  auto isTcp = [](const Bytes& fr) {
    return fr.size() >= kVirtioNetHdrLen + 40 && (fr[kVirtioNetHdrLen] >> 4) == 4 &&
           fr[kVirtioNetHdrLen + 9] == 6;
  };
  const Bytes syn = readFrame(*tun_, isTcp);
  ASSERT_FALSE(syn.empty());
  const uint8_t* sp = syn.data() + kVirtioNetHdrLen;
  ASSERT_NE(sp[20 + 13] & 0x02, 0) << "expected a SYN";
  const uint16_t cport = get16(sp + 20);
  const uint32_t cseq = get32(sp + 24);
  uint32_t our_seq = 0x10000000;

  // Builds a packet from 10.201.7.2:5555 to the client with full checksums.
  uint16_t ip_id = 1;
  auto makePacket = [&](uint8_t flags, uint32_t seq, uint32_t ack, const Bytes& data,
                        bool mss_option) {
    const size_t thl = mss_option ? 24 : 20;
    Bytes p(20 + thl + data.size(), 0);
    p[0] = 0x45;
    put16(&p[2], static_cast<uint16_t>(p.size()));
    put16(&p[4], ip_id++);
    p[8] = 64;
    p[9] = 6;
    std::memcpy(&p[12], sp + 16, 4);  // our address = the SYN's destination
    std::memcpy(&p[16], sp + 12, 4);
    put16(&p[10], ipv4HeaderChecksum({p.data(), 20}));
    put16(&p[20], 5555);
    put16(&p[22], cport);
    put32(&p[24], seq);
    put32(&p[28], ack);
    p[32] = static_cast<uint8_t>((thl / 4) << 4);
    p[33] = flags;
    put16(&p[34], 65535);
    if (mss_option) {
      p[40] = 2;
      p[41] = 4;
      put16(&p[42], 1400);
    }
    if (!data.empty()) std::memcpy(&p[20 + thl], data.data(), data.size());
    put16(&p[36], transportChecksum(6, {&p[12], 4}, {&p[16], 4}, {&p[20], p.size() - 20}));
    return p;
  };
  auto writePlain = [&](const Bytes& pkt) {
    Bytes frame(kVirtioNetHdrLen, 0);
    frame.insert(frame.end(), pkt.begin(), pkt.end());
    ASSERT_EQ(tun_->write(0, frame), static_cast<int>(frame.size()));
  };
  writePlain(makePacket(0x12, our_seq, cseq + 1, {}, true));  // SYN-ACK
  our_seq += 1;
  pollfd pw{cli, POLLOUT, 0};
  ASSERT_EQ(::poll(&pw, 1, 10000), 1);
  int soerr = 0;
  socklen_t sl = sizeof(soerr);
  ::getsockopt(cli, SOL_SOCKET, SO_ERROR, &soerr, &sl);
  ASSERT_EQ(soerr, 0) << "handshake failed";

  // Kernel -> TUN: one write of 12000 bytes goes out as TSO super-packets.
  Bytes data(12000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  ASSERT_EQ(::send(cli, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  Bytes received;
  bool saw_gso = false;
  uint32_t expect_seq = cseq + 1;
  while (received.size() < data.size()) {
    const Bytes f = readFrame(
        *tun_, [&](const Bytes& fr) { return isTcp(fr) && fr.size() > kVirtioNetHdrLen + 52; });
    ASSERT_FALSE(f.empty()) << "got " << received.size() << " bytes";
    VirtioNetHdr h;
    ASSERT_TRUE(VirtioNetHdr::decode(f, &h));
    saw_gso = saw_gso || h.gso_type == kVirtioNetHdrGsoTcpV4;
    std::vector<Bytes> storage(64, Bytes(2048));
    std::vector<std::span<uint8_t>> segs(storage.begin(), storage.end());
    std::vector<size_t> lens(64);
    const auto r = segmentPacket(h, std::span(f).subspan(kVirtioNetHdrLen), segs, lens);
    ASSERT_TRUE(r.ok()) << offloadErrorName(r.error);
    for (size_t i = 0; i < r.count; ++i) {
      const uint8_t* p = storage[i].data();
      ASSERT_LE(lens[i], 1440u);  // our MSS 1400 + headers
      EXPECT_EQ(ipv4HeaderChecksum({p, 20}), 0);
      EXPECT_EQ(transportChecksum(6, {p + 12, 4}, {p + 16, 4}, {p + 20, lens[i] - 20}), 0);
      if (get32(p + 24) != expect_seq) continue;  // a retransmission
      const size_t thl = static_cast<size_t>(p[32] >> 4) * 4;
      received.insert(received.end(), p + 20 + thl, p + lens[i]);
      expect_seq += static_cast<uint32_t>(lens[i] - 20 - thl);
    }
    writePlain(makePacket(0x10, our_seq, expect_seq, {}, false));  // ACK what we saw
  }
  EXPECT_EQ(received, data);
  EXPECT_TRUE(saw_gso) << "the kernel never handed us a TSO super-packet";

  // TUN -> kernel: ten in-order segments coalesced into one GSO write.
  Bytes sent;
  std::vector<Bytes> pkts;
  for (int i = 0; i < 10; ++i) {
    Bytes chunk(1000);
    for (auto& b : chunk) b = static_cast<uint8_t>(i + 3 * sent.size() + (&b - chunk.data()));
    pkts.push_back(makePacket(i == 9 ? 0x18 : 0x10, our_seq, expect_seq, chunk, false));
    sent.insert(sent.end(), chunk.begin(), chunk.end());
    our_seq += 1000;
  }
  std::vector<std::span<const uint8_t>> views(pkts.begin(), pkts.end());
  Bytes out(coalesceBufferSize(views.size(), 20000));
  std::vector<std::span<const uint8_t>> writes(views.size());
  const auto c = coalescePackets(views, out, writes);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.writes, 1u);
  ASSERT_EQ(tun_->write(1, writes[0]), static_cast<int>(writes[0].size()));
  Bytes got;
  while (got.size() < sent.size()) {
    pollfd pr{cli, POLLIN, 0};
    if (::poll(&pr, 1, 10000) != 1) break;
    uint8_t buf[16384];
    const ssize_t n = ::recv(cli, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.insert(got.end(), buf, buf + n);
  }
  EXPECT_EQ(got, sent);
  ::close(cli);
}

TEST(TunNamespace, FdsKeepWorkingAfterTheInterfaceMovesNetns) {
  const std::string ns = uniqueName("aurons");
  const std::string name = uniqueName("aum");
  sh("ip netns add " + ns);
  auto tun = openTun(name, 1);
  ASSERT_NE(tun, nullptr);
  sh("ip link set " + name + " netns " + ns);
  sh("ip -n " + ns + " addr add 10.201.9.1/24 dev " + name);
  sh("ip -n " + ns + " link set " + name + " up");
  // A ping inside the namespace must come out of our (original-netns) fd.
  sh("ip netns exec " + ns + " ping -c 1 -W 1 10.201.9.2 >/dev/null 2>&1 || true");
  const Bytes f = readFrame(*tun, [](const Bytes& fr) {
    return fr.size() >= kVirtioNetHdrLen + 28 && fr[kVirtioNetHdrLen + 9] == 1 &&
           fr[kVirtioNetHdrLen + 19] == 2;
  });
  EXPECT_FALSE(f.empty());
  tun.reset();
  sh("ip netns del " + ns);
}

TEST(UdpPrivileged, FwmarkIsSetAndCleared) {
  UdpOptions o;
  o.fwmark = 0x51820;
  auto s = UdpSocket::open(o);
  ASSERT_TRUE(s.ok()) << s.error().toString();
  uint32_t mark = 0;
  socklen_t len = sizeof(mark);
  ASSERT_EQ(getsockopt(s->fd(), SOL_SOCKET, SO_MARK, &mark, &len), 0);
  EXPECT_EQ(mark, 0x51820u);
  ASSERT_TRUE(s->setFwmark(0).ok());
  ASSERT_EQ(getsockopt(s->fd(), SOL_SOCKET, SO_MARK, &mark, &len), 0);
  EXPECT_EQ(mark, 0u);
}

}  // namespace
}  // namespace aureo::wireguard
