// /api/v1/user: the caller's own account, password change, GDPR export and erasure.
#include "api/internal/context.h"

namespace aureo::api {

void Gateway::Impl::addUserRoutes(http::Router& r) {
  r.add("GET", "/api/v1/user/me", guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          auto user = store.users().get(req.user_id);
          if (!user.ok()) co_return errorResponse(user.error());
          co_return jsonResponse(200, userJson(*user));
        }));

  r.add("PATCH", "/api/v1/user/me",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"email", "username"}); !st.ok())
            co_return errorResponse(st.error());
          auto user = store.users().get(req.user_id);
          if (!user.ok()) co_return errorResponse(user.error());
          Json changed = Json::object();
          if (body->contains("email")) {
            auto email = validEmail(*body, "email");
            if (!email.ok()) co_return errorResponse(email.error());
            user->email = *email;
            changed["email"] = true;
          }
          auto username = validUsername(*body, "username", false);
          if (!username.ok()) co_return errorResponse(username.error());
          if (!username->empty()) {
            user->username = *username;
            changed["username"] = true;
          }
          user->updated_at = clock.now();
          if (auto st = store.users().update(*user); !st.ok()) {
            if (st.error().code == core::Code::kAlreadyExists) {
              co_return Response::error(409, "already_exists", "email or username already taken");
            }
            co_return errorResponse(st.error());
          }
          co_return jsonResponse(200, userJson(*user));
        }));

  r.add("DELETE", "/api/v1/user/me",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          // Erasure is irreversible, so it asks for the password again.
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"password"}); !st.ok())
            co_return errorResponse(st.error());
          auto password = requiredString(*body, "password", {1, 1024});
          if (!password.ok()) co_return errorResponse(password.error());
          auto user = store.users().get(req.user_id);
          if (!user.ok()) co_return errorResponse(user.error());
          auto ok = co_await verifyOnPool(*password, user->password_hash);
          if (!ok.ok())
            co_return Response::error(503, "unavailable", "server busy; try again shortly");
          if (!*ok) co_return Response::error(401, "unauthenticated", "password is incorrect");
          if (auto st = endUserSessions(user->id, "account_deleted"); !st.ok()) {
            co_return errorResponse(st.error());
          }
          if (auto st = store.users().erase(user->id); !st.ok())
            co_return errorResponse(st.error());
          audit(req, "user.erase_self", "user", user->id);
          log.info("user erased their account", {{"user_id", user->id}});
          co_return Response::json(204, "");
        }));

  r.add("POST", "/api/v1/user/password",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"current_password", "new_password"}); !st.ok()) {
            co_return errorResponse(st.error());
          }
          auto current = requiredString(*body, "current_password", {1, 1024});
          if (!current.ok()) co_return errorResponse(current.error());
          auto next = validPassword(*body, "new_password");
          if (!next.ok()) co_return errorResponse(next.error());
          auto user = store.users().get(req.user_id);
          if (!user.ok()) co_return errorResponse(user.error());
          auto ok = co_await verifyOnPool(*current, user->password_hash);
          if (!ok.ok())
            co_return Response::error(503, "unavailable", "server busy; try again shortly");
          if (!*ok)
            co_return Response::error(401, "unauthenticated", "current password is incorrect",
                                      "current_password");
          auto hash = co_await hashOnPool(*next);
          if (!hash.ok())
            co_return Response::error(503, "unavailable", "server busy; try again shortly");
          user->password_hash = *hash;
          user->updated_at = clock.now();
          if (auto st = store.users().update(*user); !st.ok()) co_return errorResponse(st.error());
          // Every other login ends: a changed password must lock out whoever had the old one.
          if (auto st = store.refreshTokens().revokeAllForUser(user->id, clock.now()); !st.ok()) {
            co_return errorResponse(st.error());
          }
          auto tokens = makeTokens(*user, {});
          if (auto st = store.refreshTokens().create(tokens.row); !st.ok())
            co_return errorResponse(st.error());
          co_return jsonResponse(200, tokenJson(tokens));
        }));

  r.add("GET", "/api/v1/user/export",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          auto user = store.users().get(req.user_id);
          if (!user.ok()) co_return errorResponse(user.error());
          Json session_list = Json::array();
          store::SessionFilter filter;
          filter.user_id = user->id;
          for (int64_t offset = 0;; offset += 500) {
            auto page = store.sessions().list(filter, {500, offset});
            if (!page.ok()) co_return errorResponse(page.error());
            for (const auto& s : page->items) session_list.push_back(sessionJson(s));
            if (page->items.size() < 500) break;
          }
          Json activity = Json::array();
          store::AuditFilter af;
          af.target_id = user->id;
          auto audit_page = store.audit().list(af, {1000, 0});
          if (!audit_page.ok()) co_return errorResponse(audit_page.error());
          for (const auto& a : audit_page->items) activity.push_back(auditJson(a));
          Json out{{"exported_at", timeString(clock.now())},
                   {"user", userJson(*user)},
                   {"sessions", session_list},
                   {"account_activity", activity}};
          auto resp = jsonResponse(200, out);
          resp.header("Content-Disposition", "attachment; filename=\"aureo-export.json\"");
          co_return resp;
        }));
}

}  // namespace aureo::api
