#include "wireguard/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace aureo::wireguard {
namespace {

constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

Endpoint normalize(Endpoint e) {
  const auto& b = e.address.bytes();
  if (!e.address.isV4() && std::memcmp(b.data(), kV4MappedPrefix, 12) == 0) {
    e.address = core::IpAddress::fromBytes(core::IpAddress::Family::kV4, b.data() + 12);
  }
  return e;
}

}  // namespace

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  auto hp = core::parseHostPort(text);
  if (!hp) return std::nullopt;
  auto ip = core::IpAddress::parse(hp->host);
  if (!ip) return std::nullopt;
  // A bracketed host must be IPv6 and a bare one IPv4, as wg prints them.
  if ((text.front() == '[') == ip->isV4()) return std::nullopt;
  return normalize(Endpoint{*ip, hp->port});
}

std::string Endpoint::toString() const {
  if (address.isV4()) return address.toString() + ":" + std::to_string(port);
  return "[" + address.toString() + "]:" + std::to_string(port);
}

std::optional<Endpoint> Endpoint::fromSockaddr(const sockaddr* sa, socklen_t len) {
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof(in));
    return Endpoint{core::IpAddress::fromBytes(core::IpAddress::Family::kV4,
                                               reinterpret_cast<const uint8_t*>(&in.sin_addr)),
                    ntohs(in.sin_port)};
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof(in6));
    return normalize(
        Endpoint{core::IpAddress::fromBytes(core::IpAddress::Family::kV6, in6.sin6_addr.s6_addr),
                 ntohs(in6.sin6_port)});
  }
  return std::nullopt;
}

socklen_t Endpoint::toSockaddr(sockaddr_storage* out, bool v4_mapped) const {
  std::memset(out, 0, sizeof(*out));
  if (address.isV4() && !v4_mapped) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, address.bytes().data(), 4);
    std::memcpy(out, &in, sizeof(in));
    return sizeof(in);
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  if (address.isV4()) {
    std::memcpy(in6.sin6_addr.s6_addr, kV4MappedPrefix, 12);
    std::memcpy(in6.sin6_addr.s6_addr + 12, address.bytes().data(), 4);
  } else {
    std::memcpy(in6.sin6_addr.s6_addr, address.bytes().data(), 16);
  }
  std::memcpy(out, &in6, sizeof(in6));
  return sizeof(in6);
}

}  // namespace aureo::wireguard
