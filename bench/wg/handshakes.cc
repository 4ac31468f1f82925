// Handshakes per second on one core (DESIGN.md section 12, issue 3), against
// the X25519 bound from `openssl speed ecdhx25519` run by this same process
// on the same pinned CPU. Not a test: it asserts nothing.
//
// Responder side, as a VPN node sees it: Device::handleIncoming of fresh,
// valid initiations from N distinct peers (mac1 check, e/es/s, peer lookup,
// ss from the per-peer cache, TAI64N check), each answered with a response
// (e, ee, se, psk, keys, session install). That is 3 DH + 1 fixed-base
// scalar multiplication per handshake, so bound/4 is the ceiling.
//
// Initiator side, reported apart: handleOutgoing of one packet to each of N
// peers (stage it, create and send the initiation) plus handleIncoming of
// each peer's response (consume it, derive keys, send the staged packet).
//
// Times are CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), because the
// machine is shared: openssl speed also reports op/s over CPU (user) time.
//
//   wg_bench_handshakes [-n HANDSHAKES] [-c CPU] [-s OPENSSL_SECONDS (0: skip)]
//                       [-p responder|initiator|both]
#include <sched.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ip.h"
#include "core/log.h"
#include "wireguard/cookie.h"
#include "wireguard/device.h"
#include "wireguard/keys.h"
#include "wireguard/messages.h"
#include "wireguard/noise.h"

namespace aureo::wireguard {
namespace {

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double wallSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Stopwatch {
  double cpu = 0;
  double wall = 0;
  void start() {
    cpu -= threadCpuSeconds();
    wall -= wallSeconds();
  }
  void stop() {
    cpu += threadCpuSeconds();
    wall += wallSeconds();
  }
};

// Pins this thread (and so any child it starts) to cpu; -1 picks the last
// CPU this process may run on.
int pinToOneCpu(int cpu) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return -1;
  if (cpu < 0) {
    for (size_t i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &allowed)) cpu = static_cast<int>(i);
    }
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(static_cast<size_t>(cpu), &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) return -1;
  return cpu;
}

// op/s of "253 bits ecdh (X25519)" from `openssl speed`, or 0.
double opensslX25519OpsPerSecond(int seconds) {
  const std::string command =
      "openssl speed -seconds " + std::to_string(seconds) + " ecdhx25519 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return 0;
  double ops = 0;
  char line[512];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    const std::string text(line);
    if (text.find("ecdh (X25519)") == std::string::npos) continue;
    // " 253 bits ecdh (X25519)   0.0000s  29993.8": the last field.
    const size_t end = text.find_last_not_of(" \n");
    const size_t begin = text.find_last_of(' ', end);
    if (end != std::string::npos && begin != std::string::npos) {
      ops = std::strtod(text.substr(begin + 1, end - begin).c_str(), nullptr);
    }
  }
  pclose(pipe);
  return ops;
}

// What the engine itself calls for DH, for context next to OpenSSL's figure.
double sodiumX25519OpsPerSecond(double min_cpu_seconds) {
  uint8_t scalar[32];
  uint8_t point[32];
  uint8_t out[32];
  randombytes_buf(scalar, sizeof(scalar));
  crypto_scalarmult_base(point, scalar);
  size_t ops = 0;
  const double start = threadCpuSeconds();
  double elapsed = 0;
  do {
    for (int i = 0; i < 100; ++i) {
      if (crypto_scalarmult(out, scalar, point) != 0) std::abort();
      point[0] ^= out[0];
      ++ops;
    }
    elapsed = threadCpuSeconds() - start;
  } while (elapsed < min_cpu_seconds);
  return static_cast<double>(ops) / elapsed;
}

using Initiation = std::array<uint8_t, MESSAGE_INITIATION_SIZE>;
using Response = std::array<uint8_t, MESSAGE_RESPONSE_SIZE>;

// Keeps what the device sends: handshake messages into preallocated arrays
// (so the timed loops do not allocate for the bench's sake), the rest counted.
class BenchIo final : public TunnelIo {
 public:
  explicit BenchIo(size_t expected) {
    initiations.reserve(expected);
    initiation_targets.reserve(expected);
  }
  void writeToTun(std::span<const uint8_t>) override { ++tun_packets; }
  void sendUdp(std::span<const uint8_t> datagram, const Endpoint& to) override {
    const uint32_t type = messageType(datagram);
    if (type == MESSAGE_HANDSHAKE_INITIATION && datagram.size() == MESSAGE_INITIATION_SIZE) {
      initiations.emplace_back();
      std::memcpy(initiations.back().data(), datagram.data(), datagram.size());
      initiation_targets.push_back(to);
    } else if (type == MESSAGE_HANDSHAKE_RESPONSE && datagram.size() == MESSAGE_RESPONSE_SIZE) {
      ++responses;
    } else if (type == MESSAGE_DATA) {
      ++transport;
    } else {
      ++other;
    }
  }
  core::Result<uint16_t> bindUdp(uint16_t listen_port, uint32_t) override { return listen_port; }

  std::vector<Initiation> initiations;
  std::vector<Endpoint> initiation_targets;
  size_t responses = 0;
  size_t transport = 0;
  size_t other = 0;
  size_t tun_packets = 0;
};

// Handshake load must not flip the device into cookie mode: we measure the
// DH path, not the cookie reply.
DeviceOptions benchOptions() {
  DeviceOptions options;
  options.under_load_handshakes_per_second = std::numeric_limits<uint32_t>::max();
  options.under_load_backlog = std::numeric_limits<size_t>::max();
  return options;
}

// Peer i's outer address: 172.16.0.0/12 + i, port 51820.
Endpoint endpointOf(size_t i) {
  const auto base = *core::IpAddress::parse("172.16.0.0");
  return Endpoint{base.plus(i), 51820};
}

// Peer i's inner address: 10.0.0.0/8 + i + 1.
core::IpAddress innerAddressOf(size_t i) {
  return core::IpAddress::parse("10.0.0.0")->plus(i + 1);
}

// A 28-byte IPv4/UDP packet from 10.255.255.254 to dst.
std::vector<uint8_t> ipv4Packet(const core::IpAddress& dst) {
  std::vector<uint8_t> p(28, 0);
  p[0] = 0x45;
  p[3] = static_cast<uint8_t>(p.size());
  p[8] = 64;
  p[9] = 17;
  const auto src = *core::IpAddress::parse("10.255.255.254");
  std::memcpy(&p[12], src.bytes().data(), 4);
  std::memcpy(&p[16], dst.bytes().data(), 4);
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  return p;
}

void printDropsIfAny(const char* who, const Device& device) {
  const DropCounters drops = device.drops();
  if (drops.total() == 0) return;
  std::printf("  WARNING: %s dropped packets:", who);
  for (size_t r = 0; r < drops.counts.size(); ++r) {
    if (drops.counts[r] != 0) {
      std::printf(" %s=%llu", std::string(dropReasonName(static_cast<DropReason>(r))).c_str(),
                  static_cast<unsigned long long>(drops.counts[r]));
    }
  }
  std::printf("\n");
}

struct SideResult {
  double handshakes_per_cpu_second = 0;
  double handshakes_per_wall_second = 0;
  bool complete = false;
};

// N fresh initiations from N distinct peers into one responder device.
SideResult benchResponder(size_t n) {
  core::SystemClock clock;
  BenchIo io(0);
  Device responder(clock, io, core::Logger::null(), benchOptions());
  responder.setPrivateKey(generatePrivateKey());
  const PublicKey responder_public = *responder.publicKey();

  // Untimed: each peer's first initiation, with its own TAI64N timestamp.
  std::vector<Initiation> initiations(n);
  const core::SystemTime base = clock.now();
  for (size_t i = 0; i < n; ++i) {
    StaticIdentity peer;
    peer.set(generatePrivateKey());
    PeerConfig config;
    config.public_key = peer.public_key;
    if (!responder.addOrUpdatePeer(config).ok()) std::abort();
    Handshake handshake;
    handshake.init(responder_public, peer);
    MessageInitiation msg{};
    const auto timestamp = base + std::chrono::milliseconds(i);
    if (!handshake.createInitiation(peer, static_cast<uint32_t>(i + 1), timestamp, &msg)) {
      std::abort();
    }
    write(msg, std::span<uint8_t, MESSAGE_INITIATION_SIZE>(initiations[i]));
    CookieState cookie;
    cookie.init(responder_public);
    cookie.addMacs(initiations[i], clock.steadyNow());
  }

  Stopwatch watch;
  watch.start();
  for (size_t i = 0; i < n; ++i) responder.handleIncoming(initiations[i], endpointOf(i));
  watch.stop();

  printDropsIfAny("responder", responder);
  SideResult result;
  result.complete = io.responses == n;
  result.handshakes_per_cpu_second = static_cast<double>(n) / watch.cpu;
  result.handshakes_per_wall_second = static_cast<double>(n) / watch.wall;
  std::printf("  responder: %zu initiations in, %zu responses out, %.3f s CPU, %.3f s wall\n", n,
              io.responses, watch.cpu, watch.wall);
  return result;
}

// One initiator device with N peers: a packet to each starts N handshakes;
// N responders (driven through the Noise API, untimed) answer them.
SideResult benchInitiator(size_t n) {
  core::SystemClock clock;
  BenchIo io(n);
  Device initiator(clock, io, core::Logger::null(), benchOptions());
  const PrivateKey initiator_key = generatePrivateKey();
  initiator.setPrivateKey(initiator_key);
  const PublicKey initiator_public = publicKeyOf(initiator_key);

  std::vector<StaticIdentity> responders(n);
  std::vector<std::vector<uint8_t>> packets(n);
  for (size_t i = 0; i < n; ++i) {
    responders[i].set(generatePrivateKey());
    PeerConfig config;
    config.public_key = responders[i].public_key;
    config.endpoint = endpointOf(i);
    config.allowed_ips = {core::Cidr(innerAddressOf(i), 32)};
    if (!initiator.addOrUpdatePeer(config).ok()) std::abort();
    packets[i] = ipv4Packet(innerAddressOf(i));
  }

  Stopwatch create;
  create.start();
  for (size_t i = 0; i < n; ++i) initiator.handleOutgoing(packets[i]);
  create.stop();

  // Untimed: every responder answers the initiation sent to its endpoint.
  std::map<Endpoint, size_t> peer_at;
  for (size_t i = 0; i < n; ++i) peer_at.emplace(endpointOf(i), i);
  std::vector<Response> responses(io.initiations.size());
  std::vector<Endpoint> response_sources(io.initiations.size());
  for (size_t k = 0; k < io.initiations.size(); ++k) {
    const Endpoint& to = io.initiation_targets[k];
    const size_t i = peer_at.at(to);
    MessageInitiation msg{};
    read(std::span<const uint8_t, MESSAGE_INITIATION_SIZE>(io.initiations[k]), &msg);
    DecryptedInitiation partial;
    if (!decryptInitiationStatic(msg, responders[i], &partial)) std::abort();
    Handshake handshake;
    handshake.init(initiator_public, responders[i]);
    if (handshake.consumeInitiation(msg, partial, clock.steadyNow()) !=
        Handshake::InitiationVerdict::kOk) {
      std::abort();
    }
    MessageResponse response{};
    if (!handshake.createResponse(static_cast<uint32_t>(k + 1), &response)) std::abort();
    write(response, std::span<uint8_t, MESSAGE_RESPONSE_SIZE>(responses[k]));
    CookieState cookie;
    cookie.init(initiator_public);
    cookie.addMacs(responses[k], clock.steadyNow());
    response_sources[k] = to;
  }

  Stopwatch consume;
  consume.start();
  for (size_t k = 0; k < responses.size(); ++k) {
    initiator.handleIncoming(responses[k], response_sources[k]);
  }
  consume.stop();

  printDropsIfAny("initiator", initiator);
  SideResult result;
  // Each staged packet leaves encrypted once its handshake completes.
  result.complete = io.initiations.size() == n && io.transport == n;
  result.handshakes_per_cpu_second = static_cast<double>(n) / (create.cpu + consume.cpu);
  result.handshakes_per_wall_second = static_cast<double>(n) / (create.wall + consume.wall);
  std::printf(
      "  initiator: %zu initiations out (%.3f s CPU), %zu responses in (%.3f s CPU), "
      "%zu staged packets sent\n",
      io.initiations.size(), create.cpu, responses.size(), consume.cpu, io.transport);
  return result;
}

void printSide(const char* name, const SideResult& side, double quarter) {
  std::printf("%s: %.1f handshakes/s per CPU second (%.1f per wall second)", name,
              side.handshakes_per_cpu_second, side.handshakes_per_wall_second);
  if (quarter > 0)
    std::printf(" = %.1f%% of bound/4", 100 * side.handshakes_per_cpu_second / quarter);
  std::printf("%s\n", side.complete ? "" : "  [INCOMPLETE: some handshakes failed]");
}

int run(int argc, char** argv) {
  size_t n = 20000;
  int cpu = -1;
  int openssl_seconds = 3;
  std::string sides = "both";
  for (int opt; (opt = getopt(argc, argv, "n:c:s:p:")) != -1;) {
    switch (opt) {
      case 'n': n = std::strtoul(optarg, nullptr, 10); break;
      case 'c': cpu = std::atoi(optarg); break;
      case 's': openssl_seconds = std::atoi(optarg); break;
      case 'p': sides = optarg; break;
      default:
        std::fprintf(stderr,
                     "usage: %s [-n HANDSHAKES] [-c CPU] [-s OPENSSL_SECONDS (0: skip)] "
                     "[-p responder|initiator|both]\n",
                     argv[0]);
        return 2;
    }
  }
  const bool run_responder = sides == "both" || sides == "responder";
  const bool run_initiator = sides == "both" || sides == "initiator";
  if (n == 0 || (!run_responder && !run_initiator) || sodium_init() < 0) return 2;
  cpu = pinToOneCpu(cpu);
  if (cpu < 0) {
    std::fprintf(stderr, "cannot pin to one CPU: %s\n", std::strerror(errno));
    return 1;
  }
  std::printf("pinned to CPU %d; %zu handshakes per side\n", cpu, n);

  // The reference before and after, so a change in background load shows.
  double bound_before = 0;
  if (openssl_seconds > 0) {
    bound_before = opensslX25519OpsPerSecond(openssl_seconds);
    std::printf("openssl speed ecdhx25519 (before): %.1f op/s\n", bound_before);
  }
  std::printf("libsodium crypto_scalarmult (the engine's DH): %.1f op/s\n",
              sodiumX25519OpsPerSecond(1.0));
  SideResult responder;
  SideResult initiator;
  if (run_responder) responder = benchResponder(n);
  if (run_initiator) initiator = benchInitiator(n);
  double quarter = 0;
  if (openssl_seconds > 0) {
    const double bound_after = opensslX25519OpsPerSecond(openssl_seconds);
    std::printf("openssl speed ecdhx25519 (after):  %.1f op/s\n", bound_after);
    if (bound_before <= 0 || bound_after <= 0) {
      std::fprintf(stderr, "could not read op/s from `openssl speed ecdhx25519`\n");
      return 1;
    }
    const double bound = (bound_before + bound_after) / 2;
    quarter = bound / 4;
    std::printf("\nX25519 bound (mean op/s): %.1f; bound/4: %.1f handshakes/s; target 70%%: %.1f\n",
                bound, quarter, 0.7 * quarter);
  }
  if (run_responder) printSide("responder", responder, quarter);
  if (run_initiator) printSide("initiator", initiator, quarter);
  return 0;
}

}  // namespace
}  // namespace aureo::wireguard

int main(int argc, char** argv) {
  return aureo::wireguard::run(argc, argv);
}
