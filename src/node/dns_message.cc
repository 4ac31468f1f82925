#include "node/dns_message.h"

#include <algorithm>

namespace aureo::node::dns {
namespace {

constexpr uint8_t kFlagQr = 0x80;      // first flags byte
constexpr uint8_t kOpcodeMask = 0x78;  // first flags byte; QUERY is 0
constexpr uint8_t kFlagRd = 0x01;      // first flags byte
constexpr uint8_t kFlagRa = 0x80;      // second flags byte
constexpr uint8_t kRcodeServfail = 2;
constexpr uint16_t kTypeOpt = 41;
constexpr size_t kMaxName = 255;

uint16_t read16(std::span<const uint8_t> m, size_t at) {
  return static_cast<uint16_t>((m[at] << 8) | m[at + 1]);
}

// Skips an uncompressed name starting at `at`; the offset after it, or
// nullopt when it runs off the end, is too long or uses a pointer.
std::optional<size_t> skipName(std::span<const uint8_t> m, size_t at) {
  size_t length = 0;
  for (;;) {
    if (at >= m.size()) return std::nullopt;
    const uint8_t label = m[at];
    if (label == 0) return at + 1;
    if ((label & 0xC0) != 0) return std::nullopt;  // pointers and the reserved forms
    length += size_t{label} + 1;
    if (length > kMaxName) return std::nullopt;
    at += size_t{label} + 1;
  }
}

uint8_t lowerAscii(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
}

}  // namespace

std::optional<Query> parseQuery(std::span<const uint8_t> m) {
  if (m.size() < kHeaderSize || m.size() > kMaxQuerySize) return std::nullopt;
  if ((m[2] & kFlagQr) != 0 || (m[2] & kOpcodeMask) != 0) return std::nullopt;
  const uint16_t qdcount = read16(m, 4);
  const uint16_t ancount = read16(m, 6);
  const uint16_t nscount = read16(m, 8);
  const uint16_t arcount = read16(m, 10);
  if (qdcount != 1 || ancount != 0 || nscount != 0 || arcount > 1) return std::nullopt;
  auto name_end = skipName(m, kHeaderSize);
  if (!name_end || *name_end + 4 > m.size()) return std::nullopt;
  Query q;
  q.id = read16(m, 0);
  q.question_end = *name_end + 4;  // QTYPE, QCLASS
  size_t at = q.question_end;
  if (arcount == 1) {
    // Only EDNS: the root name, TYPE OPT, CLASS, TTL, RDLENGTH, RDATA.
    if (at + 11 > m.size() || m[at] != 0 || read16(m, at + 1) != kTypeOpt) return std::nullopt;
    const size_t rdlength = read16(m, at + 9);
    at += 11 + rdlength;
    if (at > m.size()) return std::nullopt;
  }
  if (at != m.size()) return std::nullopt;
  return q;
}

bool isResponseTo(std::span<const uint8_t> r, uint16_t id, std::span<const uint8_t> query,
                  const Query& parsed) {
  if (r.size() < parsed.question_end || parsed.question_end > query.size()) return false;
  if (r.size() < kHeaderSize || read16(r, 0) != id || (r[2] & kFlagQr) == 0) return false;
  if (read16(r, 4) != 1) return false;
  for (size_t i = kHeaderSize; i < parsed.question_end; ++i) {
    if (lowerAscii(r[i]) != lowerAscii(query[i])) return false;
  }
  return true;
}

uint16_t messageId(std::span<const uint8_t> m) {
  return m.size() < 2 ? uint16_t{0} : read16(m, 0);
}

void setMessageId(std::span<uint8_t> m, uint16_t id) {
  if (m.size() < 2) return;
  m[0] = static_cast<uint8_t>(id >> 8);
  m[1] = static_cast<uint8_t>(id & 0xFF);
}

size_t writeServfail(std::span<const uint8_t> query, const Query& parsed, std::span<uint8_t> out) {
  const size_t n = parsed.question_end;
  if (n < kHeaderSize || n > query.size() || out.size() < n) return 0;
  std::copy_n(query.begin(), n, out.begin());
  out[2] = static_cast<uint8_t>(kFlagQr | (query[2] & kFlagRd));
  out[3] = static_cast<uint8_t>(kFlagRa | kRcodeServfail);
  // One question, no records.
  out[4] = 0;
  out[5] = 1;
  std::fill(out.begin() + 6, out.begin() + kHeaderSize, uint8_t{0});
  return n;
}

}  // namespace aureo::node::dns
