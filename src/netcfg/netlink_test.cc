// The parts of netlink.h that need no kernel: names, parsing, formatting.
#include "netcfg/netlink.h"

#include <gtest/gtest.h>

namespace aureo::netcfg {
namespace {

TEST(InterfaceAddressTest, ParseKeepsHostBits) {
  auto a = InterfaceAddress::parse("10.8.0.2/24");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->address.toString(), "10.8.0.2");
  EXPECT_EQ(a->prefix, 24);
  EXPECT_EQ(a->toString(), "10.8.0.2/24");
  EXPECT_EQ(InterfaceAddress::parse("fd00::2")->prefix, 128);
  EXPECT_EQ(InterfaceAddress::parse("10.0.0.1")->prefix, 32);
  EXPECT_FALSE(InterfaceAddress::parse("10.0.0.1/33"));
  EXPECT_FALSE(InterfaceAddress::parse("10.0.0.1/"));
  EXPECT_FALSE(InterfaceAddress::parse("10.0.0.1/-1"));
  EXPECT_FALSE(InterfaceAddress::parse("fd00::/129"));
  EXPECT_FALSE(InterfaceAddress::parse("host/24"));
}

TEST(InterfaceNameTest, AcceptsLinuxNamesAndRejectsInjection) {
  EXPECT_TRUE(isValidInterfaceName("wg0"));
  EXPECT_TRUE(isValidInterfaceName("eth0.100"));
  EXPECT_TRUE(isValidInterfaceName("aureo-client_1"));
  EXPECT_TRUE(isValidInterfaceName("fifteen-chars-x"));
  EXPECT_FALSE(isValidInterfaceName("sixteen-chars-xx"));
  EXPECT_FALSE(isValidInterfaceName(""));
  EXPECT_FALSE(isValidInterfaceName("."));
  EXPECT_FALSE(isValidInterfaceName(".."));
  EXPECT_FALSE(isValidInterfaceName("a/b"));
  EXPECT_FALSE(isValidInterfaceName("a b"));
  EXPECT_FALSE(isValidInterfaceName("eth+"));  // an nft wildcard
  EXPECT_FALSE(isValidInterfaceName("wg\"0"));
}

TEST(RouteTest, ToStringReadsLikeIpRoute) {
  Route r;
  r.destination = *core::Cidr::parse("192.0.2.0/24");
  r.gateway = core::IpAddress::parse("10.0.0.1");
  r.oif = 3;
  r.table = 51820;
  r.metric = 10;
  EXPECT_EQ(r.toString(), "192.0.2.0/24 via 10.0.0.1 dev #3 table 51820 metric 10 proto 4");
  r.type = RouteType::kBlackhole;
  r.gateway.reset();
  r.oif = 0;
  r.scope = RouteScope::kUniverse;
  EXPECT_EQ(r.toString(), "blackhole 192.0.2.0/24 table 51820 metric 10 proto 4 scope 0");
}

TEST(RuleTest, ToStringShowsSelectors) {
  Rule r;
  r.priority = 32763;
  r.suppress_prefixlength = 0;
  EXPECT_EQ(r.toString(), "32763: from all lookup 254 suppress_prefixlength 0 (ipv4)");
  Rule v6;
  v6.family = Family::kV6;
  v6.from = core::Cidr::parse("fd00::/64");
  v6.iifname = "lo";
  v6.action = Rule::Action::kUnreachable;
  EXPECT_EQ(v6.toString(), "0: from fd00::/64 iif lo action 7 (ipv6)");
}

}  // namespace
}  // namespace aureo::netcfg
