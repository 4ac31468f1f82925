// The forwarder against real UDP/TCP sockets on loopback: a small DNS
// server written here plays the upstreams, clients are plain sockets bound
// to 127.0.0.x source addresses.
#include "node/dns_forwarder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "node/dns_message.h"

namespace aureo::node {
namespace {

using Bytes = std::vector<uint8_t>;
using std::chrono::milliseconds;

constexpr const char* kClient = "127.0.0.2";    // inside the "tunnel" prefix
constexpr const char* kOutsider = "127.0.0.1";  // not

Bytes query(const std::string& name, uint16_t id) {
  Bytes m{
      static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    m.push_back(static_cast<uint8_t>(dot - start));
    m.insert(m.end(), name.begin() + static_cast<long>(start),
             name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  m.insert(m.end(), {0, 0, 1, 0, 1});
  return m;
}

// The name in the question of a message, dotted.
std::string questionName(const Bytes& m) {
  std::string out;
  for (size_t at = 12; at < m.size() && m[at] != 0; at += m[at] + 1u) {
    if (!out.empty()) out += '.';
    out.append(m.begin() + static_cast<long>(at) + 1,
               m.begin() + static_cast<long>(at) + 1 + m[at]);
  }
  return out;
}

// The IPv4 address of the first answer record, "" without one.
std::string answerAddress(const Bytes& m) {
  size_t at = 12;
  while (at < m.size() && m[at] != 0) at += m[at] + 1u;
  at += 5;  // root label, QTYPE, QCLASS
  if (m.size() < 12 || m[7] == 0 || at + 16 > m.size()) return "";
  at += 2 + 2 + 2 + 4 + 2;  // pointer, TYPE, CLASS, TTL, RDLENGTH
  return std::to_string(m[at]) + "." + std::to_string(m[at + 1]) + "." + std::to_string(m[at + 2]) +
         "." + std::to_string(m[at + 3]);
}

int rcode(const Bytes& m) {
  return m.size() >= 4 ? (m[3] & 0x0F) : -1;
}

sockaddr_in addr(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

uint16_t portOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// Bounds a wait that should end well before it; never the thing under test.
void setTimeout(int fd, milliseconds d) {
  timeval tv{static_cast<time_t>(d.count() / 1000),
             static_cast<suseconds_t>(d.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

bool readAll(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// A DNS server on 127.0.0.1 (UDP and TCP, one thread). It answers every
// A question with `address`, unless silent; with hold_until > 0 it keeps
// UDP queries until it has that many and then answers them last first; a
// liar answers with the right id but another question.
class TestDnsServer {
 public:
  explicit TestDnsServer(std::string address, bool silent = false, size_t hold_until = 0,
                         bool liar = false)
      : address_(std::move(address)), silent_(silent), hold_until_(hold_until), liar_(liar) {
    udp_ = socket(AF_INET, SOCK_DGRAM, 0);
    tcp_ = socket(AF_INET, SOCK_STREAM, 0);
    auto a = addr("127.0.0.1", 0);
    EXPECT_EQ(bind(udp_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(bind(tcp_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(tcp_, 16), 0);
    thread_ = std::thread([this] { run(); });
  }
  ~TestDnsServer() {
    stop_ = true;
    thread_.join();
    for (int fd : held_tcp_) close(fd);
    close(udp_);
    close(tcp_);
  }
  [[nodiscard]] DnsEndpoint udpEndpoint() const {
    return {*core::IpAddress::parse("127.0.0.1"), portOf(udp_)};
  }
  // The TCP port differs from the UDP one; tests use one transport at a time.
  [[nodiscard]] DnsEndpoint tcpEndpoint() const {
    return {*core::IpAddress::parse("127.0.0.1"), portOf(tcp_)};
  }
  std::vector<Bytes> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  Bytes answer(const Bytes& q) {
    Bytes r = q;
    r[2] = 0x81;
    r[3] = 0x80;
    r[7] = 1;  // ANCOUNT
    r[11] = 0;
    // Another first letter (not just another case, which still matches).
    if (liar_) r[13] = static_cast<uint8_t>(r[13] == 'z' ? 'y' : 'z');
    unsigned a[4] = {};
    sscanf(address_.c_str(), "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]);
    r.insert(r.end(),
             {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, static_cast<uint8_t>(a[0]),
              static_cast<uint8_t>(a[1]), static_cast<uint8_t>(a[2]), static_cast<uint8_t>(a[3])});
    return r;
  }

  void run() {
    std::vector<std::pair<Bytes, sockaddr_in>> held;
    while (!stop_) {
      pollfd fds[2] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}};
      if (poll(fds, 2, 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        Bytes buf(4096);
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const ssize_t n =
            recvfrom(udp_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n <= 0) continue;
        buf.resize(static_cast<size_t>(n));
        {
          std::lock_guard lock(mu_);
          seen_.push_back(buf);
        }
        if (silent_) continue;
        held.emplace_back(buf, from);
        if (held.size() < hold_until_) continue;
        for (auto it = held.rbegin(); it != held.rend(); ++it) {
          const Bytes r = answer(it->first);
          sendto(udp_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&it->second),
                 sizeof it->second);
        }
        held.clear();
      }
      if (fds[1].revents & POLLIN) {
        const int c = accept(tcp_, nullptr, nullptr);
        if (c < 0) continue;
        if (silent_) {
          held_tcp_.push_back(c);  // accepted, never answered
          continue;
        }
        setTimeout(c, milliseconds(5000));
        uint8_t prefix[2];
        Bytes q;
        if (readAll(c, prefix, 2)) {
          q.resize(size_t{prefix[0]} << 8 | prefix[1]);
          if (readAll(c, q.data(), q.size())) {
            {
              std::lock_guard lock(mu_);
              seen_.push_back(q);
            }
            Bytes r = answer(q);
            Bytes framed{static_cast<uint8_t>(r.size() >> 8), static_cast<uint8_t>(r.size())};
            framed.insert(framed.end(), r.begin(), r.end());
            (void)!write(c, framed.data(), framed.size());
          }
        }
        close(c);
      }
    }
  }

  std::string address_;
  bool silent_;
  size_t hold_until_;
  bool liar_;
  int udp_ = -1;
  int tcp_ = -1;
  std::vector<int> held_tcp_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Bytes> seen_;
  std::thread thread_;
};

// A UDP client socket bound to `source`.
class UdpClient {
 public:
  explicit UdpClient(const char* source) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    auto a = addr(source, 0);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~UdpClient() { close(fd_); }
  void send(const Bytes& m, uint16_t port) {
    auto to = addr("127.0.0.1", port);
    sendto(fd_, m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // nullopt if nothing came within `bound` (a hang guard, generous).
  std::optional<Bytes> receive(milliseconds bound = milliseconds(10'000)) {
    setTimeout(fd_, bound);
    Bytes buf(4096);
    const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

 private:
  int fd_ = -1;
};

// One query over TCP from `source`; nullopt when the connection closes first.
std::optional<Bytes> tcpQuery(int fd, const Bytes& q) {
  Bytes framed{static_cast<uint8_t>(q.size() >> 8), static_cast<uint8_t>(q.size())};
  framed.insert(framed.end(), q.begin(), q.end());
  if (write(fd, framed.data(), framed.size()) != static_cast<ssize_t>(framed.size())) return {};
  uint8_t prefix[2];
  if (!readAll(fd, prefix, 2)) return std::nullopt;
  Bytes r(size_t{prefix[0]} << 8 | prefix[1]);
  if (!readAll(fd, r.data(), r.size())) return std::nullopt;
  return r;
}

int tcpConnect(const char* source, uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  auto a = addr(source, 0);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  auto to = addr("127.0.0.1", port);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  setTimeout(fd, milliseconds(10'000));
  return fd;
}

// Polls until pred() holds; the bound only ends a hang.
bool eventually(const std::function<bool()>& pred) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

class DnsForwarderTest : public ::testing::Test {
 protected:
  std::unique_ptr<DnsForwarder> start(std::vector<DnsEndpoint> upstreams,
                                      milliseconds timeout = milliseconds(300),
                                      size_t max_inflight = 64, size_t max_tcp = 8) {
    DnsForwarderOptions o;
    o.listen = {{*core::IpAddress::parse("127.0.0.1"), 0}};
    o.allowed_sources = {*core::Cidr::parse("127.0.0.2/32")};
    o.upstreams = std::move(upstreams);
    o.upstream_timeout = timeout;
    o.max_inflight = max_inflight;
    o.max_tcp_connections = max_tcp;
    auto f = DnsForwarder::start(o, log_);
    EXPECT_TRUE(f.ok()) << f.error().message;
    return f.ok() ? std::move(*f) : nullptr;
  }
  static uint64_t dropped(const DnsForwarder& f, DnsDrop r) {
    return f.stats().drops[static_cast<size_t>(r)];
  }
  core::Logger& log_ = core::Logger::null();
};

TEST(DnsEndpoint, ParsesAddressesWithAndWithoutPort) {
  auto a = parseDnsEndpoint("1.1.1.1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, 53);
  auto b = parseDnsEndpoint("[2606:4700::1111]:5353");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->address.toString(), "2606:4700::1111");
  EXPECT_EQ(b->port, 5353);
  EXPECT_FALSE(parseDnsEndpoint("dns.example").ok());
  EXPECT_FALSE(parseDnsEndpoint("1.1.1.1:0").ok());
}

TEST_F(DnsForwarderTest, RelaysAnAnswerWithTheClientsIdOverUdp) {
  TestDnsServer up("192.0.2.10");
  auto f = start({up.udpEndpoint()});
  UdpClient c(kClient);
  c.send(query("www.test", 0xABCD), f->udpPort(0));
  auto r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(dns::messageId(*r), 0xABCD);
  EXPECT_EQ(questionName(*r), "www.test");
  EXPECT_EQ(answerAddress(*r), "192.0.2.10");
  EXPECT_EQ(f->stats().udp_queries, 1u);
  EXPECT_EQ(f->stats().answered, 1u);
}

TEST_F(DnsForwarderTest, ServesAnIpv6ListenAddressAndFiltersIpv6Sources) {
  TestDnsServer up("192.0.2.11");
  DnsForwarderOptions o;
  o.listen = {{*core::IpAddress::parse("::1"), 0}};
  o.allowed_sources = {*core::Cidr::parse("::1/128")};
  o.upstreams = {up.udpEndpoint()};  // an IPv4 upstream behind an IPv6 listener
  auto f = DnsForwarder::start(o, log_);
  ASSERT_TRUE(f.ok()) << f.error().message;
  const int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_port = htons((*f)->udpPort(0));
  to.sin6_addr = in6addr_loopback;
  setTimeout(fd, milliseconds(10'000));
  const Bytes q = query("six.test", 0x0606);
  ASSERT_EQ(sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(q.size()));
  Bytes r(512);
  const ssize_t n = recv(fd, r.data(), r.size(), 0);
  close(fd);
  ASSERT_GT(n, 0);
  r.resize(static_cast<size_t>(n));
  EXPECT_EQ(dns::messageId(r), 0x0606);
  EXPECT_EQ(answerAddress(r), "192.0.2.11");

  // The same listener with a prefix that leaves ::1 out drops it.
  o.allowed_sources = {*core::Cidr::parse("fd00:8::/64")};
  auto closed = DnsForwarder::start(o, log_);
  ASSERT_TRUE(closed.ok()) << closed.error().message;
  const int fd2 = socket(AF_INET6, SOCK_DGRAM, 0);
  to.sin6_port = htons((*closed)->udpPort(0));
  sendto(fd2, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  close(fd2);
  EXPECT_TRUE(eventually([&] { return dropped(**closed, DnsDrop::kNotTunnel) == 1; }));
  EXPECT_EQ(up.seen().size(), 1u);
}

TEST_F(DnsForwarderTest, ConcurrentQueriesWithTheSameIdGetTheirOwnAnswers) {
  // The upstream holds both queries and answers the second first.
  TestDnsServer up("192.0.2.20", false, 2);
  auto f = start({up.udpEndpoint()}, milliseconds(10'000));
  UdpClient a(kClient), b(kClient);
  a.send(query("a.test", 0x0101), f->udpPort(0));
  ASSERT_TRUE(eventually([&] { return up.seen().size() == 1; }));
  b.send(query("b.test", 0x0101), f->udpPort(0));
  auto ra = a.receive();
  auto rb = b.receive();
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(questionName(*ra), "a.test");
  EXPECT_EQ(questionName(*rb), "b.test");
  EXPECT_EQ(dns::messageId(*ra), 0x0101);
  EXPECT_EQ(dns::messageId(*rb), 0x0101);
  // Upstream saw two different ids.
  const auto seen = up.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(dns::messageId(seen[0]), dns::messageId(seen[1]));
}

TEST_F(DnsForwarderTest, AnUpstreamThatDoesNotAnswerIsSkippedForTheNext) {
  TestDnsServer dead("192.0.2.1", true);
  TestDnsServer alive("192.0.2.30");
  auto f = start({dead.udpEndpoint(), alive.udpEndpoint()});
  UdpClient c(kClient);
  c.send(query("fail.over", 0x0203), f->udpPort(0));
  auto r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(rcode(*r), 0);
  EXPECT_EQ(answerAddress(*r), "192.0.2.30");
  EXPECT_EQ(dns::messageId(*r), 0x0203);
  EXPECT_EQ(dead.seen().size(), 1u);
  EXPECT_EQ(f->stats().upstream_failures, 1u);
}

TEST_F(DnsForwarderTest, EveryUpstreamFailingGivesServfail) {
  TestDnsServer dead1("192.0.2.1", true), dead2("192.0.2.2", true);
  auto f = start({dead1.udpEndpoint(), dead2.udpEndpoint()});
  UdpClient c(kClient);
  c.send(query("no.answer", 0x7777), f->udpPort(0));
  auto r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(dns::messageId(*r), 0x7777);
  EXPECT_EQ(rcode(*r), 2);
  EXPECT_EQ(questionName(*r), "no.answer");
  EXPECT_EQ(f->stats().servfail, 1u);
  EXPECT_EQ(dead1.seen().size(), 1u);
  EXPECT_EQ(dead2.seen().size(), 1u);
}

TEST_F(DnsForwarderTest, QueriesFromOutsideTheTunnelAreDroppedAndCounted) {
  TestDnsServer up("192.0.2.40");
  auto f = start({up.udpEndpoint(), up.tcpEndpoint()});
  UdpClient outsider(kOutsider);
  outsider.send(query("open.resolver", 1), f->udpPort(0));
  ASSERT_TRUE(eventually([&] { return dropped(*f, DnsDrop::kNotTunnel) == 1; }));
  const int fd = tcpConnect(kOutsider, f->tcpPort(0));
  EXPECT_FALSE(tcpQuery(fd, query("open.resolver", 2)));  // closed on accept
  close(fd);
  EXPECT_EQ(dropped(*f, DnsDrop::kNotTunnel), 2u);
  EXPECT_TRUE(up.seen().empty());
  EXPECT_EQ(f->stats().udp_queries + f->stats().tcp_queries, 0u);
}

TEST_F(DnsForwarderTest, MalformedPacketsAreCountedAndServiceContinues) {
  TestDnsServer up("192.0.2.50");
  auto f = start({up.udpEndpoint()});
  UdpClient c(kClient);
  c.send(Bytes{1, 2, 3}, f->udpPort(0));
  auto answer = query("x.test", 5);
  answer[2] |= 0x80;  // an answer sent to the resolver
  c.send(answer, f->udpPort(0));
  c.send(Bytes(2000, 0x41), f->udpPort(0));  // too long
  ASSERT_TRUE(eventually([&] { return dropped(*f, DnsDrop::kMalformed) == 3; }));
  c.send(query("ok.test", 6), f->udpPort(0));
  auto r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(questionName(*r), "ok.test");
  // Over TCP: a length that cannot be a query closes the connection.
  const int fd = tcpConnect(kClient, f->tcpPort(0));
  const uint8_t bad[2] = {0, 3};
  ASSERT_EQ(write(fd, bad, 2), 2);
  uint8_t byte;
  EXPECT_LE(read(fd, &byte, 1), 0);
  close(fd);
  EXPECT_EQ(dropped(*f, DnsDrop::kMalformed), 4u);
}

TEST_F(DnsForwarderTest, AnAnswerToAnotherQuestionIsDroppedAndTheNextUpstreamAsked) {
  TestDnsServer liar("192.0.2.66", false, 0, true);
  TestDnsServer honest("192.0.2.67");
  auto f = start({liar.udpEndpoint(), honest.udpEndpoint()});
  UdpClient c(kClient);
  c.send(query("bank.test", 0x3131), f->udpPort(0));
  auto r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(questionName(*r), "bank.test");
  EXPECT_EQ(answerAddress(*r), "192.0.2.67");
  EXPECT_EQ(dropped(*f, DnsDrop::kBadUpstreamAnswer), 1u);
  EXPECT_EQ(liar.seen().size(), 1u);
}

TEST_F(DnsForwarderTest, InflightQueriesAreBounded) {
  TestDnsServer dead("192.0.2.1", true);
  auto f = start({dead.udpEndpoint()}, milliseconds(30'000), 1);
  UdpClient c(kClient);
  c.send(query("one.test", 1), f->udpPort(0));
  ASSERT_TRUE(eventually([&] { return dead.seen().size() == 1; }));
  c.send(query("two.test", 2), f->udpPort(0));
  ASSERT_TRUE(eventually([&] { return dropped(*f, DnsDrop::kInflightLimit) == 1; }));
  EXPECT_EQ(dead.seen().size(), 1u);
}

TEST_F(DnsForwarderTest, TcpQueriesAreForwardedOverTcpWithFailover) {
  TestDnsServer dead("192.0.2.1", true);  // accepts, never answers
  TestDnsServer alive("192.0.2.60");
  // A port nobody listens on (refused), a silent server, then one that answers.
  DnsEndpoint refused = alive.tcpEndpoint();
  {
    const int probe = socket(AF_INET, SOCK_STREAM, 0);
    auto a = addr("127.0.0.1", 0);
    ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    refused.port = portOf(probe);
    close(probe);
  }
  auto f = start({refused, dead.tcpEndpoint(), alive.tcpEndpoint()});
  const int fd = tcpConnect(kClient, f->tcpPort(0));
  auto r = tcpQuery(fd, query("tcp.test", 0x5151));
  ASSERT_TRUE(r);
  EXPECT_EQ(dns::messageId(*r), 0x5151);
  EXPECT_EQ(answerAddress(*r), "192.0.2.60");
  // A second query on the same connection.
  auto r2 = tcpQuery(fd, query("again.test", 0x5252));
  ASSERT_TRUE(r2);
  EXPECT_EQ(questionName(*r2), "again.test");
  close(fd);
  EXPECT_EQ(f->stats().tcp_queries, 2u);
  EXPECT_EQ(f->stats().upstream_failures, 4u);  // refused and silent, twice
}

TEST_F(DnsForwarderTest, TcpServfailWhenNoUpstreamAnswers) {
  TestDnsServer dead("192.0.2.1", true);
  auto f = start({dead.tcpEndpoint()});
  const int fd = tcpConnect(kClient, f->tcpPort(0));
  auto r = tcpQuery(fd, query("tcp.fail", 0x0909));
  close(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(rcode(*r), 2);
  EXPECT_EQ(dns::messageId(*r), 0x0909);
}

TEST_F(DnsForwarderTest, TcpConnectionsAreBounded) {
  TestDnsServer up("192.0.2.70");
  auto f = start({up.tcpEndpoint()}, milliseconds(300), 64, 1);
  const int first = tcpConnect(kClient, f->tcpPort(0));
  ASSERT_TRUE(tcpQuery(first, query("first.test", 1)));  // accepted and open
  const int second = tcpConnect(kClient, f->tcpPort(0));
  EXPECT_FALSE(tcpQuery(second, query("second.test", 2)));
  close(second);
  EXPECT_EQ(dropped(*f, DnsDrop::kTcpLimit), 1u);
  EXPECT_TRUE(tcpQuery(first, query("still.test", 3)));
  close(first);
}

}  // namespace
}  // namespace aureo::node
