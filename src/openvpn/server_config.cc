#include "openvpn/server_config.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "openvpn/pki.h"

namespace aureo::openvpn {
namespace {

constexpr size_t kMaxUnixPath = 107;  // sun_path holds 108 bytes with the NUL

core::Error bad(std::string message, std::string field) {
  return core::invalidArgument(std::move(message), std::move(field));
}

bool isDeviceName(std::string_view s) {
  if (s.empty() || s.size() > 15) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

// Names that go bare into a directive (user, group): no whitespace, quoting or
// comment characters, so the directive keeps exactly one argument.
bool isPlainWord(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool isHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':';
    if (!ok) return false;
  }
  return s.front() != '-';
}

bool isSocketPath(std::string_view s) {
  if (s.size() < 2 || s.size() > kMaxUnixPath || s.front() != '/') return false;
  for (char c : s) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// A username or password for the inline block: one line of printable text.
bool isCredential(std::string_view s) {
  if (s.empty() || s.size() > kMaxCredentialLength) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return s.find('<') == std::string_view::npos;
}

// PEM text bound for an inline block: it must not contain anything that could
// close the block early or start another one.
core::Status checkInlinePem(std::string_view pem, std::string_view field) {
  if (pem.empty()) return bad("missing", std::string(field));
  if (pem.size() > size_t{64} * 1024) return bad("too large", std::string(field));
  if (pem.find('<') != std::string_view::npos || pem.find('>') != std::string_view::npos) {
    return bad("must not contain '<' or '>'", std::string(field));
  }
  for (char c : pem) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x7f || (u < 0x20 && c != '\n' && c != '\r')) {
      return bad("must be printable ASCII", std::string(field));
    }
  }
  return core::okStatus();
}

core::Status checkCertificate(std::string_view pem, std::string_view field) {
  AUREO_RETURN_IF_ERROR(checkInlinePem(pem, field));
  if (!inspectCertificate(pem).ok()) return bad("not a PEM certificate", std::string(field));
  return core::okStatus();
}

core::Status checkKey(std::string_view pem) {
  AUREO_RETURN_IF_ERROR(checkInlinePem(pem, "key_pem"));
  if (pem.find("-----BEGIN ") == std::string_view::npos ||
      pem.find("PRIVATE KEY-----") == std::string_view::npos) {
    return bad("not a PEM private key", "key_pem");
  }
  return core::okStatus();
}

core::Status checkTlsCrypt(std::string_view key) {
  AUREO_RETURN_IF_ERROR(checkInlinePem(key, "tls_crypt_key"));
  return validateTlsCryptKey(key);
}

void appendBlock(std::string& out, std::string_view tag, std::string_view body) {
  out += '<';
  out += tag;
  out += ">\n";
  out += body;
  if (!body.empty() && body.back() != '\n') out += '\n';
  out += "</";
  out += tag;
  out += ">\n";
}

std::string netmaskOf(int prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return std::to_string(mask >> 24) + "." + std::to_string((mask >> 16) & 0xff) + "." +
         std::to_string((mask >> 8) & 0xff) + "." + std::to_string(mask & 0xff);
}

uint16_t portOr(uint16_t port, Transport transport) {
  if (port != 0) return port;
  return transport == Transport::kUdp ? kDefaultUdpPort : kDefaultTcpPort;
}

core::Status validateServer(const ServerConfig& c) {
  if (!isDeviceName(c.device)) {
    return bad("device must be 1..15 characters of [A-Za-z0-9_-]", "device");
  }
  if (!c.tunnel_v4.address().isV4() || c.tunnel_v4.prefix() < 8 || c.tunnel_v4.prefix() > 29) {
    return bad("tunnel_v4 must be an IPv4 prefix between /8 and /29", "tunnel_v4");
  }
  if (c.tunnel_v6 && (c.tunnel_v6->address().isV4() || c.tunnel_v6->prefix() < 64 ||
                      c.tunnel_v6->prefix() > 112)) {
    return bad("tunnel_v6 must be an IPv6 prefix between /64 and /112", "tunnel_v6");
  }
  if (!isSocketPath(c.management_socket)) {
    return bad("management_socket must be an absolute path of [A-Za-z0-9/._-], under 108 bytes",
               "management_socket");
  }
  if (c.keepalive_interval < 1 || c.keepalive_timeout < 2 * c.keepalive_interval ||
      c.keepalive_timeout > 3600) {
    return bad("keepalive needs interval >= 1 and timeout >= 2 * interval", "keepalive");
  }
  if (c.max_clients < 0 || c.max_clients > 65535) return bad("out of range", "max_clients");
  if (c.verbosity < 0 || c.verbosity > 11) return bad("must be 0..11", "verbosity");
  if (c.user && !isPlainWord(*c.user, 32)) return bad("not a plain user name", "user");
  if (c.group && !isPlainWord(*c.group, 32)) return bad("not a plain group name", "group");
  if (c.dns_servers.size() > 8) return bad("at most 8 DNS servers", "dns_servers");
  AUREO_RETURN_IF_ERROR(checkCertificate(c.ca_pem, "ca_pem"));
  AUREO_RETURN_IF_ERROR(checkCertificate(c.cert_pem, "cert_pem"));
  AUREO_RETURN_IF_ERROR(checkKey(c.key_pem));
  return checkTlsCrypt(c.tls_crypt_key);
}

core::Status checkSplittable(const core::Cidr& prefix) {
  const int longest = prefix.address().isV4() ? 28 : 111;
  if (prefix.prefix() > longest) {
    return bad("tunnel prefix " + prefix.toString() + " is too small to share with OpenVPN",
               "tunnel_prefix");
  }
  return core::okStatus();
}

}  // namespace

core::Result<core::Cidr> wireguardHalf(const core::Cidr& node_prefix) {
  AUREO_RETURN_IF_ERROR(checkSplittable(node_prefix));
  return core::Cidr(node_prefix.address(), node_prefix.prefix() + 1);
}

core::Result<core::Cidr> openvpnHalf(const core::Cidr& node_prefix) {
  AUREO_RETURN_IF_ERROR(checkSplittable(node_prefix));
  auto bytes = node_prefix.address().bytes();
  const auto bit = static_cast<size_t>(node_prefix.prefix());
  bytes[bit / 8] = static_cast<uint8_t>(bytes[bit / 8] | (0x80u >> (bit % 8)));
  return core::Cidr(core::IpAddress::fromBytes(node_prefix.address().family(), bytes.data()),
                    node_prefix.prefix() + 1);
}

core::Result<std::string> renderServerConfig(const ServerConfig& c) {
  AUREO_RETURN_IF_ERROR(validateServer(c));
  std::string out;
  out += "# Generated by Aureo VPN; edits are overwritten.\n";
  out += "mode server\ntls-server\n";
  // Given no `local`, OpenVPN picks IPv4 for plain udp/tcp-server; the "6"
  // forms bind one IPv6 socket that takes IPv4 clients as mapped addresses.
  const bool six = c.dual_stack && !c.listen_address;
  if (c.transport == Transport::kUdp) {
    out += six ? "proto udp6\n" : "proto udp\n";
  } else {
    out += six ? "proto tcp6-server\n" : "proto tcp-server\n";
  }
  if (c.listen_address) out += "local " + c.listen_address->toString() + "\n";
  out += "port " + std::to_string(portOr(c.port, c.transport)) + "\n";
  out += "dev " + c.device + "\ndev-type tun\n";
  out += "topology subnet\n";
  out +=
      "server " + c.tunnel_v4.address().toString() + " " + netmaskOf(c.tunnel_v4.prefix()) + "\n";
  if (c.tunnel_v6) out += "server-ipv6 " + c.tunnel_v6->toString() + "\n";
  if (c.redirect_gateway) {
    out += c.tunnel_v6 ? "push \"redirect-gateway def1 ipv6 bypass-dhcp\"\n"
                       : "push \"redirect-gateway def1 bypass-dhcp\"\n";
  }
  for (const auto& dns : c.dns_servers) {
    out += std::string("push \"dhcp-option ") + (dns.isV4() ? "DNS " : "DNS6 ") + dns.toString() +
           "\"\n";
  }
  out += "keepalive " + std::to_string(c.keepalive_interval) + " " +
         std::to_string(c.keepalive_timeout) + "\n";
  if (c.transport == Transport::kUdp) {
    // Tells clients on a clean shutdown or restart so they reconnect at once.
    out += "explicit-exit-notify 1\n";
  }
  if (c.max_clients > 0) out += "max-clients " + std::to_string(c.max_clients) + "\n";

  out += "data-ciphers " + std::string(kDataCiphers) + "\n";
  out += "tls-version-min 1.2\n";
  out += "dh none\n";  // ECDHE only
  // Clients present no certificate: they log in with an Aureo session
  // credential, which the control plane checks through the management
  // interface. The username becomes the common name for logs and status.
  out += "verify-client-cert none\n";
  out += "username-as-common-name\n";
  // One user may connect several devices; device limits are the control
  // plane's decision, not OpenVPN's.
  out += "duplicate-cn\n";
  out += "management " + c.management_socket + " unix\n";
  out += "management-client-auth\n";
  if (c.management_hold) out += "management-hold\n";
  out += "script-security 1\n";
  out += "persist-key\npersist-tun\n";
  if (c.user) out += "user " + *c.user + "\n";
  if (c.group) out += "group " + *c.group + "\n";
  out += "verb " + std::to_string(c.verbosity) + "\n";
  appendBlock(out, "ca", c.ca_pem);
  appendBlock(out, "cert", c.cert_pem);
  appendBlock(out, "key", c.key_pem);
  appendBlock(out, "tls-crypt", c.tls_crypt_key);
  return out;
}

core::Result<std::string> renderClientProfile(const ClientProfile& p) {
  if (p.remotes.empty()) return bad("at least one remote is required", "remotes");
  if (p.remotes.size() > 16) return bad("at most 16 remotes", "remotes");
  for (const auto& r : p.remotes) {
    if (!isHostName(r.host)) return bad("remote host must be a DNS name or IP address", "remotes");
  }
  if (p.name.size() > 128 || !isCredential(p.name.empty() ? "x" : p.name)) {
    return bad("name must be one printable line", "name");
  }
  if (p.server_common_name && !isCredential(*p.server_common_name)) {
    return bad("server_common_name must be one printable line", "server_common_name");
  }
  if (p.server_common_name && (p.server_common_name->find('"') != std::string::npos ||
                               p.server_common_name->find('\\') != std::string::npos)) {
    return bad("server_common_name must not contain quotes", "server_common_name");
  }
  if (p.inline_credentials && (!isCredential(p.inline_credentials->username) ||
                               !isCredential(p.inline_credentials->password))) {
    return bad("credentials must be one printable line each, at most 127 bytes",
               "inline_credentials");
  }
  if (p.verbosity < 0 || p.verbosity > 11) return bad("must be 0..11", "verbosity");
  AUREO_RETURN_IF_ERROR(checkCertificate(p.ca_pem, "ca_pem"));
  AUREO_RETURN_IF_ERROR(checkTlsCrypt(p.tls_crypt_key));

  std::string out;
  if (!p.name.empty()) out += "# " + p.name + "\n";
  out += "# Generated by Aureo VPN.\n";
  out += "client\ndev tun\n";
  for (const auto& r : p.remotes) {
    out += "remote " + r.host + " " + std::to_string(portOr(r.port, r.transport)) +
           (r.transport == Transport::kUdp ? " udp" : " tcp-client") + "\n";
  }
  out += "resolv-retry infinite\nnobind\npersist-key\npersist-tun\n";
  const bool all_udp = std::all_of(p.remotes.begin(), p.remotes.end(), [](const ClientRemote& r) {
    return r.transport == Transport::kUdp;
  });
  // Over UDP the server otherwise learns of a disconnect only by timeout.
  if (all_udp) out += "explicit-exit-notify 2\n";
  out += "remote-cert-tls server\n";
  if (p.server_common_name) out += "verify-x509-name \"" + *p.server_common_name + "\" name\n";
  out += "data-ciphers " + std::string(kDataCiphers) + "\n";
  out += "tls-version-min 1.2\n";
  // The inline block below is itself the auth-user-pass directive.
  if (!p.inline_credentials) out += "auth-user-pass\n";
  out += "verb " + std::to_string(p.verbosity) + "\n";
  appendBlock(out, "ca", p.ca_pem);
  appendBlock(out, "tls-crypt", p.tls_crypt_key);
  if (p.inline_credentials) {
    appendBlock(out, "auth-user-pass",
                p.inline_credentials->username + "\n" + p.inline_credentials->password);
  }
  return out;
}

}  // namespace aureo::openvpn
