// Real /proc/sys net.* keys, inside a fresh network namespace (they are per
// namespace, so the host's values stay as they are).
#include <gtest/gtest.h>

#include "netcfg/netlink.h"
#include "netcfg/sysctl.h"
#include "netcfg/testing/netns.h"

namespace aureo::netcfg {
namespace {

using testing::runInFreshNetns;

TEST(SysctlNetnsTest, ForwardingGuardRestoresAndLeavesHostAlone) {
  auto host_before = readSysctl(kIpv4Forward);
  ASSERT_TRUE(host_before.ok()) << host_before.error().toString();
  runInFreshNetns([] {
    for (const auto key : {kIpv4Forward, kIpv6ForwardAll}) {
      SCOPED_TRACE(std::string(key));
      auto before = readSysctl(key);
      ASSERT_TRUE(before.ok()) << before.error().toString();
      const std::string flipped = *before == "1" ? "0" : "1";
      {
        auto guard = SysctlGuard::set(key, flipped);
        ASSERT_TRUE(guard.ok()) << guard.error().toString();
        EXPECT_EQ(*readSysctl(key), flipped);
      }
      EXPECT_EQ(*readSysctl(key), *before);
    }
  });
  EXPECT_EQ(*readSysctl(kIpv4Forward), *host_before);
}

TEST(SysctlNetnsTest, PerInterfaceDisableIpv6) {
  runInFreshNetns([] {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    ASSERT_TRUE(nl->createVeth("ve0.1", "ve1").ok());
    const std::string key = disableIpv6Key("ve0.1");
    ASSERT_EQ(*readSysctl(key), "0");
    auto guard = SysctlGuard::set(key, "1");
    ASSERT_TRUE(guard.ok()) << guard.error().toString();
    EXPECT_EQ(*readSysctl(key), "1");
    // With IPv6 off the interface refuses IPv6 addresses.
    EXPECT_FALSE(nl->addAddress("ve0.1", *InterfaceAddress::parse("fd00::1/64")).ok());
    ASSERT_TRUE(guard->restore().ok());
    EXPECT_EQ(*readSysctl(key), "0");
    EXPECT_TRUE(nl->addAddress("ve0.1", *InterfaceAddress::parse("fd00::1/64")).ok());
    EXPECT_EQ(readSysctl(disableIpv6Key("nope0")).error().code, core::Code::kNotFound);
  });
}

}  // namespace
}  // namespace aureo::netcfg
