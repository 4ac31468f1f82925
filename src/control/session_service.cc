#include "control/session_service.h"

#include <set>

#include "core/ids.h"
#include "crypto/x25519.h"

namespace aureo::control {
namespace {

using core::Result;

core::Error fieldError(std::string field, std::string message) {
  return core::invalidArgument(std::move(message), std::move(field));
}

bool isOpen(const std::string& status) {
  return status == "pending" || status == "connected";
}

std::vector<std::string> splitComma(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::vector<std::string> allowedIps(const store::Session& s) {
  std::vector<std::string> out;
  if (!s.tunnel_ip.empty()) out.push_back(s.tunnel_ip + "/32");
  if (!s.tunnel_ipv6.empty()) out.push_back(s.tunnel_ipv6 + "/128");
  return out;
}

// Allocation retries: on PostgreSQL two allocations racing for one address
// end in a unique violation for the loser, which simply tries again.
Result<std::string> allocateWithRetry(store::IpAllocationRepository& ips, const store::Session& s,
                                      const std::string& cidr, core::SystemTime now) {
  for (int attempt = 0;; ++attempt) {
    auto ip = ips.allocate(s.node_id, cidr, s.user_id, s.id, std::nullopt, now);
    if (ip.ok() || ip.error().code != core::Code::kAlreadyExists || attempt == 4) return ip;
  }
}

}  // namespace

std::string wgQuickConfig(const store::Session& session, const store::VpnNode& node,
                          const std::string& private_key) {
  std::string out = "[Interface]\n";
  if (!private_key.empty()) out += "PrivateKey = " + private_key + "\n";
  out += "Address = " + join(allowedIps(session), ", ") + "\n";
  const auto dns = splitComma(node.dns_servers);
  if (!dns.empty()) out += "DNS = " + join(dns, ", ") + "\n";
  out += "\n[Peer]\n";
  out += "PublicKey = " + node.wg_public_key + "\n";
  const std::string host = node.hostname.empty() ? node.public_ip : node.hostname;
  const bool v6_literal = host.find(':') != std::string::npos;
  out += "Endpoint = " + (v6_literal ? "[" + host + "]" : host) + ":" +
         std::to_string(node.wg_port) + "\n";
  out += "AllowedIPs = 0.0.0.0/0, ::/0\n";
  out += "PersistentKeepalive = 25\n";
  return out;
}

core::SystemTime usagePeriodStart(core::SystemTime t) {
  using namespace std::chrono;
  const year_month_day ymd{floor<days>(t)};
  return sys_days{ymd.year() / ymd.month() / 1};
}

SessionService::SessionService(store::Store& store, const core::Clock& clock,
                               const core::Logger& log, SessionPolicy policy,
                               PeerChangeListener on_change)
    : store_(store),
      clock_(clock),
      log_(log),
      policy_(std::move(policy)),
      on_change_(std::move(on_change)),
      selector_(store.nodes()) {}

int64_t SessionService::deviceLimit(const std::string& tier) const {
  auto it = policy_.device_limits.find(tier);
  if (it != policy_.device_limits.end()) return it->second;
  auto free = policy_.device_limits.find("free");
  return free != policy_.device_limits.end() ? free->second : 1;
}

void SessionService::peersChanged(const std::string& node_id) {
  if (auto v = store_.nodes().bumpPeerVersion(node_id); !v.ok()) {
    // The session change is committed; the node will catch up at the next
    // bump or when its long-poll times out and it asks again.
    log_.warn("could not bump peer version",
              {{"node_id", node_id}, {"error", v.error().toString()}});
  }
  if (on_change_) on_change_(node_id);
}

Result<store::VpnNode> SessionService::chooseNode(const CreateSessionRequest& request) {
  if (request.node_id.empty()) {
    auto best = selector_.best({request.country, request.city, request.protocol, {}});
    if (!best.ok() && best.error().code == core::Code::kNotFound) {
      return core::unavailable(request.country.empty()
                                   ? "no VPN node is available right now; try again shortly"
                                   : "no VPN node is available in " + request.country +
                                         " right now");
    }
    return best;
  }
  auto node = store_.nodes().get(request.node_id);
  if (!node.ok()) return node.error();
  if (!eligible(*node, {"", "", request.protocol, {}})) {
    return core::failedPrecondition("node " + node->name +
                                    " is not accepting new sessions (status " + node->status +
                                    "); pick another node or let the server choose");
  }
  return node;
}

Result<CreatedSession> SessionService::create(const CreateSessionRequest& request) {
  if (request.protocol == "openvpn") {
    return fieldError("protocol", "openvpn sessions are not yet supported; use wireguard");
  }
  if (request.protocol != "wireguard") {
    return fieldError("protocol", "protocol must be wireguard or openvpn");
  }
  CreatedSession out;
  std::string public_key = request.client_public_key;
  if (public_key.empty()) {
    auto pair = crypto::generateX25519KeyPair();
    out.private_key = std::move(pair.private_key);
    public_key = std::move(pair.public_key);
  } else if (!crypto::isValidWireGuardKey(public_key)) {
    return fieldError("client_public_key",
                      "client_public_key must be a WireGuard public key (32 bytes, base64)");
  }

  auto user = store_.users().get(request.user_id);
  if (!user.ok()) {
    if (user.error().code == core::Code::kNotFound) return core::unauthenticated("unknown account");
    return user.error();
  }
  if (!user->is_active) return core::permissionDenied("the account is disabled");

  AUREO_ASSIGN_OR_RETURN(out.node, chooseNode(request));
  const core::SystemTime now = clock_.now();

  // One key is one WireGuard peer: on one node it can belong to one open
  // session only. The same user reconnecting with the same key replaces
  // the old session; anyone else's key is refused.
  AUREO_ASSIGN_OR_RETURN(auto open_on_node, store_.sessions().listActiveForNode(out.node.id));
  bool replaced = false;
  for (const auto& s : open_on_node) {
    if (s.client_public_key != public_key) continue;
    if (s.user_id != request.user_id) {
      return core::alreadyExists("this public key is in use by another session");
    }
    auto closed = store_.sessions().close(s.id, "disconnected", "replaced", now);
    if (!closed.ok() && closed.error().code != core::Code::kFailedPrecondition) {
      return closed.error();
    }
    replaced = true;
  }

  store::Session& s = out.session;
  s.id = core::newUuid();
  s.user_id = request.user_id;
  s.node_id = out.node.id;
  s.protocol = request.protocol;
  s.status = "pending";
  s.client_public_key = public_key;
  s.client_ip = request.client_ip;
  s.created_at = now;
  const int64_t limit = deviceLimit(user->subscription_tier);
  if (auto st = store_.sessions().createWithinLimit(s, limit); !st.ok()) {
    if (replaced) peersChanged(out.node.id);
    if (st.error().code == core::Code::kFailedPrecondition) {
      return core::failedPrecondition("device limit reached: the " + user->subscription_tier +
                                      " plan allows " + std::to_string(limit) +
                                      " concurrent session" + (limit == 1 ? "" : "s") +
                                      "; disconnect one first or upgrade");
    }
    return st.error();
  }

  auto fail = [&](const core::Error& e) -> core::Error {
    if (auto c = store_.sessions().close(s.id, "failed", "address_allocation_failed", now);
        !c.ok()) {
      log_.error("could not close a half-created session",
                 {{"session_id", s.id}, {"error", c.error().toString()}});
    }
    if (replaced) peersChanged(out.node.id);
    if (e.code == core::Code::kResourceExhausted) {
      return core::unavailable("node " + out.node.name + " has no free tunnel address");
    }
    return e;
  };
  auto v4 = allocateWithRetry(store_.ipAllocations(), s, out.node.tunnel_ipv4_cidr, now);
  if (!v4.ok()) return fail(v4.error());
  s.tunnel_ip = *v4;
  if (!out.node.tunnel_ipv6_cidr.empty()) {
    auto v6 = allocateWithRetry(store_.ipAllocations(), s, out.node.tunnel_ipv6_cidr, now);
    if (!v6.ok()) return fail(v6.error());
    s.tunnel_ipv6 = *v6;
  }
  if (auto st = store_.sessions().update(s); !st.ok()) return fail(st.error());
  peersChanged(out.node.id);
  out.config = wgQuickConfig(s, out.node, out.private_key);
  log_.info("session created",
            {{"session_id", s.id}, {"user_id", s.user_id}, {"node_id", s.node_id}});
  return out;
}

Result<store::Session> SessionService::disconnect(const std::string& session_id,
                                                  const std::string& actor_user_id, bool admin,
                                                  const std::string& reason) {
  auto s = store_.sessions().get(session_id);
  if (!s.ok()) return s.error();
  if (!admin && s->user_id != actor_user_id) return core::notFound("session not found");
  if (!isOpen(s->status)) return s;
  auto closed = store_.sessions().close(session_id, "disconnected", reason, clock_.now());
  if (!closed.ok()) {
    if (closed.error().code == core::Code::kFailedPrecondition) {
      return store_.sessions().get(session_id);  // someone else closed it meanwhile
    }
    return closed.error();
  }
  peersChanged(closed->node_id);
  return closed;
}

Result<int64_t> SessionService::disconnectAllForUser(const std::string& user_id,
                                                     const std::string& reason) {
  AUREO_ASSIGN_OR_RETURN(auto closed,
                         store_.sessions().closeAllForUser(user_id, reason, clock_.now()));
  std::set<std::string> nodes;
  for (const auto& s : closed) nodes.insert(s.node_id);
  for (const auto& n : nodes) peersChanged(n);
  return static_cast<int64_t>(closed.size());
}

Result<int64_t> SessionService::failOverNode(const std::string& node_id) {
  AUREO_ASSIGN_OR_RETURN(auto closed,
                         store_.sessions().closeAllForNode(node_id, "node_offline", clock_.now()));
  if (!closed.empty()) {
    peersChanged(node_id);
    log_.warn("node offline: sessions ended for failover",
              {{"node_id", node_id}, {"sessions", static_cast<int64_t>(closed.size())}});
  }
  return static_cast<int64_t>(closed.size());
}

Result<int64_t> SessionService::expireIdle() {
  const auto now = clock_.now();
  AUREO_ASSIGN_OR_RETURN(auto idle, store_.sessions().listIdle(now - policy_.pending_timeout,
                                                               now - policy_.handshake_timeout));
  std::set<std::string> nodes;
  int64_t n = 0;
  for (const auto& s : idle) {
    const char* reason = s.status == "pending" ? "no_handshake" : "idle_timeout";
    auto closed = store_.sessions().close(s.id, "disconnected", reason, now);
    if (!closed.ok()) {
      if (closed.error().code == core::Code::kFailedPrecondition) continue;  // closed meanwhile
      return closed.error();
    }
    nodes.insert(s.node_id);
    ++n;
  }
  for (const auto& node : nodes) peersChanged(node);
  return n;
}

Result<ReportOutcome> SessionService::applyReport(const std::string& node_id,
                                                  const std::vector<PeerReport>& peers) {
  AUREO_ASSIGN_OR_RETURN(auto open, store_.sessions().listActiveForNode(node_id));
  std::map<std::string, const store::Session*> by_key;
  for (const auto& s : open) by_key[s.client_public_key] = &s;
  const auto now = clock_.now();
  const auto period = usagePeriodStart(now);
  ReportOutcome out;
  for (const auto& p : peers) {
    auto it = by_key.find(p.public_key);
    if (it == by_key.end()) {
      ++out.unknown;
      continue;
    }
    store::PeerCounters c;
    if (p.last_handshake > 0) c.last_handshake = core::fromUnixSeconds(p.last_handshake);
    c.rx_bytes = p.rx_bytes;
    c.tx_bytes = p.tx_bytes;
    AUREO_ASSIGN_OR_RETURN(auto r,
                           store_.sessions().account(it->second->id, node_id, c, period, now));
    if (!r.applied) continue;  // closed since the list was read
    ++out.accounted;
    if (r.became_connected) ++out.connected;
  }
  if (out.unknown > 0) {
    log_.warn("node reported peers it does not own; ignored",
              {{"node_id", node_id}, {"peers", out.unknown}});
  }
  return out;
}

Result<DesiredState> SessionService::desiredState(const std::string& node_id) {
  DesiredState out;
  AUREO_ASSIGN_OR_RETURN(auto node, store_.nodes().get(node_id));
  out.version = node.peer_version;
  AUREO_ASSIGN_OR_RETURN(auto open, store_.sessions().listActiveForNode(node_id));
  for (const auto& s : open) {
    if (s.protocol != "wireguard" || s.client_public_key.empty() || s.tunnel_ip.empty()) continue;
    out.peers.push_back({s.id, s.client_public_key, allowedIps(s)});
  }
  return out;
}

}  // namespace aureo::control
