// JSON views of rows and the input rules shared by handlers.
#include <algorithm>
#include <cctype>

#include "api/internal/context.h"

namespace aureo::api {

Json userJson(const store::User& u) {
  return Json{{"id", u.id},
              {"email", u.email},
              {"username", u.username},
              {"subscription_tier", u.subscription_tier},
              {"role", u.role},
              {"is_active", u.is_active},
              {"created_at", timeString(u.created_at)},
              {"updated_at", timeString(u.updated_at)}};
}

Json nodeJson(const store::VpnNode& n, bool admin_view) {
  Json j{{"id", n.id},
         {"name", n.name},
         {"hostname", n.hostname},
         {"public_ip", n.public_ip},
         {"country", n.country},
         {"city", n.city},
         {"status", n.status},
         {"protocols", n.protocols},
         {"load_score", n.load_score},
         {"max_connections", n.max_connections},
         {"current_connections", n.current_connections},
         {"wg_public_key", n.wg_public_key},
         {"wg_port", n.wg_port},
         {"openvpn_port", n.openvpn_port},
         {"openvpn_transport", n.openvpn_transport}};
  if (admin_view) {
    j["cpu_usage"] = n.cpu_usage;
    j["bytes_sent"] = n.bytes_sent;
    j["bytes_received"] = n.bytes_received;
    j["tunnel_ipv4_cidr"] = n.tunnel_ipv4_cidr;
    j["tunnel_ipv6_cidr"] = n.tunnel_ipv6_cidr;
    j["dns_servers"] = n.dns_servers;
    j["last_heartbeat"] = n.last_heartbeat ? Json(timeString(*n.last_heartbeat)) : Json(nullptr);
    j["created_at"] = timeString(n.created_at);
    j["updated_at"] = timeString(n.updated_at);
  }
  return j;
}

Json sessionJson(const store::Session& s) {
  auto opt = [](const std::optional<core::SystemTime>& t) {
    return t ? Json(timeString(*t)) : Json(nullptr);
  };
  return Json{{"id", s.id},
              {"user_id", s.user_id},
              {"node_id", s.node_id},
              {"protocol", s.protocol},
              {"tunnel_ip", s.tunnel_ip},
              {"tunnel_ipv6", s.tunnel_ipv6},
              {"status", s.status},
              {"client_public_key", s.client_public_key},
              {"connected_at", opt(s.connected_at)},
              {"disconnected_at", opt(s.disconnected_at)},
              {"last_handshake", opt(s.last_handshake)},
              {"bytes_sent", s.bytes_sent},
              {"bytes_received", s.bytes_received},
              {"disconnect_reason", s.disconnect_reason},
              {"created_at", timeString(s.created_at)}};
}

Json auditJson(const store::AuditEntry& a) {
  Json details = Json::parse(a.details, nullptr, false);
  if (details.is_discarded()) details = a.details;
  return Json{{"id", a.id},
              {"actor_id", a.actor_id},
              {"action", a.action},
              {"target_type", a.target_type},
              {"target_id", a.target_id},
              {"details", details},
              {"ip", a.ip},
              {"created_at", timeString(a.created_at)}};
}

core::Result<std::string> validEmail(const Json& body, const char* field) {
  AUREO_ASSIGN_OR_RETURN(std::string email, requiredString(body, field, {3, 254}));
  const auto at = email.find('@');
  const bool shape_ok = at != std::string::npos && at > 0 && at == email.rfind('@') &&
                        at + 1 < email.size() && email.find('.', at) != std::string::npos &&
                        email.back() != '.';
  const bool chars_ok = std::none_of(email.begin(), email.end(), [](unsigned char c) {
    return std::isspace(c) || std::iscntrl(c) || c == '<' || c == '>' || c == ',' || c == ';';
  });
  if (!shape_ok || !chars_ok) return fieldError(field, "email is not a valid address");
  std::transform(email.begin(), email.end(), email.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return email;
}

core::Result<std::string> validUsername(const Json& body, const char* field, bool required) {
  AUREO_ASSIGN_OR_RETURN(auto name, optionalString(body, field, {3, 50}));
  if (!name) {
    if (required) return fieldError(field, std::string(field) + " is required");
    return std::string();
  }
  const bool ok = std::all_of(name->begin(), name->end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
  if (!ok) return fieldError(field, "username may contain only letters, digits, '_', '-' and '.'");
  return *name;
}

core::Result<std::string> validPassword(const Json& body, const char* field) {
  return requiredString(body, field, {8, 1024});
}

bool isTier(const std::string& tier) {
  return tier == "free" || tier == "basic" || tier == "premium" || tier == "enterprise";
}

}  // namespace aureo::api
