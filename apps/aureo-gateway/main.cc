// aureo-gateway: the public REST API. Wiring only; the work is in src/api and
// the shared wiring in apps/wiring.
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "control/session_service.h"
#include "core/config.h"
#include "core/log.h"
#include "core/process.h"
#include "http/metrics.h"
#include "http/server.h"
#include "wiring.h"

namespace {

int fail(const std::string& message) {
  std::cerr << "aureo-gateway: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aureo;
  const auto options = wiring::gatewaySchema();
  auto settings = core::loadProcessSettings("aureo-gateway", "Aureo VPN REST API gateway.", options,
                                            argc, argv);
  if (!settings.ok()) return fail(settings.error().message);
  if (!settings->has_value()) return 0;  // --help
  core::Config* cfg = &(*settings)->config;
  const core::LogLevel level = (*settings)->log_level;
  core::Logger log("aureo-gateway", level, core::Logger::Flush::kBatched);
  core::SystemClock clock;

  // Signals are taken by a dedicated thread, so block them before any other starts.
  sigset_t signals = core::blockTerminationSignals();

  http::Metrics metrics;
  auto deps = wiring::openSessionDeps(*cfg, "aureo-gateway", clock, log, metrics);
  if (!deps.ok()) return fail(deps.error().message);
  // The gateway changes peer sets but serves no long-polls: it publishes
  // the node through Redis when there is one, and aureo-control instances
  // also notice the new peer_version through their version watcher.
  control::SessionService sessions(*deps->store, clock, log, deps->policy,
                                   wiring::peerChangeListener(nullptr, deps->redis.get()),
                                   deps->openvpn.get());
  auto gateway = wiring::GatewayStack::build(*cfg, *deps->store, sessions, clock, log, metrics,
                                             deps->redis.get());
  if (!gateway.ok()) return fail(gateway.error().message);
  http::Router router;
  (*gateway)->addRoutes(router);

  auto so = wiring::serverOptions(*cfg, "server", "aureo-gateway");
  if (!so.ok()) return fail(so.error().message);
  http::Server server(*so, std::move(router), log, &metrics);
  if (auto st = server.start(); !st.ok()) return fail(st.error().message);

  const std::string url = wiring::serverUrl(*so, server.port());
  const std::string database = cfg->getString("database.url");
  log.info("gateway listening",
           {{"url", url}, {"database", database.substr(0, database.find(':'))}});
  if (const auto& password = (*gateway)->newAdminPassword()) {
    // Shown once, on stdout, never logged: the operator must save it now.
    std::cout << "\n  Aureo VPN admin account created\n"
              << "    email:    " << cfg->getString("admin.email") << "\n"
              << "    password: " << *password << "\n"
              << "  This password is shown only once. Change it after signing in.\n\n";
  }
  std::cout << "  Aureo VPN API: " << url << "\n" << std::flush;

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log.info("shutting down", {{"signal", sig}});
    server.stop();
  });
  server.run();
  (*gateway)->stopWorkers();
  // run() also returns if the server stops for another reason; wake the waiter.
  // Wakes the sigwait() above (SIGTERM is blocked, so nothing terminates).
  // NOLINTNEXTLINE(bugprone-bad-signal-to-kill-thread)
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return 0;
}
