// Where a peer's datagrams go: a UDP address and port.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ip.h"

namespace aureo::wireguard {

// IPv4-mapped IPv6 addresses from a dual-stack socket are always turned into
// plain IPv4, so one peer has one spelling.
struct Endpoint {
  core::IpAddress address;
  uint16_t port = 0;

  // "192.0.2.1:51820" or "[2001:db8::1]:51820", as wg(8) prints them.
  [[nodiscard]] std::string toString() const;
  // The same forms with a literal address (no name resolution, no zone ids);
  // a bracketed host must be IPv6 and a bare one IPv4.
  static std::optional<Endpoint> parse(std::string_view text);

  // From a sockaddr_in/sockaddr_in6; nullopt for other families.
  static std::optional<Endpoint> fromSockaddr(const sockaddr* sa, socklen_t len);
  // For a dual-stack socket (v4_mapped) IPv4 addresses become ::ffff:a.b.c.d.
  socklen_t toSockaddr(sockaddr_storage* out, bool v4_mapped) const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const Endpoint&) const = default;
};

}  // namespace aureo::wireguard
