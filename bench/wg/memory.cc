// Memory per configured, idle peer (DESIGN.md section 12, issue 3: under
// 2 KiB with 100k peers). One process, one Device with a private key; adds N
// peers, each with a distinct public key, an endpoint, a /32 in 10.0.0.0/8
// and a /128 in fd00::/8, and prints the growth of the resident set (VmRSS)
// and of the live heap (mallinfo2) per peer. Not a test: it asserts nothing.
//
// The kernel's figure cannot be taken here, so the in-run reference is the
// bare state a peer needs (keys, endpoint, trie entries), which shows the
// overhead factor.
//
//   wg_bench_memory [-n PEERS]
#include <malloc.h>
#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ip.h"
#include "core/log.h"
#include "wireguard/device.h"
#include "wireguard/keys.h"
#include "wireguard/peer.h"

namespace aureo::wireguard {
namespace {

class NullIo final : public TunnelIo {
 public:
  void writeToTun(std::span<const uint8_t>) override {}
  void sendUdp(std::span<const uint8_t>, const Endpoint&) override {}
  core::Result<uint16_t> bindUdp(uint16_t listen_port, uint32_t) override { return listen_port; }
};

struct Usage {
  long rss_bytes = 0;
  size_t heap_bytes = 0;
};

Usage measure() {
  Usage usage;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) usage.rss_bytes = std::atol(line.c_str() + 6) * 1024;
  }
  const struct mallinfo2 info = mallinfo2();
  usage.heap_bytes = info.uordblks + info.hblkhd;  // in use from the arenas + mmapped chunks
  return usage;
}

void printGrowth(const char* what, const Usage& from, const Usage& to, size_t peers) {
  const double n = static_cast<double>(peers);
  std::printf(
      "%-40s RSS %+8.1f MiB = %7.1f B/peer   heap %+8.1f MiB = %7.1f B/peer\n", what,
      static_cast<double>(to.rss_bytes - from.rss_bytes) / 1048576.0,
      static_cast<double>(to.rss_bytes - from.rss_bytes) / n,
      (static_cast<double>(to.heap_bytes) - static_cast<double>(from.heap_bytes)) / 1048576.0,
      (static_cast<double>(to.heap_bytes) - static_cast<double>(from.heap_bytes)) / n);
}

// Peer i's public key: random bytes (any 32 bytes are a valid X25519 input).
PublicKey randomPublicKey() {
  PublicKey key;
  randombytes_buf(key.data(), key.bytes.size());
  return key;
}

int run(int argc, char** argv) {
  size_t n = 100000;
  bool split = false;
  for (int opt; (opt = getopt(argc, argv, "n:b")) != -1;) {
    if (opt == 'n') {
      n = std::strtoul(optarg, nullptr, 10);
    } else if (opt == 'b') {
      split = true;
    } else {
      std::fprintf(stderr, "usage: %s [-n PEERS] [-b]\n", argv[0]);
      return 2;
    }
  }
  if (n == 0 || n > (1u << 24) || sodium_init() < 0) return 2;

  // The 10.0.0.0/8 and fd00::/8 spaces split into n equal strides, so the
  // trie branches at every depth rather than along one dense run.
  const uint64_t v4_stride = (uint64_t{1} << 24) / n;
  const auto v4_base = *core::IpAddress::parse("10.0.0.1");
  const auto v6_base = *core::IpAddress::parse("fd00::1");
  const uint64_t v6_stride = 0x0000'0100'0000'0001ULL;  // spreads the low 64 bits
  const auto endpoint_base = *core::IpAddress::parse("100.64.0.0");
  auto allowedIpsOf = [&](size_t i) {
    return std::vector<core::Cidr>{core::Cidr(v4_base.plus(i * v4_stride), 32),
                                   core::Cidr(v6_base.plus(i * v6_stride), 128)};
  };
  // With -b the keys are kept for the second pass; allocated before the
  // first measure, so they do not count as the device's.
  std::vector<PublicKey> keys(split ? n : 0);

  core::SystemClock clock;
  NullIo io;
  Device device(clock, io, core::Logger::null());
  device.setPrivateKey(generatePrivateKey());
  const Usage empty = measure();

  // -b: first the peers with key and endpoint only, then their allowed IPs
  // in a second pass, to split the figure. The end state is the same.
  for (size_t i = 0; i < n; ++i) {
    PeerConfig config;
    config.public_key = randomPublicKey();
    config.endpoint = Endpoint{endpoint_base.plus(i), 51820};
    if (split) {
      keys[i] = config.public_key;
    } else {
      config.allowed_ips = allowedIpsOf(i);
    }
    if (!device.addOrUpdatePeer(config).ok()) {
      std::fprintf(stderr, "addOrUpdatePeer failed at peer %zu\n", i);
      return 1;
    }
  }
  const Usage peers_only = measure();
  if (split) {
    for (size_t i = 0; i < n; ++i) {
      PeerConfig config;
      config.public_key = keys[i];
      config.update_only = true;
      config.allowed_ips = allowedIpsOf(i);
      if (!device.addOrUpdatePeer(config).ok()) {
        std::fprintf(stderr, "adding allowed IPs failed at peer %zu\n", i);
        return 1;
      }
    }
  }
  const Usage full = measure();
  if (device.peerCount() != n) {
    std::fprintf(stderr, "expected %zu peers, have %zu\n", n, device.peerCount());
    return 1;
  }

  std::printf("%zu peers, each with a public key, an endpoint, a /32 and a /128\n", n);
  std::printf("device with a key, no peers:             RSS %8.1f MiB            heap %8.1f MiB\n",
              static_cast<double>(empty.rss_bytes) / 1048576.0,
              static_cast<double>(empty.heap_bytes) / 1048576.0);
  if (split) {
    printGrowth("  of which peers (key, endpoint):", empty, peers_only, n);
    printGrowth("  of which allowed IPs (/32 + /128):", peers_only, full, n);
  }
  printGrowth("growth with the peers:", empty, full, n);

  // The reference: the state a peer cannot do without.
  constexpr size_t kKeys = NOISE_PUBLIC_KEY_LEN + NOISE_SYMMETRIC_KEY_LEN;  // public + preshared
  constexpr size_t kEndpoint = 16 + 2;                                      // address + port
  constexpr size_t kTrieV4 = 4 + 1 + sizeof(void*);   // key, prefix length, peer reference
  constexpr size_t kTrieV6 = 16 + 1 + sizeof(void*);  // the same for the /128
  constexpr size_t kMinimum = kKeys + kEndpoint + kTrieV4 + kTrieV6;
  std::printf(
      "reference, bare peer state: %zu B (keys %zu + endpoint %zu + trie v4 %zu + v6 %zu)\n",
      kMinimum, kKeys, kEndpoint, kTrieV4, kTrieV6);
  std::printf("overhead factor: RSS %.1fx, heap %.1fx; target: under 2048 B/peer\n",
              static_cast<double>(full.rss_bytes - empty.rss_bytes) / static_cast<double>(n) /
                  static_cast<double>(kMinimum),
              (static_cast<double>(full.heap_bytes) - static_cast<double>(empty.heap_bytes)) /
                  static_cast<double>(n) / static_cast<double>(kMinimum));
  std::printf("sizeof(Peer) = %zu B (Handshake %zu, CookieState %zu, Timers %zu)\n", sizeof(Peer),
              sizeof(Handshake), sizeof(CookieState), sizeof(Timers));
  return 0;
}

}  // namespace
}  // namespace aureo::wireguard

int main(int argc, char** argv) {
  return aureo::wireguard::run(argc, argv);
}
