// rtnetlink: links, addresses, routes and policy-routing rules, spoken over a
// raw NETLINK_ROUTE socket (no libnl, no `ip`).
//
// A Netlink object talks to the network namespace of the thread that opened
// it; the socket stays bound to that namespace even if the thread later moves.
// Not thread-safe: use one object per thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip.h"
#include "core/result.h"

namespace aureo::netcfg {

using Family = core::IpAddress::Family;

// Well-known routing table ids (linux/rtnetlink.h).
inline constexpr uint32_t kTableUnspec = 0;  // "all tables" when listing
inline constexpr uint32_t kTableDefault = 253;
inline constexpr uint32_t kTableMain = 254;
inline constexpr uint32_t kTableLocal = 255;

enum class RouteScope : uint8_t { kUniverse = 0, kSite = 200, kLink = 253, kHost = 254 };

enum class RouteType : uint8_t {
  kUnicast = 1,
  kLocal = 2,
  kBroadcast = 3,
  kAnycast = 4,
  kMulticast = 5,
  kBlackhole = 6,
  kUnreachable = 7,
  kProhibit = 8,
  kThrow = 9,
};

// An address assigned to an interface. Unlike core::Cidr it keeps host bits:
// 10.8.0.2/24 stays 10.8.0.2/24.
struct InterfaceAddress {
  core::IpAddress address;
  int prefix = 0;

  // "10.8.0.2/24", "fd00::2/64"; a bare address gets the full-length prefix.
  static std::optional<InterfaceAddress> parse(std::string_view text);
  [[nodiscard]] std::string toString() const;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const InterfaceAddress&) const = default;
};

// One address as the kernel reports it.
struct AddressEntry {
  int ifindex = 0;
  InterfaceAddress address;
  uint32_t flags = 0;  // IFA_F_*
  RouteScope scope = RouteScope::kUniverse;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const AddressEntry&) const = default;
};

struct NextHop {
  std::optional<core::IpAddress> gateway;
  int oif = 0;
  uint8_t weight = 0;  // rtnh_hops
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const NextHop&) const = default;
};

// A route for add/del, and the shape listRoutes() returns.
struct Route {
  core::Cidr destination;
  std::optional<core::IpAddress> gateway;
  std::optional<core::IpAddress> source;  // preferred source (RTA_PREFSRC)
  int oif = 0;                            // output interface index, 0 = none
  uint32_t table = kTableMain;
  uint32_t metric = 0;  // RTA_PRIORITY
  // Unset on add: link scope for an IPv4 unicast route without a gateway (what
  // `ip route add ... dev X` does), universe otherwise. Always set by listRoutes().
  std::optional<RouteScope> scope;
  RouteType type = RouteType::kUnicast;
  uint8_t protocol = 4;           // RTPROT_STATIC on add; what the kernel says on list
  std::vector<NextHop> nexthops;  // multipath routes (list only)

  // `ip route`-like text, for logs and snapshot diffs.
  [[nodiscard]] std::string toString() const;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const Route&) const = default;
};

// A policy-routing rule. With action kToTable the packet is looked up in
// `table`; the selectors that are set must all match (or, with invert, not).
struct Rule {
  enum class Action : uint8_t {
    kToTable = 1,
    kGoto = 2,
    kNop = 3,
    kBlackhole = 6,
    kUnreachable = 7,
    kProhibit = 8
  };

  Family family = Family::kV4;
  std::optional<uint32_t> priority;  // unset on add: the kernel picks one
  std::optional<uint32_t> fwmark;
  uint32_t fwmask = 0xffffffff;  // only meaningful with fwmark
  std::optional<core::Cidr> from;
  std::optional<core::Cidr> to;
  std::string iifname;
  std::string oifname;
  bool invert = false;  // "not ..."
  Action action = Action::kToTable;
  uint32_t table = kTableMain;
  // wg-quick's "table main suppress_prefixlength 0": ignore lookups whose
  // result has a prefix this short or shorter (i.e. the default route).
  std::optional<uint32_t> suppress_prefixlength;

  [[nodiscard]] std::string toString() const;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 false positive on defaulted <=>
  auto operator<=>(const Rule&) const = default;
};

struct LinkInfo {
  int index = 0;
  std::string name;
  uint32_t mtu = 0;
  uint32_t flags = 0;  // IFF_*
  std::string kind;    // "veth", "dummy", "wireguard", ... (empty if none)
  [[nodiscard]] bool up() const;
};

class Netlink {
 public:
  // Opens a NETLINK_ROUTE socket in the calling thread's network namespace.
  static core::Result<Netlink> open();

  Netlink(Netlink&& other) noexcept;
  Netlink& operator=(Netlink&& other) noexcept;
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink();

  // Links. Names are checked (1..15 bytes, no '/', ':' or whitespace).
  core::Result<int> linkIndex(std::string_view name);
  core::Result<LinkInfo> link(std::string_view name);
  core::Result<std::vector<LinkInfo>> listLinks();
  core::Status setLinkUp(std::string_view name);
  core::Status setLinkDown(std::string_view name);
  core::Status setMtu(std::string_view name, uint32_t mtu);
  core::Status createDummy(std::string_view name);
  // A veth pair. With peer_netns_fd (an open /proc/<pid>/ns/net or
  // /run/netns/<name>) the peer end is created directly in that namespace.
  core::Status createVeth(std::string_view name, std::string_view peer,
                          std::optional<int> peer_netns_fd = std::nullopt);
  core::Status moveLinkToNetns(std::string_view name, int netns_fd);
  core::Status deleteLink(std::string_view name);

  // Addresses. IPv6 addresses get IFA_F_NODAD unless nodad is false, so they
  // are usable at once (a tunnel has nobody to detect duplicates with).
  core::Status addAddress(std::string_view ifname, const InterfaceAddress& address,
                          bool nodad = true);
  core::Status delAddress(std::string_view ifname, const InterfaceAddress& address);
  // ifindex 0 lists every interface.
  core::Result<std::vector<AddressEntry>> listAddresses(Family family, int ifindex = 0);

  // Routes. listRoutes(family, kTableUnspec) returns every table.
  core::Status addRoute(const Route& route);
  // Like addRoute but replaces an existing route to the same destination.
  core::Status replaceRoute(const Route& route);
  core::Status delRoute(const Route& route);
  core::Result<std::vector<Route>> listRoutes(Family family, uint32_t table = kTableUnspec);

  // Policy routing rules.
  core::Status addRule(const Rule& rule);
  core::Status delRule(const Rule& rule);
  core::Result<std::vector<Rule>> listRules(Family family);

 private:
  explicit Netlink(int fd, uint32_t port_id);

  class Request;
  core::Status transact(Request& request, std::string_view what);
  template <typename OnMessage>
  core::Status dump(Request& request, std::string_view what, OnMessage&& on_message);
  core::Status routeRequest(uint16_t type, uint16_t flags, const Route& route,
                            std::string_view what);
  core::Status ruleRequest(uint16_t type, uint16_t flags, const Rule& rule, std::string_view what);
  core::Status setLinkFlags(std::string_view name, uint32_t flags, uint32_t change);

  int fd_ = -1;
  uint32_t port_id_ = 0;
  uint32_t seq_ = 0;
};

// True if `name` is a valid Linux interface name (1..15 bytes; letters,
// digits and "_-.@" only here, which is stricter than the kernel).
bool isValidInterfaceName(std::string_view name);

}  // namespace aureo::netcfg
