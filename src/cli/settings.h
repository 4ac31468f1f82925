// Where the CLI finds its server and its files.
//
// The server URL comes from, in order: --server, AUREO_URL, `server = "..."`
// in ~/.config/aureo-vpn/config.toml, and last the server of the stored login.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "core/result.h"

namespace aureo::cli {

// config.toml. Every key is optional:
//   server = "https://vpn.example.com"
//   ca_file = "/etc/aureo/ca.pem"
//   insecure = false
struct FileSettings {
  std::string server;
  std::string ca_file;
  bool insecure = false;
};

// A missing file gives the defaults; a malformed one or an unknown key is an
// error naming the file and line.
core::Result<FileSettings> loadSettings(const std::filesystem::path& file);

// The folder for config.toml and credentials.json: $XDG_CONFIG_HOME/aureo-vpn,
// else $HOME/.config/aureo-vpn. Empty arguments mean unset.
core::Result<std::filesystem::path> configDir(const std::string& xdg_config_home,
                                              const std::string& home);

// Checks the scheme ("http://" or "https://", with a host) and drops trailing
// slashes, so the URL compares equal however it was typed.
core::Result<std::string> normalizeServerUrl(const std::string& url);

// The first non-empty of the sources above, normalized.
core::Result<std::string> resolveServer(const std::string& flag, const std::string& env,
                                        const FileSettings& file, const std::string& login_server);

}  // namespace aureo::cli
