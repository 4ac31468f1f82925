// aureo-control's own endpoints: GET /health, GET /metrics and
// GET /api/v1/control/status (whether this instance leads, and the lease).
#pragma once

namespace aureo::store {
class Store;
}
namespace aureo::http {
class Router;
class Metrics;
}  // namespace aureo::http
namespace aureo::core {
class Clock;
}

namespace aureo::control {

class LeaderElector;

// Everything passed must outlive the server using the routes.
void addStatusRoutes(http::Router& router, store::Store& store, const LeaderElector& leader,
                     http::Metrics& metrics, const core::Clock& clock);

}  // namespace aureo::control
