// login, logout, whoami.
#include <termios.h>
#include <unistd.h>

#include <fcntl.h>

#include <fmt/format.h>

#include "cli/internal/context.h"
#include "cli/table.h"

namespace aureo::cli {
namespace {

struct LoginOptions {
  std::string email;
  bool password_stdin = false;
};

std::string chomp(std::string line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

// Reads one line from the controlling terminal, without echo when asked.
core::Result<std::string> promptTty(const std::string& prompt, bool echo) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return usageError("no terminal to ask on; pass --email and --password-stdin");
  }
  struct termios saved {};
  const bool is_tty = ::tcgetattr(fd, &saved) == 0;
  if (!echo && is_tty) {
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  std::string line;
  char c = 0;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  if (!echo && is_tty) ::tcsetattr(fd, TCSAFLUSH, &saved);
  ::close(fd);
  return chomp(std::move(line));
}

core::Status login(Context& ctx, const LoginOptions& o) {
  std::string email = o.email;
  std::string password;
  if (o.password_stdin) {
    if (email.empty()) return usageError("give the email (login EMAIL) with --password-stdin");
    std::getline(ctx.in, password);
    password = chomp(std::move(password));
  } else {
    if (email.empty()) {
      AUREO_ASSIGN_OR_RETURN(email, promptTty("Email: ", true));
    }
    AUREO_ASSIGN_OR_RETURN(password, promptTty("Password: ", false));
  }
  if (email.empty() || password.empty()) return usageError("email and password are required");

  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  AUREO_ASSIGN_OR_RETURN(auto store, ctx.store());
  AUREO_ASSIGN_OR_RETURN(Json r,
                         api->callAnonymous("POST", "/api/v1/auth/login",
                                            Json{{"email", email}, {"password", password}}));
  const Json user = r.value("user", Json::object());
  Credentials creds{api->server(),
                    user.value("email", email),
                    user.value("id", ""),
                    user.value("role", "user"),
                    r.value("access_token", ""),
                    r.value("refresh_token", "")};
  if (creds.access_token.empty() || creds.refresh_token.empty()) {
    return core::unavailable("the server's login answer has no tokens");
  }
  AUREO_RETURN_IF_ERROR(store->save(creds));
  if (ctx.json()) {
    ctx.printJson(Json{{"server", creds.server}, {"user", user}});
  } else {
    ctx.out << fmt::format("Logged in to {} as {} ({}).\n", creds.server, creds.email, creds.role);
  }
  return {};
}

core::Status logout(Context& ctx, bool all) {
  AUREO_ASSIGN_OR_RETURN(auto creds, ctx.login());
  AUREO_ASSIGN_OR_RETURN(auto store, ctx.store());
  if (!creds) {
    if (!ctx.json()) ctx.out << "Not logged in.\n";
    return {};
  }
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  const Json body = all ? Json{{"all", true}} : Json{{"refresh_token", creds->refresh_token}};
  auto r = api->call("POST", "/api/v1/auth/logout", body);
  // The local tokens go either way; an already dead login is logged out.
  AUREO_RETURN_IF_ERROR(store->remove());
  if (!r.ok() && r.error().code != core::Code::kUnauthenticated) return r.error();
  if (ctx.json()) {
    ctx.printJson(Json{{"server", creds->server}, {"logged_out", true}, {"all", all}});
  } else {
    ctx.out << fmt::format("Logged out of {}{}.\n", creds->server,
                           all ? " (every login of this account)" : "");
  }
  return {};
}

core::Status whoami(Context& ctx) {
  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  AUREO_ASSIGN_OR_RETURN(Json me, api->call("GET", "/api/v1/user/me"));
  if (ctx.json()) {
    ctx.printJson(me);
    return {};
  }
  ctx.out << renderFields({{"Server", api->server()},
                           {"Email", text(me, "email")},
                           {"Username", text(me, "username")},
                           {"Role", text(me, "role")},
                           {"Tier", text(me, "subscription_tier")},
                           {"Active", text(me, "is_active")},
                           {"ID", text(me, "id")}});
  return {};
}

}  // namespace

void addAccountCommands(CLI::App& app, Context& ctx, Action& action) {
  auto o = std::make_shared<LoginOptions>();
  auto* login_cmd = app.add_subcommand(
      "login", "Sign in and store the tokens in ~/.config/aureo-vpn/credentials.json (mode 0600)");
  login_cmd->add_option("email,--email", o->email, "Account email (asked for if missing)");
  login_cmd->add_flag("--password-stdin", o->password_stdin,
                      "Read the password from the first line of stdin instead of the terminal");
  login_cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return login(ctx, *o); }; });

  auto all = std::make_shared<bool>(false);
  auto* logout_cmd = app.add_subcommand("logout", "End this login and forget its tokens");
  logout_cmd->add_flag("--all", *all, "End every login of the account, on every device");
  logout_cmd->callback(
      [&ctx, &action, all] { action = [&ctx, all] { return logout(ctx, *all); }; });

  app.add_subcommand("whoami", "Show the signed-in account")->callback([&ctx, &action] {
    action = [&ctx] { return whoami(ctx); };
  });
}

}  // namespace aureo::cli
