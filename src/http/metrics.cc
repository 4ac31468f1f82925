#include "http/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>

namespace aureo::http {
namespace {

std::string methodLabel(std::string_view method) {
  static constexpr std::array<std::string_view, 7> kKnown = {"GET",    "HEAD",    "POST", "PUT",
                                                             "DELETE", "OPTIONS", "PATCH"};
  for (auto known : kKnown) {
    if (known == method) return std::string(known);
  }
  return "OTHER";
}

// From 0.5 ms (a cached GET) to 10 s (an Argon2 login under load).
const prometheus::Histogram::BucketBoundaries& durationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

// From 50 us (a hot SQLite read) to 5 s (a lock wait at the busy timeout).
const prometheus::Histogram::BucketBoundaries& dbBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5};
  return kBuckets;
}

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("aureo_vpn_http_requests_total")
                   .Help("HTTP requests answered, by method, route pattern and status code.")
                   .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("aureo_vpn_http_request_duration_seconds")
                   .Help("Time from a complete request to the response being written, in seconds.")
                   .Register(*registry_);
  rejected_ = &prometheus::BuildCounter()
                   .Name("aureo_vpn_http_rejected_connections_total")
                   .Help("Connections turned away because the server was at its connection cap.")
                   .Register(*registry_)
                   .Add({});
  db_queries_ = &prometheus::BuildCounter()
                     .Name("aureo_vpn_database_queries_total")
                     .Help("Database operations, by operation and result (ok or error).")
                     .Register(*registry_);
  db_duration_ = &prometheus::BuildHistogram()
                      .Name("aureo_vpn_database_query_duration_seconds")
                      .Help("Time taken by database operations, in seconds.")
                      .Register(*registry_);
}

Metrics::~Metrics() = default;

std::string Metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void Metrics::recordRequest(std::string_view method, std::string_view route, int status,
                            double duration_seconds) {
  std::string m = methodLabel(method);
  std::string r(route.empty() ? std::string_view("unmatched") : route);
  requests_->Add({{"method", m}, {"route", r}, {"status", std::to_string(status)}}).Increment();
  duration_->Add({{"method", m}, {"route", r}}, durationBuckets()).Observe(duration_seconds);
}

std::function<void(std::string_view, double, bool)> Metrics::databaseObserver() {
  return [this](std::string_view operation, double seconds, bool ok) {
    const std::string op(operation);
    db_queries_->Add({{"operation", op}, {"result", ok ? "ok" : "error"}}).Increment();
    db_duration_->Add({{"operation", op}}, dbBuckets()).Observe(seconds);
  };
}

void Metrics::recordRejectedConnection() {
  rejected_->Increment();
}

}  // namespace aureo::http
