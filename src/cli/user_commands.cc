// user list|show|disable|enable|set-tier|delete (admin).
#include <fmt/format.h>

#include "cli/internal/context.h"
#include "cli/table.h"

namespace aureo::cli {
namespace {

struct UserOptions {
  std::string user;  // id, email or username
  std::string tier;
  // list
  std::string search;
  std::string filter_tier;
  bool only_active = false;
  bool only_disabled = false;
  int limit = 50;
  int offset = 0;
};

void printUser(Context& ctx, const Json& u) {
  std::vector<std::pair<std::string, std::string>> fields{{"Email", text(u, "email")},
                                                          {"Username", text(u, "username")},
                                                          {"ID", text(u, "id")},
                                                          {"Role", text(u, "role")},
                                                          {"Tier", text(u, "subscription_tier")},
                                                          {"Active", text(u, "is_active")}};
  if (u.contains("active_sessions"))
    fields.emplace_back("Active sessions", number(u, "active_sessions"));
  fields.emplace_back("Created", text(u, "created_at"));
  fields.emplace_back("Updated", text(u, "updated_at"));
  ctx.out << renderFields(fields);
}

core::Status list(Context& ctx, const UserOptions& o) {
  if (o.only_active && o.only_disabled)
    return usageError("--active and --disabled exclude each other");
  std::string query = fmt::format("?limit={}&offset={}", o.limit, o.offset);
  if (!o.search.empty()) query += "&search=" + urlEncode(o.search);
  if (!o.filter_tier.empty()) query += "&tier=" + o.filter_tier;
  if (o.only_active) query += "&active=true";
  if (o.only_disabled) query += "&active=false";
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  AUREO_ASSIGN_OR_RETURN(Json page, api->call("GET", "/api/v1/admin/users" + query));
  if (ctx.json()) {
    ctx.printJson(page);
    return {};
  }
  Table t({"EMAIL", "USERNAME", "ROLE", "TIER", "ACTIVE", "CREATED", "ID"});
  const auto users = page.value("users", Json::array());
  for (const auto& u : users) {
    t.addRow({text(u, "email"), text(u, "username"), text(u, "role"), text(u, "subscription_tier"),
              text(u, "is_active"), text(u, "created_at"), text(u, "id")});
  }
  ctx.out << t.render();
  const auto total = page.value("total", int64_t{0});
  const auto shown = static_cast<int64_t>(users.size());
  if (o.offset + shown < total) {
    ctx.out << fmt::format("({} of {} users shown; next page: --offset {})\n", shown, total,
                           o.offset + shown);
  }
  return {};
}

core::Status show(Context& ctx, const UserOptions& o) {
  AUREO_ASSIGN_OR_RETURN(Json u, ctx.findUser(o.user));
  if (ctx.json()) {
    ctx.printJson(u);
  } else {
    printUser(ctx, u);
  }
  return {};
}

// Runs `method path-suffix` on the resolved user and prints the result.
core::Status change(Context& ctx, const UserOptions& o, const char* method, const char* suffix,
                    const Json& body, const std::string& done) {
  AUREO_ASSIGN_OR_RETURN(Json found, ctx.findUser(o.user));
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  const std::string id = found.value("id", "");
  AUREO_ASSIGN_OR_RETURN(
      Json u, api->call(method, fmt::format("/api/v1/admin/users/{}{}", id, suffix), body));
  if (ctx.json()) {
    ctx.printJson(u.is_null() ? Json{{"id", id}, {"deleted", true}} : u);
  } else {
    ctx.out << fmt::format("{} {}.\n", done, text(found, "email"));
  }
  return {};
}

}  // namespace

void addUserCommands(CLI::App& app, Context& ctx, Action& action) {
  auto* user = app.add_subcommand("user", "Manage user accounts (admin)");
  user->require_subcommand(1);
  auto userArg = [](CLI::App* cmd, UserOptions& o) {
    cmd->add_option("user", o.user, "User id, email or username")->required();
  };
  const auto tiers = CLI::IsMember({"free", "basic", "premium", "enterprise"});

  {
    auto o = std::make_shared<UserOptions>();
    auto* cmd = user->add_subcommand("list", "List and search users");
    cmd->add_option("--search", o->search, "Substring of the email or username");
    cmd->add_option("--tier", o->filter_tier, "Only this tier")->check(tiers);
    cmd->add_flag("--active", o->only_active, "Only enabled accounts");
    cmd->add_flag("--disabled", o->only_disabled, "Only disabled accounts");
    cmd->add_option("--limit", o->limit, "Page size (1-500)")
        ->capture_default_str()
        ->check(CLI::Range(1, 500));
    cmd->add_option("--offset", o->offset, "Skip this many users")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return list(ctx, *o); }; });
  }
  {
    auto o = std::make_shared<UserOptions>();
    auto* cmd = user->add_subcommand("show", "Show one user with their active session count");
    userArg(cmd, *o);
    cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return show(ctx, *o); }; });
  }
  {
    auto o = std::make_shared<UserOptions>();
    auto* cmd = user->add_subcommand("disable", "Disable an account and end its logins");
    userArg(cmd, *o);
    cmd->callback([&ctx, &action, o] {
      action = [&ctx, o] {
        return change(ctx, *o, "POST", "/disable", Json::object(), "Disabled");
      };
    });
  }
  {
    auto o = std::make_shared<UserOptions>();
    auto* cmd = user->add_subcommand("enable", "Enable a disabled account");
    userArg(cmd, *o);
    cmd->callback([&ctx, &action, o] {
      action = [&ctx, o] { return change(ctx, *o, "POST", "/enable", Json::object(), "Enabled"); };
    });
  }
  {
    auto o = std::make_shared<UserOptions>();
    auto* cmd = user->add_subcommand("set-tier", "Set a user's subscription tier");
    userArg(cmd, *o);
    cmd->add_option("tier", o->tier, "free, basic, premium or enterprise")
        ->required()
        ->check(tiers);
    cmd->callback([&ctx, &action, o] {
      action = [&ctx, o] {
        return change(ctx, *o, "PUT", "/tier", Json{{"tier", o->tier}},
                      fmt::format("Tier set to {} for", o->tier));
      };
    });
  }
  {
    auto o = std::make_shared<UserOptions>();
    auto* cmd = user->add_subcommand("delete", "Delete a user and all their data");
    userArg(cmd, *o);
    cmd->callback([&ctx, &action, o] {
      action = [&ctx, o] { return change(ctx, *o, "DELETE", "", nullptr, "Deleted"); };
    });
  }
}

}  // namespace aureo::cli
