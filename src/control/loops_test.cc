#include "control/loops.h"

#include <gtest/gtest.h>

#include "control/session_service.h"
#include "control/testing/fake_sleeper.h"
#include "control/testing/temp_store.h"
#include "core/testing/fake_clock.h"
#include "http/metrics.h"

namespace aureo::control {
namespace {

using std::chrono::seconds;

class LoopsTest : public ::testing::Test {
 protected:
  LoopsTest()
      : service_(*store_, clock_, core::Logger::null(), SessionPolicy{}),
        loops_(*store_, service_, clock_, core::Logger::null(), &metrics_, options()) {}

  static LoopOptions options() {
    LoopOptions o;
    o.heartbeat_interval = seconds(30);
    o.missed_heartbeats = 3;
    o.session_retention = seconds(3600);
    return o;
  }

  void heartbeat(const std::string& node) {
    store::NodeHeartbeat hb;
    ASSERT_TRUE(store_->nodes().recordHeartbeat(node, hb, clock_.now()).ok());
  }

  CreateSessionRequest request(const std::string& user, const std::string& node = "") {
    CreateSessionRequest r;
    r.user_id = user;
    r.node_id = node;
    return r;
  }

  testing::TempStore store_;
  core::testing::FakeClock clock_;
  http::Metrics metrics_;
  SessionService service_;
  ControlLoops loops_;
};

TEST_F(LoopsTest, ASilentNodeGoesOfflineItsSessionsFailOverAndBestSkipsIt) {
  const auto user = store_.addUser("fo", "enterprise");
  const auto a = store_.addNode("a");
  const auto b = store_.addNode("b");
  heartbeat(a);
  heartbeat(b);
  auto on_a = service_.create(request(user, a));
  ASSERT_TRUE(on_a.ok());
  const int64_t version = store_->nodes().get(a)->peer_version;

  clock_.advance(seconds(60));
  heartbeat(b);
  ASSERT_TRUE(loops_.healthCheck().ok());
  EXPECT_EQ(store_->nodes().get(a)->status, "online");  // 60 s: two missed beats, not three

  clock_.advance(seconds(31));
  heartbeat(b);
  ASSERT_TRUE(loops_.healthCheck().ok());
  EXPECT_EQ(store_->nodes().get(a)->status, "offline");
  EXPECT_EQ(store_->nodes().get(b)->status, "online");
  auto s = store_->sessions().get(on_a->session.id);
  EXPECT_EQ(s->status, "disconnected");
  EXPECT_EQ(s->disconnect_reason, "node_offline");
  EXPECT_TRUE(store_->ipAllocations().listForNode(a)->empty());
  EXPECT_GT(store_->nodes().get(a)->peer_version, version);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(service_.bestNode({})->id, b);

  // The client asks again and lands on the other node.
  auto again = service_.create(request(user));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->session.node_id, b);

  // A heartbeat brings the node back.
  heartbeat(a);
  EXPECT_EQ(store_->nodes().get(a)->status, "online");
}

TEST_F(LoopsTest, LoadScoreWeighsConnectionsCpuAndThroughput) {
  store::VpnNode n;
  n.status = "online";
  n.max_connections = 100;
  n.current_connections = 50;
  n.cpu_usage = 20;
  EXPECT_DOUBLE_EQ(loadScore(n, 0, 1000), 0.5 * 50 + 0.3 * 20);
  EXPECT_DOUBLE_EQ(loadScore(n, 500, 1000), 0.5 * 50 + 0.3 * 20 + 0.2 * 50);
  EXPECT_DOUBLE_EQ(loadScore(n, 5000, 1000), 0.5 * 50 + 0.3 * 20 + 0.2 * 100);
  n.current_connections = 100;
  n.cpu_usage = 100;
  EXPECT_DOUBLE_EQ(loadScore(n, 1000, 1000), 100);
  n.status = "offline";
  EXPECT_DOUBLE_EQ(loadScore(n, 0, 1000), 100);
}

TEST_F(LoopsTest, BalanceLoadStoresScoresUsingThroughputBetweenPasses) {
  const auto node = store_.addNode("lb", "DE", "", 10);
  const auto user = store_.addUser("lbu", "enterprise");
  ASSERT_TRUE(service_.create(request(user, node)).ok());  // 1 of 10 slots
  store::NodeHeartbeat hb;
  hb.cpu_usage = 40;
  ASSERT_TRUE(store_->nodes().recordHeartbeat(node, hb, clock_.now()).ok());
  ASSERT_TRUE(loops_.balanceLoad().ok());
  EXPECT_DOUBLE_EQ(store_->nodes().get(node)->load_score, 0.5 * 10 + 0.3 * 40);

  // 125 MB more in 10 s on a 1 Gbit/s link is 10 % throughput.
  clock_.advance(seconds(10));
  hb.bytes_sent = 62'500'000;
  hb.bytes_received = 62'500'000;
  ASSERT_TRUE(store_->nodes().recordHeartbeat(node, hb, clock_.now()).ok());
  ASSERT_TRUE(loops_.balanceLoad().ok());
  EXPECT_DOUBLE_EQ(store_->nodes().get(node)->load_score, 0.5 * 10 + 0.3 * 40 + 0.2 * 10);
}

TEST_F(LoopsTest, CleanupPurgesOldSessionsTokensOrphansAndIdleSessions) {
  const auto user = store_.addUser("cu", "enterprise");
  const auto node = store_.addNode("cu");
  auto old_session = service_.create(request(user, node));
  ASSERT_TRUE(service_.disconnect(old_session->session.id, user, false, "x").ok());
  auto idle = service_.create(request(user, node));
  ASSERT_TRUE(idle.ok());
  // An orphan: an address nobody owns.
  ASSERT_TRUE(store_->ipAllocations()
                  .allocate(node, "10.8.0.0/16", user, std::nullopt, std::nullopt, clock_.now())
                  .ok());
  store::RefreshToken token;
  token.id = "jti";
  token.user_id = user;
  token.family_id = "fam";
  token.token_hash = "h";
  token.created_at = clock_.now();
  token.expires_at = clock_.now() + seconds(60);
  ASSERT_TRUE(store_->refreshTokens().create(token).ok());

  clock_.advance(seconds(3601));
  ASSERT_TRUE(loops_.cleanup().ok());
  EXPECT_EQ(store_->sessions().get(old_session->session.id).error().code, core::Code::kNotFound);
  EXPECT_EQ(store_->refreshTokens().getByHash("h").error().code, core::Code::kNotFound);
  EXPECT_TRUE(store_->ipAllocations().listForNode(node)->empty());
  auto ended = store_->sessions().get(idle->session.id);
  EXPECT_EQ(ended->status, "disconnected");
  EXPECT_EQ(ended->disconnect_reason, "no_handshake");
}

TEST_F(LoopsTest, StatsPassExportsTheNodeGauges) {
  const auto node = store_.addNode("gauge-node");
  const auto user = store_.addUser("g", "enterprise");
  ASSERT_TRUE(service_.create(request(user, node)).ok());
  store::NodeHeartbeat hb;
  hb.cpu_usage = 12.5;
  hb.bytes_sent = 1234;
  hb.bytes_received = 5678;
  ASSERT_TRUE(store_->nodes().recordHeartbeat(node, hb, clock_.now()).ok());
  ASSERT_TRUE(store_->nodes().setLoadScore(node, 33).ok());
  ASSERT_TRUE(loops_.aggregateStats().ok());
  const std::string text = metrics_.serialize();
  EXPECT_NE(text.find("aureo_vpn_active_connections{node=\"gauge-node\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("aureo_vpn_node_load_score{node=\"gauge-node\"} 33"), std::string::npos);
  EXPECT_NE(text.find("aureo_vpn_node_cpu_usage{node=\"gauge-node\"} 12.5"), std::string::npos);
  EXPECT_NE(
      text.find("aureo_vpn_data_transferred_bytes{direction=\"sent\",node=\"gauge-node\"} 1234"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          "aureo_vpn_data_transferred_bytes{direction=\"received\",node=\"gauge-node\"} 5678"),
      std::string::npos);
  // A deleted node's series go away.
  ASSERT_TRUE(service_.disconnectAllForUser(user, "x").ok());
  ASSERT_TRUE(store_->nodes().erase(node).ok());
  ASSERT_TRUE(loops_.aggregateStats().ok());
  EXPECT_EQ(metrics_.serialize().find("gauge-node"), std::string::npos);
}

TEST_F(LoopsTest, LoopsDoNothingWhileTheGateIsClosed) {
  const auto node = store_.addNode("gated");  // never heartbeats
  testing::FakeSleeper sleeper(clock_);
  std::atomic<bool> leader{false};
  loops_.start(sleeper, [&] { return leader.load(); });
  sleeper.awaitSleeps(4);  // each loop ran once (skipped) and sleeps
  EXPECT_EQ(store_->nodes().get(node)->status, "online");
  leader = true;
  sleeper.advance(seconds(3600 * 2));  // every loop is due
  sleeper.awaitSleeps(8);
  loops_.stop();
  EXPECT_EQ(store_->nodes().get(node)->status, "offline");
}

}  // namespace
}  // namespace aureo::control
