// The cross-platform WireGuard configuration protocol
// (https://www.wireguard.com/xplatform/), so the stock `wg show` / `wg set`
// drive the engine through /var/run/wireguard/<ifname>.sock.
//
// Parsing and formatting are plain functions over plain structs; the server
// hands a fully parsed and validated request to a UapiHandler, so a bad line
// anywhere in a `set` changes nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip.h"
#include "core/log.h"
#include "core/result.h"
#include "wireguard/udp.h"

namespace aureo::wireguard {

inline constexpr size_t kUapiKeyLen = 32;

// A public key as the protocol carries it.
using UapiKey = std::array<uint8_t, kUapiKeyLen>;

// A private or preshared key: wiped when destroyed. All zeros means "none"
// on the wire (what `wg set ... private-key /dev/null` sends).
class UapiSecret {
 public:
  UapiSecret() = default;
  explicit UapiSecret(const UapiKey& bytes) : bytes_(bytes) {}
  UapiSecret(const UapiSecret&) = default;
  UapiSecret& operator=(const UapiSecret&) = default;
  ~UapiSecret();

  [[nodiscard]] const UapiKey& bytes() const { return bytes_; }
  [[nodiscard]] bool isZero() const;
  bool operator==(const UapiSecret&) const = default;

 private:
  UapiKey bytes_{};
};

// 64 lowercase hex digits, and back (either case accepted).
std::string uapiKeyToHex(const UapiKey& key);
std::optional<UapiKey> uapiKeyFromHex(std::string_view hex);

struct PeerChange {
  UapiKey public_key{};
  bool remove = false;
  bool update_only = false;                 // do not create the peer
  std::optional<UapiSecret> preshared_key;  // zero: clear it
  std::optional<Endpoint> endpoint;
  std::optional<uint16_t> persistent_keepalive_interval;  // seconds, 0: off
  bool replace_allowed_ips = false;
  std::vector<core::Cidr> allowed_ips;  // host bits already masked off

  bool operator==(const PeerChange&) const = default;
};

struct DeviceChange {
  std::optional<UapiSecret> private_key;  // zero: remove it
  std::optional<uint16_t> listen_port;    // 0: pick any
  std::optional<uint32_t> fwmark;         // 0: clear it
  bool replace_peers = false;
  std::vector<PeerChange> peers;

  bool operator==(const DeviceChange&) const = default;
};

struct PeerState {
  UapiKey public_key{};
  UapiSecret preshared_key;  // zero when none
  std::optional<Endpoint> endpoint;
  int64_t last_handshake_time_sec = 0;
  int64_t last_handshake_time_nsec = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_bytes = 0;
  uint16_t persistent_keepalive_interval = 0;
  std::vector<core::Cidr> allowed_ips;

  bool operator==(const PeerState&) const = default;
};

struct DeviceState {
  UapiSecret private_key;  // zero when none
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<PeerState> peers;

  bool operator==(const DeviceState&) const = default;
};

// Parses the body of a set request: the key=value lines after "set=1", each
// ending in '\n', up to and optionally including the empty line. Everything
// is validated before anything is returned. Errors are kInvalidArgument
// (bad key or value; EINVAL on the wire) or kDataLoss (a line that is not
// key=value; EPROTO), with the offending line in the message.
core::Result<DeviceChange> parseSetRequest(std::string_view body);

// The "set=1\n...\n\n" text wg(8) would send for change.
std::string formatSetRequest(const DeviceChange& change);

// The reply to get=1, ending in "errno=0\n\n".
std::string formatGetResponse(const DeviceState& state);

// Parses a get reply (as formatted above or by wireguard-go/the kernel via
// wg), requiring the final errno=0.
core::Result<DeviceState> parseGetResponse(std::string_view reply);

// The positive errno a protocol error answers with (EINVAL, EPROTO, ...).
int uapiErrno(const core::Error& error);

// What the device implements. Both calls come from the UAPI server thread,
// one at a time, never with a server lock held.
class UapiHandler {
 public:
  virtual ~UapiHandler() = default;
  // Applies a validated change. Returns 0 or a positive errno (EINVAL,
  // EADDRINUSE for a taken listen_port, ...), sent back to wg as errno=-N.
  virtual int applySet(const DeviceChange& change) = 0;
  virtual DeviceState getState() = 0;
};

struct UapiServerOptions {
  std::string socket_dir = "/var/run/wireguard";
  size_t max_line_bytes = 4096;  // longer lines: error reply, connection closed
  size_t max_request_lines = 1 << 20;
  size_t max_clients = 16;  // further connections are closed at once
};

// A unix stream socket at <socket_dir>/<ifname>.sock (directory 0755,
// socket 0600), served by one thread. A stale socket file (nobody
// listening) is replaced; a live one is an AlreadyExists error.
class UapiServer {
 public:
  static core::Result<std::unique_ptr<UapiServer>> start(std::string_view ifname,
                                                         UapiHandler& handler, core::Logger& log,
                                                         UapiServerOptions options = {});
  // Stops the thread, closes every connection and removes the socket file.
  ~UapiServer();
  UapiServer(const UapiServer&) = delete;
  UapiServer& operator=(const UapiServer&) = delete;

  [[nodiscard]] const std::string& socketPath() const;

 private:
  struct Impl;
  explicit UapiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::wireguard
