// Live counters of a running connection, read from the engine's UAPI
// socket (the protocol `wg show` speaks), for `aureo-vpn status`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"

namespace aureo::client {

struct TunnelStats {
  std::optional<int64_t> last_handshake_unix;  // nullopt: none yet
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  std::string endpoint;
};

// The first peer's counters; Unavailable when nobody answers on the socket.
core::Result<TunnelStats> queryTunnel(const std::string& uapi_socket);

}  // namespace aureo::client
