// The engine's outer transport: a UDP socket with batched syscalls
// (recvmmsg/sendmmsg), UDP GRO on receive and UDP GSO on send, one socket per
// worker on the same port through SO_REUSEPORT.
//
// Data-path calls never allocate and never throw: every buffer is sized once
// when a batch object is built. They return a count, or a negative errno.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/ip.h"
#include "core/result.h"
#include "wireguard/endpoint.h"

namespace aureo::wireguard {

enum class UdpFamily : uint8_t {
  kDualStack,  // AF_INET6 with IPV6_V6ONLY=0: IPv4 and IPv6 peers on one socket
  kV4,
  kV6Only,
};

struct UdpOptions {
  UdpFamily family = UdpFamily::kDualStack;
  uint16_t port = 0;  // 0: the kernel picks; read it back with localPort()
  // Bind address; empty means any (0.0.0.0 / ::).
  std::optional<core::IpAddress> bind_address;
  bool reuse_port = true;
  std::optional<uint32_t> fwmark;  // SO_MARK; needs CAP_NET_ADMIN
  int buffer_bytes = 8 << 20;      // SO_RCVBUF/SO_SNDBUF (…FORCE when allowed)
  bool gro = true;                 // UDP_GRO if the kernel has it
  bool gso = true;                 // UDP_SEGMENT on send if the kernel has it
};

// One datagram to send. data must stay valid for the send call.
struct OutgoingDatagram {
  Endpoint to;
  std::span<const uint8_t> data;
};

// Preallocated receive state: up to max_messages recvmmsg slots, each a
// buffer of slot_bytes (64 KiB so a GRO super-datagram fits). After a
// receive, datagram(i) views the i-th datagram, GRO runs already split.
class RecvBatch {
 public:
  explicit RecvBatch(size_t max_messages = 64, size_t slot_bytes = 65536);
  ~RecvBatch();
  RecvBatch(const RecvBatch&) = delete;
  RecvBatch& operator=(const RecvBatch&) = delete;

  [[nodiscard]] size_t size() const { return count_; }
  [[nodiscard]] std::span<const uint8_t> data(size_t i) const;
  [[nodiscard]] const Endpoint& from(size_t i) const;
  // recvmmsg slots that were GRO super-datagrams in the last receive.
  [[nodiscard]] size_t groSlots() const { return gro_slots_; }

 private:
  friend class UdpSocket;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  size_t count_ = 0;
  size_t gro_slots_ = 0;
};

// Preallocated send state for up to max_datagrams per call.
class SendBatch {
 public:
  explicit SendBatch(size_t max_datagrams = 256);
  ~SendBatch();
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;
  [[nodiscard]] size_t capacity() const;

 private:
  friend class UdpSocket;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class UdpSocket {
 public:
  static core::Result<UdpSocket> open(const UdpOptions& options);

  UdpSocket(UdpSocket&& other) noexcept;
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket();

  // Non-blocking; poll it for POLLIN/POLLOUT.
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] uint16_t localPort() const { return local_port_; }
  [[nodiscard]] bool dualStack() const { return v6_ && !v6_only_; }
  [[nodiscard]] bool groEnabled() const { return gro_; }
  [[nodiscard]] bool gsoEnabled() const { return gso_; }

  // Control plane, any time: changes SO_MARK (0 clears it).
  core::Status setFwmark(uint32_t mark);

  // Reads whatever is queued (MSG_DONTWAIT) into batch. Returns the number of
  // datagrams (batch.size()), 0 when nothing is queued, or -errno.
  // One thread per socket.
  int receive(RecvBatch& batch);

  // Sends datagrams in order, grouping runs to the same endpoint with equal
  // sizes (the last may be shorter) into one UDP_SEGMENT message when GSO is
  // on. Returns how many datagrams the kernel took (a prefix of the input;
  // fewer than asked when the socket buffer is full), or -errno when none
  // went. If the kernel rejects GSO (EIO/EINVAL) it is switched off for this
  // socket and the batch retried without it; a GSO send larger than the
  // route's MTU (EMSGSIZE) is retried without GSO just this once. Datagrams to an address the
  // socket cannot reach (IPv6 on an IPv4 socket) fail with -EAFNOSUPPORT.
  // One thread per socket.
  int send(std::span<const OutgoingDatagram> datagrams, SendBatch& batch);

 private:
  UdpSocket() = default;
  int sendOnce(std::span<const OutgoingDatagram> datagrams, SendBatch& batch, bool gso);

  int fd_ = -1;
  uint16_t local_port_ = 0;
  bool v6_ = false;
  bool v6_only_ = false;
  bool gro_ = false;
  bool gso_ = false;
};

}  // namespace aureo::wireguard
