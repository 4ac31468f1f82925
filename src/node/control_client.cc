#include "node/control_client.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace aureo::node {
namespace {

using Json = nlohmann::json;

// Long-polls wait at most 60 s on the server; the deadline leaves room for
// the answer to arrive on a slow link.
constexpr std::chrono::seconds kMaxWait{60};
constexpr std::chrono::seconds kPollSlack{15};

http::Client makeClient(const ControlClientOptions& o, std::chrono::milliseconds timeout) {
  http::ClientOptions co;
  co.timeout = timeout;
  co.ca_file = o.ca_file;
  co.insecure_skip_verify = o.insecure_skip_verify;
  return http::Client(o.url, co);
}

// The error control sent ({"error":{"message"}}) or the status line.
std::string errorMessage(const http::ClientResponse& r) {
  auto j = Json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string()) {
    return j["error"]["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(r.status);
}

core::Error statusError(const http::ClientResponse& r, std::string_view what) {
  const std::string msg = std::string(what) + ": " + errorMessage(r);
  if (r.status == 401) return core::unauthenticated(msg);
  if (r.status >= 500 || r.status == 429) return core::unavailable(msg);
  return core::invalidArgument(msg);
}

template <typename T>
bool readField(const Json& j, const char* name, T* out) {
  auto it = j.find(name);
  if (it == j.end()) return false;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return false;
  } else if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer()) return false;
  } else {
    if (!it->is_number()) return false;
  }
  *out = it->get<T>();
  return true;
}

core::Error badAnswer(std::string_view what) {
  return core::internalError(std::string("control sent a malformed ") + std::string(what));
}

}  // namespace

ControlClient::ControlClient(ControlClientOptions options)
    : options_(std::move(options)),
      client_(makeClient(options_, options_.timeout)),
      poll_client_(makeClient(options_, kMaxWait + kPollSlack)) {}

core::Result<http::ClientResponse> ControlClient::call(const http::Client& client,
                                                       std::string_view method,
                                                       std::string_view path, std::string_view body,
                                                       std::stop_token stop) {
  http::ClientHeaders headers;
  if (!credential_.empty()) headers.emplace_back("Authorization", "Bearer " + credential_);
  return client.request(method, path, body, headers, std::move(stop));
}

core::Result<Enrollment> ControlClient::enroll(const std::string& enrollment_token,
                                               const std::string& wg_public_key,
                                               const std::string& hostname) {
  Json body{{"enrollment_token", enrollment_token}, {"wg_public_key", wg_public_key}};
  if (!hostname.empty()) body["hostname"] = hostname;
  http::ClientHeaders none;
  auto resp = client_.request("POST", "/api/v1/node/enroll", body.dump(), none);
  if (!resp.ok()) return resp.error();
  if (resp->status != 200) return statusError(*resp, "enrollment refused");
  auto j = Json::parse(resp->body, nullptr, false);
  Enrollment e;
  if (!j.is_object() || !readField(j, "node_id", &e.node_id) ||
      !readField(j, "node_credential", &e.node_credential) || !j.contains("config") ||
      !j["config"].is_object()) {
    return badAnswer("enrollment answer");
  }
  const Json& c = j["config"];
  NodeSettings& s = e.settings;
  if (!readField(c, "tunnel_ipv4_cidr", &s.tunnel_ipv4_cidr)) return badAnswer("node config");
  readField(c, "tunnel_ipv6_cidr", &s.tunnel_ipv6_cidr);
  readField(c, "wg_port", &s.wg_port);
  readField(c, "heartbeat_interval_s", &s.heartbeat_interval_s);
  readField(c, "report_interval_s", &s.report_interval_s);
  readField(c, "long_poll_timeout_s", &s.long_poll_timeout_s);
  if (auto it = c.find("dns_resolver"); it != c.end() && it->is_boolean()) {
    s.dns_resolver = it->get<bool>();
  }
  if (auto it = c.find("dns_servers"); it != c.end() && it->is_array()) {
    for (const auto& d : *it) {
      if (d.is_string()) s.dns_servers.push_back(d.get<std::string>());
    }
  }
  return e;
}

core::Result<HeartbeatReply> ControlClient::heartbeat(const Heartbeat& hb) {
  const Json body{{"status", hb.status},
                  {"cpu_usage", std::clamp(hb.cpu_usage, 0.0, 100.0)},
                  {"connections", hb.connections},
                  {"bytes_sent", hb.bytes_sent},
                  {"bytes_received", hb.bytes_received},
                  {"openvpn_connections", hb.openvpn_connections}};
  auto resp = call(client_, "POST", "/api/v1/node/heartbeat", body.dump());
  if (!resp.ok()) return resp.error();
  if (resp->status != 200) return statusError(*resp, "heartbeat refused");
  auto j = Json::parse(resp->body, nullptr, false);
  HeartbeatReply reply;
  if (!j.is_object() || !readField(j, "node_status", &reply.node_status)) {
    return badAnswer("heartbeat answer");
  }
  double score = 0;
  if (readField(j, "load_score", &score)) reply.load_score = score;
  if (auto it = j.find("dns_resolver"); it != j.end() && it->is_boolean()) {
    reply.dns_resolver = it->get<bool>();
  }
  // Only a well-formed list replaces the node's own; anything else is ignored.
  if (auto it = j.find("dns_servers"); it != j.end() && it->is_array() && it->size() <= 16) {
    std::vector<std::string> servers;
    for (const auto& d : *it) {
      if (!d.is_string()) break;
      servers.push_back(d.get<std::string>());
    }
    if (servers.size() == it->size()) reply.dns_servers = std::move(servers);
  }
  std::string transport;
  int64_t port = 0;
  if (readField(j, "openvpn_transport", &transport) && readField(j, "openvpn_port", &port)) {
    reply.openvpn_transport = transport;
    reply.openvpn_port = port;
  }
  return reply;
}

core::Status ControlClient::report(const std::vector<PeerReport>& peers,
                                   const std::vector<OpenVpnSessionReport>& openvpn) {
  Json list = Json::array();
  for (const auto& p : peers) {
    list.push_back({{"public_key", p.public_key},
                    {"last_handshake", p.last_handshake},
                    {"rx_bytes", p.rx_bytes},
                    {"tx_bytes", p.tx_bytes}});
  }
  Json body{{"peers", std::move(list)}};
  if (!openvpn.empty()) {
    Json ov = Json::array();
    for (const auto& o : openvpn) {
      ov.push_back({{"session_id", o.session_id},
                    {"connected", o.connected},
                    {"rx_bytes", o.rx_bytes},
                    {"tx_bytes", o.tx_bytes}});
    }
    body["openvpn_sessions"] = std::move(ov);
  }
  auto resp = call(client_, "POST", "/api/v1/node/sessions/report", body.dump());
  if (!resp.ok()) return resp.error();
  if (resp->status != 204 && resp->status != 200) return statusError(*resp, "report refused");
  return core::okStatus();
}

core::Result<OpenVpnCertificate> ControlClient::openvpnCertificate(const std::string& csr_pem) {
  auto resp =
      call(client_, "POST", "/api/v1/node/openvpn/certificate", Json{{"csr", csr_pem}}.dump());
  if (!resp.ok()) return resp.error();
  if (resp->status != 200) return statusError(*resp, "OpenVPN certificate refused");
  auto j = Json::parse(resp->body, nullptr, false);
  OpenVpnCertificate c;
  if (!j.is_object() || !readField(j, "server_cert", &c.server_cert) ||
      !readField(j, "ca_cert", &c.ca_cert) || !readField(j, "tls_crypt_key", &c.tls_crypt_key) ||
      !readField(j, "not_after", &c.not_after)) {
    return badAnswer("OpenVPN certificate answer");
  }
  readField(j, "port", &c.port);
  readField(j, "transport", &c.transport);
  if (!c.transport.empty() && c.transport != "udp" && c.transport != "tcp") {
    return badAnswer("OpenVPN transport");
  }
  return c;
}

core::Result<DesiredState> ControlClient::desiredState(std::optional<int64_t> version,
                                                       std::chrono::seconds wait,
                                                       std::stop_token stop) {
  std::string path = "/api/v1/node/desired-state";
  if (version) {
    const auto w = std::clamp(wait, std::chrono::seconds(0), kMaxWait);
    path += "?version=" + std::to_string(*version) + "&wait=" + std::to_string(w.count());
  }
  auto resp = call(poll_client_, "GET", path, {}, std::move(stop));
  if (!resp.ok()) return resp.error();
  if (resp->status != 200) return statusError(*resp, "desired state refused");
  auto j = Json::parse(resp->body, nullptr, false);
  DesiredState state;
  if (!j.is_object() || !readField(j, "version", &state.version) || !j.contains("peers") ||
      !j["peers"].is_array()) {
    return badAnswer("desired state");
  }
  for (const auto& p : j["peers"]) {
    DesiredPeer peer;
    if (!p.is_object() || !readField(p, "public_key", &peer.public_key) ||
        !p.contains("allowed_ips") || !p["allowed_ips"].is_array()) {
      return badAnswer("desired peer");
    }
    readField(p, "session_id", &peer.session_id);
    for (const auto& ip : p["allowed_ips"]) {
      if (!ip.is_string()) return badAnswer("allowed IP");
      peer.allowed_ips.push_back(ip.get<std::string>());
    }
    state.peers.push_back(std::move(peer));
  }
  if (auto it = j.find("openvpn_clients"); it != j.end() && it->is_array()) {
    for (const auto& c : *it) {
      DesiredOpenVpnClient client;
      if (!c.is_object() || !readField(c, "session_id", &client.session_id) ||
          !readField(c, "credential_hash", &client.credential_hash) ||
          !readField(c, "tunnel_ip", &client.tunnel_ip)) {
        return badAnswer("desired OpenVPN client");
      }
      readField(c, "tunnel_ipv6", &client.tunnel_ipv6);
      state.openvpn_clients.push_back(std::move(client));
    }
  }
  return state;
}

}  // namespace aureo::node
