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
  std::string sub;   // user id
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

class JwtCodec {
 public:
  // secret must be at least 32 bytes.
  JwtCodec(std::string secret, std::string issuer, std::string audience);

  [[nodiscard]] std::string sign(const JwtClaims& claims) const;

  // Checks structure, algorithm, signature (constant time), iss, aud, typ,
  // nbf and exp (with leeway). kUnauthenticated with a short reason otherwise.
  [[nodiscard]] core::Result<JwtClaims> verify(std::string_view token, std::string_view expected_typ,
                                               core::SystemTime now,
                                               std::chrono::seconds leeway = std::chrono::seconds{5}) const;

 private:
  std::string secret_;
  std::string issuer_;
  std::string audience_;
};

}  // namespace aureo::crypto
