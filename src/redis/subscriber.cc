#include "redis/subscriber.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "redis/internal/hiredis_util.h"
#include "redis/telemetry.h"

namespace aureo::redis {

using internal::ContextPtr;

struct Subscriber::Impl {
  Impl(ClientOptions o, std::string ch, MessageFn m, SubscribedFn sub, const core::Logger& l,
       Telemetry* t)
      : options(std::move(o)),
        channel(std::move(ch)),
        on_message(std::move(m)),
        on_subscribed(std::move(sub)),
        log(l),
        telemetry(t) {}

  ClientOptions options;
  std::string channel;
  MessageFn on_message;
  SubscribedFn on_subscribed;
  const core::Logger& log;
  Telemetry* telemetry;

  std::atomic<bool> active{false};
  bool subscribed_since_wait = false;  // used only on the thread
  std::mutex mu;
  std::condition_variable_any cv;
  // The socket of the live connection, so stop() can shut it down and end
  // a read that would otherwise block until the next message; -1 when
  // none. The context itself belongs to the thread.
  int fd = -1;  // guarded by mu
  std::jthread thread;

  void setFd(int value) {
    std::lock_guard lock(mu);
    fd = value;
  }

  // One connection's life: subscribe, then read until an error or stop.
  core::Status session(const std::stop_token& stop) {
    // No read timeout: a subscription is quiet most of the time. TCP
    // keepalive (set by connect) notices a peer that vanished.
    AUREO_ASSIGN_OR_RETURN(auto c, internal::connect(options, std::chrono::milliseconds(0)));
    setFd(c->fd);
    if (stop.stop_requested()) {
      setFd(-1);
      return core::okStatus();
    }
    auto confirm = internal::run(c.get(), {"SUBSCRIBE", channel});
    if (!confirm.ok()) {
      setFd(-1);
      return confirm.error();
    }
    active = true;
    subscribed_since_wait = true;
    if (telemetry) {
      telemetry->setUp(Connection::kSubscriber, true);
      telemetry->shared(Use::kPubSub);
    }
    log.info("redis subscribed", {{"channel", channel}, {"redis", options.endpoint.redacted()}});
    if (on_subscribed) on_subscribed();
    core::Status ended = core::okStatus();
    while (!stop.stop_requested()) {
      void* raw = nullptr;
      if (redisGetReply(c.get(), &raw) != REDIS_OK) {
        ended = core::unavailable(std::string("redis: ") + (c->err ? c->errstr : "read failed"));
        break;
      }
      internal::ReplyPtr reply(static_cast<redisReply*>(raw));
      // ["message", channel, payload]
      if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
          reply->element[0]->type == REDIS_REPLY_STRING &&
          std::string_view(reply->element[0]->str, reply->element[0]->len) == "message" &&
          reply->element[2]->type == REDIS_REPLY_STRING) {
        on_message(std::string(reply->element[2]->str, reply->element[2]->len));
      }
    }
    active = false;
    setFd(-1);
    if (telemetry) telemetry->setUp(Connection::kSubscriber, false);
    return ended;
  }

  void loop(const std::stop_token& stop) {
    auto backoff = options.min_backoff;
    bool logged = false;
    while (!stop.stop_requested()) {
      auto st = session(stop);
      if (stop.stop_requested()) return;
      if (subscribed_since_wait) {
        // It worked for a while: retry soon, and log the next outage.
        subscribed_since_wait = false;
        backoff = options.min_backoff;
        logged = false;
      }
      if (!st.ok()) {
        if (!logged) {
          log.warn("redis subscription down; long-polls rely on the database version poll",
                   {{"channel", channel}, {"error", st.error().message}});
          logged = true;
        }
      }
      std::unique_lock lock(mu);
      cv.wait_for(lock, stop, backoff, [] { return false; });
      backoff = std::min(options.max_backoff, backoff * 2);
    }
  }
};

Subscriber::Subscriber(ClientOptions options, std::string channel, MessageFn on_message,
                       SubscribedFn on_subscribed, const core::Logger& log, Telemetry* telemetry)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(channel), std::move(on_message),
                                   std::move(on_subscribed), log, telemetry)) {
  if (telemetry) telemetry->setUp(Connection::kSubscriber, false);
}

Subscriber::~Subscriber() {
  stop();
}

void Subscriber::start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::jthread([impl = impl_.get()](std::stop_token stop) { impl->loop(stop); });
}

void Subscriber::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->thread.request_stop();
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->fd >= 0) ::shutdown(impl_->fd, SHUT_RDWR);
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

bool Subscriber::subscribed() const {
  return impl_->active.load();
}

}  // namespace aureo::redis
