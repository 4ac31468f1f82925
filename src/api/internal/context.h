// Shared state and helpers of the gateway handlers. Private to src/api.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "api/gateway.h"
#include "api/json_body.h"
#include "control/session_service.h"
#include "core/result.h"
#include "crypto/jwt.h"
#include "crypto/jwt_cache.h"
#include "http/offload.h"
#include "http/server.h"
#include "store/store.h"

namespace aureo::api {

using boost::asio::awaitable;
using http::Request;
using http::Response;

enum class Access { kPublic, kUser, kAdmin };

struct Gateway::Impl {
  Impl(GatewayConfig c, store::Store& s, control::SessionService& ss, const core::Clock& cl,
       const core::Logger& l, http::Metrics& m, core::WorkerPool& p, RateLimiters r);

  GatewayConfig config;
  store::Store& store;
  control::SessionService& sessions;
  const core::Clock& clock;
  const core::Logger& log;
  http::Metrics& metrics;
  core::WorkerPool& hash_pool;
  core::WorkerPool* write_pool = nullptr;  // session writes; inline when null

  // Runs fn on write_pool (inline without one). A full queue is a 503.
  template <typename T>
  awaitable<core::Result<T>> onWritePool(std::function<core::Result<T>()> fn);
  RateLimiters limiters;
  crypto::JwtCodec jwt;
  // Access tokens already verified (declared after jwt, which it uses).
  crypto::CachingJwtVerifier access_tokens;
  prometheus::Family<prometheus::Counter>& login_attempts;
  // Verifying against this when the email is unknown keeps login timing flat.
  std::string dummy_hash;

  // Serialized GET /api/v1/nodes answers, by filter, for config.node_list_ttl.
  // Nodes change rarely and their load every 30 s, while every client polls the
  // list: this keeps that route off the database and the JSON encoder. Admin
  // node writes clear it; other gateways' writes show within the TTL.
  struct NodeListCache {
    std::mutex mu;
    std::unordered_map<std::string, std::pair<core::SteadyTime, std::shared_ptr<const std::string>>>
        entries;  // guarded by mu
  } node_list_cache;
  void invalidateNodeList();

  // Wraps a handler with rate limiting and, unless public, bearer-token
  // authentication (and for admin routes a role check against the database).
  http::Handler guard(Access access, http::Handler handler);

  void countLogin(const std::string& result);
  void audit(const Request& req, const std::string& action, const std::string& target_type,
             const std::string& target_id, const Json& details = Json::object());

  struct TokenPair {
    std::string access_token;
    std::string refresh_token;
    store::RefreshToken row;  // what to store: the refresh token's hash, never the token
  };
  // Signs an access token and a refresh token of the given family (a new
  // family when empty). The caller stores `row` (create, or rotate).
  TokenPair makeTokens(const store::User& user, std::string family_id) const;
  Json tokenJson(const TokenPair& tokens) const;

  // Runs Argon2id on the bounded pool.
  // Both must be awaited at once: they read their arguments before suspending.
  awaitable<core::Result<std::string>> hashOnPool(const std::string& password);
  awaitable<core::Result<bool>> verifyOnPool(const std::string& password, const std::string& hash);

  // Ends a user's open sessions (account disabled or deleted); logs failures.
  core::Status endUserSessions(const std::string& user_id, const std::string& reason);

  void addAuthRoutes(http::Router& r);
  void addUserRoutes(http::Router& r);
  void addNodeRoutes(http::Router& r);
  void addSessionRoutes(http::Router& r);
  void addAdminRoutes(http::Router& r);
  void addSystemRoutes(http::Router& r);
};

template <typename T>
awaitable<core::Result<T>> Gateway::Impl::onWritePool(std::function<core::Result<T>()> fn) {
  if (write_pool == nullptr) co_return fn();
  auto r = co_await http::runOn<core::Result<T>>(*write_pool, std::move(fn));
  if (!r.ok()) {
    if (r.error().code == core::Code::kResourceExhausted) {
      co_return core::unavailable("too many connects at once, try again");
    }
    co_return r.error();
  }
  co_return std::move(*r);
}

// JSON views of rows. Never include secrets (hashes, private keys).
Json userJson(const store::User& u);
Json nodeJson(const store::VpnNode& n, bool admin_view);
Json sessionJson(const store::Session& s);
Json auditJson(const store::AuditEntry& a);
std::string timeString(core::SystemTime t);

// Input rules shared by handlers.
core::Result<std::string> validEmail(const Json& body, const char* field);
core::Result<std::string> validUsername(const Json& body, const char* field, bool required);
core::Result<std::string> validPassword(const Json& body, const char* field);
bool isTier(const std::string& tier);

}  // namespace aureo::api
