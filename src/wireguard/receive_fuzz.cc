// libFuzzer target: the receive path, Device::handleIncoming, against a
// device that has live sessions, so inputs get past the cheap checks.
//
// Device "a" has two peers: "b", an in-memory engine that has completed a
// handshake with it, and the wireguard-go key of interop_vector_test.cc
// (whose captured initiation is in the seed corpus). The first input byte
// picks how the rest is delivered to a:
//   0  as is;
//   1  as a transport message to a's live session with b (type and receiver
//      index patched in), so it reaches decryption;
//   2  as the plaintext of a packet b encrypts to a (an IPv4 or IPv6 header
//      is patched in), so it reaches cryptokey routing and the tunnel write;
//   3  as a handshake initiation or response with a valid mac1 for a, so it
//      reaches the Noise processing.
// Invariant checked: every packet a writes to its tunnel is a well-formed IP
// packet whose source lies in b's allowed IPs.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/testing/fake_clock.h"
#include "wireguard/cookie.h"
#include "wireguard/device.h"
#include "wireguard/internal/ip_packet.h"
#include "wireguard/keys.h"
#include "wireguard/messages.h"
#include "wireguard/testing/memory_network.h"

namespace aureo::wireguard {
namespace {

constexpr const char* kAPrivate = "KBgIUSg5bq8xyEOb0S5gGWzc6gnRczw+fJhI/bok03c=";
constexpr const char* kGoPublic = "rCzvnBizpePsOAlahuS3kM6hZqJoJPmmYGH6qmq5wlA=";

core::Cidr cidr(const char* text) {
  return *core::Cidr::parse(text);
}

std::vector<uint8_t> ipv4(const char* src, const char* dst, size_t payload) {
  std::vector<uint8_t> p(20 + payload, 0);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[8] = 64;
  p[9] = 17;
  std::memcpy(&p[12], core::IpAddress::parse(src)->bytes().data(), 4);
  std::memcpy(&p[16], core::IpAddress::parse(dst)->bytes().data(), 4);
  return p;
}

struct World {
  core::testing::FakeClock clock;
  testing::Node a{clock, *Endpoint::parse("192.0.2.1:51820")};
  testing::Node b{clock, *Endpoint::parse("198.51.100.2:51821")};
  testing::MemoryNetwork net;
  uint8_t session_index[4] = {};  // a's receiver index for b's session
  CookieState macs_for_a;

  World() {
    a.key = *parsePrivateKey(kAPrivate);
    a.device.setPrivateKey(a.key);
    net.add(a);
    net.add(b);
    PeerConfig to_b;
    to_b.public_key = b.publicKey();
    to_b.endpoint = b.io.address();
    to_b.allowed_ips = {cidr("10.0.0.2/32"), cidr("fd00::2/128")};
    (void)a.device.addOrUpdatePeer(to_b);
    PeerConfig to_go;
    to_go.public_key = *parsePublicKey(kGoPublic);
    to_go.allowed_ips = {cidr("10.0.0.3/32")};
    (void)a.device.addOrUpdatePeer(to_go);
    PeerConfig to_a;
    to_a.public_key = a.publicKey();
    to_a.endpoint = a.io.address();
    to_a.allowed_ips = {cidr("0.0.0.0/0"), cidr("::/0")};
    (void)b.device.addOrUpdatePeer(to_a);

    a.device.handleOutgoing(ipv4("10.0.0.1", "10.0.0.2", 8));
    net.pump();
    b.device.handleOutgoing(ipv4("10.0.0.2", "10.0.0.1", 8));
    net.pump();
    for (const auto& d : net.log()) {
      if (d.to == a.io.address() && messageType(d.bytes) == MESSAGE_DATA) {
        std::memcpy(session_index, d.bytes.data() + 4, 4);
      }
    }
    macs_for_a.init(a.publicKey());
    drain();
  }

  void drain() {
    checkTunnel();
    a.io.outbound.clear();
    b.io.outbound.clear();
    b.io.tun.clear();
    net.clearLog();
  }

  void checkTunnel() {
    for (const auto& packet : a.io.tun) {
      const auto ip = internal::parseIpHeader(packet);
      if (!ip || ip->total_length != packet.size()) std::abort();
      const auto source = core::IpAddress::fromBytes(ip->family, ip->source);
      if (!cidr("10.0.0.2/32").contains(source) && !cidr("fd00::2/128").contains(source)) {
        std::abort();
      }
    }
    a.io.tun.clear();
  }
};

World& world() {
  static World* w = new World();  // lives for the process; never destroyed mid-run
  return *w;
}

void asTransport(World& w, std::span<const uint8_t> body) {
  std::vector<uint8_t> msg(std::max<size_t>(body.size(), MESSAGE_TRANSPORT_MIN_SIZE), 0);
  std::copy(body.begin(), body.end(), msg.begin());
  wire::putLe32(msg.data(), MESSAGE_DATA);
  std::memcpy(msg.data() + 4, w.session_index, 4);
  w.a.device.handleIncoming(msg, w.b.io.address());
}

void asPlaintextFromB(World& w, std::span<const uint8_t> body) {
  const bool v6 = !body.empty() && (body[0] >> 4) == 6;
  const size_t header = v6 ? 40 : 20;
  std::vector<uint8_t> p(std::max(body.size(), header), 0);
  std::copy(body.begin(), body.end(), p.begin());
  p.resize(std::min<size_t>(p.size(), 1400));
  const size_t total = p.size();
  if (v6) {
    p[0] = static_cast<uint8_t>(0x60 | (p[0] & 0x0f));
    p[4] = static_cast<uint8_t>((total - 40) >> 8);
    p[5] = static_cast<uint8_t>(total - 40);
    std::memcpy(&p[24], core::IpAddress::parse("fd00::1")->bytes().data(), 16);
  } else {
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(total >> 8);
    p[3] = static_cast<uint8_t>(total);
    std::memcpy(&p[16], core::IpAddress::parse("10.0.0.1")->bytes().data(), 4);
  }
  w.b.device.handleOutgoing(p);
  w.net.pump();
}

void asHandshake(World& w, std::span<const uint8_t> body) {
  const bool initiation = body.size() > MESSAGE_RESPONSE_SIZE;
  std::vector<uint8_t> msg(initiation ? MESSAGE_INITIATION_SIZE : MESSAGE_RESPONSE_SIZE, 0);
  std::copy_n(body.begin(), std::min(body.size(), msg.size()), msg.begin());
  wire::putLe32(msg.data(), initiation ? MESSAGE_HANDSHAKE_INITIATION : MESSAGE_HANDSHAKE_RESPONSE);
  w.macs_for_a.addMacs(msg, w.clock.steadyNow());
  w.a.device.handleIncoming(msg, *Endpoint::parse("203.0.113.9:4444"));
}

}  // namespace
}  // namespace aureo::wireguard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aureo::wireguard;
  if (size == 0) return 0;
  World& w = world();
  const std::span<const uint8_t> body(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: w.a.device.handleIncoming(body, w.b.io.address()); break;
    case 1: asTransport(w, body); break;
    case 2: asPlaintextFromB(w, body); break;
    default: asHandshake(w, body); break;
  }
  w.drain();
  return 0;
}
