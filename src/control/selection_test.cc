#include "control/selection.h"

#include <gtest/gtest.h>

#include <set>

namespace aureo::control {
namespace {

store::VpnNode node(const std::string& id, double load, int64_t conns = 0, int64_t max = 100) {
  store::VpnNode n;
  n.id = id;
  n.name = id;
  n.country = "DE";
  n.city = "Berlin";
  n.status = "online";
  n.load_score = load;
  n.current_connections = conns;
  n.max_connections = max;
  n.wg_public_key = "key=";
  return n;
}

TEST(SelectionTest, PicksTheLeastLoadedEligibleNode) {
  std::mt19937_64 rng(7);
  std::vector<store::VpnNode> nodes{node("busy", 80), node("calm", 10), node("mid", 40)};
  EXPECT_EQ(pickLeastLoaded(nodes, {}, rng)->id, "calm");
}

TEST(SelectionTest, SkipsOfflineFullUnenrolledAndNonMatchingNodes) {
  std::mt19937_64 rng(7);
  auto offline = node("offline", 0);
  offline.status = "offline";
  auto draining = node("draining", 0);
  draining.status = "draining";
  auto full = node("full", 0, 10, 10);
  auto unenrolled = node("unenrolled", 0);
  unenrolled.wg_public_key.clear();
  auto openvpn_only = node("ovpn", 0);
  openvpn_only.protocols = {"openvpn"};
  auto french = node("fr", 0);
  french.country = "FR";
  auto munich = node("munich", 0);
  munich.city = "Munich";
  auto ok = node("ok", 90);
  std::vector<store::VpnNode> nodes{offline,      draining, full,   unenrolled,
                                    openvpn_only, french,   munich, ok};
  EXPECT_EQ(pickLeastLoaded(nodes, {"de", "Berlin", "wireguard", {}}, rng)->id, "ok");
  EXPECT_EQ(pickLeastLoaded(nodes, {"FR", "", "wireguard", {}}, rng)->id, "fr");
  EXPECT_EQ(pickLeastLoaded(nodes, {"", "", "openvpn", {}}, rng)->id, "ovpn");
  EXPECT_FALSE(pickLeastLoaded(nodes, {"JP", "", "wireguard", {}}, rng).has_value());
  EXPECT_FALSE(pickLeastLoaded({}, {}, rng).has_value());
}

TEST(SelectionTest, ExcludedNodesAreNeverPicked) {
  std::mt19937_64 rng(7);
  std::vector<store::VpnNode> nodes{node("dead", 0), node("alive", 50)};
  NodeQuery query;
  query.exclude_ids = {"dead"};
  EXPECT_EQ(pickLeastLoaded(nodes, query, rng)->id, "alive");
  query.exclude_ids = {"dead", "alive"};
  EXPECT_FALSE(pickLeastLoaded(nodes, query, rng).has_value());
}

TEST(SelectionTest, FreshConnectionCountsOutweighAStaleLowScore) {
  std::mt19937_64 rng(7);
  // "stale" scored 0 at the last pass but 60 of its 100 slots are taken now.
  std::vector<store::VpnNode> nodes{node("stale", 0, 60), node("other", 30, 10)};
  EXPECT_DOUBLE_EQ(selectionLoad(nodes[0]), 60.0);
  EXPECT_EQ(pickLeastLoaded(nodes, {}, rng)->id, "other");
}

TEST(SelectionTest, TiesAreBrokenRandomly) {
  std::mt19937_64 rng(7);
  std::vector<store::VpnNode> nodes{node("a", 20), node("b", 20), node("c", 20), node("d", 50)};
  std::set<std::string> picked;
  for (int i = 0; i < 200; ++i) picked.insert(pickLeastLoaded(nodes, {}, rng)->id);
  EXPECT_EQ(picked, (std::set<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace aureo::control
