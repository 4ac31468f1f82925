#include "control/loops.h"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <set>

#include "control/session_service.h"
#include "http/metrics.h"

namespace aureo::control {

namespace {

double clampPercent(double v) {
  return std::clamp(v, 0.0, 100.0);
}

}  // namespace

double loadScore(const store::VpnNode& node, double bytes_per_second,
                 double link_bytes_per_second) {
  if (node.status != "online") return 100.0;
  const double connections = node.max_connections > 0
                                 ? 100.0 * static_cast<double>(node.current_connections) /
                                       static_cast<double>(node.max_connections)
                                 : 100.0;
  const double throughput =
      link_bytes_per_second > 0 ? 100.0 * bytes_per_second / link_bytes_per_second : 0.0;
  return clampPercent(0.5 * clampPercent(connections) + 0.3 * clampPercent(node.cpu_usage) +
                      0.2 * clampPercent(throughput));
}

// The node gauges. Label values are node names, so series stay readable
// and few; a node that disappears has its series removed.
struct ControlLoops::Gauges {
  explicit Gauges(prometheus::Registry& registry)
      : active(prometheus::BuildGauge()
                   .Name("aureo_vpn_active_connections")
                   .Help("Open sessions (pending or connected) per node")
                   .Register(registry)),
        load(prometheus::BuildGauge()
                 .Name("aureo_vpn_node_load_score")
                 .Help("Node load score, 0-100")
                 .Register(registry)),
        cpu(prometheus::BuildGauge()
                .Name("aureo_vpn_node_cpu_usage")
                .Help("Node CPU utilisation in percent, from its last heartbeat")
                .Register(registry)),
        transferred(prometheus::BuildGauge()
                        .Name("aureo_vpn_data_transferred_bytes")
                        .Help("Bytes a node has sent or received, from its last heartbeat")
                        .Register(registry)) {}

  prometheus::Family<prometheus::Gauge>& active;
  prometheus::Family<prometheus::Gauge>& load;
  prometheus::Family<prometheus::Gauge>& cpu;
  prometheus::Family<prometheus::Gauge>& transferred;
  std::set<std::string> names;  // nodes with series now
};

ControlLoops::ControlLoops(store::Store& store, SessionService& sessions, const core::Clock& clock,
                           const core::Logger& log, http::Metrics* metrics, LoopOptions options)
    : store_(store), sessions_(sessions), clock_(clock), log_(log), options_(options) {
  if (metrics) gauges_ = std::make_unique<Gauges>(metrics->registry());
}

ControlLoops::~ControlLoops() {
  stop();
}

core::Status ControlLoops::healthCheck() {
  const auto now = clock_.now();
  const auto cutoff = now - options_.heartbeat_interval * options_.missed_heartbeats;
  AUREO_ASSIGN_OR_RETURN(auto went_offline, store_.nodes().markStaleOffline(cutoff, now));
  for (const auto& id : went_offline) {
    log_.warn("node missed its heartbeats; marked offline", {{"node_id", id}});
  }
  // Every offline node, not only those marked now: a leader that died
  // between marking a node and failing its sessions over leaves work behind.
  store::NodeFilter offline;
  offline.status = "offline";
  AUREO_ASSIGN_OR_RETURN(auto nodes, store_.nodes().list(offline));
  for (const auto& n : nodes) AUREO_RETURN_IF_ERROR(sessions_.failOverNode(n.id));
  return core::okStatus();
}

core::Status ControlLoops::balanceLoad() {
  AUREO_ASSIGN_OR_RETURN(auto nodes, store_.nodes().list({}));
  const auto now = clock_.steadyNow();
  for (const auto& n : nodes) {
    double rate = 0;
    {
      std::lock_guard lock(samples_mu_);
      const int64_t bytes = n.bytes_sent + n.bytes_received;
      auto it = samples_.find(n.id);
      if (it != samples_.end() && now > it->second.at && bytes >= it->second.bytes) {
        const double seconds = std::chrono::duration<double>(now - it->second.at).count();
        rate = static_cast<double>(bytes - it->second.bytes) / seconds;
      }
      samples_[n.id] = {bytes, now};
    }
    const double score = loadScore(n, rate, options_.node_link_bytes_per_second);
    if (score != n.load_score) AUREO_RETURN_IF_ERROR(store_.nodes().setLoadScore(n.id, score));
  }
  return core::okStatus();
}

core::Status ControlLoops::cleanup() {
  const auto now = clock_.now();
  AUREO_ASSIGN_OR_RETURN(auto purged,
                         store_.sessions().purgeClosedBefore(now - options_.session_retention));
  AUREO_ASSIGN_OR_RETURN(auto tokens, store_.refreshTokens().purgeExpired(now));
  AUREO_ASSIGN_OR_RETURN(auto orphans, store_.ipAllocations().listOrphans(options_.orphan_batch));
  for (const auto& a : orphans) {
    auto st = store_.ipAllocations().release(a.node_id, a.ip);
    if (!st.ok() && st.error().code != core::Code::kNotFound) return st;
  }
  AUREO_ASSIGN_OR_RETURN(auto idle, sessions_.expireIdle());
  if (purged + tokens + static_cast<int64_t>(orphans.size()) + idle > 0) {
    log_.info("cleanup", {{"sessions_purged", purged},
                          {"refresh_tokens_purged", tokens},
                          {"orphaned_ips_released", static_cast<int64_t>(orphans.size())},
                          {"idle_sessions_ended", idle}});
  }
  return core::okStatus();
}

core::Status ControlLoops::aggregateStats() {
  if (!gauges_) return core::okStatus();
  AUREO_ASSIGN_OR_RETURN(auto nodes, store_.nodes().list({}));
  std::set<std::string> seen;
  for (const auto& n : nodes) {
    seen.insert(n.name);
    gauges_->active.Add({{"node", n.name}}).Set(static_cast<double>(n.current_connections));
    gauges_->load.Add({{"node", n.name}}).Set(n.load_score);
    gauges_->cpu.Add({{"node", n.name}}).Set(n.cpu_usage);
    gauges_->transferred.Add({{"node", n.name}, {"direction", "sent"}})
        .Set(static_cast<double>(n.bytes_sent));
    gauges_->transferred.Add({{"node", n.name}, {"direction", "received"}})
        .Set(static_cast<double>(n.bytes_received));
  }
  for (const auto& gone : gauges_->names) {
    if (seen.count(gone)) continue;
    gauges_->active.Remove(&gauges_->active.Add({{"node", gone}}));
    gauges_->load.Remove(&gauges_->load.Add({{"node", gone}}));
    gauges_->cpu.Remove(&gauges_->cpu.Add({{"node", gone}}));
    for (const char* dir : {"sent", "received"}) {
      gauges_->transferred.Remove(&gauges_->transferred.Add({{"node", gone}, {"direction", dir}}));
    }
  }
  gauges_->names = std::move(seen);
  return core::okStatus();
}

void ControlLoops::start(Sleeper& sleeper, std::function<bool()> gate) {
  auto add = [&](const char* name, std::chrono::seconds period,
                 core::Status (ControlLoops::*pass)()) {
    tasks_.push_back(std::make_unique<PeriodicTask>(
        PeriodicOptions{name, period, 0.1, std::chrono::milliseconds(0), true},
        [this, gate, pass]() -> core::Status {
          if (gate && !gate()) return core::okStatus();
          return (this->*pass)();
        },
        sleeper, log_));
    tasks_.back()->start();
  };
  add("health-check", options_.health_interval, &ControlLoops::healthCheck);
  add("load-balancer", options_.load_interval, &ControlLoops::balanceLoad);
  add("cleanup", options_.cleanup_interval, &ControlLoops::cleanup);
  add("stats", options_.stats_interval, &ControlLoops::aggregateStats);
}

void ControlLoops::stop() {
  for (auto& t : tasks_) t->stop();
  tasks_.clear();
}

}  // namespace aureo::control
