// A verifier that remembers tokens which verified.
//
// A client sends the same access token with every request for up to 15
// minutes; checking it again each time (base64, HMAC, two JSON parses) was
// the gateway's largest per-request cost. Only successful verifications are
// kept, keyed by the exact token text, and a hit still checks exp and nbf
// against the current time, so the answer is the one JwtCodec::verify would
// give. Bounded: a full shard first drops its expired entries, then is
// cleared. Safe from any thread.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/result.h"
#include "crypto/jwt.h"

namespace aureo::crypto {

class CachingJwtVerifier {
 public:
  // codec must outlive the verifier. capacity: tokens kept in all.
  explicit CachingJwtVerifier(const JwtCodec& codec, size_t capacity = 16384);

  [[nodiscard]] core::Result<std::shared_ptr<const JwtClaims>> verify(std::string_view token,
                                                                      std::string_view expected_typ,
                                                                      core::SystemTime now) const;

  // Entries held now (for tests).
  [[nodiscard]] size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<const JwtClaims>, Hash, std::equal_to<>>
        entries;  // guarded by mu
  };
  static constexpr size_t kShards = 16;

  const JwtCodec& codec_;
  size_t per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace aureo::crypto
