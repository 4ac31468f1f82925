#include "netcfg/netlink.h"

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <span>
#include <utility>

#include <fmt/format.h>

#include "core/errno_text.h"

namespace aureo::netcfg {
namespace {

// One receive holds a whole kernel dump chunk: the kernel never builds a dump
// message larger than 32 KiB, and a 64 KiB buffer leaves room for any reply.
constexpr size_t kReceiveBufferSize = size_t{64} * 1024;
// A dump larger than this is refused rather than held in memory.
constexpr size_t kMaxDumpBytes = size_t{64} * 1024 * 1024;
constexpr int kReceiveTimeoutSeconds = 10;
constexpr int kDumpAttempts = 3;

constexpr size_t align4(size_t n) {
  return (n + 3) & ~size_t{3};
}

core::Code codeForErrno(int err) {
  switch (err) {
    case EEXIST: return core::Code::kAlreadyExists;
    case ENOENT:
    case ENODEV:
    case ESRCH:
    case EADDRNOTAVAIL: return core::Code::kNotFound;
    case EPERM:
    case EACCES: return core::Code::kPermissionDenied;
    case EINVAL:
    case ERANGE:
    case ENETUNREACH:
    case E2BIG: return core::Code::kInvalidArgument;
    case EOPNOTSUPP: return core::Code::kUnimplemented;
    case EBUSY:
    case EAGAIN:
    case ENOBUFS: return core::Code::kUnavailable;
    default: return core::Code::kInternal;
  }
}

core::Error errnoError(std::string_view what, int err, std::string_view detail = {}) {
  std::string message = fmt::format("{}: {} (errno {})", what, core::errnoText(err), err);
  if (!detail.empty()) message += fmt::format(": {}", detail);
  return {codeForErrno(err), std::move(message), {}};
}

// Calls f(type, payload) for each attribute in [data, data+len).
template <typename F>
void forEachAttribute(std::span<const char> data, F&& f) {
  size_t off = 0;
  while (off + sizeof(rtattr) <= data.size()) {
    rtattr attr;
    std::memcpy(&attr, data.data() + off, sizeof(attr));
    if (attr.rta_len < sizeof(rtattr) || off + attr.rta_len > data.size()) return;
    const size_t header = align4(sizeof(rtattr));
    f(static_cast<uint16_t>(attr.rta_type & NLA_TYPE_MASK),
      data.subspan(off + header, attr.rta_len - header));
    off += align4(attr.rta_len);
  }
}

template <typename T>
bool readStruct(std::span<const char> data, T& out) {
  if (data.size() < sizeof(T)) return false;
  std::memcpy(&out, data.data(), sizeof(T));
  return true;
}

uint32_t readU32(std::span<const char> data) {
  uint32_t v = 0;
  readStruct(data, v);
  return v;
}

std::string readString(std::span<const char> data) {
  std::string s(data.data(), data.size());
  if (const auto nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
  return s;
}

std::optional<core::IpAddress> readAddress(std::span<const char> data, Family family) {
  const size_t want = family == Family::kV4 ? 4 : 16;
  if (data.size() != want) return std::nullopt;
  return core::IpAddress::fromBytes(family, reinterpret_cast<const uint8_t*>(data.data()));
}

uint8_t afOf(Family family) {
  return family == Family::kV4 ? AF_INET : AF_INET6;
}

core::Status checkName(std::string_view name, std::string_view field = "ifname") {
  if (!isValidInterfaceName(name)) {
    return core::invalidArgument(fmt::format("invalid interface name '{}'", name),
                                 std::string(field));
  }
  return {};
}

std::string_view routeTypeName(RouteType type) {
  switch (type) {
    case RouteType::kUnicast: return "unicast";
    case RouteType::kLocal: return "local";
    case RouteType::kBroadcast: return "broadcast";
    case RouteType::kAnycast: return "anycast";
    case RouteType::kMulticast: return "multicast";
    case RouteType::kBlackhole: return "blackhole";
    case RouteType::kUnreachable: return "unreachable";
    case RouteType::kProhibit: return "prohibit";
    case RouteType::kThrow: return "throw";
  }
  return "?";
}

}  // namespace

// A request under construction: nlmsghdr, a fixed family header, attributes.
class Netlink::Request {
 public:
  template <typename Header>
  Request(uint16_t type, uint16_t flags, const Header& header) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    append(&h, sizeof(h));
    append(&header, sizeof(header));
  }

  void put(uint16_t type, const void* data, size_t len) {
    rtattr attr{};
    attr.rta_type = type;
    attr.rta_len = static_cast<unsigned short>(align4(sizeof(rtattr)) + len);
    append(&attr, sizeof(attr));
    append(data, len);
  }
  void putU32(uint16_t type, uint32_t v) { put(type, &v, sizeof(v)); }
  void putString(uint16_t type, std::string_view s) {
    std::string z(s);
    put(type, z.c_str(), z.size() + 1);
  }
  void putAddress(uint16_t type, const core::IpAddress& ip) {
    put(type, ip.bytes().data(), ip.byteLength());
  }
  // Appends a raw, aligned block (a family header inside a nest).
  void raw(const void* data, size_t len) { append(data, len); }

  size_t beginNest(uint16_t type) {
    const size_t at = buf_.size();
    put(type, nullptr, 0);
    return at;
  }
  void endNest(size_t at) {
    const auto len = static_cast<unsigned short>(buf_.size() - at);
    std::memcpy(buf_.data() + at + offsetof(rtattr, rta_len), &len, sizeof(len));
  }

  // Stamps length and sequence number; returns the bytes to send.
  std::span<const char> finish(uint32_t seq) {
    const auto len = static_cast<uint32_t>(buf_.size());
    std::memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_len), &len, sizeof(len));
    std::memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_seq), &seq, sizeof(seq));
    return {buf_.data(), buf_.size()};
  }
  [[nodiscard]] bool isDump() const {
    nlmsghdr h;
    std::memcpy(&h, buf_.data(), sizeof(h));
    return (h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  }

 private:
  void append(const void* data, size_t len) {
    const size_t at = buf_.size();
    buf_.resize(at + align4(len), '\0');
    if (len > 0) std::memcpy(buf_.data() + at, data, len);
  }
  std::vector<char> buf_;
};

bool isValidInterfaceName(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  if (name == "." || name == "..") return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.' || c == '@';
    if (!ok) return false;
  }
  return true;
}

std::optional<InterfaceAddress> InterfaceAddress::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto ip = core::IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int prefix = ip->bitLength();
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc{} || ptr != p.data() + p.size()) return std::nullopt;
    if (prefix < 0 || prefix > ip->bitLength()) return std::nullopt;
  }
  return InterfaceAddress{*ip, prefix};
}

std::string InterfaceAddress::toString() const {
  return fmt::format("{}/{}", address.toString(), prefix);
}

std::string Route::toString() const {
  std::string out;
  if (type != RouteType::kUnicast) out += fmt::format("{} ", routeTypeName(type));
  out += destination.toString();
  if (gateway) out += fmt::format(" via {}", gateway->toString());
  if (oif != 0) out += fmt::format(" dev #{}", oif);
  if (source) out += fmt::format(" src {}", source->toString());
  out += fmt::format(" table {} metric {} proto {}", table, metric, protocol);
  if (scope) out += fmt::format(" scope {}", static_cast<int>(*scope));
  for (const auto& nh : nexthops) {
    out += " nexthop";
    if (nh.gateway) out += fmt::format(" via {}", nh.gateway->toString());
    out += fmt::format(" dev #{} weight {}", nh.oif, static_cast<int>(nh.weight) + 1);
  }
  return out;
}

std::string Rule::toString() const {
  std::string out = fmt::format("{}: ", priority.value_or(0));
  if (invert) out += "not ";
  out += fmt::format("from {}", from ? from->toString() : std::string("all"));
  if (to) out += fmt::format(" to {}", to->toString());
  if (fwmark) out += fmt::format(" fwmark {:#x}/{:#x}", *fwmark, fwmask);
  if (!iifname.empty()) out += fmt::format(" iif {}", iifname);
  if (!oifname.empty()) out += fmt::format(" oif {}", oifname);
  if (action == Action::kToTable) {
    out += fmt::format(" lookup {}", table);
  } else {
    out += fmt::format(" action {}", static_cast<int>(action));
  }
  if (suppress_prefixlength)
    out += fmt::format(" suppress_prefixlength {}", *suppress_prefixlength);
  return fmt::format("{} (ipv{})", out, static_cast<int>(family));
}

bool LinkInfo::up() const {
  return (flags & IFF_UP) != 0;
}

// ---------------------------------------------------------------------------
// Socket

Netlink::Netlink(int fd, uint32_t port_id) : fd_(fd), port_id_(port_id) {}

Netlink::Netlink(Netlink&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_id_(other.port_id_), seq_(other.seq_) {}

Netlink& Netlink::operator=(Netlink&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    port_id_ = other.port_id_;
    seq_ = other.seq_;
  }
  return *this;
}

Netlink::~Netlink() {
  if (fd_ >= 0) ::close(fd_);
}

core::Result<Netlink> Netlink::open() {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errnoError("netlink socket", errno);
  Netlink nl(fd, 0);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return errnoError("netlink bind", errno);
  }
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return errnoError("netlink getsockname", errno);
  }
  nl.port_id_ = addr.nl_pid;
  const int one = 1;
  // Extended acks carry the kernel's own explanation ("Unknown device type");
  // capped acks keep error replies small. Both are best effort on old kernels.
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  timeval tv{};
  tv.tv_sec = kReceiveTimeoutSeconds;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    return errnoError("netlink SO_RCVTIMEO", errno);
  }
  // Sequence numbers start somewhere unpredictable so that replies to an
  // earlier owner of the port are never mistaken for ours.
  nl.seq_ = static_cast<uint32_t>(::getpid()) * 7919u;
  return nl;
}

// Sends `request` and reads replies until its ack (or NLMSG_DONE for a dump).
// Each reply message of the request's sequence is passed to on_message(type,
// payload, flags). Messages with other sequence numbers are stale and skipped.
template <typename OnMessage>
core::Status Netlink::dump(Request& request, std::string_view what, OnMessage&& on_message) {
  const uint32_t seq = ++seq_;
  const auto bytes = request.finish(seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  const ssize_t sent = ::sendto(fd_, bytes.data(), bytes.size(), 0,
                                reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
  if (sent < 0) return errnoError(what, errno);
  if (static_cast<size_t>(sent) != bytes.size()) {
    return core::internalError(fmt::format("{}: short netlink send", what));
  }

  const bool is_dump = request.isDump();
  std::vector<char> buffer(kReceiveBufferSize);
  size_t total = 0;
  bool too_big = false;
  bool interrupted = false;
  for (;;) {
    sockaddr_nl from{};
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(fd_, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return core::Error{
            core::Code::kDeadlineExceeded,
            fmt::format("{}: no netlink reply within {} s", what, kReceiveTimeoutSeconds),
            {}};
      }
      return errnoError(what, errno);
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) {
      return core::internalError(fmt::format("{}: netlink reply truncated", what));
    }
    if (from.nl_pid != 0) continue;  // only the kernel talks to us
    total += static_cast<size_t>(n);
    if (total > kMaxDumpBytes) too_big = true;

    const std::span<const char> data(buffer.data(), static_cast<size_t>(n));
    size_t off = 0;
    while (off + sizeof(nlmsghdr) <= data.size()) {
      nlmsghdr h;
      std::memcpy(&h, data.data() + off, sizeof(h));
      if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > data.size()) {
        return core::internalError(fmt::format("{}: malformed netlink message", what));
      }
      const auto payload =
          data.subspan(off + align4(sizeof(nlmsghdr)), h.nlmsg_len - align4(sizeof(nlmsghdr)));
      off += align4(h.nlmsg_len);
      if (h.nlmsg_seq != seq) continue;
      if ((h.nlmsg_flags & NLM_F_DUMP_INTR) != 0) interrupted = true;

      if (h.nlmsg_type == NLMSG_ERROR) {
        nlmsgerr err;
        if (!readStruct(payload, err)) {
          return core::internalError(fmt::format("{}: short NLMSG_ERROR", what));
        }
        if (err.error == 0) return {};  // the ack
        std::string detail;
        if ((h.nlmsg_flags & NLM_F_ACK_TLVS) != 0) {
          // With NETLINK_CAP_ACK the echoed request is just its header.
          size_t skip = sizeof(nlmsgerr);
          if ((h.nlmsg_flags & NLM_F_CAPPED) == 0) skip = sizeof(int) + err.msg.nlmsg_len;
          if (skip < payload.size()) {
            forEachAttribute(payload.subspan(align4(skip)),
                             [&](uint16_t type, std::span<const char> value) {
                               if (type == NLMSGERR_ATTR_MSG) detail = readString(value);
                             });
          }
        }
        return errnoError(what, -err.error, detail);
      }
      if (h.nlmsg_type == NLMSG_DONE) {
        int status = 0;
        readStruct(payload, status);
        if (status < 0) return errnoError(what, -status);
        if (too_big) {
          return core::resourceExhausted(
              fmt::format("{}: dump larger than {} bytes", what, kMaxDumpBytes));
        }
        if (interrupted) {
          return core::Error{core::Code::kAborted,
                             fmt::format("{}: dump interrupted by a concurrent change", what),
                             {}};
        }
        return {};
      }
      if (!too_big) on_message(h.nlmsg_type, payload);
    }
    if (!is_dump && too_big) {
      return core::resourceExhausted(fmt::format("{}: reply too large", what));
    }
  }
}

core::Status Netlink::transact(Request& request, std::string_view what) {
  return dump(request, what, [](uint16_t, std::span<const char>) {});
}

// ---------------------------------------------------------------------------
// Links

namespace {

std::optional<LinkInfo> parseLink(std::span<const char> payload) {
  ifinfomsg ifi;
  if (!readStruct(payload, ifi)) return std::nullopt;
  LinkInfo info;
  info.index = ifi.ifi_index;
  info.flags = ifi.ifi_flags;
  forEachAttribute(payload.subspan(align4(sizeof(ifi))),
                   [&](uint16_t type, std::span<const char> value) {
                     if (type == IFLA_IFNAME) info.name = readString(value);
                     if (type == IFLA_MTU) info.mtu = readU32(value);
                     if (type == IFLA_LINKINFO) {
                       forEachAttribute(value, [&](uint16_t t, std::span<const char> v) {
                         if (t == IFLA_INFO_KIND) info.kind = readString(v);
                       });
                     }
                   });
  return info;
}

}  // namespace

core::Result<LinkInfo> Netlink::link(std::string_view name) {
  AUREO_RETURN_IF_ERROR(checkName(name));
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Request req(RTM_GETLINK, NLM_F_ACK, ifi);
  req.putString(IFLA_IFNAME, name);
  std::optional<LinkInfo> found;
  AUREO_RETURN_IF_ERROR(dump(req, fmt::format("get link {}", name),
                             [&](uint16_t type, std::span<const char> payload) {
                               if (type == RTM_NEWLINK) found = parseLink(payload);
                             }));
  if (!found) return core::notFound(fmt::format("get link {}: no reply", name));
  return *found;
}

core::Result<int> Netlink::linkIndex(std::string_view name) {
  AUREO_ASSIGN_OR_RETURN(LinkInfo info, link(name));
  return info.index;
}

core::Result<std::vector<LinkInfo>> Netlink::listLinks() {
  for (int attempt = 1;; ++attempt) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    Request req(RTM_GETLINK, NLM_F_DUMP, ifi);
    std::vector<LinkInfo> links;
    auto status = dump(req, "list links", [&](uint16_t type, std::span<const char> payload) {
      if (type != RTM_NEWLINK) return;
      if (auto info = parseLink(payload)) links.push_back(std::move(*info));
    });
    if (status.ok()) return links;
    if (status.error().code != core::Code::kAborted || attempt == kDumpAttempts) {
      return std::move(status).error();
    }
  }
}

core::Status Netlink::setLinkFlags(std::string_view name, uint32_t flags, uint32_t change) {
  AUREO_RETURN_IF_ERROR(checkName(name));
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_flags = flags;
  ifi.ifi_change = change;
  Request req(RTM_NEWLINK, NLM_F_ACK, ifi);
  req.putString(IFLA_IFNAME, name);
  return transact(req, fmt::format("set link {} {}", name, (flags & IFF_UP) ? "up" : "down"));
}

core::Status Netlink::setLinkUp(std::string_view name) {
  return setLinkFlags(name, IFF_UP, IFF_UP);
}

core::Status Netlink::setLinkDown(std::string_view name) {
  return setLinkFlags(name, 0, IFF_UP);
}

core::Status Netlink::setMtu(std::string_view name, uint32_t mtu) {
  AUREO_RETURN_IF_ERROR(checkName(name));
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Request req(RTM_NEWLINK, NLM_F_ACK, ifi);
  req.putString(IFLA_IFNAME, name);
  req.putU32(IFLA_MTU, mtu);
  return transact(req, fmt::format("set link {} mtu {}", name, mtu));
}

core::Status Netlink::createDummy(std::string_view name) {
  AUREO_RETURN_IF_ERROR(checkName(name));
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Request req(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifi);
  req.putString(IFLA_IFNAME, name);
  const size_t info = req.beginNest(IFLA_LINKINFO);
  req.putString(IFLA_INFO_KIND, "dummy");
  req.endNest(info);
  return transact(req, fmt::format("create dummy link {}", name));
}

core::Status Netlink::createVeth(std::string_view name, std::string_view peer,
                                 std::optional<int> peer_netns_fd) {
  AUREO_RETURN_IF_ERROR(checkName(name));
  AUREO_RETURN_IF_ERROR(checkName(peer, "peer"));
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Request req(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifi);
  req.putString(IFLA_IFNAME, name);
  const size_t info = req.beginNest(IFLA_LINKINFO);
  req.putString(IFLA_INFO_KIND, "veth");
  const size_t data = req.beginNest(IFLA_INFO_DATA);
  const size_t peer_nest = req.beginNest(VETH_INFO_PEER);
  ifinfomsg peer_ifi{};
  peer_ifi.ifi_family = AF_UNSPEC;
  req.raw(&peer_ifi, sizeof(peer_ifi));
  req.putString(IFLA_IFNAME, peer);
  if (peer_netns_fd) req.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(*peer_netns_fd));
  req.endNest(peer_nest);
  req.endNest(data);
  req.endNest(info);
  return transact(req, fmt::format("create veth {} peer {}", name, peer));
}

core::Status Netlink::moveLinkToNetns(std::string_view name, int netns_fd) {
  AUREO_RETURN_IF_ERROR(checkName(name));
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Request req(RTM_NEWLINK, NLM_F_ACK, ifi);
  req.putString(IFLA_IFNAME, name);
  req.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(netns_fd));
  return transact(req, fmt::format("move link {} to another namespace", name));
}

core::Status Netlink::deleteLink(std::string_view name) {
  AUREO_RETURN_IF_ERROR(checkName(name));
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  Request req(RTM_DELLINK, NLM_F_ACK, ifi);
  req.putString(IFLA_IFNAME, name);
  return transact(req, fmt::format("delete link {}", name));
}

// ---------------------------------------------------------------------------
// Addresses

core::Status Netlink::addAddress(std::string_view ifname, const InterfaceAddress& address,
                                 bool nodad) {
  AUREO_ASSIGN_OR_RETURN(const int index, linkIndex(ifname));
  if (address.prefix < 0 || address.prefix > address.address.bitLength()) {
    return core::invalidArgument("prefix length out of range", "address");
  }
  ifaddrmsg ifa{};
  ifa.ifa_family = afOf(address.address.family());
  ifa.ifa_prefixlen = static_cast<uint8_t>(address.prefix);
  ifa.ifa_index = static_cast<uint32_t>(index);
  uint32_t flags = 0;
  if (!address.address.isV4() && nodad) flags |= IFA_F_NODAD;
  ifa.ifa_flags = static_cast<uint8_t>(flags);
  Request req(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifa);
  req.putAddress(IFA_LOCAL, address.address);
  req.putAddress(IFA_ADDRESS, address.address);
  if (flags != 0) req.putU32(IFA_FLAGS, flags);
  return transact(req, fmt::format("add address {} on {}", address.toString(), ifname));
}

core::Status Netlink::delAddress(std::string_view ifname, const InterfaceAddress& address) {
  AUREO_ASSIGN_OR_RETURN(const int index, linkIndex(ifname));
  ifaddrmsg ifa{};
  ifa.ifa_family = afOf(address.address.family());
  ifa.ifa_prefixlen = static_cast<uint8_t>(address.prefix);
  ifa.ifa_index = static_cast<uint32_t>(index);
  Request req(RTM_DELADDR, NLM_F_ACK, ifa);
  req.putAddress(IFA_LOCAL, address.address);
  req.putAddress(IFA_ADDRESS, address.address);
  return transact(req, fmt::format("delete address {} on {}", address.toString(), ifname));
}

core::Result<std::vector<AddressEntry>> Netlink::listAddresses(Family family, int ifindex) {
  for (int attempt = 1;; ++attempt) {
    ifaddrmsg ifa{};
    ifa.ifa_family = afOf(family);
    Request req(RTM_GETADDR, NLM_F_DUMP, ifa);
    std::vector<AddressEntry> out;
    auto status = dump(req, "list addresses", [&](uint16_t type, std::span<const char> payload) {
      if (type != RTM_NEWADDR) return;
      ifaddrmsg m;
      if (!readStruct(payload, m) || m.ifa_family != afOf(family)) return;
      if (ifindex != 0 && static_cast<int>(m.ifa_index) != ifindex) return;
      AddressEntry entry;
      entry.ifindex = static_cast<int>(m.ifa_index);
      entry.flags = m.ifa_flags;
      entry.scope = static_cast<RouteScope>(m.ifa_scope);
      std::optional<core::IpAddress> local;
      std::optional<core::IpAddress> address;
      forEachAttribute(payload.subspan(align4(sizeof(m))),
                       [&](uint16_t t, std::span<const char> v) {
                         if (t == IFA_LOCAL) local = readAddress(v, family);
                         if (t == IFA_ADDRESS) address = readAddress(v, family);
                         if (t == IFA_FLAGS) entry.flags = readU32(v);
                       });
      // IFA_LOCAL is our own address; IFA_ADDRESS is the peer on a
      // point-to-point link, or the same address otherwise.
      auto own = local ? local : address;
      if (!own) return;
      entry.address = InterfaceAddress{*own, m.ifa_prefixlen};
      out.push_back(entry);
    });
    if (status.ok()) return out;
    if (status.error().code != core::Code::kAborted || attempt == kDumpAttempts) {
      return std::move(status).error();
    }
  }
}

// ---------------------------------------------------------------------------
// Routes

core::Status Netlink::routeRequest(uint16_t type, uint16_t flags, const Route& route,
                                   std::string_view what) {
  const Family family = route.destination.address().family();
  if (route.gateway && route.gateway->family() != family) {
    return core::invalidArgument("gateway family differs from destination", "gateway");
  }
  if (route.source && route.source->family() != family) {
    return core::invalidArgument("source family differs from destination", "source");
  }
  const bool deleting = type == RTM_DELROUTE;
  rtmsg rt{};
  rt.rtm_family = afOf(family);
  rt.rtm_dst_len = static_cast<uint8_t>(route.destination.prefix());
  rt.rtm_table =
      route.table < 256 ? static_cast<uint8_t>(route.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  rt.rtm_type = static_cast<uint8_t>(route.type);
  if (deleting) {
    // Unset fields match anything, as with `ip route del`.
    rt.rtm_protocol = RTPROT_UNSPEC;
    rt.rtm_scope =
        route.scope ? static_cast<uint8_t>(*route.scope) : static_cast<uint8_t>(RT_SCOPE_NOWHERE);
  } else {
    rt.rtm_protocol = route.protocol;
    RouteScope scope = RouteScope::kUniverse;
    if (route.scope) {
      scope = *route.scope;
    } else if (family == Family::kV4 && !route.gateway && route.type == RouteType::kUnicast) {
      scope = RouteScope::kLink;
    } else if (route.type == RouteType::kLocal) {
      scope = RouteScope::kHost;
    }
    rt.rtm_scope = static_cast<uint8_t>(scope);
  }
  Request req(type, static_cast<uint16_t>(NLM_F_ACK | flags), rt);
  req.putU32(RTA_TABLE, route.table);
  if (route.destination.prefix() > 0) req.putAddress(RTA_DST, route.destination.address());
  if (route.gateway) req.putAddress(RTA_GATEWAY, *route.gateway);
  if (route.source) req.putAddress(RTA_PREFSRC, *route.source);
  if (route.oif != 0) req.putU32(RTA_OIF, static_cast<uint32_t>(route.oif));
  if (route.metric != 0) req.putU32(RTA_PRIORITY, route.metric);
  return transact(req, fmt::format("{} route {}", what, route.toString()));
}

core::Status Netlink::addRoute(const Route& route) {
  return routeRequest(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route, "add");
}

core::Status Netlink::replaceRoute(const Route& route) {
  return routeRequest(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, route, "replace");
}

core::Status Netlink::delRoute(const Route& route) {
  return routeRequest(RTM_DELROUTE, 0, route, "delete");
}

core::Result<std::vector<Route>> Netlink::listRoutes(Family family, uint32_t table) {
  for (int attempt = 1;; ++attempt) {
    rtmsg rt{};
    rt.rtm_family = afOf(family);
    Request req(RTM_GETROUTE, NLM_F_DUMP, rt);
    std::vector<Route> out;
    auto status = dump(req, "list routes", [&](uint16_t type, std::span<const char> payload) {
      if (type != RTM_NEWROUTE) return;
      rtmsg m;
      if (!readStruct(payload, m) || m.rtm_family != afOf(family)) return;
      if ((m.rtm_flags & RTM_F_CLONED) != 0) return;  // route cache, not configuration
      Route r;
      r.table = m.rtm_table;
      r.protocol = m.rtm_protocol;
      r.scope = static_cast<RouteScope>(m.rtm_scope);
      r.type = static_cast<RouteType>(m.rtm_type);
      std::optional<core::IpAddress> dst;
      forEachAttribute(
          payload.subspan(align4(sizeof(m))), [&](uint16_t t, std::span<const char> v) {
            switch (t) {
              case RTA_TABLE: r.table = readU32(v); break;
              case RTA_DST: dst = readAddress(v, family); break;
              case RTA_GATEWAY: r.gateway = readAddress(v, family); break;
              case RTA_PREFSRC: r.source = readAddress(v, family); break;
              case RTA_OIF: r.oif = static_cast<int>(readU32(v)); break;
              case RTA_PRIORITY: r.metric = readU32(v); break;
              case RTA_MULTIPATH: {
                size_t off = 0;
                while (off + sizeof(rtnexthop) <= v.size()) {
                  rtnexthop nh;
                  std::memcpy(&nh, v.data() + off, sizeof(nh));
                  if (nh.rtnh_len < sizeof(nh) || off + nh.rtnh_len > v.size()) break;
                  NextHop hop;
                  hop.oif = nh.rtnh_ifindex;
                  hop.weight = nh.rtnh_hops;
                  forEachAttribute(
                      v.subspan(off + align4(sizeof(nh)), nh.rtnh_len - align4(sizeof(nh))),
                      [&](uint16_t nt, std::span<const char> nv) {
                        if (nt == RTA_GATEWAY) hop.gateway = readAddress(nv, family);
                      });
                  r.nexthops.push_back(hop);
                  off += align4(nh.rtnh_len);
                }
                break;
              }
              default: break;
            }
          });
      if (table != kTableUnspec && r.table != table) return;
      const core::IpAddress any =
          core::IpAddress::fromBytes(family, std::array<uint8_t, 16>{}.data());
      r.destination = core::Cidr(dst.value_or(any), m.rtm_dst_len);
      out.push_back(std::move(r));
    });
    if (status.ok()) return out;
    if (status.error().code != core::Code::kAborted || attempt == kDumpAttempts) {
      return std::move(status).error();
    }
  }
}

// ---------------------------------------------------------------------------
// Rules

core::Status Netlink::ruleRequest(uint16_t type, uint16_t flags, const Rule& rule,
                                  std::string_view what) {
  if (rule.from && rule.from->address().family() != rule.family) {
    return core::invalidArgument("rule 'from' family differs from the rule's", "from");
  }
  if (rule.to && rule.to->address().family() != rule.family) {
    return core::invalidArgument("rule 'to' family differs from the rule's", "to");
  }
  if (!rule.iifname.empty()) AUREO_RETURN_IF_ERROR(checkName(rule.iifname, "iifname"));
  if (!rule.oifname.empty()) AUREO_RETURN_IF_ERROR(checkName(rule.oifname, "oifname"));
  if (rule.action == Rule::Action::kGoto) {
    return core::invalidArgument("goto rules are not supported", "action");
  }
  fib_rule_hdr h{};
  h.family = afOf(rule.family);
  h.action = static_cast<uint8_t>(rule.action);
  h.table =
      rule.table < 256 ? static_cast<uint8_t>(rule.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  if (rule.invert) h.flags |= FIB_RULE_INVERT;
  if (rule.from) h.src_len = static_cast<uint8_t>(rule.from->prefix());
  if (rule.to) h.dst_len = static_cast<uint8_t>(rule.to->prefix());
  Request req(type, static_cast<uint16_t>(NLM_F_ACK | flags), h);
  if (rule.action == Rule::Action::kToTable) req.putU32(FRA_TABLE, rule.table);
  if (rule.priority) req.putU32(FRA_PRIORITY, *rule.priority);
  if (rule.fwmark) {
    req.putU32(FRA_FWMARK, *rule.fwmark);
    req.putU32(FRA_FWMASK, rule.fwmask);
  }
  if (rule.from) req.putAddress(FRA_SRC, rule.from->address());
  if (rule.to) req.putAddress(FRA_DST, rule.to->address());
  if (!rule.iifname.empty()) req.putString(FRA_IIFNAME, rule.iifname);
  if (!rule.oifname.empty()) req.putString(FRA_OIFNAME, rule.oifname);
  if (rule.suppress_prefixlength) req.putU32(FRA_SUPPRESS_PREFIXLEN, *rule.suppress_prefixlength);
  return transact(req, fmt::format("{} rule {}", what, rule.toString()));
}

core::Status Netlink::addRule(const Rule& rule) {
  return ruleRequest(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule, "add");
}

core::Status Netlink::delRule(const Rule& rule) {
  return ruleRequest(RTM_DELRULE, 0, rule, "delete");
}

core::Result<std::vector<Rule>> Netlink::listRules(Family family) {
  for (int attempt = 1;; ++attempt) {
    fib_rule_hdr h{};
    h.family = afOf(family);
    Request req(RTM_GETRULE, NLM_F_DUMP, h);
    std::vector<Rule> out;
    auto status = dump(req, "list rules", [&](uint16_t type, std::span<const char> payload) {
      if (type != RTM_NEWRULE) return;
      fib_rule_hdr m;
      if (!readStruct(payload, m) || m.family != afOf(family)) return;
      Rule r;
      r.family = family;
      r.table = m.table;
      r.action = static_cast<Rule::Action>(m.action);
      r.invert = (m.flags & FIB_RULE_INVERT) != 0;
      r.priority = 0;
      std::optional<core::IpAddress> src;
      std::optional<core::IpAddress> dst;
      std::optional<uint32_t> mask;
      forEachAttribute(payload.subspan(align4(sizeof(m))),
                       [&](uint16_t t, std::span<const char> v) {
                         switch (t) {
                           case FRA_TABLE: r.table = readU32(v); break;
                           case FRA_PRIORITY: r.priority = readU32(v); break;
                           case FRA_FWMARK: r.fwmark = readU32(v); break;
                           case FRA_FWMASK: mask = readU32(v); break;
                           case FRA_SRC: src = readAddress(v, family); break;
                           case FRA_DST: dst = readAddress(v, family); break;
                           case FRA_IIFNAME: r.iifname = readString(v); break;
                           case FRA_OIFNAME: r.oifname = readString(v); break;
                           case FRA_SUPPRESS_PREFIXLEN: {
                             const uint32_t len = readU32(v);
                             if (len != 0xffffffffu) r.suppress_prefixlength = len;
                             break;
                           }
                           default: break;
                         }
                       });
      // The kernel reports a mask next to a mark of 0 too; "fwmark 0" is not
      // a selector anyone sets, so treat it as no fwmark.
      if (r.fwmark && *r.fwmark == 0 && mask.value_or(0) == 0) r.fwmark.reset();
      if (r.fwmark && mask) r.fwmask = *mask;
      if (src) r.from = core::Cidr(*src, m.src_len);
      if (dst) r.to = core::Cidr(*dst, m.dst_len);
      out.push_back(std::move(r));
    });
    if (status.ok()) return out;
    if (status.error().code != core::Code::kAborted || attempt == kDumpAttempts) {
      return std::move(status).error();
    }
  }
}

}  // namespace aureo::netcfg
