#include "wireguard/uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <thread>
#include <utility>

#include "core/errno_text.h"
#include "wireguard/tun.h"

namespace aureo::wireguard {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decimal only: no sign, no spaces, no hex, at most max.
std::optional<uint64_t> parseNumber(std::string_view s, uint64_t max) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

// A line as key and value; false when there is no '='.
bool splitLine(std::string_view line, std::string_view* key, std::string_view* value) {
  const auto eq = line.find('=');
  if (eq == std::string_view::npos) return false;
  *key = line.substr(0, eq);
  *value = line.substr(eq + 1);
  return true;
}

// Iterates the '\n'-terminated lines of a request; stops at the empty line.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  // False at the end (text exhausted or the blank line reached).
  bool next(std::string_view* line) {
    if (done_ || pos_ >= text_.size()) return false;
    const auto nl = text_.find('\n', pos_);
    const size_t end = nl == std::string_view::npos ? text_.size() : nl;
    *line = text_.substr(pos_, end - pos_);
    pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
    ++number_;
    if (line->empty()) {
      done_ = true;
      return false;
    }
    return true;
  }
  // True if non-blank text follows the blank line.
  [[nodiscard]] bool trailingData() const {
    return done_ && text_.substr(pos_).find_first_not_of('\n') != std::string_view::npos;
  }
  [[nodiscard]] size_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t number_ = 0;
  bool done_ = false;
};

core::Error badValue(const LineReader& r, std::string_view key, std::string_view why) {
  return core::invalidArgument(
      "line " + std::to_string(r.number()) + ": " + std::string(key) + ": " + std::string(why),
      std::string(key));
}

core::Error badLine(const LineReader& r, std::string_view line) {
  std::string shown(line.substr(0, 64));
  return {core::Code::kDataLoss,
          "line " + std::to_string(r.number()) + ": not key=value: \"" + shown + "\"",
          {}};
}

bool parseTrue(std::string_view v) {
  return v == "true";
}

std::optional<core::Cidr> parseAllowedIp(std::string_view v) {
  // wg always sends the prefix length; a bare address is a mistake here.
  if (v.find('/') == std::string_view::npos) return std::nullopt;
  return core::Cidr::parse(v);
}

void appendLine(std::string& out, std::string_view key, std::string_view value) {
  out.append(key);
  out.push_back('=');
  out.append(value);
  out.push_back('\n');
}

std::string errnoLine(int err) {
  return "errno=" + std::to_string(err == 0 ? 0 : -err) + "\n\n";
}

}  // namespace

// ---- Keys

UapiSecret::~UapiSecret() {
  explicit_bzero(bytes_.data(), bytes_.size());
}

bool UapiSecret::isZero() const {
  uint8_t acc = 0;
  for (uint8_t b : bytes_) acc = static_cast<uint8_t>(acc | b);
  return acc == 0;
}

std::string uapiKeyToHex(const UapiKey& key) {
  std::string out(kUapiKeyLen * 2, '0');
  for (size_t i = 0; i < kUapiKeyLen; ++i) {
    out[2 * i] = kHexDigits[key[i] >> 4];
    out[2 * i + 1] = kHexDigits[key[i] & 0xf];
  }
  return out;
}

std::optional<UapiKey> uapiKeyFromHex(std::string_view hex) {
  if (hex.size() != kUapiKeyLen * 2) return std::nullopt;
  UapiKey key;
  for (size_t i = 0; i < kUapiKeyLen; ++i) {
    const int hi = hexValue(hex[2 * i]);
    const int lo = hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return key;
}

// ---- set

core::Result<DeviceChange> parseSetRequest(std::string_view body) {
  DeviceChange change;
  PeerChange* peer = nullptr;
  LineReader reader(body);
  std::string_view line;
  while (reader.next(&line)) {
    std::string_view key;
    std::string_view value;
    if (!splitLine(line, &key, &value)) return badLine(reader, line);

    if (key == "public_key") {
      auto k = uapiKeyFromHex(value);
      if (!k) return badValue(reader, key, "not 64 hex digits");
      change.peers.emplace_back();
      peer = &change.peers.back();
      peer->public_key = *k;
      continue;
    }
    if (peer == nullptr) {
      // Device section, before the first public_key.
      if (key == "private_key") {
        auto k = uapiKeyFromHex(value);
        if (!k) return badValue(reader, key, "not 64 hex digits");
        change.private_key = UapiSecret(*k);
        k->fill(0);
      } else if (key == "listen_port") {
        auto v = parseNumber(value, 0xffff);
        if (!v) return badValue(reader, key, "not a port number");
        change.listen_port = static_cast<uint16_t>(*v);
      } else if (key == "fwmark") {
        auto v = parseNumber(value, 0xffffffff);
        if (!v) return badValue(reader, key, "not a 32-bit number");
        change.fwmark = static_cast<uint32_t>(*v);
      } else if (key == "replace_peers") {
        if (!parseTrue(value)) return badValue(reader, key, "only \"true\" is valid");
        change.replace_peers = true;
      } else {
        return badValue(reader, key, "unknown device key");
      }
      continue;
    }
    // Peer section.
    if (key == "remove") {
      if (!parseTrue(value)) return badValue(reader, key, "only \"true\" is valid");
      peer->remove = true;
    } else if (key == "update_only") {
      if (!parseTrue(value)) return badValue(reader, key, "only \"true\" is valid");
      peer->update_only = true;
    } else if (key == "preshared_key") {
      auto k = uapiKeyFromHex(value);
      if (!k) return badValue(reader, key, "not 64 hex digits");
      peer->preshared_key = UapiSecret(*k);
      k->fill(0);
    } else if (key == "endpoint") {
      auto e = Endpoint::parse(value);
      if (!e) return badValue(reader, key, "not ip:port or [ipv6]:port");
      peer->endpoint = *e;
    } else if (key == "persistent_keepalive_interval") {
      auto v = parseNumber(value, 0xffff);
      if (!v) return badValue(reader, key, "not a number of seconds up to 65535");
      peer->persistent_keepalive_interval = static_cast<uint16_t>(*v);
    } else if (key == "replace_allowed_ips") {
      if (!parseTrue(value)) return badValue(reader, key, "only \"true\" is valid");
      peer->replace_allowed_ips = true;
    } else if (key == "allowed_ip") {
      auto c = parseAllowedIp(value);
      if (!c) return badValue(reader, key, "not address/prefix");
      peer->allowed_ips.push_back(*c);
    } else if (key == "protocol_version") {
      if (value != "1") return badValue(reader, key, "only version 1 exists");
    } else {
      return badValue(reader, key, "unknown peer key");
    }
  }
  if (reader.trailingData()) {
    return core::Error{core::Code::kDataLoss, "data after the end of the request", {}};
  }
  return change;
}

std::string formatSetRequest(const DeviceChange& change) {
  std::string out = "set=1\n";
  if (change.private_key) appendLine(out, "private_key", uapiKeyToHex(change.private_key->bytes()));
  if (change.listen_port) appendLine(out, "listen_port", std::to_string(*change.listen_port));
  if (change.fwmark) appendLine(out, "fwmark", std::to_string(*change.fwmark));
  if (change.replace_peers) appendLine(out, "replace_peers", "true");
  for (const PeerChange& p : change.peers) {
    appendLine(out, "public_key", uapiKeyToHex(p.public_key));
    if (p.remove) appendLine(out, "remove", "true");
    if (p.update_only) appendLine(out, "update_only", "true");
    if (p.preshared_key) {
      appendLine(out, "preshared_key", uapiKeyToHex(p.preshared_key->bytes()));
    }
    if (p.endpoint) appendLine(out, "endpoint", p.endpoint->toString());
    if (p.persistent_keepalive_interval) {
      appendLine(out, "persistent_keepalive_interval",
                 std::to_string(*p.persistent_keepalive_interval));
    }
    if (p.replace_allowed_ips) appendLine(out, "replace_allowed_ips", "true");
    for (const auto& c : p.allowed_ips) appendLine(out, "allowed_ip", c.toString());
  }
  out.push_back('\n');
  return out;
}

// ---- get

std::string formatGetResponse(const DeviceState& state) {
  std::string out;
  out.reserve(256 + state.peers.size() * 320);
  if (!state.private_key.isZero()) {
    appendLine(out, "private_key", uapiKeyToHex(state.private_key.bytes()));
  }
  if (state.listen_port != 0) appendLine(out, "listen_port", std::to_string(state.listen_port));
  if (state.fwmark != 0) appendLine(out, "fwmark", std::to_string(state.fwmark));
  for (const PeerState& p : state.peers) {
    appendLine(out, "public_key", uapiKeyToHex(p.public_key));
    appendLine(out, "preshared_key", uapiKeyToHex(p.preshared_key.bytes()));
    appendLine(out, "protocol_version", "1");
    if (p.endpoint) appendLine(out, "endpoint", p.endpoint->toString());
    appendLine(out, "last_handshake_time_sec", std::to_string(p.last_handshake_time_sec));
    appendLine(out, "last_handshake_time_nsec", std::to_string(p.last_handshake_time_nsec));
    appendLine(out, "tx_bytes", std::to_string(p.tx_bytes));
    appendLine(out, "rx_bytes", std::to_string(p.rx_bytes));
    appendLine(out, "persistent_keepalive_interval",
               std::to_string(p.persistent_keepalive_interval));
    for (const auto& c : p.allowed_ips) appendLine(out, "allowed_ip", c.toString());
  }
  out += errnoLine(0);
  return out;
}

core::Result<DeviceState> parseGetResponse(std::string_view reply) {
  DeviceState state;
  PeerState* peer = nullptr;
  LineReader reader(reply);
  std::string_view line;
  constexpr uint64_t kMaxI64 = 0x7fffffffffffffffULL;
  while (reader.next(&line)) {
    std::string_view key;
    std::string_view value;
    if (!splitLine(line, &key, &value)) return badLine(reader, line);
    if (key == "errno") {
      if (value == "0") {
        std::string_view rest;
        if (reader.next(&rest)) return badLine(reader, rest);
        return state;
      }
      return core::unavailable("the device answered errno=" + std::string(value));
    }
    if (key == "public_key") {
      auto k = uapiKeyFromHex(value);
      if (!k) return badValue(reader, key, "not 64 hex digits");
      state.peers.emplace_back();
      peer = &state.peers.back();
      peer->public_key = *k;
    } else if (peer == nullptr && key == "private_key") {
      auto k = uapiKeyFromHex(value);
      if (!k) return badValue(reader, key, "not 64 hex digits");
      state.private_key = UapiSecret(*k);
      k->fill(0);
    } else if (peer == nullptr && key == "listen_port") {
      auto v = parseNumber(value, 0xffff);
      if (!v) return badValue(reader, key, "not a port number");
      state.listen_port = static_cast<uint16_t>(*v);
    } else if (peer == nullptr && key == "fwmark") {
      auto v = parseNumber(value, 0xffffffff);
      if (!v) return badValue(reader, key, "not a 32-bit number");
      state.fwmark = static_cast<uint32_t>(*v);
    } else if (peer != nullptr && key == "preshared_key") {
      auto k = uapiKeyFromHex(value);
      if (!k) return badValue(reader, key, "not 64 hex digits");
      peer->preshared_key = UapiSecret(*k);
      k->fill(0);
    } else if (peer != nullptr && key == "endpoint") {
      auto e = Endpoint::parse(value);
      if (!e) return badValue(reader, key, "not ip:port or [ipv6]:port");
      peer->endpoint = *e;
    } else if (peer != nullptr && key == "allowed_ip") {
      auto c = parseAllowedIp(value);
      if (!c) return badValue(reader, key, "not address/prefix");
      peer->allowed_ips.push_back(*c);
    } else if (peer != nullptr &&
               (key == "last_handshake_time_sec" || key == "last_handshake_time_nsec" ||
                key == "tx_bytes" || key == "rx_bytes" || key == "persistent_keepalive_interval")) {
      const bool counter = key == "tx_bytes" || key == "rx_bytes";
      const uint64_t max = key == "persistent_keepalive_interval" ? 0xffff
                           : counter                              ? ~uint64_t{0}
                                                                  : kMaxI64;
      auto v = parseNumber(value, max);
      if (!v) return badValue(reader, key, "not a number in range");
      if (key == "last_handshake_time_sec")
        peer->last_handshake_time_sec = static_cast<int64_t>(*v);
      if (key == "last_handshake_time_nsec") {
        peer->last_handshake_time_nsec = static_cast<int64_t>(*v);
      }
      if (key == "tx_bytes") peer->tx_bytes = *v;
      if (key == "rx_bytes") peer->rx_bytes = *v;
      if (key == "persistent_keepalive_interval") {
        peer->persistent_keepalive_interval = static_cast<uint16_t>(*v);
      }
    }
    // Anything else (protocol_version, keys newer than this code) is ignored,
    // as wg(8) does.
  }
  return core::Error{core::Code::kDataLoss, "reply ended without errno", {}};
}

int uapiErrno(const core::Error& error) {
  switch (error.code) {
    case core::Code::kDataLoss: return EPROTO;
    case core::Code::kResourceExhausted: return EMSGSIZE;
    case core::Code::kAlreadyExists: return EADDRINUSE;
    case core::Code::kUnavailable: return EIO;
    default: return EINVAL;
  }
}

// ---- Server

namespace {

struct Client {
  enum class State : uint8_t { kCommand, kGet, kSet };
  int fd = -1;
  std::string in;
  std::string out;
  std::string body;
  size_t body_lines = 0;
  State state = State::kCommand;
  bool closing = false;  // close once out is flushed
  bool dead = false;
};

}  // namespace

struct UapiServer::Impl {
  Impl(UapiHandler& h, core::Logger& l, UapiServerOptions o)
      : handler(h), log(l), options(std::move(o)) {}
  ~Impl() {
    for (Client& c : clients) ::close(c.fd);
    if (listen_fd >= 0) ::close(listen_fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void run();
  void acceptAll();
  void readFrom(Client& c);
  void writeTo(Client& c);
  void handleLine(Client& c, std::string_view line);
  void reply(Client& c, std::string_view text, bool close_after = false) {
    c.out += text;
    c.closing = c.closing || close_after;
  }

  UapiHandler& handler;
  core::Logger& log;
  UapiServerOptions options;
  std::string path;
  int listen_fd = -1;
  int wake_fd = -1;
  std::vector<Client> clients;
  std::thread thread;
};

void UapiServer::Impl::run() {
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    fds.push_back({listen_fd, POLLIN, 0});
    for (const Client& c : clients) {
      short events = c.closing ? 0 : POLLIN;
      if (!c.out.empty()) events = static_cast<short>(events | POLLOUT);
      fds.push_back({c.fd, events, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      log.error("uapi poll failed", {{"error", core::errnoText(errno)}});
      return;
    }
    if (fds[0].revents != 0) return;
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      const short re = fds[i + 2].revents;
      if ((re & (POLLIN | POLLHUP | POLLERR)) != 0 && !c.closing) readFrom(c);
      if ((re & (POLLHUP | POLLERR)) != 0 && c.closing) c.dead = true;
      if (!c.dead && !c.out.empty()) writeTo(c);
      if (c.closing && c.out.empty()) c.dead = true;
    }
    std::erase_if(clients, [](const Client& c) {
      if (c.dead) ::close(c.fd);
      return c.dead;
    });
    if ((fds[1].revents & POLLIN) != 0) acceptAll();
  }
}

void UapiServer::Impl::acceptAll() {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (clients.size() >= options.max_clients) {
      log.warn("uapi: too many connections, closing one", {{"max", options.max_clients}});
      ::close(fd);
      continue;
    }
    Client c;
    c.fd = fd;
    clients.push_back(std::move(c));
  }
}

void UapiServer::Impl::readFrom(Client& c) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(c.fd, buf, sizeof(buf));
    if (n == 0) {
      // The client went away; a half-sent set is simply dropped.
      c.dead = true;
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
      break;
    }
    c.in.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (;;) {
      const size_t nl = c.in.find('\n', start);
      if (nl == std::string::npos) break;
      handleLine(c, std::string_view(c.in).substr(start, nl - start));
      start = nl + 1;
      if (c.closing) break;
    }
    c.in.erase(0, start);
    if (c.closing) {
      c.in.clear();
      return;
    }
    if (c.in.size() > options.max_line_bytes) {
      log.warn("uapi: line too long, closing connection");
      reply(c, errnoLine(EMSGSIZE), true);
      return;
    }
  }
}

void UapiServer::Impl::writeTo(Client& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
      return;
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
}

void UapiServer::Impl::handleLine(Client& c, std::string_view line) {
  if (line.size() > options.max_line_bytes) {
    log.warn("uapi: line too long, closing connection");
    reply(c, errnoLine(EMSGSIZE), true);
    return;
  }
  switch (c.state) {
    case Client::State::kCommand:
      if (line == "get=1") {
        c.state = Client::State::kGet;
      } else if (line == "set=1") {
        c.state = Client::State::kSet;
        c.body.clear();
        c.body_lines = 0;
      } else {
        log.warn("uapi: unknown operation, closing connection");
        reply(c, errnoLine(EINVAL), true);
      }
      return;
    case Client::State::kGet:
      c.state = Client::State::kCommand;
      if (!line.empty()) {
        reply(c, errnoLine(EINVAL), true);
        return;
      }
      reply(c, formatGetResponse(handler.getState()));
      return;
    case Client::State::kSet:
      if (!line.empty()) {
        if (++c.body_lines > options.max_request_lines) {
          log.warn("uapi: set request too long, closing connection",
                   {{"max_lines", options.max_request_lines}});
          reply(c, errnoLine(EMSGSIZE), true);
          return;
        }
        c.body.append(line);
        c.body.push_back('\n');
        return;
      }
      c.state = Client::State::kCommand;
      {
        auto change = parseSetRequest(c.body);
        explicit_bzero(c.body.data(), c.body.size());  // it may hold keys
        c.body.clear();
        if (!change.ok()) {
          log.warn("uapi: rejected set request", {{"error", change.error().message}});
          reply(c, errnoLine(uapiErrno(change.error())));
          return;
        }
        const int err = handler.applySet(*change);
        if (err != 0) log.warn("uapi: set request failed", {{"errno", err}});
        reply(c, errnoLine(err < 0 ? -err : err));
      }
      return;
  }
}

core::Result<std::unique_ptr<UapiServer>> UapiServer::start(std::string_view ifname,
                                                            UapiHandler& handler, core::Logger& log,
                                                            UapiServerOptions options) {
  AUREO_RETURN_IF_ERROR(validateInterfaceName(ifname));
  auto impl = std::make_unique<Impl>(handler, log, std::move(options));
  const std::string& dir = impl->options.socket_dir;
  impl->path = dir + "/" + std::string(ifname) + ".sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (impl->path.size() >= sizeof(addr.sun_path)) {
    return core::invalidArgument("uapi socket path too long: " + impl->path);
  }
  std::memcpy(addr.sun_path, impl->path.c_str(), impl->path.size() + 1);

  if (::mkdir(dir.c_str(), 0755) == 0) {
    ::chmod(dir.c_str(), 0755);  // whatever the umask said
  } else if (errno != EEXIST) {
    return core::unavailable("mkdir " + dir + ": " + core::errnoText(errno));
  }
  impl->listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl->listen_fd < 0)
    return core::unavailable(std::string("socket: ") + core::errnoText(errno));

  struct stat st;
  if (::lstat(impl->path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return core::failedPrecondition(impl->path + " exists and is not a socket");
    }
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live =
        probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (probe >= 0) ::close(probe);
    if (live) return core::alreadyExists(impl->path + " is served by another process");
    ::unlink(impl->path.c_str());  // stale, left by a crashed process
  }
  if (::bind(impl->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return core::unavailable("bind " + impl->path + ": " + core::errnoText(errno));
  }
  // Nobody can connect before listen(), so tightening the mode here is not racy.
  if (::chmod(impl->path.c_str(), 0600) != 0 || ::listen(impl->listen_fd, 16) != 0) {
    const std::string err = core::errnoText(errno);
    ::unlink(impl->path.c_str());
    return core::unavailable("listen " + impl->path + ": " + err);
  }
  impl->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->wake_fd < 0) {
    ::unlink(impl->path.c_str());
    return core::unavailable(std::string("eventfd: ") + core::errnoText(errno));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  log.info("uapi listening", {{"path", impl->path}});
  return std::unique_ptr<UapiServer>(new UapiServer(std::move(impl)));
}

UapiServer::UapiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

UapiServer::~UapiServer() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(impl_->wake_fd, &one, sizeof(one));
  if (impl_->thread.joinable()) impl_->thread.join();
  ::unlink(impl_->path.c_str());
}

const std::string& UapiServer::socketPath() const {
  return impl_->path;
}

}  // namespace aureo::wireguard
