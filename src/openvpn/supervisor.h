// Runs the `openvpn` daemon and drives it through its management socket.
//
// The supervisor starts `openvpn --config <file>` in its own process group,
// logs its output line by line, and restarts it with exponential back-off
// when it dies. After each start it connects to the management socket,
// releases the hold, turns on per-client byte counts, and from then on:
//  - every client that logs in is decided by the caller's `authenticate`
//    callback (the control plane), and allowed or denied accordingly,
//  - established and disconnected clients and byte counts are reported,
//  - clients can be kicked by username or client id.
// stop() (and the destructor) sends SIGTERM, then SIGKILL after a grace
// period, and reaps: no zombie or orphaned daemon is left. If this process
// dies, the daemon gets SIGKILL from the kernel (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "openvpn/backoff.h"
#include "openvpn/process.h"

namespace aureo::openvpn {

// A client asking to log in (CONNECT) or re-authenticating during a TLS
// renegotiation (REAUTH). Holds the password: do not log or keep it.
struct ClientInfo {
  uint64_t cid = 0;
  uint32_t kid = 0;
  bool reauth = false;
  std::string username;
  std::string password;
  std::string common_name;  // empty at CONNECT without client certificates
  std::string untrusted_ip;
  uint16_t untrusted_port = 0;
  std::string platform;        // IV_PLAT, e.g. "linux", "ios"
  std::string client_version;  // IV_VER
  std::string gui_version;     // IV_GUI_VER, e.g. "OCmacOS_3.4.4"
};

struct AuthDecision {
  bool allow = false;
  std::string reason;         // for the server log (never the password)
  std::string client_reason;  // shown to the client on a denial; optional
  // Per-client config lines on an allow, e.g. "ifconfig-push 10.8.0.9 255.255.255.0".
  std::vector<std::string> client_config;

  static AuthDecision accept() { return {true, {}, {}, {}}; }
  static AuthDecision deny(std::string reason, std::string client_reason = {}) {
    return {false, std::move(reason), std::move(client_reason), {}};
  }
};

// A connected client, as far as the supervisor knows.
struct ClientSession {
  uint64_t cid = 0;
  std::string username;
  std::string common_name;
  std::string real_address;  // "ip:port"
  std::string virtual_address;
  std::string virtual_ipv6_address;
  core::SystemTime connected_since;
  uint64_t bytes_received = 0;  // from the client, as the server counts them
  uint64_t bytes_sent = 0;
};

struct DaemonEvent {
  enum class Kind { kStarted, kManagementConnected, kExited, kSpawnFailed };
  Kind kind = Kind::kStarted;
  uint64_t generation = 0;  // increments with every start
  pid_t pid = -1;
  std::optional<ExitStatus> exit;              // kExited
  std::chrono::milliseconds restart_delay{0};  // kExited, kSpawnFailed: wait before the next start
  std::string message;
};

struct SupervisorOptions {
  std::string openvpn_binary = "/usr/sbin/openvpn";
  std::string config_path;        // rendered by renderServerConfig(), mode 0600
  std::string management_socket;  // the same path as in the config
  std::vector<std::string> extra_args;
  int bytecount_interval_seconds = 5;
  BackoffPolicy backoff;
  std::chrono::milliseconds stop_grace{5000};
  // How long a fresh daemon may take to open its management socket before it
  // is killed and restarted.
  std::chrono::milliseconds management_connect_timeout{15'000};
  std::chrono::milliseconds command_timeout{5000};
  // Sent with client-kill: "HALT" makes the client exit instead of
  // reconnecting (a kicked session was deleted or is over quota).
  std::string kick_message = "HALT";
};

// All callbacks run on the supervisor's event thread, one at a time, in the
// order the daemon reported things. They may call kick*() and clients(), but
// a slow `authenticate` delays every other event: keep it bounded.
struct SupervisorCallbacks {
  std::function<AuthDecision(const ClientInfo&)> authenticate;  // required
  std::function<void(const ClientSession&)> on_established;
  // Also called for every client when the daemon dies, with the last counts.
  std::function<void(const ClientSession&)> on_disconnected;
  std::function<void(const ClientSession&)> on_bytecount;
  std::function<void(const DaemonEvent&)> on_daemon_event;
};

class Supervisor {
 public:
  Supervisor(SupervisorOptions options, SupervisorCallbacks callbacks, core::Logger& logger,
             const core::Clock& clock);
  // Calls stop().
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Validates the options and starts the monitor and event threads; the
  // daemon starts right away, asynchronously. Call once.
  core::Status start();
  // Stops the daemon (SIGTERM, SIGKILL after stop_grace), reaps it, reports
  // the remaining clients as disconnected and joins the threads. Idempotent.
  // Not from a callback.
  void stop();

  // client-kill for one client id. kNotFound when no daemon runs or the
  // daemon does not know the client. Safe from any thread.
  core::Status kickClient(uint64_t cid);
  // Kicks every connected client logged in as `username`; returns how many.
  core::Result<int> kickUser(std::string_view username);

  // Connected clients. Safe from any thread.
  [[nodiscard]] std::vector<ClientSession> clients() const;
  // The running daemon's pid, if one runs. Safe from any thread.
  [[nodiscard]] std::optional<pid_t> daemonPid() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::openvpn
