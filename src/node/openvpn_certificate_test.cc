// The node's OpenVPN certificate against a real control plane: the node API
// on loopback (NodeApi + OpenVpnAuthority on a temporary SQLite store) and
// the node's ControlClient, the way aureo-node gets and renews it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "control/enrollment.h"
#include "control/node_api.h"
#include "control/notifier.h"
#include "control/openvpn_authority.h"
#include "control/session_service.h"
#include "control/testing/temp_store.h"
#include "core/testing/fake_clock.h"
#include "crypto/x25519.h"
#include "http/testing/test_support.h"
#include "node/openvpn_server.h"
#include "openvpn/pki.h"

namespace aureo::node {
namespace {

crypto::MasterKey masterKey() {
  crypto::MasterKey k;
  for (size_t i = 0; i < crypto::MasterKey::size(); ++i) k.data()[i] = static_cast<uint8_t>(i + 3);
  return k;
}

class OpenVpnCertificateTest : public ::testing::Test {
 protected:
  OpenVpnCertificateTest()
      : authority_(*store_, masterKey(), clock_, core::Logger::null()),
        sessions_(*store_, clock_, core::Logger::null(), control::SessionPolicy{}, {}, &authority_),
        api_(*store_, sessions_, notifier_, clock_, core::Logger::null(), {}) {
    node_id_ = store_.addNode("edge-1");
    http::Router router;
    api_.addRoutes(router);
    server_ =
        std::make_unique<http::testing::ServerHarness>(http::ServerOptions{}, std::move(router));
    ControlClientOptions o;
    o.url = server_->baseUrl();
    control_ = std::make_unique<ControlClient>(o);
    auto token =
        control::issueEnrollmentToken(*store_, node_id_, std::chrono::hours(1), clock_.now());
    EXPECT_TRUE(token.ok());
    auto enrolled = control_->enroll(token->token, crypto::generateX25519KeyPair().public_key, "");
    EXPECT_TRUE(enrolled.ok()) << enrolled.error().toString();
    control_->setCredential(enrolled->node_credential);

    dir_ =
        std::filesystem::temp_directory_path() / ("aureo_ovpn_cert_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto state = StateDir::open(dir_.string());
    EXPECT_TRUE(state.ok());
    state_ = std::make_unique<StateDir>(std::move(*state));
  }
  ~OpenVpnCertificateTest() override {
    notifier_.shutdown();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  core::Result<OpenVpnMaterial> get(bool force = false) {
    return loadOrRenewCertificate(*state_, *control_, node_id_, clock_.now(), force,
                                  core::Logger::null());
  }

  control::testing::TempStore store_;
  core::testing::FakeClock clock_;
  control::PeerNotifier notifier_;
  control::OpenVpnAuthority authority_;
  control::SessionService sessions_;
  control::NodeApi api_;
  std::unique_ptr<http::testing::ServerHarness> server_;
  std::unique_ptr<ControlClient> control_;
  std::string node_id_;
  std::filesystem::path dir_;
  std::unique_ptr<StateDir> state_;
};

TEST_F(OpenVpnCertificateTest, FirstStartGetsACertificateForItsOwnKeyAndKeepsItOnDisk) {
  auto m = get();
  ASSERT_TRUE(m.ok()) << m.error().toString();
  auto info = openvpn::inspectCertificate(m->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->subject_common_name, node_id_);
  EXPECT_TRUE(openvpn::verifyServerCertificate(m->cert_pem, m->ca_pem, clock_.now()).ok());
  EXPECT_EQ(m->ca_pem, authority_.material()->ca_pem);
  EXPECT_EQ(m->tls_crypt_key, authority_.material()->tls_crypt_key);
  EXPECT_EQ(m->port, 1194);
  // The key was made here: control has only the certificate.
  EXPECT_EQ(*state_->readPrivate("openvpn-server.key"), std::optional<std::string>(m->key_pem));
  EXPECT_EQ(*state_->readPrivate("openvpn-server.crt"), std::optional<std::string>(m->cert_pem));
  const auto protocols = store_->nodes().get(node_id_)->protocols;
  EXPECT_NE(std::find(protocols.begin(), protocols.end(), "openvpn"), protocols.end());

  // A restart reuses what is on disk.
  auto again = get();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->cert_pem, m->cert_pem);
  EXPECT_EQ(again->key_pem, m->key_pem);
}

TEST_F(OpenVpnCertificateTest, RenewsWithinTheMarginBeforeExpiryWithAFreshKey) {
  auto first = get();
  ASSERT_TRUE(first.ok()) << first.error().toString();
  const auto first_info = *openvpn::inspectCertificate(first->cert_pem);

  // Still well before the margin: the same certificate.
  clock_.advance(openvpn::kServerCertLifetime - openvpn::kRenewalMargin - std::chrono::hours(24));
  EXPECT_EQ(get()->cert_pem, first->cert_pem);

  // Inside the margin: a new key and certificate, valid a full lifetime again.
  clock_.advance(std::chrono::hours(48));
  auto renewed = get();
  ASSERT_TRUE(renewed.ok()) << renewed.error().toString();
  EXPECT_NE(renewed->cert_pem, first->cert_pem);
  EXPECT_NE(renewed->key_pem, first->key_pem);
  const auto info = *openvpn::inspectCertificate(renewed->cert_pem);
  EXPECT_NE(info.serial_hex, first_info.serial_hex);
  EXPECT_EQ(info.not_after, clock_.now() + openvpn::kServerCertLifetime);
  EXPECT_FALSE(*openvpn::needsRenewal(renewed->cert_pem, clock_.now()));
  EXPECT_EQ(*state_->readPrivate("openvpn-server.crt"),
            std::optional<std::string>(renewed->cert_pem));
}

TEST_F(OpenVpnCertificateTest, TransportAndPortComeFromControlAndOverrideTheLocalOptions) {
  auto first = get();
  ASSERT_TRUE(first.ok()) << first.error().toString();
  ASSERT_TRUE(first->transport.has_value());
  EXPECT_EQ(*first->transport, openvpn::Transport::kUdp);
  OpenVpnServerOptions local;
  local.transport = openvpn::Transport::kTcp;
  local.port = 8443;
  EXPECT_EQ(openvpnListen(local, *first), (OpenVpnListen{openvpn::Transport::kUdp, 1194}));

  auto node = *store_->nodes().get(node_id_);
  node.openvpn_transport = "tcp";
  node.openvpn_port = 443;
  ASSERT_TRUE(store_->nodes().update(node).ok());
  auto changed = get(true);
  ASSERT_TRUE(changed.ok()) << changed.error().toString();
  EXPECT_EQ(openvpnListen(local, *changed), (OpenVpnListen{openvpn::Transport::kTcp, 443}));
  EXPECT_NE(openvpnListen(local, *changed), openvpnListen(local, *first));

  // A restart reads both back from disk.
  auto reread = get();
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->cert_pem, changed->cert_pem);
  EXPECT_EQ(openvpnListen({}, *reread), (OpenVpnListen{openvpn::Transport::kTcp, 443}));
}

TEST_F(OpenVpnCertificateTest, WithoutATransportFromControlTheLocalOptionsApply) {
  OpenVpnMaterial from_old_control;
  from_old_control.port = 1194;
  OpenVpnServerOptions local;
  local.transport = openvpn::Transport::kTcp;
  EXPECT_EQ(openvpnListen(local, from_old_control),
            (OpenVpnListen{openvpn::Transport::kTcp, 1194}));
  local.port = 443;
  EXPECT_EQ(openvpnListen(local, from_old_control), (OpenVpnListen{openvpn::Transport::kTcp, 443}));
}

TEST_F(OpenVpnCertificateTest, ControlAwayKeepsAValidCertificateAndFailsRetryablyWithoutOne) {
  ASSERT_TRUE(get().ok());
  server_.reset();  // control goes away
  auto kept = get();
  ASSERT_TRUE(kept.ok()) << kept.error().toString();
  auto forced = get(true);
  ASSERT_FALSE(forced.ok());
  EXPECT_EQ(forced.error().code, core::Code::kUnavailable);
}

}  // namespace
}  // namespace aureo::node
