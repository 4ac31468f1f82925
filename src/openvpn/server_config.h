// Renders the OpenVPN 2.6 server configuration a node runs, and the client
// `.ovpn` profile handed to users, from plain structs.
//
// Every value is validated before it is spliced into a directive: a newline, a
// quote or an inline-block tag inside a user-supplied string could otherwise
// add directives of its own (`script-security 3` + `up /bin/sh ...`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/result.h"

namespace aureo::openvpn {

enum class Transport { kUdp, kTcp };

inline constexpr uint16_t kDefaultUdpPort = 1194;
inline constexpr uint16_t kDefaultTcpPort = 443;
// Data-channel ciphers offered by both ends, strongest first.
inline constexpr const char* kDataCiphers = "AES-256-GCM:CHACHA20-POLY1305";
// Usernames and passwords longer than this are rejected: OpenVPN builds
// without PKCS#11 (and several mobile clients) cap them at 127 bytes.
inline constexpr size_t kMaxCredentialLength = 127;

// A node's tunnel prefix is shared by its two protocols: WireGuard sessions
// take addresses from the lower half, the OpenVPN server and its clients
// from the upper half (the server holds its first host address). kInvalidArgument
// for a prefix too long to split (IPv4 longer than /28, IPv6 longer than /111).
core::Result<core::Cidr> wireguardHalf(const core::Cidr& node_prefix);
core::Result<core::Cidr> openvpnHalf(const core::Cidr& node_prefix);

struct ServerConfig {
  Transport transport = Transport::kUdp;
  uint16_t port = 0;                              // 0: 1194 for UDP, 443 for TCP
  std::optional<core::IpAddress> listen_address;  // `local`; unset: all addresses
  // Without listen_address: one IPv6 socket that takes IPv4 clients too
  // (udp6/tcp6-server). Off on hosts without IPv6, where it could not bind;
  // OpenVPN then listens on IPv4 only.
  bool dual_stack = true;
  std::string device = "tun-aureo";          // 1..15 of [A-Za-z0-9_-]
  core::Cidr tunnel_v4;                      // e.g. 10.8.0.0/24 (prefix 8..30)
  std::optional<core::Cidr> tunnel_v6;       // e.g. fd00:8::/64 (prefix 64..124)
  std::vector<core::IpAddress> dns_servers;  // pushed to clients
  bool redirect_gateway = true;              // push all traffic through the tunnel

  // Management interface on a unix socket (absolute path, < 108 bytes).
  std::string management_socket;
  bool management_hold = true;  // start only after the supervisor says `hold release`

  // PEM material, inline in the config (which the caller writes mode 0600).
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string tls_crypt_key;

  int keepalive_interval = 10;  // seconds; `keepalive 10 60`
  int keepalive_timeout = 60;
  int max_clients = 0;               // 0: OpenVPN's default
  std::optional<std::string> user;   // e.g. "nobody": drop privileges after start
  std::optional<std::string> group;  // e.g. "nogroup"
  int verbosity = 3;
};

// The full server config text, or kInvalidArgument naming the bad field.
core::Result<std::string> renderServerConfig(const ServerConfig& config);

struct ClientRemote {
  std::string host;   // DNS name or IP address
  uint16_t port = 0;  // 0: the transport's default
  Transport transport = Transport::kUdp;
};

struct ClientCredentials {
  std::string username;
  std::string password;
};

struct ClientProfile {
  std::string name;                   // shown as a comment at the top; may be empty
  std::vector<ClientRemote> remotes;  // tried in order (node failover); at least one
  std::string ca_pem;
  std::string tls_crypt_key;
  // When set, the client also checks the server certificate's CN.
  std::optional<std::string> server_common_name;
  // When set, the credentials go into an inline <auth-user-pass> block (OpenVPN
  // 2.6 and OpenVPN Connect read it); otherwise the client prompts for them.
  std::optional<ClientCredentials> inline_credentials;
  int verbosity = 3;
};

// A single self-contained `.ovpn` profile: every key and certificate inline.
core::Result<std::string> renderClientProfile(const ClientProfile& profile);

}  // namespace aureo::openvpn
