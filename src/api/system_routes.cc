// /health (liveness), /health/ready (readiness: the database answers) and /metrics.
#include "api/internal/context.h"
#include "http/metrics.h"

namespace aureo::api {

void Gateway::Impl::addSystemRoutes(http::Router& r) {
  r.add("GET", "/health", [this](Request&) -> awaitable<Response> {
    const auto db = store.ping();
    co_return jsonResponse(200, Json{{"status", "ok"},
                                     {"checks", {{"database", db.ok() ? "ok" : "unavailable"}}},
                                     {"time", timeString(clock.now())}});
  });
  r.add("GET", "/health/ready", [this](Request&) -> awaitable<Response> {
    const auto db = store.ping();
    Json body{{"status", db.ok() ? "ready" : "not_ready"},
              {"checks", {{"database", db.ok() ? "ok" : "unavailable"}}}};
    if (!db.ok()) body["checks"]["database_error"] = db.error().message;
    co_return jsonResponse(db.ok() ? 200 : 503, body);
  });
  r.add("GET", "/metrics", [this](Request&) -> awaitable<Response> {
    co_return Response::text(200, metrics.serialize(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace aureo::api
