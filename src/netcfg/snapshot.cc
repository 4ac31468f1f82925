#include "netcfg/snapshot.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "core/errno_text.h"

namespace aureo::netcfg {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxResolvBytes = size_t{1024} * 1024;

core::Status readResolv(const fs::path& path, NetworkSnapshot& snap) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return core::internalError(fmt::format("stat {}: {}", path.string(), core::errnoText(errno)));
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(4096, '\0');
    const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) {
      return core::internalError(
          fmt::format("readlink {}: {}", path.string(), core::errnoText(errno)));
    }
    target.resize(static_cast<size_t>(n));
    snap.resolv_conf_link = std::move(target);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};  // a dangling link: recorded by its target alone
  std::string bytes;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    bytes.append(buf, static_cast<size_t>(in.gcount()));
    if (bytes.size() > kMaxResolvBytes) {
      return core::resourceExhausted(fmt::format("{} is too large", path.string()));
    }
  }
  snap.resolv_conf = std::move(bytes);
  return {};
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Elements only in a, and only in b (both inputs sorted).
template <typename T>
void diffSets(std::string_view what, std::vector<T> a, std::vector<T> b, std::string& out) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<T> gone;
  std::vector<T> added;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(gone));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(added));
  for (const auto& x : gone) out += fmt::format("- {} {}\n", what, x.toString());
  for (const auto& x : added) out += fmt::format("+ {} {}\n", what, x.toString());
}

// The differing middle of two texts, after their common first and last lines.
void diffText(std::string_view what, const std::string& a, const std::string& b, std::string& out) {
  if (a == b) return;
  const auto la = lines(a);
  const auto lb = lines(b);
  size_t head = 0;
  while (head < la.size() && head < lb.size() && la[head] == lb[head]) ++head;
  size_t tail = 0;
  while (tail < la.size() - head && tail < lb.size() - head &&
         la[la.size() - 1 - tail] == lb[lb.size() - 1 - tail]) {
    ++tail;
  }
  out += fmt::format("{} (from line {}):\n", what, head + 1);
  for (size_t i = head; i < la.size() - tail; ++i) out += fmt::format("- {}\n", la[i]);
  for (size_t i = head; i < lb.size() - tail; ++i) out += fmt::format("+ {}\n", lb[i]);
  if (la.size() == lb.size() && head + tail == la.size()) {
    out += "  (only line endings or the final newline differ)\n";
  }
}

std::string describe(const std::optional<std::string>& v) {
  return v ? fmt::format("{} bytes", v->size()) : std::string("absent");
}

}  // namespace

core::Result<NetworkSnapshot> captureSnapshot(Netlink& netlink, Nftables& nft,
                                              const fs::path& resolv_conf) {
  NetworkSnapshot snap;
  for (const Family family : {Family::kV4, Family::kV6}) {
    AUREO_ASSIGN_OR_RETURN(auto routes, netlink.listRoutes(family, kTableUnspec));
    std::sort(routes.begin(), routes.end());
    snap.routes.insert(snap.routes.end(), routes.begin(), routes.end());
  }
  for (const Family family : {Family::kV4, Family::kV6}) {
    AUREO_ASSIGN_OR_RETURN(auto rules, netlink.listRules(family));
    snap.rules.insert(snap.rules.end(), rules.begin(), rules.end());
  }
  AUREO_ASSIGN_OR_RETURN(snap.ruleset, nft.listRuleset());
  AUREO_RETURN_IF_ERROR(readResolv(resolv_conf, snap));
  return snap;
}

std::string diffSnapshots(const NetworkSnapshot& before, const NetworkSnapshot& after) {
  std::string out;
  diffSets("route", before.routes, after.routes, out);
  diffSets("rule", before.rules, after.rules, out);
  // Same set of rules in another order changes which one wins.
  if (out.find(" rule ") == std::string::npos && before.rules != after.rules) {
    out += "rules: same rules, different order\n";
  }
  diffText("nftables ruleset", before.ruleset, after.ruleset, out);
  if (before.resolv_conf_link != after.resolv_conf_link) {
    out += fmt::format("resolv.conf link: {} -> {}\n",
                       before.resolv_conf_link.value_or("(not a link)"),
                       after.resolv_conf_link.value_or("(not a link)"));
  }
  if (before.resolv_conf != after.resolv_conf) {
    if (before.resolv_conf && after.resolv_conf) {
      diffText("resolv.conf", *before.resolv_conf, *after.resolv_conf, out);
    } else {
      out += fmt::format("resolv.conf: {} -> {}\n", describe(before.resolv_conf),
                         describe(after.resolv_conf));
    }
  }
  return out;
}

}  // namespace aureo::netcfg
