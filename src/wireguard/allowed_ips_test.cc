#include "wireguard/allowed_ips.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

namespace aureo::wireguard {
namespace {

// Owners are opaque to the trie; distinct addresses stand in for peers.
struct Owners {
  std::vector<char> storage = std::vector<char>(64);
  Peer* operator[](size_t i) { return reinterpret_cast<Peer*>(&storage[i]); }
};

core::Cidr cidr(const char* text) {
  return *core::Cidr::parse(text);
}
Peer* lookup(const AllowedIps& t, const char* ip) {
  return t.lookup(*core::IpAddress::parse(ip));
}

TEST(AllowedIpsTest, LongestPrefixWins) {
  Owners p;
  AllowedIps t;
  t.insert(cidr("10.0.0.0/8"), p[1]);
  t.insert(cidr("10.1.0.0/16"), p[2]);
  t.insert(cidr("10.1.2.3/32"), p[3]);
  t.insert(cidr("0.0.0.0/0"), p[4]);
  EXPECT_EQ(lookup(t, "10.1.2.3"), p[3]);
  EXPECT_EQ(lookup(t, "10.1.2.4"), p[2]);
  EXPECT_EQ(lookup(t, "10.2.0.1"), p[1]);
  EXPECT_EQ(lookup(t, "192.168.1.1"), p[4]);
  EXPECT_EQ(lookup(t, "::1"), nullptr);  // families are separate
  EXPECT_EQ(t.size(), 4u);
}

TEST(AllowedIpsTest, InsertMasksHostBitsAndReplacesTheOwner) {
  Owners p;
  AllowedIps t;
  t.insert(cidr("192.168.77.5/24"), p[1]);
  t.insert(cidr("192.168.77.0/24"), p[2]);
  EXPECT_EQ(lookup(t, "192.168.77.200"), p[2]);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.prefixesOf(p[1]).empty());
  ASSERT_EQ(t.prefixesOf(p[2]).size(), 1u);
  EXPECT_EQ(t.prefixesOf(p[2])[0].toString(), "192.168.77.0/24");
}

TEST(AllowedIpsTest, RemoveOnlyForTheOwningPeer) {
  Owners p;
  AllowedIps t;
  t.insert(cidr("fd00::/64"), p[1]);
  t.insert(cidr("fd00::/48"), p[2]);
  EXPECT_FALSE(t.remove(cidr("fd00::/64"), p[2]));
  EXPECT_FALSE(t.remove(cidr("fd00::/63"), p[1]));
  EXPECT_EQ(lookup(t, "fd00::1"), p[1]);
  EXPECT_TRUE(t.remove(cidr("fd00::/64"), p[1]));
  EXPECT_EQ(lookup(t, "fd00::1"), p[2]);
  EXPECT_EQ(t.size(), 1u);
}

TEST(AllowedIpsTest, RemoveByPeerLeavesOthersIntact) {
  Owners p;
  AllowedIps t;
  t.insert(cidr("10.0.0.0/24"), p[1]);
  t.insert(cidr("10.0.1.0/24"), p[2]);
  t.insert(cidr("10.0.2.0/24"), p[1]);
  t.insert(cidr("2001:db8::/32"), p[1]);
  t.insert(cidr("10.0.0.0/16"), p[3]);
  t.removeByPeer(p[1]);
  EXPECT_TRUE(t.prefixesOf(p[1]).empty());
  EXPECT_EQ(lookup(t, "10.0.0.9"), p[3]);
  EXPECT_EQ(lookup(t, "10.0.1.9"), p[2]);
  EXPECT_EQ(lookup(t, "10.0.2.9"), p[3]);
  EXPECT_EQ(lookup(t, "2001:db8::1"), nullptr);
  EXPECT_EQ(t.size(), 2u);
}

TEST(AllowedIpsTest, PrefixesOfListsExactlyAPeersPrefixes) {
  Owners p;
  AllowedIps t;
  t.insert(cidr("10.9.0.0/16"), p[1]);
  t.insert(cidr("fd12:3456::/32"), p[1]);
  t.insert(cidr("10.9.8.0/24"), p[2]);
  t.insert(cidr("10.9.8.7/32"), p[1]);
  auto got = t.prefixesOf(p[1]);
  std::vector<std::string> text;
  for (const auto& c : got) text.push_back(c.toString());
  std::sort(text.begin(), text.end());
  EXPECT_EQ(text, (std::vector<std::string>{"10.9.0.0/16", "10.9.8.7/32", "fd12:3456::/32"}));
}

// A reference that scans every prefix, against which the trie is compared.
class Reference {
 public:
  void insert(const core::Cidr& c, Peer* p) { routes_[key(c)] = p; }
  bool remove(const core::Cidr& c, Peer* p) {
    auto it = routes_.find(key(c));
    if (it == routes_.end() || it->second != p) return false;
    routes_.erase(it);
    return true;
  }
  void removeByPeer(Peer* p) {
    std::erase_if(routes_, [&](const auto& kv) { return kv.second == p; });
  }
  Peer* lookup(const core::IpAddress& ip) const {
    Peer* best = nullptr;
    int best_len = -1;
    for (const auto& [k, p] : routes_) {
      const core::Cidr& c = std::get<2>(k);
      if (c.prefix() > best_len && c.address().family() == ip.family() && c.contains(ip)) {
        best = p;
        best_len = c.prefix();
      }
    }
    return best;
  }
  size_t size() const { return routes_.size(); }
  size_t countOf(Peer* p) const {
    return static_cast<size_t>(std::count_if(routes_.begin(), routes_.end(),
                                             [&](const auto& kv) { return kv.second == p; }));
  }

 private:
  using Key = std::tuple<int, int, core::Cidr>;
  static Key key(const core::Cidr& c) {
    return {static_cast<int>(c.address().family()), c.prefix(), c};
  }
  std::map<Key, Peer*> routes_;
};

// Addresses drawn from a few clusters, so prefixes nest and share branches.
core::IpAddress randomAddress(std::mt19937& rng, bool v6) {
  std::array<uint8_t, 16> b{};
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  b[0] = static_cast<uint8_t>(v6 ? 0xfd : 10);
  b[1] = static_cast<uint8_t>(rng() % 4);
  return core::IpAddress::fromBytes(
      v6 ? core::IpAddress::Family::kV6 : core::IpAddress::Family::kV4, b.data());
}

void runRandomized(bool v6, unsigned seed) {
  std::mt19937 rng(seed);
  Owners p;
  AllowedIps trie;
  Reference ref;
  const int max_len = v6 ? 128 : 32;
  std::vector<core::Cidr> inserted;
  for (int i = 0; i < 4000; ++i) {
    const int len = static_cast<int>(rng() % static_cast<unsigned>(max_len + 1));
    core::Cidr c(randomAddress(rng, v6), len);
    Peer* owner = p[rng() % 40];
    trie.insert(c, owner);
    ref.insert(c, owner);
    inserted.push_back(c);
  }
  // Remove a third of them by prefix (sometimes naming the wrong owner) and a few peers whole.
  for (int i = 0; i < 1500; ++i) {
    const core::Cidr& c = inserted[rng() % inserted.size()];
    Peer* owner = p[rng() % 40];
    ASSERT_EQ(trie.remove(c, owner), ref.remove(c, owner));
  }
  for (int i = 0; i < 4; ++i) {
    Peer* owner = p[rng() % 40];
    trie.removeByPeer(owner);
    ref.removeByPeer(owner);
  }
  ASSERT_EQ(trie.size(), ref.size());
  for (size_t i = 0; i < 40; ++i) ASSERT_EQ(trie.prefixesOf(p[i]).size(), ref.countOf(p[i]));

  for (int i = 0; i < 5000; ++i) {
    // Half the probes start from an inserted prefix so they hit deep nodes.
    core::IpAddress ip = randomAddress(rng, v6);
    if (i % 2 == 0) {
      const core::Cidr& c = inserted[rng() % inserted.size()];
      auto bytes = ip.bytes();
      const auto& base = c.address().bytes();
      for (int bit = 0; bit < c.prefix(); ++bit) {
        const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
        bytes[bit / 8] = static_cast<uint8_t>((bytes[bit / 8] & ~mask) | (base[bit / 8] & mask));
      }
      ip = core::IpAddress::fromBytes(ip.family(), bytes.data());
    }
    ASSERT_EQ(trie.lookup(ip), ref.lookup(ip)) << ip.toString();
  }
}

TEST(AllowedIpsTest, MatchesBruteForceReferenceV4) {
  runRandomized(false, 1);
  runRandomized(false, 2);
}

TEST(AllowedIpsTest, MatchesBruteForceReferenceV6) {
  runRandomized(true, 3);
  runRandomized(true, 4);
}

TEST(AllowedIpsTest, RemovingEverythingLeavesAnEmptyTrie) {
  Owners p;
  AllowedIps t;
  std::mt19937 rng(9);
  for (int i = 0; i < 1000; ++i) {
    t.insert(core::Cidr(randomAddress(rng, i % 2 == 0), static_cast<int>(rng() % 33)), p[i % 8]);
  }
  for (size_t i = 0; i < 8; ++i) t.removeByPeer(p[i]);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(lookup(t, "10.0.0.1"), nullptr);
  // The trie still works after being emptied.
  t.insert(cidr("10.0.0.0/8"), p[1]);
  EXPECT_EQ(lookup(t, "10.0.0.1"), p[1]);
}

}  // namespace
}  // namespace aureo::wireguard
