#include "wireguard/linux_device.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "core/errno_text.h"
#include "wireguard/messages.h"
#include "wireguard/offload.h"

namespace aureo::wireguard {
namespace {

// TUN frames read per round before the datagrams they produced are sent.
constexpr size_t kTunFramesPerRound = 16;
// The most IP packets one TUN frame may split into, and the header room
// (IP + TCP/UDP, options included) each segment needs on top of gso_size.
constexpr size_t kMaxSegments = 1024;
constexpr size_t kSegmentHeaderRoom = 128;
// recvmmsg slots of 64 KiB (one GRO super-datagram each).
constexpr size_t kRecvSlots = 32;
constexpr size_t kRecvSlotBytes = 65536;
constexpr size_t kMaxReceivedDatagrams = kRecvSlots * 64;
// Buffered output of one worker between flushes.
constexpr size_t kSendArenaBytes = 4 << 20;
constexpr size_t kMaxQueuedSends = 4096;
constexpr size_t kTunArenaBytes = kRecvSlots * kRecvSlotBytes + kMaxReceivedDatagrams * 64;
constexpr size_t kMaxQueuedTunPackets = kMaxReceivedDatagrams + 256;
// How long a worker waits for room in its socket's send buffer before it
// drops what it could not send (back-pressure for TCP inside the tunnel).
constexpr int kSendBufferWaitMs = 100;
// The control thread looks at the timers at least this often, so a timer a
// worker armed earlier than the deadline it slept on is late by at most this.
constexpr auto kControlPeriod = std::chrono::milliseconds(100);
constexpr auto kMtuRefreshPeriod = std::chrono::seconds(1);

size_t defaultWorkers() {
  const unsigned n = std::thread::hardware_concurrency();
  return std::clamp<size_t>(n == 0 ? 1 : n, 1, 64);
}

// What a TUN queue answers once its interface was deleted.
bool isInterfaceGoneErrno(int err) {
  return err == EBADFD;
}

}  // namespace

// One data-path thread with its TUN queue, its socket and its buffers.
struct LinuxDevice::Worker {
  Worker(LinuxDevice& o, size_t i)
      : owner(o),
        index(i),
        tun_frame(kTunMaxFrame),
        segment_storage(65535 + kMaxSegments * kSegmentHeaderRoom),
        segments(kMaxSegments),
        segment_lengths(kMaxSegments),
        send_arena(kSendArenaBytes),
        sends(kMaxQueuedSends),
        send_batch(kMaxQueuedSends),
        recv(kRecvSlots, kRecvSlotBytes),
        tun_arena(kTunArenaBytes),
        tun_packets(kMaxQueuedTunPackets),
        coalesce_out(coalesceBufferSize(kMaxQueuedTunPackets, kTunArenaBytes)),
        tun_writes(kMaxQueuedTunPackets) {
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  ~Worker() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void run();
  void wake() const {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t r = ::write(wake_fd, &one, sizeof(one));
  }

  bool serviceTun();
  void handleTunFrame(std::span<const uint8_t> frame);
  bool serviceUdp();
  void queueSend(std::span<const uint8_t> datagram, const Endpoint& to);
  void flushSends();
  bool waitWritable() const;
  void queueTun(std::span<const uint8_t> packet);
  void flushTun();
  void writeFrame(std::span<const uint8_t> frame);

  LinuxDevice& owner;
  const size_t index;
  int wake_fd = -1;
  std::thread thread;
  std::atomic<bool> stop{false};
  bool tun_dead = false;

  std::vector<uint8_t> tun_frame;
  std::vector<uint8_t> segment_storage;
  std::vector<std::span<uint8_t>> segments;
  std::vector<size_t> segment_lengths;

  std::vector<uint8_t> send_arena;
  size_t send_used = 0;
  std::vector<OutgoingDatagram> sends;
  size_t send_count = 0;
  SendBatch send_batch;

  RecvBatch recv;
  // Decrypted packets, each stored after kVirtioNetHdrLen bytes of room so
  // the non-coalescing path writes header + packet in place.
  std::vector<uint8_t> tun_arena;
  size_t tun_used = 0;
  std::vector<std::span<const uint8_t>> tun_packets;
  size_t tun_count = 0;
  std::vector<uint8_t> coalesce_out;
  std::vector<std::span<const uint8_t>> tun_writes;

  struct Counters {
    std::atomic<uint64_t> tun_frames_read{0};
    std::atomic<uint64_t> tun_segments{0};
    std::atomic<uint64_t> tun_frames_written{0};
    std::atomic<uint64_t> tun_packets_written{0};
    std::atomic<uint64_t> udp_received{0};
    std::atomic<uint64_t> udp_sent{0};
    std::atomic<uint64_t> handshakes_queued{0};
  } counters;
};

namespace {
void bump(std::atomic<uint64_t>& c, uint64_t n) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
}  // namespace

void LinuxDevice::Worker::run() {
  current_worker_ = this;
  const int tun_fd = owner.tun_->queueFd(index);
  const int udp_fd = owner.sockets_[index].fd();
  while (!stop.load(std::memory_order_relaxed) && !tun_dead) {
    const bool tun_busy = serviceTun();
    const bool udp_busy = serviceUdp();
    if (tun_busy || udp_busy) continue;
    std::array<pollfd, 3> fds{{{tun_fd, POLLIN, 0}, {udp_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    if ((fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
      // Deleted interfaces answer reads with EBADFD; anything else is
      // transient, so back off briefly instead of spinning on the error.
      const int r = owner.tun_->read(index, tun_frame);
      if (r < 0 && isInterfaceGoneErrno(-r)) {
        tun_dead = true;
      } else if (r > 0) {
        handleTunFrame(std::span<const uint8_t>(tun_frame.data(), static_cast<size_t>(r)));
      } else {
        ::poll(nullptr, 0, 10);
      }
    }
    if ((fds[2].revents & POLLIN) != 0) {
      uint64_t v;
      [[maybe_unused]] const ssize_t r = ::read(wake_fd, &v, sizeof(v));
    }
  }
  flushTun();
  flushSends();
  current_worker_ = nullptr;
  if (tun_dead) owner.markInterfaceGone();
}

// ---- TUN -> network

bool LinuxDevice::Worker::serviceTun() {
  size_t frames = 0;
  for (; frames < kTunFramesPerRound; ++frames) {
    const int n = owner.tun_->read(index, tun_frame);
    if (n == 0) break;
    if (n < 0) {
      if (isInterfaceGoneErrno(-n)) tun_dead = true;
      break;
    }
    handleTunFrame(std::span<const uint8_t>(tun_frame.data(), static_cast<size_t>(n)));
  }
  // Packets the engine decrypted meanwhile (a handshake completing, say) and
  // the datagrams for this round go out together.
  flushTun();
  flushSends();
  bump(counters.tun_frames_read, frames);
  return frames > 0;
}

void LinuxDevice::Worker::handleTunFrame(std::span<const uint8_t> frame) {
  Device& device = *owner.device_;
  VirtioNetHdr hdr;
  if (!VirtioNetHdr::decode(frame, &hdr) || frame.size() == kVirtioNetHdrLen) {
    device.recordDrop(DropReason::kInvalidInnerPacket);
    return;
  }
  const auto packet = frame.subspan(kVirtioNetHdrLen);
  // Carve the segment buffers for this frame's segment size.
  const uint8_t gso = static_cast<uint8_t>(hdr.gso_type & ~kVirtioNetHdrGsoEcn);
  size_t slots = 1;
  if (gso == kVirtioNetHdrGsoNone) {
    segments[0] = std::span<uint8_t>(segment_storage);
  } else {
    const size_t per = size_t{hdr.gso_size} + kSegmentHeaderRoom;
    slots = std::min(kMaxSegments, segment_storage.size() / per);
    for (size_t i = 0; i < slots; ++i) {
      segments[i] = std::span<uint8_t>(segment_storage.data() + i * per, per);
    }
  }
  const SegmentResult r =
      segmentPacket(hdr, packet, std::span<const std::span<uint8_t>>(segments.data(), slots),
                    std::span<size_t>(segment_lengths.data(), slots));
  if (!r.ok()) {
    device.recordDrop(DropReason::kInvalidInnerPacket);
    return;
  }
  for (size_t i = 0; i < r.count; ++i) {
    device.handleOutgoing(std::span<const uint8_t>(segments[i].data(), segment_lengths[i]));
  }
  bump(counters.tun_segments, r.count);
}

void LinuxDevice::Worker::queueSend(std::span<const uint8_t> datagram, const Endpoint& to) {
  if (send_count == sends.size() || send_arena.size() - send_used < datagram.size()) flushSends();
  if (datagram.size() > send_arena.size()) {
    owner.device_->recordDrop(DropReason::kUdpSendFailed);
    return;
  }
  uint8_t* slot = send_arena.data() + send_used;
  std::memcpy(slot, datagram.data(), datagram.size());
  send_used += datagram.size();
  sends[send_count++] = OutgoingDatagram{to, std::span<const uint8_t>(slot, datagram.size())};
}

bool LinuxDevice::Worker::waitWritable() const {
  pollfd p{owner.sockets_[index].fd(), POLLOUT, 0};
  return ::poll(&p, 1, kSendBufferWaitMs) > 0 && (p.revents & POLLOUT) != 0;
}

void LinuxDevice::Worker::flushSends() {
  UdpSocket& socket = owner.sockets_[index];
  size_t done = 0;
  while (done < send_count) {
    const int r = socket.send(
        std::span<const OutgoingDatagram>(sends.data() + done, send_count - done), send_batch);
    if (r > 0) {
      done += static_cast<size_t>(r);
      continue;
    }
    if ((r == 0 || r == -EAGAIN || r == -ENOBUFS) && waitWritable()) continue;
    if (r == 0 || r == -EAGAIN || r == -ENOBUFS) {
      // The buffer stayed full: shed the rest of this batch.
      for (; done < send_count; ++done) owner.device_->recordDrop(DropReason::kUdpSendFailed);
      break;
    }
    // This datagram cannot go (no route, wrong family, ...); the rest may.
    owner.device_->recordDrop(DropReason::kUdpSendFailed);
    ++done;
  }
  bump(counters.udp_sent, done);
  send_count = 0;
  send_used = 0;
}

// ---- network -> TUN

bool LinuxDevice::Worker::serviceUdp() {
  UdpSocket& socket = owner.sockets_[index];
  const int n = socket.receive(recv);
  if (n <= 0) return false;
  Device& device = *owner.device_;
  size_t queued = 0;
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
    const auto datagram = recv.data(i);
    const uint32_t type = messageType(datagram);
    if (type == MESSAGE_HANDSHAKE_INITIATION || type == MESSAGE_HANDSHAKE_RESPONSE ||
        type == MESSAGE_HANDSHAKE_COOKIE) {
      if (owner.handshakes_.push(datagram, recv.from(i))) {
        ++queued;
      } else {
        device.recordDrop(DropReason::kHandshakeQueueFull);
      }
      continue;
    }
    device.handleIncoming(datagram, recv.from(i));
  }
  flushTun();
  flushSends();
  bump(counters.udp_received, static_cast<uint64_t>(n));
  bump(counters.handshakes_queued, queued);
  return true;
}

void LinuxDevice::Worker::queueTun(std::span<const uint8_t> packet) {
  const size_t need = kVirtioNetHdrLen + packet.size();
  if (tun_count == tun_packets.size() || tun_arena.size() - tun_used < need) flushTun();
  if (need > tun_arena.size()) {
    owner.device_->recordDrop(DropReason::kTunWriteFailed);
    return;
  }
  uint8_t* slot = tun_arena.data() + tun_used + kVirtioNetHdrLen;
  std::memcpy(slot, packet.data(), packet.size());
  tun_used += need;
  tun_packets[tun_count++] = std::span<const uint8_t>(slot, packet.size());
}

void LinuxDevice::Worker::writeFrame(std::span<const uint8_t> frame) {
  const int r = owner.tun_->write(index, frame);
  if (r >= 0) return;
  if (isInterfaceGoneErrno(-r)) tun_dead = true;
  owner.device_->recordDrop(DropReason::kTunWriteFailed);
}

void LinuxDevice::Worker::flushTun() {
  if (tun_count == 0) return;
  const auto packets = std::span<const std::span<const uint8_t>>(tun_packets.data(), tun_count);
  bool written = false;
  if (owner.tun_->offloadEnabled()) {
    const CoalesceResult c = coalescePackets(packets, coalesce_out, tun_writes);
    if (c.ok()) {
      for (size_t i = 0; i < c.writes; ++i) writeFrame(tun_writes[i]);
      bump(counters.tun_frames_written, c.writes);
      written = true;
    }
  }
  if (!written) {
    // One frame per packet, the header written into the room before it.
    const VirtioNetHdr none;
    for (const auto& p : packets) {
      auto* frame = const_cast<uint8_t*>(p.data()) - kVirtioNetHdrLen;
      none.encode(std::span<uint8_t>(frame, kVirtioNetHdrLen));
      writeFrame(std::span<const uint8_t>(frame, kVirtioNetHdrLen + p.size()));
    }
    bump(counters.tun_frames_written, tun_count);
  }
  bump(counters.tun_packets_written, tun_count);
  tun_count = 0;
  tun_used = 0;
}

// ---- LinuxDevice

LinuxDevice::LinuxDevice(const LinuxDeviceOptions& options, core::Clock& clock, core::Logger& log)
    : options_(options),
      clock_(clock),
      log_(log),
      worker_count_(options.workers == 0 ? defaultWorkers() : options.workers),
      handshakes_(options.handshake_queue),
      direct_batch_(std::make_unique<SendBatch>(16)),
      direct_frame_(kTunMaxFrame) {}

core::Result<std::unique_ptr<LinuxDevice>> LinuxDevice::create(const LinuxDeviceOptions& options,
                                                               core::Clock& clock,
                                                               core::Logger& log) {
  std::unique_ptr<LinuxDevice> dev(new LinuxDevice(options, clock, log));
  AUREO_ASSIGN_OR_RETURN(
      dev->tun_,
      TunDevice::open(TunOptions{options.interface_name, dev->worker_count_, options.tun_offload}));
  if (options.mtu > 0) AUREO_RETURN_IF_ERROR(dev->tun_->setMtu(options.mtu));
  DeviceOptions device_options = options.device;
  if (auto mtu = dev->tun_->mtu(); mtu.ok()) device_options.mtu = static_cast<size_t>(*mtu);
  for (size_t i = 0; i < dev->worker_count_; ++i) {
    dev->workers_.push_back(std::make_unique<Worker>(*dev, i));
    if (dev->workers_.back()->wake_fd < 0) {
      return core::unavailable(std::string("eventfd: ") + core::errnoText(errno));
    }
  }
  dev->device_ = std::make_unique<Device>(clock, static_cast<TunnelIo&>(*dev), log, device_options);
  dev->uapi_ = std::make_unique<DeviceUapi>(*dev->device_);
  // Listen on a free port until told otherwise, as wireguard-go does; this
  // opens the sockets and starts the workers.
  AUREO_RETURN_IF_ERROR(dev->device_->setListenPort(0));
  dev->control_ = std::jthread([d = dev.get()](std::stop_token stop) { d->controlLoop(stop); });
  log.info("interface up", {{"interface", dev->tun_->name()},
                            {"workers", dev->worker_count_},
                            {"listen_port", dev->device_->listenPort()},
                            {"tun_offload", dev->tun_->offloadEnabled()},
                            {"udp_gso", dev->sockets_[0].gsoEnabled()},
                            {"udp_gro", dev->sockets_[0].groEnabled()}});
  return dev;
}

LinuxDevice::~LinuxDevice() {
  if (control_.joinable()) {
    control_.request_stop();
    handshakes_.wake();
    control_.join();
  }
  stopWorkers();
}

LinuxDeviceStats LinuxDevice::ioStats() const {
  LinuxDeviceStats s;
  for (const auto& w : workers_) {
    const auto& c = w->counters;
    s.tun_frames_read += c.tun_frames_read.load(std::memory_order_relaxed);
    s.tun_segments += c.tun_segments.load(std::memory_order_relaxed);
    s.tun_frames_written += c.tun_frames_written.load(std::memory_order_relaxed);
    s.tun_packets_written += c.tun_packets_written.load(std::memory_order_relaxed);
    s.udp_datagrams_received += c.udp_received.load(std::memory_order_relaxed);
    s.udp_datagrams_sent += c.udp_sent.load(std::memory_order_relaxed);
    s.handshakes_queued += c.handshakes_queued.load(std::memory_order_relaxed);
  }
  return s;
}

void LinuxDevice::markInterfaceGone() {
  if (gone_.exchange(true)) return;
  log_.info("interface is gone", {{"interface", tun_->name()}});
  if (options_.on_interface_gone) options_.on_interface_gone();
}

void LinuxDevice::startWorkers() {
  for (auto& w : workers_) {
    w->stop = false;
    w->tun_dead = false;
    w->thread = std::thread([wp = w.get()] { wp->run(); });
  }
}

void LinuxDevice::stopWorkers() {
  for (auto& w : workers_) {
    w->stop = true;
    w->wake();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

core::Result<std::vector<UdpSocket>> LinuxDevice::openSockets(uint16_t port,
                                                              uint32_t fwmark) const {
  std::vector<UdpSocket> sockets;
  sockets.reserve(worker_count_);
  UdpOptions o;
  o.port = port;
  if (fwmark != 0) o.fwmark = fwmark;
  for (size_t i = 0; i < worker_count_; ++i) {
    auto s = UdpSocket::open(o);
    if (!s.ok() && i == 0 && o.family == UdpFamily::kDualStack) {
      // A kernel without IPv6: IPv4 only.
      o.family = UdpFamily::kV4;
      s = UdpSocket::open(o);
    }
    if (!s.ok()) return std::move(s).error();
    // Every further socket joins the first one's port (SO_REUSEPORT group).
    o.port = s->localPort();
    sockets.push_back(std::move(*s));
  }
  return sockets;
}

core::Result<uint16_t> LinuxDevice::bindUdp(uint16_t listen_port, uint32_t fwmark) {
  {
    std::lock_guard lock(direct_mutex_);
    if (!sockets_.empty() && listen_port != 0 && listen_port == sockets_[0].localPort()) {
      // Same port: only the mark changes, no rebinding.
      for (UdpSocket& s : sockets_) AUREO_RETURN_IF_ERROR(s.setFwmark(fwmark));
      return listen_port;
    }
  }
  AUREO_ASSIGN_OR_RETURN(std::vector<UdpSocket> fresh, openSockets(listen_port, fwmark));
  stopWorkers();
  {
    std::lock_guard lock(direct_mutex_);
    sockets_.swap(fresh);
  }
  startWorkers();
  const uint16_t port = sockets_[0].localPort();
  log_.info("listening", {{"port", port}, {"fwmark", fwmark}});
  return port;  // the old sockets close here, after the workers moved on
}

void LinuxDevice::writeToTun(std::span<const uint8_t> packet) {
  if (Worker* w = current_worker_; w != nullptr && &w->owner == this) {
    w->queueTun(packet);
    return;
  }
  std::lock_guard lock(direct_mutex_);
  if (packet.size() + kVirtioNetHdrLen > direct_frame_.size()) return;
  VirtioNetHdr{}.encode(direct_frame_);
  std::memcpy(direct_frame_.data() + kVirtioNetHdrLen, packet.data(), packet.size());
  if (tun_->write(0, std::span<const uint8_t>(direct_frame_.data(),
                                              kVirtioNetHdrLen + packet.size())) < 0) {
    device_->recordDrop(DropReason::kTunWriteFailed);
  }
}

void LinuxDevice::sendUdp(std::span<const uint8_t> datagram, const Endpoint& to) {
  if (Worker* w = current_worker_; w != nullptr && &w->owner == this) {
    w->queueSend(datagram, to);
    return;
  }
  std::lock_guard lock(direct_mutex_);
  const OutgoingDatagram d{to, datagram};
  if (sockets_.empty() ||
      sockets_[0].send(std::span<const OutgoingDatagram>(&d, 1), *direct_batch_) != 1) {
    device_->recordDrop(DropReason::kUdpSendFailed);
  }
}

// ---- control thread

void LinuxDevice::controlLoop(const std::stop_token& stop) {
  constexpr size_t kBatch = 64;
  std::vector<QueuedHandshake> batch(kBatch);
  core::SteadyTime next_mtu_check = clock_.steadyNow() + kMtuRefreshPeriod;
  while (!stop.stop_requested()) {
    const core::SteadyTime timer_deadline = device_->nextTimerDeadline();
    const core::SteadyTime wake_at = std::min(timer_deadline, clock_.steadyNow() + kControlPeriod);
    const size_t n = handshakes_.popUntil(batch, wake_at);
    for (size_t i = 0; i < n && !stop.stop_requested(); ++i) {
      device_->setHandshakeBacklog(handshakes_.size() + (n - i - 1));
      device_->handleIncoming(batch[i].datagram(), batch[i].from);
    }
    const core::SteadyTime now = clock_.steadyNow();
    if (now >= timer_deadline) device_->tick();
    if (now >= next_mtu_check) {
      next_mtu_check = now + kMtuRefreshPeriod;
      // Fails once the interface moved to another namespace; the last known
      // MTU then stays (it only shapes padding).
      if (auto mtu = tun_->mtu(); mtu.ok() && *mtu > 0) device_->setMtu(static_cast<size_t>(*mtu));
    }
  }
}

}  // namespace aureo::wireguard
