// The node's DNS resolver for its clients: a forwarder listening on the
// tunnel gateway addresses (10.8.0.1:53 and the IPv6 gateway), UDP and TCP,
// that relays each query to the upstream resolvers (the node's dns_servers).
//
//   - Only sources inside the tunnel prefixes are served, and the sockets
//     are bound to the tunnel interface: it is never an open resolver on the
//     uplink.
//   - UDP queries go upstream from one socket per address family with a
//     fresh random message id (the client's id is restored in the answer),
//     so concurrent clients that picked the same id cannot be confused.
//     TCP queries go upstream over TCP, one connection per query.
//   - An upstream that does not answer within `upstream_timeout` is skipped
//     for the next; when every upstream failed the client gets SERVFAIL.
//   - In-flight UDP queries and TCP client connections are bounded; what
//     exceeds a bound is dropped and counted, as is every malformed packet.
//
// All I/O runs on one Asio thread owned by the forwarder. Buffers for the
// in-flight table are allocated once at start.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip.h"
#include "core/log.h"
#include "core/result.h"

namespace aureo::node {

struct DnsEndpoint {
  core::IpAddress address;
  uint16_t port = 53;
};

// "1.1.1.1", "1.1.1.1:5353", "2606:4700::1111", "[2606:4700::1111]:53".
core::Result<DnsEndpoint> parseDnsEndpoint(std::string_view text);

struct DnsForwarderOptions {
  std::vector<DnsEndpoint> listen;          // port 0: any free port (tests)
  std::string bind_device;                  // SO_BINDTODEVICE; empty: none
  std::vector<core::Cidr> allowed_sources;  // the tunnel prefixes
  std::vector<DnsEndpoint> upstreams;       // tried in order
  std::chrono::milliseconds upstream_timeout{2000};
  size_t max_inflight = 1024;       // UDP queries waiting for upstream
  size_t max_tcp_connections = 64;  // client connections at once
  std::chrono::milliseconds tcp_idle_timeout{10'000};
};

enum class DnsDrop : uint8_t {
  kMalformed,          // not one well-formed query
  kNotTunnel,          // source outside the tunnel prefixes
  kInflightLimit,      // max_inflight UDP queries already waiting
  kTcpLimit,           // max_tcp_connections already open
  kBadUpstreamAnswer,  // an upstream packet matching no query we sent
  kCount
};
std::string_view dnsDropName(DnsDrop reason);

struct DnsStats {
  uint64_t udp_queries = 0;  // accepted and forwarded
  uint64_t tcp_queries = 0;
  uint64_t answered = 0;           // upstream answers relayed to clients
  uint64_t servfail = 0;           // every upstream failed
  uint64_t upstream_failures = 0;  // an upstream timed out or refused (each try)
  std::array<uint64_t, static_cast<size_t>(DnsDrop::kCount)> drops{};
};

class DnsForwarder {
 public:
  // Binds every socket before returning (errors name the address), then
  // serves on its own thread until destroyed.
  static core::Result<std::unique_ptr<DnsForwarder>> start(DnsForwarderOptions options,
                                                           core::Logger& log);
  ~DnsForwarder();  // stops the thread; in-flight queries are abandoned
  DnsForwarder(const DnsForwarder&) = delete;
  DnsForwarder& operator=(const DnsForwarder&) = delete;

  // The bound ports, in the order of options.listen (useful with port 0).
  [[nodiscard]] uint16_t udpPort(size_t i) const;
  [[nodiscard]] uint16_t tcpPort(size_t i) const;

  // Safe from any thread.
  [[nodiscard]] DnsStats stats() const;

 private:
  struct Impl;
  explicit DnsForwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::node
