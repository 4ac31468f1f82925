// A WireGuard interface on Linux: the Device engine wired to a multi-queue
// TUN device and SO_REUSEPORT UDP sockets, with one worker thread per queue
// and a control thread for handshakes and timers (DESIGN.md section 6).
//
//   worker i:  TUN queue i --read--> segment (TSO) --> Device::handleOutgoing
//              --> per-worker send buffer --sendmmsg/GSO--> UDP socket i
//              UDP socket i --recvmmsg/GRO--> transport: Device::handleIncoming
//              --> per-worker TUN buffer --coalesce (GRO)--> TUN queue i
//              handshake messages --> bounded HandshakeQueue
//   control:   HandshakeQueue --> Device::handleIncoming; Device::tick() at
//              the next timer deadline; MTU changes of the interface.
//
// Everything a worker sends or writes during a batch is buffered in the
// worker and flushed at the end of the batch, so the per-packet path makes
// no syscall and never allocates. Packets the engine emits on any other
// thread (the control thread, the UAPI thread) go out at once on socket 0 /
// queue 0.
//
// The TUN and UDP file descriptors keep working when the interface is moved
// to another network namespace: the sockets stay where they were opened.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "wireguard/device.h"
#include "wireguard/device_uapi.h"
#include "wireguard/handshake_queue.h"
#include "wireguard/tun.h"
#include "wireguard/udp.h"

namespace aureo::wireguard {

struct LinuxDeviceOptions {
  std::string interface_name;
  size_t workers = 0;  // 0: one per online CPU
  int mtu = 1420;      // set on the interface at creation; 0 keeps the kernel's
  bool tun_offload = true;
  size_t handshake_queue = MAX_QUEUED_INCOMING_HANDSHAKES;
  DeviceOptions device;  // its mtu is replaced by the interface's
  // Called once, on a worker thread, when the interface is deleted under us
  // (`ip link del`). The device stops moving packets; destroy it.
  std::function<void()> on_interface_gone;
};

// I/O counters, summed over the workers; for diagnostics and benchmarks.
struct LinuxDeviceStats {
  uint64_t tun_frames_read = 0;
  uint64_t tun_segments = 0;  // IP packets after splitting TSO frames
  uint64_t tun_frames_written = 0;
  uint64_t tun_packets_written = 0;  // before coalescing
  uint64_t udp_datagrams_received = 0;
  uint64_t udp_datagrams_sent = 0;
  uint64_t handshakes_queued = 0;
};

class LinuxDevice final : private TunnelIo {
 public:
  // Creates the interface (CAP_NET_ADMIN), binds the sockets on a free port
  // and starts the threads. The device has no key and no peers yet.
  static core::Result<std::unique_ptr<LinuxDevice>> create(const LinuxDeviceOptions& options,
                                                           core::Clock& clock, core::Logger& log);
  // Stops every thread, closes the sockets and the TUN queues (the kernel
  // then removes the interface).
  ~LinuxDevice() override;
  LinuxDevice(const LinuxDevice&) = delete;
  LinuxDevice& operator=(const LinuxDevice&) = delete;

  // The engine: configuration, per-peer stats, drop counters, handshake
  // events. Safe from any thread.
  Device& device() { return *device_; }
  // The UAPI implementation to hand to a UapiServer.
  UapiHandler& uapi() { return *uapi_; }

  [[nodiscard]] const std::string& interfaceName() const { return tun_->name(); }
  [[nodiscard]] size_t workerCount() const { return worker_count_; }
  [[nodiscard]] bool interfaceGone() const { return gone_.load(); }
  [[nodiscard]] LinuxDeviceStats ioStats() const;

 private:
  struct Worker;
  // The worker running on this thread, if any: TunnelIo calls made on it are
  // buffered in it.
  static inline thread_local Worker* current_worker_ = nullptr;
  LinuxDevice(const LinuxDeviceOptions& options, core::Clock& clock, core::Logger& log);

  // TunnelIo, called by the Device.
  void writeToTun(std::span<const uint8_t> packet) override;
  void sendUdp(std::span<const uint8_t> datagram, const Endpoint& to) override;
  core::Result<uint16_t> bindUdp(uint16_t listen_port, uint32_t fwmark) override;

  core::Result<std::vector<UdpSocket>> openSockets(uint16_t port, uint32_t fwmark) const;
  void startWorkers();
  void stopWorkers();
  void controlLoop(const std::stop_token& stop);
  void markInterfaceGone();

  const LinuxDeviceOptions options_;
  core::Clock& clock_;
  core::Logger& log_;
  const size_t worker_count_;
  std::unique_ptr<TunDevice> tun_;
  HandshakeQueue handshakes_;

  // Non-worker senders (control and UAPI threads) use socket 0 and queue 0
  // under direct_mutex_; bindUdp swaps the sockets under it too, with the
  // workers stopped.
  std::mutex direct_mutex_;
  std::vector<UdpSocket> sockets_;  // one per worker; guarded by direct_mutex_ (+ workers stopped)
  std::unique_ptr<SendBatch> direct_batch_;  // guarded by direct_mutex_
  std::vector<uint8_t> direct_frame_;        // guarded by direct_mutex_

  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> gone_{false};

  std::unique_ptr<Device> device_;
  std::unique_ptr<DeviceUapi> uapi_;
  std::jthread control_;  // last: started after everything above exists
};

}  // namespace aureo::wireguard
