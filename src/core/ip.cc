#include "core/ip.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace aureo::core {

IpAddress IpAddress::v4(const uint8_t (&b)[4]) {
  return fromBytes(Family::kV4, b);
}

IpAddress IpAddress::fromBytes(Family family, const uint8_t* bytes) {
  IpAddress ip;
  ip.family_ = family;
  std::memcpy(ip.bytes_.data(), bytes, family == Family::kV4 ? 4 : 16);
  return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes_.data()) == 1) {
    ip.family_ = Family::kV4;
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes_.data()) == 1) {
    ip.family_ = Family::kV6;
    return ip;
  }
  return std::nullopt;
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(isV4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

IpAddress IpAddress::plus(uint64_t n) const {
  IpAddress out = *this;
  unsigned carry = 0;
  for (int i = static_cast<int>(byteLength()) - 1; i >= 0; --i) {
    const unsigned add = static_cast<unsigned>(n & 0xff) + carry;
    const unsigned sum = out.bytes_[static_cast<size_t>(i)] + add;
    out.bytes_[static_cast<size_t>(i)] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
    n >>= 8;
  }
  return out;
}

Cidr::Cidr(IpAddress address, int prefix) : address_(address), prefix_(prefix) {
  if (prefix_ < 0) prefix_ = 0;
  if (prefix_ > address_.bitLength()) prefix_ = address_.bitLength();
  std::array<uint8_t, 16> b = address_.bytes();
  for (int bit = prefix_; bit < address_.bitLength(); ++bit) {
    b[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  address_ = IpAddress::fromBytes(address_.family(), b.data());
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int prefix = ip->bitLength();
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc{} || ptr != p.data() + p.size()) return std::nullopt;
    if (prefix < 0 || prefix > ip->bitLength()) return std::nullopt;
  }
  return Cidr(*ip, prefix);
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.family() != address_.family()) return false;
  return Cidr(ip, prefix_).address_ == address_;
}

std::string Cidr::toString() const {
  return address_.toString() + "/" + std::to_string(prefix_);
}

uint64_t Cidr::size() const {
  const int host_bits = address_.bitLength() - prefix_;
  if (host_bits >= 63) return uint64_t{1} << 63;
  return uint64_t{1} << host_bits;
}

std::optional<HostPort> parseHostPort(std::string_view text) {
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return std::nullopt;  // v6 needs brackets
    port = text.substr(colon + 1);
  }
  if (hp.host.empty() || port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) return std::nullopt;
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

}  // namespace aureo::core
