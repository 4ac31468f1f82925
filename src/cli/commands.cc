#include "cli/commands.h"

#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "cli/internal/context.h"
#include "cli/table.h"
#include "core/ids.h"

namespace aureo::cli {

// ---- Context ----

void Context::printJson(const Json& j) const {
  out << (options.compact ? j.dump() : j.dump(2)) << "\n";
}

core::Status Context::loadFiles() {
  if (files_loaded_) return {};
  AUREO_ASSIGN_OR_RETURN(dir_, configDir(env.xdg_config_home, env.home));
  AUREO_ASSIGN_OR_RETURN(file_, loadSettings(dir_ / "config.toml"));
  store_ = std::make_unique<CredentialStore>(dir_);
  files_loaded_ = true;
  return {};
}

core::Result<const CredentialStore*> Context::store() {
  AUREO_RETURN_IF_ERROR(loadFiles());
  return static_cast<const CredentialStore*>(store_.get());
}

core::Result<std::string> Context::server() {
  AUREO_RETURN_IF_ERROR(loadFiles());
  std::string login_server;
  // Only consulted when nothing else names a server; a broken file must not
  // stop `--server X login` from repairing it.
  if (options.server.empty() && env.aureo_url.empty() && file_.server.empty()) {
    AUREO_ASSIGN_OR_RETURN(auto creds, store_->load());
    if (creds) login_server = creds->server;
  }
  return resolveServer(options.server, env.aureo_url, file_, login_server);
}

core::Result<ApiClient*> Context::api() {
  if (api_) return api_.get();
  AUREO_ASSIGN_OR_RETURN(api_, pinnedApi(""));
  return api_.get();
}

core::Result<std::unique_ptr<ApiClient>> Context::pinnedApi(const std::string& address) {
  AUREO_ASSIGN_OR_RETURN(std::string url, server());
  http::ClientOptions http_options;
  http_options.timeout = std::chrono::seconds(options.timeout_seconds);
  http_options.ca_file = options.ca_file.empty() ? file_.ca_file : options.ca_file;
  http_options.insecure_skip_verify = options.insecure || file_.insecure;
  http_options.connect_to = address;
  return std::make_unique<ApiClient>(http::Client(url, http_options), url, *store_);
}

core::Result<std::optional<Credentials>> Context::login() {
  AUREO_ASSIGN_OR_RETURN(std::string url, server());
  AUREO_ASSIGN_OR_RETURN(auto creds, store_->load());
  if (creds && creds->server != url) creds.reset();
  return creds;
}

bool Context::isAdmin() {
  auto creds = login();
  return creds.ok() && creds->has_value() && (*creds)->role == "admin";
}

core::Result<Json> Context::findNode(const std::string& id_or_name) {
  AUREO_ASSIGN_OR_RETURN(ApiClient * client, api());
  AUREO_ASSIGN_OR_RETURN(Json list,
                         client->call("GET", isAdmin() ? "/api/v1/admin/nodes" : "/api/v1/nodes"));
  for (const auto& n : list.value("nodes", Json::array())) {
    if (n.value("id", "") == id_or_name || n.value("name", "") == id_or_name) return n;
  }
  return core::notFound(fmt::format("no node with the id or name '{}'", id_or_name));
}

core::Result<Json> Context::findUser(const std::string& key) {
  AUREO_ASSIGN_OR_RETURN(ApiClient * client, api());
  if (core::isUuid(key)) return client->call("GET", "/api/v1/admin/users/" + key);
  AUREO_ASSIGN_OR_RETURN(
      Json page, client->call("GET", "/api/v1/admin/users?limit=500&search=" + urlEncode(key)));
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& u : page.value("users", Json::array())) {
    if (lower(u.value("email", "")) == lower(key) || u.value("username", "") == key) {
      // The single-user view adds the active session count.
      return client->call("GET", "/api/v1/admin/users/" + u.value("id", ""));
    }
  }
  return core::notFound(fmt::format("no user with the id, email or username '{}'", key));
}

// ---- formatting helpers ----

std::string text(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  if (it->is_array()) {
    std::string out;
    for (const auto& v : *it) {
      if (!out.empty()) out += ",";
      out += v.is_string() ? v.get<std::string>() : v.dump();
    }
    return out.empty() ? "-" : out;
  }
  return it->dump();
}

std::string number(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return "-";
  if (it->is_number_float()) return fmt::format("{:.2f}", it->get<double>());
  return it->dump();
}

std::string bytes(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return "-";
  const auto v = it->is_number_unsigned()
                     ? it->get<uint64_t>()
                     : static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()));
  return formatBytes(v);
}

std::string urlEncode(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

// ---- the tree ----

int run(int argc, const char* const* argv, const Environment& env, std::ostream& out,
        std::ostream& err, std::istream& in) {
  Context ctx(env, out, err, in);
  Action action;

  CLI::App app("Aureo VPN command line: accounts, nodes, users, sessions and configs.",
               "aureo-vpn");
  app.require_subcommand(1);
  app.fallthrough();  // global options work after the subcommand too
  app.footer(
      "Server URL: --server, else $AUREO_URL, else server = \"...\" in "
      "~/.config/aureo-vpn/config.toml, else the server of the last login.\n"
      "Global options (anywhere on the line): --server URL, --ca-file FILE, --insecure, --json, "
      "--compact, --timeout SECONDS.\n"
      "Exit codes: 0 success, 1 the command failed, 2 bad command line.");
  auto& o = ctx.options;
  app.add_option("--server", o.server, "API URL, e.g. https://vpn.example.com");
  app.add_option("--ca-file", o.ca_file, "PEM file of CAs to trust for HTTPS")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", o.insecure, "Skip TLS certificate checks (testing only)");
  app.add_flag("--json", o.json, "Print the API's JSON (pretty) instead of tables");
  app.add_flag("--compact", o.compact, "Print the API's JSON on one line");
  app.add_option("--timeout", o.timeout_seconds, "Seconds to wait for each request")
      ->check(CLI::Range(1, 3600));

  addAccountCommands(app, ctx, action);
  addNodeCommands(app, ctx, action);
  addAdminCommands(app, ctx, action);
  addUserCommands(app, ctx, action);
  addSessionCommands(app, ctx, action);
  addConfigCommands(app, ctx, action);
  addClientCommands(app, ctx, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();  // CLI11 delegates to the subcommand being parsed
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    if (message.empty()) message = "invalid command line";
    err << "aureo-vpn: " << message << " (see --help)\n";
    return kExitUsage;
  }
  if (!action) {
    // A command group given without its subcommand.
    err << "aureo-vpn: a subcommand is required (see --help)\n";
    return kExitUsage;
  }
  auto status = action();
  if (!status.ok()) {
    std::string message = status.error().message;
    for (auto& c : message) {
      if (c == '\n' || c == '\r') c = ' ';  // one line, always
    }
    err << "aureo-vpn: " << message << "\n";
    return status.error().field == "usage" ? kExitUsage : kExitFailure;
  }
  return kExitOk;
}

}  // namespace aureo::cli
