// session list|kill, stats.
#include <map>

#include <fmt/format.h>

#include "cli/internal/context.h"
#include "cli/table.h"
#include "core/ids.h"

namespace aureo::cli {
namespace {

struct SessionOptions {
  std::string id;
  bool mine = false;
  std::string user, node, status;
  int limit = 50;
  int offset = 0;
};

// id -> display name from a list answer, for friendlier tables. Best effort:
// a failed lookup leaves the ids showing.
std::map<std::string, std::string> namesById(ApiClient& api, const std::string& path,
                                             const char* list_key, const char* name_key) {
  std::map<std::string, std::string> out;
  auto r = api.call("GET", path);
  if (!r.ok()) return out;
  for (const auto& item : r->value(list_key, Json::array())) {
    out[item.value("id", "")] = item.value(name_key, "");
  }
  return out;
}

std::string nameOr(const std::map<std::string, std::string>& names, const std::string& id) {
  auto it = names.find(id);
  return it == names.end() || it->second.empty() ? id : it->second;
}

core::Status list(Context& ctx, const SessionOptions& o) {
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  const bool admin = ctx.isAdmin() && !o.mine;
  if (!admin && (!o.user.empty() || !o.node.empty())) {
    return usageError("--user and --node filter every user's sessions, which only admins see");
  }
  std::string path =
      fmt::format("{}?limit={}&offset={}",
                  admin ? "/api/v1/admin/sessions" : "/api/v1/user/sessions", o.limit, o.offset);
  if (!o.status.empty()) path += "&status=" + urlEncode(o.status);
  if (!o.user.empty()) {
    std::string user_id = o.user;
    if (!core::isUuid(user_id)) {
      AUREO_ASSIGN_OR_RETURN(Json u, ctx.findUser(o.user));
      user_id = u.value("id", "");
    }
    path += "&user=" + urlEncode(user_id);
  }
  if (!o.node.empty()) {
    AUREO_ASSIGN_OR_RETURN(Json n, ctx.findNode(o.node));
    path += "&node=" + urlEncode(n.value("id", ""));
  }
  AUREO_ASSIGN_OR_RETURN(Json r, api->call("GET", path));
  if (ctx.json()) {
    ctx.printJson(r);
    return {};
  }
  const Json sessions = r.value("sessions", Json::array());
  const auto nodes =
      namesById(*api, admin ? "/api/v1/admin/nodes" : "/api/v1/nodes", "nodes", "name");
  std::map<std::string, std::string> users;
  if (admin && !sessions.empty()) {
    users = namesById(*api, "/api/v1/admin/users?limit=500", "users", "email");
  }
  std::vector<std::string> headers{"ID",        "STATUS",    "PROTOCOL", "NODE",
                                   "TUNNEL IP", "CONNECTED", "SENT",     "RECEIVED"};
  if (admin) headers.insert(headers.begin() + 1, "USER");
  Table t(headers);
  for (const auto& s : sessions) {
    std::vector<std::string> row{text(s, "id"),          text(s, "status"),
                                 text(s, "protocol"),    nameOr(nodes, s.value("node_id", "")),
                                 text(s, "tunnel_ip"),   text(s, "connected_at"),
                                 bytes(s, "bytes_sent"), bytes(s, "bytes_received")};
    if (admin) row.insert(row.begin() + 1, nameOr(users, s.value("user_id", "")));
    t.addRow(row);
  }
  ctx.out << t.render();
  const auto total = r.value("total", int64_t{0});
  const auto shown = static_cast<int64_t>(sessions.size());
  if (o.offset + shown < total) {
    ctx.out << fmt::format("({} of {} sessions shown; next page: --offset {})\n", shown, total,
                           o.offset + shown);
  }
  return {};
}

core::Status kill(Context& ctx, const SessionOptions& o) {
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  const bool admin = ctx.isAdmin() && !o.mine;
  const std::string path =
      (admin ? "/api/v1/admin/sessions/" : "/api/v1/sessions/") + urlEncode(o.id);
  AUREO_ASSIGN_OR_RETURN(Json r, api->call("DELETE", path));
  if (ctx.json()) {
    ctx.printJson(r.is_null() ? Json{{"id", o.id}, {"disconnected", true}} : r);
  } else {
    ctx.out << fmt::format("Session {} ended.\n", o.id);
  }
  return {};
}

void groupTable(Context& ctx, const Json& groups, const char* title, const char* key_header) {
  ctx.out << "\n" << title << "\n";
  Table t({key_header, "ACTIVE SESSIONS", "SENT", "RECEIVED"});
  for (const auto& g : groups) {
    std::string key = text(g, "name");
    if (key == "-") key = text(g, "key");
    t.addRow(
        {key, number(g, "sessions_active"), bytes(g, "bytes_sent"), bytes(g, "bytes_received")});
  }
  ctx.out << t.render();
}

core::Status stats(Context& ctx) {
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  AUREO_ASSIGN_OR_RETURN(Json s, api->call("GET", "/api/v1/admin/stats"));
  if (ctx.json()) {
    ctx.printJson(s);
    return {};
  }
  const Json users = s.value("users", Json::object());
  const Json nodes = s.value("nodes", Json::object());
  const Json sessions = s.value("sessions", Json::object());
  const Json traffic = s.value("traffic", Json::object());
  std::string tiers;
  // A named copy: items() on a temporary would outlive it.
  const Json by_tier = users.value("by_tier", Json::object());
  for (const auto& [tier, n] : by_tier.items()) {
    tiers += fmt::format("{}{} {}", tiers.empty() ? "" : ", ", n.dump(), tier);
  }
  ctx.out << renderFields(
      {{"Users", fmt::format("{} ({} active)", number(users, "total"), number(users, "active"))},
       {"By tier", tiers.empty() ? "-" : tiers},
       {"Nodes", fmt::format("{} ({} online)", number(nodes, "total"), number(nodes, "online"))},
       {"Sessions", fmt::format("{} active, {} in total", number(sessions, "active"),
                                number(sessions, "total"))},
       {"Traffic", fmt::format("{} sent, {} received", bytes(traffic, "bytes_sent"),
                               bytes(traffic, "bytes_received"))}});
  groupTable(ctx, s.value("per_node", Json::array()), "Per node", "NODE");
  groupTable(ctx, s.value("per_country", Json::array()), "Per country", "COUNTRY");
  return {};
}

}  // namespace

void addSessionCommands(CLI::App& app, Context& ctx, Action& action) {
  auto* session = app.add_subcommand("session", "List and end VPN sessions");
  session->require_subcommand(1);
  {
    auto o = std::make_shared<SessionOptions>();
    auto* cmd = session->add_subcommand(
        "list", "List sessions: every user's for admins, your own otherwise");
    cmd->add_flag("--mine", o->mine, "Only your own sessions (admins too)");
    cmd->add_option("--user", o->user, "Only this user's (id, email or username; admin)");
    cmd->add_option("--node", o->node, "Only on this node (id or name; admin)");
    cmd->add_option("--status", o->status, "Only this status (active = pending or connected)")
        ->check(CLI::IsMember({"active", "pending", "connected", "disconnected", "failed"}));
    cmd->add_option("--limit", o->limit, "Page size (1-500)")
        ->capture_default_str()
        ->check(CLI::Range(1, 500));
    cmd->add_option("--offset", o->offset, "Skip this many sessions")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return list(ctx, *o); }; });
  }
  {
    auto o = std::make_shared<SessionOptions>();
    auto* cmd = session->add_subcommand(
        "kill", "End a session (any user's for admins, your own otherwise)");
    cmd->add_option("id", o->id, "Session id")->required();
    cmd->add_flag("--mine", o->mine, "Use the route for your own sessions (admins too)");
    cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return kill(ctx, *o); }; });
  }

  app.add_subcommand("stats", "Totals, per node and per country (admin)")
      ->callback([&ctx, &action] { action = [&ctx] { return stats(ctx); }; });
}

}  // namespace aureo::cli
