#include "http/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "http/testing/test_support.h"

namespace aureo::http {
namespace {

using ::testing::HasSubstr;
using testing::RawSocket;
using testing::ServerHarness;
using Awaitable = boost::asio::awaitable<Response>;

Router clientRouter() {
  Router router;
  router.add("GET", "/api/v1/nodes/{id}", [](Request& req) -> Awaitable {
    co_return Response::json(200, R"({"id":")" + req.params.at("id") + R"("})");
  });
  router.add("POST", "/echo", [](Request& req) -> Awaitable {
    Response res = Response::text(200, req.body);
    res.header("X-Content-Type-Seen", std::string(req.header("content-type")));
    co_return res;
  });
  router.add("GET", "/big", [](Request&) -> Awaitable {
    co_return Response::text(200, std::string(100'000, 'b'));
  });
  return router;
}

// A self-signed P-256 certificate for localhost and 127.0.0.1, written as PEM
// files into a fresh temporary directory that is removed afterwards.
class SelfSignedCert {
 public:
  explicit SelfSignedCert(const char* names = "DNS:localhost,IP:127.0.0.1") {
    dir_ = std::filesystem::temp_directory_path() /
           ("aureo_tls_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", const_cast<char*>("P-256"));
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, names},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                              std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(cert, key, EVP_sha256());
    FILE* f = std::fopen(certFile().c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(keyFile().c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  ~SelfSignedCert() { std::filesystem::remove_all(dir_); }

  [[nodiscard]] std::string certFile() const { return (dir_ / "cert.pem").string(); }
  [[nodiscard]] std::string keyFile() const { return (dir_ / "key.pem").string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

ServerOptions tlsOptions(const SelfSignedCert& cert) {
  ServerOptions options;
  options.tls_cert_file = cert.certFile();
  options.tls_key_file = cert.keyFile();
  return options;
}

struct HandshakeResult {
  bool ok = false;
  int version = 0;
  unsigned long error = 0;  // first OpenSSL error on failure
};

// A raw OpenSSL client allowed to go as low as TLS 1.0 (security level 0), so
// that a refusal can only come from the server.
HandshakeResult handshake(uint16_t port, int max_version) {
  HandshakeResult result;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  RawSocket socket(port);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), socket.fd());
  ERR_clear_error();
  if (SSL_connect(ssl.get()) == 1) {
    result.ok = true;
    result.version = SSL_version(ssl.get());
    SSL_shutdown(ssl.get());
  } else {
    result.error = ERR_peek_error();
  }
  return result;
}

TEST(ClientTest, GetsFromAPlainServer) {
  ServerHarness harness({}, clientRouter());
  Client client(harness.baseUrl());
  auto res = client.request("GET", "/api/v1/nodes/9");
  ASSERT_TRUE(res.ok()) << res.error().toString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"id":"9"})");
  EXPECT_EQ(res->header("X-Frame-Options"), "DENY");
}

TEST(ClientTest, ReturnsErrorStatusesAsResults) {
  ServerHarness harness({}, clientRouter());
  auto res = Client(harness.baseUrl()).request("GET", "/missing");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 404);
}

TEST(ClientTest, PrefixesTheBaseUrlPathAndDefaultsToJson) {
  ServerHarness harness({}, clientRouter());
  Client client(harness.baseUrl() + "/api/v1/");
  auto res = client.request("GET", "/nodes/x");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->body, R"({"id":"x"})");
  auto echo = Client(harness.baseUrl()).request("POST", "/echo", "{}");
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->header("x-content-type-seen"), "application/json");
  auto text =
      Client(harness.baseUrl()).request("POST", "/echo", "hi", {{"Content-Type", "text/plain"}});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->header("x-content-type-seen"), "text/plain");
}

TEST(ClientTest, ConnectToSkipsNameResolutionButKeepsTheHostHeader) {
  ServerHarness harness({}, clientRouter());
  const std::string port = std::to_string(harness.port());
  // .invalid never resolves (RFC 6761): only the pinned address can work.
  EXPECT_FALSE(Client("http://api.invalid:" + port).request("GET", "/api/v1/nodes/1").ok());
  ClientOptions options;
  options.connect_to = "127.0.0.1";
  auto res = Client("http://api.invalid:" + port, options).request("GET", "/api/v1/nodes/1");
  ASSERT_TRUE(res.ok()) << res.error().toString();
  EXPECT_EQ(res->body, R"({"id":"1"})");
  options.connect_to = "localhost";  // a name, not an address: never looked up
  auto named = Client("http://api.invalid:" + port, options).request("GET", "/api/v1/nodes/1");
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.error().code, core::Code::kUnavailable);
}

TEST(ClientTest, HeadRequestHasNoBody) {
  ServerHarness harness({}, clientRouter());
  auto res = Client(harness.baseUrl()).request("HEAD", "/big");
  ASSERT_TRUE(res.ok()) << res.error().toString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->header("content-length"), "100000");
  EXPECT_EQ(res->body, "");
}

TEST(ClientTest, RefusesAResponseOverItsLimit) {
  ServerHarness harness({}, clientRouter());
  ClientOptions options;
  options.max_response_bytes = 1000;
  auto res = Client(harness.baseUrl(), options).request("GET", "/big");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, core::Code::kResourceExhausted);
}

TEST(ClientTest, ConnectionRefusedIsUnavailable) {
  uint16_t port;
  {
    // A port that was free a moment ago and has no listener now.
    ServerHarness harness({}, Router{});
    port = harness.port();
  }
  auto res = Client("http://127.0.0.1:" + std::to_string(port)).request("GET", "/");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, core::Code::kUnavailable);
}

TEST(ClientTest, SilentServerTimesOutAsUnavailable) {
  // Listening but never accepting: connect succeeds through the backlog and
  // no answer ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ClientOptions options;
  options.timeout = std::chrono::milliseconds(300);
  auto res = Client("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), options)
                 .request("GET", "/");
  ::close(fd);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, core::Code::kUnavailable);
  EXPECT_THAT(res.error().message, HasSubstr("timed out"));
}

TEST(ClientTest, BadBaseUrlsAndArgumentsAreInvalidArgument) {
  for (std::string url : {"", "127.0.0.1:80", "ftp://host/", "http://", "http://h/?q=1"}) {
    auto res = Client(url).request("GET", "/");
    ASSERT_FALSE(res.ok()) << url;
    EXPECT_EQ(res.error().code, core::Code::kInvalidArgument) << url;
  }
  Client client("http://127.0.0.1:1");
  EXPECT_EQ(client.request("GET", "no-slash").error().code, core::Code::kInvalidArgument);
  EXPECT_EQ(client.request("GE T", "/").error().code, core::Code::kInvalidArgument);
  EXPECT_EQ(client.request("GET", "/", "", {{"X-A", "a\r\nInjected: 1"}}).error().code,
            core::Code::kInvalidArgument);
}

TEST(ClientTest, HttpsVerifiesTheServerAgainstTheGivenCa) {
  SelfSignedCert cert;
  ServerHarness harness(tlsOptions(cert), clientRouter());
  ClientOptions options;
  options.ca_file = cert.certFile();
  for (std::string host : {"127.0.0.1", "localhost"}) {
    Client client("https://" + host + ":" + std::to_string(harness.port()), options);
    auto res = client.request("GET", "/api/v1/nodes/tls");
    ASSERT_TRUE(res.ok()) << host << ": " << res.error().toString();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, R"({"id":"tls"})");
    EXPECT_EQ(res->header("strict-transport-security"), "max-age=63072000; includeSubDomains");
  }
}

TEST(ClientTest, HttpsRejectsAnUntrustedCertificate) {
  SelfSignedCert cert;
  ServerHarness harness(tlsOptions(cert), clientRouter());
  const std::string url = "https://127.0.0.1:" + std::to_string(harness.port());
  auto res = Client(url).request("GET", "/api/v1/nodes/1");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, core::Code::kUnavailable);
  EXPECT_THAT(res.error().message, HasSubstr("certificate verify failed"));

  ClientOptions insecure;
  insecure.insecure_skip_verify = true;
  auto skipped = Client(url, insecure).request("GET", "/api/v1/nodes/1");
  ASSERT_TRUE(skipped.ok()) << skipped.error().toString();
  EXPECT_EQ(skipped->status, 200);
}

TEST(ClientTest, HttpsRejectsACertificateFromAnotherAuthority) {
  SelfSignedCert cert;
  SelfSignedCert other;
  ServerHarness harness(tlsOptions(cert), clientRouter());
  ClientOptions options;
  options.ca_file = other.certFile();
  auto res = Client("https://127.0.0.1:" + std::to_string(harness.port()), options)
                 .request("GET", "/api/v1/nodes/1");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, core::Code::kUnavailable);
}

TEST(ClientTest, HttpsRejectsACertificateForAnotherName) {
  SelfSignedCert cert("DNS:other.example");
  ServerHarness harness(tlsOptions(cert), clientRouter());
  ClientOptions options;
  options.ca_file = cert.certFile();  // trusted, but not for this host
  for (std::string host : {"127.0.0.1", "localhost"}) {
    auto res = Client("https://" + host + ":" + std::to_string(harness.port()), options)
                   .request("GET", "/api/v1/nodes/1");
    ASSERT_FALSE(res.ok()) << host;
    EXPECT_EQ(res.error().code, core::Code::kUnavailable) << host;
  }
}

TEST(ClientTest, TlsServerRefusesTls11AndSpeaks12And13) {
  SelfSignedCert cert;
  ServerHarness harness(tlsOptions(cert), clientRouter());
  auto tls11 = handshake(harness.port(), TLS1_1_VERSION);
  EXPECT_FALSE(tls11.ok);
  EXPECT_EQ(ERR_GET_REASON(tls11.error), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
      << ERR_reason_error_string(tls11.error);
  auto tls12 = handshake(harness.port(), TLS1_2_VERSION);
  EXPECT_TRUE(tls12.ok);
  EXPECT_EQ(tls12.version, TLS1_2_VERSION);
  auto tls13 = handshake(harness.port(), TLS1_3_VERSION);
  EXPECT_TRUE(tls13.ok);
  EXPECT_EQ(tls13.version, TLS1_3_VERSION);
}

TEST(ClientTest, PlainHttpToATlsServerFailsCleanly) {
  SelfSignedCert cert;
  ServerHarness harness(tlsOptions(cert), clientRouter());
  ClientOptions options;
  options.timeout = std::chrono::seconds(5);
  auto res = Client("http://127.0.0.1:" + std::to_string(harness.port()), options)
                 .request("GET", "/api/v1/nodes/1");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, core::Code::kUnavailable);
  // The server is still fine afterwards.
  ClientOptions tls;
  tls.ca_file = cert.certFile();
  auto ok = Client("https://127.0.0.1:" + std::to_string(harness.port()), tls)
                .request("GET", "/api/v1/nodes/1");
  ASSERT_TRUE(ok.ok()) << ok.error().toString();
}

}  // namespace
}  // namespace aureo::http
