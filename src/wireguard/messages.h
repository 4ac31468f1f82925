// Wire layouts of the four message types (whitepaper section 5.4). Every
// integer is little-endian on the wire; the structs hold them in host order
// and read()/write() convert, so no code reinterprets packet bytes in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "wireguard/constants.h"

namespace aureo::wireguard {

struct MessageMacs {
  uint8_t mac1[COOKIE_LEN];
  uint8_t mac2[COOKIE_LEN];
};

struct MessageInitiation {
  uint32_t sender_index;
  uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
  uint8_t encrypted_static[NOISE_PUBLIC_KEY_LEN + NOISE_AUTHTAG_LEN];
  uint8_t encrypted_timestamp[NOISE_TIMESTAMP_LEN + NOISE_AUTHTAG_LEN];
  MessageMacs macs;
};

struct MessageResponse {
  uint32_t sender_index;
  uint32_t receiver_index;
  uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
  uint8_t encrypted_nothing[NOISE_AUTHTAG_LEN];
  MessageMacs macs;
};

struct MessageCookieReply {
  uint32_t receiver_index;
  uint8_t nonce[COOKIE_NONCE_LEN];
  uint8_t encrypted_cookie[COOKIE_LEN + NOISE_AUTHTAG_LEN];
};

struct MessageTransportHeader {
  uint32_t receiver_index;
  uint64_t counter;
};

// The message type of a datagram: its first four bytes as a little-endian
// integer, so the three reserved bytes must be zero. 0 for anything shorter.
inline uint32_t messageType(std::span<const uint8_t> datagram) {
  if (datagram.size() < 4) return 0;
  return static_cast<uint32_t>(datagram[0]) | static_cast<uint32_t>(datagram[1]) << 8 |
         static_cast<uint32_t>(datagram[2]) << 16 | static_cast<uint32_t>(datagram[3]) << 24;
}

namespace wire {

inline void putLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void putLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t getLe32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
  return v;
}
inline uint64_t getLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

}  // namespace wire

// Serialisation; out must hold the message's *_SIZE bytes, in holds exactly that many.
void write(const MessageInitiation& m, std::span<uint8_t, MESSAGE_INITIATION_SIZE> out);
void write(const MessageResponse& m, std::span<uint8_t, MESSAGE_RESPONSE_SIZE> out);
void write(const MessageCookieReply& m, std::span<uint8_t, MESSAGE_COOKIE_REPLY_SIZE> out);
void write(const MessageTransportHeader& m, std::span<uint8_t, MESSAGE_TRANSPORT_HEADER_SIZE> out);
void read(std::span<const uint8_t, MESSAGE_INITIATION_SIZE> in, MessageInitiation* m);
void read(std::span<const uint8_t, MESSAGE_RESPONSE_SIZE> in, MessageResponse* m);
void read(std::span<const uint8_t, MESSAGE_COOKIE_REPLY_SIZE> in, MessageCookieReply* m);
void read(std::span<const uint8_t, MESSAGE_TRANSPORT_HEADER_SIZE> in, MessageTransportHeader* m);

}  // namespace aureo::wireguard
