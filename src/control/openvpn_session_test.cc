// OpenVPN sessions through the SessionService and the node API's PKI: the
// profile a client gets, the desired state a node gets, accounting by id,
// and the CA sealed in the store.
#include <gtest/gtest.h>

#include "control/openvpn_authority.h"
#include "control/session_service.h"
#include "control/testing/temp_store.h"
#include "core/testing/fake_clock.h"
#include "crypto/encoding.h"
#include "openvpn/pki.h"

namespace aureo::control {
namespace {

using core::Code;

crypto::MasterKey testKey(char fill) {
  crypto::MasterKey k;
  for (size_t i = 0; i < crypto::MasterKey::size(); ++i)
    k.data()[i] = static_cast<uint8_t>(fill + i);
  return k;
}

// The value of an inline <tag>...</tag> block of a profile.
std::string block(const std::string& profile, const std::string& tag) {
  const auto open = profile.find("<" + tag + ">\n");
  const auto close = profile.find("</" + tag + ">");
  if (open == std::string::npos || close == std::string::npos) return {};
  const auto start = open + tag.size() + 3;
  return profile.substr(start, close - start);
}

class OpenVpnSessionTest : public ::testing::Test {
 protected:
  OpenVpnSessionTest()
      : authority_(*store_, testKey(1), clock_, core::Logger::null()),
        service_(*store_, clock_, core::Logger::null(), SessionPolicy{}, {}, &authority_) {}

  std::string openvpnNode(const std::string& name, const std::string& v6 = "") {
    const auto id = store_.addNode(name, "DE", v6);
    auto n = *store_->nodes().get(id);
    n.protocols = {"wireguard", "openvpn"};
    EXPECT_TRUE(store_->nodes().update(n).ok());
    return id;
  }

  CreateSessionRequest openvpnRequest(const std::string& user) {
    CreateSessionRequest r;
    r.user_id = user;
    r.protocol = "openvpn";
    return r;
  }

  testing::TempStore store_;
  core::testing::FakeClock clock_;
  OpenVpnAuthority authority_;
  SessionService service_;
};

TEST_F(OpenVpnSessionTest, CreateReturnsAnInlineProfileWithTheSessionCredential) {
  const auto user = store_.addUser("olga");
  const auto node = openvpnNode("de1", "fd00:8::/64");
  auto created = service_.create(openvpnRequest(user));
  ASSERT_TRUE(created.ok()) << created.error().toString();
  const auto& s = created->session;
  EXPECT_EQ(s.protocol, "openvpn");
  EXPECT_EQ(s.node_id, node);
  EXPECT_TRUE(s.client_public_key.empty());
  EXPECT_TRUE(created->private_key.empty());
  // The upper half of the node's prefixes: WireGuard keeps the lower one.
  EXPECT_EQ(s.tunnel_ip, "10.8.128.2");
  EXPECT_EQ(s.tunnel_ipv6, "fd00:8::8000:0:0:2");

  const std::string& p = created->config;
  EXPECT_NE(p.find("remote de1.vpn.example.test 1194 udp\n"), std::string::npos) << p;
  EXPECT_NE(p.find("explicit-exit-notify 2\n"), std::string::npos) << p;
  EXPECT_NE(p.find("verify-x509-name \"" + node + "\" name\n"), std::string::npos) << p;
  EXPECT_NE(p.find("data-ciphers AES-256-GCM:CHACHA20-POLY1305\n"), std::string::npos);
  EXPECT_NE(p.find("tls-version-min 1.2\n"), std::string::npos);
  auto material = authority_.material();
  ASSERT_TRUE(material.ok());
  EXPECT_EQ(block(p, "ca"), material->ca_pem);
  EXPECT_EQ(block(p, "tls-crypt"), material->tls_crypt_key);
  EXPECT_EQ(p.find("PRIVATE KEY"), std::string::npos) << "no key of the CA or node in a profile";

  // username = session id; only the credential's hash is stored.
  const std::string creds = block(p, "auth-user-pass");
  const auto nl = creds.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_EQ(creds.substr(0, nl), s.id);
  std::string password = creds.substr(nl + 1);
  while (!password.empty() && password.back() == '\n') password.pop_back();
  EXPECT_GE(password.size(), 40u);
  auto stored = store_->sessions().get(s.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->credential_hash, crypto::sha256Hex(password));
  EXPECT_EQ(p.find(stored->credential_hash), std::string::npos);
}

TEST_F(OpenVpnSessionTest, ProfileOfATcpNodeDialsTcpOnTheNodesPort) {
  const auto user = store_.addUser("tomas");
  const auto node = openvpnNode("de-tcp");
  auto n = *store_->nodes().get(node);
  n.openvpn_transport = "tcp";
  n.openvpn_port = 443;
  ASSERT_TRUE(store_->nodes().update(n).ok());
  auto created = service_.create(openvpnRequest(user));
  ASSERT_TRUE(created.ok()) << created.error().toString();
  const std::string& p = created->config;
  EXPECT_NE(p.find("remote de-tcp.vpn.example.test 443 tcp-client\n"), std::string::npos) << p;
  EXPECT_EQ(p.find(" udp\n"), std::string::npos) << p;
  // A UDP-only notification; over TCP the server sees the connection close.
  EXPECT_EQ(p.find("explicit-exit-notify"), std::string::npos) << p;
  EXPECT_NE(p.find("verify-x509-name \"" + node + "\" name\n"), std::string::npos) << p;
}

TEST_F(OpenVpnSessionTest, DesiredStateCarriesOpenVpnClientsAndDropsThemWhenTheSessionEnds) {
  const auto user = store_.addUser("pia", "premium");
  const auto node = openvpnNode("de1");
  auto wg = service_.create(CreateSessionRequest{user, "wireguard", node, "", "", "", {}});
  ASSERT_TRUE(wg.ok()) << wg.error().toString();
  EXPECT_EQ(wg->session.tunnel_ip, "10.8.0.2");
  auto ov = service_.create(openvpnRequest(user));
  ASSERT_TRUE(ov.ok()) << ov.error().toString();

  auto state = service_.desiredState(node);
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->peers.size(), 1u);
  EXPECT_EQ(state->peers[0].session_id, wg->session.id);
  ASSERT_EQ(state->openvpn_clients.size(), 1u);
  const auto& c = state->openvpn_clients[0];
  EXPECT_EQ(c.session_id, ov->session.id);
  EXPECT_EQ(c.tunnel_ip, ov->session.tunnel_ip);
  EXPECT_EQ(c.credential_hash, store_->sessions().get(ov->session.id)->credential_hash);

  const int64_t before = state->version;
  ASSERT_TRUE(service_.disconnect(ov->session.id, user, false, "user_request").ok());
  state = service_.desiredState(node);
  EXPECT_GT(state->version, before);
  EXPECT_TRUE(state->openvpn_clients.empty());
  EXPECT_EQ(state->peers.size(), 1u);
}

TEST_F(OpenVpnSessionTest, ReportsByIdConnectAndAccountOpenVpnSessionsUnderTheDeviceLimit) {
  const auto user = store_.addUser("quinn", "free");  // one device
  const auto node = openvpnNode("de1");
  auto ov = service_.create(openvpnRequest(user));
  ASSERT_TRUE(ov.ok()) << ov.error().toString();
  EXPECT_EQ(service_.create(openvpnRequest(user)).error().code, Code::kFailedPrecondition);

  auto r = service_.applyReport(node, {}, {{ov->session.id, false, 0, 0}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(store_->sessions().get(ov->session.id)->status, "pending");
  r = service_.applyReport(node, {}, {{ov->session.id, true, 1000, 5000}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->connected, 1);
  auto s = store_->sessions().get(ov->session.id);
  EXPECT_EQ(s->status, "connected");
  EXPECT_EQ(s->bytes_sent, 1000);
  EXPECT_EQ(s->bytes_received, 5000);
  r = service_.applyReport(node, {},
                           {{ov->session.id, true, 1500, 7000}, {"someone-else", true, 1, 1}});
  EXPECT_EQ(r->unknown, 1);
  s = store_->sessions().get(ov->session.id);
  EXPECT_EQ(s->bytes_sent, 1500);
  EXPECT_EQ(s->bytes_received, 7000);
}

TEST_F(OpenVpnSessionTest, TheCaIsSealedInTheStoreAndSharedByEveryInstanceWithTheKey) {
  auto first = authority_.material();
  ASSERT_TRUE(first.ok()) << first.error().toString();
  auto sealed = store_->secrets().get(OpenVpnAuthority::kCaSecret);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->value.find("PRIVATE KEY"), std::string::npos);

  OpenVpnAuthority second(*store_, testKey(1), clock_, core::Logger::null());
  auto again = second.material();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ca_pem, first->ca_pem);
  EXPECT_EQ(again->tls_crypt_key, first->tls_crypt_key);

  OpenVpnAuthority wrong(*store_, testKey(7), clock_, core::Logger::null());
  EXPECT_EQ(wrong.material().error().code, Code::kDataLoss);
}

TEST_F(OpenVpnSessionTest, NodeCsrIsSignedForTheNodeIdOnlyAndVerifiesAgainstTheCa) {
  const auto node_id = openvpnNode("de1");
  const auto node = *store_->nodes().get(node_id);
  // The node asks for another name: the certificate names the node anyway.
  auto request = openvpn::createServerKeyRequest("evil.example.test");
  ASSERT_TRUE(request.ok());
  auto cert = authority_.signNode(node, request->csr_pem);
  ASSERT_TRUE(cert.ok()) << cert.error().toString();
  auto info = openvpn::inspectCertificate(cert->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->subject_common_name, node_id);
  EXPECT_EQ(info->dns_names, std::vector<std::string>{"de1.vpn.example.test"});
  EXPECT_EQ(info->ip_addresses, std::vector<std::string>{"203.0.113.7"});
  EXPECT_TRUE(info->has_server_auth_eku);
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(
      openvpn::verifyServerCertificate(cert->cert_pem, authority_.material()->ca_pem, clock_.now())
          .ok());
  EXPECT_EQ(cert->not_after, info->not_after);

  EXPECT_EQ(authority_.signNode(node, "not a csr").error().field, "csr");
  std::string tampered = request->csr_pem;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(authority_.signNode(node, tampered).error().code, Code::kInvalidArgument);
}

}  // namespace
}  // namespace aureo::control
