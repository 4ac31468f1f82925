#include "wireguard/uapi.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace aureo::wireguard {
namespace {

const std::string kKeyA(64, 'a');
const std::string kKeyB = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef";
const std::string kKeyC(64, '7');
const std::string kZero(64, '0');

UapiKey key(const std::string& hex) {
  return uapiKeyFromHex(hex).value();
}

core::Cidr cidr(std::string_view s) {
  return core::Cidr::parse(s).value();
}

TEST(UapiKeys, HexRoundTripAndRejectsBadText) {
  EXPECT_EQ(uapiKeyToHex(key(kKeyB)),
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  EXPECT_FALSE(uapiKeyFromHex(kKeyA.substr(1)).has_value());
  EXPECT_FALSE(uapiKeyFromHex(kKeyA + "a").has_value());
  EXPECT_FALSE(uapiKeyFromHex(std::string(63, 'a') + "g").has_value());
  EXPECT_TRUE(UapiSecret(key(kZero)).isZero());
  EXPECT_FALSE(UapiSecret(key(kKeyC)).isZero());
}

TEST(UapiParse, ReadsAWgSetconfSequence) {
  // What `wg setconf` sends for a two-peer config (minus the "set=1" line).
  const std::string body = "private_key=" + kKeyA +
                           "\n"
                           "listen_port=51820\n"
                           "fwmark=4660\n"
                           "replace_peers=true\n"
                           "public_key=" +
                           kKeyB +
                           "\n"
                           "preshared_key=" +
                           kKeyC +
                           "\n"
                           "endpoint=192.0.2.7:51820\n"
                           "persistent_keepalive_interval=25\n"
                           "replace_allowed_ips=true\n"
                           "allowed_ip=10.0.0.2/32\n"
                           "allowed_ip=10.1.2.3/16\n"
                           "allowed_ip=fd00::1234/64\n"
                           "public_key=" +
                           kKeyC +
                           "\n"
                           "endpoint=[2001:db8::9]:443\n"
                           "replace_allowed_ips=true\n"
                           "allowed_ip=0.0.0.0/0\n"
                           "allowed_ip=::/0\n"
                           "\n";
  auto r = parseSetRequest(body);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  const DeviceChange& c = *r;
  ASSERT_TRUE(c.private_key.has_value());
  EXPECT_EQ(c.private_key->bytes(), key(kKeyA));
  EXPECT_EQ(c.listen_port, 51820);
  EXPECT_EQ(c.fwmark, 4660u);
  EXPECT_TRUE(c.replace_peers);
  ASSERT_EQ(c.peers.size(), 2u);
  const PeerChange& p = c.peers[0];
  EXPECT_EQ(p.public_key, key(kKeyB));
  EXPECT_EQ(p.preshared_key->bytes(), key(kKeyC));
  EXPECT_EQ(p.endpoint->toString(), "192.0.2.7:51820");
  EXPECT_EQ(p.persistent_keepalive_interval, 25);
  EXPECT_TRUE(p.replace_allowed_ips);
  EXPECT_FALSE(p.remove);
  // Host bits are allowed and masked off, as the kernel and wireguard-go do.
  EXPECT_EQ(p.allowed_ips,
            (std::vector{cidr("10.0.0.2/32"), cidr("10.1.0.0/16"), cidr("fd00::/64")}));
  const PeerChange& q = c.peers[1];
  EXPECT_EQ(q.endpoint->toString(), "[2001:db8::9]:443");
  EXPECT_FALSE(q.preshared_key.has_value());
  EXPECT_FALSE(q.persistent_keepalive_interval.has_value());
  EXPECT_EQ(q.allowed_ips, (std::vector{cidr("0.0.0.0/0"), cidr("::/0")}));
}

TEST(UapiParse, ReadsRemovalUpdateOnlyAndKeyClearing) {
  const std::string body = "private_key=" + kZero + "\npublic_key=" + kKeyA +
                           "\nremove=true\npublic_key=" + kKeyB +
                           "\nupdate_only=true\npreshared_key=" + kZero +
                           "\nprotocol_version=1\npersistent_keepalive_interval=0\n\n";
  auto r = parseSetRequest(body);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  EXPECT_TRUE(r->private_key->isZero());
  EXPECT_FALSE(r->listen_port.has_value());
  ASSERT_EQ(r->peers.size(), 2u);
  EXPECT_TRUE(r->peers[0].remove);
  EXPECT_TRUE(r->peers[1].update_only);
  EXPECT_TRUE(r->peers[1].preshared_key->isZero());
  EXPECT_EQ(r->peers[1].persistent_keepalive_interval, 0);
}

TEST(UapiParse, EmptyRequestIsANoOp) {
  auto r = parseSetRequest("\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, DeviceChange{});
}

struct BadCase {
  std::string body;
  int expected_errno;
};

TEST(UapiParse, RejectsEveryInvalidLineWithTheRightErrno) {
  const std::string peer = "public_key=" + kKeyA + "\n";
  const std::vector<BadCase> cases = {
      {"bogus=1\n", EINVAL},
      {"private_key=" + kKeyA.substr(2) + "\n", EINVAL},
      {"private_key=" + kKeyA + "00\n", EINVAL},
      {"private_key=" + std::string(63, 'a') + "x\n", EINVAL},
      {"private_key=\n", EINVAL},
      {"listen_port=65536\n", EINVAL},
      {"listen_port=-1\n", EINVAL},
      {"listen_port= 1\n", EINVAL},
      {"listen_port=0x10\n", EINVAL},
      {"listen_port=\n", EINVAL},
      {"fwmark=4294967296\n", EINVAL},
      {"replace_peers=false\n", EINVAL},
      {"endpoint=1.2.3.4:5\n", EINVAL},  // a peer key before any public_key
      {"public_key=" + kKeyA.substr(1) + "\n", EINVAL},
      {peer + "listen_port=1\n", EINVAL},  // device key inside a peer section
      {peer + "remove=yes\n", EINVAL},
      {peer + "update_only=1\n", EINVAL},
      {peer + "preshared_key=xyz\n", EINVAL},
      {peer + "endpoint=1.2.3.4\n", EINVAL},
      {peer + "endpoint=1.2.3.4:99999\n", EINVAL},
      {peer + "endpoint=::1:80\n", EINVAL},
      {peer + "endpoint=[::1:80\n", EINVAL},
      {peer + "endpoint=example.com:80\n", EINVAL},
      {peer + "persistent_keepalive_interval=65536\n", EINVAL},
      {peer + "replace_allowed_ips=no\n", EINVAL},
      {peer + "allowed_ip=10.0.0.1\n", EINVAL},
      {peer + "allowed_ip=10.0.0.0/33\n", EINVAL},
      {peer + "allowed_ip=fd00::/129\n", EINVAL},
      {peer + "allowed_ip=10.0.0.0/-1\n", EINVAL},
      {peer + "allowed_ip=10.0.0.0/\n", EINVAL},
      {peer + "allowed_ip=300.0.0.0/8\n", EINVAL},
      {peer + "protocol_version=2\n", EINVAL},
      {peer + "unknown=1\n", EINVAL},
      {"no equals sign\n", EPROTO},
      {peer + "allowed_ip=10.0.0.0/8\n\nlisten_port=1\n", EPROTO},
  };
  for (const BadCase& c : cases) {
    auto r = parseSetRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(uapiErrno(r.error()), c.expected_errno) << c.body << " -> " << r.error().message;
  }
}

TEST(UapiParse, ErrorMessagesNeverEchoKeys) {
  const std::string secret = std::string(63, 'c') + "z";
  auto r = parseSetRequest("private_key=" + secret + "\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find(std::string(63, 'c')), std::string::npos);
  EXPECT_NE(r.error().message.find("line 1"), std::string::npos);
}

DeviceChange sampleChange() {
  DeviceChange c;
  c.private_key = UapiSecret(key(kKeyA));
  c.listen_port = 0;
  c.fwmark = 7;
  c.replace_peers = true;
  PeerChange p;
  p.public_key = key(kKeyB);
  p.preshared_key = UapiSecret(key(kKeyC));
  p.endpoint = Endpoint::parse("[fd00::1]:5");
  p.persistent_keepalive_interval = 15;
  p.replace_allowed_ips = true;
  p.allowed_ips = {cidr("10.0.0.0/24"), cidr("fd00::/48")};
  c.peers.push_back(p);
  PeerChange gone;
  gone.public_key = key(kKeyC);
  gone.remove = true;
  c.peers.push_back(gone);
  PeerChange upd;
  upd.public_key = key(kKeyA);
  upd.update_only = true;
  c.peers.push_back(upd);
  return c;
}

TEST(UapiFormat, SetRequestRoundTrips) {
  const DeviceChange c = sampleChange();
  const std::string text = formatSetRequest(c);
  ASSERT_EQ(text.rfind("set=1\n", 0), 0u);
  ASSERT_EQ(text.substr(text.size() - 2), "\n\n");
  auto back = parseSetRequest(std::string_view(text).substr(6));
  ASSERT_TRUE(back.ok()) << back.error().toString();
  EXPECT_EQ(*back, c);
}

DeviceState sampleState() {
  DeviceState s;
  s.private_key = UapiSecret(key(kKeyA));
  s.listen_port = 51820;
  s.fwmark = 0;
  PeerState p;
  p.public_key = key(kKeyB);
  p.endpoint = Endpoint::parse("198.51.100.1:1234");
  p.last_handshake_time_sec = 1700000000;
  p.last_handshake_time_nsec = 123456789;
  p.tx_bytes = 18446744073709551615ULL;
  p.rx_bytes = 42;
  p.persistent_keepalive_interval = 25;
  p.allowed_ips = {cidr("10.0.0.2/32"), cidr("fd00::2/128")};
  s.peers.push_back(p);
  PeerState q;
  q.public_key = key(kKeyC);
  q.preshared_key = UapiSecret(key(kKeyA));
  s.peers.push_back(q);
  return s;
}

TEST(UapiFormat, GetResponseHasTheSpecLayout) {
  const std::string text = formatGetResponse(sampleState());
  const std::string expected =
      "private_key=" + kKeyA + "\nlisten_port=51820\npublic_key=" + uapiKeyToHex(key(kKeyB)) +
      "\npreshared_key=" + kZero +
      "\nprotocol_version=1\nendpoint=198.51.100.1:1234\n"
      "last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=123456789\n"
      "tx_bytes=18446744073709551615\nrx_bytes=42\npersistent_keepalive_interval=25\n"
      "allowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\npublic_key=" +
      kKeyC + "\npreshared_key=" + kKeyA +
      "\nprotocol_version=1\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"
      "tx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\nerrno=0\n\n";
  EXPECT_EQ(text, expected);
  EXPECT_EQ(formatGetResponse(DeviceState{}), "errno=0\n\n");
}

TEST(UapiFormat, GetResponseRoundTrips) {
  const DeviceState s = sampleState();
  auto back = parseGetResponse(formatGetResponse(s));
  ASSERT_TRUE(back.ok()) << back.error().toString();
  EXPECT_EQ(*back, s);
  EXPECT_FALSE(parseGetResponse("listen_port=1\n\n").ok());
  EXPECT_FALSE(parseGetResponse("errno=-22\n\n").ok());
  EXPECT_FALSE(parseGetResponse("listen_port=x\nerrno=0\n\n").ok());
}

// ---- Server

class RecordingHandler : public UapiHandler {
 public:
  int applySet(const DeviceChange& change) override {
    std::lock_guard lock(mu_);
    changes_.push_back(change);
    if (change.listen_port == 1) return EADDRINUSE;
    if (change.listen_port) state_.listen_port = *change.listen_port;
    return 0;
  }
  DeviceState getState() override {
    std::lock_guard lock(mu_);
    return state_;
  }
  std::vector<DeviceChange> changes() {
    std::lock_guard lock(mu_);
    return changes_;
  }
  void setState(DeviceState s) {
    std::lock_guard lock(mu_);
    state_ = std::move(s);
  }

 private:
  std::mutex mu_;
  std::vector<DeviceChange> changes_;
  DeviceState state_;
};

class UapiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aureo-uapi-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    options_.socket_dir = base_ + "/run";
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(base_);
  }
  void start() {
    auto s = UapiServer::start("aureotest0", handler_, core::Logger::null(), options_);
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(s).value();
  }
  int connectClient() {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, server_->socketPath().c_str(), sizeof(a.sun_path) - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }
  static void sendAll(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads one reply (up to and including the blank line), or until EOF.
  static std::string readReply(int fd, bool* eof = nullptr) {
    std::string got;
    char c;
    while (got.size() < 2 || got.compare(got.size() - 2, 2, "\n\n") != 0 || got == "\n\n") {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) break;
      const ssize_t n = ::read(fd, &c, 1);
      if (n <= 0) {
        if (eof) *eof = true;
        break;
      }
      got.push_back(c);
    }
    return got;
  }
  static bool closedByPeer(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return false;
    char c;
    return ::read(fd, &c, 1) == 0;
  }

  std::string base_;
  UapiServerOptions options_;
  RecordingHandler handler_;
  std::unique_ptr<UapiServer> server_;
};

TEST_F(UapiServerTest, CreatesPrivateSocketInNewDirectory) {
  start();
  EXPECT_EQ(server_->socketPath(), options_.socket_dir + "/aureotest0.sock");
  struct stat st;
  ASSERT_EQ(::stat(options_.socket_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat(server_->socketPath().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string path = server_->socketPath();
  server_.reset();
  EXPECT_NE(::stat(path.c_str(), &st), 0) << "socket file removed on shutdown";
}

TEST_F(UapiServerTest, AnswersGetAndSetOnOneConnection) {
  DeviceState s;
  s.listen_port = 4242;
  handler_.setState(s);
  start();
  const int fd = connectClient();
  sendAll(fd, "get=1\n\n");
  EXPECT_EQ(readReply(fd), "listen_port=4242\nerrno=0\n\n");
  sendAll(fd, "set=1\nlisten_port=5000\npublic_key=" + kKeyB + "\nallowed_ip=10.9.0.0/16\n\n");
  EXPECT_EQ(readReply(fd), "errno=0\n\n");
  // Byte-at-a-time delivery works the same.
  for (char c : std::string("get=1\n\n")) sendAll(fd, std::string_view(&c, 1));
  EXPECT_EQ(readReply(fd), "listen_port=5000\nerrno=0\n\n");
  const auto changes = handler_.changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].peers.at(0).allowed_ips.at(0), cidr("10.9.0.0/16"));
  ::close(fd);
}

TEST_F(UapiServerTest, InvalidSetAppliesNothingAndAnswersNegativeErrno) {
  start();
  const int fd = connectClient();
  sendAll(fd, "set=1\nlisten_port=5000\npublic_key=" + kKeyB + "\nallowed_ip=10.9.0.0/99\n\n");
  EXPECT_EQ(readReply(fd), "errno=-22\n\n");
  EXPECT_TRUE(handler_.changes().empty());
  sendAll(fd, "set=1\nlisten_port=1\n\n");  // the handler refuses this one
  EXPECT_EQ(readReply(fd), "errno=-98\n\n");
  sendAll(fd, "set=1\nnot a pair\n\n");
  EXPECT_EQ(readReply(fd), "errno=-71\n\n");
  ::close(fd);
}

TEST_F(UapiServerTest, GarbageOperationGetsErrorAndClose) {
  start();
  const int fd = connectClient();
  sendAll(fd, "hello there\n");
  EXPECT_EQ(readReply(fd), "errno=-22\n\n");
  EXPECT_TRUE(closedByPeer(fd));
  ::close(fd);
  const int fd2 = connectClient();
  sendAll(fd2, "get=1\nextra\n");
  EXPECT_EQ(readReply(fd2), "errno=-22\n\n");
  ::close(fd2);
}

TEST_F(UapiServerTest, OverlongLineAndTooManyLinesAreRefused) {
  options_.max_line_bytes = 256;
  options_.max_request_lines = 3;
  start();
  int fd = connectClient();
  sendAll(fd, "set=1\nlisten_port=" + std::string(10000, '1'));  // no newline ever
  EXPECT_EQ(readReply(fd), "errno=-90\n\n");
  EXPECT_TRUE(closedByPeer(fd));
  ::close(fd);
  fd = connectClient();
  sendAll(fd, "set=1\nfwmark=1\nfwmark=2\nfwmark=3\nfwmark=4\n\n");
  EXPECT_EQ(readReply(fd), "errno=-90\n\n");
  ::close(fd);
  EXPECT_TRUE(handler_.changes().empty());
}

TEST_F(UapiServerTest, ClientVanishingMidRequestChangesNothing) {
  start();
  int fd = connectClient();
  sendAll(fd, "set=1\nlisten_port=7777\npublic_key=" + kKeyA + "\n");
  ::close(fd);
  fd = connectClient();
  sendAll(fd, "get=1\n\n");
  EXPECT_EQ(readReply(fd), "errno=0\n\n");
  ::close(fd);
  EXPECT_TRUE(handler_.changes().empty());
}

TEST_F(UapiServerTest, ExtraClientsBeyondTheLimitAreClosed) {
  options_.max_clients = 2;
  start();
  const int a = connectClient();
  const int b = connectClient();
  sendAll(a, "get=1\n\n");
  EXPECT_EQ(readReply(a), "errno=0\n\n");
  sendAll(b, "get=1\n\n");
  EXPECT_EQ(readReply(b), "errno=0\n\n");
  const int c = connectClient();
  EXPECT_TRUE(closedByPeer(c));
  ::close(a);
  ::close(b);
  ::close(c);
}

TEST_F(UapiServerTest, ReplacesStaleSocketButNotALiveOne) {
  // A stale socket file: bound once, nobody listening any more.
  ::mkdir(options_.socket_dir.c_str(), 0755);
  const std::string path = options_.socket_dir + "/aureotest0.sock";
  {
    const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ::close(s);
  }
  start();
  RecordingHandler other;
  auto second = UapiServer::start("aureotest0", other, core::Logger::null(), options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, core::Code::kAlreadyExists);
  const int fd = connectClient();
  sendAll(fd, "get=1\n\n");
  EXPECT_EQ(readReply(fd), "errno=0\n\n");
  ::close(fd);
}

TEST_F(UapiServerTest, RejectsBadInterfaceNames) {
  for (const char* name : {"", "a/b", "../x", "waytoolonginterfacename", "a b"}) {
    auto s = UapiServer::start(name, handler_, core::Logger::null(), options_);
    EXPECT_FALSE(s.ok()) << name;
  }
}

}  // namespace
}  // namespace aureo::wireguard
