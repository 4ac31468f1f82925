#include "crypto/jwt.h"

#include <sodium.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <utility>

#include "crypto/encoding.h"

namespace aureo::crypto {
namespace {

using nlohmann::json;

constexpr size_t kMinSecretBytes = 32;
constexpr size_t kMaxTokenBytes = size_t{8} * 1024;
constexpr size_t kSignatureBytes = 32;  // HMAC-SHA256
constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";

core::Error reject(std::string reason) {
  return core::unauthenticated(std::move(reason));
}

int64_t saturatingAdd(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return r;
}

std::optional<json> parseObject(std::string_view b64) {
  const auto raw = base64UrlDecode(b64);
  if (!raw) return std::nullopt;
  json j = json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;  // also covers a parse error (discarded)
  return j;
}

// The header must say HS256 and nothing we would have to understand: "crit",
// key references (kid, jku, jwk, x5u, ...) and the like are refused outright.
core::Status checkHeader(const json& header) {
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || alg->get_ref<const std::string&>() != "HS256") {
    return reject("algorithm not allowed");
  }
  for (const auto& [key, value] : header.items()) {
    if (key == "alg") continue;
    if (key == "typ" && value.is_string() && value.get_ref<const std::string&>() == "JWT") continue;
    return reject("unsupported token header");
  }
  return core::okStatus();
}

// Reads an optional string claim; false if present with another JSON type.
bool readString(const json& payload, const char* name, std::string& out) {
  const auto it = payload.find(name);
  if (it == payload.end()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

// Reads an optional NumericDate claim as a whole number of seconds.
bool readTime(const json& payload, const char* name, std::optional<int64_t>& out) {
  const auto it = payload.find(name);
  if (it == payload.end()) return true;
  if (it->is_number_integer() && !it->is_number_unsigned()) {
    out = it->get<int64_t>();
    return true;
  }
  if (it->is_number_unsigned()) {
    const auto v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(v);
    return true;
  }
  return false;
}

// aud may be one string or an array of strings (RFC 7519 section 4.1.3).
std::optional<bool> audienceMatches(const json& aud, const std::string& expected) {
  if (aud.is_string()) return aud.get_ref<const std::string&>() == expected;
  if (!aud.is_array() || aud.empty()) return std::nullopt;
  bool found = false;
  for (const auto& a : aud) {
    if (!a.is_string()) return std::nullopt;
    if (a.get_ref<const std::string&>() == expected) found = true;
  }
  return found;
}

}  // namespace

JwtCodec::JwtCodec(std::string secret, std::string issuer, std::string audience)
    : secret_(std::move(secret)), issuer_(std::move(issuer)), audience_(std::move(audience)) {
  if (secret_.size() < kMinSecretBytes) {
    throw std::invalid_argument("JWT secret must be at least 32 bytes");
  }
  if (issuer_.empty() || audience_.empty()) {
    throw std::invalid_argument("JWT issuer and audience must not be empty");
  }
}

JwtCodec::~JwtCodec() {
  if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
}

std::string JwtCodec::sign(const JwtClaims& claims) const {
  json payload = json::object();
  payload["sub"] = claims.sub;
  payload["iss"] = claims.iss.empty() ? issuer_ : claims.iss;
  payload["aud"] = claims.aud.empty() ? audience_ : claims.aud;
  payload["typ"] = claims.typ;
  payload["exp"] = claims.exp;
  if (claims.iat != 0) payload["iat"] = claims.iat;
  if (claims.nbf != 0) payload["nbf"] = claims.nbf;
  if (!claims.jti.empty()) payload["jti"] = claims.jti;
  if (!claims.role.empty()) payload["role"] = claims.role;
  if (!claims.fam.empty()) payload["fam"] = claims.fam;

  std::string token = base64UrlEncode(kHeaderJson);
  token.push_back('.');
  token += base64UrlEncode(payload.dump());
  const std::string mac = hmacSha256(secret_, token);
  token.push_back('.');
  token += base64UrlEncode(mac);
  return token;
}

core::Result<JwtClaims> JwtCodec::verify(std::string_view token, std::string_view expected_typ,
                                         core::SystemTime now, std::chrono::seconds leeway) const {
  if (token.size() > kMaxTokenBytes) return reject("token too large");

  const size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return reject("malformed token");
  const size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return reject("malformed token");
  if (token.find('.', dot2 + 1) != std::string_view::npos) return reject("malformed token");
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);

  // Algorithm first: no signature work for "none" or anything else.
  const auto header = parseObject(header_b64);
  if (!header) return reject("malformed token header");
  AUREO_RETURN_IF_ERROR(checkHeader(*header));

  const auto signature = base64UrlDecode(signature_b64);
  if (!signature || signature->size() != kSignatureBytes) return reject("bad signature");
  const std::string expected = hmacSha256(secret_, token.substr(0, dot2));
  if (!constantTimeEqual(*signature, expected)) return reject("bad signature");

  // Authentic from here on; the rest guards against our own mistakes and
  // against tokens minted for another purpose with the same key.
  const auto payload = parseObject(payload_b64);
  if (!payload) return reject("malformed token payload");

  JwtClaims claims;
  std::optional<int64_t> iat;
  std::optional<int64_t> nbf;
  std::optional<int64_t> exp;
  const std::pair<const char*, std::string*> string_claims[] = {
      {"sub", &claims.sub}, {"iss", &claims.iss},   {"typ", &claims.typ},
      {"jti", &claims.jti}, {"role", &claims.role}, {"fam", &claims.fam}};
  for (const auto& [name, field] : string_claims) {
    if (!readString(*payload, name, *field)) return reject(std::string("invalid claim: ") + name);
  }
  if (!readTime(*payload, "iat", iat)) return reject("invalid claim: iat");
  if (!readTime(*payload, "nbf", nbf)) return reject("invalid claim: nbf");
  if (!readTime(*payload, "exp", exp)) return reject("invalid claim: exp");

  if (!payload->contains("iss") || claims.iss != issuer_) return reject("wrong issuer");
  const auto aud = payload->find("aud");
  if (aud == payload->end()) return reject("wrong audience");
  const auto aud_ok = audienceMatches(*aud, audience_);
  if (!aud_ok) return reject("invalid claim: aud");
  if (!*aud_ok) return reject("wrong audience");
  claims.aud = audience_;
  if (!payload->contains("typ") || claims.typ != expected_typ) return reject("wrong token type");

  const int64_t now_s = core::unixSeconds(now);
  const int64_t lw = leeway.count() > 0 ? static_cast<int64_t>(leeway.count()) : 0;
  if (!exp) return reject("missing exp");
  if (!(now_s < saturatingAdd(*exp, lw))) return reject("token expired");
  if (nbf && *nbf > saturatingAdd(now_s, lw)) return reject("token not yet valid");
  if (claims.sub.empty()) return reject("missing subject");

  claims.exp = *exp;
  claims.nbf = nbf.value_or(0);
  claims.iat = iat.value_or(0);
  return claims;
}

}  // namespace aureo::crypto
