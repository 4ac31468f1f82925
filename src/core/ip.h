// IPv4/IPv6 addresses and CIDR prefixes as plain values.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aureo::core {

class IpAddress {
 public:
  enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

  IpAddress() = default;
  static IpAddress v4(const uint8_t (&b)[4]);
  static IpAddress fromBytes(Family family, const uint8_t* bytes);

  // Accepts dotted quads and RFC 4291 text (no zone ids, no brackets).
  static std::optional<IpAddress> parse(std::string_view text);

  [[nodiscard]] Family family() const { return family_; }
  [[nodiscard]] bool isV4() const { return family_ == Family::kV4; }
  [[nodiscard]] int bitLength() const { return isV4() ? 32 : 128; }
  [[nodiscard]] size_t byteLength() const { return isV4() ? 4 : 16; }
  // Network byte order; only the first byteLength() bytes are meaningful.
  [[nodiscard]] const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  [[nodiscard]] std::string toString() const;

  // Adds n to the address as a big-endian integer (wrapping within the family).
  [[nodiscard]] IpAddress plus(uint64_t n) const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const IpAddress&) const = default;

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

class Cidr {
 public:
  Cidr() = default;
  // Masks off host bits, so 10.1.2.3/8 becomes 10.0.0.0/8.
  Cidr(IpAddress address, int prefix);

  // "10.0.0.0/24", "fd00::/64"; a bare address gets the full-length prefix.
  static std::optional<Cidr> parse(std::string_view text);

  [[nodiscard]] const IpAddress& address() const { return address_; }
  [[nodiscard]] int prefix() const { return prefix_; }
  [[nodiscard]] bool contains(const IpAddress& ip) const;
  [[nodiscard]] std::string toString() const;
  // Number of addresses, saturated at 2^63.
  [[nodiscard]] uint64_t size() const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const Cidr&) const = default;

 private:
  IpAddress address_;
  int prefix_ = 0;
};

// Splits "host:port" or "[v6]:port". Returns nullopt for a missing or bad port.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
std::optional<HostPort> parseHostPort(std::string_view text);

}  // namespace aureo::core
