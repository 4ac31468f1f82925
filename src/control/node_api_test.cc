// The node protocol over real HTTP: a Server on loopback, the synchronous
// http::Client playing the node.
#include "control/node_api.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <future>

#include "control/enrollment.h"
#include "control/notifier.h"
#include "control/session_service.h"
#include "control/testing/temp_store.h"
#include "core/testing/fake_clock.h"
#include "crypto/x25519.h"
#include "http/client.h"
#include "http/testing/test_support.h"

namespace aureo::control {
namespace {

using Json = nlohmann::json;

class NodeApiTest : public ::testing::Test {
 protected:
  NodeApiTest()
      : service_(*store_, clock_, core::Logger::null(), SessionPolicy{},
                 [this](const std::string& node) { notifier_.notify(node); }),
        api_(*store_, service_, notifier_, clock_, core::Logger::null(), config()) {
    node_id_ = store_.addNode("edge-1", "DE", "fd00:2::/64");
    EXPECT_TRUE(store_->nodes().setStatus(node_id_, "offline", clock_.now()).ok());
    http::Router router;
    api_.addRoutes(router);
    http::ServerOptions options;
    options.handler_timeout = std::chrono::seconds(90);
    server_ = std::make_unique<http::testing::ServerHarness>(options, std::move(router));
    client_ = std::make_unique<http::Client>(server_->baseUrl(), clientOptions());
  }
  ~NodeApiTest() override {
    notifier_.shutdown();
    server_.reset();
  }

  static NodeApiConfig config() {
    NodeApiConfig c;
    c.heartbeat_interval = std::chrono::seconds(7);
    c.report_interval = std::chrono::seconds(11);
    c.long_poll_timeout = std::chrono::seconds(13);
    return c;
  }
  static http::ClientOptions clientOptions() {
    http::ClientOptions o;
    // Far beyond any answer that does not wait, far below the long-poll
    // waits the tests use: a long-poll that is not woken fails the test.
    o.timeout = std::chrono::seconds(40);
    return o;
  }

  struct Reply {
    int status = 0;
    Json body;
  };
  Reply call(const std::string& method, const std::string& path, const Json& body = nullptr,
             const std::string& credential = "") {
    http::ClientHeaders headers;
    if (!credential.empty()) headers.emplace_back("Authorization", "Bearer " + credential);
    auto r = client_->request(method, path, body.is_null() ? "" : body.dump(), headers);
    EXPECT_TRUE(r.ok()) << r.error().toString();
    if (!r.ok()) return {};
    Reply out{r->status, Json::parse(r->body, nullptr, false)};
    return out;
  }

  // Enrolls node_id_ and returns its credential.
  std::string enroll(const std::string& key) {
    auto token = issueEnrollmentToken(*store_, node_id_, std::chrono::hours(24), clock_.now());
    EXPECT_TRUE(token.ok());
    auto r = call("POST", "/api/v1/node/enroll",
                  {{"enrollment_token", token->token}, {"wg_public_key", key}});
    EXPECT_EQ(r.status, 200) << r.body.dump();
    return r.body.value("node_credential", "");
  }

  testing::TempStore store_;
  core::testing::FakeClock clock_{core::SystemTime{std::chrono::seconds(1'700'000'000)}};
  PeerNotifier notifier_;
  SessionService service_;
  NodeApi api_;
  std::string node_id_;
  std::unique_ptr<http::testing::ServerHarness> server_;
  std::unique_ptr<http::Client> client_;
};

TEST_F(NodeApiTest, EnrollmentReturnsTheCredentialAndConfigOnceOnly) {
  auto token = issueEnrollmentToken(*store_, node_id_, std::chrono::hours(24), clock_.now());
  ASSERT_TRUE(token.ok());
  const auto key = crypto::generateX25519KeyPair().public_key;
  Json body{
      {"enrollment_token", token->token}, {"wg_public_key", key}, {"hostname", "edge.example"}};
  auto r = call("POST", "/api/v1/node/enroll", body);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["node_id"], node_id_);
  EXPECT_FALSE(r.body["node_credential"].get<std::string>().empty());
  const Json expected_config{{"tunnel_ipv4_cidr", "10.8.0.0/16"},
                             {"tunnel_ipv6_cidr", "fd00:2::/64"},
                             {"wg_port", 51820},
                             {"dns_servers", {"1.1.1.1", "1.0.0.1"}},
                             {"dns_resolver", true},
                             {"heartbeat_interval_s", 7},
                             {"report_interval_s", 11},
                             {"long_poll_timeout_s", 13}};
  EXPECT_EQ(r.body["config"], expected_config);
  auto node = store_->nodes().get(node_id_);
  EXPECT_EQ(node->wg_public_key, key);
  EXPECT_EQ(node->hostname, "edge.example");

  // A replayed token is refused.
  EXPECT_EQ(call("POST", "/api/v1/node/enroll", body).status, 401);
  // So is an expired one.
  auto late = issueEnrollmentToken(*store_, node_id_, std::chrono::hours(24), clock_.now());
  clock_.advance(std::chrono::hours(25));
  EXPECT_EQ(call("POST", "/api/v1/node/enroll",
                 {{"enrollment_token", late->token}, {"wg_public_key", key}})
                .status,
            401);
  // Bad input is a 4xx with a message, not a 500.
  EXPECT_EQ(call("POST", "/api/v1/node/enroll", {{"enrollment_token", "x"}}).status, 422);
  EXPECT_EQ(
      call("POST", "/api/v1/node/enroll", {{"enrollment_token", "x"}, {"wg_public_key", "short"}})
          .status,
      422);
  auto raw = client_->request("POST", "/api/v1/node/enroll", "{not json");
  EXPECT_EQ(raw->status, 400);
}

TEST_F(NodeApiTest, BadOrRevokedCredentialsGet401) {
  EXPECT_EQ(call("POST", "/api/v1/node/heartbeat", Json::object()).status, 401);
  EXPECT_EQ(call("POST", "/api/v1/node/heartbeat", Json::object(), "aureo-node-forged").status,
            401);
  EXPECT_EQ(call("GET", "/api/v1/node/desired-state", nullptr, "nope").status, 401);
  const auto first = enroll(crypto::generateX25519KeyPair().public_key);
  const auto second = enroll(crypto::generateX25519KeyPair().public_key);
  // Enrolling again revokes the earlier credential.
  EXPECT_EQ(call("GET", "/api/v1/node/desired-state", nullptr, first).status, 401);
  EXPECT_EQ(call("GET", "/api/v1/node/desired-state", nullptr, second).status, 200);
}

TEST_F(NodeApiTest, HeartbeatBringsTheNodeOnlineUnlessInMaintenance) {
  const auto cred = enroll(crypto::generateX25519KeyPair().public_key);
  Json hb{{"status", "online"}, {"cpu_usage", 12.5},      {"connections", 3},
          {"bytes_sent", 1000}, {"bytes_received", 2000}, {"openvpn_connections", 0}};
  auto r = call("POST", "/api/v1/node/heartbeat", hb, cred);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, (Json{{"node_status", "online"},
                          {"dns_resolver", true},
                          {"dns_servers", {"1.1.1.1", "1.0.0.1"}},
                          {"openvpn_transport", "udp"},
                          {"openvpn_port", 1194}}));
  auto node = store_->nodes().get(node_id_);
  EXPECT_EQ(node->status, "online");
  EXPECT_DOUBLE_EQ(node->cpu_usage, 12.5);
  EXPECT_EQ(node->bytes_received, 2000);
  EXPECT_EQ(node->last_heartbeat, clock_.now());

  // An admin's change of the upstreams reaches the node with the next heartbeat.
  node->dns_servers = "9.9.9.9, 2620:fe::fe";
  node->openvpn_transport = "tcp";
  node->openvpn_port = 443;
  ASSERT_TRUE(store_->nodes().update(*node).ok());
  auto changed = call("POST", "/api/v1/node/heartbeat", hb, cred).body;
  EXPECT_EQ(changed["dns_servers"], (Json{"9.9.9.9", "2620:fe::fe"}));
  EXPECT_EQ(changed["openvpn_transport"], "tcp");
  EXPECT_EQ(changed["openvpn_port"], 443);

  ASSERT_TRUE(store_->nodes().setStatus(node_id_, "maintenance", clock_.now()).ok());
  EXPECT_EQ(call("POST", "/api/v1/node/heartbeat", hb, cred).body["node_status"], "maintenance");

  hb["status"] = "asleep";
  EXPECT_EQ(call("POST", "/api/v1/node/heartbeat", hb, cred).status, 422);
  hb["status"] = "online";
  hb["cpu_usage"] = 250;
  EXPECT_EQ(call("POST", "/api/v1/node/heartbeat", hb, cred).status, 422);
  hb["cpu_usage"] = 1;
  hb["bytes_sent"] = -5;
  EXPECT_EQ(call("POST", "/api/v1/node/heartbeat", hb, cred).status, 422);
}

TEST_F(NodeApiTest, ReportsDriveSessionsAndIgnoreForeignPeers) {
  const auto cred = enroll(crypto::generateX25519KeyPair().public_key);
  ASSERT_TRUE(store_->nodes().setStatus(node_id_, "online", clock_.now()).ok());
  const auto user = store_.addUser("rep", "basic");
  CreateSessionRequest req;
  req.user_id = user;
  auto created = service_.create(req);
  ASSERT_TRUE(created.ok()) << created.error().toString();
  const auto stranger = crypto::generateX25519KeyPair().public_key;
  const int64_t hs = core::unixSeconds(clock_.now());
  Json report{
      {"peers",
       {{{"public_key", created->session.client_public_key},
         {"last_handshake", hs},
         {"rx_bytes", 4096},
         {"tx_bytes", 65536}},
        {{"public_key", stranger}, {"last_handshake", hs}, {"rx_bytes", 1}, {"tx_bytes", 1}}}}};
  auto r = call("POST", "/api/v1/node/sessions/report", report, cred);
  ASSERT_EQ(r.status, 204);
  auto s = store_->sessions().get(created->session.id);
  EXPECT_EQ(s->status, "connected");
  EXPECT_EQ(s->bytes_sent, 4096);
  EXPECT_EQ(s->bytes_received, 65536);
  report["peers"][0]["rx_bytes"] = -1;
  EXPECT_EQ(call("POST", "/api/v1/node/sessions/report", report, cred).status, 422);
  EXPECT_EQ(call("POST", "/api/v1/node/sessions/report", Json{{"peers", 5}}, cred).status, 422);
}

TEST_F(NodeApiTest, DesiredStateAnswersAtOnceWhenTheVersionDiffers) {
  const auto cred = enroll(crypto::generateX25519KeyPair().public_key);
  auto r = call("GET", "/api/v1/node/desired-state", nullptr, cred);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            (Json{{"version", 0}, {"peers", Json::array()}, {"openvpn_clients", Json::array()}}));
  // A wrong version answers at once even with a long wait.
  r = call("GET", "/api/v1/node/desired-state?version=99&wait=60", nullptr, cred);
  EXPECT_EQ(r.body["version"], 0);
  EXPECT_EQ(call("GET", "/api/v1/node/desired-state?version=-1", nullptr, cred).status, 422);
  EXPECT_EQ(call("GET", "/api/v1/node/desired-state?wait=x", nullptr, cred).status, 422);
  // wait=0 with the current version answers at once too.
  EXPECT_EQ(call("GET", "/api/v1/node/desired-state?version=0&wait=0", nullptr, cred).status, 200);
}

TEST_F(NodeApiTest, ALongPollIsWokenBySessionChangesInThisProcess) {
  const auto cred = enroll(crypto::generateX25519KeyPair().public_key);
  ASSERT_TRUE(store_->nodes().setStatus(node_id_, "online", clock_.now()).ok());
  auto poll = std::async(std::launch::async, [&] {
    // 60 s wait, client deadline 40 s: only a wake-up answers in time.
    return call("GET", "/api/v1/node/desired-state?version=0&wait=60", nullptr, cred);
  });
  // Wait until the request is parked before changing anything; otherwise
  // it would answer at once and prove nothing.
  while (!notifier_.hasWaiters()) std::this_thread::yield();
  CreateSessionRequest req;
  req.user_id = store_.addUser("lp");
  auto created = service_.create(req);
  ASSERT_TRUE(created.ok());
  auto r = poll.get();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["version"], 1);
  ASSERT_EQ(r.body["peers"].size(), 1u);
  EXPECT_EQ(r.body["peers"][0]["session_id"], created->session.id);
  EXPECT_EQ(r.body["peers"][0]["public_key"], created->session.client_public_key);
  EXPECT_EQ(r.body["peers"][0]["allowed_ips"], (Json{"10.8.0.2/32", "fd00:2::2/128"}));
}

TEST_F(NodeApiTest, ALongPollRecordsTheVersionTheNodeApplied) {
  const auto cred = enroll(crypto::generateX25519KeyPair().public_key);
  ASSERT_TRUE(store_->nodes().setStatus(node_id_, "online", clock_.now()).ok());
  CreateSessionRequest req;
  req.user_id = store_.addUser("applied");
  auto created = service_.create(req);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->peer_version, 1);
  EXPECT_EQ(*store_->nodes().appliedPeerVersion(node_id_), 0);
  // The first poll (no version) has applied nothing yet.
  ASSERT_EQ(call("GET", "/api/v1/node/desired-state", nullptr, cred).status, 200);
  EXPECT_EQ(*store_->nodes().appliedPeerVersion(node_id_), 0);
  // Asking for what comes after version 1 says version 1 is applied.
  ASSERT_EQ(call("GET", "/api/v1/node/desired-state?version=1&wait=0", nullptr, cred).status, 200);
  EXPECT_EQ(*store_->nodes().appliedPeerVersion(node_id_), 1);
  // A node cannot claim more than it was handed.
  ASSERT_EQ(call("GET", "/api/v1/node/desired-state?version=50&wait=0", nullptr, cred).status, 200);
  EXPECT_EQ(*store_->nodes().appliedPeerVersion(node_id_), 1);
}

TEST_F(NodeApiTest, ALongPollSeesChangesFromOtherProcessesThroughTheWatcher) {
  const auto cred = enroll(crypto::generateX25519KeyPair().public_key);
  RealSleeper sleeper;
  VersionWatcher watcher(store_->nodes(), notifier_, sleeper, core::Logger::null());
  watcher.start();
  auto poll = std::async(std::launch::async, [&] {
    return call("GET", "/api/v1/node/desired-state?version=0&wait=60", nullptr, cred);
  });
  while (!notifier_.hasWaiters()) std::this_thread::yield();
  // Another process bumping the version: no in-process notify().
  ASSERT_TRUE(store_->nodes().bumpPeerVersion(node_id_).ok());
  auto r = poll.get();
  watcher.stop();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["version"], 1);
}

TEST_F(NodeApiTest, ShutdownReleasesParkedLongPolls) {
  const auto cred = enroll(crypto::generateX25519KeyPair().public_key);
  auto poll = std::async(std::launch::async, [&] {
    return call("GET", "/api/v1/node/desired-state?version=0&wait=60", nullptr, cred);
  });
  while (!notifier_.hasWaiters()) std::this_thread::yield();
  notifier_.shutdown();
  auto r = poll.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["version"], 0);
}

TEST_F(NodeApiTest, OpenVpnCertificateNeedsOpenVpnAndOpenVpnReportsAreValidated) {
  const auto cred = enroll(crypto::generateX25519KeyPair().public_key);
  // This control plane runs without an OpenVPN authority.
  auto r = call("POST", "/api/v1/node/openvpn/certificate", Json{{"csr", "x"}}, cred);
  EXPECT_EQ(r.status, 409) << r.body.dump();
  EXPECT_EQ(call("POST", "/api/v1/node/openvpn/certificate", Json{{"csr", "x"}}).status, 401);

  const std::string path = "/api/v1/node/sessions/report";
  r = call("POST", path, Json{{"peers", Json::array()}, {"openvpn_sessions", 5}}, cred);
  EXPECT_EQ(r.status, 422);
  r = call(
      "POST", path,
      Json{{"peers", Json::array()},
           {"openvpn_sessions",
            Json::array({Json{
                {"session_id", "s"}, {"connected", "yes"}, {"rx_bytes", 1}, {"tx_bytes", 1}}})}},
      cred);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body["error"]["field"], "openvpn_sessions[0].connected");
  r = call(
      "POST", path,
      Json{{"peers", Json::array()},
           {"openvpn_sessions",
            Json::array({Json{
                {"session_id", "s"}, {"connected", true}, {"rx_bytes", -1}, {"tx_bytes", 1}}})}},
      cred);
  EXPECT_EQ(r.status, 422);
  // A session this node does not own is ignored, not an error.
  r = call("POST", path,
           Json{{"peers", Json::array()},
                {"openvpn_sessions", Json::array({Json{{"session_id", "not-mine"},
                                                       {"connected", true},
                                                       {"rx_bytes", 1},
                                                       {"tx_bytes", 1}}})}},
           cred);
  EXPECT_EQ(r.status, 204);
}

}  // namespace
}  // namespace aureo::control
