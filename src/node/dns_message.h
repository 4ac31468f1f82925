// The little of the DNS wire format (RFC 1035 section 4.1) the node's
// forwarder needs: checking that a client's packet is one well-formed query,
// matching an upstream answer to it, rewriting the message id, and writing a
// SERVFAIL. Nothing here allocates; every read is bounds-checked, so any
// byte string is safe to pass (see dns_message_fuzz.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace aureo::node::dns {

constexpr size_t kHeaderSize = 12;
// Longest query the forwarder takes, over UDP or TCP. A query is one
// question (a name is at most 255 bytes) plus an EDNS OPT record; real ones
// are well under this.
constexpr size_t kMaxQuerySize = 1232;

struct Query {
  uint16_t id = 0;
  // The question section: bytes [kHeaderSize, question_end) of the message.
  size_t question_end = 0;
};

// A query we forward: QR=0, opcode QUERY, exactly one question whose name
// parses without compression, no answer or authority records, at most one
// additional record (EDNS OPT), nothing after the records, and at most
// kMaxQuerySize bytes. nullopt for anything else.
std::optional<Query> parseQuery(std::span<const uint8_t> message);

// True when `response` is an answer (QR=1) that carries `id` and the same
// question as `query` (names compared case-insensitively, as resolvers may
// echo them in another case).
bool isResponseTo(std::span<const uint8_t> response, uint16_t id, std::span<const uint8_t> query,
                  const Query& parsed);

uint16_t messageId(std::span<const uint8_t> message);        // 0 for fewer than 2 bytes
void setMessageId(std::span<uint8_t> message, uint16_t id);  // no-op for fewer than 2 bytes

// Writes a SERVFAIL answer to `query` into `out` (header and the question,
// id and RD copied, RA set). Returns its length, 0 when `out` is too small.
size_t writeServfail(std::span<const uint8_t> query, const Query& parsed, std::span<uint8_t> out);

}  // namespace aureo::node::dns
