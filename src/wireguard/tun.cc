#include "wireguard/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/errno_text.h"
#include "wireguard/offload.h"

// Debian 12's headers predate UDP segmentation offload for TUN (Linux 6.2).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

namespace aureo::wireguard {
namespace {

// The kernel's MAX_TAP_QUEUES.
constexpr size_t kMaxQueues = 256;

static_assert(kTunMaxFrame == kVirtioNetHdrLen + 65535);

core::Error sysError(const std::string& what, int err) {
  std::string msg = what + ": " + core::errnoText(err);
  if (err == EPERM || err == EACCES) {
    return core::permissionDenied(msg + " (needs CAP_NET_ADMIN)");
  }
  if (err == EBUSY || err == EEXIST) return core::alreadyExists(std::move(msg));
  if (err == ENODEV || err == ENXIO || err == ENOENT) return core::notFound(std::move(msg));
  if (err == EINVAL) return core::invalidArgument(std::move(msg));
  return core::unavailable(std::move(msg));
}

ifreq requestFor(const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  return ifr;
}

// Runs one SIOC* ioctl against the interface through a throwaway socket.
int interfaceIoctl(unsigned long request, ifreq* ifr) {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  const int r = ::ioctl(s, request, ifr);
  const int err = r < 0 ? errno : 0;
  ::close(s);
  return err;
}

}  // namespace

core::Status validateInterfaceName(std::string_view name) {
  if (name.empty()) return core::invalidArgument("interface name is empty", "name");
  if (name.size() >= IFNAMSIZ) {
    return core::invalidArgument("interface name \"" + std::string(name) + "\" is longer than " +
                                     std::to_string(IFNAMSIZ - 1) + " bytes",
                                 "name");
  }
  if (name == "." || name == "..") {
    return core::invalidArgument("interface name cannot be \".\" or \"..\"", "name");
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == ':' || c == '%') {
      return core::invalidArgument(
          "interface name may not contain '/', ':', '%', spaces or control characters", "name");
    }
  }
  return core::okStatus();
}

core::Result<std::unique_ptr<TunDevice>> TunDevice::open(const TunOptions& options) {
  AUREO_RETURN_IF_ERROR(validateInterfaceName(options.name));
  if (options.queues == 0 || options.queues > kMaxQueues) {
    return core::invalidArgument("a TUN device has 1 to 256 queues", "queues");
  }
  std::unique_ptr<TunDevice> dev(new TunDevice());
  dev->name_ = options.name;
  for (size_t i = 0; i < options.queues; ++i) {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return sysError("open /dev/net/tun", errno);
    dev->fds_.push_back(fd);
    ifreq ifr = requestFor(dev->name_);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
    if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
      return sysError("TUNSETIFF " + dev->name_ + " (queue " + std::to_string(i) + ")", errno);
    }
    if (i != 0) continue;
    // Header size and offloads belong to the device, not the queue.
    int hdr_size = static_cast<int>(kVirtioNetHdrLen);
    if (::ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) != 0) {
      return sysError("TUNSETVNETHDRSZ " + dev->name_, errno);
    }
    if (options.offload) {
      const unsigned tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      if (::ioctl(fd, TUNSETOFFLOAD, tso | TUN_F_USO4 | TUN_F_USO6) == 0) {
        dev->offload_ = dev->uso_ = true;
      } else if (::ioctl(fd, TUNSETOFFLOAD, tso) == 0) {
        dev->offload_ = true;
      }
    }
    if (!dev->offload_ && ::ioctl(fd, TUNSETOFFLOAD, 0u) != 0) {
      return sysError("TUNSETOFFLOAD " + dev->name_, errno);
    }
  }
  ifreq ifr = requestFor(dev->name_);
  if (const int err = interfaceIoctl(SIOCGIFINDEX, &ifr); err != 0) {
    return sysError("SIOCGIFINDEX " + dev->name_, err);
  }
  dev->ifindex_ = ifr.ifr_ifindex;
  return dev;
}

TunDevice::~TunDevice() {
  for (int fd : fds_) ::close(fd);
}

int TunDevice::read(size_t queue, std::span<uint8_t> buf) {
  for (;;) {
    const ssize_t n = ::read(fds_[queue], buf.data(), buf.size());
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
  }
}

int TunDevice::write(size_t queue, std::span<const uint8_t> frame) {
  for (;;) {
    const ssize_t n = ::write(fds_[queue], frame.data(), frame.size());
    if (n >= 0) return static_cast<int>(n);
    if (errno != EINTR) return -errno;
  }
}

core::Result<int> TunDevice::mtu() const {
  ifreq ifr = requestFor(name_);
  if (const int err = interfaceIoctl(SIOCGIFMTU, &ifr); err != 0) {
    return sysError("SIOCGIFMTU " + name_, err);
  }
  return ifr.ifr_mtu;
}

core::Status TunDevice::setMtu(int mtu) {
  // 68 is IPv4's minimum, and a TUN frame cannot exceed 64 KiB.
  if (mtu < 68 || mtu > 65535) return core::invalidArgument("MTU must be 68..65535", "mtu");
  ifreq ifr = requestFor(name_);
  ifr.ifr_mtu = mtu;
  if (const int err = interfaceIoctl(SIOCSIFMTU, &ifr); err != 0) {
    return sysError("SIOCSIFMTU " + name_, err);
  }
  return core::okStatus();
}

core::Status TunDevice::setUp(bool up) {
  ifreq ifr = requestFor(name_);
  if (const int err = interfaceIoctl(SIOCGIFFLAGS, &ifr); err != 0) {
    return sysError("SIOCGIFFLAGS " + name_, err);
  }
  if (up) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags & ~IFF_UP);
  }
  if (const int err = interfaceIoctl(SIOCSIFFLAGS, &ifr); err != 0) {
    return sysError("SIOCSIFFLAGS " + name_, err);
  }
  return core::okStatus();
}

}  // namespace aureo::wireguard
