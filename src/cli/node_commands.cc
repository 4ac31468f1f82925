// node create|list|show|update|delete|drain|token.
#include <fmt/format.h>

#include "cli/internal/context.h"
#include "cli/table.h"

namespace aureo::cli {
namespace {

// Every writable node field; unset optionals are left out of the request.
struct NodeFields {
  std::optional<std::string> name, public_ip, country, city, hostname, ipv4_cidr, ipv6_cidr, dns,
      status, openvpn_transport;
  std::optional<int> max_connections, wg_port, openvpn_port;
  std::vector<std::string> protocols;

  [[nodiscard]] Json toJson() const {
    Json j = Json::object();
    auto put = [&](const char* key, const auto& v) {
      if (v) j[key] = *v;
    };
    put("name", name);
    put("public_ip", public_ip);
    put("country", country);
    put("city", city);
    put("hostname", hostname);
    put("tunnel_ipv4_cidr", ipv4_cidr);
    put("tunnel_ipv6_cidr", ipv6_cidr);
    put("dns_servers", dns);
    put("status", status);
    put("max_connections", max_connections);
    put("wg_port", wg_port);
    put("openvpn_port", openvpn_port);
    put("openvpn_transport", openvpn_transport);
    if (!protocols.empty()) j["protocols"] = protocols;
    return j;
  }
};

struct NodeOptions {
  std::string node;  // id or name
  NodeFields fields;
  std::string country, city, status, protocol;  // list filters
};

void addFieldOptions(CLI::App* cmd, NodeFields& f, bool create) {
  auto* name = cmd->add_option("--name", f.name, "Unique name, e.g. de-fra-1");
  auto* ip = cmd->add_option("--ip,--public-ip", f.public_ip, "Public IP address clients reach");
  auto* country = cmd->add_option("--country", f.country, "ISO 3166-1 alpha-2 code, e.g. DE");
  if (create) {
    name->required();
    ip->required();
    country->required();
  }
  cmd->add_option("--city", f.city, "City");
  cmd->add_option("--hostname", f.hostname, "DNS name of the node");
  cmd->add_option("--max-connections", f.max_connections, "Session cap")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--protocol", f.protocols, "wireguard and/or openvpn (repeat or comma-separate)")
      ->delimiter(',')
      ->check(CLI::IsMember({"wireguard", "openvpn"}));
  cmd->add_option("--wg-port", f.wg_port, "WireGuard UDP port")->check(CLI::Range(1, 65535));
  cmd->add_option("--openvpn-port", f.openvpn_port, "OpenVPN port (usually 443 for tcp)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--openvpn-transport", f.openvpn_transport, "OpenVPN transport: udp or tcp")
      ->check(CLI::IsMember({"udp", "tcp"}));
  cmd->add_option("--ipv4-cidr", f.ipv4_cidr, "Tunnel IPv4 pool, e.g. 10.8.0.0/16");
  cmd->add_option("--ipv6-cidr", f.ipv6_cidr, "Tunnel IPv6 pool, e.g. fd00:8::/64");
  cmd->add_option("--dns", f.dns, "DNS servers for clients, e.g. 1.1.1.1,1.0.0.1");
  if (!create) {
    cmd->add_option("--status", f.status, "online, offline, maintenance or draining")
        ->check(CLI::IsMember({"online", "offline", "maintenance", "draining"}));
  }
}

std::string connections(const Json& n) {
  return fmt::format("{}/{}", number(n, "current_connections"), number(n, "max_connections"));
}

void printNode(Context& ctx, const Json& n) {
  std::vector<std::pair<std::string, std::string>> fields{
      {"Name", text(n, "name")},
      {"ID", text(n, "id")},
      {"Status", text(n, "status")},
      {"Country", text(n, "country")},
      {"City", text(n, "city")},
      {"Public IP", text(n, "public_ip")},
      {"Hostname", text(n, "hostname")},
      {"Protocols", text(n, "protocols")},
      {"WireGuard port", number(n, "wg_port")},
      {"OpenVPN port", number(n, "openvpn_port")},
      {"OpenVPN transport", text(n, "openvpn_transport")},
      {"WireGuard key", text(n, "wg_public_key")},
      {"Connections", connections(n)},
      {"Load score", number(n, "load_score")}};
  // Admin-only fields, when the API sent them.
  if (n.contains("cpu_usage")) {
    fields.insert(fields.end(), {{"CPU usage", number(n, "cpu_usage")},
                                 {"Sent", bytes(n, "bytes_sent")},
                                 {"Received", bytes(n, "bytes_received")},
                                 {"Tunnel IPv4", text(n, "tunnel_ipv4_cidr")},
                                 {"Tunnel IPv6", text(n, "tunnel_ipv6_cidr")},
                                 {"DNS servers", text(n, "dns_servers")},
                                 {"Last heartbeat", text(n, "last_heartbeat")},
                                 {"Created", text(n, "created_at")}});
  }
  ctx.out << renderFields(fields);
}

core::Status create(Context& ctx, const NodeOptions& o) {
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  AUREO_ASSIGN_OR_RETURN(Json n, api->call("POST", "/api/v1/admin/nodes", o.fields.toJson()));
  if (ctx.json()) {
    ctx.printJson(n);
    return {};
  }
  const Json& node = n.contains("node") && n["node"].is_object() ? n["node"] : n;
  ctx.out << fmt::format("Created node {} ({}).\n", text(node, "name"), text(node, "id"));
  if (auto token = n.find("enrollment_token"); token != n.end() && token->is_string()) {
    ctx.out << "Enrollment token (shown once; give it to aureo-node on the server):\n"
            << token->get<std::string>() << "\n";
  }
  return {};
}

bool matches(const Json& n, const NodeOptions& o) {
  auto eqi = [](std::string a, std::string b) {
    for (auto& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : b) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return a == b;
  };
  if (!o.country.empty() && !eqi(n.value("country", ""), o.country)) return false;
  if (!o.city.empty() && !eqi(n.value("city", ""), o.city)) return false;
  if (!o.status.empty() && n.value("status", "") != o.status) return false;
  if (!o.protocol.empty()) {
    const auto protocols = n.value("protocols", Json::array());
    if (std::find(protocols.begin(), protocols.end(), Json(o.protocol)) == protocols.end()) {
      return false;
    }
  }
  return true;
}

core::Status list(Context& ctx, const NodeOptions& o) {
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  // Admins see every node with operational detail; users the public list.
  AUREO_ASSIGN_OR_RETURN(Json r,
                         api->call("GET", ctx.isAdmin() ? "/api/v1/admin/nodes" : "/api/v1/nodes"));
  Json nodes = Json::array();
  for (const auto& n : r.value("nodes", Json::array())) {
    if (matches(n, o)) nodes.push_back(n);
  }
  if (ctx.json()) {
    ctx.printJson(Json{{"nodes", nodes}, {"total", nodes.size()}});
    return {};
  }
  Table t(
      {"NAME", "COUNTRY", "CITY", "STATUS", "PUBLIC IP", "PROTOCOLS", "LOAD", "CONNECTIONS", "ID"});
  for (const auto& n : nodes) {
    t.addRow({text(n, "name"), text(n, "country"), text(n, "city"), text(n, "status"),
              text(n, "public_ip"), text(n, "protocols"), number(n, "load_score"), connections(n),
              text(n, "id")});
  }
  ctx.out << t.render();
  return {};
}

core::Status show(Context& ctx, const NodeOptions& o) {
  AUREO_ASSIGN_OR_RETURN(Json n, ctx.findNode(o.node));
  if (ctx.json()) {
    ctx.printJson(n);
  } else {
    printNode(ctx, n);
  }
  return {};
}

core::Status update(Context& ctx, const NodeOptions& o) {
  const Json body = o.fields.toJson();
  if (body.empty()) return usageError("node update: give at least one field to change");
  AUREO_ASSIGN_OR_RETURN(Json found, ctx.findNode(o.node));
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  AUREO_ASSIGN_OR_RETURN(Json n,
                         api->call("PATCH", "/api/v1/admin/nodes/" + found.value("id", ""), body));
  if (ctx.json()) {
    ctx.printJson(n);
  } else {
    printNode(ctx, n);
  }
  return {};
}

core::Status remove(Context& ctx, const NodeOptions& o) {
  AUREO_ASSIGN_OR_RETURN(Json found, ctx.findNode(o.node));
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  const std::string id = found.value("id", "");
  AUREO_ASSIGN_OR_RETURN(Json r, api->call("DELETE", "/api/v1/admin/nodes/" + id));
  (void)r;
  if (ctx.json()) {
    ctx.printJson(Json{{"id", id}, {"deleted", true}});
  } else {
    ctx.out << fmt::format("Deleted node {} ({}).\n", text(found, "name"), id);
  }
  return {};
}

// POST /admin/nodes/{id}/<verb>: drain, enrollment-token.
core::Status nodeAction(Context& ctx, const NodeOptions& o, const std::string& verb) {
  AUREO_ASSIGN_OR_RETURN(Json found, ctx.findNode(o.node));
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  const std::string id = found.value("id", "");
  AUREO_ASSIGN_OR_RETURN(
      Json r,
      api->call("POST", fmt::format("/api/v1/admin/nodes/{}/{}", id, verb), Json::object()));
  if (ctx.json()) {
    ctx.printJson(r);
    return {};
  }
  if (verb == "drain") {
    const Json& node = r.contains("node") && r["node"].is_object() ? r["node"] : r;
    ctx.out << fmt::format(
        "Node {} is draining: it takes no new sessions and can be removed once its {} "
        "sessions end.\n",
        text(found, "name"), number(node, "current_connections"));
  } else {
    ctx.out << fmt::format(
        "New enrollment token for {} (shown once; earlier unused tokens stop working):\n{}\n",
        text(found, "name"), r.value("enrollment_token", "-"));
  }
  return {};
}

}  // namespace

void addNodeCommands(CLI::App& app, Context& ctx, Action& action) {
  auto* node = app.add_subcommand("node", "Manage VPN nodes (admin)");
  node->require_subcommand(1);

  auto bind = [&ctx, &action](CLI::App* cmd, const std::shared_ptr<NodeOptions>& o,
                              core::Status (*fn)(Context&, const NodeOptions&)) {
    cmd->callback([&ctx, &action, o, fn] { action = [&ctx, o, fn] { return fn(ctx, *o); }; });
  };
  auto nodeArg = [](CLI::App* cmd, NodeOptions& o) {
    cmd->add_option("node", o.node, "Node id or name")->required();
  };

  {
    auto o = std::make_shared<NodeOptions>();
    auto* cmd = node->add_subcommand("create", "Register a node and print its enrollment token");
    addFieldOptions(cmd, o->fields, true);
    bind(cmd, o, create);
  }
  {
    auto o = std::make_shared<NodeOptions>();
    auto* cmd = node->add_subcommand("list", "List nodes");
    cmd->add_option("--country", o->country, "Only this country (ISO code)");
    cmd->add_option("--city", o->city, "Only this city");
    cmd->add_option("--status", o->status, "Only this status")
        ->check(CLI::IsMember({"online", "offline", "maintenance", "draining"}));
    cmd->add_option("--protocol", o->protocol, "Only nodes offering this protocol")
        ->check(CLI::IsMember({"wireguard", "openvpn"}));
    bind(cmd, o, list);
  }
  {
    auto o = std::make_shared<NodeOptions>();
    auto* cmd = node->add_subcommand("show", "Show one node");
    nodeArg(cmd, *o);
    bind(cmd, o, show);
  }
  {
    auto o = std::make_shared<NodeOptions>();
    auto* cmd = node->add_subcommand("update", "Change a node's settings");
    nodeArg(cmd, *o);
    addFieldOptions(cmd, o->fields, false);
    bind(cmd, o, update);
  }
  {
    auto o = std::make_shared<NodeOptions>();
    auto* cmd = node->add_subcommand("delete", "Remove a node");
    nodeArg(cmd, *o);
    bind(cmd, o, remove);
  }
  {
    auto o = std::make_shared<NodeOptions>();
    auto* cmd = node->add_subcommand("drain", "Stop sending new sessions to a node");
    nodeArg(cmd, *o);
    cmd->callback(
        [&ctx, &action, o] { action = [&ctx, o] { return nodeAction(ctx, *o, "drain"); }; });
  }
  {
    auto o = std::make_shared<NodeOptions>();
    auto* cmd = node->add_subcommand(
        "token", "Issue a new enrollment token for a node (to re-install or re-enroll it)");
    nodeArg(cmd, *o);
    cmd->callback([&ctx, &action, o] {
      action = [&ctx, o] { return nodeAction(ctx, *o, "enrollment-token"); };
    });
  }
}

}  // namespace aureo::cli
