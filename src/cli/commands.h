// The aureo-vpn command tree. main() gathers the process environment and
// calls run(); everything else takes it from here, so tests can drive the
// whole CLI in-process.
//
// Exit codes: 0 success; 1 the command failed (the API refused, the server
// was unreachable, a local file could not be written); 2 the command line was
// wrong (CLI11's convention). Every failure is one line on stderr:
// "aureo-vpn: <message>".
#pragma once

#include <iosfwd>
#include <string>

namespace aureo::cli {

struct Environment {
  std::string home;             // $HOME
  std::string xdg_config_home;  // $XDG_CONFIG_HOME
  std::string aureo_url;        // $AUREO_URL
  bool stdout_is_tty = false;   // colours for QR codes
};

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int run(int argc, const char* const* argv, const Environment& env, std::ostream& out,
        std::ostream& err, std::istream& in);

}  // namespace aureo::cli
