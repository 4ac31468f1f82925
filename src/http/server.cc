// The Beast side of the server: accepting, per-connection coroutines, limits,
// TLS and shutdown. The only translation unit of the server that includes Beast.
#include "http/server.h"

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "core/ids.h"
#include "http/internal/target.h"
#include "http/metrics.h"

namespace aureo::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Connections being turned away at the cap still cost a socket each; beyond
// this many at once they are closed without an answer.
constexpr size_t kMaxRejecting = 64;
constexpr auto kRejectTimeout = std::chrono::seconds(2);
// After an error answer the client may still be sending; read and discard for
// a moment so our close does not become a reset that eats the answer.
constexpr auto kLingerTimeout = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 1 << 20;
constexpr size_t kReadChunk = 8192;
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

constexpr std::string_view kHsts = "max-age=63072000; includeSubDomains";
struct DefaultHeader {
  std::string_view name;
  std::string_view value;
};
constexpr DefaultHeader kSecurityHeaders[] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
    {"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
};

std::string lowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool isTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isValidHeader(std::string_view name, std::string_view value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), isTokenChar)) return false;
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Framing belongs to the server, whatever a handler says.
bool isFramingHeader(std::string_view lower_name) {
  return lower_name == "content-length" || lower_name == "transfer-encoding" ||
         lower_name == "connection";
}

std::string addressString(asio::ip::address address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

// State shared by the acceptor and every connection.
struct State {
  State(ServerOptions o, Router r, core::Logger& l, Metrics* m)
      : options(std::move(o)), router(std::move(r)), log(l), metrics(m) {}

  const ServerOptions options;
  const Router router;
  core::Logger& log;
  Metrics* const metrics;
  std::optional<ssl::context> tls;
  uint16_t port = 0;

  std::atomic<size_t> active{0};     // connections being served
  std::atomic<size_t> rejecting{0};  // connections being answered 503
  std::atomic<bool> stopping{false};
  std::atomic<bool> destroying{false};

  std::mutex mu;
  uint64_t next_connection_id = 0;                              // guarded by mu
  std::unordered_map<uint64_t, std::function<void()>> closers;  // guarded by mu

  // Declared after everything above: the io_context's destructor destroys
  // suspended coroutine frames, and their destructors use the members above.
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> control{asio::make_strand(ioc)};
  std::optional<tcp::acceptor> acceptor;    // used on `control` only
  std::optional<asio::steady_timer> grace;  // used on `control` only

  // On `control`: once every connection is gone, drop the grace timer so
  // run() can return.
  void maybeFinish() {
    if (grace && active.load() == 0 && rejecting.load() == 0) grace->cancel();
  }

  // On `control`.
  void beginStop() {
    if (stopping.exchange(true)) return;
    if (acceptor) {
      beast::error_code ec;
      acceptor->close(ec);
    }
    std::vector<std::function<void()>> to_close;
    {
      std::lock_guard lock(mu);
      for (auto& entry : closers) to_close.push_back(entry.second);
    }
    for (auto& close : to_close) close();
    grace.emplace(control, options.shutdown_grace);
    grace->async_wait([this](beast::error_code ec) {
      if (ec) return;
      log.warn("shutdown grace period over, abandoning in-flight requests");
      ioc.stop();
    });
    maybeFinish();
  }

  // From a connection's destructor, on any thread.
  void connectionGone(uint64_t id, bool rejected) {
    {
      std::lock_guard lock(mu);
      closers.erase(id);
    }
    (rejected ? rejecting : active).fetch_sub(1);
    if (stopping.load() && !destroying.load()) asio::post(control, [this] { maybeFinish(); });
  }
};

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Writes the status line and header block of `res` into `head` (cleared
// first; a connection reuses it, so its capacity stays) and drops the body
// where none may be sent. The body itself goes out from `res` in the same
// gather write, owned or shared with a cache, never copied. Returns the
// status sent.
int prepareAnswer(const State& state, Response& res, unsigned version, bool keep_alive,
                  bool head_only, std::string_view request_id, std::string& head) {
  if (res.status < 200 || res.status > 599) {
    state.log.error("handler returned an invalid status", {{"status", res.status}});
    res = Response::error(500, "internal", "internal error");
  }
  const bool bodiless = res.status == 204 || res.status == 304;
  if (bodiless) {
    res.body.clear();
    res.shared_body.reset();
  }
  const size_t content_length = res.bodyView().size();
  if (head_only) {  // HEAD: the Content-Length of the GET answer, and no body
    res.body.clear();
    res.shared_body.reset();
  }

  // A handler's header replaces a default of the same name (its last one
  // wins); other handler headers are added as they come.
  std::erase_if(res.headers, [&state](const std::pair<std::string, std::string>& h) {
    if (isValidHeader(h.first, h.second) && !isFramingHeader(lowerCase(h.first))) return false;
    state.log.error("handler set a header the server does not send", {{"header", h.first}});
    return true;
  });
  auto overridden = [&res](std::string_view name) -> const std::string* {
    const std::string* found = nullptr;
    for (const auto& [n, v] : res.headers) {
      if (iequal(n, name)) found = &v;
    }
    return found;
  };
  auto isDefault = [&](std::string_view name) {
    if (iequal(name, "content-type") || iequal(name, "strict-transport-security")) return true;
    return std::any_of(std::begin(kSecurityHeaders), std::end(kSecurityHeaders),
                       [&](const DefaultHeader& h) { return iequal(h.name, name); });
  };
  auto add = [&head](std::string_view name, std::string_view value) {
    head.append(name).append(": ").append(value).append("\r\n");
  };
  auto addDefault = [&](std::string_view name, std::string_view value) {
    const std::string* mine = overridden(name);
    add(name, mine ? std::string_view(*mine) : value);
  };

  head.clear();
  head.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  head.append(std::to_string(res.status)).push_back(' ');
  head.append(bhttp::obsolete_reason(static_cast<bhttp::status>(res.status))).append("\r\n");
  for (const auto& h : kSecurityHeaders) addDefault(h.name, h.value);
  if (state.tls) addDefault("Strict-Transport-Security", kHsts);
  add("X-Request-Id", request_id);
  if (!bodiless) {
    addDefault("Content-Type", isValidHeader("Content-Type", res.content_type)
                                   ? std::string_view(res.content_type)
                                   : std::string_view("application/octet-stream"));
  }
  for (const auto& [name, value] : res.headers) {
    if (!isDefault(name)) add(name, value);
  }
  if (!bodiless) add("Content-Length", std::to_string(content_length));
  if (version == 10 && keep_alive) add("Connection", "keep-alive");
  if (version != 10 && !keep_alive) add("Connection", "close");
  head.append("\r\n");
  return res.status;
}

enum class ReadFailure { kClose, kBadRequest, kHeaderTooLarge, kBodyTooLarge };

ReadFailure classify(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    return ReadFailure::kHeaderTooLarge;
  }
  if (ec == bhttp::error::body_limit) return ReadFailure::kBodyTooLarge;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
    return ReadFailure::kClose;
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
    return ReadFailure::kBadRequest;
  }
  return ReadFailure::kClose;  // timeout, reset, TLS failure: nobody to answer
}

template <typename Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  Connection(State& state, tcp::socket socket, std::string remote_ip, bool rejected)
      : state_(state),
        stream_(makeStream(state, std::move(socket))),
        buffer_(state.options.max_header_bytes + 16 * kReadChunk),
        remote_ip_(std::move(remote_ip)),
        rejected_(rejected),
        io_deadline_(stream_.get_executor()),
        handler_deadline_(stream_.get_executor()) {}

  ~Connection() { state_.connectionGone(id_, rejected_); }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Lets stop() close this connection if it is waiting for a request.
  void registerCloser() {
    std::weak_ptr<Connection> weak = this->shared_from_this();
    auto executor = stream_.get_executor();
    std::lock_guard lock(state_.mu);
    id_ = state_.next_connection_id++;
    state_.closers[id_] = [weak, executor] {
      // Never empty (it is the stream's); the check tells the analyzer so.
      if (!executor) return;
      asio::post(executor, [weak] {
        if (auto self = weak.lock()) self->closeIfIdle();
      });
    };
  }

  // The connection coroutine's cancellation slot is bound to this signal,
  // which the handler deadline fires. Shared so that it outlives the
  // coroutine's completion handler, which holds the slot.
  [[nodiscard]] const std::shared_ptr<asio::cancellation_signal>& cancelSignal() const {
    return cancel_;
  }

  static asio::awaitable<void> serve(std::shared_ptr<Connection> self) {
    if (self->rejected_) {
      co_await self->turnAway();
    } else {
      co_await self->loop();
    }
  }

 private:
  static Stream makeStream(State& state, tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *state.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  tcp::socket& lowest() { return beast::get_lowest_layer(stream_); }

  // On the connection's strand.
  void closeIfIdle() {
    beast::error_code ec;
    if (idle_) lowest().cancel(ec);
  }

  // A deadline that costs no timer operation when it moves later, which is
  // what happens on every request: the timer stays armed at the earlier time
  // and, when it fires before the current deadline, waits for the rest.
  struct Deadline {
    explicit Deadline(const typename Stream::executor_type& executor) : timer(executor) {}
    asio::steady_timer timer;
    SteadyClock::time_point due = SteadyClock::time_point::max();    // max: none
    SteadyClock::time_point armed = SteadyClock::time_point::max();  // max: no wait pending
    uint64_t wait = 0;  // the current async_wait; older ones are ignored
  };
  using Expired = void (Connection::*)();

  void setDeadline(Deadline& d, SteadyClock::time_point due, Expired expired) {
    d.due = due;
    if (d.armed <= due) return;
    d.armed = due;
    d.timer.expires_at(due);
    const uint64_t wait = ++d.wait;
    d.timer.async_wait(
        [weak = this->weak_from_this(), &d, wait, expired](const beast::error_code& ec) {
          auto self = weak.lock();
          if (!self || ec || d.wait != wait) return;
          d.armed = SteadyClock::time_point::max();
          if (d.due == SteadyClock::time_point::max()) return;
          if (SteadyClock::now() < d.due) {
            self->setDeadline(d, d.due, expired);
            return;
          }
          d.due = SteadyClock::time_point::max();
          ((*self).*expired)();
        });
  }

  // Every socket operation runs under this one: when it passes, the socket
  // closes and whatever is pending fails.
  void ioDeadline(SteadyClock::duration timeout) {
    setDeadline(io_deadline_, SteadyClock::now() + timeout, &Connection::ioTimedOut);
  }
  void noIoDeadline() { io_deadline_.due = SteadyClock::time_point::max(); }
  void ioTimedOut() {
    beast::error_code ec;
    lowest().close(ec);
  }

  // Stops the timers so that a closed connection leaves no pending wait behind.
  void stopDeadlines() {
    io_deadline_.timer.cancel();
    handler_deadline_.timer.cancel();
  }

  asio::awaitable<bool> handshake(std::chrono::steady_clock::duration timeout) {
    if constexpr (kTls) {
      ioDeadline(timeout);
      auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, kTuple);
      if (ec) {
        state_.log.debug("tls handshake failed",
                         {{"remote_ip", remote_ip_}, {"error", ec.message()}});
        co_return false;
      }
    }
    co_return true;
  }

  asio::awaitable<void> turnAway() {
    if (state_.metrics) state_.metrics->recordRejectedConnection();
    if (!co_await handshake(kRejectTimeout)) co_return;
    Response res = Response::error(503, "unavailable", "server is at its connection limit");
    res.header("Retry-After", "1");
    prepareAnswer(state_, res, 11, false, false, core::newRequestId(), head_);
    ioDeadline(kRejectTimeout);
    co_await writeAnswer(res);
    co_await closeGracefully(true);
  }

  asio::awaitable<void> loop() {
    const ServerOptions& options = state_.options;
    if (!co_await handshake(options.header_timeout)) co_return;
    bool first = true;
    bool linger = false;
    for (;;) {
      if (state_.stopping.load()) break;
      // Between requests: wait for the first byte, within the idle timeout.
      if (buffer_.size() == 0) {
        ioDeadline(first ? options.header_timeout : options.idle_timeout);
        idle_ = true;
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kTuple);
        idle_ = false;
        if (ec) break;
        buffer_.commit(n);
      }
      first = false;
      // The whole header within header_timeout: the deadline covers every
      // read of the operation, so a client trickling bytes is cut off.
      ioDeadline(options.header_timeout);
      parser_.emplace();
      parser_->header_limit(static_cast<uint32_t>(
          std::min<size_t>(options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
      parser_->body_limit(options.max_body_bytes);
      const auto started = SteadyClock::now();
      auto [hec, hn] = co_await bhttp::async_read_header(stream_, buffer_, *parser_, kTuple);
      if (hec) {
        linger = co_await answerReadFailure(hec, started);
        break;
      }
      if (!parser_->is_done()) {
        if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
          constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          ioDeadline(options.write_timeout);
          auto [cec, cn] = co_await asio::async_write(stream_, asio::buffer(kContinue), kTuple);
          if (cec) break;
        }
        ioDeadline(options.body_timeout);
        auto [bec, bn] = co_await bhttp::async_read(stream_, buffer_, *parser_, kTuple);
        if (bec) {
          linger = co_await answerReadFailure(bec, started);
          break;
        }
      }
      noIoDeadline();
      bool keep_alive = false;
      auto request = parser_->release();
      if (!co_await handleRequest(request, started, &keep_alive)) break;
      if (!keep_alive) break;
    }
    co_await closeGracefully(linger);
  }

  // Answers 400/413/431 where the failure deserves one. True if an answer went out.
  asio::awaitable<bool> answerReadFailure(const beast::error_code& ec,
                                          SteadyClock::time_point started) {
    Response res;
    switch (classify(ec)) {
      case ReadFailure::kClose: co_return false;
      case ReadFailure::kBadRequest:
        res = Response::error(400, "invalid_argument", "malformed HTTP request");
        break;
      case ReadFailure::kHeaderTooLarge:
        res = Response::error(431, "invalid_argument", "request header fields too large");
        break;
      case ReadFailure::kBodyTooLarge:
        res = Response::error(413, "invalid_argument", "request body too large");
        break;
    }
    const std::string request_id = core::newRequestId();
    const unsigned version = parser_->get().version() == 10 ? 10 : 11;
    const int status = res.status;
    prepareAnswer(state_, res, version, false, false, request_id, head_);
    ioDeadline(state_.options.write_timeout);
    const bool written = co_await writeAnswer(res);
    std::string method(parser_->get().method_string());
    logAccess(method.empty() ? "-" : method, "", status, started, request_id);
    co_return written;
  }

  // Routes, runs the handler and writes the answer. False if the connection
  // is no longer usable.
  asio::awaitable<bool> handleRequest(bhttp::request<bhttp::string_body>& msg,
                                      SteadyClock::time_point started, bool* keep_alive) {
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.remote_ip = remote_ip_;
    std::string_view incoming_id = msg["X-Request-Id"];
    req.request_id =
        internal::isSaneRequestId(incoming_id) ? std::string(incoming_id) : core::newRequestId();
    req.headers.reserve(static_cast<size_t>(std::distance(msg.begin(), msg.end())));
    for (const auto& field : msg) {
      req.headers.emplace_back(lowerCase(field.name_string()), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    const bool head = req.method == "HEAD";
    *keep_alive = msg.keep_alive() && !state_.stopping.load();

    Response res;
    std::string route;
    if (auto target = internal::parseTarget(req.target, &req.path, &req.query); !target.ok()) {
      res = Response::error(target.error());
      *keep_alive = false;
    } else {
      Router::Match match = state_.router.match(req.method, req.path);
      route = match.pattern;
      if (match.handler != nullptr) {
        req.route = match.pattern;
        req.params = std::move(match.params);
        res = co_await runHandler(*match.handler, req);
      } else if (!match.allowed.empty()) {
        std::vector<std::string> methods = std::move(match.allowed);
        if (std::find(methods.begin(), methods.end(), "OPTIONS") == methods.end()) {
          methods.emplace_back("OPTIONS");
        }
        std::string allow;
        for (const auto& m : methods) allow += (allow.empty() ? "" : ", ") + m;
        if (req.method == "OPTIONS") {
          res = Response::json(204, "");
        } else {
          res = Response::error(405, "method_not_allowed", "method not allowed for this path");
        }
        res.header("Allow", allow);
      } else {
        res = Response::error(404, "not_found", "no such endpoint");
      }
    }

    // stop() may have come while the handler ran.
    *keep_alive = *keep_alive && !state_.stopping.load();
    const int status =
        prepareAnswer(state_, res, msg.version(), *keep_alive, head, req.request_id, head_);
    ioDeadline(state_.options.write_timeout);
    const bool written = co_await writeAnswer(res);
    logAccess(req.method, route, status, started, req.request_id);
    co_return written;
  }

  // head_ (from prepareAnswer) and the body in one gather write.
  asio::awaitable<bool> writeAnswer(const Response& res) {
    const std::string_view body = res.bodyView();
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body)};
    auto [ec, n] = co_await asio::async_write(stream_, buffers, kTuple);
    co_return !ec;
  }

  // The handler runs inline in the connection coroutine under a deadline of
  // handler_timeout: when the watchdog fires it sends a terminal
  // cancellation into the coroutine, so the handler's pending Asio operation
  // fails with operation_aborted (and any later one throws). The handler is
  // still awaited, so one that ignores cancellation delays the 504. Cheaper
  // than racing a spawned coroutine against a timer on every request.
  asio::awaitable<Response> runHandler(const Handler& handler, Request& req) {
    bool failed = false;
    std::string what;
    Response res;
    timed_out_ = false;
    setDeadline(handler_deadline_, SteadyClock::now() + state_.options.handler_timeout,
                &Connection::handlerTimedOut);
    try {
      res = co_await handler(req);
    } catch (const std::exception& e) {
      failed = true;
      what = e.what();
    } catch (...) {
      failed = true;
      what = "unknown exception";
    }
    handler_deadline_.due = SteadyClock::time_point::max();
    // A deadline that fired left the coroutine cancelled: clear it, or the
    // response write would throw.
    co_await asio::this_coro::reset_cancellation_state();
    if (timed_out_) {
      state_.log.error("handler timed out", {{"route", req.route}, {"request_id", req.request_id}});
      co_return Response::error(504, "deadline_exceeded", "request took too long");
    }
    if (failed) {
      state_.log.error("handler threw",
                       {{"route", req.route}, {"request_id", req.request_id}, {"error", what}});
      res = Response::error(500, "internal", "internal error");
    }
    co_return res;
  }

  void handlerTimedOut() {
    timed_out_ = true;
    cancel_->emit(asio::cancellation_type::terminal);
  }

  void logAccess(std::string_view method, std::string_view route, int status,
                 SteadyClock::time_point started, const std::string& request_id) {
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
    const std::string_view route_label = route.empty() ? std::string_view("unmatched") : route;
    if (state_.metrics) state_.metrics->recordRequest(method, route_label, status, seconds);
    state_.log.info("request", {{"method", method},
                                {"route", route_label},
                                {"status", status},
                                {"duration_ms", seconds * 1000.0},
                                {"remote_ip", remote_ip_},
                                {"request_id", request_id}});
  }

  asio::awaitable<void> closeGracefully(bool linger) {
    beast::error_code ec;
    if constexpr (kTls) {
      ioDeadline(kLingerTimeout);
#ifndef __clang_analyzer__  // clang 14 misreads this awaitable frame (see .clang-tidy)
      co_await stream_.async_shutdown(kTuple);
#endif
    } else {
      lowest().shutdown(tcp::socket::shutdown_send, ec);
      if (linger) {
        ioDeadline(kLingerTimeout);
        size_t drained = 0;
        char sink[4096];
        while (drained < kLingerBytes) {
          auto [rec, n] = co_await lowest().async_read_some(asio::buffer(sink), kTuple);
          if (rec) break;
          drained += n;
        }
      }
    }
    lowest().close(ec);
    stopDeadlines();
  }

  State& state_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string head_;  // the answer's status line and headers
  const std::string remote_ip_;
  const bool rejected_;
  uint64_t id_ = 0;
  bool idle_ = false;  // on the strand: waiting for the next request
  // Handler deadline (runHandler); all on the strand.
  std::shared_ptr<asio::cancellation_signal> cancel_ =
      std::make_shared<asio::cancellation_signal>();
  Deadline io_deadline_;
  Deadline handler_deadline_;
  bool timed_out_ = false;
};

template <typename Stream>
void launch(State& state, tcp::socket socket, std::string remote_ip, bool rejected) {
  auto executor = socket.get_executor();
  auto connection = std::make_shared<Connection<Stream>>(state, std::move(socket),
                                                         std::move(remote_ip), rejected);
  connection->registerCloser();
  auto signal = connection->cancelSignal();
  auto& slot_owner = *signal;
  asio::co_spawn(executor, Connection<Stream>::serve(std::move(connection)),
                 asio::bind_cancellation_slot(
                     slot_owner.slot(), [&state, signal](const std::exception_ptr& e) {
                       (void)signal;  // held only to outlive the slot
                       if (!e) return;
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         state.log.error("connection failed", {{"error", ex.what()}});
                       } catch (...) {
                         state.log.error("connection failed", {{"error", "unknown exception"}});
                       }
                     }));
}

void accepted(State& state, tcp::socket socket) {
  beast::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  if (ec) return;  // already gone
  bool rejected = false;
  if (state.active.load() >= state.options.max_connections) {
    if (state.rejecting.load() >= kMaxRejecting) {
      if (state.metrics) state.metrics->recordRejectedConnection();
      return;  // the socket closes here
    }
    rejected = true;
  }
  (rejected ? state.rejecting : state.active).fetch_add(1);
  std::string ip = addressString(endpoint.address());
  if (state.tls) {
    launch<beast::ssl_stream<tcp::socket>>(state, std::move(socket), std::move(ip), rejected);
  } else {
    launch<tcp::socket>(state, std::move(socket), std::move(ip), rejected);
  }
}

asio::awaitable<void> acceptLoop(State& state) {
  for (;;) {
    // Each connection gets its own strand: handlers of one connection never
    // run concurrently, different connections run on all io threads.
    auto strand = asio::make_strand(state.ioc);
    auto [ec, socket] = co_await state.acceptor->async_accept(strand, kTuple);
    if (state.stopping.load() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      state.log.warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer pause(state.control, kAcceptBackoff);
      co_await pause.async_wait(kTuple);
      continue;
    }
    accepted(state, std::move(socket));
  }
}

core::Status loadTls(State& state) {
  const ServerOptions& options = state.options;
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) return core::okStatus();
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return core::invalidArgument("TLS needs both a certificate and a key file");
  }
  ssl::context ctx(ssl::context::tls_server);
  beast::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::single_dh_use,
                  ec);
  // TLS 1.3 is negotiated whenever the client has it; 1.2 only with AEAD suites.
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx.native_handle(), "ECDHE+AESGCM:ECDHE+CHACHA20");
  ctx.use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec) {
    return core::invalidArgument("cannot load TLS certificate " + options.tls_cert_file + ": " +
                                 ec.message());
  }
  ctx.use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return core::invalidArgument("cannot load TLS key " + options.tls_key_file +
                                 " or it does not match the certificate");
  }
  state.tls.emplace(std::move(ctx));
  return core::okStatus();
}

// An IP literal, or "localhost". No DNS: a listen address that depends on a
// name server at startup is a misconfiguration waiting to happen.
core::Result<tcp::endpoint> resolveListenAddress(const ServerOptions& options) {
  if (options.host == "localhost") {
    return tcp::endpoint(asio::ip::address_v4::loopback(), options.port);
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) {
    return core::invalidArgument("listen host must be an IP address or localhost, not '" +
                                 options.host + "'");
  }
  return tcp::endpoint(address, options.port);
}

}  // namespace

struct Server::Impl : State {
  using State::State;
};

Server::Server(ServerOptions options, Router router, core::Logger& log, Metrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router), log, metrics)) {}

Server::~Server() {
  impl_->destroying.store(true);
  impl_->ioc.stop();
}

core::Status Server::start() {
  State& state = *impl_;
  if (state.acceptor) return core::failedPrecondition("server already started");
  AUREO_RETURN_IF_ERROR(loadTls(state));
  AUREO_ASSIGN_OR_RETURN(tcp::endpoint endpoint, resolveListenAddress(state.options));

  tcp::acceptor acceptor(state.control);
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (ec) {
    const std::string where = state.options.host + ":" + std::to_string(state.options.port);
    if (ec == boost::system::errc::address_not_available) {
      return core::invalidArgument("cannot listen on " + where + ": " + ec.message());
    }
    return core::unavailable("cannot listen on " + where + ": " + ec.message());
  }
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return core::unavailable("listen failed: " + ec.message());
  state.port = acceptor.local_endpoint(ec).port();
  state.acceptor.emplace(std::move(acceptor));
  asio::co_spawn(state.control, acceptLoop(state), [&state](const std::exception_ptr& e) {
    if (e) state.log.error("accept loop failed");
  });
  state.log.info("http server listening", {{"address", endpoint.address().to_string()},
                                           {"port", static_cast<int>(state.port)},
                                           {"tls", state.tls.has_value()}});
  return core::okStatus();
}

uint16_t Server::port() const {
  return impl_->port;
}

void Server::run() {
  State& state = *impl_;
  auto work = [&state] {
    for (;;) {
      try {
        state.ioc.run();
        return;
      } catch (const std::exception& e) {
        state.log.error("io thread caught an exception", {{"error", e.what()}});
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < state.options.threads; ++i) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
}

void Server::stop() {
  State& state = *impl_;
  asio::post(state.control, [&state] { state.beginStop(); });
}

}  // namespace aureo::http
