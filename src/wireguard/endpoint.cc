#include "wireguard/endpoint.h"

namespace aureo::wireguard {

std::string Endpoint::toString() const {
  const std::string host = address.toString();
  return (address.isV4() ? host : "[" + host + "]") + ":" + std::to_string(port);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  auto hp = core::parseHostPort(text);
  if (!hp) return std::nullopt;
  auto ip = core::IpAddress::parse(hp->host);
  if (!ip) return std::nullopt;
  return Endpoint{*ip, hp->port};
}

}  // namespace aureo::wireguard
