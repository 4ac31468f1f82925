#include "redis/layer.h"

#include "redis/rate_limiter.h"
#include "redis/shared_cache.h"

namespace aureo::redis {

core::Result<std::unique_ptr<Layer>> Layer::create(const LayerOptions& options,
                                                   const core::Logger& log,
                                                   prometheus::Registry* registry) {
  AUREO_ASSIGN_OR_RETURN(auto endpoint, parseUrl(options.url));
  if (options.timeout.count() < 1) {
    return core::invalidArgument("the redis timeout must be at least 1 ms");
  }
  ClientOptions co;
  co.endpoint = std::move(endpoint);
  co.connect_timeout = options.timeout;
  co.command_timeout = options.timeout;
  co.client_name = options.client_name;
  return std::unique_ptr<Layer>(new Layer(std::move(co), options.prefix, log, registry));
}

Layer::Layer(ClientOptions client_options, std::string prefix, const core::Logger& log,
             prometheus::Registry* registry)
    : log_(log),
      client_options_(std::move(client_options)),
      prefix_(std::move(prefix)),
      telemetry_(log, registry),
      client_(std::make_unique<Client>(client_options_, log, &telemetry_)),
      node_list_cache_(std::make_unique<SharedCache>(*client_, prefix_ + "node-list",
                                                     Use::kNodeListCache, telemetry_)) {}

Layer::~Layer() = default;

std::unique_ptr<http::RateLimiter> Layer::rateLimiter(const std::string& name,
                                                      double rate_per_second, double burst,
                                                      std::unique_ptr<http::RateLimiter> fallback) {
  return std::make_unique<SharedRateLimiter>(*client_, prefix_, name, rate_per_second, burst,
                                             std::move(fallback), telemetry_);
}

void Layer::publishPeerChange(const std::string& node_id) {
  auto reply = client_->command({"PUBLISH", prefix_ + "peer-changes", node_id});
  if (!reply.ok()) {
    telemetry_.fellBack(Use::kPubSub, reply.error());
    return;
  }
  telemetry_.shared(Use::kPubSub);
}

std::unique_ptr<Subscriber> Layer::subscribePeerChanges(Subscriber::MessageFn on_change,
                                                        Subscriber::SubscribedFn on_subscribed) {
  ClientOptions options = client_options_;
  if (!options.client_name.empty()) options.client_name += "-subscriber";
  auto s = std::make_unique<Subscriber>(std::move(options), prefix_ + "peer-changes",
                                        std::move(on_change), std::move(on_subscribed), log_,
                                        &telemetry_);
  s->start();
  return s;
}

}  // namespace aureo::redis
