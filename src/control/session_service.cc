#include "control/session_service.h"

#include <set>

#include "control/openvpn_authority.h"
#include "core/ids.h"
#include "core/ip.h"
#include "crypto/encoding.h"
#include "crypto/x25519.h"
#include "openvpn/server_config.h"

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

// The part of a node's tunnel prefix a protocol's sessions get addresses
// from (see openvpn::wireguardHalf). WireGuard falls back to the whole
// prefix when it is too small to split; OpenVPN then has no room.
Result<std::string> sessionPrefix(const std::string& node_cidr, bool is_openvpn) {
  auto cidr = core::Cidr::parse(node_cidr);
  if (!cidr) return core::internalError("node has a malformed tunnel prefix " + node_cidr);
  auto half = is_openvpn ? openvpn::openvpnHalf(*cidr) : openvpn::wireguardHalf(*cidr);
  if (half.ok()) return half->toString();
  if (!is_openvpn) return node_cidr;
  return core::unavailable("the node's tunnel prefix " + node_cidr + " is too small for OpenVPN");
}

// The node keeps the first host of each prefix for itself (its resolver
// listens there); "" for a prefix that does not parse.
std::string gatewayAddress(const std::string& prefix) {
  auto cidr = core::Cidr::parse(prefix);
  return cidr ? cidr->address().plus(1).toString() : std::string();
}

}  // namespace

std::vector<std::string> sessionDnsServers(const store::Session& session,
                                           const store::VpnNode& node, bool node_dns_resolver) {
  std::vector<std::string> dns;
  if (node_dns_resolver) {
    if (!session.tunnel_ip.empty()) dns.push_back(gatewayAddress(node.tunnel_ipv4_cidr));
    if (!session.tunnel_ipv6.empty()) dns.push_back(gatewayAddress(node.tunnel_ipv6_cidr));
    std::erase(dns, std::string());
  } else {
    dns = splitComma(node.dns_servers);
  }
  return dns;
}

std::string wgQuickConfig(const store::Session& session, const store::VpnNode& node,
                          const std::string& private_key, bool node_dns_resolver) {
  std::string out = "[Interface]\n";
  if (!private_key.empty()) out += "PrivateKey = " + private_key + "\n";
  out += "Address = " + join(allowedIps(session), ", ") + "\n";
  const std::vector<std::string> dns = sessionDnsServers(session, node, node_dns_resolver);
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
                               PeerChangeListener on_change, OpenVpnAuthority* openvpn)
    : store_(store),
      clock_(clock),
      log_(log),
      policy_(std::move(policy)),
      on_change_(std::move(on_change)),
      selector_(store.nodes()),
      openvpn_(openvpn) {}

int64_t SessionService::deviceLimit(const std::string& tier) const {
  auto it = policy_.device_limits.find(tier);
  if (it != policy_.device_limits.end()) return it->second;
  auto free = policy_.device_limits.find("free");
  return free != policy_.device_limits.end() ? free->second : 1;
}

int64_t SessionService::peersChanged(const std::string& node_id) {
  int64_t version = 0;
  if (auto v = store_.nodes().bumpPeerVersion(node_id); !v.ok()) {
    // The session change is committed; the node will catch up at the next
    // bump or when its long-poll times out and it asks again.
    log_.warn("could not bump peer version",
              {{"node_id", node_id}, {"error", v.error().toString()}});
  } else {
    version = *v;
  }
  if (on_change_) on_change_(node_id);
  return version;
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

Result<std::string> SessionService::openvpnProfile(const store::Session& session,
                                                   const store::VpnNode& node,
                                                   const std::string& credential) {
  AUREO_ASSIGN_OR_RETURN(auto material, openvpn_->material());
  openvpn::ClientProfile p;
  p.name = "Aureo VPN " + node.name + " (" + node.country + ")";
  const std::string host = node.hostname.empty() ? node.public_ip : node.hostname;
  const auto transport =
      node.openvpn_transport == "tcp" ? openvpn::Transport::kTcp : openvpn::Transport::kUdp;
  p.remotes.push_back({host, static_cast<uint16_t>(node.openvpn_port), transport});
  p.ca_pem = material.ca_pem;
  p.tls_crypt_key = material.tls_crypt_key;
  p.server_common_name = OpenVpnAuthority::serverName(node);
  p.inline_credentials = openvpn::ClientCredentials{session.id, credential};
  return openvpn::renderClientProfile(p);
}

Result<CreatedSession> SessionService::create(const CreateSessionRequest& request) {
  const bool is_openvpn = request.protocol == "openvpn";
  if (request.protocol != "wireguard" && !is_openvpn) {
    return fieldError("protocol", "protocol must be wireguard or openvpn");
  }
  if (is_openvpn && openvpn_ == nullptr) {
    return fieldError("protocol", "openvpn is not enabled on this server; use wireguard");
  }
  if (is_openvpn && !request.client_public_key.empty()) {
    return fieldError("client_public_key", "client_public_key is for wireguard sessions only");
  }
  if (is_openvpn) {
    // Before anything is written: a CA that cannot be opened fails here.
    if (auto m = openvpn_->material(); !m.ok()) return m.error();
  }
  CreatedSession out;
  std::string public_key = request.client_public_key;
  if (is_openvpn) {
    // No key: the client logs in with the session id and a credential.
  } else if (public_key.empty()) {
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
  AUREO_ASSIGN_OR_RETURN(const bool over_quota, quotaReached(*user, clock_.now()));
  if (over_quota) {
    return core::permissionDenied("the monthly data quota of the " + user->subscription_tier +
                                  " plan is used up; it renews on the 1st (UTC)");
  }

  AUREO_ASSIGN_OR_RETURN(out.node, chooseNode(request));
  const core::SystemTime now = clock_.now();

  // One key is one WireGuard peer: on one node it can belong to one open
  // session only. The same user reconnecting with the same key replaces
  // the old session; anyone else's key is refused.
  AUREO_ASSIGN_OR_RETURN(auto open_on_node, store_.sessions().listActiveForNode(out.node.id));
  if (is_openvpn) open_on_node.clear();  // no key to be unique
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
  std::string credential;
  if (is_openvpn) {
    credential = crypto::randomToken(32);
    s.credential_hash = crypto::sha256Hex(credential);
  }
  const int64_t limit = deviceLimit(user->subscription_tier);
  auto notifyReplaced = [&] {
    if (replaced) peersChanged(out.node.id);
  };
  auto v4_prefix = sessionPrefix(out.node.tunnel_ipv4_cidr, is_openvpn);
  if (!v4_prefix.ok()) {
    notifyReplaced();
    return v4_prefix.error();
  }
  // A v6 prefix too small to share leaves OpenVPN clients IPv4 only.
  std::string v6_prefix;
  if (!out.node.tunnel_ipv6_cidr.empty()) {
    if (auto p = sessionPrefix(out.node.tunnel_ipv6_cidr, is_openvpn); p.ok()) v6_prefix = *p;
  }
  // One transaction: the session exists with its addresses, or not at all.
  auto created = store_.sessions().createWithAddresses(s, limit, *v4_prefix, v6_prefix, now);
  if (!created.ok()) {
    notifyReplaced();
    const core::Error& e = created.error();
    if (e.code == core::Code::kFailedPrecondition) {
      return core::failedPrecondition("device limit reached: the " + user->subscription_tier +
                                      " plan allows " + std::to_string(limit) +
                                      " concurrent session" + (limit == 1 ? "" : "s") +
                                      "; disconnect one first or upgrade");
    }
    if (e.code == core::Code::kResourceExhausted) {
      return core::unavailable("node " + out.node.name + " has no free tunnel address");
    }
    return e;
  }
  s = created->session;
  out.peer_version = created->peer_version;
  if (on_change_) on_change_(out.node.id);
  if (is_openvpn) {
    auto profile = openvpnProfile(s, out.node, credential);
    if (!profile.ok()) {
      // Written but unusable: close it again so it holds no device slot.
      if (auto c = store_.sessions().close(s.id, "failed", "profile_failed", now); !c.ok()) {
        log_.error("could not close a session without a profile",
                   {{"session_id", s.id}, {"error", c.error().toString()}});
      }
      peersChanged(out.node.id);
      return profile.error();
    }
    out.config = std::move(*profile);
  } else {
    out.config = wgQuickConfig(s, out.node, out.private_key, policy_.node_dns_resolver);
    out.dns = sessionDnsServers(s, out.node, policy_.node_dns_resolver);
  }
  log_.info("session created", {{"session_id", s.id},
                                {"user_id", s.user_id},
                                {"node_id", s.node_id},
                                {"protocol", s.protocol}});
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

Result<bool> SessionService::quotaReached(const store::User& user, core::SystemTime now) {
  auto it = policy_.monthly_quota_bytes.find(user.subscription_tier);
  if (it == policy_.monthly_quota_bytes.end() || it->second <= 0) return false;
  AUREO_ASSIGN_OR_RETURN(auto usage, store_.usage().get(user.id, usagePeriodStart(now)));
  return usage.bytes_sent + usage.bytes_received >= it->second;
}

Result<ReportOutcome> SessionService::applyReport(const std::string& node_id,
                                                  const std::vector<PeerReport>& peers,
                                                  const std::vector<OpenVpnReport>& openvpn) {
  AUREO_ASSIGN_OR_RETURN(auto open, store_.sessions().listActiveForNode(node_id));
  std::map<std::string, const store::Session*> by_key;
  std::map<std::string, const store::Session*> openvpn_by_id;
  for (const auto& s : open) {
    if (s.protocol == "openvpn") {
      openvpn_by_id[s.id] = &s;
    } else {
      by_key[s.client_public_key] = &s;
    }
  }
  const auto now = clock_.now();
  const auto period = usagePeriodStart(now);
  ReportOutcome out;
  std::set<std::string> users;  // whose usage grew: check their quota after
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
    users.insert(it->second->user_id);
  }
  for (const auto& o : openvpn) {
    auto it = openvpn_by_id.find(o.session_id);
    if (it == openvpn_by_id.end()) {
      ++out.unknown;
      continue;
    }
    store::PeerCounters c;
    // OpenVPN has no handshake time to report: a client connected now is as
    // fresh as a WireGuard handshake now, which keeps the idle timeout fair.
    if (o.connected) c.last_handshake = now;
    c.rx_bytes = o.rx_bytes;
    c.tx_bytes = o.tx_bytes;
    AUREO_ASSIGN_OR_RETURN(auto r,
                           store_.sessions().account(it->second->id, node_id, c, period, now));
    if (!r.applied) continue;
    ++out.accounted;
    if (r.became_connected) ++out.connected;
    users.insert(it->second->user_id);
  }
  if (!policy_.monthly_quota_bytes.empty()) {
    for (const auto& user_id : users) {
      auto user = store_.users().get(user_id);
      if (!user.ok()) continue;  // erased meanwhile: its sessions are gone too
      AUREO_ASSIGN_OR_RETURN(const bool over, quotaReached(*user, now));
      if (!over) continue;
      AUREO_ASSIGN_OR_RETURN(const int64_t ended, disconnectAllForUser(user_id, "quota_exceeded"));
      out.quota_ended += ended;
      log_.info("monthly data quota reached; sessions ended",
                {{"user_id", user_id}, {"tier", user->subscription_tier}, {"sessions", ended}});
    }
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
    if (s.tunnel_ip.empty()) continue;
    if (s.protocol == "openvpn") {
      if (s.credential_hash.empty()) continue;
      out.openvpn_clients.push_back({s.id, s.credential_hash, s.tunnel_ip, s.tunnel_ipv6});
      continue;
    }
    if (s.protocol != "wireguard" || s.client_public_key.empty()) continue;
    out.peers.push_back({s.id, s.client_public_key, allowedIps(s)});
  }
  return out;
}

}  // namespace aureo::control
