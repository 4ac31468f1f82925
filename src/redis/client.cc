#include "redis/client.h"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "redis/internal/hiredis_util.h"
#include "redis/telemetry.h"

namespace aureo::redis {
namespace internal {

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

Reply convert(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.type = r.type == REDIS_REPLY_STRING ? Reply::Type::kString : Reply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
      break;
    default: out.type = Reply::Type::kNil;
  }
  return out;
}

core::Result<Reply> run(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  ReplyPtr reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data())));
  if (!reply) {
    return core::unavailable(std::string("redis: ") + (c->err ? c->errstr : "no reply"));
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return core::failedPrecondition(std::string(reply->str, reply->len));
  }
  return convert(*reply);
}

core::Result<ContextPtr> connect(const ClientOptions& options,
                                 std::chrono::milliseconds command_timeout) {
  const Endpoint& e = options.endpoint;
  ContextPtr c(redisConnectWithTimeout(e.host.c_str(), e.port, toTimeval(options.connect_timeout)));
  if (!c) return core::unavailable("redis: cannot allocate a context");
  if (c->err) return core::unavailable(std::string("redis: ") + c->errstr);
  // The connect timeout also became the socket timeout; set the real one.
  if (redisSetTimeout(c.get(), toTimeval(command_timeout)) != REDIS_OK ||
      redisEnableKeepAlive(c.get()) != REDIS_OK) {
    return core::unavailable(std::string("redis: ") + c->errstr);
  }
  if (!e.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!e.user.empty()) auth.push_back(e.user);
    auth.push_back(e.password);
    auto r = run(c.get(), auth);
    if (!r.ok()) return core::unavailable("redis AUTH failed: " + r.error().message);
  }
  if (e.db != 0) {
    auto r = run(c.get(), {"SELECT", std::to_string(e.db)});
    if (!r.ok()) return core::unavailable("redis SELECT failed: " + r.error().message);
  }
  if (!options.client_name.empty()) {
    auto r = run(c.get(), {"CLIENT", "SETNAME", options.client_name});
    if (!r.ok()) return core::unavailable("redis CLIENT SETNAME failed: " + r.error().message);
  }
  return c;
}

}  // namespace internal

namespace {

using internal::ContextPtr;

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

core::Result<std::string> percentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) {
      return core::invalidArgument("bad percent escape in redis URL");
    }
    const int hi = hexValue(s[i + 1]);
    const int lo = hexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return core::invalidArgument("bad percent escape in redis URL");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

std::string Endpoint::redacted() const {
  std::string out = "redis://";
  if (!user.empty() || !password.empty()) out += user + ":***@";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out += ":" + std::to_string(port) + "/" + std::to_string(db);
  return out;
}

core::Result<Endpoint> parseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) {
    return core::invalidArgument("must be redis://[:password@]host[:port][/db]");
  }
  std::string_view rest = url.substr(kScheme.size());
  Endpoint e;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return core::invalidArgument("redis URL credentials must be [user]:password@");
    }
    AUREO_ASSIGN_OR_RETURN(e.user, percentDecode(userinfo.substr(0, colon)));
    AUREO_ASSIGN_OR_RETURN(e.password, percentDecode(userinfo.substr(colon + 1)));
  }
  std::string_view db;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return core::invalidArgument("redis URL: missing ']'");
    e.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return core::invalidArgument("redis URL: bad host");
      port = rest.substr(1);
    }
  } else {
    const auto colon = rest.find(':');
    e.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (e.host.empty()) return core::invalidArgument("redis URL: missing host");
  auto number = [](std::string_view s, int64_t max, int64_t* out) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size() && *out >= 0 && *out <= max;
  };
  int64_t v = 0;
  if (!port.empty()) {
    if (!number(port, 65535, &v) || v == 0) return core::invalidArgument("redis URL: bad port");
    e.port = static_cast<uint16_t>(v);
  }
  if (!db.empty()) {
    if (!number(db, 1'000'000, &v)) return core::invalidArgument("redis URL: bad database number");
    e.db = static_cast<int>(v);
  }
  return e;
}

Script::Script(std::string src) : source(std::move(src)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(source.data(), source.size(), digest, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    sha1 += kHex[digest[i] >> 4];
    sha1 += kHex[digest[i] & 0xf];
  }
}

// Connections are blocking hiredis contexts, one per slot, each used by one
// thread at a time under its slot's mutex. Only the reconnect thread opens
// and closes them, and only while `healthy` is false, so a request thread
// never connects.
struct Client::Impl {
  struct Slot {
    std::mutex mu;
    ContextPtr ctx;  // guarded by mu; null while disconnected
  };

  Impl(ClientOptions o, const core::Logger& l, Telemetry* t)
      : options(std::move(o)), log(l), telemetry(t) {
    options.connections = std::max<size_t>(1, options.connections);
    for (size_t i = 0; i < options.connections; ++i) slots.push_back(std::make_unique<Slot>());
  }

  // Closes every slot and opens new connections; healthy when a PING on
  // them answers. Called only on the reconnect thread (and once in the
  // constructor before that thread starts).
  core::Status reconnect() {
    for (auto& s : slots) {
      std::lock_guard lock(s->mu);
      s->ctx.reset();
    }
    std::vector<ContextPtr> fresh;
    for (size_t i = 0; i < slots.size(); ++i) {
      AUREO_ASSIGN_OR_RETURN(auto c, internal::connect(options, options.command_timeout));
      auto pong = internal::run(c.get(), {"PING"});
      if (!pong.ok()) return core::unavailable(pong.error().message);
      fresh.push_back(std::move(c));
    }
    for (size_t i = 0; i < slots.size(); ++i) {
      std::lock_guard lock(slots[i]->mu);
      slots[i]->ctx = std::move(fresh[i]);
    }
    return core::okStatus();
  }

  void markUp() {
    {
      std::lock_guard lock(mu);
      broken = false;
    }
    healthy.store(true);
    if (telemetry) telemetry->setUp(Connection::kCommands, true);
    log.info("redis connected", {{"redis", options.endpoint.redacted()}});
  }

  void markBroken(const std::string& why) {
    if (healthy.exchange(false)) {
      if (telemetry) telemetry->setUp(Connection::kCommands, false);
      log.warn("redis connection lost", {{"redis", options.endpoint.redacted()}, {"error", why}});
    }
    {
      std::lock_guard lock(mu);
      broken = true;
    }
    cv.notify_all();
  }

  void loop(const std::stop_token& stop) {
    auto backoff = options.min_backoff;
    while (!stop.stop_requested()) {
      {
        std::unique_lock lock(mu);
        if (!cv.wait(lock, stop, [&] { return broken; })) return;
      }
      auto st = reconnect();
      if (st.ok()) {
        markUp();
        backoff = options.min_backoff;
        continue;
      }
      log.debug("redis reconnect failed",
                {{"redis", options.endpoint.redacted()}, {"error", st.error().message}});
      std::unique_lock lock(mu);
      cv.wait_for(lock, stop, backoff, [] { return false; });
      backoff = std::min(options.max_backoff, backoff * 2);
    }
  }

  core::Result<Reply> command(const std::vector<std::string>& args) {
    if (!healthy.load(std::memory_order_acquire)) {
      return core::unavailable("redis is not connected");
    }
    // Any free connection, else wait for one in turn.
    const size_t start = next.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock<std::mutex> lock;
    Slot* slot = nullptr;
    for (size_t i = 0; i < slots.size() && slot == nullptr; ++i) {
      Slot* s = slots[(start + i) % slots.size()].get();
      std::unique_lock l(s->mu, std::try_to_lock);
      if (l.owns_lock()) {
        lock = std::move(l);
        slot = s;
      }
    }
    if (slot == nullptr) {
      slot = slots[start % slots.size()].get();
      lock = std::unique_lock(slot->mu);
    }
    if (!slot->ctx) return core::unavailable("redis is not connected");
    auto reply = internal::run(slot->ctx.get(), args);
    if (!reply.ok() && reply.error().code == core::Code::kUnavailable) {
      // hiredis contexts are unusable after an I/O error or timeout.
      slot->ctx.reset();
      lock.unlock();
      markBroken(reply.error().message);
    }
    return reply;
  }

  ClientOptions options;
  const core::Logger& log;
  Telemetry* telemetry;
  std::vector<std::unique_ptr<Slot>> slots;
  std::atomic<bool> healthy{false};
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable_any cv;
  bool broken = true;  // guarded by mu: the reconnect thread has work
  std::jthread thread;
};

Client::Client(ClientOptions options, const core::Logger& log, Telemetry* telemetry)
    : impl_(std::make_unique<Impl>(std::move(options), log, telemetry)) {
  if (telemetry) telemetry->setUp(Connection::kCommands, false);
  if (auto st = impl_->reconnect(); st.ok()) {
    impl_->markUp();
  } else {
    log.warn("redis not reachable yet; retrying in the background",
             {{"redis", impl_->options.endpoint.redacted()}, {"error", st.error().message}});
  }
  impl_->thread = std::jthread([impl = impl_.get()](std::stop_token stop) { impl->loop(stop); });
}

Client::~Client() {
  impl_->thread.request_stop();
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

core::Result<Reply> Client::command(const std::vector<std::string>& args) {
  return impl_->command(args);
}

core::Result<Reply> Client::eval(const Script& script, const std::vector<std::string>& keys,
                                 const std::vector<std::string>& args) {
  std::vector<std::string> cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.emplace_back("EVALSHA");
  cmd.push_back(script.sha1);
  cmd.push_back(std::to_string(keys.size()));
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  auto reply = impl_->command(cmd);
  if (reply.ok() || reply.error().code != core::Code::kFailedPrecondition ||
      !reply.error().message.starts_with("NOSCRIPT")) {
    return reply;
  }
  // Not cached on this server (first use, restart, SCRIPT FLUSH): EVAL
  // runs it and caches it for the next EVALSHA.
  cmd[0] = "EVAL";
  cmd[1] = script.source;
  return impl_->command(cmd);
}

bool Client::healthy() const {
  return impl_->healthy.load();
}

const Endpoint& Client::endpoint() const {
  return impl_->options.endpoint;
}

}  // namespace aureo::redis
