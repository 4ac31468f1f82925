#include "client/connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "client/cidr_set.h"
#include "client/teardown.h"
#include "netcfg/cgroup.h"
#include "netcfg/netlink.h"
#include "netcfg/nftables.h"
#include "netcfg/resolv.h"
#include "netcfg/rulesets.h"
#include "netcfg/sysctl.h"
#include "wireguard/keys.h"
#include "wireguard/linux_device.h"
#include "wireguard/uapi.h"

namespace aureo::client {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Family = core::IpAddress::Family;

constexpr seconds kPersistentKeepalive{25};
constexpr seconds kMaxReconnectBackoff{30};
constexpr uint16_t kDnsPort = 53;

// What the API offers for one session.
struct Offer {
  std::string session_id;
  std::string node_id;
  std::string node_name;
  std::string node_country;
  wireguard::Endpoint endpoint;
  wireguard::PublicKey node_key;
  std::string node_key_text;
  core::IpAddress tunnel_v4;
  std::optional<core::IpAddress> tunnel_v6;
  std::vector<core::IpAddress> dns;  // the session's resolvers; empty: none offered
};

core::Result<Offer> parseOffer(const Json& r) {
  const Json session = r.value("session", Json::object());
  const Json node = r.value("node", Json::object());
  Offer o;
  o.session_id = session.value("id", "");
  o.node_id = node.value("id", "");
  o.node_name = node.value("name", "");
  o.node_country = node.value("country", "");
  if (o.session_id.empty() || o.node_id.empty()) {
    return core::unavailable("the server's answer names no session or node");
  }
  auto address = core::IpAddress::parse(node.value("public_ip", ""));
  const int64_t port = node.value("wg_port", int64_t{0});
  if (!address || port <= 0 || port > 65535) {
    return core::unavailable(
        fmt::format("node {} has no usable public address and port", o.node_name));
  }
  o.endpoint = {*address, static_cast<uint16_t>(port)};
  o.node_key_text = node.value("wg_public_key", "");
  auto key = wireguard::parsePublicKey(o.node_key_text);
  if (!key) return core::unavailable(fmt::format("node {} has no valid public key", o.node_name));
  o.node_key = *key;
  auto v4 = core::IpAddress::parse(session.value("tunnel_ip", ""));
  if (!v4 || !v4->isV4()) return core::unavailable("the session has no IPv4 tunnel address");
  o.tunnel_v4 = *v4;
  const std::string v6_text = session.value("tunnel_ipv6", "");
  if (!v6_text.empty()) {
    auto v6 = core::IpAddress::parse(v6_text);
    if (!v6 || v6->isV4()) return core::unavailable("the session's IPv6 tunnel address is bad");
    o.tunnel_v6 = *v6;
  }
  // The resolvers the session's config names. Only a list of addresses is
  // taken; anything else leaves the client on its own resolvers.
  if (auto it = r.find("dns"); it != r.end() && it->is_array() && it->size() <= 8) {
    std::vector<core::IpAddress> dns;
    for (const auto& d : *it) {
      auto ip = d.is_string() ? core::IpAddress::parse(d.get<std::string>()) : std::nullopt;
      if (!ip) {
        dns.clear();
        break;
      }
      dns.push_back(*ip);
    }
    // An IPv6 resolver is of no use while IPv6 is blocked (no tunnel address).
    if (!o.tunnel_v6) std::erase_if(dns, [](const core::IpAddress& ip) { return !ip.isV4(); });
    o.dns = std::move(dns);
  }
  return o;
}

core::Cidr hostPrefix(const core::IpAddress& ip) {
  return {ip, ip.bitLength()};
}

bool ignorable(const core::Status& st) {
  return st.ok() || st.error().code == core::Code::kNotFound;
}

// Sleeps for d unless stop is requested first; false when stopped.
bool sleepFor(const std::stop_token& stop, milliseconds d) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

// A DNS query for the root's NS records: any resolver answers it, and the
// answer coming back through the tunnel proves the node still forwards.
void sendProbe(const core::IpAddress& resolver) {
  static constexpr uint8_t kQuery[] = {0x61, 0x75, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                       0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01};
  wireguard::Endpoint to{resolver, kDnsPort};
  sockaddr_storage sa{};
  const socklen_t len = to.toSockaddr(&sa, false);
  const int fd =
      ::socket(resolver.isV4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  (void)::sendto(fd, kQuery, sizeof(kQuery), 0, reinterpret_cast<const sockaddr*>(&sa), len);
  ::close(fd);
}

}  // namespace

core::Result<std::vector<netcfg::Endpoint>> resolveApiEndpoints(const std::string& url) {
  std::string_view rest = url;
  uint16_t port = 80;
  if (rest.starts_with("https://")) {
    port = 443;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return core::invalidArgument(fmt::format("the server URL '{}' is not http(s)", url), "server");
  }
  rest = rest.substr(0, rest.find('/'));
  std::string host;
  if (rest.starts_with("[")) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return core::invalidArgument("bad server URL", "server");
    host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
  } else {
    const size_t colon = rest.find(':');
    host = std::string(rest.substr(0, colon));
    rest.remove_prefix(colon == std::string_view::npos ? rest.size() : colon);
  }
  if (rest.starts_with(":")) {
    auto hp = core::parseHostPort("h" + std::string(rest));
    if (!hp) return core::invalidArgument("bad port in the server URL", "server");
    port = hp->port;
  }
  std::vector<netcfg::Endpoint> out;
  if (auto literal = core::IpAddress::parse(host)) {
    out.push_back({*literal, port});
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &result); rc != 0) {
    return core::unavailable(fmt::format("cannot resolve {}: {}", host, ::gai_strerror(rc)));
  }
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    uint8_t bytes[16] = {};
    if (ai->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      std::memcpy(bytes, &sin->sin_addr, 4);
      out.push_back({core::IpAddress::fromBytes(Family::kV4, bytes), port});
    } else if (ai->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      std::memcpy(bytes, &sin6->sin6_addr, 16);
      out.push_back({core::IpAddress::fromBytes(Family::kV6, bytes), port});
    }
  }
  ::freeaddrinfo(result);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.address < b.address; });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const auto& a, const auto& b) { return a.address == b.address; }),
            out.end());
  return out;
}

fs::path statePath(const fs::path& run_dir) {
  return run_dir / "state.json";
}

struct Connection::Impl {
  Impl(const ConnectOptions& o, ApiCall call, core::Clock& c, core::Logger& l)
      : options(o), api(std::move(call)), clock(c), log(l) {}

  ConnectOptions options;
  ApiCall api;
  core::Clock& clock;
  core::Logger& log;

  mutable std::mutex state_mutex;
  ConnectionState state;  // guarded by state_mutex

  wireguard::PrivateKey private_key;
  std::string public_key;
  std::vector<core::IpAddress> resolvers;
  std::vector<netcfg::Endpoint> api_endpoints;
  std::vector<core::Cidr> tunnel_v4;  // routed through the tunnel
  std::vector<core::Cidr> tunnel_v6;  // empty: IPv6 blocked
  std::optional<netcfg::CgroupMatch> cgroup;
  Offer offer;
  std::unique_ptr<wireguard::LinuxDevice> device;
  std::unique_ptr<wireguard::UapiServer> uapi;

  core::Status save() {
    ConnectionState copy;
    {
      std::lock_guard lock(state_mutex);
      copy = state;
    }
    return saveState(statePath(options.run_dir), copy);
  }
  template <typename F>
  core::Status update(F&& change) {
    {
      std::lock_guard lock(state_mutex);
      change(state);
    }
    return save();
  }

  core::Result<Offer> openSession(const std::string& node_id) {
    Json body{{"protocol", "wireguard"}, {"client_public_key", public_key}};
    if (!node_id.empty()) {
      body["node_id"] = node_id;
    } else if (!options.country.empty()) {
      body["country"] = options.country;
    }
    AUREO_ASSIGN_OR_RETURN(Json r, api("POST", "/api/v1/sessions", body));
    auto o = parseOffer(r);
    if (!o.ok()) {
      // A session we cannot use must not hold a device slot.
      const std::string id = r.value("session", Json::object()).value("id", "");
      if (!id.empty()) (void)api("DELETE", "/api/v1/sessions/" + id, nullptr);
    }
    return o;
  }

  void closeSession(const std::string& id) {
    if (id.empty()) return;
    auto r = api("DELETE", "/api/v1/sessions/" + id, nullptr);
    if (!r.ok() && r.error().code != core::Code::kNotFound) {
      log.warn("could not end the session", {{"session_id", id}, {"error", r.error().message}});
    }
  }

  // The prefixes routed through the tunnel for one family.
  std::vector<core::Cidr> tunnelSet(Family family) const {
    std::vector<core::Cidr> set;
    if (!options.split_include.empty()) {
      for (const auto& c : options.split_include) {
        if (c.address().family() == family) set.push_back(c);
      }
    } else {
      set = complement(options.split_exclude, family);
    }
    if (set.empty()) return set;
    for (const auto& r : resolvers) {
      if (r.family() == family && !covers(set, hostPrefix(r))) set.push_back(hostPrefix(r));
    }
    return set;
  }

  std::vector<core::Cidr> bypass() const {
    auto out = complement(tunnel_v4, Family::kV4);
    if (!tunnel_v6.empty()) {
      auto v6 = complement(tunnel_v6, Family::kV6);
      out.insert(out.end(), v6.begin(), v6.end());
    }
    return out;
  }

  // Records a table, then applies it (replacing any earlier version atomically).
  core::Status applyTable(const std::string& name, const std::string& script) {
    bool known = false;
    {
      std::lock_guard lock(state_mutex);
      known = std::find(state.nft_tables.begin(), state.nft_tables.end(), name) !=
              state.nft_tables.end();
    }
    if (!known) AUREO_RETURN_IF_ERROR(update([&](auto& s) { s.nft_tables.push_back(name); }));
    AUREO_ASSIGN_OR_RETURN(auto nft, netcfg::Nftables::open());
    if (auto st = nft.applyRuleset(script); !st.ok()) {
      return core::Error{
          st.error().code,
          fmt::format("cannot apply the nftables table {}: {}", name, st.error().message),
          {}};
    }
    return {};
  }

  // The tables that name the endpoint: applied at connect and on every
  // reconnect, each replaced in one step so protection never lapses.
  core::Status applyKillSwitch(const std::vector<netcfg::Endpoint>& endpoints) {
    netcfg::KillSwitchSpec ks;
    ks.tunnel_interface = options.interface_name;
    ks.endpoints = endpoints;
    ks.allow_lan = options.allow_lan;
    ks.fwmark = options.fwmark;
    ks.excluded_cgroup = cgroup;
    ks.bypass = bypass();
    ks.tcp_endpoints = api_endpoints;
    AUREO_ASSIGN_OR_RETURN(auto script, netcfg::killSwitch(ks));
    return applyTable(ks.table, script);
  }

  core::Status applyEndpointTables() {
    std::vector<netcfg::Endpoint> endpoints{{offer.endpoint.address, offer.endpoint.port}};
    if (options.kill_switch) AUREO_RETURN_IF_ERROR(applyKillSwitch(endpoints));
    if (tunnel_v6.empty()) {
      netcfg::Ipv6BlockSpec v6;
      for (const auto& e : endpoints) {
        if (!e.address.isV4()) v6.allowed_endpoints.push_back(e);
      }
      AUREO_ASSIGN_OR_RETURN(auto script, netcfg::ipv6Block(v6));
      AUREO_RETURN_IF_ERROR(applyTable(v6.table, script));
    }
    return {};
  }

  // DNS only to the resolvers, only through the tunnel: at connect, and again
  // when a reconnect brings other resolvers.
  core::Status applyDnsTable() {
    netcfg::DnsSpec dns;
    dns.tunnel_interface = options.interface_name;
    dns.resolvers = resolvers;
    dns.excluded_cgroup = cgroup;
    AUREO_ASSIGN_OR_RETURN(auto dns_script, netcfg::dnsLeak(dns));
    return applyTable(dns.table, dns_script);
  }

  // Without --dns the client uses the resolvers the session offers (the
  // node's own resolver, usually). True when that changed them.
  bool adoptOfferedDns(const Offer& o) {
    if (!options.dns.empty() || o.dns.empty() || o.dns == resolvers) return false;
    resolvers = o.dns;
    std::lock_guard lock(state_mutex);
    state.dns.clear();
    for (const auto& r : resolvers) state.dns.push_back(r.toString());
    return true;
  }

  // Depends on the tunnel addresses: applied at connect and on every
  // reconnect.
  core::Status applyMarkTable() {
    netcfg::TunnelMarkSpec mark;
    mark.tunnel_interface = options.interface_name;
    for (const auto& a : addressesOf(offer)) mark.tunnel_addresses.push_back(a.address);
    mark.fwmark = options.fwmark;
    AUREO_ASSIGN_OR_RETURN(auto script, netcfg::tunnelMark(mark));
    return applyTable(mark.table, script);
  }

  core::Status addPeer() {
    wireguard::PeerConfig peer;
    peer.public_key = offer.node_key;
    peer.endpoint = offer.endpoint;
    peer.persistent_keepalive = kPersistentKeepalive;
    peer.allowed_ips = tunnel_v4;
    peer.allowed_ips.insert(peer.allowed_ips.end(), tunnel_v6.begin(), tunnel_v6.end());
    peer.replace_allowed_ips = true;
    return device->device().addOrUpdatePeer(peer);
  }

  std::vector<netcfg::InterfaceAddress> addressesOf(const Offer& o) const {
    std::vector<netcfg::InterfaceAddress> out{{o.tunnel_v4, 32}};
    if (!tunnel_v6.empty() && o.tunnel_v6) out.push_back({*o.tunnel_v6, 128});
    return out;
  }

  core::Status addAddresses(netcfg::Netlink& nl, const std::vector<netcfg::InterfaceAddress>& as) {
    for (const auto& a : as) {
      AUREO_RETURN_IF_ERROR(update([&](auto& s) {
        const std::string text = a.toString();
        if (std::find(s.addresses.begin(), s.addresses.end(), text) == s.addresses.end()) {
          s.addresses.push_back(text);
        }
      }));
      auto st = nl.addAddress(options.interface_name, a);
      if (!st.ok() && st.error().code != core::Code::kAlreadyExists) return st;
    }
    return {};
  }

  core::Status addRule(netcfg::Netlink& nl, const netcfg::Rule& rule) {
    AUREO_RETURN_IF_ERROR(update([&](auto& s) { s.rules.push_back(rule); }));
    if (auto st = nl.addRule(rule); !st.ok()) {
      return core::Error{
          st.error().code,
          fmt::format("cannot add the rule '{}': {}", rule.toString(), st.error().message),
          {}};
    }
    return {};
  }

  // Routes and rules in the style of wg-quick: the tunnel's prefixes live in
  // their own table, looked up by everything but the engine's marked UDP;
  // more specific routes of the main table (the LAN, the endpoint's subnet)
  // still win; the API always goes the ordinary way.
  core::Status setUpRouting(netcfg::Netlink& nl) {
    AUREO_ASSIGN_OR_RETURN(const int ifindex, nl.linkIndex(options.interface_name));
    for (const auto* set : {&tunnel_v4, &tunnel_v6}) {
      for (const auto& prefix : *set) {
        netcfg::Route route;
        route.destination = prefix;
        route.oif = ifindex;
        route.table = options.fwmark;
        AUREO_RETURN_IF_ERROR(nl.replaceRoute(route));
      }
    }
    for (const Family family : {Family::kV4, Family::kV6}) {
      if (family == Family::kV6 && tunnel_v6.empty()) continue;
      for (const auto& e : api_endpoints) {
        if (e.address.family() != family) continue;
        netcfg::Rule api_rule;
        api_rule.family = family;
        api_rule.priority = options.rule_priority;
        api_rule.to = hostPrefix(e.address);
        api_rule.table = netcfg::kTableMain;
        AUREO_RETURN_IF_ERROR(addRule(nl, api_rule));
      }
      netcfg::Rule main_rule;
      main_rule.family = family;
      main_rule.priority = options.rule_priority + 1;
      main_rule.table = netcfg::kTableMain;
      main_rule.suppress_prefixlength = 0;
      AUREO_RETURN_IF_ERROR(addRule(nl, main_rule));
      netcfg::Rule tunnel_rule;
      tunnel_rule.family = family;
      tunnel_rule.priority = options.rule_priority + 2;
      tunnel_rule.fwmark = options.fwmark;
      tunnel_rule.invert = true;
      tunnel_rule.table = options.fwmark;
      AUREO_RETURN_IF_ERROR(addRule(nl, tunnel_rule));
    }
    return {};
  }

  core::Status setSysctl(std::string_view key, std::string_view value) {
    AUREO_ASSIGN_OR_RETURN(auto previous, netcfg::readSysctl(key));
    if (previous == value) return {};
    AUREO_RETURN_IF_ERROR(update([&](auto& s) { s.sysctls.emplace(std::string(key), previous); }));
    return netcfg::writeSysctl(key, value);
  }

  core::Status waitForHandshake(const std::stop_token& stop) {
    const auto deadline = clock.steadyNow() + options.handshake_timeout;
    while (clock.steadyNow() < deadline) {
      auto stats = device->device().peerStats(offer.node_key);
      if (stats && stats->last_handshake) return {};
      if (device->interfaceGone()) return core::unavailable("the tunnel interface disappeared");
      if (!sleepFor(stop, milliseconds(50)))
        return core::Error{core::Code::kCancelled, "stopped", {}};
    }
    return core::unavailable(
        fmt::format("no handshake with node {} at {} within {} s (is UDP to the node blocked?)",
                    offer.node_name, offer.endpoint.toString(), options.handshake_timeout.count()));
  }

  void recordOffer(ConnectionState& s) const {
    s.session_id = offer.session_id;
    s.node_id = offer.node_id;
    s.node_name = offer.node_name;
    s.node_country = offer.node_country;
    s.endpoint = offer.endpoint.toString();
    s.node_public_key = offer.node_key_text;
  }

  core::Status connect(const std::stop_token& stop);
  core::Status switchTo(const Offer& next);
  void reconnect(const std::stop_token& stop);
};

core::Status Connection::Impl::connect(const std::stop_token& stop) {
  api_endpoints = options.api_endpoints;
  if (api_endpoints.empty()) {
    AUREO_ASSIGN_OR_RETURN(api_endpoints, resolveApiEndpoints(options.server));
  }
  tunnel_v4 = tunnelSet(Family::kV4);
  // Fail-closed from the first moment: while the session is being opened,
  // only the API is reachable.
  if (options.kill_switch) AUREO_RETURN_IF_ERROR(applyKillSwitch({}));
  AUREO_ASSIGN_OR_RETURN(offer, openSession(options.node_id));
  {
    std::lock_guard lock(state_mutex);
    recordOffer(state);
  }
  // Before the DNS table, the routes and resolv.conf are set up below; with
  // split tunneling the resolvers get routes of their own.
  if (adoptOfferedDns(offer)) tunnel_v4 = tunnelSet(Family::kV4);
  if (offer.tunnel_v6) tunnel_v6 = tunnelSet(Family::kV6);
  AUREO_RETURN_IF_ERROR(update([&](auto& s) { s.ipv6_tunneled = !tunnel_v6.empty(); }));

  if (options.exclude_apps) {
    AUREO_ASSIGN_OR_RETURN(auto mount, netcfg::findCgroup2Mount());
    AUREO_RETURN_IF_ERROR(update([&](auto& s) {
      s.cgroup = options.cgroup;
      s.cgroup_mount = mount.string();
    }));
    auto made = netcfg::Cgroup::create(options.cgroup, mount);
    if (!made.ok() && made.error().code == core::Code::kAlreadyExists) {
      made = netcfg::Cgroup::open(options.cgroup, mount);
    }
    if (!made.ok()) return made.error();
    AUREO_ASSIGN_OR_RETURN(cgroup, made->nftMatch());
  }

  // Protections first: from here on nothing leaks, handshake or not.
  AUREO_RETURN_IF_ERROR(applyEndpointTables());
  AUREO_RETURN_IF_ERROR(applyDnsTable());
  if (cgroup) {
    netcfg::SplitTunnelSpec split;
    split.cgroup = *cgroup;
    split.fwmark = options.fwmark;
    AUREO_ASSIGN_OR_RETURN(auto split_script, netcfg::splitTunnelMark(split));
    AUREO_RETURN_IF_ERROR(applyTable(split.table, split_script));
  }
  // Reverse-path filtering must see the mark of replies to marked packets.
  AUREO_RETURN_IF_ERROR(applyMarkTable());
  AUREO_RETURN_IF_ERROR(setSysctl(netcfg::kSrcValidMark, "1"));

  wireguard::LinuxDeviceOptions dev;
  dev.interface_name = options.interface_name;
  dev.workers = 1;
  auto created = wireguard::LinuxDevice::create(dev, clock, log);
  if (!created.ok()) {
    return core::Error{created.error().code,
                       fmt::format("cannot create the TUN device {} (needs CAP_NET_ADMIN and "
                                   "/dev/net/tun): {}",
                                   options.interface_name, created.error().message),
                       {}};
  }
  device = std::move(*created);
  device->device().setPrivateKey(private_key);
  AUREO_RETURN_IF_ERROR(device->device().setListenPortAndFwmark(0, options.fwmark));

  wireguard::UapiServerOptions uo;
  uo.socket_dir = options.uapi_dir;
  auto uapi_server = wireguard::UapiServer::start(options.interface_name, device->uapi(), log, uo);
  if (uapi_server.ok()) {
    uapi = std::move(*uapi_server);
    AUREO_RETURN_IF_ERROR(update([&](auto& s) { s.uapi_socket = uapi->socketPath(); }));
  } else {
    log.warn("no UAPI socket; `status` will not show live counters",
             {{"error", uapi_server.error().message}});
  }

  AUREO_ASSIGN_OR_RETURN(auto nl, netcfg::Netlink::open());
  AUREO_RETURN_IF_ERROR(addAddresses(nl, addressesOf(offer)));
  AUREO_RETURN_IF_ERROR(nl.setLinkUp(options.interface_name));
  AUREO_RETURN_IF_ERROR(addPeer());
  AUREO_RETURN_IF_ERROR(setUpRouting(nl));

  AUREO_RETURN_IF_ERROR(update([&](auto& s) {
    s.resolv_conf = options.resolv_conf.string();
    s.resolv_backup = (options.run_dir / "resolv.conf.backup").string();
  }));
  netcfg::ResolvConf resolv(options.resolv_conf, options.run_dir / "resolv.conf.backup");
  AUREO_RETURN_IF_ERROR(resolv.install(resolvers));

  AUREO_RETURN_IF_ERROR(waitForHandshake(stop));
  AUREO_RETURN_IF_ERROR(update([](auto& s) { s.phase = "connected"; }));
  log.info("connected", {{"node", offer.node_name},
                         {"endpoint", offer.endpoint.toString()},
                         {"session_id", offer.session_id}});
  return {};
}

core::Status Connection::Impl::switchTo(const Offer& next) {
  const Offer previous = offer;
  offer = next;
  AUREO_RETURN_IF_ERROR(update([&](auto& s) { recordOffer(s); }));
  // The kill switch now allows the new endpoint only, replaced in one step.
  AUREO_RETURN_IF_ERROR(applyEndpointTables());
  if (previous.node_key != next.node_key) {
    (void)device->device().removePeer(previous.node_key);
  }
  AUREO_ASSIGN_OR_RETURN(auto nl, netcfg::Netlink::open());
  const auto old_addresses = addressesOf(previous);
  const auto new_addresses = addressesOf(next);
  AUREO_RETURN_IF_ERROR(applyMarkTable());
  AUREO_RETURN_IF_ERROR(addAddresses(nl, new_addresses));
  for (const auto& a : old_addresses) {
    if (std::find(new_addresses.begin(), new_addresses.end(), a) != new_addresses.end()) continue;
    auto st = nl.delAddress(options.interface_name, a);
    if (!ignorable(st)) return st;
    AUREO_RETURN_IF_ERROR(update([&](auto& s) {
      s.addresses.erase(std::remove(s.addresses.begin(), s.addresses.end(), a.toString()),
                        s.addresses.end());
    }));
  }
  AUREO_RETURN_IF_ERROR(addPeer());
  if (adoptOfferedDns(next)) {
    // The new node's resolvers: routed through the tunnel, the only DNS
    // allowed, and named in resolv.conf (its backup, the original, stays).
    AUREO_RETURN_IF_ERROR(save());
    AUREO_ASSIGN_OR_RETURN(const int ifindex, nl.linkIndex(options.interface_name));
    for (const auto& r : resolvers) {
      auto& set = r.isV4() ? tunnel_v4 : tunnel_v6;
      if (set.empty() || covers(set, hostPrefix(r))) continue;
      set.push_back(hostPrefix(r));
      netcfg::Route route;
      route.destination = hostPrefix(r);
      route.oif = ifindex;
      route.table = options.fwmark;
      AUREO_RETURN_IF_ERROR(nl.replaceRoute(route));
    }
    AUREO_RETURN_IF_ERROR(applyDnsTable());
    netcfg::ResolvConf resolv(options.resolv_conf, options.run_dir / "resolv.conf.backup");
    AUREO_RETURN_IF_ERROR(resolv.install(resolvers));
    std::string list;
    for (const auto& r : resolvers) list += (list.empty() ? "" : ",") + r.toString();
    log.info("using the new node's resolvers", {{"dns", list}});
  }
  return {};
}

void Connection::Impl::reconnect(const std::stop_token& stop) {
  const std::string lost = offer.node_id;
  log.warn("the node stopped answering; looking for another one",
           {{"node", offer.node_name}, {"endpoint", offer.endpoint.toString()}});
  (void)update([](auto& s) { s.phase = "reconnecting"; });
  // The lost session goes first: it frees the device slot the new one needs.
  closeSession(offer.session_id);
  std::vector<std::string> avoid{lost};
  milliseconds backoff{1000};
  while (!stop.stop_requested()) {
    std::string path = "/api/v1/nodes/best?protocol=wireguard";
    if (!options.country.empty()) path += "&country=" + options.country;
    std::string exclude;
    for (const auto& id : avoid) exclude += (exclude.empty() ? "" : ",") + id;
    if (!exclude.empty()) path += "&exclude=" + exclude;
    auto best = api("GET", path, nullptr);
    core::Status outcome;
    if (!best.ok()) {
      outcome = best.error();
      // Nothing else is left: the lost node may come back, so try it too.
      if (best.error().code == core::Code::kNotFound) avoid.clear();
    } else {
      auto next = openSession(best->value("id", ""));
      if (!next.ok()) {
        outcome = next.error();
      } else {
        outcome = switchTo(*next);
        if (outcome.ok()) outcome = waitForHandshake(stop);
        if (outcome.ok()) {
          (void)update([](auto& s) { s.phase = "connected"; });
          log.info("reconnected", {{"node", offer.node_name},
                                   {"endpoint", offer.endpoint.toString()},
                                   {"session_id", offer.session_id}});
          return;
        }
        avoid.push_back(next->node_id);
        closeSession(next->session_id);
      }
    }
    log.warn("reconnect failed; the kill switch stays",
             {{"error", outcome.error().message}, {"retry_ms", backoff.count()}});
    if (!sleepFor(stop, backoff)) return;
    backoff = std::min<milliseconds>(backoff * 2, kMaxReconnectBackoff);
  }
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
  if (!impl_) return;
  impl_->uapi.reset();
  impl_->device.reset();  // the kernel removes the interface and its routes
}

ConnectionState Connection::state() const {
  std::lock_guard lock(impl_->state_mutex);
  return impl_->state;
}

core::Result<std::unique_ptr<Connection>> Connection::establish(const ConnectOptions& options,
                                                                ApiCall api, core::Clock& clock,
                                                                core::Logger& log) {
  if (!options.split_include.empty() && !options.split_exclude.empty()) {
    return core::invalidArgument("--split-include and --split-exclude exclude each other");
  }
  if (!netcfg::isValidInterfaceName(options.interface_name)) {
    return core::invalidArgument(
        fmt::format("invalid interface name '{}'", options.interface_name));
  }
  std::error_code ec;
  fs::create_directories(options.run_dir, ec);
  if (ec) {
    return core::failedPrecondition(
        fmt::format("cannot create {}: {}", options.run_dir.string(), ec.message()));
  }
  fs::permissions(options.run_dir, fs::perms::owner_all, ec);
  const fs::path path = statePath(options.run_dir);
  AUREO_ASSIGN_OR_RETURN(auto existing, loadState(path));
  if (existing) {
    if (processAlive(existing->pid)) {
      return core::failedPrecondition(fmt::format(
          "already connected (daemon pid {}); run `aureo-vpn disconnect` first", existing->pid));
    }
    return core::failedPrecondition(fmt::format(
        "a previous connection (pid {}) ended without `aureo-vpn disconnect`, and its kill "
        "switch may still be on; run `aureo-vpn disconnect` to clean up first",
        existing->pid));
  }

  auto impl = std::make_unique<Impl>(options, std::move(api), clock, log);
  impl->resolvers = options.dns;
  if (impl->resolvers.empty()) {
    impl->resolvers = {*core::IpAddress::parse("1.1.1.1"), *core::IpAddress::parse("1.0.0.1")};
  }
  impl->private_key = wireguard::generatePrivateKey();
  impl->public_key = wireguard::toBase64(wireguard::publicKeyOf(impl->private_key).span());
  {
    ConnectionState& s = impl->state;
    s.pid = ::getpid();
    s.started_at = core::unixSeconds(clock.now());
    s.phase = "connecting";
    s.server = options.server;
    s.client_public_key = impl->public_key;
    s.interface_name = options.interface_name;
    s.fwmark = options.fwmark;
    s.table = options.fwmark;
    s.kill_switch = options.kill_switch;
    s.allow_lan = options.allow_lan;
    for (const auto& r : impl->resolvers) s.dns.push_back(r.toString());
    for (const auto& c : options.split_include) s.split_include.push_back(c.toString());
    for (const auto& c : options.split_exclude) s.split_exclude.push_back(c.toString());
    s.country = options.country;
  }
  AUREO_RETURN_IF_ERROR(impl->save());

  std::stop_source never;
  if (auto st = impl->connect(never.get_token()); !st.ok()) {
    log.error("connect failed; undoing", {{"error", st.error().message}});
    impl->uapi.reset();
    impl->device.reset();
    const ConnectionState done = impl->state;
    if (auto undone = tearDown(done, log); !undone.ok()) {
      log.error("could not undo everything", {{"error", undone.error().message}});
    }
    impl->closeSession(done.session_id);
    (void)removeState(path);
    return st.error();
  }
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

void Connection::run(const std::stop_token& stop) {
  Impl& c = *impl_;
  uint64_t last_rx = 0;
  auto heard = c.clock.steadyNow();
  auto probed = heard;
  while (sleepFor(stop, milliseconds(500))) {
    const auto now = c.clock.steadyNow();
    auto stats = c.device->device().peerStats(c.offer.node_key);
    const uint64_t rx = stats ? stats->rx_bytes : 0;
    if (rx != last_rx) {
      last_rx = rx;
      heard = now;
      continue;
    }
    if (now - heard >= c.options.stale_after) {
      c.reconnect(stop);
      auto fresh = c.device->device().peerStats(c.offer.node_key);
      last_rx = fresh ? fresh->rx_bytes : 0;
      heard = c.clock.steadyNow();
      continue;
    }
    if (now - heard >= c.options.probe_after && now - probed >= seconds(2)) {
      sendProbe(c.resolvers.front());
      probed = now;
    }
  }
}

}  // namespace aureo::client
