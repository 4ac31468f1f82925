#include "api/gateway.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <cctype>

#include "api/internal/context.h"
#include "core/ids.h"
#include "crypto/encoding.h"
#include "http/metrics.h"
#include "http/offload.h"
#include "http/rate_limit.h"

namespace aureo::api {
namespace {

Response rateLimited(const http::RateLimiter::Decision& d) {
  auto r = Response::error(429, "rate_limited", "too many requests; slow down");
  r.header("Retry-After", std::to_string(std::max<int64_t>(1, d.retry_after.count())));
  return r;
}

Response unauthorized(std::string_view message) {
  auto r = Response::error(401, "unauthenticated", message);
  r.header("WWW-Authenticate", "Bearer realm=\"aureo\", error=\"invalid_token\"");
  return r;
}

}  // namespace

std::string timeString(core::SystemTime t) {
  return core::formatRfc3339(t);
}

Gateway::Impl::Impl(GatewayConfig c, store::Store& s, control::SessionService& ss,
                    const core::Clock& cl, const core::Logger& l, http::Metrics& m,
                    core::WorkerPool& p, RateLimiters r)
    : config(std::move(c)),
      store(s),
      sessions(ss),
      clock(cl),
      log(l),
      metrics(m),
      hash_pool(p),
      limiters(r),
      jwt(config.jwt_secret, config.issuer, config.audience),
      access_tokens(jwt),
      login_attempts(prometheus::BuildCounter()
                         .Name("aureo_vpn_login_attempts_total")
                         .Help("Login attempts by result")
                         .Register(m.registry())) {
  // Pre-create the label values so the series exist from the start.
  for (const char* result :
       {"success", "invalid_credentials", "disabled", "rate_limited", "busy"}) {
    login_attempts.Add({{"result", result}});
  }
  auto h = crypto::hashPassword(crypto::randomToken(16), config.argon2);
  dummy_hash = h.ok() ? *h : std::string();
}

void Gateway::Impl::countLogin(const std::string& result) {
  login_attempts.Add({{"result", result}}).Increment();
}

http::Handler Gateway::Impl::guard(Access access, http::Handler handler) {
  return [this, access, handler = std::move(handler)](Request& req) -> awaitable<Response> {
    if (auto d = limiters.per_ip->take("ip:" + req.remote_ip); !d.allowed) {
      co_return rateLimited(d);
    }
    if (access == Access::kPublic) co_return co_await handler(req);

    const std::string_view auth = req.header("authorization");
    if (auth.size() < 8 || !(auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
      co_return unauthorized("missing bearer token");
    }
    auto claims = access_tokens.verify(auth.substr(7), "access", clock.now());
    if (!claims.ok()) co_return unauthorized(claims.error().message);
    const crypto::JwtClaims& c = **claims;
    if (auto d = limiters.per_account->take("acct:" + c.sub); !d.allowed) {
      co_return rateLimited(d);
    }
    req.user_id = c.sub;
    req.role = c.role;
    if (access == Access::kAdmin) {
      // The token's role claim is not enough for admin routes: a demoted or
      // disabled admin loses access at once, not when the token expires.
      auto user = store.users().get(req.user_id);
      if (!user.ok() && user.error().code != core::Code::kNotFound) {
        co_return errorResponse(user.error());
      }
      if (!user.ok() || !user->is_active || user->role != "admin") {
        co_return Response::error(403, "permission_denied", "admin role required");
      }
    }
    co_return co_await handler(req);
  };
}

void Gateway::Impl::audit(const Request& req, const std::string& action,
                          const std::string& target_type, const std::string& target_id,
                          const Json& details) {
  store::AuditEntry e;
  e.actor_id = req.user_id.empty() ? "anonymous" : req.user_id;
  e.action = action;
  e.target_type = target_type;
  e.target_id = target_id;
  e.details = details.dump(-1, ' ', false, Json::error_handler_t::replace);
  e.ip = req.remote_ip;
  e.created_at = clock.now();
  if (auto st = store.audit().append(e); !st.ok()) {
    log.error("audit append failed", {{"action", action}, {"error", st.error().toString()}});
  }
}

Gateway::Impl::TokenPair Gateway::Impl::makeTokens(const store::User& user,
                                                   std::string family_id) const {
  const auto now = clock.now();
  const int64_t iat = core::unixSeconds(now);
  crypto::JwtClaims access;
  access.sub = user.id;
  access.iss = config.issuer;
  access.aud = config.audience;
  access.typ = "access";
  access.jti = core::newUuid();
  access.role = user.role;
  access.iat = iat;
  access.nbf = iat;
  access.exp = iat + config.access_ttl.count();

  crypto::JwtClaims refresh = access;
  refresh.typ = "refresh";
  refresh.jti = core::newUuid();
  refresh.role.clear();
  refresh.fam = family_id.empty() ? core::newUuid() : std::move(family_id);
  refresh.exp = iat + config.refresh_ttl.count();

  TokenPair pair;
  pair.access_token = jwt.sign(access);
  pair.refresh_token = jwt.sign(refresh);
  pair.row.id = refresh.jti;
  pair.row.user_id = user.id;
  pair.row.family_id = refresh.fam;
  pair.row.token_hash = crypto::sha256Hex(pair.refresh_token);
  pair.row.created_at = now;
  pair.row.expires_at = core::fromUnixSeconds(refresh.exp);
  return pair;
}

Json Gateway::Impl::tokenJson(const TokenPair& tokens) const {
  return Json{{"access_token", tokens.access_token},
              {"refresh_token", tokens.refresh_token},
              {"token_type", "Bearer"},
              {"expires_in", config.access_ttl.count()},
              {"refresh_expires_in", config.refresh_ttl.count()}};
}

// GCC 12 destroys a capturing lambda twice when it is a temporary inside a
// co_await expression, so each job is a named std::function first.
awaitable<core::Result<std::string>> Gateway::Impl::hashOnPool(const std::string& password) {
  std::function<core::Result<std::string>()> job = [pw = password, params = config.argon2] {
    return crypto::hashPassword(pw, params);
  };
  auto r = co_await http::runOn<core::Result<std::string>>(hash_pool, std::move(job));
  if (!r.ok()) co_return std::move(r).error();
  co_return std::move(r).value();
}

awaitable<core::Result<bool>> Gateway::Impl::verifyOnPool(const std::string& password,
                                                          const std::string& hash) {
  std::function<bool()> job = [pw = password, h = hash] { return crypto::verifyPassword(pw, h); };
  co_return co_await http::runOn<bool>(hash_pool, std::move(job));
}

Gateway::Gateway(GatewayConfig config, store::Store& store, control::SessionService& sessions,
                 const core::Clock& clock, const core::Logger& log, http::Metrics& metrics,
                 core::WorkerPool& hash_pool, RateLimiters limiters, core::WorkerPool* write_pool)
    : impl_(std::make_unique<Impl>(std::move(config), store, sessions, clock, log, metrics,
                                   hash_pool, limiters)) {
  impl_->write_pool = write_pool;
}

Gateway::~Gateway() = default;

void Gateway::addRoutes(http::Router& router) {
  impl_->addAuthRoutes(router);
  impl_->addUserRoutes(router);
  impl_->addNodeRoutes(router);
  impl_->addSessionRoutes(router);
  impl_->addAdminRoutes(router);
  impl_->addSystemRoutes(router);
}

}  // namespace aureo::api
