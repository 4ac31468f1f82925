// A connect/disconnect cycle in miniature: snapshot, change routes, rules,
// nftables and resolv.conf, revert, snapshot again.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "netcfg/netlink.h"
#include "netcfg/nftables.h"
#include "netcfg/resolv.h"
#include "netcfg/rulesets.h"
#include "netcfg/snapshot.h"
#include "netcfg/testing/netns.h"

namespace aureo::netcfg {
namespace {

using testing::runInFreshNetns;

TEST(SnapshotNetnsTest, ApplyThenRevertRestoresAnEqualSnapshot) {
  char tmpl[] = "/tmp/aureo-snapshot-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::filesystem::path dir = tmpl;
  const auto resolv_path = dir / "resolv.conf";
  std::ofstream(resolv_path) << "nameserver 192.168.1.1\n";

  runInFreshNetns([&] {
    auto nl = Netlink::open();
    auto nft = Nftables::open();
    ASSERT_TRUE(nl.ok() && nft.ok());
    // A "physical" uplink with a default route and an unrelated host table.
    ASSERT_TRUE(nl->setLinkUp("lo").ok());
    ASSERT_TRUE(nl->createVeth("ve0", "ve1").ok());
    ASSERT_TRUE(nl->setLinkUp("ve0").ok());
    ASSERT_TRUE(nl->setLinkUp("ve1").ok());
    ASSERT_TRUE(nl->addAddress("ve0", *InterfaceAddress::parse("10.9.0.2/24")).ok());
    Route uplink;
    uplink.destination = *core::Cidr::parse("0.0.0.0/0");
    uplink.gateway = core::IpAddress::parse("10.9.0.1");
    uplink.oif = *nl->linkIndex("ve0");
    ASSERT_TRUE(nl->addRoute(uplink).ok());
    auto host = nft->applyRuleset(
        "table inet host {\n\tchain c {\n\t\ttype filter hook input priority 0; policy "
        "accept;\n\t\tcounter\n\t}\n}\n");
    ASSERT_TRUE(host.ok()) << host.error().toString();

    auto before = captureSnapshot(*nl, *nft, resolv_path);
    ASSERT_TRUE(before.ok()) << before.error().toString();
    EXPECT_FALSE(before->routes.empty());
    EXPECT_EQ(before->rules.size(), 5u);  // 3 IPv4 + 2 IPv6 default rules
    EXPECT_NE(before->ruleset.find("table inet host"), std::string::npos);
    EXPECT_EQ(before->resolv_conf, "nameserver 192.168.1.1\n");

    // "Connect".
    ASSERT_TRUE(nl->createVeth("aureo0", "aureo1").ok());
    ASSERT_TRUE(nl->setLinkUp("aureo0").ok());
    Route tunnel_default;
    tunnel_default.destination = *core::Cidr::parse("0.0.0.0/0");
    tunnel_default.oif = *nl->linkIndex("aureo0");
    tunnel_default.table = 51820;
    ASSERT_TRUE(nl->addRoute(tunnel_default).ok());
    Rule not_marked;
    not_marked.priority = 32000;
    not_marked.fwmark = 51820;
    not_marked.invert = true;
    not_marked.table = 51820;
    ASSERT_TRUE(nl->addRule(not_marked).ok());
    KillSwitchSpec ks;
    ks.tunnel_interface = "aureo0";
    ks.endpoints = {{*core::IpAddress::parse("10.9.0.7"), 51820}};
    ASSERT_TRUE(nft->applyRuleset(*killSwitch(ks)).ok());
    ResolvConf resolv(resolv_path, dir / "resolv.backup");
    ASSERT_TRUE(resolv.install({*core::IpAddress::parse("1.1.1.1")}).ok());

    auto during = captureSnapshot(*nl, *nft, resolv_path);
    ASSERT_TRUE(during.ok());
    EXPECT_FALSE(*during == *before);
    const std::string diff = diffSnapshots(*before, *during);
    EXPECT_NE(diff.find("+ route 0.0.0.0/0 dev #"), std::string::npos) << diff;
    EXPECT_NE(diff.find("table 51820"), std::string::npos) << diff;
    EXPECT_NE(diff.find("+ rule 32000: not from all fwmark 0xca6c/0xffffffff lookup 51820"),
              std::string::npos)
        << diff;
    EXPECT_NE(diff.find("+ table inet aureo-killswitch {"), std::string::npos) << diff;
    EXPECT_NE(diff.find("- nameserver 192.168.1.1"), std::string::npos) << diff;
    EXPECT_NE(diff.find("+ nameserver 1.1.1.1"), std::string::npos) << diff;

    // "Disconnect": undo in reverse. Deleting the tunnel link takes its
    // routes with it.
    ASSERT_TRUE(resolv.restore().ok());
    ASSERT_TRUE(nft->deleteTable(TableFamily::kInet, "aureo-killswitch").ok());
    ASSERT_TRUE(nl->delRule(not_marked).ok());
    ASSERT_TRUE(nl->deleteLink("aureo0").ok());

    auto after = captureSnapshot(*nl, *nft, resolv_path);
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(*after == *before) << diffSnapshots(*before, *after);
    EXPECT_EQ(diffSnapshots(*before, *after), "");
  });
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aureo::netcfg
