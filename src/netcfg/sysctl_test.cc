#include "netcfg/sysctl.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace aureo::netcfg {
namespace {

namespace fs = std::filesystem;

// A fake /proc/sys tree: the same file layout, in a temporary directory.
class SysctlFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aureo-sysctl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "net/ipv4");
    std::ofstream(root_ / "net/ipv4/ip_forward") << "0\n";
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST(SysctlPathTest, MapsDotsToDirectoriesAndSlashesToDots) {
  EXPECT_EQ(*sysctlPath("net.ipv4.ip_forward", "/proc/sys"),
            fs::path("/proc/sys/net/ipv4/ip_forward"));
  EXPECT_EQ(*sysctlPath(disableIpv6Key("eth0.100"), "/proc/sys"),
            fs::path("/proc/sys/net/ipv6/conf/eth0.100/disable_ipv6"));
  EXPECT_EQ(disableIpv6Key("wg0"), "net.ipv6.conf.wg0.disable_ipv6");
}

TEST(SysctlPathTest, RejectsKeysThatEscapeTheTree) {
  EXPECT_FALSE(sysctlPath("", "/proc/sys").ok());
  EXPECT_FALSE(sysctlPath("net..ip_forward", "/proc/sys").ok());
  EXPECT_FALSE(sysctlPath("net.ipv4./", "/proc/sys").ok());
  EXPECT_FALSE(sysctlPath("net.ipv4.//", "/proc/sys").ok());
  EXPECT_FALSE(sysctlPath("net.ipv4 ip_forward", "/proc/sys").ok());
  EXPECT_EQ(sysctlPath("net.*", "/proc/sys").error().code, core::Code::kInvalidArgument);
}

TEST_F(SysctlFileTest, GuardWritesAndRestoresPreviousValue) {
  {
    auto guard = SysctlGuard::set(kIpv4Forward, "1", root_);
    ASSERT_TRUE(guard.ok()) << guard.error().toString();
    EXPECT_EQ(guard->previous(), "0");
    EXPECT_EQ(*readSysctl(kIpv4Forward, root_), "1");
  }
  EXPECT_EQ(*readSysctl(kIpv4Forward, root_), "0");
}

TEST_F(SysctlFileTest, ReleasedGuardKeepsNewValue) {
  {
    auto guard = SysctlGuard::set(kIpv4Forward, "1", root_);
    ASSERT_TRUE(guard.ok());
    guard->release();
  }
  EXPECT_EQ(*readSysctl(kIpv4Forward, root_), "1");
}

TEST_F(SysctlFileTest, MovedGuardRestoresOnce) {
  auto guard = SysctlGuard::set(kIpv4Forward, "1", root_);
  ASSERT_TRUE(guard.ok());
  SysctlGuard moved = std::move(*guard);
  ASSERT_TRUE(writeSysctl(kIpv4Forward, "7", root_).ok());
  ASSERT_TRUE(moved.restore().ok());
  EXPECT_EQ(*readSysctl(kIpv4Forward, root_), "0");
  ASSERT_TRUE(writeSysctl(kIpv4Forward, "5", root_).ok());
  ASSERT_TRUE(moved.restore().ok());  // already restored: no second write
  EXPECT_EQ(*readSysctl(kIpv4Forward, root_), "5");
}

TEST_F(SysctlFileTest, MissingKeyIsNotFound) {
  EXPECT_EQ(readSysctl("net.ipv4.no_such_key", root_).error().code, core::Code::kNotFound);
  EXPECT_FALSE(SysctlGuard::set("net.ipv4.no_such_key", "1", root_).ok());
  EXPECT_FALSE(writeSysctl(kIpv4Forward, "1\n0", root_).ok());
}

}  // namespace
}  // namespace aureo::netcfg
