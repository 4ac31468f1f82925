// Shared by the command files: global options, the lazily built API client,
// and the output helpers.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/credentials.h"
#include "cli/settings.h"
#include "core/result.h"

namespace aureo::cli {

struct GlobalOptions {
  std::string server;
  std::string ca_file;
  bool insecure = false;
  bool json = false;
  bool compact = false;
  int timeout_seconds = 30;
};

// A usage mistake found after parsing (exit code 2, like CLI11's own).
inline core::Error usageError(std::string message) {
  return core::Error{core::Code::kInvalidArgument, std::move(message), "usage"};
}

class Context {
 public:
  Context(const Environment& environment, std::ostream& out_stream, std::ostream& err_stream,
          std::istream& in_stream)
      : env(environment), out(out_stream), err(err_stream), in(in_stream) {}

  GlobalOptions options;
  const Environment& env;
  std::ostream& out;
  std::ostream& err;
  std::istream& in;

  [[nodiscard]] bool json() const { return options.json || options.compact; }
  void printJson(const Json& j) const;

  // The credential store under the config folder.
  core::Result<const CredentialStore*> store();
  // The server every call goes to (see settings.h for the order).
  core::Result<std::string> server();
  core::Result<ApiClient*> api();
  // A separate client that connects to `address` instead of resolving the
  // server's host name (for the VPN daemon, whose DNS needs the tunnel).
  core::Result<std::unique_ptr<ApiClient>> pinnedApi(const std::string& address);
  // The stored login for server(), if any.
  core::Result<std::optional<Credentials>> login();
  // True when the stored login is an admin's (decides admin vs own routes).
  bool isAdmin();

  // Resolves a node given by id or name to its id (and JSON).
  core::Result<Json> findNode(const std::string& id_or_name);
  // Resolves a user given by id, email or username (admin only).
  core::Result<Json> findUser(const std::string& id_email_or_name);

 private:
  core::Status loadFiles();

  bool files_loaded_ = false;
  std::filesystem::path dir_;
  FileSettings file_;
  std::unique_ptr<CredentialStore> store_;
  std::unique_ptr<ApiClient> api_;
};

// Each command file adds its subcommands; a parsed command stores its work in
// `action`, which run() calls after parsing succeeds.
using Action = std::function<core::Status()>;

void addAccountCommands(CLI::App& app, Context& ctx, Action& action);
void addNodeCommands(CLI::App& app, Context& ctx, Action& action);
void addAdminCommands(CLI::App& app, Context& ctx, Action& action);
void addUserCommands(CLI::App& app, Context& ctx, Action& action);
void addSessionCommands(CLI::App& app, Context& ctx, Action& action);
void addConfigCommands(CLI::App& app, Context& ctx, Action& action);
void addClientCommands(CLI::App& app, Context& ctx, Action& action);

// Formatting helpers for JSON values in tables.
std::string text(const Json& j, const char* key);    // "-" for missing/null
std::string number(const Json& j, const char* key);  // integers and decimals
std::string bytes(const Json& j, const char* key);   // human units
std::string urlEncode(std::string_view s);

}  // namespace aureo::cli
