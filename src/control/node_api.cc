#include "control/node_api.h"

#include <nlohmann/json.hpp>

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "control/enrollment.h"
#include "control/notifier.h"
#include "control/openvpn_authority.h"
#include "control/session_service.h"
#include "http/server.h"
#include "store/store.h"

namespace aureo::control {
namespace {

using boost::asio::awaitable;
using http::Request;
using http::Response;
using Json = nlohmann::json;

constexpr size_t kMaxReportedPeers = 200'000;

Response jsonResponse(int status, const Json& body) {
  return Response::json(status, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Response errorResponse(const core::Error& e) {
  if (e.code == core::Code::kInvalidArgument && !e.field.empty()) {
    return Response::error(422, "validation_failed", e.message, e.field);
  }
  if (e.code == core::Code::kUnauthenticated) {
    auto r = Response::error(e);
    r.header("WWW-Authenticate", "Bearer realm=\"aureo-node\"");
    return r;
  }
  return Response::error(e);
}

core::Error fieldError(const std::string& field, const std::string& message) {
  return core::invalidArgument(message, field);
}

core::Result<Json> parseObject(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return core::invalidArgument("request body must be a JSON object");
  }
  return j;
}

// A string field; absent (or null) gives nullopt unless required.
core::Result<std::optional<std::string>> stringField(const Json& o, const char* name, bool required,
                                                     size_t max_len) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) {
    if (required) return fieldError(name, std::string(name) + " is required");
    return std::optional<std::string>();
  }
  if (!it->is_string()) return fieldError(name, std::string(name) + " must be a string");
  auto s = it->get<std::string>();
  if (s.size() > max_len) return fieldError(name, std::string(name) + " is too long");
  return std::optional<std::string>(std::move(s));
}

core::Result<int64_t> intField(const Json& o, const char* name, bool required) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) {
    if (required) return fieldError(name, std::string(name) + " is required");
    return int64_t{0};
  }
  if (it->is_number_unsigned()) {
    const auto v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fieldError(name, std::string(name) + " is too large");
    }
    return static_cast<int64_t>(v);
  }
  if (it->is_number_integer()) {
    const auto v = it->get<int64_t>();
    if (v < 0) return fieldError(name, std::string(name) + " must not be negative");
    return v;
  }
  return fieldError(name, std::string(name) + " must be a non-negative integer");
}

core::Result<double> percentField(const Json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return fieldError(name, std::string(name) + " is required");
  if (!it->is_number()) return fieldError(name, std::string(name) + " must be a number");
  const double v = it->get<double>();
  if (!(v >= 0.0 && v <= 100.0)) {
    return fieldError(name, std::string(name) + " must be between 0 and 100");
  }
  return v;
}

std::optional<int64_t> parseQueryInt(const std::string& text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size()) return std::nullopt;
  return v;
}

Json stateJson(const DesiredState& state) {
  Json peers = Json::array();
  for (const auto& p : state.peers) {
    peers.push_back(Json{{"session_id", p.session_id},
                         {"public_key", p.public_key},
                         {"allowed_ips", p.allowed_ips}});
  }
  Json openvpn = Json::array();
  for (const auto& c : state.openvpn_clients) {
    openvpn.push_back(Json{{"session_id", c.session_id},
                           {"credential_hash", c.credential_hash},
                           {"tunnel_ip", c.tunnel_ip},
                           {"tunnel_ipv6", c.tunnel_ipv6}});
  }
  return Json{{"version", state.version},
              {"peers", std::move(peers)},
              {"openvpn_clients", std::move(openvpn)}};
}

Json dnsList(const std::string& text) {
  Json out = Json::array();
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

}  // namespace

struct NodeApi::Impl {
  store::Store& store;
  SessionService& sessions;
  PeerNotifier& notifier;
  const core::Clock& clock;
  const core::Logger& log;
  NodeApiConfig config;
  // The applied version last written per node, so a long-poll that brings
  // nothing new costs no write.
  std::mutex applied_mu{};
  std::unordered_map<std::string, int64_t> applied{};  // guarded by applied_mu

  // A node asking for changes after `seen` has applied `seen`: record it so a
  // gateway in any process can tell when a new peer is live on the node.
  void recordApplied(const std::string& node_id, int64_t seen, int64_t current) {
    const int64_t v = std::min(seen, current);  // never more than was handed out
    {
      std::lock_guard lock(applied_mu);
      auto [it, inserted] = applied.try_emplace(node_id, v);
      if (!inserted && it->second >= v) return;
      it->second = v;
    }
    if (auto st = store.nodes().recordAppliedPeerVersion(node_id, v); !st.ok()) {
      std::lock_guard lock(applied_mu);
      applied.erase(node_id);  // try again on the next poll
      log.warn("could not record the applied peer version",
               {{"node_id", node_id}, {"error", st.error().toString()}});
    }
  }

  // Wraps a handler with bearer-credential authentication; the node id
  // goes to req.user_id (role "node").
  http::Handler authenticated(http::Handler handler) {
    return [this, handler = std::move(handler)](Request& req) -> awaitable<Response> {
      const std::string_view auth = req.header("authorization");
      if (auth.size() < 8 || !(auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
        co_return errorResponse(core::unauthenticated("missing bearer node credential"));
      }
      auto node_id = authenticateNode(store, std::string(auth.substr(7)));
      if (!node_id.ok()) co_return errorResponse(node_id.error());
      req.user_id = *node_id;
      req.role = "node";
      co_return co_await handler(req);
    };
  }

  awaitable<Response> enroll(Request& req) {
    auto body = parseObject(req.body);
    if (!body.ok()) co_return errorResponse(body.error());
    auto token = stringField(*body, "enrollment_token", true, 512);
    if (!token.ok()) co_return errorResponse(token.error());
    auto key = stringField(*body, "wg_public_key", true, 64);
    if (!key.ok()) co_return errorResponse(key.error());
    auto hostname = stringField(*body, "hostname", false, 253);
    if (!hostname.ok()) co_return errorResponse(hostname.error());
    auto enrolled = enrollNode(store, **token, **key, hostname->value_or(""), clock.now());
    if (!enrolled.ok()) co_return errorResponse(enrolled.error());
    const auto& n = enrolled->node;
    log.info("node enrolled", {{"node_id", n.id}, {"name", n.name}});
    co_return jsonResponse(200,
                           Json{{"node_id", n.id},
                                {"node_credential", enrolled->credential},
                                {"config",
                                 {{"tunnel_ipv4_cidr", n.tunnel_ipv4_cidr},
                                  {"tunnel_ipv6_cidr", n.tunnel_ipv6_cidr},
                                  {"wg_port", n.wg_port},
                                  {"dns_servers", dnsList(n.dns_servers)},
                                  {"dns_resolver", config.dns_resolver},
                                  {"heartbeat_interval_s", config.heartbeat_interval.count()},
                                  {"report_interval_s", config.report_interval.count()},
                                  {"long_poll_timeout_s", config.long_poll_timeout.count()}}}});
  }

  awaitable<Response> heartbeat(Request& req) {
    auto body = parseObject(req.body);
    if (!body.ok()) co_return errorResponse(body.error());
    auto status = stringField(*body, "status", true, 20);
    if (!status.ok()) co_return errorResponse(status.error());
    if (**status != "online" && **status != "draining") {
      co_return errorResponse(fieldError("status", "status must be online or draining"));
    }
    auto cpu = percentField(*body, "cpu_usage");
    if (!cpu.ok()) co_return errorResponse(cpu.error());
    store::NodeHeartbeat hb;
    hb.status = **status;
    hb.cpu_usage = *cpu;
    for (auto [name, out, required] : {std::tuple{"bytes_sent", &hb.bytes_sent, true},
                                       std::tuple{"bytes_received", &hb.bytes_received, true}}) {
      auto v = intField(*body, name, required);
      if (!v.ok()) co_return errorResponse(v.error());
      *out = *v;
    }
    // Validated but not stored: the control plane counts a node's
    // connections from its open sessions (vpn_nodes.current_connections).
    for (const char* name : {"connections", "openvpn_connections"}) {
      auto v = intField(*body, name, std::string_view(name) == "connections");
      if (!v.ok()) co_return errorResponse(v.error());
    }
    auto node_status = store.nodes().recordHeartbeat(req.user_id, hb, clock.now());
    if (!node_status.ok()) co_return errorResponse(node_status.error());
    Json out{{"node_status", *node_status}, {"dns_resolver", config.dns_resolver}};
    // The node's current upstreams and OpenVPN transport, so an admin's
    // change reaches it within a heartbeat; left out if the read fails (the
    // node keeps what it has).
    if (auto node = store.nodes().get(req.user_id); node.ok()) {
      out["dns_servers"] = dnsList(node->dns_servers);
      out["openvpn_transport"] = node->openvpn_transport;
      out["openvpn_port"] = node->openvpn_port;
    }
    co_return jsonResponse(200, out);
  }

  awaitable<Response> report(Request& req) {
    auto body = parseObject(req.body);
    if (!body.ok()) co_return errorResponse(body.error());
    auto it = body->find("peers");
    if (it == body->end() || !it->is_array()) {
      co_return errorResponse(fieldError("peers", "peers must be an array"));
    }
    if (it->size() > kMaxReportedPeers) {
      co_return errorResponse(fieldError("peers", "too many peers in one report"));
    }
    std::vector<PeerReport> peers;
    peers.reserve(it->size());
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& p = (*it)[i];
      const std::string at = "peers[" + std::to_string(i) + "]";
      if (!p.is_object()) co_return errorResponse(fieldError(at, at + " must be an object"));
      PeerReport r;
      auto key = stringField(p, "public_key", true, 64);
      if (!key.ok()) co_return errorResponse(fieldError(at + ".public_key", key.error().message));
      r.public_key = **key;
      for (auto [name, out] :
           {std::pair{"last_handshake", &r.last_handshake}, std::pair{"rx_bytes", &r.rx_bytes},
            std::pair{"tx_bytes", &r.tx_bytes}}) {
        auto v = intField(p, name, true);
        if (!v.ok()) co_return errorResponse(fieldError(at + "." + name, v.error().message));
        *out = *v;
      }
      peers.push_back(std::move(r));
    }
    std::vector<OpenVpnReport> openvpn;
    if (auto ov = body->find("openvpn_sessions"); ov != body->end() && !ov->is_null()) {
      if (!ov->is_array()) {
        co_return errorResponse(
            fieldError("openvpn_sessions", "openvpn_sessions must be an array"));
      }
      if (ov->size() > kMaxReportedPeers) {
        co_return errorResponse(fieldError("openvpn_sessions", "too many sessions in one report"));
      }
      for (size_t i = 0; i < ov->size(); ++i) {
        const Json& o = (*ov)[i];
        const std::string at = "openvpn_sessions[" + std::to_string(i) + "]";
        if (!o.is_object()) co_return errorResponse(fieldError(at, at + " must be an object"));
        OpenVpnReport r;
        auto id = stringField(o, "session_id", true, 64);
        if (!id.ok()) co_return errorResponse(fieldError(at + ".session_id", id.error().message));
        r.session_id = **id;
        auto connected = o.find("connected");
        if (connected == o.end() || !connected->is_boolean()) {
          co_return errorResponse(fieldError(at + ".connected", "connected must be a boolean"));
        }
        r.connected = connected->get<bool>();
        for (auto [name, out] :
             {std::pair{"rx_bytes", &r.rx_bytes}, std::pair{"tx_bytes", &r.tx_bytes}}) {
          auto v = intField(o, name, true);
          if (!v.ok()) co_return errorResponse(fieldError(at + "." + name, v.error().message));
          *out = *v;
        }
        openvpn.push_back(std::move(r));
      }
    }
    auto outcome = sessions.applyReport(req.user_id, peers, openvpn);
    if (!outcome.ok()) co_return errorResponse(outcome.error());
    co_return Response::json(204, "");
  }

  // Signs the node's OpenVPN server certificate request and hands over what
  // its server config needs besides its own key. Marks the node as serving
  // OpenVPN, so sessions can be placed on it.
  awaitable<Response> openvpnCertificate(Request& req) {
    OpenVpnAuthority* authority = sessions.openvpn();
    if (authority == nullptr) {
      co_return errorResponse(core::failedPrecondition("OpenVPN is not enabled on this server"));
    }
    auto body = parseObject(req.body);
    if (!body.ok()) co_return errorResponse(body.error());
    auto csr = stringField(*body, "csr", true, size_t{16} * 1024);
    if (!csr.ok()) co_return errorResponse(csr.error());
    auto node = store.nodes().get(req.user_id);
    if (!node.ok()) co_return errorResponse(node.error());
    auto material = authority->material();
    if (!material.ok()) co_return errorResponse(material.error());
    auto signed_cert = authority->signNode(*node, **csr);
    if (!signed_cert.ok()) co_return errorResponse(signed_cert.error());
    // One column only: a full update would race the heartbeat's status.
    if (std::find(node->protocols.begin(), node->protocols.end(), "openvpn") ==
        node->protocols.end()) {
      auto st = store.nodes().addProtocol(node->id, "openvpn", clock.now());
      if (!st.ok()) co_return errorResponse(st.error());
      log.info("node serves OpenVPN", {{"node_id", node->id}});
    }
    co_return jsonResponse(200, Json{{"server_cert", signed_cert->cert_pem},
                                     {"ca_cert", material->ca_pem},
                                     {"tls_crypt_key", material->tls_crypt_key},
                                     {"not_after", core::unixSeconds(signed_cert->not_after)},
                                     {"port", node->openvpn_port},
                                     {"transport", node->openvpn_transport}});
  }

  awaitable<Response> desiredState(Request& req) {
    std::optional<int64_t> seen;
    if (auto v = req.queryParam("version")) {
      seen = parseQueryInt(*v);
      if (!seen || *seen < 0) {
        co_return errorResponse(fieldError("version", "version must be a non-negative integer"));
      }
    }
    int64_t wait_s = 0;
    if (auto w = req.queryParam("wait")) {
      auto parsed = parseQueryInt(*w);
      if (!parsed || *parsed < 0) {
        co_return errorResponse(fieldError("wait", "wait must be a non-negative integer"));
      }
      wait_s = std::min<int64_t>(*parsed, config.max_wait.count());
    }
    const std::string node_id = req.user_id;
    auto node = store.nodes().get(node_id);
    if (!node.ok()) co_return errorResponse(node.error());
    if (seen) recordApplied(node_id, *seen, node->peer_version);
    if (seen && *seen == node->peer_version && wait_s > 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
      int64_t version = node->peer_version;
      while (version == *seen && std::chrono::steady_clock::now() < deadline &&
             !notifier.isShutDown()) {
        co_await notifier.wait(node_id, version, deadline);
        auto again = store.nodes().get(node_id);
        if (!again.ok()) co_return errorResponse(again.error());
        version = again->peer_version;
      }
    }
    auto state = sessions.desiredState(node_id);
    if (!state.ok()) co_return errorResponse(state.error());
    co_return jsonResponse(200, stateJson(*state));
  }
};

NodeApi::NodeApi(store::Store& store, SessionService& sessions, PeerNotifier& notifier,
                 const core::Clock& clock, const core::Logger& log, NodeApiConfig config)
    : impl_(new Impl{store, sessions, notifier, clock, log, config}) {}

NodeApi::~NodeApi() = default;

void NodeApi::addRoutes(http::Router& router) {
  Impl* impl = impl_.get();
  router.add("POST", "/api/v1/node/enroll",
             [impl](Request& req) -> awaitable<Response> { co_return co_await impl->enroll(req); });
  router.add("POST", "/api/v1/node/heartbeat",
             impl->authenticated([impl](Request& req) -> awaitable<Response> {
               co_return co_await impl->heartbeat(req);
             }));
  router.add("POST", "/api/v1/node/sessions/report",
             impl->authenticated([impl](Request& req) -> awaitable<Response> {
               co_return co_await impl->report(req);
             }));
  router.add("POST", "/api/v1/node/openvpn/certificate",
             impl->authenticated([impl](Request& req) -> awaitable<Response> {
               co_return co_await impl->openvpnCertificate(req);
             }));
  router.add("GET", "/api/v1/node/desired-state",
             impl->authenticated([impl](Request& req) -> awaitable<Response> {
               co_return co_await impl->desiredState(req);
             }));
}

}  // namespace aureo::control
