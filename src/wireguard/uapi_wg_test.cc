// The stock wg(8) from wireguard-tools against our UAPI server, in-process.
// wg looks for userspace devices only in /var/run/wireguard, so this needs
// write access there (label netns: run as root).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "wireguard/uapi.h"

namespace aureo::wireguard {
namespace {

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// A minimal device model: applies changes with the semantics the kernel has.
class ModelDevice : public UapiHandler {
 public:
  int applySet(const DeviceChange& c) override {
    std::lock_guard lock(mu_);
    if (c.listen_port == 1) return EADDRINUSE;  // pretend port 1 is taken
    if (c.private_key) state_.private_key = *c.private_key;
    if (c.listen_port) state_.listen_port = *c.listen_port;
    if (c.fwmark) state_.fwmark = *c.fwmark;
    if (c.replace_peers) state_.peers.clear();
    for (const PeerChange& p : c.peers) {
      auto it = std::find_if(state_.peers.begin(), state_.peers.end(),
                             [&](const PeerState& s) { return s.public_key == p.public_key; });
      if (p.remove) {
        if (it != state_.peers.end()) state_.peers.erase(it);
        continue;
      }
      if (it == state_.peers.end()) {
        if (p.update_only) continue;
        state_.peers.emplace_back();
        state_.peers.back().public_key = p.public_key;
        it = state_.peers.end() - 1;
      }
      if (p.preshared_key) it->preshared_key = *p.preshared_key;
      if (p.endpoint) it->endpoint = p.endpoint;
      if (p.persistent_keepalive_interval) {
        it->persistent_keepalive_interval = *p.persistent_keepalive_interval;
      }
      if (p.replace_allowed_ips) it->allowed_ips.clear();
      for (const auto& a : p.allowed_ips) it->allowed_ips.push_back(a);
    }
    return 0;
  }
  DeviceState getState() override {
    std::lock_guard lock(mu_);
    return state_;
  }

 private:
  std::mutex mu_;
  DeviceState state_;
};

class WgTool : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aureo-wg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    name_ = "aurwg" + std::to_string(::getpid() % 100000);
    auto s = UapiServer::start(name_, device_, core::Logger::null());
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(s).value();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Returns {private, public} in base64, made by wg itself.
  std::pair<std::string, std::string> keypair() {
    const std::string priv = trim(run("wg genkey").output);
    const std::string pub = trim(run("echo " + priv + " | wg pubkey").output);
    return {priv, pub};
  }
  std::string writeFile(const std::string& file, const std::string& content) {
    const std::string path = dir_ + "/" + file;
    std::ofstream(path) << content;
    return path;
  }

  std::string dir_;
  std::string name_;
  ModelDevice device_;
  std::unique_ptr<UapiServer> server_;
};

TEST_F(WgTool, WgSetThenShowDumpReflectsTheChange) {
  const auto [priv, pub] = keypair();
  const auto [peer_priv, peer_pub] = keypair();
  ASSERT_EQ(priv.size(), 44u);
  const std::string key_file = writeFile("key", priv + "\n");

  const auto set =
      run("wg set " + name_ + " private-key " + key_file + " listen-port 51999 peer " + peer_pub +
          " allowed-ips 10.0.0.2/32,fd00::2/128 endpoint 127.0.0.1:51820"
          " persistent-keepalive 25");
  ASSERT_EQ(set.status, 0) << set.output;

  const auto dump = run("wg show " + name_ + " dump");
  ASSERT_EQ(dump.status, 0) << dump.output;
  const auto l = lines(dump.output);
  ASSERT_EQ(l.size(), 2u) << dump.output;
  // wg derives the public key from the private key we returned.
  EXPECT_EQ(l[0], priv + "\t" + pub + "\t51999\toff");
  EXPECT_EQ(l[1], peer_pub + "\t(none)\t127.0.0.1:51820\t10.0.0.2/32,fd00::2/128\t0\t0\t0\t25");

  const auto ifaces = run("wg show interfaces");
  EXPECT_NE(ifaces.output.find(name_), std::string::npos) << ifaces.output;

  const auto removed = run("wg set " + name_ + " peer " + peer_pub + " remove");
  ASSERT_EQ(removed.status, 0) << removed.output;
  EXPECT_EQ(lines(run("wg show " + name_ + " dump").output).size(), 1u);
}

TEST_F(WgTool, SetconfAndShowconfRoundTripThroughTheEngine) {
  const auto [priv, pub] = keypair();
  const auto [peer_priv, peer_pub] = keypair();
  const std::string psk = trim(run("wg genpsk").output);
  const std::string conf =
      "[Interface]\nPrivateKey = " + priv +
      "\nListenPort = 40000\nFwMark = 0x1234\n\n[Peer]\nPublicKey = " + peer_pub +
      "\nPresharedKey = " + psk +
      "\nAllowedIPs = 10.8.0.0/24, fd00:8::/64\nEndpoint = [::1]:1234\n";
  const auto setconf = run("wg setconf " + name_ + " " + writeFile("wg.conf", conf));
  ASSERT_EQ(setconf.status, 0) << setconf.output;

  const auto dump = lines(run("wg show " + name_ + " dump").output);
  ASSERT_EQ(dump.size(), 2u);
  EXPECT_EQ(dump[0], priv + "\t" + pub + "\t40000\t0x1234");
  EXPECT_EQ(dump[1], peer_pub + "\t" + psk + "\t[::1]:1234\t10.8.0.0/24,fd00:8::/64\t0\t0\t0\toff");

  const auto showconf = run("wg showconf " + name_);
  ASSERT_EQ(showconf.status, 0) << showconf.output;
  EXPECT_NE(showconf.output.find("Endpoint = [::1]:1234"), std::string::npos) << showconf.output;
  EXPECT_NE(showconf.output.find("PresharedKey = " + psk), std::string::npos);

  // setconf replaces the peer set: a config without peers empties it.
  const auto empty = run("wg setconf " + name_ + " " +
                         writeFile("empty.conf", "[Interface]\nPrivateKey = " + priv + "\n"));
  ASSERT_EQ(empty.status, 0) << empty.output;
  EXPECT_EQ(lines(run("wg show " + name_ + " dump").output).size(), 1u);
}

TEST_F(WgTool, HandlerErrorsReachWgAsErrnoText) {
  const auto r = run("wg set " + name_ + " listen-port 1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("Address already in use"), std::string::npos) << r.output;
  // The device is untouched and still answers.
  const auto dump = run("wg show " + name_ + " dump");
  ASSERT_EQ(dump.status, 0);
  EXPECT_EQ(trim(dump.output), "(none)\t(none)\t0\toff");
}

}  // namespace
}  // namespace aureo::wireguard
