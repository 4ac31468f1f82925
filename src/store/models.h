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
  std::string id;  // UUID
  std::string email;  // stored lower-cased
  std::string username;
  std::string password_hash;  // Argon2id PHC string
  std::string subscription_tier = "free";  // free | basic | premium | enterprise
  std::string role = "user";  // user | admin
  bool is_active = true;
  SystemTime created_at{};
  SystemTime updated_at{};
};

struct VpnNode {
  std::string id;
  std::string name;  // unique
  std::string hostname;  // DNS name or address clients dial
  std::string public_ip;
  std::string country;  // ISO 3166-1 alpha-2, upper case
  std::string city;
  std::string status = "offline";  // online | offline | maintenance | draining
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
  std::string tunnel_ipv4_cidr = "10.8.0.0/16";
  std::string tunnel_ipv6_cidr;  // empty: no IPv6 in the tunnel
  std::string dns_servers = "1.1.1.1,1.0.0.1";
  std::optional<SystemTime> last_heartbeat;
  SystemTime created_at{};
  SystemTime updated_at{};
};

struct Session {
  std::string id;
  std::string user_id;
  std::string node_id;
  std::string protocol = "wireguard";  // wireguard | openvpn
  std::string tunnel_ip;
  std::string status = "pending";  // pending | connected | disconnected | failed
  std::string client_public_key;   // WireGuard only
  std::optional<std::string> client_ip;  // erased when the session closes (no-logs)
  std::optional<SystemTime> connected_at;
  std::optional<SystemTime> disconnected_at;
  std::optional<SystemTime> last_handshake;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  std::string disconnect_reason;
  SystemTime created_at{};
};

struct RefreshToken {
  std::string id;  // the token's jti
  std::string user_id;
  std::string family_id;  // every rotation of one login shares it
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
