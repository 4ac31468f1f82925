#include "openvpn/management.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "core/errno_text.h"

namespace aureo::openvpn {
namespace {

template <typename T>
bool parseNumber(std::string_view s, T& out) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

std::vector<std::string_view> split(std::string_view s, char sep, size_t max_fields) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_fields) {
    const size_t at = s.find(sep);
    if (at == std::string_view::npos) break;
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  out.push_back(s);
  return out;
}

std::string_view trimLeadingSpace(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

const std::string* ClientEvent::findEnv(std::string_view name) const {
  for (const auto& [k, v] : env) {
    if (k == name) return &v;
  }
  return nullptr;
}

ManagementParser::ManagementParser(ParserLimits limits) : limits_(limits) {}

void ManagementParser::feed(std::string_view bytes, std::vector<ManagementEvent>& out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t nl = bytes.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? bytes.size() : nl;
    const std::string_view chunk = bytes.substr(pos, end - pos);
    if (discarding_) {
      if (nl == std::string_view::npos) return;
      discarding_ = false;
      pos = nl + 1;
      continue;
    }
    // +1 leaves room for the '\r' of a line of exactly max_line bytes.
    if (partial_.size() + chunk.size() > limits_.max_line + 1) {
      out.emplace_back(ProtocolErrorEvent{"line longer than " + std::to_string(limits_.max_line) +
                                          " bytes dropped"});
      // The dropped line belonged to whatever was open; that is now incomplete.
      if (client_) client_->env_truncated = true;
      if (multi_) multi_->truncated = true;
      partial_.clear();
      if (nl == std::string_view::npos) {
        discarding_ = true;
        return;
      }
      pos = nl + 1;
      continue;
    }
    if (nl == std::string_view::npos) {
      partial_.append(chunk);
      return;
    }
    std::string_view line = chunk;
    if (!partial_.empty()) {
      partial_.append(chunk);
      line = partial_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limits_.max_line) {
      out.emplace_back(ProtocolErrorEvent{"line longer than " + std::to_string(limits_.max_line) +
                                          " bytes dropped"});
    } else {
      onLine(line, out);
    }
    partial_.clear();
    pos = nl + 1;
  }
}

void ManagementParser::onLine(std::string_view line, std::vector<ManagementEvent>& out) {
  if (!line.empty() && line.front() == '>') {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      out.emplace_back(ProtocolErrorEvent{"notification without a type"});
      return;
    }
    onNotification(line.substr(1, colon - 1), line.substr(colon + 1), out);
    return;
  }
  onReplyLine(line, out);
}

void ManagementParser::onNotification(std::string_view type, std::string_view payload,
                                      std::vector<ManagementEvent>& out) {
  if (type == "CLIENT") {
    onClient(payload, out);
  } else if (type == "BYTECOUNT_CLI") {
    const auto f = split(payload, ',', 4);
    ClientBytecountEvent ev;
    if (f.size() != 3 || !parseNumber(f[0], ev.cid) || !parseNumber(f[1], ev.bytes_received) ||
        !parseNumber(f[2], ev.bytes_sent)) {
      out.emplace_back(ProtocolErrorEvent{"malformed BYTECOUNT_CLI"});
      return;
    }
    out.emplace_back(ev);
  } else if (type == "INFO") {
    out.emplace_back(InfoEvent{std::string(payload)});
  } else if (type == "HOLD") {
    out.emplace_back(HoldEvent{std::string(payload)});
  } else if (type == "STATE") {
    StateEvent ev;
    for (auto f : split(payload, ',', 64)) ev.fields.emplace_back(f);
    out.emplace_back(std::move(ev));
  } else {
    out.emplace_back(NotificationEvent{std::string(type), std::string(payload)});
  }
}

void ManagementParser::onClient(std::string_view payload, std::vector<ManagementEvent>& out) {
  if (startsWith(payload, "ENV,")) {
    const std::string_view var = payload.substr(4);
    if (!client_) {
      out.emplace_back(ProtocolErrorEvent{"CLIENT:ENV outside a client block"});
      return;
    }
    if (var == "END") {
      out.emplace_back(std::move(*client_));
      client_.reset();
      return;
    }
    if (client_->env.size() >= limits_.max_env_lines) {
      client_->env_truncated = true;
      return;
    }
    const size_t eq = var.find('=');
    if (eq == std::string_view::npos) {
      client_->env.emplace_back(std::string(var), std::string());
    } else {
      client_->env.emplace_back(std::string(var.substr(0, eq)), std::string(var.substr(eq + 1)));
    }
    return;
  }

  const auto f = split(payload, ',', 5);
  const std::string_view kind = f[0];
  if (kind == "ADDRESS") {
    ClientAddressEvent ev;
    if (f.size() != 4 || !parseNumber(f[1], ev.cid) || f[2].empty() ||
        (f[3] != "0" && f[3] != "1")) {
      out.emplace_back(ProtocolErrorEvent{"malformed CLIENT:ADDRESS"});
      return;
    }
    ev.address = std::string(f[2]);
    ev.primary = f[3] == "1";
    out.emplace_back(std::move(ev));
    return;
  }

  ClientEvent ev;
  size_t want = 0;
  if (kind == "CONNECT") {
    ev.kind = ClientEventKind::kConnect;
    want = 3;
  } else if (kind == "REAUTH") {
    ev.kind = ClientEventKind::kReauth;
    want = 3;
  } else if (kind == "ESTABLISHED") {
    ev.kind = ClientEventKind::kEstablished;
    want = 2;
  } else if (kind == "DISCONNECT") {
    ev.kind = ClientEventKind::kDisconnect;
    want = 2;
  } else if (kind == "CR_RESPONSE") {
    ev.kind = ClientEventKind::kCrResponse;
    want = 4;
  } else {
    out.emplace_back(NotificationEvent{"CLIENT", std::string(payload)});
    return;
  }
  bool ok = f.size() == want && parseNumber(f[1], ev.cid);
  if (ok && want >= 3) {
    uint32_t kid = 0;
    ok = parseNumber(f[2], kid);
    ev.kid = kid;
  }
  if (ok && want == 4) ev.cr_response = std::string(f[3]);
  if (!ok) {
    out.emplace_back(ProtocolErrorEvent{"malformed CLIENT:" + std::string(kind)});
    return;
  }
  if (client_) {
    // A new block before the previous one's END: hand the old one on, marked
    // incomplete, so a pending CONNECT still gets an answer (a denial).
    out.emplace_back(ProtocolErrorEvent{"client block interrupted before ENV,END"});
    client_->env_truncated = true;
    out.emplace_back(std::move(*client_));
  }
  client_ = std::move(ev);
}

void ManagementParser::onReplyLine(std::string_view line, std::vector<ManagementEvent>& out) {
  if (multi_) {
    if (line == "END") {
      out.emplace_back(std::move(*multi_));
      multi_.reset();
      multi_bytes_ = 0;
      return;
    }
    if (multi_->lines.size() >= limits_.max_reply_lines ||
        multi_bytes_ + line.size() > limits_.max_reply_bytes) {
      multi_->truncated = true;
      return;
    }
    multi_bytes_ += line.size();
    multi_->lines.emplace_back(line);
    return;
  }
  if (startsWith(line, "SUCCESS:")) {
    out.emplace_back(
        Reply{Reply::Kind::kSuccess, std::string(trimLeadingSpace(line.substr(8))), {}, false});
    return;
  }
  if (startsWith(line, "ERROR:")) {
    out.emplace_back(
        Reply{Reply::Kind::kError, std::string(trimLeadingSpace(line.substr(6))), {}, false});
    return;
  }
  if (line.empty()) return;
  multi_.emplace();
  multi_->kind = Reply::Kind::kMultiLine;
  if (line == "END") {
    out.emplace_back(std::move(*multi_));
    multi_.reset();
    return;
  }
  multi_->lines.emplace_back(line);
  multi_bytes_ = line.size();
}

std::vector<StatusClient> parseStatus3(const std::vector<std::string>& lines) {
  // Columns are found by their header names, so a version that adds or moves
  // columns still parses; 2.6's order is the fallback.
  std::map<std::string, size_t, std::less<>> col = {{"Common Name", 1},
                                                    {"Real Address", 2},
                                                    {"Virtual Address", 3},
                                                    {"Virtual IPv6 Address", 4},
                                                    {"Bytes Received", 5},
                                                    {"Bytes Sent", 6},
                                                    {"Connected Since (time_t)", 8},
                                                    {"Username", 9},
                                                    {"Client ID", 10},
                                                    {"Peer ID", 11},
                                                    {"Data Channel Cipher", 12}};
  std::vector<StatusClient> out;
  for (const auto& line : lines) {
    const auto f = split(line, '\t', 64);
    if (f.size() >= 2 && f[0] == "HEADER" && f[1] == "CLIENT_LIST") {
      col.clear();
      for (size_t i = 2; i < f.size(); ++i) col.emplace(std::string(f[i]), i - 1);
      continue;
    }
    if (f.empty() || f[0] != "CLIENT_LIST") continue;
    const auto get = [&](std::string_view name) -> std::string_view {
      const auto it = col.find(name);
      return it != col.end() && it->second < f.size() ? f[it->second] : std::string_view{};
    };
    StatusClient c;
    c.common_name = get("Common Name");
    c.real_address = get("Real Address");
    c.virtual_address = get("Virtual Address");
    c.virtual_ipv6_address = get("Virtual IPv6 Address");
    c.username = get("Username");
    c.cipher = get("Data Channel Cipher");
    if (!parseNumber(get("Client ID"), c.cid)) continue;
    parseNumber(get("Bytes Received"), c.bytes_received);
    parseNumber(get("Bytes Sent"), c.bytes_sent);
    parseNumber(get("Connected Since (time_t)"), c.connected_since);
    parseNumber(get("Peer ID"), c.peer_id);
    out.push_back(std::move(c));
  }
  return out;
}

// ---------------------------------------------------------------------------

struct ManagementClient::Impl {
  struct Pending {
    bool done = false;
    std::optional<Reply> reply;
  };

  Impl(int socket_fd, int wake, EventHandler h, ManagementClientOptions o, core::Logger& l)
      : fd(socket_fd), wake_fd(wake), handler(std::move(h)), options(o), logger(l) {}

  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void readLoop();
  void complete(Reply reply);
  void markClosed(const std::string& reason);

  int fd;
  int wake_fd;
  EventHandler handler;
  ManagementClientOptions options;
  core::Logger& logger;
  std::thread reader;

  std::mutex write_mu;  // keeps the pending queue in the order commands hit the socket
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Pending>> pending;  // guarded by mu
  bool closed = false;                           // guarded by mu
  bool closing_locally = false;                  // guarded by mu
};

void ManagementClient::Impl::readLoop() {
  ManagementParser parser(options.limits);
  std::vector<ManagementEvent> events;
  char buf[16 * 1024];
  std::string reason;
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      reason = std::string("poll: ") + core::errnoText(errno);
      break;
    }
    if (fds[1].revents != 0) {
      reason = "closed locally";
      break;
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) {
      reason = "the daemon closed the management connection";
      break;
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      reason = std::string("read: ") + core::errnoText(errno);
      break;
    }
    events.clear();
    parser.feed(std::string_view(buf, static_cast<size_t>(n)), events);
    for (auto& ev : events) {
      if (auto* reply = std::get_if<Reply>(&ev)) {
        complete(std::move(*reply));
      } else {
        if (const auto* err = std::get_if<ProtocolErrorEvent>(&ev)) {
          logger.warn("openvpn management protocol error", {{"reason", err->reason}});
        }
        handler(ev);
      }
    }
  }
  markClosed(reason);
}

void ManagementClient::Impl::complete(Reply reply) {
  std::lock_guard lock(mu);
  if (pending.empty()) {
    logger.warn("openvpn management reply without a command", {{"message", reply.message}});
    return;
  }
  // A command that timed out still owns its slot, so a late reply lands on
  // it and not on the next command.
  auto p = std::move(pending.front());
  pending.pop_front();
  p->reply = std::move(reply);
  p->done = true;
  cv.notify_all();
}

void ManagementClient::Impl::markClosed(const std::string& reason) {
  bool local = false;
  {
    std::lock_guard lock(mu);
    closed = true;
    local = closing_locally;
    for (auto& p : pending) p->done = true;  // no reply: the waiter reports kUnavailable
    pending.clear();
    cv.notify_all();
  }
  if (!local) {
    logger.info("openvpn management connection closed", {{"reason", reason}});
    handler(ConnectionClosedEvent{reason});
  }
}

core::Result<std::unique_ptr<ManagementClient>> ManagementClient::connect(
    const std::string& socket_path, EventHandler handler, ManagementClientOptions options,
    core::Logger& logger) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    return core::invalidArgument("management socket path is empty or too long");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::internalError(std::string("socket: ") + core::errnoText(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return core::unavailable("connect " + socket_path + ": " + core::errnoText(err));
  }
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    ::close(fd);
    return core::internalError(std::string("eventfd: ") + core::errnoText(errno));
  }
  auto impl = std::make_unique<Impl>(fd, wake, std::move(handler), options, logger);
  Impl* raw = impl.get();
  impl->reader = std::thread([raw] { raw->readLoop(); });
  return std::unique_ptr<ManagementClient>(new ManagementClient(std::move(impl)));
}

ManagementClient::ManagementClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ManagementClient::~ManagementClient() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->closing_locally = true;
  }
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(impl_->wake_fd, &one, sizeof one);
  // Joining from the reader itself would deadlock; the header forbids
  // destroying a client from its own event handler.
  if (impl_->reader.joinable()) impl_->reader.join();
}

bool ManagementClient::connected() const {
  std::lock_guard lock(impl_->mu);
  return !impl_->closed;
}

core::Result<Reply> ManagementClient::command(std::string_view line) {
  return command(line, impl_->options.command_timeout);
}

core::Result<Reply> ManagementClient::command(std::string_view line,
                                              std::chrono::milliseconds timeout) {
  if (line.empty() || line.find_first_of("\r\n") != std::string_view::npos || line.size() > 4096) {
    return core::invalidArgument("a management command is one non-empty line");
  }
  std::string text(line);
  text += '\n';
  return roundTrip(std::move(text), timeout);
}

core::Result<Reply> ManagementClient::roundTrip(std::string text,
                                                std::chrono::milliseconds timeout) {
  if (impl_->reader.get_id() == std::this_thread::get_id()) {
    return core::failedPrecondition("management command issued from the event handler thread");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pending = std::make_shared<Impl::Pending>();
  {
    std::lock_guard write_lock(impl_->write_mu);
    {
      std::lock_guard lock(impl_->mu);
      if (impl_->closed) return core::unavailable("management connection is closed");
      impl_->pending.push_back(pending);
    }
    size_t off = 0;
    while (off < text.size()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd pfd{impl_->fd, POLLOUT, 0};
      const int rc = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) {
        // A half-written command leaves the stream unusable: drop the
        // connection, which fails this command and any other in flight.
        ::shutdown(impl_->fd, SHUT_RDWR);
        return rc == 0 ? core::Error{core::Code::kDeadlineExceeded,
                                     "timed out writing a management command",
                                     {}}
                       : core::unavailable("management socket failed");
      }
      const ssize_t n = ::send(impl_->fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        const int err = errno;
        ::shutdown(impl_->fd, SHUT_RDWR);
        return core::unavailable(std::string("management send: ") + core::errnoText(err));
      }
      off += static_cast<size_t>(n);
    }
  }
  std::unique_lock lock(impl_->mu);
  if (!impl_->cv.wait_until(lock, deadline, [&] { return pending->done; })) {
    return core::Error{core::Code::kDeadlineExceeded, "no reply from the openvpn daemon", {}};
  }
  if (!pending->reply) return core::unavailable("management connection closed before the reply");
  return std::move(*pending->reply);
}

core::Status ManagementClient::sendAndCheck(std::string_view text, std::string_view what) {
  AUREO_ASSIGN_OR_RETURN(Reply reply, roundTrip(std::string(text), impl_->options.command_timeout));
  if (!reply.ok()) {
    return core::Error{core::Code::kAborted, std::string(what) + ": " + reply.message, {}};
  }
  return core::okStatus();
}

namespace {

// Text that goes between double quotes in a command: the daemon's argument
// parser treats backslash and quote specially, so neither is allowed.
bool isQuotable(std::string_view s) {
  if (s.size() > 256) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

core::Status ManagementClient::holdRelease() {
  return sendAndCheck("hold release\n", "hold release");
}

core::Status ManagementClient::setBytecountInterval(int seconds) {
  if (seconds < 0 || seconds > 3600) return core::invalidArgument("bytecount interval 0..3600");
  return sendAndCheck("bytecount " + std::to_string(seconds) + "\n", "bytecount");
}

core::Status ManagementClient::clientAuthNt(uint64_t cid, uint32_t kid) {
  return sendAndCheck("client-auth-nt " + std::to_string(cid) + " " + std::to_string(kid) + "\n",
                      "client-auth-nt");
}

core::Status ManagementClient::clientAuth(uint64_t cid, uint32_t kid,
                                          const std::vector<std::string>& config) {
  if (config.size() > 64) return core::invalidArgument("at most 64 client config lines");
  std::string text = "client-auth " + std::to_string(cid) + " " + std::to_string(kid) + "\n";
  for (const auto& line : config) {
    if (line.empty() || line == "END" || line.size() > 256 ||
        line.find_first_of("\r\n") != std::string::npos) {
      return core::invalidArgument("client config lines must be single non-empty lines");
    }
    text += line;
    text += '\n';
  }
  text += "END\n";
  return sendAndCheck(text, "client-auth");
}

core::Status ManagementClient::clientDeny(uint64_t cid, uint32_t kid, std::string_view reason,
                                          std::string_view client_reason) {
  if (reason.empty() || !isQuotable(reason) || !isQuotable(client_reason)) {
    return core::invalidArgument("deny reasons must be short printable text without quotes");
  }
  std::string text = "client-deny " + std::to_string(cid) + " " + std::to_string(kid) + " \"" +
                     std::string(reason) + "\"";
  if (!client_reason.empty()) text += " \"" + std::string(client_reason) + "\"";
  text += '\n';
  return sendAndCheck(text, "client-deny");
}

core::Status ManagementClient::clientKill(uint64_t cid, std::string_view message) {
  if (!isQuotable(message) || message.find(' ') != std::string_view::npos) {
    return core::invalidArgument("kill message must be one word");
  }
  std::string text = "client-kill " + std::to_string(cid);
  if (!message.empty()) text += " " + std::string(message);
  text += '\n';
  return sendAndCheck(text, "client-kill");
}

core::Result<std::vector<StatusClient>> ManagementClient::status() {
  AUREO_ASSIGN_OR_RETURN(Reply reply, command("status 3"));
  if (reply.kind != Reply::Kind::kMultiLine) {
    return core::Error{core::Code::kAborted, "status: " + reply.message, {}};
  }
  return parseStatus3(reply.lines);
}

}  // namespace aureo::openvpn
