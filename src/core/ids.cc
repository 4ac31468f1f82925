#include "core/ids.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace aureo::core {

void randomBytes(void* buf, size_t len) {
  auto* p = static_cast<uint8_t*>(buf);
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

namespace {

std::string formatUuid(std::array<uint8_t, 16> b) {
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

}  // namespace

std::string newUuid() {
  std::array<uint8_t, 16> b{};
  randomBytes(b.data(), b.size());
  return formatUuid(b);
}

std::string newRequestId() {
  struct State {
    std::array<uint8_t, 16> bytes{};
    uint64_t counter = 0;
    State() { randomBytes(bytes.data(), bytes.size()); }
  };
  thread_local State state;
  std::array<uint8_t, 16> b = state.bytes;
  // The counter goes into the last six bytes, after the variant byte.
  const uint64_t n = ++state.counter;
  for (size_t i = 0; i < 6; ++i) {
    b[15 - i] = static_cast<uint8_t>(b[15 - i] ^ static_cast<uint8_t>(n >> (8 * i)));
  }
  if ((n & 0xffffffffffffULL) == 0) randomBytes(state.bytes.data(), state.bytes.size());
  return formatUuid(b);
}

bool isUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace aureo::core
