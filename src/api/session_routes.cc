// Sessions: POST /api/v1/sessions (connect), GET /api/v1/user/sessions,
// DELETE /api/v1/sessions/{id}, GET /api/v1/nodes/best and the admin views
// /api/v1/admin/sessions. The logic lives in control::SessionService.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "api/internal/context.h"
#include "core/ids.h"

namespace aureo::api {
namespace {

Response sessionError(const core::Error& e) {
  if (e.code == core::Code::kNotFound) {
    return Response::error(404, "not_found", e.message.empty() ? "not found" : e.message);
  }
  return errorResponse(e);
}

// "active" means pending or connected; otherwise one status.
core::Result<std::vector<std::string>> statusFilter(const Request& req) {
  auto v = req.queryParam("status");
  if (!v || v->empty()) return std::vector<std::string>{};
  if (*v == "active") return std::vector<std::string>{"pending", "connected"};
  if (*v == "pending" || *v == "connected" || *v == "disconnected" || *v == "failed") {
    return std::vector<std::string>{*v};
  }
  return fieldError("status", "status must be active, pending, connected, disconnected or failed");
}

// Waits until the node reports `version` of its peer set applied, polling
// the database (the node may talk to another process's control server), or
// until `timeout`. True when the peer is live.
awaitable<bool> waitForPeer(store::Store& store, const std::string& node_id, int64_t version,
                            std::chrono::milliseconds timeout) {
  if (version <= 0 || timeout.count() <= 0) co_return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  auto step = std::chrono::milliseconds(5);
  for (;;) {
    auto applied = store.nodes().appliedPeerVersion(node_id);
    if (applied.ok() && *applied >= version) co_return true;
    if (!applied.ok() || std::chrono::steady_clock::now() >= deadline) co_return false;
    timer.expires_after(step);
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    step = std::min(step * 2, std::chrono::milliseconds(40));
  }
}

// Takes the filter by reference: a by-value argument would be a temporary
// inside the caller's co_await expression, which GCC 12 mishandles.
awaitable<Response> listSessions(store::Store& store, const Request& req,
                                 const store::SessionFilter& base) {
  store::SessionFilter filter = base;
  auto limit = queryInt(req, "limit", 50, 1, 500);
  if (!limit.ok()) co_return errorResponse(limit.error());
  auto offset = queryInt(req, "offset", 0, 0, int64_t{1} << 40);
  if (!offset.ok()) co_return errorResponse(offset.error());
  auto statuses = statusFilter(req);
  if (!statuses.ok()) co_return errorResponse(statuses.error());
  filter.statuses = *statuses;
  auto page = store.sessions().list(filter, {*limit, *offset});
  if (!page.ok()) co_return errorResponse(page.error());
  Json items = Json::array();
  for (const auto& s : page->items) items.push_back(sessionJson(s));
  co_return jsonResponse(
      200,
      Json{{"sessions", items}, {"total", page->total}, {"limit", *limit}, {"offset", *offset}});
}

core::Result<std::string> countryCode(const Json& body) {
  AUREO_ASSIGN_OR_RETURN(auto country, optionalString(body, "country", {2, 2}));
  if (!country) return std::string();
  std::string c = *country;
  for (auto& ch : c) {
    if (!std::isalpha(static_cast<unsigned char>(ch))) {
      return fieldError("country", "country must be an ISO 3166-1 alpha-2 code");
    }
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return c;
}

}  // namespace

core::Status Gateway::Impl::endUserSessions(const std::string& user_id, const std::string& reason) {
  auto ended = sessions.disconnectAllForUser(user_id, reason);
  if (!ended.ok()) {
    log.error("could not end a user's sessions",
              {{"user_id", user_id}, {"error", ended.error().toString()}});
    return ended.error();
  }
  return core::okStatus();
}

void Gateway::Impl::addSessionRoutes(http::Router& r) {
  r.add(
      "GET", "/api/v1/nodes/best",
      guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
        control::NodeQuery q;
        for (auto [name, out] : {std::pair{"country", &q.country}, std::pair{"city", &q.city},
                                 std::pair{"protocol", &q.protocol}}) {
          if (auto v = req.queryParam(name)) {
            if (v->size() > 100)
              co_return errorResponse(fieldError(name, std::string(name) + " is too long"));
            *out = *v;
          }
        }
        if (auto v = req.queryParam("exclude"); v && !v->empty()) {
          // Comma-separated node ids, e.g. the node a client just lost.
          size_t start = 0;
          while (start <= v->size()) {
            size_t comma = v->find(',', start);
            if (comma == std::string::npos) comma = v->size();
            const std::string id = v->substr(start, comma - start);
            if (!core::isUuid(id) || q.exclude_ids.size() >= 16) {
              co_return errorResponse(
                  fieldError("exclude", "exclude must be up to 16 comma-separated node ids"));
            }
            q.exclude_ids.push_back(id);
            start = comma + 1;
          }
        }
        if (q.protocol.empty()) q.protocol = "wireguard";
        if (q.protocol != "wireguard" && q.protocol != "openvpn") {
          co_return errorResponse(fieldError("protocol", "protocol must be wireguard or openvpn"));
        }
        auto best = sessions.bestNode(q);
        if (!best.ok()) {
          if (best.error().code == core::Code::kNotFound) {
            co_return Response::error(404, "not_found",
                                      "no online node with free capacity matches the filters");
          }
          co_return errorResponse(best.error());
        }
        co_return jsonResponse(200, nodeJson(*best, req.role == "admin"));
      }));

  r.add("POST", "/api/v1/sessions",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st =
                  onlyKeys(*body, {"protocol", "node_id", "country", "city", "client_public_key"});
              !st.ok()) {
            co_return errorResponse(st.error());
          }
          control::CreateSessionRequest create;
          create.user_id = req.user_id;
          create.client_ip = req.remote_ip;
          auto protocol = optionalString(*body, "protocol", {1, 20});
          if (!protocol.ok()) co_return errorResponse(protocol.error());
          create.protocol = protocol->value_or("wireguard");
          auto node_id = optionalString(*body, "node_id", {1, 64});
          if (!node_id.ok()) co_return errorResponse(node_id.error());
          if (*node_id) {
            if (!core::isUuid(**node_id))
              co_return errorResponse(fieldError("node_id", "node_id must be a node id (UUID)"));
            create.node_id = **node_id;
          }
          auto country = countryCode(*body);
          if (!country.ok()) co_return errorResponse(country.error());
          create.country = *country;
          auto city = optionalString(*body, "city", {1, 100});
          if (!city.ok()) co_return errorResponse(city.error());
          create.city = city->value_or("");
          auto key = optionalString(*body, "client_public_key", {1, 64});
          if (!key.ok()) co_return errorResponse(key.error());
          create.client_public_key = key->value_or("");

          std::function<core::Result<control::CreatedSession>()> job = [this, &create] {
            return sessions.create(create);
          };
          auto created = co_await onWritePool(std::move(job));
          if (!created.ok()) {
            if (created.error().code == core::Code::kNotFound) {
              co_return Response::error(404, "not_found", "node not found", "node_id");
            }
            co_return errorResponse(created.error());
          }
          const bool ready = co_await waitForPeer(store, created->node.id, created->peer_version,
                                                  config.peer_ready_timeout);
          Json out{{"session", sessionJson(created->session)},
                   {"node", nodeJson(created->node, false)},
                   {"config", created->config},
                   {"peer_ready", ready}};
          if (created->session.protocol == "wireguard") out["dns"] = created->dns;
          // Generated here and shown once: it is not stored anywhere.
          if (!created->private_key.empty()) out["private_key"] = created->private_key;
          auto resp = jsonResponse(201, out);
          resp.header("Cache-Control", "no-store");
          co_return resp;
        }));

  r.add("GET", "/api/v1/user/sessions",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          store::SessionFilter filter;
          filter.user_id = req.user_id;
          co_return co_await listSessions(store, req, filter);
        }));

  r.add("DELETE", "/api/v1/sessions/{id}",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return Response::error(404, "not_found", "session not found");
          // The token's role claim alone does not make an admin (see guard()).
          bool admin = false;
          if (req.role == "admin") {
            auto me = store.users().get(req.user_id);
            admin = me.ok() && me->is_active && me->role == "admin";
          }
          std::function<core::Result<store::Session>()> job = [this, &id, &req, admin] {
            return sessions.disconnect(id, req.user_id, admin,
                                       admin ? "admin_request" : "user_request");
          };
          auto closed = co_await onWritePool(std::move(job));
          if (!closed.ok()) co_return sessionError(closed.error());
          if (admin && closed->user_id != req.user_id) {
            audit(req, "session.disconnect", "session", id, Json{{"user_id", closed->user_id}});
          }
          co_return Response::json(204, "");
        }));

  r.add("GET", "/api/v1/admin/sessions",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          store::SessionFilter filter;
          for (auto [name, out] :
               {std::pair{"user", &filter.user_id}, std::pair{"node", &filter.node_id}}) {
            if (auto v = req.queryParam(name)) {
              if (!v->empty() && !core::isUuid(*v))
                co_return errorResponse(fieldError(name, std::string(name) + " must be an id"));
              *out = *v;
            }
          }
          co_return co_await listSessions(store, req, filter);
        }));

  r.add("DELETE", "/api/v1/admin/sessions/{id}",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return Response::error(404, "not_found", "session not found");
          auto closed = sessions.disconnect(id, req.user_id, true, "admin_request");
          if (!closed.ok()) co_return sessionError(closed.error());
          audit(req, "session.disconnect", "session", id, Json{{"user_id", closed->user_id}});
          co_return Response::json(204, "");
        }));
}

}  // namespace aureo::api
