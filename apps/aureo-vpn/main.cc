// aureo-vpn: the command line for admins and users. Wiring only; the commands
// are in src/cli.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"

namespace {

std::string envOr(const char* name) {
  // Read once at start-up, before any thread exists.
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // `aureo-vpn node list | head` must not kill a token refresh
  aureo::cli::Environment env;
  env.home = envOr("HOME");
  env.xdg_config_home = envOr("XDG_CONFIG_HOME");
  env.aureo_url = envOr("AUREO_URL");
  env.stdout_is_tty = ::isatty(STDOUT_FILENO) == 1;
  const int code = aureo::cli::run(argc, argv, env, std::cout, std::cerr, std::cin);
  std::cout.flush();
  return code;
}
