#include "wireguard/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "core/errno_text.h"

namespace aureo::wireguard {
namespace {

// The most segments the kernel takes in one UDP_SEGMENT send (UDP_MAX_SEGMENTS
// on older kernels; newer ones allow more) and the most a GRO receive merges.
constexpr size_t kMaxGsoSegments = 64;
// Total payload of one GSO send: stays under the IPv6 and IPv4 length limits.
constexpr size_t kMaxGsoBytes = 65535 - 40 - 8;
// Room for one int/uint16 control message, kept 8-byte aligned.
constexpr size_t kCtrlWords = (CMSG_SPACE(sizeof(int)) + 7) / 8;

// sendOnce's answers when the kernel refused a UDP_SEGMENT message: for good
// (no GSO support on this path: EIO/EINVAL), or because a segment is larger
// than this route's MTU (EMSGSIZE), which says nothing about other routes.
constexpr int kGsoRefused = -(1 << 20);
constexpr int kGsoTooBig = -(1 << 20) - 1;

core::Error sysError(std::string_view what, int err) {
  std::string msg = std::string(what) + ": " + core::errnoText(err);
  if (err == EPERM || err == EACCES) return core::permissionDenied(std::move(msg));
  if (err == EADDRINUSE) return core::alreadyExists(std::move(msg));
  if (err == EINVAL || err == EAFNOSUPPORT) return core::invalidArgument(std::move(msg));
  return core::unavailable(std::move(msg));
}

bool setInt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value)) == 0;
}

void setBuffer(int fd, int force_name, int name, int bytes) {
  // The FORCE variants ignore rmem_max/wmem_max but need CAP_NET_ADMIN.
  if (!setInt(fd, SOL_SOCKET, force_name, bytes)) setInt(fd, SOL_SOCKET, name, bytes);
}

}  // namespace

// ---- Batches

struct RecvBatch::Impl {
  struct Datagram {
    const uint8_t* data;
    size_t len;
    size_t slot;
  };
  size_t slot_bytes;
  std::vector<uint8_t> buffers;
  std::vector<mmsghdr> msgs;
  std::vector<iovec> iovs;
  std::vector<sockaddr_storage> addrs;
  std::vector<uint64_t> ctrl;
  std::vector<Endpoint> endpoints;
  std::vector<Datagram> datagrams;
};

RecvBatch::RecvBatch(size_t max_messages, size_t slot_bytes) : impl_(std::make_unique<Impl>()) {
  max_messages = std::max<size_t>(1, max_messages);
  impl_->slot_bytes = slot_bytes;
  impl_->buffers.resize(max_messages * slot_bytes);
  impl_->msgs.resize(max_messages);
  impl_->iovs.resize(max_messages);
  impl_->addrs.resize(max_messages);
  impl_->ctrl.resize(max_messages * kCtrlWords);
  impl_->endpoints.resize(max_messages);
  impl_->datagrams.resize(max_messages * kMaxGsoSegments);
}
RecvBatch::~RecvBatch() = default;

std::span<const uint8_t> RecvBatch::data(size_t i) const {
  const auto& d = impl_->datagrams[i];
  return {d.data, d.len};
}

const Endpoint& RecvBatch::from(size_t i) const {
  return impl_->endpoints[impl_->datagrams[i].slot];
}

struct SendBatch::Impl {
  std::vector<mmsghdr> msgs;
  std::vector<iovec> iovs;
  std::vector<sockaddr_storage> addrs;
  std::vector<uint64_t> ctrl;
  std::vector<size_t> counts;  // datagrams carried by each message
};

SendBatch::SendBatch(size_t max_datagrams) : impl_(std::make_unique<Impl>()) {
  max_datagrams = std::max<size_t>(1, max_datagrams);
  impl_->msgs.resize(max_datagrams);
  impl_->iovs.resize(max_datagrams);
  impl_->addrs.resize(max_datagrams);
  impl_->ctrl.resize(max_datagrams * kCtrlWords);
  impl_->counts.resize(max_datagrams);
}
SendBatch::~SendBatch() = default;
size_t SendBatch::capacity() const {
  return impl_->msgs.size();
}

// ---- UdpSocket

core::Result<UdpSocket> UdpSocket::open(const UdpOptions& options) {
  UdpSocket s;
  s.v6_ = options.family != UdpFamily::kV4;
  s.v6_only_ = options.family == UdpFamily::kV6Only;
  if (options.bind_address && options.bind_address->isV4() == s.v6_only_ &&
      options.family != UdpFamily::kDualStack) {
    return core::invalidArgument("bind address " + options.bind_address->toString() +
                                 " does not match the socket family");
  }
  s.fd_ =
      ::socket(s.v6_ ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (s.fd_ < 0) return sysError("udp socket", errno);
  if (s.v6_ && !setInt(s.fd_, IPPROTO_IPV6, IPV6_V6ONLY, s.v6_only_ ? 1 : 0)) {
    return sysError("IPV6_V6ONLY", errno);
  }
  if (options.reuse_port && !setInt(s.fd_, SOL_SOCKET, SO_REUSEPORT, 1)) {
    return sysError("SO_REUSEPORT", errno);
  }
  if (options.fwmark && *options.fwmark != 0) {
    AUREO_RETURN_IF_ERROR(s.setFwmark(*options.fwmark));
  }
  if (options.buffer_bytes > 0) {
    setBuffer(s.fd_, SO_RCVBUFFORCE, SO_RCVBUF, options.buffer_bytes);
    setBuffer(s.fd_, SO_SNDBUFFORCE, SO_SNDBUF, options.buffer_bytes);
  }

  Endpoint local;
  local.port = options.port;
  if (options.bind_address) {
    local.address = *options.bind_address;
  } else if (s.v6_) {
    local.address =
        core::IpAddress::fromBytes(core::IpAddress::Family::kV6, std::array<uint8_t, 16>{}.data());
  }
  sockaddr_storage ss;
  const socklen_t len = local.toSockaddr(&ss, s.v6_);
  if (::bind(s.fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return sysError("bind " + local.toString(), errno);
  }
  socklen_t got = sizeof(ss);
  if (::getsockname(s.fd_, reinterpret_cast<sockaddr*>(&ss), &got) != 0) {
    return sysError("getsockname", errno);
  }
  const auto bound = Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), got);
  s.local_port_ = bound ? bound->port : 0;

  // Both offloads are optional: old kernels refuse them, and we then simply
  // do one syscall per datagram per message.
  s.gro_ = options.gro && setInt(s.fd_, SOL_UDP, UDP_GRO, 1);
  if (options.gso) {
    int seg = 0;
    socklen_t seg_len = sizeof(seg);
    s.gso_ = ::getsockopt(s.fd_, SOL_UDP, UDP_SEGMENT, &seg, &seg_len) == 0;
  }
  return s;
}

UdpSocket::UdpSocket(UdpSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      local_port_(other.local_port_),
      v6_(other.v6_),
      v6_only_(other.v6_only_),
      gro_(other.gro_),
      gso_(other.gso_) {}

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    local_port_ = other.local_port_;
    v6_ = other.v6_;
    v6_only_ = other.v6_only_;
    gro_ = other.gro_;
    gso_ = other.gso_;
  }
  return *this;
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

core::Status UdpSocket::setFwmark(uint32_t mark) {
  if (::setsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
    return sysError("SO_MARK", errno);
  }
  return core::okStatus();
}

int UdpSocket::receive(RecvBatch& batch) {
  RecvBatch::Impl& b = *batch.impl_;
  batch.count_ = 0;
  batch.gro_slots_ = 0;
  const size_t slots = b.msgs.size();
  for (size_t i = 0; i < slots; ++i) {
    b.iovs[i] = {b.buffers.data() + i * b.slot_bytes, b.slot_bytes};
    msghdr& h = b.msgs[i].msg_hdr;
    h.msg_name = &b.addrs[i];
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_iov = &b.iovs[i];
    h.msg_iovlen = 1;
    h.msg_control = b.ctrl.data() + i * kCtrlWords;
    h.msg_controllen = kCtrlWords * 8;
    h.msg_flags = 0;
    b.msgs[i].msg_len = 0;
  }
  const int n = ::recvmmsg(fd_, b.msgs.data(), static_cast<unsigned>(slots), MSG_DONTWAIT, nullptr);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;

  size_t out = 0;
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
    msghdr& h = b.msgs[i].msg_hdr;
    if ((h.msg_flags & MSG_TRUNC) != 0) continue;  // larger than a slot: drop
    const auto from =
        Endpoint::fromSockaddr(reinterpret_cast<sockaddr*>(&b.addrs[i]), h.msg_namelen);
    if (!from) continue;
    b.endpoints[i] = *from;
    size_t seg = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int value = 0;
        std::memcpy(&value, CMSG_DATA(c), sizeof(value));
        if (value > 0) seg = static_cast<size_t>(value);
      }
    }
    const size_t len = b.msgs[i].msg_len;
    const uint8_t* base = b.buffers.data() + i * b.slot_bytes;
    if (seg == 0 || seg >= len) {
      if (out < b.datagrams.size()) b.datagrams[out++] = {base, len, i};
      continue;
    }
    batch.gro_slots_ += 1;
    for (size_t off = 0; off < len && out < b.datagrams.size(); off += seg) {
      b.datagrams[out++] = {base + off, std::min(seg, len - off), i};
    }
  }
  batch.count_ = out;
  return static_cast<int>(out);
}

int UdpSocket::sendOnce(std::span<const OutgoingDatagram> datagrams, SendBatch& batch, bool gso) {
  SendBatch::Impl& b = *batch.impl_;
  const size_t n = std::min(datagrams.size(), b.msgs.size());
  const bool mapped = v6_;
  size_t msgs = 0;
  bool used_gso = false;
  size_t i = 0;
  while (i < n) {
    const Endpoint& to = datagrams[i].to;
    if ((!v6_ && !to.address.isV4()) || (v6_only_ && to.address.isV4())) {
      if (msgs == 0) return -EAFNOSUPPORT;
      break;
    }
    const size_t first = i;
    const size_t seg = datagrams[i].data.size();
    size_t total = seg;
    b.iovs[i] = {const_cast<uint8_t*>(datagrams[i].data.data()), seg};
    ++i;
    if (gso && seg > 0) {
      // A run: same endpoint, every datagram seg bytes except a shorter last.
      while (i < n && i - first < kMaxGsoSegments && datagrams[i].to == to &&
             !datagrams[i].data.empty() && datagrams[i].data.size() <= seg &&
             datagrams[i - 1].data.size() == seg &&
             total + datagrams[i].data.size() <= kMaxGsoBytes) {
        b.iovs[i] = {const_cast<uint8_t*>(datagrams[i].data.data()), datagrams[i].data.size()};
        total += datagrams[i].data.size();
        ++i;
      }
    }
    const size_t count = i - first;
    msghdr& h = b.msgs[msgs].msg_hdr;
    h = {};
    h.msg_namelen = to.toSockaddr(&b.addrs[msgs], mapped);
    h.msg_name = &b.addrs[msgs];
    h.msg_iov = &b.iovs[first];
    h.msg_iovlen = count;
    if (count > 1) {
      used_gso = true;
      h.msg_control = b.ctrl.data() + msgs * kCtrlWords;
      h.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t size = static_cast<uint16_t>(seg);
      std::memcpy(CMSG_DATA(c), &size, sizeof(size));
    }
    b.counts[msgs] = count;
    ++msgs;
  }
  const int r = ::sendmmsg(fd_, b.msgs.data(), static_cast<unsigned>(msgs), MSG_DONTWAIT);
  if (r < 0) {
    const int err = errno;
    if (used_gso && (err == EIO || err == EINVAL)) return kGsoRefused;
    if (used_gso && err == EMSGSIZE) return kGsoTooBig;
    return -err;
  }
  size_t sent = 0;
  for (size_t m = 0; m < static_cast<size_t>(r); ++m) sent += b.counts[m];
  return static_cast<int>(sent);
}

int UdpSocket::send(std::span<const OutgoingDatagram> datagrams, SendBatch& batch) {
  if (datagrams.empty()) return 0;
  int r = sendOnce(datagrams, batch, gso_);
  if (r == kGsoRefused) {
    // The kernel (or the route's device) cannot segment: stop asking.
    gso_ = false;
    r = sendOnce(datagrams, batch, false);
  } else if (r == kGsoTooBig) {
    r = sendOnce(datagrams, batch, false);
  }
  return r;
}

}  // namespace aureo::wireguard
