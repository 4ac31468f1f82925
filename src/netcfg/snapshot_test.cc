#include "netcfg/snapshot.h"

#include <gtest/gtest.h>

namespace aureo::netcfg {
namespace {

Route route(const char* dst, int oif, uint32_t table) {
  Route r;
  r.destination = *core::Cidr::parse(dst);
  r.oif = oif;
  r.table = table;
  r.scope = RouteScope::kLink;
  return r;
}

NetworkSnapshot base() {
  NetworkSnapshot s;
  s.routes = {route("10.9.0.0/24", 2, kTableMain)};
  Rule main_rule;
  main_rule.priority = 32766;
  s.rules = {main_rule};
  s.ruleset = "table inet host {\n\tchain c {\n\t\tcounter\n\t}\n}\n";
  s.resolv_conf = "nameserver 192.168.1.1\n";
  return s;
}

TEST(SnapshotDiffTest, EqualSnapshotsHaveEmptyDiff) {
  EXPECT_EQ(diffSnapshots(base(), base()), "");
  EXPECT_TRUE(base() == base());
}

TEST(SnapshotDiffTest, ReportsEachKindOfChangeReadably) {
  NetworkSnapshot after = base();
  after.routes.push_back(route("0.0.0.0/0", 5, 51820));
  Rule mark;
  mark.priority = 32764;
  mark.fwmark = 0xca6c;
  mark.invert = true;
  mark.table = 51820;
  after.rules.insert(after.rules.begin(), mark);
  after.ruleset =
      "table inet host {\n\tchain c {\n\t\tcounter\n\t}\n}\ntable inet aureo-dns {\n}\n";
  after.resolv_conf = "nameserver 1.1.1.1\n";

  const std::string diff = diffSnapshots(base(), after);
  EXPECT_NE(diff.find("+ route 0.0.0.0/0 dev #5 table 51820 metric 0 proto 4 scope 253\n"),
            std::string::npos)
      << diff;
  EXPECT_NE(diff.find("+ rule 32764: not from all fwmark 0xca6c/0xffffffff lookup 51820 (ipv4)\n"),
            std::string::npos)
      << diff;
  EXPECT_NE(diff.find("nftables ruleset (from line 6):\n+ table inet aureo-dns {\n+ }\n"),
            std::string::npos)
      << diff;
  EXPECT_NE(
      diff.find("resolv.conf (from line 1):\n- nameserver 192.168.1.1\n+ nameserver 1.1.1.1\n"),
      std::string::npos)
      << diff;
  EXPECT_EQ(diff.find("- route"), std::string::npos) << diff;
}

TEST(SnapshotDiffTest, RuleOrderAndResolvKindCount) {
  NetworkSnapshot a = base();
  Rule other;
  other.priority = 100;
  other.table = 7;
  a.rules.push_back(other);
  NetworkSnapshot b = a;
  std::swap(b.rules[0], b.rules[1]);
  EXPECT_NE(diffSnapshots(a, b).find("same rules, different order"), std::string::npos);

  NetworkSnapshot link = base();
  link.resolv_conf_link = "../run/systemd/resolve/stub-resolv.conf";
  const std::string diff = diffSnapshots(link, base());
  EXPECT_NE(diff.find("resolv.conf link: ../run/systemd/resolve/stub-resolv.conf -> (not a link)"),
            std::string::npos)
      << diff;
  NetworkSnapshot absent = base();
  absent.resolv_conf.reset();
  EXPECT_NE(diffSnapshots(base(), absent).find("resolv.conf: 23 bytes -> absent"),
            std::string::npos);
}

}  // namespace
}  // namespace aureo::netcfg
