#include "wireguard/offload.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <vector>

namespace aureo::wireguard {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- An independent, deliberately naive checksum: byte pairs, one at a time.
uint16_t naiveSum(const Bytes& data) {
  uint32_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2) {
    const uint32_t hi = data[i];
    const uint32_t lo = i + 1 < data.size() ? data[i + 1] : 0;
    sum += (hi << 8) | lo;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

uint16_t get16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>((b[off] << 8) | b[off + 1]);
}
uint32_t get32(const Bytes& b, size_t off) {
  return (uint32_t{b[off]} << 24) | (uint32_t{b[off + 1]} << 16) | (uint32_t{b[off + 2]} << 8) |
         b[off + 3];
}
void put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
void put32(Bytes& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

// Naive transport checksum: build the pseudo-header as bytes, append the
// segment, sum. Returns 0 when the stored checksum is right.
uint16_t naiveTransportCheck(const Bytes& pkt) {
  const bool v6 = (pkt[0] >> 4) == 6;
  const size_t ihl = v6 ? 40 : (pkt[0] & 0xf) * 4;
  const uint8_t proto = v6 ? pkt[6] : pkt[9];
  Bytes pseudo;
  const size_t alen = v6 ? 16 : 4;
  const size_t src = v6 ? 8 : 12;
  pseudo.insert(pseudo.end(), pkt.begin() + src, pkt.begin() + src + 2 * alen);
  const uint32_t l4len = static_cast<uint32_t>(pkt.size() - ihl);
  if (v6) {
    for (int i = 0; i < 4; ++i) pseudo.push_back(static_cast<uint8_t>(l4len >> (24 - 8 * i)));
    pseudo.insert(pseudo.end(), {0, 0, 0, proto});
  } else {
    pseudo.insert(pseudo.end(),
                  {0, proto, static_cast<uint8_t>(l4len >> 8), static_cast<uint8_t>(l4len)});
  }
  pseudo.insert(pseudo.end(), pkt.begin() + ihl, pkt.end());
  return naiveSum(pseudo);
}

uint16_t naiveIpv4HeaderCheck(const Bytes& pkt) {
  return naiveSum(Bytes(pkt.begin(), pkt.begin() + (pkt[0] & 0xf) * 4));
}

Bytes randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

constexpr uint8_t kAck = 0x10, kPsh = 0x08, kFin = 0x01, kCwr = 0x80, kSyn = 0x02;

struct FlowSpec {
  bool v6 = false;
  uint32_t seq = 1000000;
  uint8_t flags = kAck | kPsh;
  uint16_t id = 0x1234;
  uint16_t sport = 40000;
  uint16_t dport = 5201;
  uint8_t src_last = 1;
  bool timestamps = true;
};

// A TCP/IP packet (headers + payload) with correct IPv4 header checksum; the
// TCP checksum is filled in by the caller's choice below.
Bytes makeTcpPacket(const FlowSpec& f, const Bytes& payload) {
  const size_t ihl = f.v6 ? 40 : 20;
  const size_t thl = f.timestamps ? 32 : 20;
  Bytes p(ihl + thl + payload.size(), 0);
  if (f.v6) {
    p[0] = 0x60;
    p[1] = 0x0a;  // traffic class / flow label bits
    p[2] = 0xbc;
    p[3] = 0xde;
    put16(p, 4, static_cast<uint16_t>(thl + payload.size()));
    p[6] = 6;
    p[7] = 64;
    p[8] = 0xfd;
    p[23] = f.src_last;
    p[24] = 0xfd;
    p[39] = 2;
  } else {
    p[0] = 0x45;
    p[1] = 0x02;
    put16(p, 2, static_cast<uint16_t>(p.size()));
    put16(p, 4, f.id);
    put16(p, 6, 0x4000);  // DF
    p[8] = 64;
    p[9] = 6;
    p[12] = 10;
    p[15] = f.src_last;
    p[16] = 10;
    p[19] = 2;
    put16(p, 10, naiveIpv4HeaderCheck(p));
  }
  put16(p, ihl + 0, f.sport);
  put16(p, ihl + 2, f.dport);
  put32(p, ihl + 4, f.seq);
  put32(p, ihl + 8, 0xa0b0c0d0);
  p[ihl + 12] = static_cast<uint8_t>((thl / 4) << 4);
  p[ihl + 13] = f.flags;
  put16(p, ihl + 14, 502);
  if (f.timestamps) {
    const uint8_t opts[12] = {1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78};
    std::memcpy(p.data() + ihl + 20, opts, 12);
  }
  std::memcpy(p.data() + ihl + thl, payload.data(), payload.size());
  return p;
}

void fillTcpChecksum(Bytes& p) {
  const size_t ihl = (p[0] >> 4) == 6 ? 40 : (p[0] & 0xf) * 4;
  put16(p, ihl + 16, 0);
  put16(p, ihl + 16, naiveTransportCheck(p));
}

// The kernel's CHECKSUM_PARTIAL convention: the field holds the folded,
// non-inverted pseudo-header sum over the whole transport length.
void fillPartialChecksum(Bytes& p) {
  const size_t ihl = (p[0] >> 4) == 6 ? 40 : (p[0] & 0xf) * 4;
  Bytes zeroed = p;
  zeroed.resize(ihl);  // pseudo-header only: sum an empty segment
  const bool v6 = ihl == 40;
  Bytes pseudo(zeroed.begin() + (v6 ? 8 : 12), zeroed.begin() + (v6 ? 40 : 20));
  const uint32_t l4len = static_cast<uint32_t>(p.size() - ihl);
  if (v6) {
    for (int i = 0; i < 4; ++i) pseudo.push_back(static_cast<uint8_t>(l4len >> (24 - 8 * i)));
    pseudo.insert(pseudo.end(), {0, 0, 0, 6});
  } else {
    pseudo.insert(pseudo.end(),
                  {0, 6, static_cast<uint8_t>(l4len >> 8), static_cast<uint8_t>(l4len)});
  }
  put16(p, ihl + 16, static_cast<uint16_t>(~naiveSum(pseudo)));
}

struct Segments {
  std::vector<Bytes> storage;
  std::vector<std::span<uint8_t>> out;
  std::vector<size_t> lengths;
  explicit Segments(size_t n, size_t cap = 2048) : storage(n, Bytes(cap)), lengths(n) {
    for (auto& s : storage) out.emplace_back(s);
  }
  Bytes packet(size_t i) const {
    return Bytes(storage[i].begin(), storage[i].begin() + static_cast<long>(lengths[i]));
  }
};

VirtioNetHdr tsoHeader(const Bytes& super, uint16_t gso_size) {
  const bool v6 = (super[0] >> 4) == 6;
  const size_t ihl = v6 ? 40 : 20;
  VirtioNetHdr h;
  h.flags = kVirtioNetHdrFlagNeedsCsum;
  h.gso_type = v6 ? kVirtioNetHdrGsoTcpV6 : kVirtioNetHdrGsoTcpV4;
  h.hdr_len = static_cast<uint16_t>(ihl + (super[ihl + 12] >> 4) * 4);
  h.gso_size = gso_size;
  h.csum_start = static_cast<uint16_t>(ihl);
  h.csum_offset = 16;
  return h;
}

Bytes frameOf(const VirtioNetHdr& h, const Bytes& pkt) {
  Bytes f(kVirtioNetHdrLen);
  h.encode(f);
  f.insert(f.end(), pkt.begin(), pkt.end());
  return f;
}

class TsoRoundTrip : public ::testing::TestWithParam<std::tuple<bool, size_t, uint8_t>> {};

TEST_P(TsoRoundTrip, SegmentsAreValidAndCoalesceBackToTheSameBytes) {
  const auto [v6, payload_len, flags] = GetParam();
  constexpr uint16_t kMss = 1400;
  FlowSpec f;
  f.v6 = v6;
  f.flags = flags;
  f.seq = 0xfffff000;  // wraps during the run
  Bytes super = makeTcpPacket(f, randomBytes(payload_len, 7));
  fillPartialChecksum(super);
  const VirtioNetHdr hdr = tsoHeader(super, kMss);

  Segments segs(64);
  const SegmentResult r = segmentPacket(hdr, super, segs.out, segs.lengths);
  ASSERT_TRUE(r.ok()) << offloadErrorName(r.error);
  const size_t expected = (payload_len + kMss - 1) / kMss;
  ASSERT_EQ(r.count, expected);

  const size_t ihl = v6 ? 40 : 20;
  std::vector<std::span<const uint8_t>> packets;
  std::vector<Bytes> seg_bytes;
  for (size_t i = 0; i < r.count; ++i) seg_bytes.push_back(segs.packet(i));
  for (size_t i = 0; i < r.count; ++i) {
    const Bytes& s = seg_bytes[i];
    const size_t chunk = std::min<size_t>(kMss, payload_len - i * kMss);
    ASSERT_EQ(s.size(), ihl + 32 + chunk);
    if (v6) {
      EXPECT_EQ(get16(s, 4), 32 + chunk);
    } else {
      EXPECT_EQ(get16(s, 2), s.size());
      EXPECT_EQ(get16(s, 4), static_cast<uint16_t>(0x1234 + i));
      EXPECT_EQ(naiveIpv4HeaderCheck(s), 0) << "segment " << i;
    }
    EXPECT_EQ(get32(s, ihl + 4), static_cast<uint32_t>(f.seq + i * kMss));
    uint8_t want = flags;
    if (i + 1 != r.count) want &= static_cast<uint8_t>(~(kPsh | kFin));
    if (i != 0) want &= static_cast<uint8_t>(~kCwr);
    EXPECT_EQ(s[ihl + 13], want) << "segment " << i;
    EXPECT_EQ(naiveTransportCheck(s), 0) << "segment " << i;
    EXPECT_EQ(0, std::memcmp(s.data() + ihl + 32, super.data() + ihl + 32 + i * kMss, chunk));
    packets.emplace_back(seg_bytes[i]);
  }

  Bytes out(coalesceBufferSize(packets.size(), 70000));
  std::vector<std::span<const uint8_t>> writes(packets.size());
  const CoalesceResult c = coalescePackets(packets, out, writes);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.writes, 1u);
  const Bytes got(writes[0].begin(), writes[0].end());
  const Bytes want = r.count == 1 ? frameOf(VirtioNetHdr{}, seg_bytes[0]) : frameOf(hdr, super);
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(
    Flows, TsoRoundTrip,
    ::testing::Values(std::tuple{false, size_t{5000}, uint8_t{kAck | kPsh}},
                      std::tuple{false, size_t{4200}, uint8_t{kAck | kPsh | kFin | kCwr}},
                      std::tuple{false, size_t{65535 - 52}, uint8_t{kAck}},
                      std::tuple{true, size_t{5000}, uint8_t{kAck | kPsh}},
                      std::tuple{true, size_t{2800}, uint8_t{kAck | kCwr | kFin}},
                      std::tuple{true, size_t{65535 - 32}, uint8_t{kAck | kPsh}},
                      std::tuple{true, size_t{900}, uint8_t{kAck | kPsh}}));

TEST(Checksum, MatchesNaiveImplementationOnRandomData) {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    const size_t len = rng() % 1600;
    Bytes data = randomBytes(len, static_cast<uint32_t>(round));
    EXPECT_EQ(ipv4HeaderChecksum(data), naiveSum(data)) << len;
    // Transport checksum against an explicitly built pseudo-header.
    const bool v6 = (round % 2) == 1;
    Bytes src = randomBytes(v6 ? 16 : 4, 1000u + static_cast<uint32_t>(round));
    Bytes dst = randomBytes(v6 ? 16 : 4, 2000u + static_cast<uint32_t>(round));
    const uint8_t proto = (round % 3) == 0 ? 17 : 6;
    Bytes pseudo = src;
    pseudo.insert(pseudo.end(), dst.begin(), dst.end());
    const uint32_t l = static_cast<uint32_t>(len);
    if (v6) {
      pseudo.insert(pseudo.end(),
                    {static_cast<uint8_t>(l >> 24), static_cast<uint8_t>(l >> 16),
                     static_cast<uint8_t>(l >> 8), static_cast<uint8_t>(l), 0, 0, 0, proto});
    } else {
      pseudo.insert(pseudo.end(),
                    {0, proto, static_cast<uint8_t>(l >> 8), static_cast<uint8_t>(l)});
    }
    pseudo.insert(pseudo.end(), data.begin(), data.end());
    EXPECT_EQ(transportChecksum(proto, src, dst, data), naiveSum(pseudo)) << len;
  }
}

TEST(Checksum, KnownIpv4HeaderValue) {
  // The classic example header from RFC 1071 discussions (checksum 0xb861).
  Bytes h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
             0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(ipv4HeaderChecksum(h), 0xb861);
  put16(h, 10, 0xb861);
  EXPECT_EQ(ipv4HeaderChecksum(h), 0);
}

TEST(Segment, GsoNoneWithNeedsCsumCompletesTheChecksum) {
  for (bool v6 : {false, true}) {
    FlowSpec f;
    f.v6 = v6;
    Bytes p = makeTcpPacket(f, randomBytes(777, 3));
    fillPartialChecksum(p);
    VirtioNetHdr h;
    h.flags = kVirtioNetHdrFlagNeedsCsum;
    h.csum_start = v6 ? 40 : 20;
    h.csum_offset = 16;
    Segments segs(1);
    const SegmentResult r = segmentPacket(h, p, segs.out, segs.lengths);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.count, 1u);
    const Bytes s = segs.packet(0);
    EXPECT_EQ(naiveTransportCheck(s), 0);
    Bytes full = p;
    fillTcpChecksum(full);
    EXPECT_EQ(s, full);
  }
}

TEST(Segment, GsoNoneWithoutFlagsCopiesUnchanged) {
  const Bytes p = randomBytes(300, 5);
  Segments segs(1);
  const SegmentResult r = segmentPacket(VirtioNetHdr{}, p, segs.out, segs.lengths);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(segs.packet(0), p);
}

TEST(Segment, UdpL4GsoSplitsIntoValidDatagrams) {
  for (bool v6 : {false, true}) {
    const size_t ihl = v6 ? 40 : 20;
    const Bytes payload = randomBytes(3000, 9);
    Bytes p(ihl + 8 + payload.size(), 0);
    if (v6) {
      p[0] = 0x60;
      p[6] = 17;
      p[7] = 64;
      p[23] = 1;
      p[39] = 2;
    } else {
      p[0] = 0x45;
      put16(p, 2, static_cast<uint16_t>(p.size()));
      put16(p, 4, 77);
      p[8] = 64;
      p[9] = 17;
      p[15] = 1;
      p[19] = 2;
    }
    put16(p, ihl, 1111);
    put16(p, ihl + 2, 2222);
    std::memcpy(p.data() + ihl + 8, payload.data(), payload.size());
    VirtioNetHdr h;
    h.flags = kVirtioNetHdrFlagNeedsCsum;
    h.gso_type = kVirtioNetHdrGsoUdpL4;
    h.gso_size = 1200;
    h.csum_start = static_cast<uint16_t>(ihl);
    h.csum_offset = 6;
    Segments segs(8);
    const SegmentResult r = segmentPacket(h, p, segs.out, segs.lengths);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.count, 3u);
    for (size_t i = 0; i < 3; ++i) {
      const Bytes s = segs.packet(i);
      const size_t chunk = i < 2 ? 1200 : 600;
      ASSERT_EQ(s.size(), ihl + 8 + chunk);
      EXPECT_EQ(get16(s, ihl + 4), 8 + chunk);
      EXPECT_EQ(naiveTransportCheck(s), 0);
      if (!v6) {
        EXPECT_EQ(naiveIpv4HeaderCheck(s), 0);
        EXPECT_EQ(get16(s, 4), 77 + i);
      }
      EXPECT_EQ(0, std::memcmp(s.data() + ihl + 8, payload.data() + i * 1200, chunk));
    }
  }
}

TEST(Segment, RejectsMalformedInput) {
  FlowSpec f;
  Bytes good = makeTcpPacket(f, randomBytes(3000, 1));
  fillPartialChecksum(good);
  const VirtioNetHdr tso = tsoHeader(good, 1000);
  Segments segs(8);
  auto run = [&](const VirtioNetHdr& h, const Bytes& p) {
    return segmentPacket(h, p, segs.out, segs.lengths).error;
  };
  ASSERT_EQ(run(tso, good), OffloadError::kOk);

  EXPECT_EQ(run(tso, Bytes{}), OffloadError::kTruncated);
  EXPECT_EQ(run(VirtioNetHdr{}, Bytes{}), OffloadError::kTruncated);
  EXPECT_EQ(run(tso, Bytes(good.begin(), good.begin() + 12)), OffloadError::kTruncated);
  EXPECT_EQ(run(tso, Bytes(good.begin(), good.begin() + 30)), OffloadError::kTruncated);
  Bytes bad_ihl = good;
  bad_ihl[0] = 0x44;
  EXPECT_EQ(run(tso, bad_ihl), OffloadError::kBadIpHeader);
  Bytes huge_ihl = Bytes(good.begin(), good.begin() + 40);
  huge_ihl[0] = 0x4f;  // 60-byte header in a 40-byte buffer
  EXPECT_EQ(run(tso, huge_ihl), OffloadError::kTruncated);
  Bytes bad_version = good;
  bad_version[0] = 0x55;
  EXPECT_EQ(run(tso, bad_version), OffloadError::kBadIpHeader);
  Bytes bad_doff = good;
  bad_doff[20 + 12] = 0x40;  // 16-byte TCP header
  EXPECT_EQ(run(tso, bad_doff), OffloadError::kBadIpHeader);
  Bytes long_doff = Bytes(good.begin(), good.begin() + 50);
  long_doff[20 + 12] = 0xf0;  // 60-byte TCP header in 30 bytes
  EXPECT_EQ(run(tso, long_doff), OffloadError::kTruncated);
  Bytes udp_proto = good;
  udp_proto[9] = 17;
  EXPECT_EQ(run(tso, udp_proto), OffloadError::kBadIpHeader);

  VirtioNetHdr zero = tso;
  zero.gso_size = 0;
  EXPECT_EQ(run(zero, good), OffloadError::kBadGsoSize);
  VirtioNetHdr v6type = tso;
  v6type.gso_type = kVirtioNetHdrGsoTcpV6;
  EXPECT_EQ(run(v6type, good), OffloadError::kBadVirtioHeader);
  VirtioNetHdr unknown = tso;
  unknown.gso_type = 3;  // UFO
  EXPECT_EQ(run(unknown, good), OffloadError::kUnsupportedGso);
  VirtioNetHdr tiny = tso;
  tiny.gso_size = 1;
  EXPECT_EQ(run(tiny, good), OffloadError::kTooManySegments);

  VirtioNetHdr csum;
  csum.flags = kVirtioNetHdrFlagNeedsCsum;
  csum.csum_start = static_cast<uint16_t>(good.size());
  EXPECT_EQ(run(csum, good), OffloadError::kBadVirtioHeader);
  csum.csum_start = 20;
  csum.csum_offset = 0xffff;
  EXPECT_EQ(run(csum, good), OffloadError::kBadVirtioHeader);

  Segments small(8, 100);
  EXPECT_EQ(segmentPacket(tso, good, small.out, small.lengths).error,
            OffloadError::kOutputTooSmall);
  EXPECT_EQ(segmentPacket(VirtioNetHdr{}, good, small.out, small.lengths).error,
            OffloadError::kOutputTooSmall);
}

TEST(Segment, RandomGarbageNeverCrashes) {
  std::mt19937 rng(1);
  Segments segs(4, 1500);
  for (int i = 0; i < 20000; ++i) {
    Bytes p = randomBytes(rng() % 200, static_cast<uint32_t>(i));
    if (!p.empty()) p[0] = static_cast<uint8_t>((rng() % 2 ? 0x40 : 0x60) | (p[0] & 0xf));
    VirtioNetHdr h;
    h.flags = static_cast<uint8_t>(rng() & 1);
    h.gso_type = static_cast<uint8_t>(std::array{0, 1, 4, 5}[rng() % 4]);
    h.gso_size = static_cast<uint16_t>(rng() % 100);
    h.csum_start = static_cast<uint16_t>(rng() % 256);
    h.csum_offset = static_cast<uint16_t>(rng() % 32);
    const SegmentResult r = segmentPacket(h, p, segs.out, segs.lengths);
    EXPECT_LE(r.count, 4u);
  }
}

struct Batch {
  std::vector<Bytes> packets;
  std::vector<std::span<const uint8_t>> views() const { return {packets.begin(), packets.end()}; }
};

std::vector<Bytes> runCoalesce(const Batch& b, CoalesceResult* result = nullptr) {
  const auto views = b.views();
  Bytes out(coalesceBufferSize(views.size(), 70000 * 2));
  std::vector<std::span<const uint8_t>> writes(views.size());
  const CoalesceResult r = coalescePackets(views, out, writes);
  EXPECT_TRUE(r.ok());
  if (result) *result = r;
  std::vector<Bytes> frames;
  for (size_t i = 0; i < r.writes; ++i) frames.emplace_back(writes[i].begin(), writes[i].end());
  return frames;
}

// Segments of a flow, each with full checksums, as a peer would send them.
std::vector<Bytes> flowSegments(FlowSpec f, size_t count, size_t mss, size_t last = 0) {
  std::vector<Bytes> out;
  for (size_t i = 0; i < count; ++i) {
    FlowSpec s = f;
    s.seq = static_cast<uint32_t>(f.seq + i * mss);
    s.id = static_cast<uint16_t>(f.id + i);
    s.flags = i + 1 == count ? f.flags : static_cast<uint8_t>(f.flags & ~(kPsh | kFin));
    Bytes p = makeTcpPacket(s, randomBytes(i + 1 == count && last ? last : mss,
                                           static_cast<uint32_t>(i + f.src_last * 100)));
    fillTcpChecksum(p);
    out.push_back(p);
  }
  return out;
}

VirtioNetHdr headerOf(const Bytes& frame) {
  VirtioNetHdr h;
  EXPECT_TRUE(VirtioNetHdr::decode(frame, &h));
  return h;
}

TEST(Coalesce, InterleavedFlowsMergeSeparatelyAndOtherPacketsPassThrough) {
  FlowSpec a;
  FlowSpec b;
  b.src_last = 7;
  b.sport = 40001;
  const auto sa = flowSegments(a, 4, 1000, 300);
  const auto sb = flowSegments(b, 3, 1200);
  const Bytes udp = randomBytes(60, 11);  // not even a valid IP packet: passes through
  Batch batch{{sa[0], sb[0], sa[1], udp, sb[1], sa[2], sb[2], sa[3]}};
  CoalesceResult r;
  const auto frames = runCoalesce(batch, &r);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(r.coalesced, 5u);

  const VirtioNetHdr ha = headerOf(frames[0]);
  EXPECT_EQ(ha.gso_type, kVirtioNetHdrGsoTcpV4);
  EXPECT_EQ(ha.gso_size, 1000);
  EXPECT_EQ(ha.flags, kVirtioNetHdrFlagNeedsCsum);
  EXPECT_EQ(ha.hdr_len, 52);
  EXPECT_EQ(frames[0].size(), kVirtioNetHdrLen + 52 + 3300);
  const VirtioNetHdr hb = headerOf(frames[1]);
  EXPECT_EQ(hb.gso_size, 1200);
  EXPECT_EQ(frames[1].size(), kVirtioNetHdrLen + 52 + 3600);
  EXPECT_EQ(frames[2], frameOf(VirtioNetHdr{}, udp));

  // Resegmenting the merged flow reproduces the original wire packets.
  Segments segs(8);
  const Bytes super_a(frames[0].begin() + kVirtioNetHdrLen, frames[0].end());
  const SegmentResult s = segmentPacket(ha, super_a, segs.out, segs.lengths);
  ASSERT_EQ(s.count, 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(segs.packet(i), sa[i]) << i;
}

TEST(Coalesce, BadChecksumSegmentIsNotMergedAndKeepsFlowOrder) {
  FlowSpec a;
  auto sa = flowSegments(a, 4, 1000);
  sa[2][60] ^= 0xff;  // corrupt payload: TCP checksum now wrong
  const auto frames = runCoalesce(Batch{sa});
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(headerOf(frames[0]).gso_type, kVirtioNetHdrGsoTcpV4);
  EXPECT_EQ(frames[0].size(), kVirtioNetHdrLen + 52 + 2000);
  EXPECT_EQ(frames[1], frameOf(VirtioNetHdr{}, sa[2]));
  EXPECT_EQ(frames[2], frameOf(VirtioNetHdr{}, sa[3]));
}

TEST(Coalesce, DoesNotMergeGapsSynsOrDifferentOptions) {
  FlowSpec a;
  auto gap = flowSegments(a, 3, 1000);
  std::swap(gap[1], gap[2]);  // out of order
  auto frames = runCoalesce(Batch{gap});
  EXPECT_EQ(frames.size(), 3u);

  FlowSpec syn = a;
  syn.flags = kSyn | kAck;
  auto syns = flowSegments(syn, 2, 1000);
  EXPECT_EQ(runCoalesce(Batch{syns}).size(), 2u);

  auto opts = flowSegments(a, 2, 1000);
  opts[1][20 + 27] ^= 1;  // timestamp differs
  fillTcpChecksum(opts[1]);
  EXPECT_EQ(runCoalesce(Batch{opts}).size(), 2u);

  auto shortfirst = flowSegments(a, 1, 500);
  FlowSpec next = a;
  next.seq += 500;
  next.id += 1;
  auto more = flowSegments(next, 1, 1000);
  EXPECT_EQ(runCoalesce(Batch{{shortfirst[0], more[0]}}).size(), 2u);

  FlowSpec pushed = a;
  auto p = flowSegments(pushed, 2, 1000);
  p[0][20 + 13] |= kPsh;  // PSH ends a super-packet
  fillTcpChecksum(p[0]);
  EXPECT_EQ(runCoalesce(Batch{p}).size(), 2u);
}

TEST(Coalesce, RejectsUndersizedBuffers) {
  FlowSpec a;
  const auto sa = flowSegments(a, 2, 1000);
  Batch b{sa};
  const auto views = b.views();
  Bytes out(100);
  std::vector<std::span<const uint8_t>> writes(2);
  EXPECT_EQ(coalescePackets(views, out, writes).error, OffloadError::kOutputTooSmall);
  std::vector<std::span<const uint8_t>> one(1);
  Bytes big(5000);
  EXPECT_EQ(coalescePackets(views, big, one).error, OffloadError::kTooManySegments);
}

TEST(Coalesce, LargeBatchesAreProcessedInGroups) {
  FlowSpec a;
  const auto sa = flowSegments(a, 200, 300);
  CoalesceResult r;
  const auto frames = runCoalesce(Batch{sa}, &r);
  ASSERT_EQ(frames.size(), 2u);  // one group boundary at kMaxCoalesceBatch
  EXPECT_EQ(r.coalesced, 198u);
  EXPECT_EQ(frames[0].size(), kVirtioNetHdrLen + 52 + 300 * kMaxCoalesceBatch);
}

}  // namespace
}  // namespace aureo::wireguard
