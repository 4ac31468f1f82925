// HS256 JSON Web Tokens over OpenSSL's HMAC (RFC 7519), deliberately narrow:
// the header must be exactly {"alg":"HS256","typ":"JWT"}-equivalent; "none"
// and every other algorithm are refused before any signature work.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"

namespace aureo::crypto {

struct JwtClaims {
  std::string sub;  // user id
  std::string iss;
  std::string aud;
  std::string typ;   // "access" | "refresh"
  std::string jti;   // unique id
  std::string role;  // "user" | "admin" (access tokens)
  std::string fam;   // refresh token family id (refresh tokens)
  int64_t iat = 0;
  int64_t nbf = 0;
  int64_t exp = 0;
};

// Immutable after construction, so one instance is safe from any thread.
class JwtCodec {
 public:
  static constexpr std::chrono::seconds kDefaultLeeway{5};

  // secret must be at least 32 bytes, issuer and audience non-empty. Anything
  // else is a configuration error: throws std::invalid_argument (startup only).
  JwtCodec(std::string secret, std::string issuer, std::string audience);
  JwtCodec(const JwtCodec&) = default;
  JwtCodec& operator=(const JwtCodec&) = default;
  JwtCodec(JwtCodec&&) = default;
  JwtCodec& operator=(JwtCodec&&) = default;
  ~JwtCodec();  // wipes the secret

  // Empty claims.iss / claims.aud take the codec's issuer / audience. iat and
  // nbf are written only when non-zero; jti, role and fam only when non-empty.
  [[nodiscard]] std::string sign(const JwtClaims& claims) const;

  // Checks structure, algorithm, signature (constant time), iss, aud, typ,
  // nbf and exp (with leeway). kUnauthenticated with a short reason otherwise.
  // Tokens over 8 KiB are refused before any parsing. exp and sub are
  // required; NumericDate claims must be JSON integers.
  [[nodiscard]] core::Result<JwtClaims> verify(std::string_view token,
                                               std::string_view expected_typ, core::SystemTime now,
                                               std::chrono::seconds leeway = kDefaultLeeway) const;

 private:
  std::string secret_;
  std::string issuer_;
  std::string audience_;
};

}  // namespace aureo::crypto
