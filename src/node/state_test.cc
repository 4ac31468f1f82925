#include "node/state.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace aureo::node {
namespace {

namespace fs = std::filesystem;

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aureo-node-state-XXXXXX";
    root = mkdtemp(tmpl);
    dir = root + "/state";
  }
  void TearDown() override { fs::remove_all(root); }

  static unsigned mode(const std::string& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 0777;
  }

  std::string root;
  std::string dir;
};

TEST_F(StateTest, KeyIsGeneratedOnceAndKeptPrivate) {
  auto state = StateDir::open(dir);
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(mode(dir), 0700u);
  auto first = state->loadOrCreatePrivateKey();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(mode(dir + "/wg.key"), 0600u);
  auto again = StateDir::open(dir)->loadOrCreatePrivateKey();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(*first == *again);
}

TEST_F(StateTest, EnrollmentRoundTrips) {
  auto state = StateDir::open(dir);
  ASSERT_TRUE(state.ok());
  auto none = state->loadEnrollment();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  Enrollment e;
  e.node_id = "3f1b8c9e-0000-4000-8000-000000000001";
  e.node_credential = "aureo-node-secret";
  e.settings.tunnel_ipv4_cidr = "10.9.0.0/24";
  e.settings.tunnel_ipv6_cidr = "fd00:9::/64";
  e.settings.wg_port = 51999;
  e.settings.dns_servers = {"9.9.9.9"};
  e.settings.heartbeat_interval_s = 5;
  e.settings.dns_resolver = false;
  ASSERT_TRUE(state->saveEnrollment(e).ok());
  EXPECT_EQ(mode(dir + "/node.json"), 0600u);

  auto back = state->loadEnrollment();
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->has_value());
  const Enrollment& b = **back;
  EXPECT_EQ(b.node_id, e.node_id);
  EXPECT_EQ(b.node_credential, e.node_credential);
  EXPECT_EQ(b.settings.tunnel_ipv4_cidr, "10.9.0.0/24");
  EXPECT_EQ(b.settings.tunnel_ipv6_cidr, "fd00:9::/64");
  EXPECT_EQ(b.settings.wg_port, 51999);
  EXPECT_EQ(b.settings.dns_servers, std::vector<std::string>{"9.9.9.9"});
  EXPECT_EQ(b.settings.heartbeat_interval_s, 5);
  EXPECT_FALSE(b.settings.dns_resolver);
}

TEST_F(StateTest, AStateFileFromBeforeTheResolverSettingRunsTheResolver) {
  auto state = StateDir::open(dir);
  ASSERT_TRUE(state.ok());
  {
    std::ofstream(dir + "/node.json")
        << R"({"node_id":"n1","node_credential":"c","settings":{"tunnel_ipv4_cidr":"10.8.0.0/16"}})";
  }
  ::chmod((dir + "/node.json").c_str(), 0600);
  auto back = state->loadEnrollment();
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->has_value());
  EXPECT_TRUE((*back)->settings.dns_resolver);
}

TEST_F(StateTest, RefusesADirectoryOthersCanRead) {
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0755);
  auto state = StateDir::open(dir);
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.error().message.find("chmod 700"), std::string::npos);
}

TEST_F(StateTest, RefusesADamagedStateFile) {
  auto state = StateDir::open(dir);
  ASSERT_TRUE(state.ok());
  { std::ofstream(dir + "/node.json") << "{\"node_id\": 7}"; }
  ::chmod((dir + "/node.json").c_str(), 0600);
  auto e = state->loadEnrollment();
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, core::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace aureo::node
