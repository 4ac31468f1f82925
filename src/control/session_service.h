// Sessions: creating one (node choice, device limits, a unique tunnel
// address, a wg-quick config), ending them (by the user, an admin, idle
// timeout, account disable, node failover) and accounting from node reports.
//
// Every change to a node's set of open sessions bumps the node's
// peer_version and calls the PeerChangeListener, which wakes the node's
// long-poll in this process; other processes see the new version through
// their VersionWatcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "control/selection.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "store/store.h"

namespace aureo::control {

struct SessionPolicy {
  // Concurrent open (pending + connected) sessions per subscription tier.
  std::map<std::string, int64_t> device_limits{
      {"free", 1}, {"basic", 3}, {"premium", 5}, {"enterprise", 10}};
  // A pending session with no handshake this long after creation ends.
  std::chrono::seconds pending_timeout{5 * 60};
  // A connected session whose last handshake is older than this ends.
  // WireGuard re-handshakes every 2 minutes while a peer is up.
  std::chrono::seconds handshake_timeout{10 * 60};
  // Clients resolve through the node's own resolver at its tunnel gateway
  // address (nodes.dns_resolver) instead of the node's dns_servers.
  bool node_dns_resolver = true;
  // Monthly data (sent + received, calendar month, UTC) per tier; a tier
  // missing or at 0 is unlimited. Reaching it ends the user's sessions
  // (WireGuard peers removed, OpenVPN clients kicked) and refuses new ones
  // until the month turns.
  std::map<std::string, int64_t> monthly_quota_bytes;
};

struct CreateSessionRequest {
  std::string user_id;
  std::string protocol = "wireguard";
  std::string node_id;                   // empty: choose
  std::string country;                   // used when node_id is empty
  std::string city;                      // likewise
  std::string client_public_key;         // empty: generate a key pair
  std::optional<std::string> client_ip;  // kept only while the session is open
};

struct CreatedSession {
  store::Session session;
  store::VpnNode node;
  std::string private_key;  // only when generated here; never stored
  // wg-quick text, or for OpenVPN a self-contained .ovpn profile that
  // carries the session credential inline (shown once; only its hash is kept).
  std::string config;
  // The resolvers the WireGuard config's DNS line names (empty for OpenVPN,
  // whose profile's server pushes them).
  std::vector<std::string> dns;
  // The node's peer_version that includes this session; the peer is live on
  // the node once its applied_peer_version reaches it. 0 if unknown.
  int64_t peer_version = 0;
};

struct PeerReport {
  std::string public_key;
  int64_t last_handshake = 0;  // unix seconds, 0 = never
  int64_t rx_bytes = 0;
  int64_t tx_bytes = 0;
};

// One OpenVPN session as the node's supervisor sees it. Counters cover
// every connection of the session since the node (re)started.
struct OpenVpnReport {
  std::string session_id;
  bool connected = false;
  int64_t rx_bytes = 0;  // from the client
  int64_t tx_bytes = 0;  // to the client
};

struct ReportOutcome {
  int64_t accounted = 0;
  int64_t connected = 0;    // sessions that went pending -> connected
  int64_t unknown = 0;      // peers that are no open session of this node (ignored)
  int64_t quota_ended = 0;  // sessions ended because their user's quota was reached
};

struct DesiredPeer {
  std::string session_id;
  std::string public_key;
  std::vector<std::string> allowed_ips;  // "10.8.0.5/32", "fd00::5/128"
};

// An OpenVPN session a node must let in: the client logs in with the
// session id as username and the credential whose SHA-256 is given.
struct DesiredOpenVpnClient {
  std::string session_id;
  std::string credential_hash;  // sha256 hex
  std::string tunnel_ip;        // pushed to the client
  std::string tunnel_ipv6;      // empty: none
};

struct DesiredState {
  int64_t version = 0;
  std::vector<DesiredPeer> peers;
  std::vector<DesiredOpenVpnClient> openvpn_clients;
};

// The wg-quick file for a session. private_key may be empty (the client
// keeps its own key), and then the [Interface] has no PrivateKey line. With
// node_dns_resolver, DNS is the node's tunnel gateway address (the first
// host of each tunnel prefix the session has an address in); otherwise the
// node's dns_servers.
std::string wgQuickConfig(const store::Session& session, const store::VpnNode& node,
                          const std::string& private_key, bool node_dns_resolver);
// What the config's DNS line names: the node's resolver on its tunnel gateway
// addresses (node_dns_resolver), or else the node's dns_servers.
std::vector<std::string> sessionDnsServers(const store::Session& session,
                                           const store::VpnNode& node, bool node_dns_resolver);

// The first instant of the accounting period (calendar month, UTC) holding t.
core::SystemTime usagePeriodStart(core::SystemTime t);

class OpenVpnAuthority;

class SessionService {
 public:
  using PeerChangeListener = std::function<void(const std::string& node_id)>;

  // Without an OpenVpnAuthority, openvpn sessions are refused.
  SessionService(store::Store& store, const core::Clock& clock, const core::Logger& log,
                 SessionPolicy policy, PeerChangeListener on_change = {},
                 OpenVpnAuthority* openvpn = nullptr);

  // Errors: invalid input -> kInvalidArgument with field (422), openvpn
  // without an authority -> kInvalidArgument "not supported" (422), unknown user ->
  // kUnauthenticated, disabled account -> kPermissionDenied (403), device
  // limit -> kFailedPrecondition (409), chosen node unknown -> kNotFound,
  // chosen node not accepting sessions -> kFailedPrecondition (409), no node
  // available or no free tunnel address -> kUnavailable (503).
  core::Result<CreatedSession> create(const CreateSessionRequest& request);

  // Ends a session. Unless admin, only the owner may, and someone else's
  // session reads as kNotFound. Ending a closed session returns it unchanged.
  core::Result<store::Session> disconnect(const std::string& session_id,
                                          const std::string& actor_user_id, bool admin,
                                          const std::string& reason);
  // Ends every open session of a user (account disabled or deleted).
  core::Result<int64_t> disconnectAllForUser(const std::string& user_id, const std::string& reason);
  // Ends every open session on a node that went offline (failover).
  core::Result<int64_t> failOverNode(const std::string& node_id);
  // Ends idle sessions (see SessionPolicy); returns how many.
  core::Result<int64_t> expireIdle();

  // Applies a node's session report. Peers that are not open sessions of
  // this node are counted and ignored: a node cannot account for others.
  // OpenVPN sessions are reported by id; a connected one counts as a
  // handshake at the time of the report.
  core::Result<ReportOutcome> applyReport(const std::string& node_id,
                                          const std::vector<PeerReport>& peers,
                                          const std::vector<OpenVpnReport>& openvpn = {});

  // The node's desired peer set. The version is read before the sessions,
  // so a node never believes it has a version whose peers it did not get.
  core::Result<DesiredState> desiredState(const std::string& node_id);

  core::Result<store::VpnNode> bestNode(const NodeQuery& query) { return selector_.best(query); }
  [[nodiscard]] int64_t deviceLimit(const std::string& tier) const;
  // Null when OpenVPN is not configured.
  [[nodiscard]] OpenVpnAuthority* openvpn() const { return openvpn_; }

 private:
  core::Result<std::string> openvpnProfile(const store::Session& session,
                                           const store::VpnNode& node,
                                           const std::string& credential);
  core::Result<store::VpnNode> chooseNode(const CreateSessionRequest& request);
  // True when the user's tier has a monthly quota and this month's usage
  // reached it.
  core::Result<bool> quotaReached(const store::User& user, core::SystemTime now);
  // Bumps the node's peer version and wakes its long-poll; returns the new
  // version (0 if it could not be bumped).
  int64_t peersChanged(const std::string& node_id);

  store::Store& store_;
  const core::Clock& clock_;
  const core::Logger& log_;
  SessionPolicy policy_;
  PeerChangeListener on_change_;
  NodeSelector selector_;
  OpenVpnAuthority* openvpn_ = nullptr;
};

}  // namespace aureo::control
