#include "cli/wg_quick.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "core/ip.h"
#include "netcfg/rulesets.h"

namespace aureo::cli {
namespace {

// Rendered into the rules in place of the interface and then swapped for
// wg-quick's %i, which it replaces with the real name before running a hook.
constexpr std::string_view kInterfacePlaceholder = "aureo-ifname";
constexpr std::string_view kDefaultDns[] = {"1.1.1.1", "1.0.0.1"};

struct Line {
  std::string text;
  std::string section;  // lower-cased, without brackets; "" before the first
  std::string key;      // lower-cased, "" for blank/comment/section lines
  std::string value;    // trimmed, comment removed
};

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Splits the way wg-quick reads it: '#' starts a comment anywhere, the key
// ends at the first '='.
std::vector<Line> parse(std::string_view config) {
  std::vector<Line> lines;
  std::string section;
  size_t pos = 0;
  while (pos < config.size()) {
    size_t end = config.find('\n', pos);
    if (end == std::string_view::npos) end = config.size();
    Line line;
    line.text = std::string(config.substr(pos, end - pos));
    pos = end + 1;
    const std::string stripped = trim(line.text.substr(0, line.text.find('#')));
    if (stripped.size() >= 2 && stripped.front() == '[' && stripped.back() == ']') {
      section = lower(trim(stripped.substr(1, stripped.size() - 2)));
    } else if (auto eq = stripped.find('='); eq != std::string::npos) {
      line.key = lower(trim(stripped.substr(0, eq)));
      line.value = trim(stripped.substr(eq + 1));
    }
    line.section = section;
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<std::string> splitList(const std::string& value) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t end = value.find(',', pos);
    if (end == std::string::npos) end = value.size();
    if (auto item = trim(std::string_view(value).substr(pos, end - pos)); !item.empty()) {
      out.push_back(std::move(item));
    }
    pos = end + 1;
  }
  return out;
}

// Bash ANSI-C quoting: the script goes into one config line, and bash turns
// the escapes back into the newlines and tabs nft reads.
std::string ansiCQuote(std::string_view text) {
  std::string out = "$'";
  for (const char c : text) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      default: out += c;
    }
  }
  out += '\'';
  return out;
}

std::string replaceAll(std::string text, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

// Index just past the last line of [Interface] that is not trailing blank.
std::optional<size_t> interfaceEnd(const std::vector<Line>& lines) {
  std::optional<size_t> end;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].section != "interface") continue;
    if (!trim(lines[i].text).empty()) end = i + 1;
  }
  return end;
}

std::string join(const std::vector<Line>& lines, bool trailing_newline) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += lines[i].text;
    if (i + 1 < lines.size() || trailing_newline) out += '\n';
  }
  return out;
}

}  // namespace

core::Result<std::string> addKillSwitch(std::string_view config, const KillSwitchOptions& options) {
  auto lines = parse(config);
  const auto end = interfaceEnd(lines);
  if (!end) return core::invalidArgument("the config has no [Interface] section");

  std::vector<core::IpAddress> dns;
  bool has_dns_line = false;
  std::vector<netcfg::Endpoint> endpoints;
  for (auto& line : lines) {
    if (line.section == "interface" && (line.key == "postup" || line.key == "predown")) {
      return core::invalidArgument("the config already has PostUp/PreDown hooks");
    }
    if (line.section == "interface" && line.key == "dns") {
      has_dns_line = true;
      // Non-addresses in DNS are search domains.
      for (const auto& item : splitList(line.value)) {
        if (auto ip = core::IpAddress::parse(item)) dns.push_back(*ip);
      }
    }
    if (line.section == "peer" && line.key == "endpoint") {
      auto hp = core::parseHostPort(line.value);
      if (!hp) return core::invalidArgument(fmt::format("bad Endpoint '{}'", line.value));
      auto ip = core::IpAddress::parse(hp->host);
      if (!ip && options.endpoint_address) {
        ip = options.endpoint_address;
        line.text = ip->isV4() ? fmt::format("Endpoint = {}:{}", ip->toString(), hp->port)
                               : fmt::format("Endpoint = [{}]:{}", ip->toString(), hp->port);
      }
      if (!ip) {
        return core::invalidArgument(fmt::format(
            "the kill switch needs the endpoint as an IP address, not the name '{}'", hp->host));
      }
      endpoints.push_back({*ip, hp->port});
    }
  }
  if (endpoints.empty()) return core::invalidArgument("the config has no [Peer] Endpoint");

  std::vector<Line> added;
  if (dns.empty()) {
    for (auto d : kDefaultDns) dns.push_back(*core::IpAddress::parse(d));
    if (!has_dns_line) {
      added.push_back({fmt::format("DNS = {}", fmt::join(kDefaultDns, ", ")), "interface", "", ""});
    }
  }

  netcfg::KillSwitchSpec ks;
  ks.table = std::string(kWgQuickKillSwitchTable);
  ks.tunnel_interface = std::string(kInterfacePlaceholder);
  ks.endpoints = endpoints;
  ks.allow_lan = options.allow_lan;
  AUREO_ASSIGN_OR_RETURN(std::string ks_rules, netcfg::killSwitch(ks));
  netcfg::DnsSpec ds;
  ds.table = std::string(kWgQuickDnsTable);
  ds.tunnel_interface = std::string(kInterfacePlaceholder);
  ds.resolvers = dns;
  AUREO_ASSIGN_OR_RETURN(std::string dns_rules, netcfg::dnsLeak(ds));

  const std::string placeholder = fmt::format("\"{}\"", kInterfacePlaceholder);
  const std::string script = replaceAll(ks_rules + dns_rules, placeholder, "\"%i\"");
  // wg-quick cuts every line at '#'; the rule text never has one, keep it so.
  if (script.find('#') != std::string::npos) {
    return core::internalError("rendered rules contain '#', which wg-quick would cut off");
  }
  added.push_back({"PostUp = nft -f - <<< " + ansiCQuote(script), "interface", "", ""});
  added.push_back({fmt::format("PreDown = nft 'table inet {0} {{}}; delete table inet {0}; "
                               "table inet {1} {{}}; delete table inet {1}'",
                               kWgQuickKillSwitchTable, kWgQuickDnsTable),
                   "interface", "", ""});
  lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(*end), added.begin(), added.end());
  const bool trailing = !config.empty() && config.back() == '\n';
  // parse() yields no empty last line for a trailing newline, so join restores it.
  return join(lines, trailing);
}

core::Result<std::string> setPrivateKey(std::string_view config, std::string_view private_key) {
  auto lines = parse(config);
  const auto end = interfaceEnd(lines);
  if (!end) return core::invalidArgument("the config has no [Interface] section");
  const std::string text = fmt::format("PrivateKey = {}", private_key);
  bool replaced = false;
  for (auto& line : lines) {
    if (line.section == "interface" && line.key == "privatekey") {
      line.text = text;
      replaced = true;
    }
  }
  if (!replaced) {
    // Right after the [Interface] header, where people look for it.
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].section == "interface") {
        lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(i + 1),
                     Line{text, "interface", "privatekey", std::string(private_key)});
        break;
      }
    }
  }
  return join(lines, !config.empty() && config.back() == '\n');
}

}  // namespace aureo::cli
