// /api/v1/auth: register, login, refresh (rotating, with reuse detection), logout.
#include "api/internal/context.h"
#include "core/ids.h"
#include "crypto/encoding.h"
#include "http/rate_limit.h"

namespace aureo::api {
namespace {

Response tooMany(std::chrono::seconds retry_after) {
  auto r = Response::error(429, "rate_limited", "too many attempts; try again later");
  r.header("Retry-After", std::to_string(std::max<int64_t>(1, retry_after.count())));
  return r;
}

Response busy() {
  auto r = Response::error(503, "unavailable", "server busy; try again shortly");
  r.header("Retry-After", "1");
  return r;
}

}  // namespace

void Gateway::Impl::addAuthRoutes(http::Router& r) {
  r.add("POST", "/api/v1/auth/register",
        guard(Access::kPublic, [this](Request& req) -> awaitable<Response> {
          if (!config.allow_registration) {
            co_return Response::error(403, "permission_denied", "registration is closed");
          }
          if (auto d = limiters.auth_per_ip->take("reg:" + req.remote_ip); !d.allowed) {
            co_return tooMany(d.retry_after);
          }
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"email", "username", "password"}); !st.ok())
            co_return errorResponse(st.error());
          auto email = validEmail(*body, "email");
          if (!email.ok()) co_return errorResponse(email.error());
          auto username = validUsername(*body, "username", true);
          if (!username.ok()) co_return errorResponse(username.error());
          auto password = validPassword(*body, "password");
          if (!password.ok()) co_return errorResponse(password.error());

          if (store.users().getByEmail(*email).ok()) {
            co_return Response::error(409, "already_exists",
                                      "an account with this email already exists", "email");
          }
          auto hash = co_await hashOnPool(*password);
          if (!hash.ok()) {
            if (hash.error().code == core::Code::kResourceExhausted) co_return busy();
            co_return errorResponse(hash.error());
          }
          store::User user;
          user.id = core::newUuid();
          user.email = *email;
          user.username = *username;
          user.password_hash = *hash;
          user.created_at = user.updated_at = clock.now();
          if (auto st = store.users().create(user); !st.ok()) {
            if (st.error().code == core::Code::kAlreadyExists) {
              co_return Response::error(409, "already_exists", "email or username already taken");
            }
            co_return errorResponse(st.error());
          }
          auto tokens = makeTokens(user, {});
          if (auto st = store.refreshTokens().create(tokens.row); !st.ok())
            co_return errorResponse(st.error());
          log.info("user registered", {{"user_id", user.id}, {"ip", req.remote_ip}});
          Json out = tokenJson(tokens);
          out["user"] = userJson(user);
          co_return jsonResponse(201, out);
        }));

  r.add("POST", "/api/v1/auth/login",
        guard(Access::kPublic, [this](Request& req) -> awaitable<Response> {
          if (auto d = limiters.auth_per_ip->take("login:" + req.remote_ip); !d.allowed) {
            countLogin("rate_limited");
            co_return tooMany(d.retry_after);
          }
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"email", "password"}); !st.ok())
            co_return errorResponse(st.error());
          auto email = validEmail(*body, "email");
          if (!email.ok()) co_return errorResponse(email.error());
          auto password = requiredString(*body, "password", {1, 1024});
          if (!password.ok()) co_return errorResponse(password.error());
          if (auto d = limiters.login_per_account->take("login:" + *email); !d.allowed) {
            countLogin("rate_limited");
            co_return tooMany(d.retry_after);
          }

          auto user = store.users().getByEmail(*email);
          if (!user.ok() && user.error().code != core::Code::kNotFound)
            co_return errorResponse(user.error());
          // Unknown emails still pay for one verification so timing does not tell
          // which addresses have accounts.
          const std::string hash = user.ok() ? user->password_hash : dummy_hash;
          auto verified = co_await verifyOnPool(*password, hash);
          if (!verified.ok()) {
            countLogin("busy");
            co_return busy();
          }
          if (!user.ok() || !*verified) {
            countLogin("invalid_credentials");
            log.info("login failed", {{"ip", req.remote_ip}});
            co_return Response::error(401, "unauthenticated", "invalid email or password");
          }
          if (!user->is_active) {
            countLogin("disabled");
            co_return Response::error(403, "permission_denied", "account is disabled");
          }
          auto tokens = makeTokens(*user, {});
          if (auto st = store.refreshTokens().create(tokens.row); !st.ok())
            co_return errorResponse(st.error());
          countLogin("success");
          log.info("user login successful", {{"user_id", user->id}, {"ip", req.remote_ip}});
          Json out = tokenJson(tokens);
          out["user"] = userJson(*user);
          co_return jsonResponse(200, out);
        }));

  r.add("POST", "/api/v1/auth/refresh",
        guard(Access::kPublic, [this](Request& req) -> awaitable<Response> {
          if (auto d = limiters.auth_per_ip->take("refresh:" + req.remote_ip); !d.allowed) {
            co_return tooMany(d.retry_after);
          }
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"refresh_token"}); !st.ok())
            co_return errorResponse(st.error());
          auto token = requiredString(*body, "refresh_token", {1, 8192});
          if (!token.ok()) co_return errorResponse(token.error());
          auto claims = jwt.verify(*token, "refresh", clock.now());
          if (!claims.ok())
            co_return Response::error(401, "unauthenticated", claims.error().message);
          auto user = store.users().get(claims->sub);
          if (!user.ok()) {
            if (user.error().code == core::Code::kNotFound) {
              co_return Response::error(401, "unauthenticated", "account no longer exists");
            }
            co_return errorResponse(user.error());
          }
          if (!user->is_active)
            co_return Response::error(403, "permission_denied", "account is disabled");

          auto tokens = makeTokens(*user, claims->fam);
          auto outcome =
              store.refreshTokens().rotate(crypto::sha256Hex(*token), tokens.row, clock.now());
          if (!outcome.ok()) co_return errorResponse(outcome.error());
          switch (*outcome) {
            case store::RotateOutcome::kRotated: break;
            case store::RotateOutcome::kReused:
              log.warn("refresh token reuse detected; family revoked",
                       {{"user_id", user->id}, {"family", claims->fam}, {"ip", req.remote_ip}});
              audit(req, "auth.refresh_reuse", "user", user->id, Json{{"family", claims->fam}});
              co_return Response::error(
                  401, "unauthenticated",
                  "refresh token reuse detected; this login has been revoked");
            case store::RotateOutcome::kRevoked:
              co_return Response::error(401, "unauthenticated", "refresh token revoked");
            case store::RotateOutcome::kExpired:
              co_return Response::error(401, "unauthenticated", "refresh token expired");
            case store::RotateOutcome::kUnknown:
              co_return Response::error(401, "unauthenticated", "unknown refresh token");
          }
          co_return jsonResponse(200, tokenJson(tokens));
        }));

  r.add("POST", "/api/v1/auth/logout",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          auto body = parseObject(req.body, /*allow_empty=*/true);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"refresh_token", "all"}); !st.ok())
            co_return errorResponse(st.error());
          auto all = optionalBool(*body, "all");
          if (!all.ok()) co_return errorResponse(all.error());
          auto token = optionalString(*body, "refresh_token", {1, 8192});
          if (!token.ok()) co_return errorResponse(token.error());
          const auto now = clock.now();
          if (all->value_or(false)) {
            if (auto st = store.refreshTokens().revokeAllForUser(req.user_id, now); !st.ok()) {
              co_return errorResponse(st.error());
            }
          } else if (*token) {
            auto row = store.refreshTokens().getByHash(crypto::sha256Hex(**token));
            if (row.ok() && row->user_id == req.user_id) {
              if (auto st = store.refreshTokens().revokeFamily(row->family_id, now); !st.ok()) {
                co_return errorResponse(st.error());
              }
            } else if (!row.ok() && row.error().code != core::Code::kNotFound) {
              co_return errorResponse(row.error());
            }
          } else {
            co_return errorResponse(
                fieldError("refresh_token", "refresh_token or all=true is required"));
          }
          co_return Response::json(204, "");
        }));
}

}  // namespace aureo::api
