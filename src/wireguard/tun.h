// A Linux TUN device opened for the engine: IFF_TUN | IFF_NO_PI |
// IFF_VNET_HDR | IFF_MULTI_QUEUE, one non-blocking queue fd per worker.
//
// Every read yields a virtio_net_hdr (kVirtioNetHdrLen bytes, see offload.h)
// followed by an IP packet of up to 64 KiB when TSO is on; every write takes
// the same. The fds keep working when the interface is moved to another
// network namespace after creation: the data path never looks the device up
// by name again. The control calls (mtu, setMtu, setUp) do use the name, in
// the namespace the device was created in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace aureo::wireguard {

// The biggest frame a read can return: header + a 64 KiB super-packet.
inline constexpr size_t kTunMaxFrame = 10 + 65535;

// Linux interface names: 1..15 bytes, not "." or "..", no '/', ':', '%' or
// whitespace (what dev_valid_name accepts, minus the "%d" templates).
core::Status validateInterfaceName(std::string_view name);

struct TunOptions {
  std::string name;
  size_t queues = 1;
  // TSO/checksum offload (TUNSETOFFLOAD); USO is added when the kernel has it.
  bool offload = true;
};

class TunDevice {
 public:
  // Creates the interface (or attaches to an existing persistent one of the
  // same name) with options.queues queues. Needs CAP_NET_ADMIN.
  static core::Result<std::unique_ptr<TunDevice>> open(const TunOptions& options);
  ~TunDevice();
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] int ifindex() const { return ifindex_; }
  [[nodiscard]] size_t queueCount() const { return fds_.size(); }
  // Non-blocking fd of queue i, for epoll/poll.
  [[nodiscard]] int queueFd(size_t i) const { return fds_[i]; }
  // Whether the kernel hands us (and accepts) TSO super-packets and partial
  // checksums; false means every frame is GSO_NONE without NEEDS_CSUM.
  [[nodiscard]] bool offloadEnabled() const { return offload_; }
  [[nodiscard]] bool udpOffloadEnabled() const { return uso_; }

  // Data path, one thread per queue. Reads one frame (header + packet) into
  // buf (use kTunMaxFrame). Returns its length, 0 when nothing is queued,
  // or -errno.
  int read(size_t queue, std::span<uint8_t> buf);
  // Writes one frame. Returns its length or -errno (-EAGAIN: queue full).
  int write(size_t queue, std::span<const uint8_t> frame);

  // Control plane.
  [[nodiscard]] core::Result<int> mtu() const;
  core::Status setMtu(int mtu);
  core::Status setUp(bool up);

 private:
  TunDevice() = default;

  std::string name_;
  int ifindex_ = 0;
  bool offload_ = false;
  bool uso_ = false;
  std::vector<int> fds_;
};

}  // namespace aureo::wireguard
