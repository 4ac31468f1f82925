// Rows of the Aureo data model (DESIGN.md section 4), as plain values.
// Times are wall-clock; optional columns are std::optional.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"

namespace aureo::store {

using core::SystemTime;

struct User {
  std::string id;     // UUID
  std::string email;  // stored lower-cased
  std::string username;
  std::string password_hash;               // Argon2id PHC string
  std::string subscription_tier = "free";  // free | basic | premium | enterprise
  std::string role = "user";               // user | admin
  bool is_active = true;
  SystemTime created_at{};
  SystemTime updated_at{};
};

struct VpnNode {
  std::string id;
  std::string name;      // unique
  std::string hostname;  // DNS name or address clients dial
  std::string public_ip;
  std::string country;  // ISO 3166-1 alpha-2, upper case
  std::string city;
  std::string status = "offline";                   // online | offline | maintenance | draining
  std::vector<std::string> protocols{"wireguard"};  // wireguard, openvpn
  int64_t max_connections = 1000;
  int64_t current_connections = 0;
  double load_score = 0;  // 0-100
  double cpu_usage = 0;   // 0-100
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  std::string wg_public_key;  // base64, empty until the node enrolls
  int64_t wg_port = 51820;
  int64_t openvpn_port = 1194;
  std::string openvpn_transport = "udp";  // udp | tcp (tcp usually on port 443)
  std::string tunnel_ipv4_cidr = "10.8.0.0/16";
  std::string tunnel_ipv6_cidr;  // empty: no IPv6 in the tunnel
  std::string dns_servers = "1.1.1.1,1.0.0.1";
  std::optional<SystemTime> last_heartbeat;
  SystemTime created_at{};
  SystemTime updated_at{};
  // Bumped (never written by update()) whenever the node's desired peer set
  // changes; nodes long-poll on it. See NodeRepository::bumpPeerVersion.
  int64_t peer_version = 0;
  // An admin drained the node: heartbeats keep it draining until an admin
  // sets another status.
  bool drain_requested = false;
};

struct Session {
  std::string id;
  std::string user_id;
  std::string node_id;
  std::string protocol = "wireguard";  // wireguard | openvpn
  std::string tunnel_ip;               // IPv4 address on the node's tunnel, without prefix
  std::string tunnel_ipv6;             // empty when the node has no IPv6 tunnel prefix
  std::string status = "pending";      // pending | connected | disconnected | failed
  std::string client_public_key;       // WireGuard only
  // OpenVPN only: SHA-256 hex of the session credential the client logs in
  // with (the credential itself is shown once and never stored).
  std::string credential_hash;
  std::optional<std::string> client_ip;  // erased when the session closes (no-logs)
  std::optional<SystemTime> connected_at;
  std::optional<SystemTime> disconnected_at;
  std::optional<SystemTime> last_handshake;
  // Totals from the user's side: sent = what the client sent through the
  // tunnel (the node's rx), received = what it got back (the node's tx).
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  std::string disconnect_reason;
  SystemTime created_at{};
  // The node's per-peer counters as last reported; the next report's delta
  // is taken against them (see SessionRepository::account).
  int64_t reported_rx_bytes = 0;
  int64_t reported_tx_bytes = 0;
};

struct RefreshToken {
  std::string id;  // the token's jti
  std::string user_id;
  std::string family_id;   // every rotation of one login shares it
  std::string token_hash;  // SHA-256 hex of the token; the token itself is never stored
  SystemTime expires_at{};
  SystemTime created_at{};
  std::optional<SystemTime> used_at;     // set when rotated
  std::optional<SystemTime> revoked_at;  // set on logout or reuse detection
};

struct AuditEntry {
  int64_t id = 0;
  std::string actor_id;  // user id of the admin, or "system"
  std::string action;    // e.g. "user.disable", "node.create"
  std::string target_type;
  std::string target_id;
  std::string details;  // JSON object text
  std::string ip;
  SystemTime created_at{};
};

struct IpAllocation {
  std::string node_id;
  std::string ip;  // without prefix length
  std::string user_id;
  std::optional<std::string> device_id;
  std::optional<std::string> session_id;
  SystemTime allocated_at{};
};

struct Lease {
  std::string name;
  std::string holder;
  int64_t fencing_token = 0;  // grows by one each time a new holder takes the lease
  SystemTime acquired_at{};
  SystemTime expires_at{};
};

// A secret a node presents: a one-time enrollment token, or the long-lived
// credential it gets in exchange. Only the SHA-256 of the secret is stored.
struct NodeCredential {
  static constexpr const char* kEnrollment = "enrollment";
  static constexpr const char* kNode = "node";

  std::string id;
  std::string node_id;
  std::string kind;        // kEnrollment | kNode
  std::string token_hash;  // sha256 hex
  SystemTime created_at{};
  std::optional<SystemTime> expires_at;  // enrollment tokens expire; node credentials do not
  std::optional<SystemTime> used_at;     // set when an enrollment token is redeemed
  std::optional<SystemTime> revoked_at;
};

struct Device {
  std::string id;
  std::string user_id;
  std::string name;
  std::string public_key;  // WireGuard, base64
  SystemTime created_at{};
  std::optional<SystemTime> last_seen_at;
};

// Bytes a user moved in one accounting period (a calendar month, UTC, by default).
struct Usage {
  std::string user_id;
  SystemTime period_start{};
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  SystemTime updated_at{};
};

// A deployment-wide secret kept in the database, sealed by the caller
// (e.g. the OpenVPN CA). Written once; never updated in place.
struct StoredSecret {
  std::string name;
  std::string value;
  SystemTime created_at{};
};

// What a node says in a heartbeat.
struct NodeHeartbeat {
  std::string status = "online";  // online | draining
  double cpu_usage = 0;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
};

// One peer's counters from a node's session report.
struct PeerCounters {
  std::optional<SystemTime> last_handshake;  // nullopt: no handshake yet
  int64_t rx_bytes = 0;                      // since the peer was added on the node
  int64_t tx_bytes = 0;
};

struct AccountingResult {
  int64_t delta_sent = 0;      // added to the session's bytes_sent (node rx)
  int64_t delta_received = 0;  // added to bytes_received (node tx)
  bool became_connected = false;
  bool applied = false;  // false: the session was not open on that node
};

struct Page {
  int64_t limit = 50;
  int64_t offset = 0;
};

template <typename T>
struct PageOf {
  std::vector<T> items;
  int64_t total = 0;
};

struct UserFilter {
  std::string search;  // substring of email or username; empty: all
  std::optional<bool> is_active;
  std::string tier;
  std::string role;  // "user" | "admin"; empty: any
};

struct NodeFilter {
  std::string country;
  std::string city;
  std::string status;
  std::string protocol;
};

struct SessionFilter {
  std::string user_id;
  std::string node_id;
  std::vector<std::string> statuses;  // empty: all
};

struct AuditFilter {
  std::string actor_id;
  std::string action;
  std::string target_id;
};

struct Stats {
  int64_t users_total = 0;
  int64_t users_active = 0;
  int64_t nodes_total = 0;
  int64_t nodes_online = 0;
  int64_t sessions_active = 0;  // pending + connected
  int64_t sessions_total = 0;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  struct Group {
    std::string key;  // node id or country
    std::string name;
    int64_t sessions_active = 0;
    int64_t bytes_sent = 0;
    int64_t bytes_received = 0;
  };
  std::vector<Group> per_node;
  std::vector<Group> per_country;
  std::vector<std::pair<std::string, int64_t>> users_by_tier;
};

}  // namespace aureo::store
