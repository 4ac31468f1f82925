#include "netcfg/rulesets.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace aureo::netcfg {
namespace {

core::IpAddress ip(const char* text) {
  return *core::IpAddress::parse(text);
}
core::Cidr cidr(const char* text) {
  return *core::Cidr::parse(text);
}

// Runs `nft -c -f` (check mode: parse and evaluate, commit nothing) on the
// text; returns nft's diagnostics, empty when it accepted the script.
std::string nftCheck(const std::string& text) {
  char path[] = "/tmp/aureo-nft-check-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return "mkstemp failed";
  close(fd);
  {
    std::ofstream f(path);
    f << text;
  }
  const std::string cmd = std::string("nft -c -f ") + path + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  unlink(path);
  if (rc != 0 && out.empty()) out = "nft -c failed with status " + std::to_string(rc);
  return rc == 0 ? std::string() : out;
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// The checker itself must be able to say no, or every test above would pass.
TEST(NftCheckTest, RejectsAScriptNftCannotParse) {
  EXPECT_NE(nftCheck("table inet aureo-x {\n\tchain c {\n\t\tbogus statement\n\t}\n}\n"), "");
}

KillSwitchSpec killSwitchSpec() {
  KillSwitchSpec spec;
  spec.tunnel_interface = "aureo0";
  spec.endpoints = {{ip("203.0.113.7"), 51820}, {ip("2001:db8::7"), 51821}};
  return spec;
}

TEST(KillSwitchTest, RendersFailClosedChainsThatNftAccepts) {
  auto text = killSwitch(killSwitchSpec());
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(
      contains(*text, "table inet aureo-killswitch {}\ndelete table inet aureo-killswitch\n"));
  EXPECT_TRUE(contains(*text, "type filter hook output priority filter; policy drop;"));
  EXPECT_TRUE(contains(*text, "type filter hook input priority filter; policy drop;"));
  EXPECT_TRUE(contains(*text, "oifname \"aureo0\" accept"));
  EXPECT_TRUE(contains(*text, "ip daddr 203.0.113.7 udp dport 51820 accept"));
  EXPECT_TRUE(contains(*text, "ip6 daddr 2001:db8::7 udp dport 51821 accept"));
  EXPECT_TRUE(contains(*text, "ip saddr 203.0.113.7 udp sport 51820 accept"));
  EXPECT_TRUE(contains(*text, "udp sport 68 udp dport 67 accept"));
  EXPECT_FALSE(contains(*text, "192.168.0.0/16"));
  EXPECT_FALSE(contains(*text, "meta mark"));
  EXPECT_EQ(nftCheck(*text), "");
}

TEST(KillSwitchTest, AllowLanOpensPrivateAndMulticastRanges) {
  auto spec = killSwitchSpec();
  spec.allow_lan = true;
  auto text = killSwitch(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(contains(*text,
                       "ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, "
                       "224.0.0.0/4, 255.255.255.255 } accept"));
  EXPECT_TRUE(contains(*text, "ip6 daddr { fe80::/10, ff00::/8 } accept"));
  EXPECT_TRUE(contains(*text, "ip6 saddr fe80::/10 accept"));
  EXPECT_EQ(nftCheck(*text), "");
}

TEST(KillSwitchTest, FwmarkRestrictsEndpointRulesToMarkedPackets) {
  auto spec = killSwitchSpec();
  spec.fwmark = 0xca6c;
  spec.allow_dhcp = false;
  auto text = killSwitch(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(contains(*text, "ip daddr 203.0.113.7 udp dport 51820 meta mark 0xca6c accept"));
  EXPECT_FALSE(contains(*text, "udp dport 67"));
  EXPECT_FALSE(contains(*text, "nd-router-solicit"));
  EXPECT_EQ(nftCheck(*text), "");
}

TEST(KillSwitchTest, ExcludedCgroupRendersSocketMatch) {
  auto spec = killSwitchSpec();
  spec.excluded_cgroup = CgroupMatch{"aureo/excluded", 2};
  auto text = killSwitch(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(contains(*text, "socket cgroupv2 level 2 \"aureo/excluded\" accept"));
}

TEST(KillSwitchTest, BypassPrefixesAndTcpEndpointsAreReachableOutsideTheTunnel) {
  auto spec = killSwitchSpec();
  spec.bypass = {cidr("192.0.2.0/24"), cidr("198.18.0.0/15"), cidr("2001:db8:1::/48")};
  spec.tcp_endpoints = {{ip("198.51.100.1"), 8080}};
  auto text = killSwitch(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(contains(*text, "ip daddr { 192.0.2.0/24, 198.18.0.0/15 } accept"));
  EXPECT_TRUE(contains(*text, "ip6 daddr 2001:db8:1::/48 accept"));
  EXPECT_TRUE(contains(*text, "ip daddr 198.51.100.1 tcp dport 8080 accept"));
  EXPECT_EQ(nftCheck(*text), "");
  spec.tcp_endpoints = {{ip("198.51.100.1"), 0}};
  EXPECT_FALSE(killSwitch(spec).ok());
}

TEST(KillSwitchTest, RejectsHostileInputs) {
  auto spec = killSwitchSpec();
  spec.tunnel_interface = "wg0\" accept; #";
  EXPECT_EQ(killSwitch(spec).error().code, core::Code::kInvalidArgument);
  spec = killSwitchSpec();
  spec.tunnel_interface = "";
  EXPECT_EQ(killSwitch(spec).error().field, "tunnel_interface");
  spec = killSwitchSpec();
  spec.tunnel_interface = "sixteen-chars-xx";
  EXPECT_FALSE(killSwitch(spec).ok());
  spec = killSwitchSpec();
  spec.table = "x }\ntable inet y {";
  EXPECT_EQ(killSwitch(spec).error().field, "table");
  spec = killSwitchSpec();
  spec.excluded_cgroup = CgroupMatch{"../etc", 1};
  EXPECT_EQ(killSwitch(spec).error().field, "excluded_cgroup");
  spec.excluded_cgroup = CgroupMatch{"a\"b", 1};
  EXPECT_FALSE(killSwitch(spec).ok());
  spec.excluded_cgroup = CgroupMatch{"ok", 0};
  EXPECT_FALSE(killSwitch(spec).ok());
  spec = killSwitchSpec();
  spec.endpoints.push_back({ip("198.51.100.1"), 0});
  EXPECT_EQ(killSwitch(spec).error().field, "endpoints");
  spec = killSwitchSpec();
  spec.fwmark = 0;
  EXPECT_EQ(killSwitch(spec).error().field, "fwmark");
}

TEST(NatMasqueradeTest, RendersMasqueradeAndForwardingForOneEgress) {
  NatSpec spec;
  spec.tunnel_interface = "aureo0";
  spec.tunnel_v4 = {cidr("10.8.0.0/24")};
  spec.tunnel_v6 = {cidr("fd00:8::/64"), cidr("fd00:9::/64")};
  spec.egress_interface = "eth0";
  auto text = natMasquerade(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(contains(*text, "type nat hook postrouting priority srcnat; policy accept;"));
  EXPECT_TRUE(contains(*text, "ip saddr 10.8.0.0/24 oifname \"eth0\" masquerade"));
  EXPECT_TRUE(
      contains(*text, "ip6 saddr { fd00:8::/64, fd00:9::/64 } oifname \"eth0\" masquerade"));
  EXPECT_TRUE(contains(*text, "iifname \"aureo0\" oifname \"eth0\" accept"));
  EXPECT_TRUE(
      contains(*text, "iifname \"eth0\" oifname \"aureo0\" ct state established,related accept"));
  EXPECT_TRUE(contains(*text, "iifname \"eth0\" oifname \"aureo0\" drop"));
  EXPECT_TRUE(contains(*text, "iifname \"aureo0\" oifname \"aureo0\" drop"));
  EXPECT_TRUE(contains(*text, "tcp option maxseg size set rt mtu"));
  EXPECT_EQ(nftCheck(*text), "");
}

TEST(NatMasqueradeTest, EmptyEgressMeansAnyInterfaceButTheTunnel) {
  NatSpec spec;
  spec.tunnel_interface = "aureo0";
  spec.tunnel_v4 = {cidr("10.8.0.0/24")};
  spec.isolate_clients = false;
  spec.clamp_mss = false;
  auto text = natMasquerade(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(contains(*text, "ip saddr 10.8.0.0/24 oifname != \"aureo0\" masquerade"));
  EXPECT_FALSE(contains(*text, "ip6 saddr"));
  EXPECT_FALSE(contains(*text, "maxseg"));
  EXPECT_FALSE(contains(*text, "oifname \"aureo0\" drop\n\t\tiifname \"aureo0\" oifname != "));
  EXPECT_EQ(nftCheck(*text), "");
}

TEST(NatMasqueradeTest, RejectsMismatchedFamiliesAndMissingSubnets) {
  NatSpec spec;
  spec.tunnel_interface = "aureo0";
  EXPECT_EQ(natMasquerade(spec).error().field, "tunnel_v4");
  spec.tunnel_v4 = {cidr("fd00::/64")};
  EXPECT_EQ(natMasquerade(spec).error().field, "tunnel_v4");
  spec.tunnel_v4 = {cidr("10.0.0.0/8")};
  spec.tunnel_v6 = {cidr("10.0.0.0/8")};
  EXPECT_EQ(natMasquerade(spec).error().field, "tunnel_v6");
  spec.tunnel_v6.clear();
  spec.egress_interface = "aureo0";
  EXPECT_EQ(natMasquerade(spec).error().field, "egress_interface");
  spec.egress_interface = "eth 0";
  EXPECT_EQ(natMasquerade(spec).error().field, "egress_interface");
}

TEST(DnsLeakTest, AllowsOnlyResolversThroughTheTunnel) {
  DnsSpec spec;
  spec.tunnel_interface = "aureo0";
  spec.resolvers = {ip("1.1.1.1"), ip("1.0.0.1"), ip("2606:4700:4700::1111")};
  auto text = dnsLeak(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(contains(*text,
                       "oifname \"aureo0\" ip daddr { 1.1.1.1, 1.0.0.1 } meta l4proto { tcp, udp } "
                       "th dport { 53, 853 } accept"));
  EXPECT_TRUE(contains(*text, "oifname \"aureo0\" ip6 daddr 2606:4700:4700::1111 meta l4proto"));
  EXPECT_TRUE(contains(*text, "\t\tmeta l4proto { tcp, udp } th dport { 53, 853 } drop\n"));
  EXPECT_EQ(nftCheck(*text), "");
}

TEST(DnsLeakTest, AnExcludedCgroupResolvesOutsideTheTunnel) {
  DnsSpec spec;
  spec.tunnel_interface = "aureo0";
  spec.resolvers = {ip("1.1.1.1")};
  spec.excluded_cgroup = CgroupMatch{"aureo-exclude", 1};
  auto text = dnsLeak(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  const auto accept = text->find("socket cgroupv2 level 1 \"aureo-exclude\" accept");
  ASSERT_NE(accept, std::string::npos);
  EXPECT_LT(accept, text->find("th dport { 53, 853 } drop"));
  spec.excluded_cgroup = CgroupMatch{"../escape", 1};
  EXPECT_FALSE(dnsLeak(spec).ok());
}

TEST(DnsLeakTest, NoResolversDropsAllDnsButLoopback) {
  DnsSpec spec;
  spec.tunnel_interface = "aureo0";
  auto text = dnsLeak(spec);
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(contains(*text, "daddr"));
  EXPECT_TRUE(contains(*text, "oifname \"lo\" accept"));
  EXPECT_EQ(nftCheck(*text), "");
}

TEST(Ipv6BlockTest, DropsIpv6InEveryDirectionExceptLoopback) {
  auto text = ipv6Block();
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(contains(*text, "table inet aureo-ipv6 {\n"));
  EXPECT_TRUE(contains(*text, "meta nfproto ipv6 oifname \"lo\" accept"));
  EXPECT_TRUE(contains(*text, "meta nfproto ipv6 reject with icmpv6 type admin-prohibited"));
  EXPECT_TRUE(contains(*text, "chain forward"));
  EXPECT_FALSE(contains(*text, "nd-router"));
  EXPECT_EQ(nftCheck(*text), "");
}

TEST(Ipv6BlockTest, KeepsAllowedIpv6EndpointsReachable) {
  Ipv6BlockSpec spec;
  spec.allowed_endpoints = {{ip("2001:db8::7"), 51820}};
  auto text = ipv6Block(spec);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(contains(*text, "ip6 daddr 2001:db8::7 udp dport 51820 accept"));
  EXPECT_TRUE(contains(*text, "nd-neighbor-solicit"));
  EXPECT_EQ(nftCheck(*text), "");
  spec.allowed_endpoints = {{ip("192.0.2.1"), 51820}};
  EXPECT_FALSE(ipv6Block(spec).ok());
}

TEST(SplitTunnelTest, RendersMarkSaveRestoreAndMasquerade) {
  SplitTunnelSpec spec;
  spec.cgroup = {"aureo-exclude", 1};
  spec.fwmark = 0x6d6f;
  auto text = splitTunnelMark(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(contains(*text, "type route hook output priority mangle; policy accept;"));
  EXPECT_TRUE(contains(*text,
                       "socket cgroupv2 level 1 \"aureo-exclude\" meta mark set 0x6d6f ct mark set "
                       "meta mark"));
  EXPECT_TRUE(contains(*text, "ct mark 0x6d6f meta mark set 0x6d6f"));
  EXPECT_TRUE(contains(*text, "oifname != \"lo\" ct mark 0x6d6f masquerade"));
  spec.fwmark = 0;
  EXPECT_EQ(splitTunnelMark(spec).error().field, "fwmark");
  spec.fwmark = 1;
  spec.cgroup.path = "/abs";
  EXPECT_EQ(splitTunnelMark(spec).error().field, "cgroup");
}

TEST(TunnelMarkTest, SavesAndRestoresTheEngineMarkAndGuardsTheTunnelAddresses) {
  TunnelMarkSpec spec;
  spec.tunnel_interface = "aureo0";
  spec.tunnel_addresses = {ip("10.8.0.2"), ip("fd00::2")};
  spec.fwmark = 0xca6d;
  auto text = tunnelMark(spec);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(
      contains(*text, "iifname != \"aureo0\" ip daddr 10.8.0.2 fib saddr type != local drop"));
  EXPECT_TRUE(
      contains(*text, "iifname != \"aureo0\" ip6 daddr fd00::2 fib saddr type != local drop"));
  EXPECT_TRUE(contains(*text, "meta l4proto udp meta mark set ct mark"));
  EXPECT_TRUE(contains(*text, "meta l4proto udp meta mark 0xca6d ct mark set meta mark"));
  EXPECT_EQ(nftCheck(*text), "");
  spec.fwmark = 0;
  EXPECT_FALSE(tunnelMark(spec).ok());
}

TEST(CgroupPathTest, AcceptsPlainRelativePathsOnly) {
  EXPECT_TRUE(isValidCgroupPath("aureo"));
  EXPECT_TRUE(isValidCgroupPath("unified/aureo/app-1.scope"));
  EXPECT_FALSE(isValidCgroupPath(""));
  EXPECT_FALSE(isValidCgroupPath("/aureo"));
  EXPECT_FALSE(isValidCgroupPath("aureo/"));
  EXPECT_FALSE(isValidCgroupPath("a//b"));
  EXPECT_FALSE(isValidCgroupPath("a/../b"));
  EXPECT_FALSE(isValidCgroupPath("a b"));
  EXPECT_FALSE(isValidCgroupPath("a\"b"));
}

}  // namespace
}  // namespace aureo::netcfg
