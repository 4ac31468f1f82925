#include "control/session_service.h"

#include <gtest/gtest.h>

#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "control/testing/temp_store.h"
#include "core/testing/fake_clock.h"
#include "crypto/x25519.h"

namespace aureo::control {
namespace {

using core::Code;

class SessionServiceTest : public ::testing::Test {
 protected:
  SessionServiceTest()
      : service_(*store_, clock_, core::Logger::null(), SessionPolicy{},
                 [this](const std::string& node_id) {
                   std::lock_guard lock(mu_);
                   changed_.push_back(node_id);
                 }) {}

  CreateSessionRequest request(const std::string& user_id, const std::string& node_id = "") {
    CreateSessionRequest r;
    r.user_id = user_id;
    r.node_id = node_id;
    r.client_ip = "198.51.100.9";
    return r;
  }

  std::vector<std::string> changed() {
    std::lock_guard lock(mu_);
    return changed_;
  }

  testing::TempStore store_;
  core::testing::FakeClock clock_;
  std::mutex mu_;
  std::vector<std::string> changed_;
  SessionService service_;
};

TEST_F(SessionServiceTest, CreateGeneratesAKeyPairAllocatesAddressesAndWakesTheNode) {
  const auto user = store_.addUser("ann");
  const auto node = store_.addNode("de1", "DE", "fd00:8::/64");
  auto created = service_.create(request(user));
  ASSERT_TRUE(created.ok()) << created.error().toString();
  const auto& s = created->session;
  EXPECT_EQ(s.status, "pending");
  EXPECT_EQ(s.node_id, node);
  EXPECT_EQ(s.tunnel_ip, "10.8.0.2");
  EXPECT_EQ(s.tunnel_ipv6, "fd00:8::2");
  ASSERT_FALSE(created->private_key.empty());
  EXPECT_EQ(*crypto::x25519PublicFromPrivate(created->private_key), s.client_public_key);

  auto stored = store_->sessions().get(s.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->tunnel_ip, "10.8.0.2");
  EXPECT_EQ(stored->client_public_key, s.client_public_key);
  EXPECT_EQ(store_->nodes().get(node)->peer_version, 1);
  EXPECT_EQ(store_->nodes().get(node)->current_connections, 1);
  EXPECT_EQ(changed(), std::vector<std::string>{node});
  EXPECT_EQ(store_->ipAllocations().listForNode(node)->size(), 2u);

  const auto& n = created->node;
  const std::string expected =
      "[Interface]\nPrivateKey = " + created->private_key +
      "\nAddress = 10.8.0.2/32, fd00:8::2/128\nDNS = 10.8.0.1, fd00:8::1\n\n"
      "[Peer]\nPublicKey = " +
      n.wg_public_key +
      "\nEndpoint = de1.vpn.example.test:51820\n"
      "AllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25\n";
  EXPECT_EQ(created->config, expected);

  // A second user's session gets the next address.
  auto second = service_.create(request(store_.addUser("bob")));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->session.tunnel_ip, "10.8.0.3");
}

TEST_F(SessionServiceTest, AClientKeyIsCheckedAndNoPrivateKeyIsReturned) {
  const auto user = store_.addUser("cat", "basic");
  store_.addNode("n");
  auto r = request(user);
  r.client_public_key = "not a key";
  auto bad = service_.create(r);
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_EQ(bad.error().field, "client_public_key");

  r.client_public_key = crypto::generateX25519KeyPair().public_key;
  auto created = service_.create(r);
  ASSERT_TRUE(created.ok()) << created.error().toString();
  EXPECT_TRUE(created->private_key.empty());
  EXPECT_EQ(created->session.client_public_key, r.client_public_key);
  EXPECT_EQ(created->config.find("PrivateKey"), std::string::npos);

  // Reconnecting with the same key replaces the old session on that node.
  auto again = service_.create(r);
  ASSERT_TRUE(again.ok()) << again.error().toString();
  EXPECT_EQ(store_->sessions().get(created->session.id)->disconnect_reason, "replaced");
  // Someone else cannot take that key.
  auto other = request(store_.addUser("dan"));
  other.client_public_key = r.client_public_key;
  EXPECT_EQ(service_.create(other).error().code, Code::kAlreadyExists);
}

TEST_F(SessionServiceTest, OpenVpnIsRefusedWhenTheServerHasNoOpenVpnAuthority) {
  const auto user = store_.addUser("eve");
  store_.addNode("n");
  auto r = request(user);
  r.protocol = "openvpn";
  auto e = service_.create(r);
  EXPECT_EQ(e.error().code, Code::kInvalidArgument);
  EXPECT_EQ(e.error().field, "protocol");
  EXPECT_NE(e.error().message.find("not enabled"), std::string::npos);
  r.protocol = "ipsec";
  EXPECT_EQ(service_.create(r).error().field, "protocol");
}

TEST_F(SessionServiceTest, DisabledAccountsAreRefusedAndDeviceLimitsFollowTheTier) {
  store_.addNode("n");
  EXPECT_EQ(service_.create(request(store_.addUser("off", "premium", false))).error().code,
            Code::kPermissionDenied);
  EXPECT_EQ(service_.create(request("no-such-user")).error().code, Code::kUnauthenticated);

  const auto free_user = store_.addUser("freeloader", "free");
  ASSERT_TRUE(service_.create(request(free_user)).ok());
  auto over = service_.create(request(free_user));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Code::kFailedPrecondition);
  EXPECT_NE(over.error().message.find("free plan allows 1 concurrent session"), std::string::npos);

  const auto basic = store_.addUser("basic", "basic");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(service_.create(request(basic)).ok());
  EXPECT_EQ(service_.create(request(basic)).error().code, Code::kFailedPrecondition);
  EXPECT_EQ(service_.deviceLimit("premium"), 5);
  EXPECT_EQ(service_.deviceLimit("enterprise"), 10);
  EXPECT_EQ(service_.deviceLimit("unknown-tier"), 1);
}

TEST_F(SessionServiceTest, WithoutTheNodeResolverConfigsListTheNodesDnsServers) {
  SessionPolicy policy;
  policy.node_dns_resolver = false;
  SessionService service(*store_, clock_, core::Logger::null(), policy);
  store_.addNode("plain");
  auto created = service.create(request(store_.addUser("dns")));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_NE(created->config.find("\nDNS = 1.1.1.1, 1.0.0.1\n"), std::string::npos)
      << created->config;
}

TEST_F(SessionServiceTest, LimitsAreConfigurable) {
  SessionPolicy policy;
  policy.device_limits["free"] = 2;
  SessionService service(*store_, clock_, core::Logger::null(), policy);
  store_.addNode("n");
  const auto user = store_.addUser("two");
  ASSERT_TRUE(service.create(request(user)).ok());
  ASSERT_TRUE(service.create(request(user)).ok());
  EXPECT_EQ(service.create(request(user)).error().code, Code::kFailedPrecondition);
}

TEST_F(SessionServiceTest, ConcurrentCreatesGetDistinctAddressesAndRespectTheLimit) {
  const auto node = store_.addNode("busy");
  const auto premium = store_.addUser("prem", "premium");
  std::vector<std::string> users;
  for (int i = 0; i < 6; ++i)
    users.push_back(store_.addUser("u" + std::to_string(i), "enterprise"));
  constexpr int kPremiumTries = 8;
  const int total = kPremiumTries + static_cast<int>(users.size()) * 2;
  std::latch start(total);
  std::mutex mu;
  std::vector<std::string> ips;
  std::atomic<int> premium_ok{0}, premium_refused{0};
  std::vector<std::thread> threads;
  auto run = [&](const std::string& user, bool is_premium) {
    start.arrive_and_wait();
    auto created = service_.create(request(user));
    if (created.ok()) {
      std::lock_guard lock(mu);
      ips.push_back(created->session.tunnel_ip);
      if (is_premium) ++premium_ok;
    } else {
      EXPECT_EQ(created.error().code, Code::kFailedPrecondition) << created.error().toString();
      if (is_premium) ++premium_refused;
    }
  };
  for (int i = 0; i < kPremiumTries; ++i) threads.emplace_back(run, premium, true);
  for (const auto& u : users) {
    threads.emplace_back(run, u, false);
    threads.emplace_back(run, u, false);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(premium_ok.load(), 5);
  EXPECT_EQ(premium_refused.load(), kPremiumTries - 5);
  EXPECT_EQ(ips.size(), 5u + users.size() * 2);
  EXPECT_EQ(std::set<std::string>(ips.begin(), ips.end()).size(), ips.size());
  EXPECT_EQ(store_->ipAllocations().listForNode(node)->size(), ips.size());
}

TEST_F(SessionServiceTest, NodeChoiceHonoursExplicitNodesAndCountries) {
  const auto user = store_.addUser("gus", "enterprise");
  const auto de = store_.addNode("de", "DE");
  const auto fr = store_.addNode("fr", "FR");
  auto r = request(user);
  r.country = "fr";
  EXPECT_EQ(service_.create(r)->session.node_id, fr);
  r.country = "JP";
  EXPECT_EQ(service_.create(r).error().code, Code::kUnavailable);
  r = request(user, de);
  EXPECT_EQ(service_.create(r)->session.node_id, de);
  ASSERT_TRUE(store_->nodes().setStatus(de, "maintenance", clock_.now()).ok());
  EXPECT_EQ(service_.create(r).error().code, Code::kFailedPrecondition);
  EXPECT_EQ(service_.create(request(user, "00000000-0000-4000-8000-000000000000")).error().code,
            Code::kNotFound);
}

TEST_F(SessionServiceTest, DisconnectReleasesTheAddressAndOnlyTheOwnerOrAnAdminMay) {
  const auto owner = store_.addUser("own", "basic");
  const auto other = store_.addUser("oth", "basic");
  const auto node = store_.addNode("n");
  auto created = service_.create(request(owner));
  ASSERT_TRUE(created.ok());
  const auto id = created->session.id;
  EXPECT_EQ(service_.disconnect(id, other, false, "user_request").error().code, Code::kNotFound);
  auto closed = service_.disconnect(id, owner, false, "user_request");
  ASSERT_TRUE(closed.ok());
  EXPECT_EQ(closed->status, "disconnected");
  auto stored = store_->sessions().get(id);
  EXPECT_EQ(stored->disconnect_reason, "user_request");
  EXPECT_FALSE(stored->client_ip.has_value());  // no-logs
  EXPECT_TRUE(store_->ipAllocations().listForNode(node)->empty());
  EXPECT_EQ(store_->nodes().get(node)->peer_version, 2);
  EXPECT_EQ(store_->nodes().get(node)->current_connections, 0);
  // Again: unchanged, no error.
  EXPECT_EQ(service_.disconnect(id, owner, false, "again")->disconnect_reason, "user_request");

  auto second = service_.create(request(owner));
  EXPECT_EQ(second->session.tunnel_ip, "10.8.0.2");  // the released address is reused
  EXPECT_TRUE(service_.disconnect(second->session.id, other, true, "admin").ok());
}

TEST_F(SessionServiceTest, DisconnectAllForUserEndsEverySessionOnEveryNode) {
  const auto user = store_.addUser("many", "enterprise");
  const auto a = store_.addNode("a");
  const auto b = store_.addNode("b");
  ASSERT_TRUE(service_.create(request(user, a)).ok());
  ASSERT_TRUE(service_.create(request(user, b)).ok());
  ASSERT_TRUE(service_.create(request(user, b)).ok());
  EXPECT_EQ(*service_.disconnectAllForUser(user, "account_disabled"), 3);
  EXPECT_EQ(*store_->sessions().countActiveForUser(user), 0);
  EXPECT_TRUE(store_->ipAllocations().listForNode(b)->empty());
  EXPECT_TRUE(service_.desiredState(a)->peers.empty());
  EXPECT_EQ(*service_.disconnectAllForUser(user, "again"), 0);
}

TEST_F(SessionServiceTest, ReportsConnectAndAccountButIgnoreOtherNodesPeers) {
  const auto user = store_.addUser("rep", "basic");
  const auto node = store_.addNode("n1");
  const auto other_node = store_.addNode("n2");
  auto mine = service_.create(request(user, node));
  auto theirs = service_.create(request(user, other_node));
  ASSERT_TRUE(mine.ok() && theirs.ok());
  const int64_t hs = core::unixSeconds(clock_.now()) + 2;
  auto out = service_.applyReport(node, {{mine->session.client_public_key, hs, 500, 7000},
                                         {theirs->session.client_public_key, hs, 1, 1}});
  ASSERT_TRUE(out.ok()) << out.error().toString();
  EXPECT_EQ(out->accounted, 1);
  EXPECT_EQ(out->connected, 1);
  EXPECT_EQ(out->unknown, 1);
  auto s = store_->sessions().get(mine->session.id);
  EXPECT_EQ(s->status, "connected");
  EXPECT_EQ(s->bytes_sent, 500);
  EXPECT_EQ(s->bytes_received, 7000);
  EXPECT_EQ(s->last_handshake, core::fromUnixSeconds(hs));
  auto t = store_->sessions().get(theirs->session.id);
  EXPECT_EQ(t->status, "pending");
  EXPECT_EQ(t->bytes_sent, 0);
  auto usage = store_->usage().get(user, usagePeriodStart(clock_.now()));
  EXPECT_EQ(usage->bytes_sent, 500);
  EXPECT_EQ(usage->bytes_received, 7000);
}

TEST_F(SessionServiceTest, ReachingTheMonthlyQuotaEndsTheSessionsAndRefusesNewOnes) {
  SessionPolicy policy;
  policy.device_limits["basic"] = 3;
  policy.monthly_quota_bytes["basic"] = 10'000;
  SessionService service(*store_, clock_, core::Logger::null(), policy);
  const auto user = store_.addUser("quota", "basic");
  const auto other = store_.addUser("quota-other", "free");  // no quota on free
  const auto node = store_.addNode("nq");
  auto a = service.create(request(user, node));
  auto b = service.create(request(user, node));
  auto c = service.create(request(other, node));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const int64_t hs = core::unixSeconds(clock_.now());
  // Under the quota: nothing happens.
  auto out = service.applyReport(node, {{a->session.client_public_key, hs, 3000, 3000},
                                        {c->session.client_public_key, hs, 50'000, 50'000}});
  ASSERT_TRUE(out.ok()) << out.error().toString();
  EXPECT_EQ(out->quota_ended, 0);
  EXPECT_EQ(store_->sessions().get(a->session.id)->status, "connected");
  // 6,000 + 5,000 reaches 10,000: both of the user's sessions end, the
  // other account's stays.
  out = service.applyReport(node, {{b->session.client_public_key, hs, 2500, 2500}});
  ASSERT_TRUE(out.ok()) << out.error().toString();
  EXPECT_EQ(out->quota_ended, 2);
  for (const auto& id : {a->session.id, b->session.id}) {
    auto s = store_->sessions().get(id);
    EXPECT_EQ(s->status, "disconnected");
    EXPECT_EQ(s->disconnect_reason, "quota_exceeded");
  }
  EXPECT_EQ(store_->sessions().get(c->session.id)->status, "connected");
  auto refused = service.create(request(user, node));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::Code::kPermissionDenied);
  EXPECT_NE(refused.error().message.find("quota"), std::string::npos);
  // A new month starts from zero.
  clock_.advance(std::chrono::hours(24 * 32));
  EXPECT_TRUE(service.create(request(user, node)).ok());
}

TEST_F(SessionServiceTest, IdleSessionsEndAfterTheirTimeouts) {
  SessionPolicy policy;
  policy.pending_timeout = std::chrono::minutes(5);
  policy.handshake_timeout = std::chrono::minutes(10);
  SessionService service(*store_, clock_, core::Logger::null(), policy);
  const auto user = store_.addUser("idle", "enterprise");
  const auto node = store_.addNode("n");
  auto never = service.create(request(user));
  auto talks = service.create(request(user));
  ASSERT_TRUE(never.ok() && talks.ok());
  const auto talk_key = talks->session.client_public_key;
  ASSERT_TRUE(service.applyReport(node, {{talk_key, core::unixSeconds(clock_.now()), 1, 1}}).ok());
  clock_.advance(std::chrono::minutes(4));
  EXPECT_EQ(*service.expireIdle(), 0);
  clock_.advance(std::chrono::minutes(2));
  EXPECT_EQ(*service.expireIdle(), 1);  // pending for 6 minutes without a handshake
  EXPECT_EQ(store_->sessions().get(never->session.id)->disconnect_reason, "no_handshake");
  ASSERT_TRUE(service.applyReport(node, {{talk_key, core::unixSeconds(clock_.now()), 2, 2}}).ok());
  clock_.advance(std::chrono::minutes(9));
  EXPECT_EQ(*service.expireIdle(), 0);
  clock_.advance(std::chrono::minutes(2));
  EXPECT_EQ(*service.expireIdle(), 1);
  EXPECT_EQ(store_->sessions().get(talks->session.id)->disconnect_reason, "idle_timeout");
}

TEST_F(SessionServiceTest, DesiredStateListsTheOpenPeersWithTheirAddresses) {
  const auto user = store_.addUser("ds", "basic");
  const auto node = store_.addNode("n", "DE", "fd00:1::/64");
  auto a = service_.create(request(user));
  auto b = service_.create(request(user));
  ASSERT_TRUE(service_.disconnect(a->session.id, user, false, "x").ok());
  auto state = service_.desiredState(node);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->version, 3);
  ASSERT_EQ(state->peers.size(), 1u);
  EXPECT_EQ(state->peers[0].session_id, b->session.id);
  EXPECT_EQ(state->peers[0].public_key, b->session.client_public_key);
  EXPECT_EQ(state->peers[0].allowed_ips,
            (std::vector<std::string>{"10.8.0.3/32", "fd00:1::3/128"}));
}

TEST(UsagePeriodTest, IsTheFirstOfTheMonthUtc) {
  // 2024-03-15T10:30:00Z -> 2024-03-01T00:00:00Z
  EXPECT_EQ(core::unixSeconds(usagePeriodStart(core::fromUnixSeconds(1710498600))), 1709251200);
}

}  // namespace
}  // namespace aureo::control
