// The node-facing API served by aureo-control (JSON over HTTP(S)). Nodes
// only ever call out; this is the whole protocol:
//
//   POST /api/v1/node/enroll
//     {"enrollment_token","wg_public_key","hostname"?}
//     -> 200 {"node_id","node_credential","config":{"tunnel_ipv4_cidr",
//        "tunnel_ipv6_cidr","wg_port","dns_servers":[..],"dns_resolver",
//        "heartbeat_interval_s","report_interval_s","long_poll_timeout_s"}}
//     The token works once and expires (24 h by default): else 401. The node
//     keeps the first host address of each tunnel prefix (10.8.0.1 in
//     10.8.0.0/16) for itself; sessions get addresses from the second on.
//
//   Every other route needs "Authorization: Bearer <node_credential>";
//   an unknown or revoked credential gets 401.
//
//   POST /api/v1/node/heartbeat
//     {"status":"online"|"draining","cpu_usage","connections","bytes_sent",
//      "bytes_received","openvpn_connections"?}
//     -> 200 {"node_status","dns_resolver","dns_servers":[..],
//             "openvpn_transport","openvpn_port"}
//     Brings an offline node online, unless an admin put it in maintenance
//     or drained it; node_status is the status the control plane holds.
//     dns_resolver (also in the enrollment config): clients are told to use
//     the node's resolver on its tunnel gateway address, so the node runs
//     it, forwarding to dns_servers (the node's current list: an admin's
//     change reaches the resolver with the next heartbeat). A changed
//     OpenVPN transport or port restarts the node's daemon on it.
//
//   POST /api/v1/node/sessions/report
//     {"peers":[{"public_key","last_handshake","rx_bytes","tx_bytes"}],
//      "openvpn_sessions"?:[{"session_id","connected","rx_bytes","tx_bytes"}]} -> 204
//     last_handshake is unix seconds (0 = never); rx/tx count since the peer
//     was added on the node (for OpenVPN: over all the session's connections
//     since the node started). Sessions the node does not own are ignored.
//
//   POST /api/v1/node/openvpn/certificate {"csr"}
//     -> 200 {"server_cert","ca_cert","tls_crypt_key","not_after","port"}
//     Signs the node's CSR (CN = node id; the CA key stays here) and marks
//     the node as serving OpenVPN. 409 when OpenVPN is not enabled.
//
//   GET /api/v1/node/desired-state?version=N&wait=S
//     -> 200 {"version","peers":[{"session_id","public_key",
//        "allowed_ips":["10.8.0.5/32","fd00::5/128"]}],
//        "openvpn_clients":[{"session_id","credential_hash","tunnel_ip","tunnel_ipv6"}]}
//     At once when the node's peer_version differs from N (or N is absent);
//     otherwise after the set changes or S seconds (at most 60), whichever
//     comes first.
//
// Errors are {"error":{"code","message","field"?}}: 400 malformed JSON, 422
// a field out of bounds, 401 bad credentials.
#pragma once

#include <chrono>
#include <memory>

#include "core/clock.h"
#include "core/log.h"

namespace aureo::store {
class Store;
}
namespace aureo::http {
class Router;
}

namespace aureo::control {

class SessionService;
class PeerNotifier;

struct NodeApiConfig {
  std::chrono::seconds heartbeat_interval{30};
  std::chrono::seconds report_interval{60};
  std::chrono::seconds long_poll_timeout{30};  // what nodes are told to ask for
  std::chrono::seconds max_wait{60};           // the most a long-poll may wait
  bool dns_resolver = true;                    // nodes.dns_resolver
};

class NodeApi {
 public:
  NodeApi(store::Store& store, SessionService& sessions, PeerNotifier& notifier,
          const core::Clock& clock, const core::Logger& log, NodeApiConfig config);
  ~NodeApi();
  NodeApi(const NodeApi&) = delete;
  NodeApi& operator=(const NodeApi&) = delete;

  // Registers the routes above. NodeApi must outlive the server using them.
  void addRoutes(http::Router& router);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::control
