#include "wireguard/offload.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace aureo::wireguard {
namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr size_t kTcpMinHeader = 20;
constexpr size_t kUdpHeader = 8;
constexpr size_t kTcpChecksumOffset = 16;
constexpr size_t kUdpChecksumOffset = 6;

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpUrg = 0x20;
constexpr uint8_t kTcpCwr = 0x80;

// The IPv4 total length / IPv6 payload length fields are 16 bits.
constexpr size_t kMaxIpLengthField = 0xffff;

uint16_t load16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Adds the bytes as big-endian 16-bit words to acc. The one's-complement sum
// does not depend on byte order (RFC 1071 2.B), so the loop adds native
// 32-bit words and swaps once at the end. The range must start on a word
// boundary of the checksummed data.
uint64_t sumBigEndian(const uint8_t* p, size_t n, uint64_t acc) {
  uint64_t s = 0;
  while (n >= 8) {
    uint32_t a;
    uint32_t b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + 4, 4);
    s += a;
    s += b;
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    uint32_t a;
    std::memcpy(&a, p, 4);
    s += a;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t a;
    std::memcpy(&a, p, 2);
    s += a;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    const uint8_t tail[2] = {p[0], 0};
    uint16_t a;
    std::memcpy(&a, tail, 2);
    s += a;
  }
  uint16_t folded = fold(s);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>((folded >> 8) | (folded << 8));
  }
  return acc + folded;
}

uint64_t pseudoHeaderSum(uint8_t protocol, std::span<const uint8_t> src,
                         std::span<const uint8_t> dst, uint32_t length) {
  uint64_t acc = sumBigEndian(src.data(), src.size(), 0);
  acc = sumBigEndian(dst.data(), dst.size(), acc);
  return acc + protocol + (length >> 16) + (length & 0xffff);
}

struct IpInfo {
  bool v6 = false;
  size_t header_len = 0;
  uint8_t protocol = 0;
  size_t addr_len = 0;
  size_t src_offset = 0;
  size_t dst_offset = 0;
};

OffloadError parseIp(std::span<const uint8_t> pkt, IpInfo* info) {
  if (pkt.empty()) return OffloadError::kTruncated;
  const unsigned version = pkt[0] >> 4;
  if (version == 4) {
    if (pkt.size() < kIpv4MinHeader) return OffloadError::kTruncated;
    const size_t ihl = size_t{pkt[0] & 0x0fu} * 4;
    if (ihl < kIpv4MinHeader) return OffloadError::kBadIpHeader;
    if (ihl > pkt.size()) return OffloadError::kTruncated;
    *info = {false, ihl, pkt[9], 4, 12, 16};
    return OffloadError::kOk;
  }
  if (version == 6) {
    if (pkt.size() < kIpv6Header) return OffloadError::kTruncated;
    *info = {true, kIpv6Header, pkt[6], 16, 8, 24};
    return OffloadError::kOk;
  }
  return OffloadError::kBadIpHeader;
}

std::span<const uint8_t> srcAddr(const uint8_t* pkt, const IpInfo& ip) {
  return {pkt + ip.src_offset, ip.addr_len};
}
std::span<const uint8_t> dstAddr(const uint8_t* pkt, const IpInfo& ip) {
  return {pkt + ip.dst_offset, ip.addr_len};
}

// Sets the IP length field for a packet of total size len and, for IPv4, the
// ID and header checksum.
void finishIpHeader(uint8_t* pkt, const IpInfo& ip, size_t len, uint16_t id) {
  if (ip.v6) {
    store16(pkt + 4, static_cast<uint16_t>(len - kIpv6Header));
    return;
  }
  store16(pkt + 2, static_cast<uint16_t>(len));
  store16(pkt + 4, id);
  store16(pkt + 10, 0);
  store16(pkt + 10, ipv4HeaderChecksum({pkt, ip.header_len}));
}

void storeTransportChecksum(uint8_t* pkt, const IpInfo& ip, size_t len, size_t field_offset) {
  uint8_t* l4 = pkt + ip.header_len;
  store16(l4 + field_offset, 0);
  uint16_t sum =
      transportChecksum(ip.protocol, srcAddr(pkt, ip), dstAddr(pkt, ip), {l4, len - ip.header_len});
  if (sum == 0 && ip.protocol == kProtoUdp) sum = 0xffff;
  store16(l4 + field_offset, sum);
}

SegmentResult fail(OffloadError error) {
  return {0, error};
}

SegmentResult passThrough(const VirtioNetHdr& hdr, std::span<const uint8_t> packet,
                          std::span<const std::span<uint8_t>> out, std::span<size_t> lengths) {
  if (packet.empty()) return fail(OffloadError::kTruncated);
  if (out.empty() || lengths.empty()) return fail(OffloadError::kTooManySegments);
  const bool needs_csum = (hdr.flags & kVirtioNetHdrFlagNeedsCsum) != 0;
  const size_t start = hdr.csum_start;
  const size_t field = start + size_t{hdr.csum_offset};
  if (needs_csum && (start >= packet.size() || field + 2 > packet.size())) {
    return fail(OffloadError::kBadVirtioHeader);
  }
  if (out[0].size() < packet.size()) return fail(OffloadError::kOutputTooSmall);
  if (needs_csum) {
    uint8_t* o = out[0].data();
    std::memcpy(o, packet.data(), packet.size());
    // The field already holds the pseudo-header sum; summing from csum_start
    // to the end and inverting completes it (what skb_checksum_help does).
    uint16_t sum = static_cast<uint16_t>(~fold(sumBigEndian(o + start, packet.size() - start, 0)));
    if (sum == 0) sum = 0xffff;
    store16(o + field, sum);
  } else {
    std::memcpy(out[0].data(), packet.data(), packet.size());
  }
  lengths[0] = packet.size();
  return {1, OffloadError::kOk};
}

SegmentResult segmentGso(const VirtioNetHdr& hdr, uint8_t gso, std::span<const uint8_t> packet,
                         std::span<const std::span<uint8_t>> out, std::span<size_t> lengths) {
  IpInfo ip;
  if (const OffloadError e = parseIp(packet, &ip); e != OffloadError::kOk) return fail(e);
  const bool tcp = gso != kVirtioNetHdrGsoUdpL4;
  if (tcp && ip.v6 != (gso == kVirtioNetHdrGsoTcpV6)) return fail(OffloadError::kBadVirtioHeader);
  if (ip.protocol != (tcp ? kProtoTcp : kProtoUdp)) return fail(OffloadError::kBadIpHeader);
  if (!ip.v6 && (load16(packet.data() + 6) & 0x3fff) != 0) return fail(OffloadError::kBadIpHeader);
  if (hdr.gso_size == 0) return fail(OffloadError::kBadGsoSize);

  size_t l4_len = kUdpHeader;
  if (tcp) {
    if (packet.size() < ip.header_len + kTcpMinHeader) return fail(OffloadError::kTruncated);
    l4_len = static_cast<size_t>(packet[ip.header_len + 12] >> 4) * 4;
    if (l4_len < kTcpMinHeader) return fail(OffloadError::kBadIpHeader);
  }
  const size_t headers = ip.header_len + l4_len;
  if (packet.size() < headers) return fail(OffloadError::kTruncated);
  const size_t payload = packet.size() - headers;
  const size_t gso_size = hdr.gso_size;
  const size_t count = payload == 0 ? 1 : (payload + gso_size - 1) / gso_size;
  if (count > out.size() || count > lengths.size()) return fail(OffloadError::kTooManySegments);

  const uint8_t* in = packet.data();
  const uint16_t id0 = ip.v6 ? 0 : load16(in + 4);
  const uint32_t seq0 = tcp ? load32(in + ip.header_len + 4) : 0;
  const uint8_t flags = tcp ? in[ip.header_len + 13] : 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t offset = i * gso_size;
    const size_t chunk = std::min(gso_size, payload - offset);
    const size_t len = headers + chunk;
    if (out[i].size() < len) return fail(OffloadError::kOutputTooSmall);
    uint8_t* o = out[i].data();
    std::memcpy(o, in, headers);
    std::memcpy(o + headers, in + headers + offset, chunk);
    finishIpHeader(o, ip, len, static_cast<uint16_t>(id0 + i));
    uint8_t* l4 = o + ip.header_len;
    if (tcp) {
      store32(l4 + 4, static_cast<uint32_t>(seq0 + offset));
      uint8_t f = flags;
      if (i + 1 != count) f = static_cast<uint8_t>(f & ~(kTcpFin | kTcpPsh));
      if (i != 0) f = static_cast<uint8_t>(f & ~kTcpCwr);
      l4[13] = f;
      storeTransportChecksum(o, ip, len, kTcpChecksumOffset);
    } else {
      store16(l4 + 4, static_cast<uint16_t>(kUdpHeader + chunk));
      storeTransportChecksum(o, ip, len, kUdpChecksumOffset);
    }
    lengths[i] = len;
  }
  return {count, OffloadError::kOk};
}

// ---- Coalescing.

enum class Kind : uint8_t {
  kOther,        // not TCP, or unparseable: never merged, never blocks a flow
  kTcpBlocking,  // TCP of some flow but not mergeable (SYN, bad checksum...)
  kTcpMergeable,
};

struct TcpPacket {
  Kind kind = Kind::kOther;
  IpInfo ip;
  size_t tcp_len = 0;
  size_t payload = 0;
  uint32_t seq = 0;
  uint8_t flags = 0;
};

TcpPacket classify(std::span<const uint8_t> pkt) {
  TcpPacket t;
  if (parseIp(pkt, &t.ip) != OffloadError::kOk || t.ip.protocol != kProtoTcp) return t;
  const uint8_t* p = pkt.data();
  if (pkt.size() < t.ip.header_len + kTcpMinHeader) return t;
  const uint8_t* tcp = p + t.ip.header_len;
  t.tcp_len = static_cast<size_t>(tcp[12] >> 4) * 4;
  if (t.tcp_len < kTcpMinHeader || t.ip.header_len + t.tcp_len > pkt.size()) return t;
  t.kind = Kind::kTcpBlocking;
  t.payload = pkt.size() - t.ip.header_len - t.tcp_len;
  t.seq = load32(tcp + 4);
  t.flags = tcp[13];
  if (t.payload == 0 || (t.flags & (kTcpSyn | kTcpRst | kTcpUrg)) != 0) return t;
  if (t.ip.v6) {
    if (size_t{load16(p + 4)} + kIpv6Header != pkt.size()) return t;
  } else {
    if (t.ip.header_len != kIpv4MinHeader || load16(p + 2) != pkt.size()) return t;
    if ((load16(p + 6) & 0x3fff) != 0) return t;  // fragment
    if (ipv4HeaderChecksum({p, t.ip.header_len}) != 0) return t;
  }
  // With NEEDS_CSUM the kernel trusts the merged packet, so a segment with a
  // bad checksum must go up alone for the kernel to drop it.
  if (transportChecksum(kProtoTcp, srcAddr(p, t.ip), dstAddr(p, t.ip),
                        pkt.subspan(t.ip.header_len)) != 0) {
    return t;
  }
  t.kind = Kind::kTcpMergeable;
  return t;
}

bool sameFlow(std::span<const uint8_t> a, const TcpPacket& ta, std::span<const uint8_t> b,
              const TcpPacket& tb) {
  if (ta.kind == Kind::kOther || tb.kind == Kind::kOther || ta.ip.v6 != tb.ip.v6) return false;
  if (std::memcmp(a.data() + ta.ip.src_offset, b.data() + tb.ip.src_offset, ta.ip.addr_len) != 0 ||
      std::memcmp(a.data() + ta.ip.dst_offset, b.data() + tb.ip.dst_offset, ta.ip.addr_len) != 0) {
    return false;
  }
  return std::memcmp(a.data() + ta.ip.header_len, b.data() + tb.ip.header_len, 4) == 0;
}

bool bytesEqual(const uint8_t* a, const uint8_t* b, size_t from, size_t to) {
  return std::memcmp(a + from, b + from, to - from) == 0;
}

// The super-packet being built from first (+ appended segments).
struct Item {
  std::span<const uint8_t> first;
  TcpPacket head;
  uint8_t* frame = nullptr;  // virtio header position in out
  size_t packet_len = 0;     // bytes of IP packet written so far
  size_t segments = 1;
  uint32_t next_seq = 0;
  size_t last_payload = 0;
  uint8_t last_flags = 0;
};

bool canAppend(const Item& item, std::span<const uint8_t> cand_pkt, const TcpPacket& cand) {
  const TcpPacket& head = item.head;
  if (head.kind != Kind::kTcpMergeable || cand.kind != Kind::kTcpMergeable) return false;
  if ((item.last_flags & (kTcpFin | kTcpPsh)) != 0) return false;
  if (item.last_payload != head.payload || cand.payload > head.payload) return false;
  if (cand.seq != item.next_seq || cand.tcp_len != head.tcp_len) return false;
  if (item.packet_len + cand.payload - (head.ip.v6 ? kIpv6Header : 0) > kMaxIpLengthField) {
    return false;
  }
  const uint8_t* a = item.first.data();
  const uint8_t* b = cand_pkt.data();
  if (head.ip.v6) {
    if (!bytesEqual(a, b, 0, 4) || !bytesEqual(a, b, 6, kIpv6Header)) return false;
  } else {
    if (a[1] != b[1] || !bytesEqual(a, b, 6, 10) || !bytesEqual(a, b, 12, kIpv4MinHeader)) {
      return false;
    }
    // Our segmentation (and the kernel's) numbers IDs consecutively; only
    // such runs survive a merge-then-resegment unchanged.
    if (load16(b + 4) != static_cast<uint16_t>(load16(a + 4) + item.segments)) return false;
  }
  const uint8_t* ta = a + head.ip.header_len;
  const uint8_t* tb = b + cand.ip.header_len;
  if (!bytesEqual(ta, tb, 0, 4) || !bytesEqual(ta, tb, 8, 13) || !bytesEqual(ta, tb, 14, 16) ||
      !bytesEqual(ta, tb, 18, head.tcp_len)) {
    return false;
  }
  if ((cand.flags & kTcpCwr) != 0) return false;
  return static_cast<uint8_t>(cand.flags & ~(kTcpPsh | kTcpFin)) ==
         static_cast<uint8_t>(head.flags & ~kTcpCwr);
}

void finishItem(const Item& item) {
  uint8_t* pkt = item.frame + kVirtioNetHdrLen;
  VirtioNetHdr hdr;
  if (item.segments > 1) {
    const IpInfo& ip = item.head.ip;
    finishIpHeader(pkt, ip, item.packet_len, ip.v6 ? 0 : load16(pkt + 4));
    uint8_t* tcp = pkt + ip.header_len;
    tcp[13] = static_cast<uint8_t>(tcp[13] | (item.last_flags & (kTcpPsh | kTcpFin)));
    const uint32_t tcp_total = static_cast<uint32_t>(item.packet_len - ip.header_len);
    store16(tcp + kTcpChecksumOffset,
            pseudoHeaderPartialChecksum(kProtoTcp, srcAddr(pkt, ip), dstAddr(pkt, ip), tcp_total));
    hdr.flags = kVirtioNetHdrFlagNeedsCsum;
    hdr.gso_type = ip.v6 ? kVirtioNetHdrGsoTcpV6 : kVirtioNetHdrGsoTcpV4;
    hdr.hdr_len = static_cast<uint16_t>(ip.header_len + item.head.tcp_len);
    hdr.gso_size = static_cast<uint16_t>(item.head.payload);
    hdr.csum_start = static_cast<uint16_t>(ip.header_len);
    hdr.csum_offset = kTcpChecksumOffset;
  }
  hdr.encode({item.frame, kVirtioNetHdrLen});
}

}  // namespace

bool VirtioNetHdr::decode(std::span<const uint8_t> bytes, VirtioNetHdr* out) {
  if (bytes.size() < kVirtioNetHdrLen) return false;
  out->flags = bytes[0];
  out->gso_type = bytes[1];
  std::memcpy(&out->hdr_len, bytes.data() + 2, 2);
  std::memcpy(&out->gso_size, bytes.data() + 4, 2);
  std::memcpy(&out->csum_start, bytes.data() + 6, 2);
  std::memcpy(&out->csum_offset, bytes.data() + 8, 2);
  return true;
}

void VirtioNetHdr::encode(std::span<uint8_t> bytes) const {
  bytes[0] = flags;
  bytes[1] = gso_type;
  std::memcpy(bytes.data() + 2, &hdr_len, 2);
  std::memcpy(bytes.data() + 4, &gso_size, 2);
  std::memcpy(bytes.data() + 6, &csum_start, 2);
  std::memcpy(bytes.data() + 8, &csum_offset, 2);
}

std::string_view offloadErrorName(OffloadError error) {
  switch (error) {
    case OffloadError::kOk: return "ok";
    case OffloadError::kTruncated: return "truncated";
    case OffloadError::kBadIpHeader: return "bad_ip_header";
    case OffloadError::kBadVirtioHeader: return "bad_virtio_header";
    case OffloadError::kUnsupportedGso: return "unsupported_gso";
    case OffloadError::kBadGsoSize: return "bad_gso_size";
    case OffloadError::kTooManySegments: return "too_many_segments";
    case OffloadError::kOutputTooSmall: return "output_too_small";
  }
  return "unknown";
}

uint16_t ipv4HeaderChecksum(std::span<const uint8_t> header) {
  return static_cast<uint16_t>(~fold(sumBigEndian(header.data(), header.size(), 0)));
}

uint16_t transportChecksum(uint8_t protocol, std::span<const uint8_t> src,
                           std::span<const uint8_t> dst, std::span<const uint8_t> segment) {
  uint64_t acc = pseudoHeaderSum(protocol, src, dst, static_cast<uint32_t>(segment.size()));
  acc = sumBigEndian(segment.data(), segment.size(), acc);
  return static_cast<uint16_t>(~fold(acc));
}

uint16_t pseudoHeaderPartialChecksum(uint8_t protocol, std::span<const uint8_t> src,
                                     std::span<const uint8_t> dst, uint32_t transport_length) {
  return fold(pseudoHeaderSum(protocol, src, dst, transport_length));
}

SegmentResult segmentPacket(const VirtioNetHdr& hdr, std::span<const uint8_t> packet,
                            std::span<const std::span<uint8_t>> out, std::span<size_t> lengths) {
  const uint8_t gso = static_cast<uint8_t>(hdr.gso_type & ~kVirtioNetHdrGsoEcn);
  switch (gso) {
    case kVirtioNetHdrGsoNone: return passThrough(hdr, packet, out, lengths);
    case kVirtioNetHdrGsoTcpV4:
    case kVirtioNetHdrGsoTcpV6:
    case kVirtioNetHdrGsoUdpL4: return segmentGso(hdr, gso, packet, out, lengths);
    default: return fail(OffloadError::kUnsupportedGso);
  }
}

CoalesceResult coalescePackets(std::span<const std::span<const uint8_t>> packets,
                               std::span<uint8_t> out, std::span<std::span<const uint8_t>> writes) {
  CoalesceResult result;
  if (writes.size() < packets.size()) {
    result.error = OffloadError::kTooManySegments;
    return result;
  }
  size_t cursor = 0;
  std::array<TcpPacket, kMaxCoalesceBatch> info;
  std::array<bool, kMaxCoalesceBatch> used;
  for (size_t base = 0; base < packets.size(); base += kMaxCoalesceBatch) {
    const size_t n = std::min(kMaxCoalesceBatch, packets.size() - base);
    const auto group = packets.subspan(base, n);
    for (size_t i = 0; i < n; ++i) {
      info[i] = classify(group[i]);
      used[i] = false;
    }
    for (size_t i = 0; i < n; ++i) {
      if (used[i]) continue;
      const auto first = group[i];
      if (out.size() - cursor < kVirtioNetHdrLen + first.size()) {
        result.error = OffloadError::kOutputTooSmall;
        return result;
      }
      Item item;
      item.first = first;
      item.head = info[i];
      item.frame = out.data() + cursor;
      item.packet_len = first.size();
      item.next_seq = static_cast<uint32_t>(info[i].seq + info[i].payload);
      item.last_payload = info[i].payload;
      item.last_flags = info[i].flags;
      std::memcpy(item.frame + kVirtioNetHdrLen, first.data(), first.size());
      if (info[i].kind == Kind::kTcpMergeable) {
        for (size_t j = i + 1; j < n; ++j) {
          if (used[j] || !sameFlow(first, info[i], group[j], info[j])) continue;
          if (!canAppend(item, group[j], info[j])) break;  // keep the flow in order
          const TcpPacket& c = info[j];
          const size_t room = out.size() - cursor - kVirtioNetHdrLen - item.packet_len;
          if (room < c.payload) break;
          std::memcpy(item.frame + kVirtioNetHdrLen + item.packet_len,
                      group[j].data() + c.ip.header_len + c.tcp_len, c.payload);
          item.packet_len += c.payload;
          item.segments += 1;
          item.next_seq = static_cast<uint32_t>(item.next_seq + c.payload);
          item.last_payload = c.payload;
          item.last_flags = c.flags;
          used[j] = true;
          result.coalesced += 1;
        }
      }
      finishItem(item);
      const size_t frame_len = kVirtioNetHdrLen + item.packet_len;
      writes[result.writes++] = {item.frame, frame_len};
      cursor += frame_len;
    }
  }
  return result;
}

}  // namespace aureo::wireguard
