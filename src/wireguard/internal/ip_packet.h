// Just enough of the IPv4/IPv6 header for cryptokey routing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/ip.h"

namespace aureo::wireguard::internal {

struct IpHeader {
  core::IpAddress::Family family;
  const uint8_t* source;       // 4 or 16 bytes, network order
  const uint8_t* destination;  // 4 or 16 bytes, network order
  size_t total_length;         // from the header; at most the buffer's size
};

// The header of the packet at the start of bytes, or nullopt when it is not
// a well-formed IPv4/IPv6 header whose total length fits in bytes.
inline std::optional<IpHeader> parseIpHeader(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return std::nullopt;
  const unsigned version = bytes[0] >> 4;
  if (version == 4) {
    if (bytes.size() < 20) return std::nullopt;
    const size_t header_len = static_cast<size_t>(bytes[0] & 0x0f) * 4;
    const size_t total = static_cast<size_t>(bytes[2]) << 8 | bytes[3];
    if (header_len < 20 || total < header_len || total > bytes.size()) return std::nullopt;
    return IpHeader{core::IpAddress::Family::kV4, bytes.data() + 12, bytes.data() + 16, total};
  }
  if (version == 6) {
    if (bytes.size() < 40) return std::nullopt;
    const size_t total = 40 + (static_cast<size_t>(bytes[4]) << 8 | bytes[5]);
    if (total > bytes.size()) return std::nullopt;
    return IpHeader{core::IpAddress::Family::kV6, bytes.data() + 8, bytes.data() + 24, total};
  }
  return std::nullopt;
}

}  // namespace aureo::wireguard::internal
