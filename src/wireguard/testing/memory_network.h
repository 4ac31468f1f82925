// An in-memory network of Devices for tests: each node's TunnelIo records
// tunnel writes and queues datagrams; pump() delivers them by endpoint until
// the network is quiet. Delivery happens outside the sending call, as on a
// real network, so the order of events is deterministic.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/testing/fake_clock.h"
#include "wireguard/device.h"

namespace aureo::wireguard::testing {

struct Datagram {
  std::vector<uint8_t> bytes;
  Endpoint from;
  Endpoint to;
  core::SteadyTime sent_at;
};

class MemoryIo final : public TunnelIo {
 public:
  MemoryIo(core::Clock& clock, Endpoint address) : clock_(clock), address_(address) {}

  void writeToTun(std::span<const uint8_t> packet) override {
    tun.emplace_back(packet.begin(), packet.end());
  }
  void sendUdp(std::span<const uint8_t> datagram, const Endpoint& to) override {
    outbound.push_back(
        Datagram{{datagram.begin(), datagram.end()}, address_, to, clock_.steadyNow()});
  }
  core::Result<uint16_t> bindUdp(uint16_t listen_port, uint32_t fwmark) override {
    if (taken_ports.contains(listen_port)) {
      return core::alreadyExists("port " + std::to_string(listen_port) + " is in use");
    }
    const uint16_t port = listen_port == 0 ? uint16_t{40000} : listen_port;
    address_.port = port;
    bound_fwmark = fwmark;
    ++bind_calls;
    return port;
  }

  const Endpoint& address() const { return address_; }
  void setAddress(Endpoint e) { address_ = e; }

  std::vector<std::vector<uint8_t>> tun;
  std::deque<Datagram> outbound;
  uint32_t bound_fwmark = 0;
  int bind_calls = 0;
  std::set<uint16_t> taken_ports;  // bindUdp fails with AlreadyExists for these

 private:
  core::Clock& clock_;
  Endpoint address_;
};

struct Node {
  Node(core::Clock& clock, Endpoint address, DeviceOptions options = {})
      : io(clock, address), device(clock, io, core::Logger::null(), options) {
    key = generatePrivateKey();
    device.setPrivateKey(key);
  }
  PublicKey publicKey() const { return publicKeyOf(key); }

  MemoryIo io;
  Device device;
  PrivateKey key;
};

class MemoryNetwork {
 public:
  // Returns false to drop a datagram in flight.
  using Filter = std::function<bool(const Datagram&)>;

  void add(Node& node) { nodes_.push_back(&node); }
  void setFilter(Filter filter) { filter_ = std::move(filter); }

  // Delivers queued datagrams (and any they cause) until none are left.
  // Every datagram sent is also appended to log().
  size_t pump() {
    size_t delivered = 0;
    for (bool progress = true; progress;) {
      progress = false;
      for (Node* sender : nodes_) {
        while (!sender->io.outbound.empty()) {
          Datagram d = std::move(sender->io.outbound.front());
          sender->io.outbound.pop_front();
          log_.push_back(d);
          progress = true;
          if (filter_ && !filter_(d)) continue;
          for (Node* receiver : nodes_) {
            if (receiver->io.address() == d.to) {
              receiver->device.handleIncoming(d.bytes, d.from);
              ++delivered;
            }
          }
        }
      }
    }
    return delivered;
  }

  const std::vector<Datagram>& log() const { return log_; }
  void clearLog() { log_.clear(); }

 private:
  std::vector<Node*> nodes_;
  Filter filter_;
  std::vector<Datagram> log_;
};

}  // namespace aureo::wireguard::testing
