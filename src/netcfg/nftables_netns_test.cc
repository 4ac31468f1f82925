// libnftables against the kernel, each test in its own network namespace:
// the rendered rulesets apply, list, replace and delete, and the client
// protections really drop what they should.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "netcfg/netlink.h"
#include "netcfg/nftables.h"
#include "netcfg/rulesets.h"
#include "netcfg/testing/netns.h"

namespace aureo::netcfg {
namespace {

using testing::runInFreshNetns;

core::IpAddress ip(const char* text) {
  return *core::IpAddress::parse(text);
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// Sends one UDP datagram; returns 0 if the kernel took it, else the errno.
// A netfilter drop on output shows up here as EPERM.
int sendUdp(const char* address, uint16_t port) {
  const auto addr = ip(address);
  const int fd = ::socket(addr.isV4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int rc = 0;
  const char payload[] = "aureo";
  if (addr.isV4()) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    std::memcpy(&sa.sin_addr, addr.bytes().data(), 4);
    rc = static_cast<int>(::sendto(fd, payload, sizeof(payload), 0,
                                   reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)));
  } else {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    std::memcpy(&sa.sin6_addr, addr.bytes().data(), 16);
    rc = static_cast<int>(::sendto(fd, payload, sizeof(payload), 0,
                                   reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)));
  }
  const int err = rc < 0 ? errno : 0;
  ::close(fd);
  return err;
}

// lo up, and a veth "ve0" up with 10.9.0.2/24 and fd00:9::2/64.
void setUpLinks() {
  auto nl = Netlink::open();
  ASSERT_TRUE(nl.ok());
  ASSERT_TRUE(nl->setLinkUp("lo").ok());
  ASSERT_TRUE(nl->createVeth("ve0", "ve1").ok());
  ASSERT_TRUE(nl->setLinkUp("ve1").ok());
  ASSERT_TRUE(nl->setLinkUp("ve0").ok());
  ASSERT_TRUE(nl->addAddress("ve0", *InterfaceAddress::parse("10.9.0.2/24")).ok());
  ASSERT_TRUE(nl->addAddress("ve0", *InterfaceAddress::parse("fd00:9::2/64")).ok());
}

size_t ruleCount(const std::string& json) {
  size_t n = 0;
  const auto doc = nlohmann::json::parse(json);
  for (const auto& item : doc.at("nftables")) {
    if (item.contains("rule")) ++n;
  }
  return n;
}

KillSwitchSpec killSwitchSpec() {
  KillSwitchSpec spec;
  spec.tunnel_interface = "aureo0";
  spec.endpoints = {{ip("10.9.0.7"), 51820}};
  return spec;
}

TEST(NftablesNetnsTest, EachRulesetAppliesListsReplacesAndDeletes) {
  runInFreshNetns([] {
    auto nft = Nftables::open();
    ASSERT_TRUE(nft.ok()) << nft.error().toString();

    NatSpec nat;
    nat.tunnel_interface = "aureo0";
    nat.tunnel_v4 = {*core::Cidr::parse("10.8.0.0/24")};
    nat.tunnel_v6 = {*core::Cidr::parse("fd00:8::/64")};
    nat.egress_interface = "eth0";
    DnsSpec dns;
    dns.tunnel_interface = "aureo0";
    dns.resolvers = {ip("1.1.1.1"), ip("2606:4700:4700::1111")};

    struct Case {
      std::string table;
      core::Result<std::string> text;
      std::string expected;  // a line as `nft list` prints it back
    };
    Case cases[] = {
        {"aureo-nat", natMasquerade(nat), "ip saddr 10.8.0.0/24 oifname \"eth0\" masquerade"},
        {"aureo-killswitch", killSwitch(killSwitchSpec()),
         "ip daddr 10.9.0.7 udp dport 51820 accept"},
        {"aureo-dns", dnsLeak(dns), "meta l4proto { tcp, udp } th dport { 53, 853 } drop"},
        {"aureo-ipv6", ipv6Block(), "meta nfproto ipv6 drop"},
    };
    for (auto& c : cases) {
      SCOPED_TRACE(c.table);
      ASSERT_TRUE(c.text.ok()) << c.text.error().toString();
      EXPECT_FALSE(*nft->tableExists(TableFamily::kInet, c.table));
      auto applied = nft->applyRuleset(*c.text);
      ASSERT_TRUE(applied.ok()) << applied.error().toString();
      EXPECT_TRUE(*nft->tableExists(TableFamily::kInet, c.table));

      auto listing = nft->listTable(TableFamily::kInet, c.table);
      ASSERT_TRUE(listing.ok()) << listing.error().toString();
      EXPECT_TRUE(contains(*listing, c.expected)) << *listing;
      auto json = nft->listTable(TableFamily::kInet, c.table, ListFormat::kJson);
      ASSERT_TRUE(json.ok());
      const size_t rules = ruleCount(*json);
      EXPECT_GT(rules, 0u);

      // Applying again replaces the table instead of appending to it.
      ASSERT_TRUE(nft->applyRuleset(*c.text).ok());
      EXPECT_EQ(*nft->listTable(TableFamily::kInet, c.table), *listing);
      EXPECT_EQ(ruleCount(*nft->listTable(TableFamily::kInet, c.table, ListFormat::kJson)), rules);

      ASSERT_TRUE(nft->deleteTable(TableFamily::kInet, c.table).ok());
      EXPECT_FALSE(*nft->tableExists(TableFamily::kInet, c.table));
      EXPECT_EQ(nft->listTable(TableFamily::kInet, c.table).error().code, core::Code::kNotFound);
      // Deleting what is not there is not an error.
      EXPECT_TRUE(nft->deleteTable(TableFamily::kInet, c.table).ok());
    }
    EXPECT_EQ(*nft->listRuleset(), "");
  });
}

TEST(NftablesNetnsTest, FailedScriptChangesNothing) {
  runInFreshNetns([] {
    auto nft = Nftables::open();
    ASSERT_TRUE(nft.ok());
    ASSERT_TRUE(nft->applyRuleset(*killSwitch(killSwitchSpec())).ok());
    const std::string before = *nft->listRuleset();

    // Replacing the kill switch with a script whose last line is bad must
    // leave the old one in place: the batch is all or nothing.
    const std::string broken =
        "table inet aureo-killswitch {}\ndelete table inet aureo-killswitch\n"
        "table inet aureo-killswitch {\n\tchain output {\n"
        "\t\ttype filter hook output priority filter; policy accept;\n"
        "\t\toifname \"lo\" accept\n\t\tip daddr 300.1.1.1 accept\n\t}\n}\n";
    auto st = nft->applyRuleset(broken);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, core::Code::kInvalidArgument);
    EXPECT_TRUE(contains(st.error().message, "Error:")) << st.error().message;
    EXPECT_EQ(*nft->listRuleset(), before);

    auto syntax = nft->applyRuleset("table inet t {}\nthis is not nft\n");
    ASSERT_FALSE(syntax.ok());
    EXPECT_TRUE(contains(syntax.error().message, "syntax error")) << syntax.error().message;
    EXPECT_FALSE(*nft->tableExists(TableFamily::kInet, "t"));

    EXPECT_EQ(nft->deleteTable(TableFamily::kInet, "bad name").error().code,
              core::Code::kInvalidArgument);
  });
}

TEST(NftablesNetnsTest, CheckRulesetValidatesWithoutCommitting) {
  runInFreshNetns([] {
    auto nft = Nftables::open();
    ASSERT_TRUE(nft.ok());
    ASSERT_TRUE(nft->checkRuleset(*ipv6Block()).ok());
    EXPECT_FALSE(*nft->tableExists(TableFamily::kInet, "aureo-ipv6"));
    EXPECT_FALSE(nft->checkRuleset("table inet x { chain c { bogus } }").ok());
  });
}

TEST(NftablesNetnsTest, KillSwitchLetsOnlyEndpointTunnelAndLoopbackOut) {
  runInFreshNetns([] {
    setUpLinks();
    auto nft = Nftables::open();
    ASSERT_TRUE(nft.ok());
    EXPECT_EQ(sendUdp("10.9.0.8", 9), 0);  // open before

    ASSERT_TRUE(nft->applyRuleset(*killSwitch(killSwitchSpec())).ok());
    EXPECT_EQ(sendUdp("10.9.0.8", 9), EPERM);
    EXPECT_EQ(sendUdp("10.9.0.7", 9), EPERM);  // endpoint address, wrong port
    EXPECT_EQ(sendUdp("fd00:9::8", 9), EPERM);
    EXPECT_EQ(sendUdp("10.9.0.7", 51820), 0);
    EXPECT_EQ(sendUdp("127.0.0.1", 9), 0);
    EXPECT_EQ(sendUdp("192.168.7.7", 9), ENETUNREACH);  // no route: not our business

    auto lan = killSwitchSpec();
    lan.allow_lan = true;
    ASSERT_TRUE(nft->applyRuleset(*killSwitch(lan)).ok());
    EXPECT_EQ(sendUdp("10.9.0.8", 9), 0);       // 10/8 is LAN
    EXPECT_EQ(sendUdp("fd00:9::8", 9), EPERM);  // ULA is not in the LAN set

    ASSERT_TRUE(nft->deleteTable(TableFamily::kInet, "aureo-killswitch").ok());
    EXPECT_EQ(sendUdp("fd00:9::8", 9), 0);
  });
}

TEST(NftablesNetnsTest, DnsLeakProtectionDropsDnsToOtherServers) {
  runInFreshNetns([] {
    setUpLinks();
    auto nft = Nftables::open();
    ASSERT_TRUE(nft.ok());
    DnsSpec dns;
    dns.tunnel_interface = "ve0";  // stands in for the tunnel
    dns.resolvers = {ip("10.9.0.53")};
    ASSERT_TRUE(nft->applyRuleset(*dnsLeak(dns)).ok());
    EXPECT_EQ(sendUdp("10.9.0.53", 53), 0);
    EXPECT_EQ(sendUdp("10.9.0.54", 53), EPERM);
    EXPECT_EQ(sendUdp("10.9.0.54", 853), EPERM);
    EXPECT_EQ(sendUdp("fd00:9::53", 53), EPERM);
    EXPECT_EQ(sendUdp("10.9.0.54", 54), 0);  // not DNS

    dns.tunnel_interface = "aureo0";  // the resolver, but not via the tunnel
    ASSERT_TRUE(nft->applyRuleset(*dnsLeak(dns)).ok());
    EXPECT_EQ(sendUdp("10.9.0.53", 53), EPERM);
  });
}

TEST(NftablesNetnsTest, Ipv6BlockDropsIpv6ButNotLoopbackOrIpv4) {
  runInFreshNetns([] {
    setUpLinks();
    auto nft = Nftables::open();
    ASSERT_TRUE(nft.ok());
    ASSERT_TRUE(nft->applyRuleset(*ipv6Block()).ok());
    EXPECT_EQ(sendUdp("fd00:9::8", 9), EPERM);
    EXPECT_EQ(sendUdp("::1", 9), 0);
    EXPECT_EQ(sendUdp("10.9.0.8", 9), 0);

    Ipv6BlockSpec spec;
    spec.allowed_endpoints = {{ip("fd00:9::7"), 51820}};
    ASSERT_TRUE(nft->applyRuleset(*ipv6Block(spec)).ok());
    EXPECT_EQ(sendUdp("fd00:9::7", 51820), 0);
    EXPECT_EQ(sendUdp("fd00:9::7", 51821), EPERM);
  });
}

}  // namespace
}  // namespace aureo::netcfg
