#include "crypto/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "crypto/encoding.h"

namespace aureo::crypto {
namespace {

using nlohmann::json;
using std::chrono::seconds;

const std::string kSecret = "0123456789abcdef0123456789abcdef";  // 32 bytes
constexpr int64_t kNow = 1700000100;
const core::SystemTime kNowTime = core::fromUnixSeconds(kNow);
const std::string kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

JwtCodec codec() {
  return JwtCodec(kSecret, "aureo-test", "aureo-api");
}

JwtClaims accessClaims() {
  JwtClaims c;
  c.sub = "user-42";
  c.typ = "access";
  c.jti = "j-1";
  c.role = "admin";
  c.iat = 1700000000;
  c.exp = 1700000900;
  return c;
}

json accessPayload() {
  return {{"sub", "user-42"}, {"iss", "aureo-test"}, {"aud", "aureo-api"},
          {"typ", "access"},  {"exp", 1700000900},   {"iat", 1700000000}};
}

// Signs with OpenSSL directly (not through the code under test) so a token can
// carry any header, payload or algorithm.
std::string mac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string craft(std::string_view header, std::string_view payload, std::string_view key = kSecret,
                  const EVP_MD* md = EVP_sha256()) {
  const std::string input = base64UrlEncode(header) + "." + base64UrlEncode(payload);
  return input + "." + base64UrlEncode(mac(md, key, input));
}

std::string craft(const json& payload) {
  return craft(kHs256Header, payload.dump());
}

// Expects verify() to refuse the token with exactly this reason.
void expectRejected(const std::string& token, std::string_view reason,
                    core::SystemTime now = kNowTime, seconds leeway = seconds{5},
                    std::string_view typ = "access") {
  auto r = codec().verify(token, typ, now, leeway);
  ASSERT_FALSE(r.ok()) << "accepted: " << token;
  EXPECT_EQ(r.error().code, core::Code::kUnauthenticated);
  EXPECT_EQ(r.error().message, reason) << token;
}

void expectAccepted(const std::string& token, core::SystemTime now = kNowTime,
                    seconds leeway = seconds{5}) {
  auto r = codec().verify(token, "access", now, leeway);
  EXPECT_TRUE(r.ok()) << token << ": " << (r.ok() ? "" : r.error().message);
}

// Replaces part i (0 header, 1 payload, 2 signature) of a token.
std::string withPart(const std::string& token, int i, const std::string& part) {
  const size_t d1 = token.find('.');
  const size_t d2 = token.find('.', d1 + 1);
  std::string parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1),
                          token.substr(d2 + 1)};
  parts[i] = part;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

TEST(JwtTest, SignThenVerifyRoundTripsEveryClaim) {
  JwtClaims in = accessClaims();
  in.fam = "family-7";
  in.nbf = 1700000000;
  const std::string token = codec().sign(in);
  auto out = codec().verify(token, "access", kNowTime);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->sub, "user-42");
  EXPECT_EQ(out->iss, "aureo-test");
  EXPECT_EQ(out->aud, "aureo-api");
  EXPECT_EQ(out->typ, "access");
  EXPECT_EQ(out->jti, "j-1");
  EXPECT_EQ(out->role, "admin");
  EXPECT_EQ(out->fam, "family-7");
  EXPECT_EQ(out->iat, 1700000000);
  EXPECT_EQ(out->nbf, 1700000000);
  EXPECT_EQ(out->exp, 1700000900);
}

TEST(JwtTest, SignMatchesTokenComputedWithOpensslCli) {
  // Computed independently with: printf '%s' "$header.$payload" |
  //   openssl dgst -sha256 -mac HMAC -macopt key:0123456789abcdef0123456789abcdef -binary
  // over the sorted, compact JSON below, base64url-encoded without padding.
  EXPECT_EQ(codec().sign(accessClaims()),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
            "eyJhdWQiOiJhdXJlby1hcGkiLCJleHAiOjE3MDAwMDA5MDAsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiYXVy"
            "ZW8tdGVzdCIsImp0aSI6ImotMSIsInJvbGUiOiJhZG1pbiIsInN1YiI6InVzZXItNDIiLCJ0eXAiOiJhY2Nl"
            "c3MifQ.dwQVZ23P1X8D9ebaP6xLZ-c7U95R3uyBOJP00fG6cnQ");
}

TEST(JwtTest, VerifiesTokenSignedWithOpensslCli) {
  // Header {"typ":"JWT","alg":"HS256"} (other key order), payload
  // {"sub":"user-42","iss":"aureo-test","aud":"aureo-api","typ":"access","role":"admin",
  //  "jti":"j-1","iat":1700000000,"exp":1700000900}, HMAC by the openssl CLI.
  const std::string token =
      "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."
      "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiYXVyZW8tdGVzdCIsImF1ZCI6ImF1cmVvLWFwaSIsInR5cCI6ImFjY2Vz"
      "cyIsInJvbGUiOiJhZG1pbiIsImp0aSI6ImotMSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAwOTAwfQ."
      "6nyuC5yAepeKCbLR6VYrZda9loCYHfpjutO00ZFZj08";
  auto out = codec().verify(token, "access", kNowTime);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->sub, "user-42");
  EXPECT_EQ(out->role, "admin");
  EXPECT_EQ(out->exp, 1700000900);
}

TEST(JwtTest, RejectsTamperedPayload) {
  const std::string token = codec().sign(accessClaims());
  json p = accessPayload();
  p["sub"] = "user-43";
  expectRejected(withPart(token, 1, base64UrlEncode(p.dump())), "bad signature");

  // One character changed in the encoded payload.
  std::string flipped = token;
  const size_t i = token.find('.') + 5;
  flipped[i] = flipped[i] == 'A' ? 'B' : 'A';
  expectRejected(flipped, "bad signature");
}

TEST(JwtTest, RejectsTamperedSignature) {
  const std::string token = codec().sign(accessClaims());
  std::string flipped = token;
  flipped[token.size() - 2] = flipped[token.size() - 2] == 'A' ? 'B' : 'A';
  expectRejected(flipped, "bad signature");
  const std::string sig = token.substr(token.rfind('.') + 1);
  expectRejected(withPart(token, 2, sig.substr(0, 42)), "bad signature");
  expectRejected(withPart(token, 2, sig + "AA"), "bad signature");
  expectRejected(withPart(token, 2, ""), "bad signature");
  expectRejected(withPart(token, 2, sig + "="), "bad signature");
}

TEST(JwtTest, RejectsWrongSecret) {
  const JwtCodec other(std::string(32, 'z'), "aureo-test", "aureo-api");
  expectRejected(other.sign(accessClaims()), "bad signature");
  expectRejected(craft(kHs256Header, accessPayload().dump(), std::string(32, 'z')),
                 "bad signature");
}

TEST(JwtTest, RejectsAlgNoneWithOrWithoutSignature) {
  const std::string header = R"({"alg":"none","typ":"JWT"})";
  const std::string unsigned_input =
      base64UrlEncode(header) + "." + base64UrlEncode(accessPayload().dump());
  expectRejected(unsigned_input + ".", "algorithm not allowed");
  expectRejected(unsigned_input, "malformed token");
  // Even with a valid HS256 MAC over the input, "none" is refused.
  expectRejected(craft(header, accessPayload().dump()), "algorithm not allowed");
  expectRejected(craft(R"({"alg":"None"})", accessPayload().dump()), "algorithm not allowed");
}

TEST(JwtTest, RejectsOtherAlgorithms) {
  const std::string payload = accessPayload().dump();
  expectRejected(craft(R"({"alg":"HS512","typ":"JWT"})", payload, kSecret, EVP_sha512()),
                 "algorithm not allowed");
  expectRejected(craft(R"({"alg":"HS384","typ":"JWT"})", payload, kSecret, EVP_sha384()),
                 "algorithm not allowed");
  expectRejected(craft(R"({"alg":"RS256","typ":"JWT"})", payload), "algorithm not allowed");
  expectRejected(craft(R"({"alg":"hs256","typ":"JWT"})", payload), "algorithm not allowed");
  expectRejected(craft(R"({"typ":"JWT"})", payload), "algorithm not allowed");
  expectRejected(craft(R"({"alg":256,"typ":"JWT"})", payload), "algorithm not allowed");
  expectRejected(craft(R"({"alg":["HS256"]})", payload), "algorithm not allowed");
}

TEST(JwtTest, RejectsHeadersWithExtraParameters) {
  const std::string payload = accessPayload().dump();
  expectRejected(craft(R"({"alg":"HS256","typ":"JWT","crit":["exp"]})", payload),
                 "unsupported token header");
  expectRejected(craft(R"({"alg":"HS256","kid":"k1"})", payload), "unsupported token header");
  expectRejected(craft(R"({"alg":"HS256","jku":"https://evil.example/keys"})", payload),
                 "unsupported token header");
  expectRejected(craft(R"({"alg":"HS256","typ":"JWS"})", payload), "unsupported token header");
  expectRejected(craft(R"({"alg":"HS256","typ":1})", payload), "unsupported token header");
  // typ is optional.
  expectAccepted(craft(R"({"alg":"HS256"})", payload));
}

TEST(JwtTest, RejectsExpiredToken) {
  json p = accessPayload();
  p["exp"] = kNow - 60;
  expectRejected(craft(p), "token expired");
}

TEST(JwtTest, ExpiryLeewayEdges) {
  json p = accessPayload();
  p["exp"] = kNow;  // exp is exclusive: valid strictly before it
  expectRejected(craft(p), "token expired", kNowTime, seconds{0});
  expectAccepted(craft(p), kNowTime, seconds{1});
  p["exp"] = kNow + 1;
  expectAccepted(craft(p), kNowTime, seconds{0});
  p["exp"] = kNow - 5;
  expectRejected(craft(p), "token expired", kNowTime, seconds{5});
  p["exp"] = kNow - 4;
  expectAccepted(craft(p), kNowTime, seconds{5});
  // A negative leeway counts as none.
  p["exp"] = kNow + 1;
  expectAccepted(craft(p), kNowTime, seconds{-100});
  // Extreme exp values do not overflow.
  p["exp"] = std::numeric_limits<int64_t>::max();
  expectAccepted(craft(p), kNowTime, seconds{5});
  p["exp"] = std::numeric_limits<int64_t>::min();
  expectRejected(craft(p), "token expired", kNowTime, seconds{5});
}

TEST(JwtTest, NotBeforeLeewayEdges) {
  json p = accessPayload();
  p["nbf"] = kNow + 6;
  expectRejected(craft(p), "token not yet valid", kNowTime, seconds{5});
  p["nbf"] = kNow + 5;
  expectAccepted(craft(p), kNowTime, seconds{5});
  p["nbf"] = kNow;
  expectAccepted(craft(p), kNowTime, seconds{0});
  p["nbf"] = kNow + 1;
  expectRejected(craft(p), "token not yet valid", kNowTime, seconds{0});
}

TEST(JwtTest, RejectsWrongIssuerAudienceAndType) {
  JwtClaims c = accessClaims();
  c.iss = "someone-else";
  expectRejected(codec().sign(c), "wrong issuer");
  c = accessClaims();
  c.aud = "aureo-admin";
  expectRejected(codec().sign(c), "wrong audience");
  c = accessClaims();
  c.typ = "refresh";
  expectRejected(codec().sign(c), "wrong token type");
  // A valid access token is not a refresh token.
  expectRejected(codec().sign(accessClaims()), "wrong token type", kNowTime, seconds{5}, "refresh");

  json p = accessPayload();
  p.erase("iss");
  expectRejected(craft(p), "wrong issuer");
  p = accessPayload();
  p.erase("aud");
  expectRejected(craft(p), "wrong audience");
  p = accessPayload();
  p.erase("typ");
  expectRejected(craft(p), "wrong token type");
}

TEST(JwtTest, AcceptsAudienceArrayContainingOurs) {
  json p = accessPayload();
  p["aud"] = {"other", "aureo-api"};
  auto r = codec().verify(craft(p), "access", kNowTime);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->aud, "aureo-api");

  p["aud"] = {"other", "aureo-apix"};
  expectRejected(craft(p), "wrong audience");
  p["aud"] = json::array();
  expectRejected(craft(p), "invalid claim: aud");
  p["aud"] = {"aureo-api", 7};
  expectRejected(craft(p), "invalid claim: aud");
  p["aud"] = {{"aud", "aureo-api"}};
  expectRejected(craft(p), "invalid claim: aud");
}

TEST(JwtTest, RequiresExpAndSubject) {
  json p = accessPayload();
  p.erase("exp");
  expectRejected(craft(p), "missing exp");
  p = accessPayload();
  p.erase("sub");
  expectRejected(craft(p), "missing subject");
  p["sub"] = "";
  expectRejected(craft(p), "missing subject");
}

TEST(JwtTest, RejectsClaimsWithWrongJsonTypes) {
  const std::pair<const char*, json> cases[] = {
      {"exp", "1700000900"},
      {"exp", 1700000900.5},
      {"exp", true},
      {"exp", std::numeric_limits<uint64_t>::max()},
      {"nbf", "0"},
      {"iat", json::array()},
      {"sub", 42},
      {"iss", nullptr},
      {"typ", json::object()},
      {"jti", 1},
      {"role", false},
      {"fam", 3.5},
  };
  for (const auto& [name, value] : cases) {
    json p = accessPayload();
    p[name] = value;
    expectRejected(craft(p), std::string("invalid claim: ") + name);
  }
}

TEST(JwtTest, RejectsMalformedStructure) {
  const std::string token = codec().sign(accessClaims());
  expectRejected("", "malformed token");
  expectRejected("abc", "malformed token");
  expectRejected("..", "malformed token header");
  expectRejected(token + ".", "malformed token");
  expectRejected(token + ".xyz", "malformed token");
  expectRejected(token.substr(0, token.rfind('.')), "malformed token");

  // Header: padded base64, wrong alphabet, not JSON, JSON but not an object.
  const std::string header_b64 = token.substr(0, token.find('.'));
  expectRejected(withPart(token, 0, header_b64 + "="), "malformed token header");
  expectRejected(withPart(token, 0, "+" + header_b64.substr(1)), "malformed token header");
  expectRejected(withPart(token, 0, base64UrlEncode("{\"alg\":\"HS256\"")),
                 "malformed token header");
  expectRejected(withPart(token, 0, base64UrlEncode("[\"HS256\"]")), "malformed token header");
  expectRejected(withPart(token, 0, base64UrlEncode("\"HS256\"")), "malformed token header");
  expectRejected(withPart(token, 0, base64UrlEncode(kHs256Header + " x")),
                 "malformed token header");

  // Payload: validly signed but not a JSON object.
  expectRejected(craft(kHs256Header, "not json"), "malformed token payload");
  expectRejected(craft(kHs256Header, "[1,2,3]"), "malformed token payload");
  expectRejected(craft(kHs256Header, "\"user-42\""), "malformed token payload");
  expectRejected(craft(kHs256Header, accessPayload().dump() + "{}"), "malformed token payload");
  expectRejected(craft(kHs256Header, "{\"sub\":\"\xff\"}"), "malformed token payload");
}

TEST(JwtTest, BoundsTokenLengthAt8KiB) {
  // A validly signed token just under the bound verifies; one just over it
  // is refused before parsing.
  auto sized = [](size_t total) {
    json p = accessPayload();
    p["jti"] = "";
    const size_t base = craft(p).size();
    // Each 3 bytes of jti grow the base64url payload by 4 characters.
    p["jti"] = std::string((total - base) / 4 * 3, 'x');
    return craft(p);
  };
  const std::string under = sized(8 * 1024);
  ASSERT_LE(under.size(), 8u * 1024);
  ASSERT_GT(under.size(), 8u * 1024 - 8);
  expectAccepted(under);
  const std::string over = sized(8 * 1024 + 8);
  ASSERT_GT(over.size(), 8u * 1024);
  expectRejected(over, "token too large");
  expectRejected(std::string(1 << 20, 'a'), "token too large");
}

TEST(JwtTest, ConstructorRejectsWeakConfiguration) {
  EXPECT_THROW(JwtCodec(std::string(31, 's'), "iss", "aud"), std::invalid_argument);
  EXPECT_THROW(JwtCodec("", "iss", "aud"), std::invalid_argument);
  EXPECT_THROW(JwtCodec(std::string(32, 's'), "", "aud"), std::invalid_argument);
  EXPECT_THROW(JwtCodec(std::string(32, 's'), "iss", ""), std::invalid_argument);
  EXPECT_NO_THROW(JwtCodec(std::string(32, 's'), "iss", "aud"));
}

TEST(JwtTest, CopiedCodecVerifiesTheOriginalsTokens) {
  const JwtCodec original = codec();
  const JwtCodec copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
  auto r = copy.verify(original.sign(accessClaims()), "access", kNowTime);
  EXPECT_TRUE(r.ok());
}

}  // namespace
}  // namespace aureo::crypto
