// Edits to wg-quick(8) configs the API hands out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/ip.h"
#include "core/result.h"

namespace aureo::cli {

// nftables tables the generated hooks own. They differ from the ones
// `aureo-vpn connect` uses, so one never removes the other's.
inline constexpr std::string_view kWgQuickKillSwitchTable = "aureo-wgquick-killswitch";
inline constexpr std::string_view kWgQuickDnsTable = "aureo-wgquick-dns";

struct KillSwitchOptions {
  bool allow_lan = false;
  // The node's address, for configs whose Endpoint is a host name: the
  // firewall matches addresses, so such an Endpoint is rewritten to this
  // address (same port) and the rules allow exactly it. Without it a host
  // name Endpoint is an error.
  std::optional<core::IpAddress> endpoint_address;
};

// Adds the client protections of DESIGN section 8 to [Interface] as hooks:
//   PostUp  = nft -f - <<< $'...'   (kill switch + DNS leak tables, one atomic batch)
//   PreDown = nft '...'             (removes both; succeeds if they are gone already)
// The kill switch lets out only the tunnel (%i), the [Peer] endpoints,
// loopback, DHCP/NDP and with allow_lan the LAN; the DNS table drops port 53
// and 853 to anything but the config's DNS servers through the tunnel. A
// config without DNS gets `DNS = 1.1.1.1, 1.0.0.1`, since with the kill switch
// on the system's own resolver would be unreachable.
// kInvalidArgument if there is no [Interface] or [Peer] Endpoint, an endpoint
// is a host name and no endpoint_address is given, or the config already has
// PostUp/PreDown.
core::Result<std::string> addKillSwitch(std::string_view config, const KillSwitchOptions& options);

// Sets [Interface] PrivateKey (replacing a value or placeholder, or adding
// the line), for configs made for a locally generated key pair.
core::Result<std::string> setPrivateKey(std::string_view config, std::string_view private_key);

}  // namespace aureo::cli
