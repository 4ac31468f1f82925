#include "client/cidr_set.h"

#include <algorithm>

namespace aureo::client {
namespace {

bool containsPrefix(const core::Cidr& outer, const core::Cidr& inner) {
  return outer.address().family() == inner.address().family() && outer.prefix() <= inner.prefix() &&
         outer.contains(inner.address());
}

// `block` with the bit after its prefix set: the upper half of the block.
core::Cidr upperHalf(const core::Cidr& block) {
  auto bytes = block.address().bytes();
  const auto bit = static_cast<size_t>(block.prefix());
  bytes[bit / 8] = static_cast<uint8_t>(bytes[bit / 8] | (0x80u >> (bit % 8)));
  return {core::IpAddress::fromBytes(block.address().family(), bytes.data()), block.prefix() + 1};
}

// Keeps `block` whole when nothing removed touches it, drops it when a
// removed prefix covers it, and otherwise splits it in two and recurses: only
// the halves on the way to a removed prefix split again, so the output has at
// most (address bits) prefixes per removed prefix.
void subtract(const core::Cidr& block, const std::vector<core::Cidr>& removed,
              std::vector<core::Cidr>& out) {
  bool overlaps = false;
  for (const auto& r : removed) {
    if (containsPrefix(r, block)) return;
    if (containsPrefix(block, r)) overlaps = true;
  }
  if (!overlaps) {
    out.push_back(block);
    return;
  }
  subtract(core::Cidr(block.address(), block.prefix() + 1), removed, out);
  subtract(upperHalf(block), removed, out);
}

}  // namespace

std::vector<core::Cidr> complement(const std::vector<core::Cidr>& removed,
                                   core::IpAddress::Family family) {
  std::vector<core::Cidr> same;
  for (const auto& r : removed) {
    if (r.address().family() == family) same.push_back(r);
  }
  const uint8_t zeros[16] = {};
  std::vector<core::Cidr> out;
  subtract(core::Cidr(core::IpAddress::fromBytes(family, zeros), 0), same, out);
  std::sort(out.begin(), out.end());
  return out;
}

bool covers(const std::vector<core::Cidr>& set, const core::Cidr& cidr) {
  return std::any_of(set.begin(), set.end(),
                     [&](const core::Cidr& c) { return containsPrefix(c, cidr); });
}

}  // namespace aureo::client
