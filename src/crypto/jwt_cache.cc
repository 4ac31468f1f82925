#include "crypto/jwt_cache.h"

#include <algorithm>
#include <iterator>

namespace aureo::crypto {
namespace {

// The same window JwtCodec::verify applies by default.
bool timely(const JwtClaims& c, core::SystemTime now) {
  const int64_t now_s = core::unixSeconds(now);
  const int64_t lw = JwtCodec::kDefaultLeeway.count();
  return now_s < c.exp + lw && c.nbf <= now_s + lw;
}

}  // namespace

CachingJwtVerifier::CachingJwtVerifier(const JwtCodec& codec, size_t capacity)
    : codec_(codec), per_shard_(std::max<size_t>(1, capacity / kShards)) {}

core::Result<std::shared_ptr<const JwtClaims>> CachingJwtVerifier::verify(
    std::string_view token, std::string_view expected_typ, core::SystemTime now) const {
  Shard& shard = shards_[Hash{}(token) % kShards];
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(token);
    if (it != shard.entries.end() && it->second->typ == expected_typ) {
      if (timely(*it->second, now)) return it->second;
      shard.entries.erase(it);  // expired: let the codec give the reason
    }
  }
  auto claims = codec_.verify(token, expected_typ, now);
  if (!claims.ok()) return claims.error();
  auto shared = std::make_shared<const JwtClaims>(std::move(*claims));
  std::lock_guard lock(shard.mu);
  if (shard.entries.size() >= per_shard_) {
    std::erase_if(shard.entries, [&](const auto& e) { return !timely(*e.second, now); });
    if (shard.entries.size() >= per_shard_) shard.entries.clear();
  }
  shard.entries.insert_or_assign(std::string(token), shared);
  return shared;
}

size_t CachingJwtVerifier::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

}  // namespace aureo::crypto
