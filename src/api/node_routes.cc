// /api/v1/nodes: node discovery for signed-in users.
#include <cctype>

#include "api/internal/context.h"
#include "core/ids.h"

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

void Gateway::Impl::addNodeRoutes(http::Router& r) {
  r.add("GET", "/api/v1/nodes", guard(Access::kUser, [this](Request& req) -> awaitable<Response> {
          auto filter = nodeFilterFrom(req);
          if (!filter.ok()) co_return errorResponse(filter.error());
          auto nodes = store.nodes().list(*filter);
          if (!nodes.ok()) co_return errorResponse(nodes.error());
          Json items = Json::array();
          const bool admin = req.role == "admin";
          for (const auto& n : *nodes) items.push_back(nodeJson(n, admin));
          co_return jsonResponse(200, Json{{"nodes", items}, {"total", items.size()}});
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
