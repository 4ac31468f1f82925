// A Redis pub/sub subscription on its own connection and thread: calls
// on_message for every message on the channel, reconnects with back-off when
// the connection drops, and calls on_subscribed after each (re)subscription
// so the owner can catch up on what it missed while disconnected.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/log.h"
#include "redis/client.h"

namespace aureo::redis {

class Telemetry;

class Subscriber {
 public:
  using MessageFn = std::function<void(const std::string& message)>;
  using SubscribedFn = std::function<void()>;

  // Callbacks run on the subscriber's thread, one at a time; they must not
  // block for long. telemetry may be null.
  Subscriber(ClientOptions options, std::string channel, MessageFn on_message,
             SubscribedFn on_subscribed, const core::Logger& log, Telemetry* telemetry);
  ~Subscriber();  // stop()
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  void start();
  // Unblocks the read and joins the thread. Safe to call twice.
  void stop();
  // Whether the subscription is currently active. Safe from any thread.
  [[nodiscard]] bool subscribed() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::redis
