// Where a peer's datagrams go: a UDP address and port.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ip.h"

namespace aureo::wireguard {

struct Endpoint {
  core::IpAddress address;
  uint16_t port = 0;

  // "192.0.2.1:51820" or "[2001:db8::1]:51820", as wg(8) prints them.
  [[nodiscard]] std::string toString() const;
  // The same forms with a literal address (no name resolution).
  static std::optional<Endpoint> parse(std::string_view text);

  auto operator<=>(const Endpoint&) const = default;
};

}  // namespace aureo::wireguard
