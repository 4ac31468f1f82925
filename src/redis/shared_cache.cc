#include "redis/shared_cache.h"

#include "redis/client.h"
#include "redis/telemetry.h"

namespace aureo::redis {
namespace {

// Entries are "<expiry ms>:<value>" in the hash KEYS[1], field ARGV[1].
const Script& getScript() {
  static const Script script(R"lua(
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local sep = string.find(v, ':', 1, true)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if not sep or now >= tonumber(string.sub(v, 1, sep - 1)) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return false
end
return string.sub(v, sep + 1)
)lua");
  return script;
}

// ARGV: field, value, ttl ms, max entries. The hash itself expires with
// its newest entry, so an idle cache leaves nothing behind.
const Script& putScript() {
  static const Script script(R"lua(
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then redis.call('DEL', KEYS[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + ttl) .. ':' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
)lua");
  return script;
}

}  // namespace

SharedCache::SharedCache(Client& client, std::string key, Use use, Telemetry& telemetry,
                         size_t max_entries)
    : client_(client),
      hash_(std::move(key)),
      use_(use),
      telemetry_(telemetry),
      max_entries_(max_entries) {}

core::Result<std::optional<std::string>> SharedCache::get(std::string_view key) {
  auto reply = client_.eval(getScript(), {hash_}, {std::string(key)});
  if (!reply.ok()) {
    telemetry_.fellBack(use_, reply.error());
    return std::move(reply).error();
  }
  telemetry_.shared(use_);
  if (reply->type != Reply::Type::kString) return std::optional<std::string>();
  return std::optional<std::string>(std::move(reply->str));
}

core::Status SharedCache::put(std::string_view key, std::string_view value,
                              std::chrono::milliseconds ttl) {
  auto reply = client_.eval(
      putScript(), {hash_},
      {std::string(key), std::string(value), std::to_string(std::max<int64_t>(1, ttl.count())),
       std::to_string(max_entries_)});
  if (!reply.ok()) {
    telemetry_.fellBack(use_, reply.error());
    return std::move(reply).error();
  }
  return core::okStatus();
}

core::Status SharedCache::clear() {
  auto reply = client_.command({"DEL", hash_});
  if (!reply.ok()) {
    telemetry_.fellBack(use_, reply.error());
    return std::move(reply).error();
  }
  return core::okStatus();
}

}  // namespace aureo::redis
