#include "wireguard/messages.h"

namespace aureo::wireguard {
namespace {

// Sequential reader/writer over a fixed buffer.
struct Writer {
  uint8_t* p;
  void type(uint8_t t) {
    wire::putLe32(p, t);
    p += 4;
  }
  void u32(uint32_t v) {
    wire::putLe32(p, v);
    p += 4;
  }
  void u64(uint64_t v) {
    wire::putLe64(p, v);
    p += 8;
  }
  template <size_t N>
  void bytes(const uint8_t (&b)[N]) {
    std::memcpy(p, b, N);
    p += N;
  }
};

struct Reader {
  const uint8_t* p;
  void skipType() { p += 4; }
  uint32_t u32() {
    const uint32_t v = wire::getLe32(p);
    p += 4;
    return v;
  }
  uint64_t u64() {
    const uint64_t v = wire::getLe64(p);
    p += 8;
    return v;
  }
  template <size_t N>
  void bytes(uint8_t (&b)[N]) {
    std::memcpy(b, p, N);
    p += N;
  }
};

}  // namespace

void write(const MessageInitiation& m, std::span<uint8_t, MESSAGE_INITIATION_SIZE> out) {
  Writer w{out.data()};
  w.type(MESSAGE_HANDSHAKE_INITIATION);
  w.u32(m.sender_index);
  w.bytes(m.unencrypted_ephemeral);
  w.bytes(m.encrypted_static);
  w.bytes(m.encrypted_timestamp);
  w.bytes(m.macs.mac1);
  w.bytes(m.macs.mac2);
}

void write(const MessageResponse& m, std::span<uint8_t, MESSAGE_RESPONSE_SIZE> out) {
  Writer w{out.data()};
  w.type(MESSAGE_HANDSHAKE_RESPONSE);
  w.u32(m.sender_index);
  w.u32(m.receiver_index);
  w.bytes(m.unencrypted_ephemeral);
  w.bytes(m.encrypted_nothing);
  w.bytes(m.macs.mac1);
  w.bytes(m.macs.mac2);
}

void write(const MessageCookieReply& m, std::span<uint8_t, MESSAGE_COOKIE_REPLY_SIZE> out) {
  Writer w{out.data()};
  w.type(MESSAGE_HANDSHAKE_COOKIE);
  w.u32(m.receiver_index);
  w.bytes(m.nonce);
  w.bytes(m.encrypted_cookie);
}

void write(const MessageTransportHeader& m, std::span<uint8_t, MESSAGE_TRANSPORT_HEADER_SIZE> out) {
  Writer w{out.data()};
  w.type(MESSAGE_DATA);
  w.u32(m.receiver_index);
  w.u64(m.counter);
}

void read(std::span<const uint8_t, MESSAGE_INITIATION_SIZE> in, MessageInitiation* m) {
  Reader r{in.data()};
  r.skipType();
  m->sender_index = r.u32();
  r.bytes(m->unencrypted_ephemeral);
  r.bytes(m->encrypted_static);
  r.bytes(m->encrypted_timestamp);
  r.bytes(m->macs.mac1);
  r.bytes(m->macs.mac2);
}

void read(std::span<const uint8_t, MESSAGE_RESPONSE_SIZE> in, MessageResponse* m) {
  Reader r{in.data()};
  r.skipType();
  m->sender_index = r.u32();
  m->receiver_index = r.u32();
  r.bytes(m->unencrypted_ephemeral);
  r.bytes(m->encrypted_nothing);
  r.bytes(m->macs.mac1);
  r.bytes(m->macs.mac2);
}

void read(std::span<const uint8_t, MESSAGE_COOKIE_REPLY_SIZE> in, MessageCookieReply* m) {
  Reader r{in.data()};
  r.skipType();
  m->receiver_index = r.u32();
  r.bytes(m->nonce);
  r.bytes(m->encrypted_cookie);
}

void read(std::span<const uint8_t, MESSAGE_TRANSPORT_HEADER_SIZE> in, MessageTransportHeader* m) {
  Reader r{in.data()};
  r.skipType();
  m->receiver_index = r.u32();
  m->counter = r.u64();
}

}  // namespace aureo::wireguard
