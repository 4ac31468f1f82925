#include "control/status_routes.h"

#include <nlohmann/json.hpp>

#include "control/leader.h"
#include "http/metrics.h"
#include "http/server.h"
#include "store/store.h"

namespace aureo::control {

using boost::asio::awaitable;
using http::Request;
using http::Response;
using Json = nlohmann::json;

void addStatusRoutes(http::Router& router, store::Store& store, const LeaderElector& leader,
                     http::Metrics& metrics, const core::Clock& clock) {
  router.add("GET", "/health", [&store, &leader](Request&) -> awaitable<Response> {
    const bool db = store.ping().ok();
    Json body{{"status", db ? "ok" : "degraded"},
              {"leader", leader.isLeader()},
              {"checks", {{"database", db ? "ok" : "unavailable"}}}};
    co_return Response::json(200, body.dump());
  });
  router.add("GET", "/api/v1/control/status",
             [&store, &leader, &clock](Request&) -> awaitable<Response> {
               Json body{{"leader", leader.isLeader()},
                         {"instance_id", leader.holderId()},
                         {"fencing_token", leader.fencingToken()},
                         {"lease_period_ms", leader.leasePeriod().count()},
                         {"time", core::formatRfc3339(clock.now())}};
               auto lease = store.leases().get(leader.leaseName());
               if (lease.ok()) {
                 body["lease"] = Json{{"holder", lease->holder},
                                      {"fencing_token", lease->fencing_token},
                                      {"expires_at", core::formatRfc3339(lease->expires_at)}};
               } else {
                 body["lease"] = nullptr;
               }
               co_return Response::json(200, body.dump());
             });
  router.add("GET", "/metrics", [&metrics](Request&) -> awaitable<Response> {
    co_return Response::text(200, metrics.serialize(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace aureo::control
