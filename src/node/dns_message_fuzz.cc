// Feeds arbitrary bytes to the DNS query parser and to the answer matcher
// against a fixed query: no crash, no read out of bounds, and a SERVFAIL
// written for any accepted query parses back as an answer to it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "node/dns_message.h"

namespace dns = aureo::node::dns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  if (auto q = dns::parseQuery(in)) {
    if (q->question_end > size || q->question_end <= dns::kHeaderSize) __builtin_trap();
    std::array<uint8_t, dns::kMaxQuerySize> out{};
    const size_t n = dns::writeServfail(in, *q, out);
    if (n != q->question_end) __builtin_trap();
    if (!dns::isResponseTo(std::span<const uint8_t>(out.data(), n), q->id, in, *q))
      __builtin_trap();
  }
  // The input as an upstream answer to "example.com A".
  static constexpr std::array<uint8_t, 29> kQuery{
      0x12, 0x34, 0x01, 0x00, 0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
      'a',  'm',  'p',  'l',  'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
  const auto q = dns::parseQuery(kQuery);
  if (!q) __builtin_trap();
  (void)dns::isResponseTo(in, 0x1234, kQuery, *q);
  (void)dns::messageId(in);
  return 0;
}
