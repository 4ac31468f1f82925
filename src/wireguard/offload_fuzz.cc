// libFuzzer target: segmentation of TUN frames (virtio_net_hdr + packet) and
// coalescing of whatever it produces must never read or write out of bounds,
// and every TCP/UDP segment it emits must carry valid checksums.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "wireguard/offload.h"

namespace {

constexpr size_t kSegments = 48;
constexpr size_t kSegmentBytes = 1600;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aureo::wireguard;
  VirtioNetHdr hdr;
  if (!VirtioNetHdr::decode({data, size}, &hdr)) return 0;
  const std::span<const uint8_t> packet(data + kVirtioNetHdrLen, size - kVirtioNetHdrLen);

  static std::vector<uint8_t> storage(kSegments * kSegmentBytes);
  std::array<std::span<uint8_t>, kSegments> out;
  for (size_t i = 0; i < kSegments; ++i)
    out[i] = {storage.data() + i * kSegmentBytes, kSegmentBytes};
  std::array<size_t, kSegments> lengths{};
  const SegmentResult r = segmentPacket(hdr, packet, out, lengths);
  if (!r.ok()) return 0;
  if (r.count == 0 || r.count > kSegments) std::abort();

  std::array<std::span<const uint8_t>, kSegments> views;
  for (size_t i = 0; i < r.count; ++i) {
    if (lengths[i] > kSegmentBytes) std::abort();
    views[i] = {out[i].data(), lengths[i]};
    const uint8_t gso = static_cast<uint8_t>(hdr.gso_type & ~kVirtioNetHdrGsoEcn);
    if (gso != kVirtioNetHdrGsoNone) {
      const uint8_t* p = out[i].data();
      const bool v6 = (p[0] >> 4) == 6;
      const size_t ihl = v6 ? 40 : static_cast<size_t>(p[0] & 0xf) * 4;
      const uint8_t proto = v6 ? p[6] : p[9];
      const std::span<const uint8_t> src(p + (v6 ? 8 : 12), v6 ? 16 : 4);
      const std::span<const uint8_t> dst(p + (v6 ? 24 : 16), v6 ? 16 : 4);
      if (transportChecksum(proto, src, dst, {p + ihl, lengths[i] - ihl}) != 0) std::abort();
      if (!v6 && ipv4HeaderChecksum({p, ihl}) != 0) std::abort();
    }
  }
  static std::vector<uint8_t> frames(coalesceBufferSize(kSegments, kSegments * kSegmentBytes));
  std::array<std::span<const uint8_t>, kSegments> writes;
  const CoalesceResult c =
      coalescePackets(std::span(views).first(r.count), frames, std::span(writes));
  if (!c.ok() || c.writes == 0 || c.writes > r.count) std::abort();
  return 0;
}
