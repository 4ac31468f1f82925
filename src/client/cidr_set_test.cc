#include "client/cidr_set.h"

#include <random>

#include <gtest/gtest.h>

namespace aureo::client {
namespace {

using Family = core::IpAddress::Family;

core::Cidr cidr(const char* text) {
  return *core::Cidr::parse(text);
}

std::vector<std::string> texts(const std::vector<core::Cidr>& cidrs) {
  std::vector<std::string> out;
  out.reserve(cidrs.size());
  for (const auto& c : cidrs) out.push_back(c.toString());
  return out;
}

bool inAny(const std::vector<core::Cidr>& set, const core::IpAddress& ip) {
  for (const auto& c : set) {
    if (c.contains(ip)) return true;
  }
  return false;
}

TEST(ComplementTest, OfNothingIsTheWholeSpace) {
  EXPECT_EQ(texts(complement({}, Family::kV4)), std::vector<std::string>{"0.0.0.0/0"});
  EXPECT_EQ(texts(complement({}, Family::kV6)), std::vector<std::string>{"::/0"});
}

TEST(ComplementTest, OfTheWholeSpaceIsEmpty) {
  EXPECT_TRUE(complement({cidr("0.0.0.0/0")}, Family::kV4).empty());
  EXPECT_TRUE(complement({cidr("::/0"), cidr("10.0.0.0/8")}, Family::kV6).empty());
}

TEST(ComplementTest, OfOneHalfIsTheOtherHalf) {
  EXPECT_EQ(texts(complement({cidr("0.0.0.0/1")}, Family::kV4)),
            std::vector<std::string>{"128.0.0.0/1"});
}

TEST(ComplementTest, OfOnePrivateRangeIsTheKnownWgQuickList) {
  // The list the WireGuard AllowedIPs calculators give for "all but 10/8".
  EXPECT_EQ(texts(complement({cidr("10.0.0.0/8")}, Family::kV4)),
            (std::vector<std::string>{"0.0.0.0/5", "8.0.0.0/7", "11.0.0.0/8", "12.0.0.0/6",
                                      "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2", "128.0.0.0/1"}));
}

TEST(ComplementTest, OfAHostLeavesOnePrefixPerBit) {
  const auto out = complement({cidr("192.0.2.1/32")}, Family::kV4);
  EXPECT_EQ(out.size(), 32u);
  EXPECT_FALSE(inAny(out, *core::IpAddress::parse("192.0.2.1")));
  EXPECT_TRUE(inAny(out, *core::IpAddress::parse("192.0.2.0")));
  EXPECT_TRUE(inAny(out, *core::IpAddress::parse("192.0.2.2")));
}

TEST(ComplementTest, IgnoresTheOtherFamilyAndNestedOrDuplicatePrefixes) {
  const auto a = complement(
      {cidr("10.0.0.0/8"), cidr("10.1.0.0/16"), cidr("10.0.0.0/8"), cidr("2001:db8::/32")},
      Family::kV4);
  EXPECT_EQ(a, complement({cidr("10.0.0.0/8")}, Family::kV4));
  const auto v6 = complement({cidr("2001:db8::/32"), cidr("10.0.0.0/8")}, Family::kV6);
  EXPECT_EQ(v6.size(), 32u);
  EXPECT_FALSE(inAny(v6, *core::IpAddress::parse("2001:db8::1")));
  EXPECT_TRUE(inAny(v6, *core::IpAddress::parse("2001:db9::1")));
}

// For random exclusions, every address is in exactly one of: an excluded
// prefix, or exactly one prefix of the complement.
TEST(ComplementTest, PartitionsTheSpaceWithTheRemovedPrefixes) {
  std::mt19937 rng(20261125);
  for (int round = 0; round < 50; ++round) {
    std::vector<core::Cidr> removed;
    const int n = static_cast<int>(rng() % 5) + 1;
    for (int i = 0; i < n; ++i) {
      const uint32_t a = static_cast<uint32_t>(rng());
      const uint8_t b[4] = {static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16),
                            static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a)};
      removed.emplace_back(core::IpAddress::v4(b), static_cast<int>(rng() % 33));
    }
    const auto out = complement(removed, Family::kV4);
    for (size_t i = 1; i < out.size(); ++i) {
      EXPECT_FALSE(out[i - 1].contains(out[i].address())) << "overlapping output";
    }
    for (int probe = 0; probe < 200; ++probe) {
      const uint32_t a = static_cast<uint32_t>(rng());
      const uint8_t b[4] = {static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16),
                            static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a)};
      const auto ip = core::IpAddress::v4(b);
      int hits = 0;
      for (const auto& c : out) hits += c.contains(ip) ? 1 : 0;
      EXPECT_EQ(hits, inAny(removed, ip) ? 0 : 1) << ip.toString();
    }
    // Also the probes right at the edges of each removed prefix.
    for (const auto& r : removed) {
      EXPECT_FALSE(inAny(out, r.address()));
    }
  }
}

TEST(CoversTest, OnlyAWiderOrEqualPrefixOfTheSameFamilyCovers) {
  const std::vector<core::Cidr> set{cidr("10.0.0.0/8"), cidr("2001:db8::/32")};
  EXPECT_TRUE(covers(set, cidr("10.1.2.3/32")));
  EXPECT_TRUE(covers(set, cidr("10.0.0.0/8")));
  EXPECT_FALSE(covers(set, cidr("10.0.0.0/7")));
  EXPECT_FALSE(covers(set, cidr("11.0.0.1/32")));
  EXPECT_TRUE(covers(set, cidr("2001:db8::1/128")));
}

}  // namespace
}  // namespace aureo::client
