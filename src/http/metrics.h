// Prometheus metrics for a process: one registry that every module adds its
// families to, and the text exposition served on /metrics.
#pragma once

#include <functional>

#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Histogram;
}  // namespace prometheus

namespace aureo::http {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // For other modules to register their own families. Safe from any thread
  // (prometheus-cpp locks internally).
  prometheus::Registry& registry() { return *registry_; }

  // Text exposition format 0.0.4. Safe from any thread.
  [[nodiscard]] std::string serialize() const;

  // Called by the server once per answered request. `route` is the matched
  // pattern or "unmatched", never the raw path, so label cardinality stays
  // bounded; methods outside the standard set are counted as "OTHER".
  void recordRequest(std::string_view method, std::string_view route, int status,
                     double duration_seconds);
  // A connection answered 503 (or dropped) because the server was at its cap.
  void recordRejectedConnection();

  // An observer for the store (store::QueryObserver has this signature):
  // counts aureo_vpn_database_queries_total{operation,result} and observes
  // aureo_vpn_database_query_duration_seconds{operation}. Operation names are
  // a fixed set chosen by the store, so cardinality stays bounded. The
  // returned function references this object, which must outlive its use.
  std::function<void(std::string_view operation, double seconds, bool ok)> databaseObserver();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Counter* rejected_;
  prometheus::Family<prometheus::Counter>* db_queries_;
  prometheus::Family<prometheus::Histogram>* db_duration_;
};

}  // namespace aureo::http
