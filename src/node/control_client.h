// The node side of the node protocol (docs/node-protocol.md): enrollment,
// heartbeats, session reports and the desired-state long-poll, spoken to
// aureo-control over HTTP(S). Each call is one synchronous request; the
// caller owns the schedule and the back-off.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/result.h"
#include "http/client.h"

namespace aureo::node {

// What control tells a node when it enrolls (and what the node keeps).
struct NodeSettings {
  std::string tunnel_ipv4_cidr;
  std::string tunnel_ipv6_cidr;  // empty: no IPv6 in the tunnel
  int64_t wg_port = 51820;
  std::vector<std::string> dns_servers;
  // Whether clients are told to use the node's own resolver (the tunnel
  // gateway address), so the node must run it. Absent (an older control):
  // true, as a resolver no client uses costs nothing.
  bool dns_resolver = true;
  int64_t heartbeat_interval_s = 30;
  int64_t report_interval_s = 60;
  int64_t long_poll_timeout_s = 30;
};

struct Enrollment {
  std::string node_id;
  std::string node_credential;  // secret
  NodeSettings settings;
};

struct Heartbeat {
  std::string status = "online";  // online | draining
  double cpu_usage = 0;           // 0-100
  int64_t connections = 0;        // WireGuard and OpenVPN together
  int64_t openvpn_connections = 0;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
};

struct HeartbeatReply {
  std::string node_status;
  std::optional<double> load_score;  // when control includes it
  std::optional<bool> dns_resolver;  // control's current setting, when included
  // The node's upstream resolvers as control holds them, when included.
  std::optional<std::vector<std::string>> dns_servers;
  // The OpenVPN transport ("udp"/"tcp") and port control holds, when included.
  std::optional<std::string> openvpn_transport;
  std::optional<int64_t> openvpn_port;
};

struct PeerReport {
  std::string public_key;      // base64
  int64_t last_handshake = 0;  // unix seconds, 0 = never
  int64_t rx_bytes = 0;
  int64_t tx_bytes = 0;
};

struct DesiredPeer {
  std::string session_id;
  std::string public_key;                // base64
  std::vector<std::string> allowed_ips;  // "10.8.0.5/32"
};

// An OpenVPN session the node lets in (see control's node_api.h).
struct DesiredOpenVpnClient {
  std::string session_id;
  std::string credential_hash;  // sha256 hex of the session credential
  std::string tunnel_ip;
  std::string tunnel_ipv6;
};

struct DesiredState {
  int64_t version = 0;
  std::vector<DesiredPeer> peers;
  std::vector<DesiredOpenVpnClient> openvpn_clients{};
};

struct OpenVpnSessionReport {
  std::string session_id;
  bool connected = false;
  int64_t rx_bytes = 0;  // over all the session's connections since the node started
  int64_t tx_bytes = 0;
};

// What the node's OpenVPN server needs besides its own key.
struct OpenVpnCertificate {
  std::string server_cert;
  std::string ca_cert;
  std::string tls_crypt_key;  // secret
  int64_t not_after = 0;      // unix seconds
  int64_t port = 1194;
  // "udp" or "tcp"; empty when control did not say (a control plane older
  // than the central transport: the node's own openvpn.* options apply).
  std::string transport;
};

struct ControlClientOptions {
  std::string url;  // http(s)://host:port of aureo-control
  std::string ca_file;
  bool insecure_skip_verify = false;
  std::chrono::milliseconds timeout{10'000};  // every call but the long-poll
};

// Errors: kUnavailable when control cannot be reached or answers 5xx (retry),
// kUnauthenticated for 401 (a bad token or a revoked credential),
// kInvalidArgument for another 4xx, kInternal for an answer that does not
// parse. Safe from any thread.
class ControlClient {
 public:
  explicit ControlClient(ControlClientOptions options);

  core::Result<Enrollment> enroll(const std::string& enrollment_token,
                                  const std::string& wg_public_key, const std::string& hostname);

  // The calls below need the credential; set it before any other thread
  // uses the client.
  void setCredential(std::string credential) { credential_ = std::move(credential); }

  core::Result<HeartbeatReply> heartbeat(const Heartbeat& heartbeat);
  core::Status report(const std::vector<PeerReport>& peers,
                      const std::vector<OpenVpnSessionReport>& openvpn = {});
  // Sends the node's CSR; control signs it with the deployment's CA.
  core::Result<OpenVpnCertificate> openvpnCertificate(const std::string& csr_pem);
  // Without a version the answer comes at once. A stop on `stop` abandons
  // the wait with kCancelled.
  core::Result<DesiredState> desiredState(std::optional<int64_t> version, std::chrono::seconds wait,
                                          std::stop_token stop = {});

 private:
  core::Result<http::ClientResponse> call(const http::Client& client, std::string_view method,
                                          std::string_view path, std::string_view body,
                                          std::stop_token stop = {});

  ControlClientOptions options_;
  http::Client client_;
  http::Client poll_client_;  // a deadline longer than the longest wait
  std::string credential_;
};

}  // namespace aureo::node
