#include "control/notifier.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "http/metrics.h"

namespace aureo::control {

namespace asio = boost::asio;

struct PeerNotifier::Waiter {
  explicit Waiter(const asio::any_io_executor& ex, int64_t seen) : timer(ex), seen_version(seen) {}
  asio::steady_timer timer;  // touched only on its executor
  const int64_t seen_version;
};

PeerNotifier::PeerNotifier(http::Metrics* metrics) {
  if (metrics == nullptr) return;
  waiting_ = &prometheus::BuildGauge()
                  .Name("aureo_vpn_node_long_polls_waiting")
                  .Help("Node desired-state long-polls parked on this instance")
                  .Register(metrics->registry())
                  .Add({});
}

PeerNotifier::~PeerNotifier() = default;

void PeerNotifier::wake(const std::shared_ptr<Waiter>& waiter) {
  // The timer belongs to the waiter's strand; cancel it there.
  asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

void PeerNotifier::notify(const std::string& node_id) {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    auto [first, last] = waiters_.equal_range(node_id);
    for (auto it = first; it != last; ++it) woken.push_back(it->second);
  }
  for (const auto& w : woken) wake(w);
}

void PeerNotifier::observe(const std::vector<std::pair<std::string, int64_t>>& versions) {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    for (const auto& [node_id, version] : versions) {
      auto [first, last] = waiters_.equal_range(node_id);
      for (auto it = first; it != last; ++it) {
        if (it->second->seen_version != version) woken.push_back(it->second);
      }
    }
  }
  for (const auto& w : woken) wake(w);
}

void PeerNotifier::shutdown() {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    for (const auto& [node_id, w] : waiters_) woken.push_back(w);
  }
  for (const auto& w : woken) wake(w);
}

bool PeerNotifier::hasWaiters() const {
  std::lock_guard lock(mu_);
  return !waiters_.empty();
}

bool PeerNotifier::isShutDown() const {
  std::lock_guard lock(mu_);
  return shut_down_;
}

asio::awaitable<void> PeerNotifier::wait(const std::string& node_id, int64_t seen_version,
                                         std::chrono::steady_clock::time_point deadline) {
  auto executor = co_await asio::this_coro::executor;
  auto waiter = std::make_shared<Waiter>(executor, seen_version);
  waiter->timer.expires_at(deadline);
  std::multimap<std::string, std::shared_ptr<Waiter>>::iterator entry;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) co_return;
    entry = waiters_.emplace(node_id, waiter);
    if (waiting_) waiting_->Increment();
  }
  // Cancelled by wake(), expired at the deadline, or aborted when the
  // server cancels the handler: each ends the wait the same way.
  auto token = asio::as_tuple(asio::use_awaitable);
  co_await waiter->timer.async_wait(token);
  std::lock_guard lock(mu_);
  waiters_.erase(entry);
  if (waiting_) waiting_->Decrement();
}

VersionWatcher::VersionWatcher(store::NodeRepository& nodes, PeerNotifier& notifier,
                               Sleeper& sleeper, const core::Logger& log,
                               std::chrono::milliseconds interval)
    : nodes_(nodes),
      notifier_(notifier),
      task_(
          {"peer-version-watcher", interval, 0.2, interval * 4, true},
          [this] { return pollOnce(); }, sleeper, log) {}

core::Status VersionWatcher::pollOnce() {
  if (!notifier_.hasWaiters()) return core::okStatus();
  auto versions = nodes_.peerVersions();
  if (!versions.ok()) return versions.error();
  notifier_.observe(*versions);
  return core::okStatus();
}

}  // namespace aureo::control
