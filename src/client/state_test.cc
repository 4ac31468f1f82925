#include "client/state.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace aureo::client {
namespace {

namespace fs = std::filesystem;

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aureo-client-state-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path file() const { return dir_ / "state.json"; }

  fs::path dir_;
};

ConnectionState sample() {
  ConnectionState s;
  s.pid = 4242;
  s.started_at = 1764000000;
  s.phase = "connected";
  s.server = "https://vpn.example.test";
  s.session_id = "6f1c5a8e-0000-4000-8000-000000000001";
  s.node_id = "6f1c5a8e-0000-4000-8000-000000000002";
  s.node_name = "ams-1";
  s.node_country = "NL";
  s.endpoint = "203.0.113.7:51820";
  s.node_public_key = "node-key";
  s.client_public_key = "client-key";
  s.interface_name = "aureo0";
  s.addresses = {"10.8.0.2/32", "fd00::2/128"};
  s.fwmark = 0xca6d;
  s.table = 0xca6d;
  netcfg::Rule suppress;
  suppress.priority = 5181;
  suppress.table = netcfg::kTableMain;
  suppress.suppress_prefixlength = 0;
  netcfg::Rule tunnel;
  tunnel.family = netcfg::Family::kV6;
  tunnel.priority = 5182;
  tunnel.fwmark = 0xca6d;
  tunnel.invert = true;
  tunnel.table = 0xca6d;
  netcfg::Rule api;
  api.priority = 5180;
  api.to = core::Cidr::parse("198.51.100.1/32");
  s.rules = {suppress, tunnel, api};
  s.nft_tables = {"aureo-killswitch", "aureo-dns"};
  s.sysctls = {{"net.ipv4.conf.all.src_valid_mark", "0"}};
  s.resolv_conf = "/etc/resolv.conf";
  s.resolv_backup = "/run/aureo-vpn/resolv.conf.backup";
  s.cgroup = "aureo-vpn-exclude";
  s.cgroup_mount = "/sys/fs/cgroup";
  s.uapi_socket = "/var/run/wireguard/aureo0.sock";
  s.kill_switch = true;
  s.allow_lan = true;
  s.ipv6_tunneled = true;
  s.dns = {"1.1.1.1", "1.0.0.1"};
  s.split_exclude = {"192.168.0.0/16"};
  s.country = "NL";
  return s;
}

TEST_F(StateFileTest, RoundTripsEveryField) {
  const auto s = sample();
  ASSERT_TRUE(saveState(file(), s).ok());
  auto loaded = loadState(file());
  ASSERT_TRUE(loaded.ok()) << loaded.error().toString();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, s);
}

TEST_F(StateFileTest, IsOwnerOnlyAndLeavesNoTemporaryFile) {
  ASSERT_TRUE(saveState(file(), sample()).ok());
  auto second = sample();
  second.phase = "reconnecting";
  ASSERT_TRUE(saveState(file(), second).ok());
  struct stat st {};
  ASSERT_EQ(::stat(file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);
  EXPECT_EQ((*loadState(file()))->phase, "reconnecting");
}

TEST_F(StateFileTest, AMissingFileIsNoState) {
  auto loaded = loadState(file());
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  EXPECT_TRUE(removeState(file()).ok());
}

TEST_F(StateFileTest, ACorruptOrTruncatedFileIsDataLoss) {
  ASSERT_TRUE(saveState(file(), sample()).ok());
  std::string text(4096, '\0');
  {
    std::ifstream in(file());
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
  }
  for (const std::string& bad :
       {text.substr(0, text.size() / 2), std::string("[1,2]"), std::string("{\"version\": 1}")}) {
    std::ofstream(file(), std::ios::trunc) << bad;
    auto loaded = loadState(file());
    ASSERT_FALSE(loaded.ok()) << bad;
    EXPECT_EQ(loaded.error().code, core::Code::kDataLoss);
  }
}

TEST_F(StateFileTest, RemoveDeletesTheFile) {
  ASSERT_TRUE(saveState(file(), sample()).ok());
  ASSERT_TRUE(removeState(file()).ok());
  EXPECT_FALSE(fs::exists(file()));
}

TEST(ProcessAliveTest, SeesThisProcessAndNotAReapedChild) {
  EXPECT_TRUE(processAlive(::getpid()));
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(processAlive(child));
  EXPECT_FALSE(processAlive(0));
}

TEST(ProcessAliveTest, AZombieCountsAsDead) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  // Not reaped yet: a zombie once it has exited.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(processAlive(child));
  int status = 0;
  ::waitpid(child, &status, 0);
}

}  // namespace
}  // namespace aureo::client
