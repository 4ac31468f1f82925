// What a connection changed on the machine, in a JSON file under the run
// directory (/run/aureo-vpn/state.json, mode 0600, replaced atomically).
//
// The daemon writes each change down *before* it makes it, so whoever reads
// the file — `disconnect` after a clean stop, or after the daemon died with
// SIGKILL half-way through connecting — can undo exactly what was done and
// nothing else. Undoing something that was recorded but never made (a rule
// that was not added yet) is harmless by construction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "netcfg/netlink.h"

namespace aureo::client {

inline constexpr std::string_view kDefaultRunDir = "/run/aureo-vpn";

struct ConnectionState {
  pid_t pid = 0;           // the daemon
  int64_t started_at = 0;  // unix seconds
  std::string phase;       // "connecting", "connected", "reconnecting"
  std::string server;      // API base URL
  std::string session_id;
  std::string node_id;
  std::string node_name;
  std::string node_country;
  std::string endpoint;  // "203.0.113.7:51820"
  std::string node_public_key;
  std::string client_public_key;
  std::string interface_name;
  std::vector<std::string> addresses;  // "10.8.0.2/32", "fd00::2/128"
  uint32_t fwmark = 0;
  uint32_t table = 0;
  std::vector<netcfg::Rule> rules;             // policy rules added
  std::vector<std::string> nft_tables;         // inet tables applied
  std::map<std::string, std::string> sysctls;  // key -> value before connect
  std::string resolv_conf;                     // the file replaced (empty: none)
  std::string resolv_backup;
  std::string cgroup;  // excluded-app cgroup, relative to the mount
  std::string cgroup_mount;
  std::string uapi_socket;  // removed if the daemon could not
  // What was asked for, for `status` and for reconnecting.
  bool kill_switch = false;
  bool allow_lan = false;
  bool ipv6_tunneled = false;
  std::vector<std::string> dns;
  std::vector<std::string> split_include;
  std::vector<std::string> split_exclude;
  std::string country;

  bool operator==(const ConnectionState&) const = default;
};

// Writes the file atomically (temporary file, fsync, rename), mode 0600.
core::Status saveState(const std::filesystem::path& path, const ConnectionState& state);
// nullopt when there is no file; kDataLoss when it cannot be parsed.
core::Result<std::optional<ConnectionState>> loadState(const std::filesystem::path& path);
// Not an error if the file is already gone.
core::Status removeState(const std::filesystem::path& path);

// True while `pid` names a live process (signal 0 succeeds).
bool processAlive(pid_t pid);

}  // namespace aureo::client
