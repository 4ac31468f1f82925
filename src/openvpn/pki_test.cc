#include "openvpn/pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <set>
#include <string>

#include "core/testing/fake_clock.h"
#include "crypto/encoding.h"

namespace aureo::openvpn {
namespace {

using std::chrono::hours;

crypto::MasterKey masterKey(char fill) {
  auto k = crypto::parseMasterKey(crypto::base64Encode(std::string(32, fill)));
  EXPECT_TRUE(k.ok());
  return k.ok() ? *k : crypto::MasterKey{};
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = createCertificateAuthority({}, clock_.now());
    ASSERT_TRUE(ca.ok()) << ca.error().toString();
    ca_ = *ca;
  }

  core::Result<CertifiedKey> issueNode() {
    ServerCertOptions options;
    options.common_name = "node-fra-1";
    options.dns_names = {"fra-1.vpn.example.com"};
    options.ip_addresses = {*core::IpAddress::parse("203.0.113.7"),
                            *core::IpAddress::parse("2001:db8::7")};
    return issueServerCertificate(ca_, options, clock_.now());
  }

  core::testing::FakeClock clock_;
  CertificateAuthority ca_;
};

TEST_F(PkiTest, CaCertificateIsSelfSignedCaValidForTenYears) {
  auto info = inspectCertificate(ca_.identity.cert_pem);
  ASSERT_TRUE(info.ok()) << info.error().toString();
  EXPECT_TRUE(info->is_ca);
  EXPECT_EQ(info->subject_common_name, "Aureo VPN CA");
  EXPECT_EQ(info->issuer_common_name, "Aureo VPN CA");
  EXPECT_EQ(info->not_after - info->not_before, kCaLifetime + kBackdate);
  EXPECT_EQ(info->not_before, clock_.now() - kBackdate);
  EXPECT_EQ(info->serial_hex.size(), 32u);
  EXPECT_NE(ca_.identity.key_pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
}

TEST_F(PkiTest, ServerCertificateVerifiesAgainstItsCaForTlsServerPurpose) {
  auto server = issueNode();
  ASSERT_TRUE(server.ok()) << server.error().toString();
  auto status = verifyServerCertificate(server->cert_pem, ca_.identity.cert_pem, clock_.now());
  EXPECT_TRUE(status.ok()) << status.error().toString();
}

TEST_F(PkiTest, ServerCertificateCarriesServerAuthKeyUsageAndSubjectAltNames) {
  auto server = issueNode();
  ASSERT_TRUE(server.ok());
  auto info = inspectCertificate(server->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(info->has_server_auth_eku);
  EXPECT_TRUE(info->has_key_usage);
  EXPECT_EQ(info->subject_common_name, "node-fra-1");
  EXPECT_EQ(info->issuer_common_name, "Aureo VPN CA");
  EXPECT_EQ(info->dns_names, std::vector<std::string>{"fra-1.vpn.example.com"});
  EXPECT_EQ(info->ip_addresses, (std::vector<std::string>{"203.0.113.7", "2001:db8::7"}));
  EXPECT_EQ(info->not_after, clock_.now() + kServerCertLifetime);
}

TEST_F(PkiTest, ServerCertificateFailsAgainstAnotherCa) {
  auto server = issueNode();
  ASSERT_TRUE(server.ok());
  auto other = createCertificateAuthority({}, clock_.now());
  ASSERT_TRUE(other.ok());
  auto status = verifyServerCertificate(server->cert_pem, other->identity.cert_pem, clock_.now());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::Code::kPermissionDenied);
}

TEST_F(PkiTest, ExpiredServerCertificateFailsVerification) {
  auto server = issueNode();
  ASSERT_TRUE(server.ok());
  auto status = verifyServerCertificate(server->cert_pem, ca_.identity.cert_pem,
                                        clock_.now() + kServerCertLifetime + hours(1));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("expired"), std::string::npos) << status.error().message;
}

TEST_F(PkiTest, CaCertificateIsNotAcceptedAsServerCertificate) {
  // The CA lacks the serverAuth EKU, so a client with remote-cert-tls server
  // would refuse it; verification with the server purpose must agree.
  auto status = verifyServerCertificate(ca_.identity.cert_pem, ca_.identity.cert_pem, clock_.now());
  EXPECT_FALSE(status.ok());
}

TEST_F(PkiTest, SerialsAreUnique) {
  std::set<std::string> serials;
  for (int i = 0; i < 5; ++i) {
    auto server = issueNode();
    ASSERT_TRUE(server.ok());
    serials.insert(inspectCertificate(server->cert_pem)->serial_hex);
  }
  EXPECT_EQ(serials.size(), 5u);
}

TEST_F(PkiTest, NeedsRenewalOnlyWithinTheMarginOfExpiry) {
  auto server = issueNode();
  ASSERT_TRUE(server.ok());
  const auto expiry = clock_.now() + kServerCertLifetime;
  EXPECT_FALSE(*needsRenewal(server->cert_pem, clock_.now()));
  EXPECT_FALSE(*needsRenewal(server->cert_pem, expiry - kRenewalMargin - hours(1)));
  EXPECT_TRUE(*needsRenewal(server->cert_pem, expiry - kRenewalMargin + hours(1)));
  EXPECT_TRUE(*needsRenewal(server->cert_pem, expiry + hours(1)));
  EXPECT_TRUE(*needsRenewal(server->cert_pem, clock_.now(), kServerCertLifetime + hours(1)));
}

TEST_F(PkiTest, NeedsRenewalFollowsTheFakeClock) {
  auto server = issueNode();
  ASSERT_TRUE(server.ok());
  clock_.advance(hours(24 * 300));
  EXPECT_FALSE(*needsRenewal(server->cert_pem, clock_.now()));
  clock_.advance(hours(24 * 40));
  EXPECT_TRUE(*needsRenewal(server->cert_pem, clock_.now()));
}

TEST_F(PkiTest, NeedsRenewalRejectsGarbage) {
  auto r = needsRenewal("not a certificate", clock_.now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::Code::kInvalidArgument);
}

TEST_F(PkiTest, IssueRejectsNamesThatCouldInjectExtensions) {
  ServerCertOptions options;
  options.common_name = "node";
  options.dns_names = {"ok.example.com,IP:1.2.3.4"};
  EXPECT_FALSE(issueServerCertificate(ca_, options, clock_.now()).ok());
  options.dns_names = {"a..b"};
  EXPECT_FALSE(issueServerCertificate(ca_, options, clock_.now()).ok());
  options.dns_names = {};
  options.common_name = "bad\nname";
  EXPECT_FALSE(issueServerCertificate(ca_, options, clock_.now()).ok());
  options.common_name = "";
  EXPECT_FALSE(issueServerCertificate(ca_, options, clock_.now()).ok());
  options.common_name = std::string(65, 'a');
  EXPECT_FALSE(issueServerCertificate(ca_, options, clock_.now()).ok());
}

TEST_F(PkiTest, ImportAcceptsMatchingPairAndRejectsMismatchedKey) {
  auto again = importCertificateAuthority(ca_.identity.cert_pem, ca_.identity.key_pem);
  ASSERT_TRUE(again.ok()) << again.error().toString();
  EXPECT_EQ(again->identity.cert_pem, ca_.identity.cert_pem);

  auto other = createCertificateAuthority({}, clock_.now());
  ASSERT_TRUE(other.ok());
  auto mixed = importCertificateAuthority(ca_.identity.cert_pem, other->identity.key_pem);
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().code, core::Code::kInvalidArgument);
}

TEST_F(PkiTest, ImportRejectsServerCertificateAsCa) {
  auto server = issueNode();
  ASSERT_TRUE(server.ok());
  EXPECT_FALSE(importCertificateAuthority(server->cert_pem, server->key_pem).ok());
  EXPECT_FALSE(importCertificateAuthority("junk", ca_.identity.key_pem).ok());
  EXPECT_FALSE(importCertificateAuthority(ca_.identity.cert_pem, "junk").ok());
}

TEST_F(PkiTest, SealedCaRoundTripsAndStillIssuesCertificates) {
  const auto key = masterKey('k');
  const std::string sealed = sealCertificateAuthority(ca_, key, "openvpn-ca:dep1");
  EXPECT_EQ(sealed.find("PRIVATE KEY"), std::string::npos);
  auto opened = openCertificateAuthority(sealed, key, "openvpn-ca:dep1");
  ASSERT_TRUE(opened.ok()) << opened.error().toString();
  EXPECT_EQ(opened->identity.cert_pem, ca_.identity.cert_pem);
  EXPECT_EQ(opened->identity.key_pem, ca_.identity.key_pem);

  ServerCertOptions options;
  options.common_name = "node-2";
  auto server = issueServerCertificate(*opened, options, clock_.now());
  ASSERT_TRUE(server.ok());
  EXPECT_TRUE(verifyServerCertificate(server->cert_pem, ca_.identity.cert_pem, clock_.now()).ok());
}

TEST_F(PkiTest, SealedCaFailsToOpenWithWrongKeyOrAssociatedData) {
  const std::string sealed = sealCertificateAuthority(ca_, masterKey('k'), "openvpn-ca:dep1");
  EXPECT_FALSE(openCertificateAuthority(sealed, masterKey('x'), "openvpn-ca:dep1").ok());
  EXPECT_FALSE(openCertificateAuthority(sealed, masterKey('k'), "openvpn-ca:dep2").ok());
  std::string tampered = sealed;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(openCertificateAuthority(tampered, masterKey('k'), "openvpn-ca:dep1").ok());
}

TEST_F(PkiTest, SealedBlobOfOtherContentIsDataLoss) {
  const auto key = masterKey('k');
  const std::string sealed = crypto::seal(key, "not a ca", "openvpn-ca:dep1");
  auto opened = openCertificateAuthority(sealed, key, "openvpn-ca:dep1");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, core::Code::kDataLoss);
}

// True when the PEM key is the private half of the PEM certificate's key.
bool keyMatchesCertificate(const std::string& key_pem, const std::string& cert_pem) {
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  const bool match = key != nullptr && cert != nullptr && X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(kb);
  BIO_free(cb);
  return match;
}

TEST_F(PkiTest, CsrIsSignedForTheRequestKeyWithTheNamesTheCaChooses) {
  auto request = createServerKeyRequest("whatever-the-node-asks");
  ASSERT_TRUE(request.ok()) << request.error().toString();
  EXPECT_NE(request->csr_pem.find("-----BEGIN CERTIFICATE REQUEST-----"), std::string::npos);
  ServerCertOptions options;
  options.common_name = "node-ams-2";
  options.ip_addresses = {*core::IpAddress::parse("198.51.100.1")};
  auto cert = signServerRequest(ca_, request->csr_pem, options, clock_.now());
  ASSERT_TRUE(cert.ok()) << cert.error().toString();
  EXPECT_TRUE(keyMatchesCertificate(request->key_pem, *cert));
  EXPECT_TRUE(verifyServerCertificate(*cert, ca_.identity.cert_pem, clock_.now()).ok());
  auto info = inspectCertificate(*cert);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->subject_common_name, "node-ams-2");
  EXPECT_EQ(info->ip_addresses, std::vector<std::string>{"198.51.100.1"});
  EXPECT_TRUE(info->has_server_auth_eku);
  EXPECT_EQ(info->not_after, clock_.now() + kServerCertLifetime);
}

TEST_F(PkiTest, CsrWithABrokenSignatureOrNoCsrAtAllIsRefused) {
  ServerCertOptions options;
  options.common_name = "node-ams-2";
  auto request = createServerKeyRequest("node");
  ASSERT_TRUE(request.ok());
  // Flip one character inside the base64 body: the self-signature breaks
  // (or the DER does): either way no certificate.
  std::string tampered = request->csr_pem;
  const size_t at = tampered.find('\n') + 40;
  tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
  EXPECT_EQ(signServerRequest(ca_, tampered, options, clock_.now()).error().field, "csr");
  EXPECT_EQ(signServerRequest(ca_, "", options, clock_.now()).error().field, "csr");
  EXPECT_EQ(signServerRequest(ca_, ca_.identity.cert_pem, options, clock_.now()).error().field,
            "csr");
  EXPECT_FALSE(createServerKeyRequest("bad/name").ok());
}

TEST(TlsCryptKeyTest, GeneratedKeyHasOpenVpnStaticKeyFormat) {
  const std::string key = generateTlsCryptKey();
  EXPECT_TRUE(validateTlsCryptKey(key).ok());
  const auto begin = key.find("-----BEGIN OpenVPN Static key V1-----\n");
  const auto end = key.find("-----END OpenVPN Static key V1-----\n");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const std::string body = key.substr(begin + 38, end - begin - 38);
  EXPECT_EQ(body.size(), 16u * 33u);  // 16 lines of 32 hex digits and a newline
  EXPECT_NE(generateTlsCryptKey(), key);
}

TEST(TlsCryptKeyTest, ValidationRejectsShortOrMalformedKeys) {
  const std::string key = generateTlsCryptKey();
  const auto first_line = key.find("-----BEGIN OpenVPN Static key V1-----\n") + 38;
  std::string short_key = key;
  short_key.erase(first_line, 33);
  EXPECT_FALSE(validateTlsCryptKey(short_key).ok());
  std::string not_hex = key;
  not_hex[first_line] = 'z';
  EXPECT_FALSE(validateTlsCryptKey(not_hex).ok());
  EXPECT_FALSE(validateTlsCryptKey(key + "extra\n").ok());
  EXPECT_FALSE(validateTlsCryptKey("").ok());
  std::string no_end = key.substr(0, key.find("-----END"));
  EXPECT_FALSE(validateTlsCryptKey(no_end).ok());
}

}  // namespace
}  // namespace aureo::openvpn
