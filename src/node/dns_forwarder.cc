#include "node/dns_forwarder.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <optional>
#include <thread>
#include <variant>

#include "core/errno_text.h"
#include "core/ids.h"
#include "node/dns_message.h"

namespace aureo::node {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxInflight = 16384;  // ids are 16 bits; keep them sparse
constexpr uint32_t kNoSlot = 0;         // slot_by_id holds slot index + 1
constexpr size_t kMaxUdpAnswer = 65535;
constexpr size_t kMaxTcpMessage = 65535;

asio::ip::address toAsio(const core::IpAddress& a) {
  if (a.isV4()) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(a.bytes().begin(), 4, b.begin());
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b;
  std::copy_n(a.bytes().begin(), 16, b.begin());
  return asio::ip::address_v6(b);
}

core::IpAddress fromAsio(const asio::ip::address& a) {
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return core::IpAddress::fromBytes(core::IpAddress::Family::kV4, b.data());
  }
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    const auto b = asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_bytes();
    return core::IpAddress::fromBytes(core::IpAddress::Family::kV4, b.data());
  }
  const auto b = v6.to_bytes();
  return core::IpAddress::fromBytes(core::IpAddress::Family::kV6, b.data());
}

// Restricts a socket to packets that arrived on `device`, and lets it bind
// the gateway address even in the instant before the kernel shows it.
template <typename Socket>
core::Status pinToDevice(Socket& s, const std::string& device) {
  if (device.empty()) return core::okStatus();
  const int fd = s.native_handle();
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device.data(),
                   static_cast<socklen_t>(device.size())) != 0) {
    return core::failedPrecondition("SO_BINDTODEVICE " + device + ": " + core::errnoText(errno));
  }
  const int one = 1;
  ::setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof one);
  return core::okStatus();
}

std::string describe(const DnsEndpoint& e) {
  const std::string host =
      e.address.isV4() ? e.address.toString() : "[" + e.address.toString() + "]";
  return host + ":" + std::to_string(e.port);
}

// One UDP query waiting for an upstream answer. The query bytes are kept
// (with the upstream id in them) for the next upstream and for SERVFAIL.
struct Slot {
  explicit Slot(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  uint32_t generation = 0;  // bumped on release, so a stale timer does nothing
  bool in_use = false;
  uint16_t client_id = 0;
  uint16_t upstream_id = 0;
  size_t listener = 0;
  size_t attempt = 0;  // index into upstreams
  udp::endpoint client;
  dns::Query query;
  size_t length = 0;
  std::array<uint8_t, dns::kMaxQuerySize> bytes{};
};

}  // namespace

core::Result<DnsEndpoint> parseDnsEndpoint(std::string_view text) {
  if (auto ip = core::IpAddress::parse(text)) return DnsEndpoint{*ip, 53};
  if (auto hp = core::parseHostPort(text)) {
    if (auto ip = core::IpAddress::parse(hp->host); ip && hp->port != 0) {
      return DnsEndpoint{*ip, hp->port};
    }
  }
  return core::invalidArgument("'" + std::string(text) +
                               "' is no DNS server address (IP, IP:PORT or [IPv6]:PORT)");
}

std::string_view dnsDropName(DnsDrop reason) {
  switch (reason) {
    case DnsDrop::kMalformed: return "malformed";
    case DnsDrop::kNotTunnel: return "not_tunnel";
    case DnsDrop::kInflightLimit: return "inflight_limit";
    case DnsDrop::kTcpLimit: return "tcp_limit";
    case DnsDrop::kBadUpstreamAnswer: return "bad_upstream_answer";
    case DnsDrop::kCount: break;
  }
  return "unknown";
}

struct DnsForwarder::Impl {
  Impl(DnsForwarderOptions o, core::Logger& l) : options(std::move(o)), log(l) {}
  ~Impl() {
    if (io) io->stop();
    if (thread.joinable()) thread.join();
    // Sockets and timers go before the context; the context then destroys
    // the suspended coroutines, whose guards still find tcp_open alive.
    slots.clear();
    listeners.clear();
    acceptors.clear();
    upstream_v4.reset();
    upstream_v6.reset();
    io.reset();
  }

  DnsForwarderOptions options;
  core::Logger& log;
  std::optional<asio::io_context> io{std::in_place, 1};
  std::vector<udp::socket> listeners;
  std::vector<tcp::acceptor> acceptors;
  std::optional<udp::socket> upstream_v4;
  std::optional<udp::socket> upstream_v6;
  std::vector<udp::endpoint> upstreams;
  std::vector<tcp::endpoint> tcp_upstreams;
  std::vector<Slot> slots;
  std::vector<uint32_t> free_slots;
  std::vector<uint32_t> slot_by_id = std::vector<uint32_t>(65536, kNoSlot);
  std::array<uint16_t, 256> random_ids{};
  size_t random_next = random_ids.size();
  std::vector<uint8_t> client_rx;  // one for all listeners: one thread, one packet at a time
  std::vector<uint8_t> upstream_rx;
  std::array<uint8_t, dns::kMaxQuerySize> tx{};
  size_t tcp_open = 0;
  std::thread thread;

  std::atomic<uint64_t> udp_queries{0}, tcp_queries{0}, answered{0}, servfail{0},
      upstream_failures{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(DnsDrop::kCount)> drops{};

  void drop(DnsDrop reason) { drops[static_cast<size_t>(reason)].fetch_add(1); }

  bool allowed(const asio::ip::address& a) const {
    const core::IpAddress ip = fromAsio(a);
    for (const auto& p : options.allowed_sources) {
      if (p.contains(ip)) return true;
    }
    return false;
  }

  uint16_t randomId() {
    if (random_next == random_ids.size()) {
      core::randomBytes(random_ids.data(), sizeof random_ids);
      random_next = 0;
    }
    return random_ids[random_next++];
  }

  udp::socket* upstreamSocket(const udp::endpoint& e) {
    auto& s = e.address().is_v4() ? upstream_v4 : upstream_v6;
    return s ? &*s : nullptr;
  }

  core::Status bind(const asio::any_io_executor& ex);
  awaitable<void> clientLoop(size_t listener);
  awaitable<void> upstreamLoop(udp::socket& socket);
  awaitable<void> acceptLoop(size_t i);
  awaitable<void> serveTcp(tcp::socket client);
  awaitable<size_t> tcpExchange(const tcp::endpoint& upstream, std::span<const uint8_t> query,
                                const dns::Query& parsed, std::vector<uint8_t>& answer);
  void onClientPacket(size_t listener, const udp::endpoint& from, std::span<const uint8_t> packet);
  void onUpstreamPacket(const udp::endpoint& from, std::span<uint8_t> packet);
  void sendToNextUpstream(uint32_t index);
  void release(uint32_t index);
};

core::Status DnsForwarder::Impl::bind(const asio::any_io_executor& ex) {
  for (const auto& l : options.listen) {
    const auto addr = toAsio(l.address);
    const std::string where = describe(l);
    error_code ec;
    udp::socket u(ex);
    u.open(addr.is_v4() ? udp::v4() : udp::v6(), ec);
    if (!ec) {
      AUREO_RETURN_IF_ERROR(pinToDevice(u, options.bind_device));
      u.bind({addr, l.port}, ec);
    }
    if (ec) return core::unavailable("cannot listen for DNS on UDP " + where + ": " + ec.message());
    u.non_blocking(true, ec);
    listeners.push_back(std::move(u));

    tcp::acceptor a(ex);
    a.open(addr.is_v4() ? tcp::v4() : tcp::v6(), ec);
    if (!ec) {
      AUREO_RETURN_IF_ERROR(pinToDevice(a, options.bind_device));
      a.set_option(tcp::acceptor::reuse_address(true), ec);
      a.bind({addr, l.port}, ec);
    }
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return core::unavailable("cannot listen for DNS on TCP " + where + ": " + ec.message());
    acceptors.push_back(std::move(a));
  }
  for (const auto& u : options.upstreams) {
    upstreams.emplace_back(toAsio(u.address), u.port);
    tcp_upstreams.emplace_back(toAsio(u.address), u.port);
    auto& s = u.address.isV4() ? upstream_v4 : upstream_v6;
    if (s) continue;
    error_code ec;
    s.emplace(ex);
    s->open(u.address.isV4() ? udp::v4() : udp::v6(), ec);
    if (!ec) s->bind({u.address.isV4() ? udp::v4() : udp::v6(), 0}, ec);
    if (!ec) s->non_blocking(true, ec);
    if (ec)
      return core::unavailable("cannot open a socket towards " + describe(u) + ": " + ec.message());
  }
  return core::okStatus();
}

awaitable<void> DnsForwarder::Impl::clientLoop(size_t listener) {
  udp::endpoint from;
  for (;;) {
    auto [ec, n] =
        co_await listeners[listener].async_receive_from(asio::buffer(client_rx), from, kTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;  // e.g. an ICMP error reported on the socket
    onClientPacket(listener, from, std::span<const uint8_t>(client_rx.data(), n));
  }
}

void DnsForwarder::Impl::onClientPacket(size_t listener, const udp::endpoint& from,
                                        std::span<const uint8_t> packet) {
  if (!allowed(from.address())) return drop(DnsDrop::kNotTunnel);
  const auto query = dns::parseQuery(packet);  // rejects what filled client_rx to the brim
  if (!query) return drop(DnsDrop::kMalformed);
  if (free_slots.empty()) return drop(DnsDrop::kInflightLimit);
  const uint32_t index = free_slots.back();
  free_slots.pop_back();
  Slot& s = slots[index];
  s.in_use = true;
  s.client_id = query->id;
  s.listener = listener;
  s.client = from;
  s.attempt = 0;
  s.query = *query;
  s.length = packet.size();
  std::copy(packet.begin(), packet.end(), s.bytes.begin());
  // A fresh random id that no other waiting query holds: answers are
  // matched by it, so two clients both using id 1 stay apart.
  uint16_t id = randomId();
  while (slot_by_id[id] != kNoSlot) id = randomId();
  s.upstream_id = id;
  slot_by_id[id] = index + 1;
  dns::setMessageId(std::span<uint8_t>(s.bytes.data(), s.length), id);
  udp_queries.fetch_add(1);
  sendToNextUpstream(index);
}

void DnsForwarder::Impl::sendToNextUpstream(uint32_t index) {
  Slot& s = slots[index];
  for (; s.attempt < upstreams.size(); ++s.attempt) {
    udp::socket* socket = upstreamSocket(upstreams[s.attempt]);
    error_code ec;
    if (socket != nullptr) {
      socket->send_to(asio::buffer(s.bytes.data(), s.length), upstreams[s.attempt], 0, ec);
    }
    if (socket == nullptr || ec) {
      upstream_failures.fetch_add(1);
      continue;
    }
    s.timer.expires_after(options.upstream_timeout);
    s.timer.async_wait([this, index, generation = s.generation](const error_code& wait_ec) {
      Slot& t = slots[index];
      if (wait_ec || !t.in_use || t.generation != generation) return;
      upstream_failures.fetch_add(1);
      ++t.attempt;
      sendToNextUpstream(index);
    });
    return;
  }
  // Every upstream failed.
  const size_t n = dns::writeServfail(std::span<const uint8_t>(s.bytes.data(), s.length), s.query,
                                      std::span<uint8_t>(tx));
  if (n > 0) {
    dns::setMessageId(std::span<uint8_t>(tx.data(), n), s.client_id);
    error_code ec;
    listeners[s.listener].send_to(asio::buffer(tx.data(), n), s.client, 0, ec);
    servfail.fetch_add(1);
  }
  release(index);
}

void DnsForwarder::Impl::release(uint32_t index) {
  Slot& s = slots[index];
  s.timer.cancel();
  slot_by_id[s.upstream_id] = kNoSlot;
  s.in_use = false;
  ++s.generation;
  free_slots.push_back(index);
}

awaitable<void> DnsForwarder::Impl::upstreamLoop(udp::socket& socket) {
  udp::endpoint from;
  for (;;) {
    auto [ec, n] = co_await socket.async_receive_from(asio::buffer(upstream_rx), from, kTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    onUpstreamPacket(from, std::span<uint8_t>(upstream_rx.data(), n));
  }
}

void DnsForwarder::Impl::onUpstreamPacket(const udp::endpoint& from, std::span<uint8_t> packet) {
  const uint32_t ref = slot_by_id[dns::messageId(packet)];
  if (ref == kNoSlot) return drop(DnsDrop::kBadUpstreamAnswer);
  const uint32_t index = ref - 1;
  Slot& s = slots[index];
  // Only from an upstream this query went to, and only an answer to it.
  bool asked = false;
  for (size_t i = 0; i <= s.attempt && i < upstreams.size(); ++i) asked |= upstreams[i] == from;
  if (!asked || !dns::isResponseTo(packet, s.upstream_id,
                                   std::span<const uint8_t>(s.bytes.data(), s.length), s.query)) {
    return drop(DnsDrop::kBadUpstreamAnswer);
  }
  dns::setMessageId(packet, s.client_id);
  error_code ec;
  listeners[s.listener].send_to(asio::buffer(packet.data(), packet.size()), s.client, 0, ec);
  answered.fetch_add(1);
  release(index);
}

awaitable<void> DnsForwarder::Impl::acceptLoop(size_t i) {
  for (;;) {
    auto [ec, socket] = co_await acceptors[i].async_accept(kTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors and the like: let the moment pass.
      asio::steady_timer pause(acceptors[i].get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(kTuple);
      continue;
    }
    error_code rec;
    const auto remote = socket.remote_endpoint(rec);
    if (rec) continue;
    if (!allowed(remote.address())) {
      drop(DnsDrop::kNotTunnel);
      continue;  // closed by the destructor
    }
    if (tcp_open >= options.max_tcp_connections) {
      drop(DnsDrop::kTcpLimit);
      continue;
    }
    ++tcp_open;
    asio::co_spawn(acceptors[i].get_executor(), serveTcp(std::move(socket)), asio::detached);
  }
}

awaitable<void> DnsForwarder::Impl::serveTcp(tcp::socket client) {
  struct Open {
    size_t& count;
    ~Open() { --count; }
  } open{tcp_open};
  // Per connection, not per query: the largest message TCP can carry.
  std::vector<uint8_t> query(2 + dns::kMaxQuerySize);
  std::vector<uint8_t> answer(2 + kMaxTcpMessage);
  asio::steady_timer idle(client.get_executor());
  for (;;) {
    idle.expires_after(options.tcp_idle_timeout);
    std::array<uint8_t, 2> prefix{};
    auto got = co_await (asio::async_read(client, asio::buffer(prefix), kTuple) ||
                         idle.async_wait(kTuple));
    if (got.index() != 0 || std::get<0>(std::get<0>(got))) co_return;  // idle, closed or reset
    const size_t length = (size_t{prefix[0]} << 8) | prefix[1];
    if (length > dns::kMaxQuerySize || length < dns::kHeaderSize) {
      drop(DnsDrop::kMalformed);
      co_return;
    }
    auto body = co_await (asio::async_read(client, asio::buffer(query.data(), length), kTuple) ||
                          idle.async_wait(kTuple));
    if (body.index() != 0 || std::get<0>(std::get<0>(body))) co_return;
    const std::span<const uint8_t> q(query.data(), length);
    const auto parsed = dns::parseQuery(q);
    if (!parsed) {
      drop(DnsDrop::kMalformed);
      co_return;
    }
    tcp_queries.fetch_add(1);
    size_t n = 0;
    for (const auto& upstream : tcp_upstreams) {
      n = co_await tcpExchange(upstream, q, *parsed, answer);
      if (n > 0) break;
      upstream_failures.fetch_add(1);
    }
    if (n > 0) {
      answered.fetch_add(1);
    } else {
      n = dns::writeServfail(q, *parsed, std::span<uint8_t>(answer).subspan(2));
      servfail.fetch_add(1);
    }
    answer[0] = static_cast<uint8_t>(n >> 8);
    answer[1] = static_cast<uint8_t>(n & 0xFF);
    idle.expires_after(options.tcp_idle_timeout);
    auto sent = co_await (asio::async_write(client, asio::buffer(answer.data(), n + 2), kTuple) ||
                          idle.async_wait(kTuple));
    if (sent.index() != 0 || std::get<0>(std::get<0>(sent))) co_return;
  }
}

// One query over a fresh TCP connection to `upstream`, all of it within
// upstream_timeout. Returns the answer's length (stored after two bytes of
// room in `answer`), 0 on any failure.
awaitable<size_t> DnsForwarder::Impl::tcpExchange(const tcp::endpoint& upstream,
                                                  std::span<const uint8_t> query,
                                                  const dns::Query& parsed,
                                                  std::vector<uint8_t>& answer) {
  const auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  asio::steady_timer deadline(ex);
  deadline.expires_after(options.upstream_timeout);
  auto connected = co_await (s.async_connect(upstream, kTuple) || deadline.async_wait(kTuple));
  if (connected.index() != 0 || std::get<0>(std::get<0>(connected))) co_return 0;
  std::array<uint8_t, 2> prefix{static_cast<uint8_t>(query.size() >> 8),
                                static_cast<uint8_t>(query.size() & 0xFF)};
  const std::array<asio::const_buffer, 2> out{asio::buffer(prefix),
                                              asio::buffer(query.data(), query.size())};
  auto wrote = co_await (asio::async_write(s, out, kTuple) || deadline.async_wait(kTuple));
  if (wrote.index() != 0 || std::get<0>(std::get<0>(wrote))) co_return 0;
  auto head =
      co_await (asio::async_read(s, asio::buffer(prefix), kTuple) || deadline.async_wait(kTuple));
  if (head.index() != 0 || std::get<0>(std::get<0>(head))) co_return 0;
  const size_t length = (size_t{prefix[0]} << 8) | prefix[1];
  auto body = co_await (asio::async_read(s, asio::buffer(answer.data() + 2, length), kTuple) ||
                        deadline.async_wait(kTuple));
  if (body.index() != 0 || std::get<0>(std::get<0>(body))) co_return 0;
  const std::span<const uint8_t> a(answer.data() + 2, length);
  if (!dns::isResponseTo(a, dns::messageId(query), query, parsed)) {
    drop(DnsDrop::kBadUpstreamAnswer);
    co_return 0;
  }
  co_return length;
}

DnsForwarder::DnsForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DnsForwarder::~DnsForwarder() = default;

core::Result<std::unique_ptr<DnsForwarder>> DnsForwarder::start(DnsForwarderOptions options,
                                                                core::Logger& log) {
  if (options.listen.empty()) return core::invalidArgument("no DNS listen address");
  if (options.upstreams.empty()) return core::invalidArgument("no upstream DNS server");
  if (options.max_inflight == 0 || options.max_inflight > kMaxInflight) {
    return core::invalidArgument("max_inflight must be 1.." + std::to_string(kMaxInflight));
  }
  auto impl = std::make_unique<Impl>(std::move(options), log);
  Impl& m = *impl;
  const auto ex = m.io->get_executor();
  AUREO_RETURN_IF_ERROR(m.bind(ex));
  m.slots.reserve(m.options.max_inflight);
  m.free_slots.reserve(m.options.max_inflight);
  for (size_t i = 0; i < m.options.max_inflight; ++i) {
    m.slots.emplace_back(ex);
    m.free_slots.push_back(static_cast<uint32_t>(m.options.max_inflight - 1 - i));
  }
  m.client_rx.resize(dns::kMaxQuerySize + 1);  // a bigger datagram reads as too long
  m.upstream_rx.resize(kMaxUdpAnswer);
  for (size_t i = 0; i < m.listeners.size(); ++i) {
    asio::co_spawn(ex, m.clientLoop(i), asio::detached);
    asio::co_spawn(ex, m.acceptLoop(i), asio::detached);
  }
  for (auto* s : {&m.upstream_v4, &m.upstream_v6}) {
    if (*s) asio::co_spawn(ex, m.upstreamLoop(**s), asio::detached);
  }
  m.thread = std::thread([&m] { m.io->run(); });
  std::string listening;
  for (const auto& l : m.options.listen) listening += (listening.empty() ? "" : ", ") + describe(l);
  std::string upstreams;
  for (const auto& u : m.options.upstreams)
    upstreams += (upstreams.empty() ? "" : ", ") + describe(u);
  log.info("DNS resolver up", {{"listen", listening}, {"upstreams", upstreams}});
  return std::unique_ptr<DnsForwarder>(new DnsForwarder(std::move(impl)));
}

uint16_t DnsForwarder::udpPort(size_t i) const {
  error_code ec;
  return impl_->listeners.at(i).local_endpoint(ec).port();
}

uint16_t DnsForwarder::tcpPort(size_t i) const {
  error_code ec;
  return impl_->acceptors.at(i).local_endpoint(ec).port();
}

DnsStats DnsForwarder::stats() const {
  DnsStats s;
  s.udp_queries = impl_->udp_queries.load();
  s.tcp_queries = impl_->tcp_queries.load();
  s.answered = impl_->answered.load();
  s.servfail = impl_->servfail.load();
  s.upstream_failures = impl_->upstream_failures.load();
  for (size_t i = 0; i < s.drops.size(); ++i) s.drops[i] = impl_->drops[i].load();
  return s;
}

}  // namespace aureo::node
