// The protected client connection (`aureo-vpn connect`), DESIGN.md section 8.
//
// establish() asks the API for a session, brings the WireGuard engine up
// in-process on a TUN device it creates, and configures the machine the way
// wg-quick does (policy routing with a fwmark so the engine's own UDP does not
// loop into the tunnel), plus the protections as nftables tables applied
// atomically: kill switch, DNS leak protection, IPv6 block, the excluded-app
// mark. Every change is written to the state file (state.h) before it is
// made, so tearDown() undoes exactly those changes, whether the daemon
// stopped cleanly or died with SIGKILL.
//
// The kill switch is not owned by the process: stopping the engine (or the
// process dying) removes the TUN device and nothing else, so the machine
// stays fail-closed until tearDown() (`aureo-vpn disconnect`) lifts it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/state.h"
#include "core/clock.h"
#include "core/ip.h"
#include "core/log.h"
#include "core/result.h"
#include "netcfg/rulesets.h"

namespace aureo::client {

using Json = nlohmann::json;

// One authenticated API call (the CLI's ApiClient::call): the parsed answer,
// null for an empty one. Errors carry the API's message and code.
using ApiCall =
    std::function<core::Result<Json>(std::string_view method, std::string_view path, const Json&)>;

inline constexpr uint32_t kDefaultFwmark = 0xca6d;  // 51821, next to wg-quick's 51820
inline constexpr uint32_t kDefaultRulePriority = 5180;

// The API's addresses and port from its base URL (a literal address, or the
// host name resolved now). The kill switch and the routing rules keep these
// reachable outside the tunnel.
core::Result<std::vector<netcfg::Endpoint>> resolveApiEndpoints(const std::string& url);

struct ConnectOptions {
  std::string server;  // API base URL; the API stays reachable outside the tunnel
  // Where the API is reached (ApiCall must connect there: the daemon's DNS
  // goes through the tunnel); empty: resolveApiEndpoints(server).
  std::vector<netcfg::Endpoint> api_endpoints;
  std::string node_id;  // empty: the best node (in `country`, if set)
  std::string country;
  bool kill_switch = false;
  bool allow_lan = false;
  // Fixed resolvers; empty: those the session offers (1.1.1.1 and 1.0.0.1
  // until it does, and if it offers none).
  std::vector<core::IpAddress> dns;
  // Split tunneling: only these prefixes through the tunnel, or everything
  // except these. At most one of the two.
  std::vector<core::Cidr> split_include;
  std::vector<core::Cidr> split_exclude;
  bool exclude_apps = false;  // make the excluded-app cgroup and its mark table

  std::string interface_name = "aureo0";
  std::filesystem::path run_dir = std::string(kDefaultRunDir);
  std::filesystem::path resolv_conf = "/etc/resolv.conf";
  std::string cgroup = "aureo-vpn-exclude";  // relative to the cgroup v2 mount
  std::string uapi_dir = "/var/run/wireguard";
  uint32_t fwmark = kDefaultFwmark;               // also the routing table id
  uint32_t rule_priority = kDefaultRulePriority;  // uses this and the next two
  std::chrono::seconds handshake_timeout{20};
  // With nothing received for probe_after, a DNS query to the first resolver
  // goes through the tunnel; with nothing received for stale_after, the node
  // counts as gone and the daemon moves to another one.
  std::chrono::seconds probe_after{5};
  std::chrono::seconds stale_after{30};
};

// The state file under the run directory.
std::filesystem::path statePath(const std::filesystem::path& run_dir);

class Connection {
 public:
  // Connects and returns once the first handshake completed. On failure
  // everything done so far is undone, the session is deleted and the state
  // file removed. FailedPrecondition when a state file exists already (a
  // live connection, or a dead one `disconnect` has not cleaned up yet).
  static core::Result<std::unique_ptr<Connection>> establish(const ConnectOptions& options,
                                                             ApiCall api, core::Clock& clock,
                                                             core::Logger& log);
  // Stops the engine (the TUN device disappears); every protection stays.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Watches the tunnel until `stop`: when the node stops answering, asks the
  // API for another node (never the dead one), opens a session there and
  // re-points the engine, the kill switch allowing the new endpoint and
  // staying in place throughout. Call on one thread.
  void run(const std::stop_token& stop);

  // A copy of the current state (it changes on reconnect). Safe from any thread.
  [[nodiscard]] ConnectionState state() const;

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::client
