// TUN offloads in software: split the super-packets a TUN device hands us
// (TSO/USO, IFF_VNET_HDR) into wire-sized IP packets, and merge decrypted TCP
// segments of one flow back into a super-packet for a single TUN write (GRO).
//
// Everything here is pure data-plane code: no syscalls, no allocation, no
// exceptions. Output always goes into buffers the caller provides; a
// malformed input yields an OffloadError and writes nothing the caller
// should use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace aureo::wireguard {

// struct virtio_net_hdr (without num_buffers), as set with TUNSETVNETHDRSZ.
inline constexpr size_t kVirtioNetHdrLen = 10;

inline constexpr uint8_t kVirtioNetHdrFlagNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVirtioNetHdrGsoNone = 0;        // VIRTIO_NET_HDR_GSO_NONE
inline constexpr uint8_t kVirtioNetHdrGsoTcpV4 = 1;       // VIRTIO_NET_HDR_GSO_TCPV4
inline constexpr uint8_t kVirtioNetHdrGsoTcpV6 = 4;       // VIRTIO_NET_HDR_GSO_TCPV6
inline constexpr uint8_t kVirtioNetHdrGsoUdpL4 = 5;       // VIRTIO_NET_HDR_GSO_UDP_L4
inline constexpr uint8_t kVirtioNetHdrGsoEcn = 0x80;      // VIRTIO_NET_HDR_GSO_ECN

// Host byte order in memory; the TUN device uses the host's endianness for
// the legacy header (we never set TUNSETVNETLE/BE).
struct VirtioNetHdr {
  uint8_t flags = 0;
  uint8_t gso_type = kVirtioNetHdrGsoNone;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;

  // False when bytes is shorter than kVirtioNetHdrLen.
  static bool decode(std::span<const uint8_t> bytes, VirtioNetHdr* out);
  // bytes must hold at least kVirtioNetHdrLen.
  void encode(std::span<uint8_t> bytes) const;
};

enum class OffloadError : uint8_t {
  kOk = 0,
  kTruncated,        // packet shorter than its headers claim
  kBadIpHeader,      // unknown version, bad IHL, fragment, wrong next header
  kBadVirtioHeader,  // csum_start/offset outside the packet, mismatched gso type
  kUnsupportedGso,   // a gso_type we do not implement
  kBadGsoSize,       // gso_size 0 on a GSO frame
  kTooManySegments,  // more segments than output buffers
  kOutputTooSmall,   // an output buffer cannot hold a segment
};
std::string_view offloadErrorName(OffloadError error);

// ---- Internet checksums (RFC 1071). Each returns the value to store in the
// header field, in host order (write it big-endian). Computed over bytes that
// hold a zero checksum field; over bytes holding a correct checksum they
// return 0, which is how to verify.

uint16_t ipv4HeaderChecksum(std::span<const uint8_t> header);

// TCP or UDP checksum including the pseudo-header. src/dst are 4 (IPv4) or
// 16 (IPv6) bytes; segment is the whole transport header + payload. For UDP
// a computed 0 must be sent as 0xffff (the caller's business).
uint16_t transportChecksum(uint8_t protocol, std::span<const uint8_t> src,
                           std::span<const uint8_t> dst, std::span<const uint8_t> segment);

// The non-inverted folded pseudo-header sum that a CHECKSUM_PARTIAL packet
// carries in its checksum field (what the kernel expects with NEEDS_CSUM).
uint16_t pseudoHeaderPartialChecksum(uint8_t protocol, std::span<const uint8_t> src,
                                     std::span<const uint8_t> dst, uint32_t transport_length);

// ---- Segmentation (TUN read -> wire packets).

struct SegmentResult {
  size_t count = 0;  // packets written to out[0..count)
  OffloadError error = OffloadError::kOk;
  [[nodiscard]] bool ok() const { return error == OffloadError::kOk; }
};

// Splits one frame read from the TUN (hdr + IP packet, the header already
// decoded) into complete IP packets. Handles GSO_NONE (completing a
// NEEDS_CSUM checksum when asked), GSO_TCPV4/TCPV6 (IP length and ID, TCP
// sequence numbers and flags, full checksums) and GSO_UDP_L4. Packet i is
// written to out[i] with its length in lengths[i]; lengths must be at least
// as long as out.
SegmentResult segmentPacket(const VirtioNetHdr& hdr, std::span<const uint8_t> packet,
                            std::span<const std::span<uint8_t>> out, std::span<size_t> lengths);

// ---- Coalescing (decrypted packets -> TUN writes).

// Packets are examined in groups of at most this many; larger batches are
// handled group by group.
inline constexpr size_t kMaxCoalesceBatch = 128;

// Out buffer size that is always enough for coalescePackets over a batch
// whose packet bytes sum to total_bytes.
constexpr size_t coalesceBufferSize(size_t packet_count, size_t total_bytes) {
  return total_bytes + packet_count * kVirtioNetHdrLen;
}

struct CoalesceResult {
  size_t writes = 0;     // frames in writes[0..writes)
  size_t coalesced = 0;  // input packets merged into an earlier one
  OffloadError error = OffloadError::kOk;
  [[nodiscard]] bool ok() const { return error == OffloadError::kOk; }
};

// Turns a batch of IP packets into TUN frames (virtio_net_hdr + packet),
// laid back to back in out; writes[i] views frame i. Consecutive in-order
// segments of one TCP flow with identical headers (apart from PSH/FIN on the
// last), equal payload sizes (the last may be shorter) and valid checksums
// become one GSO_TCPV4/6 super-packet with NEEDS_CSUM, so the kernel
// finishes the checksum. Everything else is passed through unchanged with
// GSO_NONE. Order within a flow is kept. writes needs one slot per packet
// in the worst case; out needs coalesceBufferSize().
CoalesceResult coalescePackets(std::span<const std::span<const uint8_t>> packets,
                               std::span<uint8_t> out, std::span<std::span<const uint8_t>> writes);

}  // namespace aureo::wireguard
