// The node's OpenVPN server: the stock `openvpn` daemon run by the
// openvpn::Supervisor, fed by the same desired state as the WireGuard peers.
//
//   certificate  the key is made here; only a CSR goes to control, which
//                signs it with the deployment's CA. Kept in the state
//                directory and renewed kRenewalMargin before it expires
//                (the daemon is restarted with the new one; clients
//                reconnect by themselves).
//   transport    udp or tcp and the port, as control says with the
//                certificate (the admin sets them per node). Asked again at
//                every renewal check; a change restarts the daemon. The
//                local openvpn.transport/port apply only when control does
//                not send a transport (an older control plane).
//   auth         decided locally against the desired state: username = the
//                session id, password = the session credential, checked
//                against its SHA-256 from control. Control being away stops
//                nothing: the last desired state keeps deciding.
//   kick         a session that leaves the desired state (deleted, account
//                disabled, node failover) is kicked with HALT at once.
//   accounting   per session, over every connection since the node started,
//                never decreasing, so control's delta accounting holds.
//
// Its address pool is the upper half of the node's tunnel prefix
// (openvpn::openvpnHalf); WireGuard sessions use the lower half.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ip.h"
#include "core/log.h"
#include "core/result.h"
#include "node/control_client.h"
#include "node/state.h"
#include "openvpn/server_config.h"

namespace aureo::openvpn {
class Supervisor;
struct ClientInfo;
struct AuthDecision;
struct ClientSession;
}  // namespace aureo::openvpn

namespace aureo::node {

struct OpenVpnServerOptions {
  bool enabled = true;
  std::string openvpn_binary = "/usr/sbin/openvpn";
  std::string device = "aureo-ovpn";
  // Used only when control does not say which transport the node runs (an
  // older control plane); otherwise control's transport and port apply.
  uint16_t port = 0;  // 0: the port control assigned (1194 by default)
  openvpn::Transport transport = openvpn::Transport::kUdp;
  int keepalive_interval = 10;
  int keepalive_timeout = 60;
  int bytecount_interval_seconds = 5;
  // A login for a session the node has not heard of yet waits this long for
  // the desired state to catch up (a session is used right after creation).
  std::chrono::milliseconds auth_wait{2000};
  // After a failed certificate request or daemon start.
  std::chrono::seconds retry{15};
  std::chrono::seconds renewal_check{std::chrono::hours{6}};
};

// What the node's OpenVPN server needs besides its config.
struct OpenVpnMaterial {
  std::string key_pem;  // the node's own key; never leaves the node
  std::string cert_pem;
  std::string ca_pem;
  std::string tls_crypt_key;
  uint16_t port = openvpn::kDefaultUdpPort;
  // Unset when control did not send one (an older control plane).
  std::optional<openvpn::Transport> transport;
};

// Where the daemon listens: control's transport and port when control sent
// a transport; otherwise the local options (the port falling back to
// control's).
struct OpenVpnListen {
  openvpn::Transport transport = openvpn::Transport::kUdp;
  uint16_t port = openvpn::kDefaultUdpPort;
  bool operator==(const OpenVpnListen&) const = default;
};
OpenVpnListen openvpnListen(const OpenVpnServerOptions& options, const OpenVpnMaterial& material);

// The certificate, key, CA and tls-crypt key from the state directory when
// the certificate verifies against the CA at `now` and is not within
// openvpn::kRenewalMargin of expiring (and `force` is false); otherwise a
// fresh key and CSR, signed by control, verified, and written back (key
// first). Errors from control pass through (kUnavailable: retry later).
core::Result<OpenVpnMaterial> loadOrRenewCertificate(const StateDir& state, ControlClient& control,
                                                     const std::string& node_id,
                                                     core::SystemTime now, bool force,
                                                     core::Logger& log);

struct OpenVpnTotals {
  int64_t connections = 0;  // connected clients
  uint64_t rx_bytes = 0;    // from clients, since the node started
  uint64_t tx_bytes = 0;
};

class OpenVpnServer {
 public:
  OpenVpnServer(OpenVpnServerOptions options, const StateDir& state, ControlClient& control,
                const core::Clock& clock, core::Logger& log);
  ~OpenVpnServer();  // stop()
  OpenVpnServer(const OpenVpnServer&) = delete;
  OpenVpnServer& operator=(const OpenVpnServer&) = delete;

  // Checks the settings and starts the thread that gets the certificate,
  // runs the daemon and renews; returns before the daemon is up (it retries
  // while control or the daemon is unavailable). Call once.
  core::Status start(const std::string& node_id, const NodeSettings& settings);
  // Stops the daemon (clients are reported disconnected) and the thread.
  void stop();

  // The OpenVPN part of a desired state. Sessions no longer in it are
  // kicked. Safe from any thread.
  void applyDesired(const std::vector<DesiredOpenVpnClient>& clients);
  // False while draining: new logins are refused, connected clients stay.
  void setAcceptNew(bool accept);
  // The transport and port control holds for this node (from a heartbeat).
  // When they differ from the running daemon's, the daemon is restarted on
  // them now rather than at the next certificate check. Safe from any thread.
  void noticeListen(const std::string& transport, int64_t port);

  // One row per session seen since the last report. Safe from any thread.
  std::vector<OpenVpnSessionReport> report();
  [[nodiscard]] OpenVpnTotals totals() const;
  // The daemon's pid while one runs (for tests and logs).
  [[nodiscard]] std::optional<int> daemonPid() const;

 private:
  struct Account {
    uint64_t retired_rx = 0;  // finished connections
    uint64_t retired_tx = 0;
    uint64_t last_rx = 0;  // last reported, so reports never go down
    uint64_t last_tx = 0;
  };
  void run(const std::stop_token& stop);
  core::Status startDaemon(const OpenVpnMaterial& material);
  void stopDaemon();
  openvpn::AuthDecision authenticate(const openvpn::ClientInfo& info);
  void onDisconnected(const openvpn::ClientSession& session);
  std::shared_ptr<openvpn::Supervisor> supervisor() const;

  OpenVpnServerOptions options_;
  const StateDir& state_;
  ControlClient& control_;
  const core::Clock& clock_;
  core::Logger& log_;
  std::string node_id_;
  NodeSettings settings_;
  core::Cidr pool_v4_;
  std::optional<core::Cidr> pool_v6_;

  mutable std::mutex mu_;
  std::condition_variable desired_cv_;
  std::map<std::string, DesiredOpenVpnClient> desired_;  // by session id; guarded by mu_
  std::map<std::string, Account> accounts_;              // guarded by mu_
  uint64_t dropped_rx_ = 0, dropped_tx_ = 0;             // accounts forgotten; guarded by mu_
  core::SteadyTime no_wait_until_{};                     // guarded by mu_; see authenticate()
  bool accept_new_ = true;                               // guarded by mu_
  std::shared_ptr<openvpn::Supervisor> supervisor_;      // guarded by mu_
  std::condition_variable_any wake_cv_;                  // wakes run() early; with mu_
  bool recheck_ = false;                                 // guarded by mu_
  std::optional<OpenVpnListen> running_;                 // guarded by mu_; listen_ for others
  std::optional<std::string> cert_pem_;                  // run thread only
  OpenVpnListen listen_;                                 // run thread only; of the running daemon
  std::atomic<bool> stopping_{false};                    // the daemon exits because we asked
  std::jthread thread_;
};

}  // namespace aureo::node
