// /api/v1/nodes: node discovery for signed-in users.
#include <cctype>

#include "api/internal/context.h"
#include "core/ids.h"
#include "http/shared_cache.h"

namespace aureo::api {
namespace {

core::Result<store::NodeFilter> nodeFilterFrom(const Request& req) {
  store::NodeFilter f;
  auto take = [&](const char* name, std::string& out) -> core::Status {
    if (auto v = req.queryParam(name)) {
      if (v->size() > 100) return fieldError(name, std::string(name) + " is too long");
      out = *v;
    }
    return core::okStatus();
  };
  AUREO_RETURN_IF_ERROR(take("country", f.country));
  AUREO_RETURN_IF_ERROR(take("city", f.city));
  AUREO_RETURN_IF_ERROR(take("status", f.status));
  AUREO_RETURN_IF_ERROR(take("protocol", f.protocol));
  for (auto& c : f.country) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!f.status.empty() && f.status != "online" && f.status != "offline" &&
      f.status != "maintenance" && f.status != "draining") {
    return fieldError("status", "status must be one of online, offline, maintenance, draining");
  }
  if (!f.protocol.empty() && f.protocol != "wireguard" && f.protocol != "openvpn") {
    return fieldError("protocol", "protocol must be wireguard or openvpn");
  }
  return f;
}

}  // namespace

void Gateway::Impl::invalidateNodeList() {
  {
    std::lock_guard lock(node_list_cache.mu);
    node_list_cache.entries.clear();
  }
  // Best effort: if Redis is unavailable now its entries expire within the TTL.
  if (config.shared_node_list != nullptr) (void)config.shared_node_list->clear();
}

void Gateway::Impl::addNodeRoutes(http::Router& r) {
  r.add("GET", "/api/v1/nodes", guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          auto filter = nodeFilterFrom(req);
          if (!filter.ok()) co_return errorResponse(filter.error());
          const bool admin = req.role == "admin";
          // Each field is length-prefixed, so two different filters never share a key.
          std::string key;
          for (const std::string* f :
               {&filter->country, &filter->city, &filter->status, &filter->protocol}) {
            key += std::to_string(f->size());
            key += ':';
            key += *f;
          }
          key += admin ? "A" : "U";
          const auto now = clock.steadyNow();
          const bool cache = config.node_list_ttl.count() > 0;
          // The shared cache when there is one and it answers; else memory.
          bool shared = cache && config.shared_node_list != nullptr;
          if (shared) {
            auto hit = config.shared_node_list->get(key);
            if (hit.ok() && hit->has_value()) co_return Response::json(200, std::move(**hit));
            shared = hit.ok();
          }
          if (cache && !shared) {
            std::lock_guard lock(node_list_cache.mu);
            auto it = node_list_cache.entries.find(key);
            if (it != node_list_cache.entries.end() && it->second.first > now) {
              co_return Response::json(200, it->second.second);
            }
          }
          auto nodes = store.nodes().list(*filter);
          if (!nodes.ok()) co_return errorResponse(nodes.error());
          Json items = Json::array();
          for (const auto& n : *nodes) items.push_back(nodeJson(n, admin));
          auto body = std::make_shared<const std::string>(
              Json{{"nodes", items}, {"total", items.size()}}.dump(-1, ' ', false,
                                                                   Json::error_handler_t::replace));
          if (shared && config.shared_node_list->put(key, *body, config.node_list_ttl).ok()) {
            co_return Response::json(200, std::move(body));
          }
          if (cache) {
            std::lock_guard lock(node_list_cache.mu);
            // Bounded: distinct filters are few in practice; a flood of odd ones
            // only costs a clear.
            if (node_list_cache.entries.size() >= 1024) node_list_cache.entries.clear();
            node_list_cache.entries[key] = {now + config.node_list_ttl, body};
          }
          co_return Response::json(200, std::move(body));
        }));

  r.add("GET", "/api/v1/nodes/{id}",
        guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          const auto& id = req.params["id"];
          if (!core::isUuid(id)) co_return Response::error(404, "not_found", "node not found");
          auto node = store.nodes().get(id);
          if (!node.ok()) {
            if (node.error().code == core::Code::kNotFound)
              co_return Response::error(404, "not_found", "node not found");
            co_return errorResponse(node.error());
          }
          co_return jsonResponse(200, nodeJson(*node, req.role == "admin"));
        }));
}

}  // namespace aureo::api
