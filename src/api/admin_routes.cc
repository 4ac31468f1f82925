// /api/v1/admin: users, nodes, statistics and the audit log. Every change is audited.
#include <cctype>

#include "api/internal/context.h"
#include "control/enrollment.h"
#include "core/ids.h"
#include "core/ip.h"

namespace aureo::api {
namespace {

Response notFound(const char* what) {
  return Response::error(404, "not_found", std::string(what) + " not found");
}

Response storeError(const core::Error& e, const char* what) {
  if (e.code == core::Code::kNotFound) return notFound(what);
  return errorResponse(e);
}

bool validNodeName(const std::string& s) {
  if (s.empty() || s.size() > 100) return false;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

// Applies the fields present in body to node; used by create and update.
core::Status applyNodeFields(const Json& body, store::VpnNode& node, bool creating) {
  AUREO_RETURN_IF_ERROR(
      onlyKeys(body, {"name", "hostname", "public_ip", "country", "city", "max_connections",
                      "protocols", "wg_port", "openvpn_port", "openvpn_transport",
                      "tunnel_ipv4_cidr", "tunnel_ipv6_cidr", "dns_servers", "status"}));
  AUREO_ASSIGN_OR_RETURN(auto name, optionalString(body, "name", {1, 100}));
  if (name) {
    if (!validNodeName(*name)) {
      return fieldError("name", "name may contain only letters, digits, '-', '_' and '.'");
    }
    node.name = *name;
  } else if (creating) {
    return fieldError("name", "name is required");
  }
  AUREO_ASSIGN_OR_RETURN(auto ip, optionalString(body, "public_ip", {1, 45}));
  if (ip) {
    if (!core::IpAddress::parse(*ip))
      return fieldError("public_ip", "public_ip must be an IPv4 or IPv6 address");
    node.public_ip = *ip;
  } else if (creating) {
    return fieldError("public_ip", "public_ip is required");
  }
  AUREO_ASSIGN_OR_RETURN(auto hostname, optionalString(body, "hostname", {0, 253}));
  if (hostname) node.hostname = *hostname;
  if (node.hostname.empty()) node.hostname = node.public_ip;
  AUREO_ASSIGN_OR_RETURN(auto country, optionalString(body, "country", {2, 2}));
  if (country) {
    std::string c = *country;
    for (auto& ch : c) {
      if (!std::isalpha(static_cast<unsigned char>(ch))) {
        return fieldError("country", "country must be an ISO 3166-1 alpha-2 code");
      }
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    node.country = c;
  } else if (creating) {
    return fieldError("country", "country is required");
  }
  AUREO_ASSIGN_OR_RETURN(auto city, optionalString(body, "city", {0, 100}));
  if (city) node.city = *city;
  AUREO_ASSIGN_OR_RETURN(auto max_conn, optionalInt(body, "max_connections", 1, 1'000'000));
  if (max_conn) node.max_connections = *max_conn;
  AUREO_ASSIGN_OR_RETURN(auto wg_port, optionalInt(body, "wg_port", 1, 65535));
  if (wg_port) node.wg_port = *wg_port;
  AUREO_ASSIGN_OR_RETURN(auto ovpn_port, optionalInt(body, "openvpn_port", 1, 65535));
  if (ovpn_port) node.openvpn_port = *ovpn_port;
  // The port is left as given: tcp usually runs on 443, but that is the admin's call.
  AUREO_ASSIGN_OR_RETURN(auto ovpn_transport, optionalString(body, "openvpn_transport", {0, 16}));
  if (ovpn_transport) {
    if (*ovpn_transport != "udp" && *ovpn_transport != "tcp") {
      return fieldError("openvpn_transport", "openvpn_transport must be udp or tcp");
    }
    node.openvpn_transport = *ovpn_transport;
  }
  if (auto it = body.find("protocols"); it != body.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || it->size() > 2) {
      return fieldError("protocols", "protocols must be a non-empty array of wireguard/openvpn");
    }
    std::vector<std::string> protos;
    for (const auto& p : *it) {
      if (!p.is_string() || (p != "wireguard" && p != "openvpn")) {
        return fieldError("protocols", "protocols may contain only wireguard and openvpn");
      }
      if (std::find(protos.begin(), protos.end(), p.get<std::string>()) == protos.end()) {
        protos.push_back(p.get<std::string>());
      }
    }
    node.protocols = protos;
  }
  AUREO_ASSIGN_OR_RETURN(auto v4, optionalString(body, "tunnel_ipv4_cidr", {1, 18}));
  if (v4) {
    auto c = core::Cidr::parse(*v4);
    if (!c || !c->address().isV4() || c->prefix() < 8 || c->prefix() > 29) {
      return fieldError("tunnel_ipv4_cidr",
                        "tunnel_ipv4_cidr must be an IPv4 prefix between /8 and /29");
    }
    node.tunnel_ipv4_cidr = c->toString();
  }
  AUREO_ASSIGN_OR_RETURN(auto v6, optionalString(body, "tunnel_ipv6_cidr", {0, 43}));
  if (v6) {
    if (v6->empty()) {
      node.tunnel_ipv6_cidr.clear();
    } else {
      auto c = core::Cidr::parse(*v6);
      if (!c || c->address().isV4() || c->prefix() < 48 || c->prefix() > 120) {
        return fieldError("tunnel_ipv6_cidr",
                          "tunnel_ipv6_cidr must be an IPv6 prefix between /48 and /120");
      }
      node.tunnel_ipv6_cidr = c->toString();
    }
  }
  AUREO_ASSIGN_OR_RETURN(auto dns, optionalString(body, "dns_servers", {0, 200}));
  if (dns) {
    std::string rest = *dns;
    size_t start = 0;
    while (start <= rest.size() && !rest.empty()) {
      const auto comma = rest.find(',', start);
      const auto item =
          rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!core::IpAddress::parse(item)) {
        return fieldError("dns_servers",
                          "dns_servers must be a comma-separated list of IP addresses");
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    node.dns_servers = *dns;
  }
  AUREO_ASSIGN_OR_RETURN(auto status, optionalString(body, "status", {1, 20}));
  if (status) {
    if (*status != "maintenance" && *status != "offline" && *status != "online" &&
        *status != "draining") {
      return fieldError("status", "status must be one of online, offline, maintenance, draining");
    }
    node.status = *status;
    node.drain_requested = *status == "draining";
  }
  return core::okStatus();
}

}  // namespace

void Gateway::Impl::addAdminRoutes(http::Router& r) {
  // ---- users ----
  r.add(
      "GET", "/api/v1/admin/users",
      guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
        auto limit = queryInt(req, "limit", 50, 1, 500);
        if (!limit.ok()) co_return errorResponse(limit.error());
        auto offset = queryInt(req, "offset", 0, 0, int64_t{1} << 40);
        if (!offset.ok()) co_return errorResponse(offset.error());
        store::UserFilter f;
        if (auto s = req.queryParam("search")) {
          if (s->size() > 254) co_return errorResponse(fieldError("search", "search is too long"));
          f.search = *s;
        }
        if (auto t = req.queryParam("tier")) {
          if (!isTier(*t)) co_return errorResponse(fieldError("tier", "unknown tier"));
          f.tier = *t;
        }
        if (auto a = req.queryParam("active")) {
          if (*a != "true" && *a != "false")
            co_return errorResponse(fieldError("active", "active must be true or false"));
          f.is_active = *a == "true";
        }
        auto page = store.users().list(f, {*limit, *offset});
        if (!page.ok()) co_return errorResponse(page.error());
        Json items = Json::array();
        for (const auto& u : page->items) items.push_back(userJson(u));
        co_return jsonResponse(
            200,
            Json{{"users", items}, {"total", page->total}, {"limit", *limit}, {"offset", *offset}});
      }));

  r.add("GET", "/api/v1/admin/users/{id}",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return notFound("user");
          auto user = store.users().get(id);
          if (!user.ok()) co_return storeError(user.error(), "user");
          auto active = store.sessions().countActiveForUser(id);
          Json out = userJson(*user);
          out["active_sessions"] = active.ok() ? *active : 0;
          co_return jsonResponse(200, out);
        }));

  auto setActive = [this](bool active) {
    return guard(Access::kAdmin, [this, active](Request& req) -> awaitable<Response> {
      const auto& id = req.params["id"];
      if (!core::isUuid(id)) co_return notFound("user");
      if (id == req.user_id && !active) {
        co_return Response::error(409, "failed_precondition",
                                  "admins cannot disable their own account");
      }
      auto user = store.users().get(id);
      if (!user.ok()) co_return storeError(user.error(), "user");
      user->is_active = active;
      user->updated_at = clock.now();
      if (auto st = store.users().update(*user); !st.ok()) co_return errorResponse(st.error());
      if (!active) {
        if (auto st = store.refreshTokens().revokeAllForUser(id, clock.now()); !st.ok()) {
          co_return errorResponse(st.error());
        }
        // A disabled account keeps no tunnel: its peers leave every node.
        if (auto st = endUserSessions(id, "account_disabled"); !st.ok()) {
          co_return errorResponse(st.error());
        }
      }
      audit(req, active ? "user.enable" : "user.disable", "user", id);
      co_return jsonResponse(200, userJson(*user));
    });
  };
  r.add("POST", "/api/v1/admin/users/{id}/disable", setActive(false));
  r.add("POST", "/api/v1/admin/users/{id}/enable", setActive(true));

  r.add("PUT", "/api/v1/admin/users/{id}/tier",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return notFound("user");
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"tier"}); !st.ok()) co_return errorResponse(st.error());
          auto tier = requiredString(*body, "tier", {1, 20});
          if (!tier.ok()) co_return errorResponse(tier.error());
          if (!isTier(*tier)) {
            co_return errorResponse(
                fieldError("tier", "tier must be one of free, basic, premium, enterprise"));
          }
          auto user = store.users().get(id);
          if (!user.ok()) co_return storeError(user.error(), "user");
          const std::string before = user->subscription_tier;
          user->subscription_tier = *tier;
          user->updated_at = clock.now();
          if (auto st = store.users().update(*user); !st.ok()) co_return errorResponse(st.error());
          audit(req, "user.set_tier", "user", id, Json{{"from", before}, {"to", *tier}});
          co_return jsonResponse(200, userJson(*user));
        }));

  r.add("PUT", "/api/v1/admin/users/{id}/role",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return notFound("user");
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          if (auto st = onlyKeys(*body, {"role"}); !st.ok()) co_return errorResponse(st.error());
          auto role = requiredString(*body, "role", {1, 20});
          if (!role.ok()) co_return errorResponse(role.error());
          if (*role != "user" && *role != "admin")
            co_return errorResponse(fieldError("role", "role must be user or admin"));
          if (id == req.user_id && *role != "admin") {
            co_return Response::error(409, "failed_precondition",
                                      "admins cannot remove their own admin role");
          }
          auto user = store.users().get(id);
          if (!user.ok()) co_return storeError(user.error(), "user");
          const std::string before = user->role;
          user->role = *role;
          user->updated_at = clock.now();
          if (auto st = store.users().update(*user); !st.ok()) co_return errorResponse(st.error());
          audit(req, "user.set_role", "user", id, Json{{"from", before}, {"to", *role}});
          co_return jsonResponse(200, userJson(*user));
        }));

  r.add("DELETE", "/api/v1/admin/users/{id}",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return notFound("user");
          if (id == req.user_id) {
            co_return Response::error(409, "failed_precondition",
                                      "admins cannot delete their own account here");
          }
          // End the sessions first, so the nodes drop the peers (erase then
          // removes the session rows themselves).
          if (auto st = endUserSessions(id, "account_deleted"); !st.ok()) {
            co_return errorResponse(st.error());
          }
          if (auto st = store.users().erase(id); !st.ok()) co_return storeError(st.error(), "user");
          audit(req, "user.delete", "user", id);
          co_return Response::json(204, "");
        }));

  // ---- nodes ----
  r.add("GET", "/api/v1/admin/nodes",
        guard(Access::kAdmin, [this](Request&) -> awaitable<Response> {
          auto nodes = store.nodes().list({});
          if (!nodes.ok()) co_return errorResponse(nodes.error());
          Json items = Json::array();
          for (const auto& n : *nodes) items.push_back(nodeJson(n, true));
          co_return jsonResponse(200, Json{{"nodes", items}, {"total", items.size()}});
        }));

  r.add("POST", "/api/v1/admin/nodes",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          store::VpnNode node;
          node.id = core::newUuid();
          node.status = "offline";  // until it enrolls and sends a heartbeat
          if (auto st = applyNodeFields(*body, node, true); !st.ok())
            co_return errorResponse(st.error());
          node.created_at = node.updated_at = clock.now();
          if (auto st = store.nodes().create(node); !st.ok()) {
            if (st.error().code == core::Code::kAlreadyExists) {
              co_return Response::error(409, "already_exists",
                                        "a node with this name already exists", "name");
            }
            co_return errorResponse(st.error());
          }
          auto token =
              control::issueEnrollmentToken(store, node.id, config.enrollment_ttl, clock.now());
          if (!token.ok()) co_return errorResponse(token.error());
          audit(req, "node.create", "node", node.id, Json{{"name", node.name}});
          invalidateNodeList();
          Json out = nodeJson(node, true);
          // Shown once: only its hash is stored.
          out["enrollment_token"] = token->token;
          out["enrollment_token_expires_at"] = timeString(token->expires_at);
          auto resp = jsonResponse(201, out);
          resp.header("Cache-Control", "no-store");
          co_return resp;
        }));

  r.add("PATCH", "/api/v1/admin/nodes/{id}",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return notFound("node");
          auto body = parseObject(req.body);
          if (!body.ok()) co_return errorResponse(body.error());
          auto node = store.nodes().get(id);
          if (!node.ok()) co_return storeError(node.error(), "node");
          if (auto st = applyNodeFields(*body, *node, false); !st.ok())
            co_return errorResponse(st.error());
          node->updated_at = clock.now();
          if (auto st = store.nodes().update(*node); !st.ok()) {
            if (st.error().code == core::Code::kAlreadyExists) {
              co_return Response::error(409, "already_exists",
                                        "a node with this name already exists", "name");
            }
            co_return storeError(st.error(), "node");
          }
          audit(req, "node.update", "node", id, *body);
          invalidateNodeList();
          co_return jsonResponse(200, nodeJson(*node, true));
        }));

  r.add("POST", "/api/v1/admin/nodes/{id}/enrollment-token",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return notFound("node");
          auto token = control::issueEnrollmentToken(store, id, config.enrollment_ttl, clock.now());
          if (!token.ok()) co_return storeError(token.error(), "node");
          audit(req, "node.enrollment_token", "node", id);
          auto resp = jsonResponse(201, Json{{"node_id", id},
                                             {"enrollment_token", token->token},
                                             {"expires_at", timeString(token->expires_at)}});
          resp.header("Cache-Control", "no-store");
          co_return resp;
        }));

  r.add("POST", "/api/v1/admin/nodes/{id}/drain",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return notFound("node");
          // Draining keeps the node's sessions but offers it to no new one;
          // its heartbeats cannot lift it. PATCH status=online ends it.
          if (auto st = store.nodes().setStatus(id, "draining", clock.now()); !st.ok()) {
            co_return storeError(st.error(), "node");
          }
          auto node = store.nodes().get(id);
          if (!node.ok()) co_return storeError(node.error(), "node");
          audit(req, "node.drain", "node", id);
          invalidateNodeList();
          co_return jsonResponse(200, nodeJson(*node, true));
        }));

  r.add("DELETE", "/api/v1/admin/nodes/{id}",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return notFound("node");
          if (auto st = store.nodes().erase(id); !st.ok()) co_return storeError(st.error(), "node");
          audit(req, "node.delete", "node", id);
          invalidateNodeList();
          co_return Response::json(204, "");
        }));

  // ---- stats and audit ----
  r.add(
      "GET", "/api/v1/admin/stats", guard(Access::kAdmin, [this](Request&) -> awaitable<Response> {
        auto s = store.stats().collect();
        if (!s.ok()) co_return errorResponse(s.error());
        auto groups = [](const std::vector<store::Stats::Group>& gs) {
          Json out = Json::array();
          for (const auto& g : gs) {
            out.push_back(Json{{"key", g.key},
                               {"name", g.name},
                               {"sessions_active", g.sessions_active},
                               {"bytes_sent", g.bytes_sent},
                               {"bytes_received", g.bytes_received}});
          }
          return out;
        };
        Json tiers = Json::object();
        for (const auto& [tier, n] : s->users_by_tier) tiers[tier] = n;
        co_return jsonResponse(
            200,
            Json{
                {"users",
                 {{"total", s->users_total}, {"active", s->users_active}, {"by_tier", tiers}}},
                {"nodes", {{"total", s->nodes_total}, {"online", s->nodes_online}}},
                {"sessions", {{"active", s->sessions_active}, {"total", s->sessions_total}}},
                {"traffic", {{"bytes_sent", s->bytes_sent}, {"bytes_received", s->bytes_received}}},
                {"per_node", groups(s->per_node)},
                {"per_country", groups(s->per_country)}});
      }));

  r.add("GET", "/api/v1/admin/audit",
        guard(Access::kAdmin, [this](Request& req) -> awaitable<Response> {
          auto limit = queryInt(req, "limit", 50, 1, 500);
          if (!limit.ok()) co_return errorResponse(limit.error());
          auto offset = queryInt(req, "offset", 0, 0, int64_t{1} << 40);
          if (!offset.ok()) co_return errorResponse(offset.error());
          store::AuditFilter f;
          for (auto [name, out] : {std::pair{"actor", &f.actor_id}, std::pair{"action", &f.action},
                                   std::pair{"target", &f.target_id}}) {
            if (auto v = req.queryParam(name)) {
              if (v->size() > 100)
                co_return errorResponse(fieldError(name, std::string(name) + " is too long"));
              *out = *v;
            }
          }
          auto page = store.audit().list(f, {*limit, *offset});
          if (!page.ok()) co_return errorResponse(page.error());
          Json items = Json::array();
          for (const auto& a : page->items) items.push_back(auditJson(a));
          co_return jsonResponse(200, Json{{"entries", items},
                                           {"total", page->total},
                                           {"limit", *limit},
                                           {"offset", *offset}});
        }));
}

}  // namespace aureo::api
