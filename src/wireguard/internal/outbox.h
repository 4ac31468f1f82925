// What a data-path call produces, held until the engine's locks are released:
// datagrams for the network, packets for the tunnel and handshake events.
// One set of outboxes per thread is reused (no allocation once warm); nested
// calls (a callback feeding the device again) get the next one down a stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "wireguard/device.h"
#include "wireguard/endpoint.h"

namespace aureo::wireguard {

class Outbox {
 public:
  // Space for a message of up to n bytes, valid until the next reserve().
  uint8_t* reserve(size_t n) {
    if (arena_.size() < used_ + n) arena_.resize(used_ + n);
    return arena_.data() + used_;
  }
  void commitUdp(size_t n, const Endpoint& to) {
    items_.push_back(Item{used_, n, to, false});
    used_ += n;
  }
  // Keeps the n reserved bytes for a later commitTunAt(), so other messages
  // can be reserved and committed meanwhile.
  size_t hold(size_t n) {
    const size_t offset = used_;
    used_ += n;
    return offset;
  }
  [[nodiscard]] uint8_t* at(size_t offset) { return arena_.data() + offset; }
  void commitTunAt(size_t offset, size_t n) { items_.push_back(Item{offset, n, {}, true}); }
  void addEvent(const HandshakeEvent& event) { events_.push_back(event); }

  // Hands everything to io in order and empties the outbox.
  void flushTo(TunnelIo& io) {
    for (const Item& item : items_) {
      const std::span<const uint8_t> bytes(arena_.data() + item.offset, item.length);
      if (item.tun) {
        io.writeToTun(bytes);
      } else {
        io.sendUdp(bytes, item.to);
      }
    }
    items_.clear();
    used_ = 0;
  }
  [[nodiscard]] const std::vector<HandshakeEvent>& events() const { return events_; }
  void clear() {
    items_.clear();
    events_.clear();
    used_ = 0;
  }

 private:
  struct Item {
    size_t offset;
    size_t length;
    Endpoint to;
    bool tun;
  };
  std::vector<uint8_t> arena_;
  size_t used_ = 0;
  std::vector<Item> items_;
  std::vector<HandshakeEvent> events_;
};

// Borrows this thread's next free outbox for the scope.
class OutboxScope {
 public:
  OutboxScope() {
    Stack& s = stack();
    if (s.depth == s.boxes.size()) s.boxes.push_back(std::make_unique<Outbox>());
    box_ = s.boxes[s.depth++].get();
    box_->clear();
  }
  ~OutboxScope() {
    box_->clear();
    --stack().depth;
  }
  OutboxScope(const OutboxScope&) = delete;
  OutboxScope& operator=(const OutboxScope&) = delete;

  Outbox& operator*() { return *box_; }
  Outbox* operator->() { return box_; }

 private:
  struct Stack {
    std::vector<std::unique_ptr<Outbox>> boxes;
    size_t depth = 0;
  };
  static Stack& stack() {
    thread_local Stack s;
    return s;
  }
  Outbox* box_;
};

}  // namespace aureo::wireguard
