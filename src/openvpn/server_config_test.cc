#include "openvpn/server_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/testing/fake_clock.h"
#include "openvpn/pki.h"

namespace aureo::openvpn {
namespace {

bool hasLine(const std::string& text, const std::string& line) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (text.compare(pos, nl - pos, line) == 0 && nl - pos == line.size()) return true;
    pos = nl + 1;
  }
  return false;
}

// Everything between <tag> and </tag>, or "" when the block is absent.
std::string block(const std::string& text, const std::string& tag) {
  const std::string open = "<" + tag + ">\n";
  const std::string close = "</" + tag + ">\n";
  const auto a = text.find(open);
  const auto b = text.find(close);
  if (a == std::string::npos || b == std::string::npos || b < a) return {};
  return text.substr(a + open.size(), b - a - open.size());
}

class ConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    core::testing::FakeClock clock;
    auto ca = createCertificateAuthority({}, clock.now());
    ASSERT_TRUE(ca.ok());
    ca_ = new CertificateAuthority(*ca);
    ServerCertOptions options;
    options.common_name = "node-1";
    auto server = issueServerCertificate(*ca_, options, clock.now());
    ASSERT_TRUE(server.ok());
    server_ = new CertifiedKey(*server);
    tls_crypt_ = new std::string(generateTlsCryptKey());
  }

  static ServerConfig serverConfig() {
    ServerConfig c;
    c.tunnel_v4 = *core::Cidr::parse("10.8.0.0/24");
    c.management_socket = "/run/aureo/openvpn.sock";
    c.dns_servers = {*core::IpAddress::parse("1.1.1.1"), *core::IpAddress::parse("1.0.0.1")};
    c.ca_pem = ca_->identity.cert_pem;
    c.cert_pem = server_->cert_pem;
    c.key_pem = server_->key_pem;
    c.tls_crypt_key = *tls_crypt_;
    return c;
  }

  static ClientProfile clientProfile() {
    ClientProfile p;
    p.name = "alice@example.com on fra-1";
    p.remotes = {{"fra-1.vpn.example.com", 0, Transport::kUdp}};
    p.ca_pem = ca_->identity.cert_pem;
    p.tls_crypt_key = *tls_crypt_;
    return p;
  }

  static CertificateAuthority* ca_;
  static CertifiedKey* server_;
  static std::string* tls_crypt_;
};

CertificateAuthority* ConfigTest::ca_ = nullptr;
CertifiedKey* ConfigTest::server_ = nullptr;
std::string* ConfigTest::tls_crypt_ = nullptr;

TEST_F(ConfigTest, UdpServerConfigHasTheRequiredDirectives) {
  auto text = renderServerConfig(serverConfig());
  ASSERT_TRUE(text.ok()) << text.error().toString();
  for (const char* line : {"proto udp6",
                           "port 1194",
                           "dev tun-aureo",
                           "dev-type tun",
                           "topology subnet",
                           "server 10.8.0.0 255.255.255.0",
                           "push \"redirect-gateway def1 bypass-dhcp\"",
                           "push \"dhcp-option DNS 1.1.1.1\"",
                           "push \"dhcp-option DNS 1.0.0.1\"",
                           "keepalive 10 60",
                           "data-ciphers AES-256-GCM:CHACHA20-POLY1305",
                           "tls-version-min 1.2",
                           "dh none",
                           "verify-client-cert none",
                           "username-as-common-name",
                           "management /run/aureo/openvpn.sock unix",
                           "management-client-auth",
                           "management-hold",
                           "script-security 1",
                           "persist-tun",
                           "explicit-exit-notify 1",
                           "verb 3"}) {
    EXPECT_TRUE(hasLine(*text, line)) << "missing: " << line << "\n" << *text;
  }
  EXPECT_EQ(text->find("auth-user-pass-optional"), std::string::npos);
  EXPECT_EQ(text->find("server-ipv6"), std::string::npos);
  EXPECT_EQ(text->find("\nuser "), std::string::npos);
  EXPECT_EQ(block(*text, "ca"), ca_->identity.cert_pem);
  EXPECT_EQ(block(*text, "cert"), server_->cert_pem);
  EXPECT_EQ(block(*text, "key"), server_->key_pem);
  EXPECT_EQ(block(*text, "tls-crypt"), *tls_crypt_);
}

TEST_F(ConfigTest, TcpServerDefaultsToPort443WithoutExitNotify) {
  auto c = serverConfig();
  c.transport = Transport::kTcp;
  c.listen_address = core::IpAddress::parse("192.0.2.10");
  auto text = renderServerConfig(c);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(hasLine(*text, "proto tcp-server"));
  EXPECT_TRUE(hasLine(*text, "port 443"));
  EXPECT_TRUE(hasLine(*text, "local 192.0.2.10"));
  EXPECT_FALSE(hasLine(*text, "explicit-exit-notify 1"));
}

TEST_F(ConfigTest, WithoutALocalAddressItListensOnBothFamiliesUnlessTheHostHasNoIpv6) {
  auto c = serverConfig();
  auto text = renderServerConfig(c);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(hasLine(*text, "proto udp6"));
  c.transport = Transport::kTcp;
  text = renderServerConfig(c);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(hasLine(*text, "proto tcp6-server"));
  c.dual_stack = false;
  text = renderServerConfig(c);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(hasLine(*text, "proto tcp-server"));
  c.transport = Transport::kUdp;
  text = renderServerConfig(c);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(hasLine(*text, "proto udp"));
}

TEST_F(ConfigTest, Ipv6TunnelAddsServerIpv6AndRedirectsBothFamilies) {
  auto c = serverConfig();
  c.tunnel_v6 = core::Cidr::parse("fd00:8::/64");
  c.dns_servers.push_back(*core::IpAddress::parse("2606:4700:4700::1111"));
  c.user = "nobody";
  c.group = "nogroup";
  c.management_hold = false;
  c.device = "ovpn0";
  c.port = 1195;
  auto text = renderServerConfig(c);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_TRUE(hasLine(*text, "server-ipv6 fd00:8::/64"));
  EXPECT_TRUE(hasLine(*text, "push \"redirect-gateway def1 ipv6 bypass-dhcp\""));
  EXPECT_TRUE(hasLine(*text, "push \"dhcp-option DNS6 2606:4700:4700::1111\""));
  EXPECT_TRUE(hasLine(*text, "user nobody"));
  EXPECT_TRUE(hasLine(*text, "group nogroup"));
  EXPECT_TRUE(hasLine(*text, "dev ovpn0"));
  EXPECT_TRUE(hasLine(*text, "port 1195"));
  EXPECT_FALSE(hasLine(*text, "management-hold"));
}

TEST_F(ConfigTest, ServerConfigRejectsValuesThatWouldSpliceDirectives) {
  struct Case {
    const char* field;
    void (*mutate)(ServerConfig&);
  };
  const Case cases[] = {
      {"device", [](ServerConfig& c) { c.device = "tun0\nscript-security 3"; }},
      {"device", [](ServerConfig& c) { c.device = "a-very-long-device-name"; }},
      {"management_socket", [](ServerConfig& c) { c.management_socket = "relative.sock"; }},
      {"management_socket",
       [](ServerConfig& c) { c.management_socket = "/run/x.sock unix\nup /bin/sh"; }},
      {"management_socket",
       [](ServerConfig& c) { c.management_socket = "/" + std::string(110, 'a'); }},
      {"user", [](ServerConfig& c) { c.user = "nobody\nup /bin/sh"; }},
      {"group", [](ServerConfig& c) { c.group = "no group"; }},
      {"tunnel_v4", [](ServerConfig& c) { c.tunnel_v4 = *core::Cidr::parse("10.8.0.0/30"); }},
      {"tunnel_v4", [](ServerConfig& c) { c.tunnel_v4 = *core::Cidr::parse("fd00::/64"); }},
      {"tunnel_v6", [](ServerConfig& c) { c.tunnel_v6 = core::Cidr::parse("10.9.0.0/24"); }},
      {"tunnel_v6", [](ServerConfig& c) { c.tunnel_v6 = core::Cidr::parse("fd00::/48"); }},
      {"ca_pem", [](ServerConfig& c) { c.ca_pem = "garbage"; }},
      {"ca_pem", [](ServerConfig& c) { c.ca_pem += "</ca>\nscript-security 3\n<ca>\n"; }},
      {"key_pem", [](ServerConfig& c) { c.key_pem = "-----BEGIN CERTIFICATE-----\n"; }},
      {"key_pem", [](ServerConfig& c) { c.key_pem += "</key>\nup /bin/sh\n"; }},
      {"tls_crypt_key", [](ServerConfig& c) { c.tls_crypt_key = "short"; }},
      {"keepalive", [](ServerConfig& c) { c.keepalive_timeout = 5; }},
      {"verbosity", [](ServerConfig& c) { c.verbosity = 12; }},
  };
  for (const auto& tc : cases) {
    auto c = serverConfig();
    tc.mutate(c);
    auto text = renderServerConfig(c);
    ASSERT_FALSE(text.ok()) << tc.field;
    EXPECT_EQ(text.error().code, core::Code::kInvalidArgument);
    EXPECT_EQ(text.error().field, tc.field) << text.error().message;
  }
}

TEST_F(ConfigTest, ClientProfileIsSelfContained) {
  auto p = clientProfile();
  p.server_common_name = "node-1";
  auto text = renderClientProfile(p);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  for (const char* line :
       {"# alice@example.com on fra-1", "client", "dev tun",
        "remote fra-1.vpn.example.com 1194 udp", "nobind", "explicit-exit-notify 2",
        "remote-cert-tls server", "verify-x509-name \"node-1\" name",
        "data-ciphers AES-256-GCM:CHACHA20-POLY1305", "tls-version-min 1.2", "auth-user-pass",
        "verb 3"}) {
    EXPECT_TRUE(hasLine(*text, line)) << "missing: " << line << "\n" << *text;
  }
  EXPECT_EQ(block(*text, "ca"), ca_->identity.cert_pem);
  EXPECT_EQ(block(*text, "tls-crypt"), *tls_crypt_);
  EXPECT_EQ(block(*text, "auth-user-pass"), "");
  EXPECT_EQ(text->find("PRIVATE KEY"), std::string::npos);
}

TEST_F(ConfigTest, ClientProfileEmbedsCredentialsOnlyWhenAsked) {
  auto p = clientProfile();
  p.remotes.push_back({"198.51.100.4", 443, Transport::kTcp});
  p.inline_credentials = ClientCredentials{"alice", "s3ss10n-t0ken"};
  auto text = renderClientProfile(p);
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_EQ(block(*text, "auth-user-pass"), "alice\ns3ss10n-t0ken\n");
  EXPECT_TRUE(hasLine(*text, "remote 198.51.100.4 443 tcp-client"));
  EXPECT_FALSE(hasLine(*text, "explicit-exit-notify 2"));
  // The inline block is the directive; a bare one beside it would prompt.
  EXPECT_FALSE(hasLine(*text, "auth-user-pass"));
}

TEST_F(ConfigTest, ClientProfileRejectsSplicedValues) {
  struct Case {
    const char* field;
    void (*mutate)(ClientProfile&);
  };
  const Case cases[] = {
      {"remotes", [](ClientProfile& p) { p.remotes.clear(); }},
      {"remotes", [](ClientProfile& p) { p.remotes[0].host = "x.example.com 1194\nup /bin/sh"; }},
      {"remotes", [](ClientProfile& p) { p.remotes[0].host = "-x"; }},
      {"name", [](ClientProfile& p) { p.name = "a\nup /bin/sh"; }},
      {"server_common_name", [](ClientProfile& p) { p.server_common_name = "a\" name\nup x"; }},
      {"inline_credentials",
       [](ClientProfile& p) {
         p.inline_credentials = ClientCredentials{"a\nb", "c"};
       }},
      {"inline_credentials",
       [](ClientProfile& p) {
         p.inline_credentials = ClientCredentials{"a", "</auth-user-pass>"};
       }},
      {"inline_credentials",
       [](ClientProfile& p) {
         p.inline_credentials = ClientCredentials{"a", std::string(128, 'x')};
       }},
      {"inline_credentials",
       [](ClientProfile& p) {
         p.inline_credentials = ClientCredentials{"", "x"};
       }},
      {"ca_pem", [](ClientProfile& p) { p.ca_pem.clear(); }},
      {"tls_crypt_key", [](ClientProfile& p) { p.tls_crypt_key += "<ca>"; }},
  };
  for (const auto& tc : cases) {
    auto p = clientProfile();
    tc.mutate(p);
    auto text = renderClientProfile(p);
    ASSERT_FALSE(text.ok()) << tc.field;
    EXPECT_EQ(text.error().field, tc.field) << text.error().message;
  }
}

TEST(TunnelHalvesTest, WireGuardTakesTheLowerHalfAndOpenVpnTheUpper) {
  const auto v4 = *core::Cidr::parse("10.8.0.0/16");
  EXPECT_EQ(wireguardHalf(v4)->toString(), "10.8.0.0/17");
  EXPECT_EQ(openvpnHalf(v4)->toString(), "10.8.128.0/17");
  const auto odd = *core::Cidr::parse("10.9.0.0/27");
  EXPECT_EQ(openvpnHalf(odd)->toString(), "10.9.0.16/28");
  const auto v6 = *core::Cidr::parse("fd00:8::/64");
  EXPECT_EQ(wireguardHalf(v6)->toString(), "fd00:8::/65");
  EXPECT_EQ(openvpnHalf(v6)->toString(), "fd00:8:0:0:8000::/65");
  // Too small to share: the caller decides (WireGuard keeps it whole).
  EXPECT_EQ(openvpnHalf(*core::Cidr::parse("10.8.0.0/29")).error().code,
            core::Code::kInvalidArgument);
  EXPECT_FALSE(openvpnHalf(*core::Cidr::parse("fd00::/112")).ok());
}

}  // namespace
}  // namespace aureo::openvpn
