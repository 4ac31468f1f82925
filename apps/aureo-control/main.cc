// aureo-control: leader election, the background loops and the node-facing
// API. Wiring only; the work is in src/control and the shared wiring in
// apps/wiring. Several instances may share one database: they elect a leader
// through the leases table, only the leader runs the loops, and every
// instance serves nodes.
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "control/notifier.h"
#include "control/session_service.h"
#include "core/config.h"
#include "core/log.h"
#include "core/process.h"
#include "http/metrics.h"
#include "http/server.h"
#include "wiring.h"

namespace {

int fail(const std::string& message) {
  std::cerr << "aureo-control: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aureo;
  const auto options = wiring::controlSchema("server", "--listen", false);
  auto settings =
      core::loadProcessSettings("aureo-control",
                                "Aureo VPN control server: leader-elected background loops and "
                                "the node-facing API.",
                                options, argc, argv);
  if (!settings.ok()) return fail(settings.error().message);
  if (!settings->has_value()) return 0;  // --help
  core::Config* cfg = &(*settings)->config;
  const core::LogLevel level = (*settings)->log_level;
  core::Logger log("aureo-control", level, core::Logger::Flush::kBatched);
  core::SystemClock clock;

  sigset_t signals = core::blockTerminationSignals();

  http::Metrics metrics;
  auto deps = wiring::openSessionDeps(*cfg, "aureo-control", clock, log, metrics);
  if (!deps.ok()) return fail(deps.error().message);
  control::PeerNotifier notifier(&metrics);
  // Peer changes made here (sessions ended by the loops, node reports) wake
  // this instance's long-polls and, through Redis, every other instance's.
  control::SessionService sessions(*deps->store, clock, log, deps->policy,
                                   wiring::peerChangeListener(&notifier, deps->redis.get()),
                                   deps->openvpn.get());
  auto control = wiring::ControlStack::build(*cfg, *deps->store, sessions, notifier, clock, log,
                                             metrics, deps->redis.get());
  if (!control.ok()) return fail(control.error().message);
  http::Router router;
  (*control)->addRoutes(router);

  auto so = wiring::serverOptions(*cfg, "server", "aureo-control");
  if (!so.ok()) return fail(so.error().message);
  // Long-polls wait up to max_wait; the handler deadline must outlast them.
  so->handler_timeout = (*control)->maxWait() + std::chrono::seconds(15);
  so->idle_timeout = (*control)->maxWait() + std::chrono::seconds(30);
  http::Server server(*so, std::move(router), log, &metrics);
  if (auto st = server.start(); !st.ok()) return fail(st.error().message);
  (*control)->start();

  const std::string url = wiring::serverUrl(*so, server.port());
  log.info("control listening", {{"url", url}, {"instance_id", (*control)->instanceId()}});
  std::cout << "  Aureo VPN control: " << url << "\n" << std::flush;

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log.info("shutting down", {{"signal", sig}});
    notifier.shutdown();  // parked long-polls answer now instead of holding the shutdown
    server.stop();
  });
  server.run();
  (*control)->stop();  // resigns: another instance takes over at once
  // Wakes the sigwait() above (SIGTERM is blocked, so nothing terminates).
  // NOLINTNEXTLINE(bugprone-bad-signal-to-kill-thread)
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return 0;
}
