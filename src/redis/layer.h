// The optional Redis layer of one process, built from `redis.*` settings:
// one command connection pool, the shared rate limiters and node-list cache
// of the gateways, and the peer-change channel that wakes node long-polls
// on every control instance. Processes run without it when redis.url is
// empty; everything then stays local, as on a single host.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/log.h"
#include "core/result.h"
#include "http/rate_limit.h"
#include "http/shared_cache.h"
#include "redis/client.h"
#include "redis/subscriber.h"
#include "redis/telemetry.h"

namespace prometheus {
class Registry;
}

namespace aureo::redis {

struct LayerOptions {
  std::string url;  // redis://[[user]:password@]host[:port][/db]
  // Prepended to every key and channel, so deployments (or tests) can share
  // one Redis without seeing each other.
  std::string prefix = "aureo:";
  std::chrono::milliseconds timeout{200};  // connect and per command
  std::string client_name;                 // CLIENT SETNAME, e.g. "aureo-gateway"
};

class Layer {
 public:
  // kInvalidArgument for a bad URL. Redis being down is no error. `log`
  // and `registry` (may be null) must outlive the layer.
  static core::Result<std::unique_ptr<Layer>> create(const LayerOptions& options,
                                                     const core::Logger& log,
                                                     prometheus::Registry* registry);
  ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  Client& client() { return *client_; }
  Telemetry& telemetry() { return telemetry_; }

  // A limiter whose buckets `name` are shared through Redis; `fallback`
  // (same rate and burst) decides while Redis is down.
  std::unique_ptr<http::RateLimiter> rateLimiter(const std::string& name, double rate_per_second,
                                                 double burst,
                                                 std::unique_ptr<http::RateLimiter> fallback);
  // The gateways' shared GET /api/v1/nodes cache.
  http::SharedCache& nodeListCache() { return *node_list_cache_; }

  // Tells every control instance that a node's peer set changed. Blocks for
  // at most the command timeout; a failure is counted and otherwise
  // ignored (the version poll catches up). Safe from any thread.
  void publishPeerChange(const std::string& node_id);
  // Calls on_change with each node id published by any process, from a
  // thread of the returned subscriber (started here), and on_subscribed
  // after every (re)subscription.
  std::unique_ptr<Subscriber> subscribePeerChanges(Subscriber::MessageFn on_change,
                                                   Subscriber::SubscribedFn on_subscribed);

 private:
  Layer(ClientOptions client_options, std::string prefix, const core::Logger& log,
        prometheus::Registry* registry);

  const core::Logger& log_;
  ClientOptions client_options_;
  std::string prefix_;
  Telemetry telemetry_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<http::SharedCache> node_list_cache_;
};

}  // namespace aureo::redis
