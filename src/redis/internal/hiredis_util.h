// hiredis helpers shared by client.cc and subscriber.cc. Private to src/redis.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/result.h"
#include "redis/client.h"

namespace aureo::redis::internal {

struct ContextDeleter {
  void operator()(redisContext* c) const {
    if (c != nullptr) redisFree(c);
  }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval toTimeval(std::chrono::milliseconds ms);

// Connects, authenticates and selects the database. The context's reads
// and writes time out after `command_timeout` (zero: never).
core::Result<ContextPtr> connect(const ClientOptions& options,
                                 std::chrono::milliseconds command_timeout);

// Sends one command and reads its reply. kUnavailable on an I/O error (the
// context is then unusable), kFailedPrecondition on an error reply.
core::Result<Reply> run(redisContext* c, const std::vector<std::string>& args);

// Converts a non-error reply.
Reply convert(const redisReply& r);

}  // namespace aureo::redis::internal
