#include "client/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace aureo::client {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr size_t kMaxStateBytes = size_t{1024} * 1024;

core::Error ioError(std::string_view what, const fs::path& path, int err) {
  return core::internalError(
      fmt::format("{} {}: {}", what, path.string(), std::system_category().message(err)));
}

Json ruleToJson(const netcfg::Rule& r) {
  Json j{{"family", r.family == netcfg::Family::kV4 ? 4 : 6},
         {"invert", r.invert},
         {"action", static_cast<int>(r.action)},
         {"table", r.table}};
  if (r.priority) j["priority"] = *r.priority;
  if (r.fwmark) {
    j["fwmark"] = *r.fwmark;
    j["fwmask"] = r.fwmask;
  }
  if (r.from) j["from"] = r.from->toString();
  if (r.to) j["to"] = r.to->toString();
  if (r.suppress_prefixlength) j["suppress_prefixlength"] = *r.suppress_prefixlength;
  return j;
}

netcfg::Rule ruleFromJson(const Json& j) {
  netcfg::Rule r;
  r.family = j.at("family").get<int>() == 6 ? netcfg::Family::kV6 : netcfg::Family::kV4;
  r.invert = j.value("invert", false);
  r.action = static_cast<netcfg::Rule::Action>(j.value("action", 1));
  r.table = j.value("table", netcfg::kTableMain);
  if (j.contains("priority")) r.priority = j.at("priority").get<uint32_t>();
  if (j.contains("fwmark")) {
    r.fwmark = j.at("fwmark").get<uint32_t>();
    r.fwmask = j.value("fwmask", 0xffffffffu);
  }
  auto cidr = [&](const char* key) -> std::optional<core::Cidr> {
    if (!j.contains(key)) return std::nullopt;
    auto c = core::Cidr::parse(j.at(key).get<std::string>());
    if (!c) throw std::invalid_argument(fmt::format("bad {} prefix", key));
    return c;
  };
  r.from = cidr("from");
  r.to = cidr("to");
  if (j.contains("suppress_prefixlength")) {
    r.suppress_prefixlength = j.at("suppress_prefixlength").get<uint32_t>();
  }
  return r;
}

Json toJson(const ConnectionState& s) {
  Json rules = Json::array();
  for (const auto& r : s.rules) rules.push_back(ruleToJson(r));
  return Json{{"version", 1},
              {"pid", s.pid},
              {"started_at", s.started_at},
              {"phase", s.phase},
              {"server", s.server},
              {"session_id", s.session_id},
              {"node_id", s.node_id},
              {"node_name", s.node_name},
              {"node_country", s.node_country},
              {"endpoint", s.endpoint},
              {"node_public_key", s.node_public_key},
              {"client_public_key", s.client_public_key},
              {"interface", s.interface_name},
              {"addresses", s.addresses},
              {"fwmark", s.fwmark},
              {"table", s.table},
              {"rules", rules},
              {"nft_tables", s.nft_tables},
              {"sysctls", s.sysctls},
              {"resolv_conf", s.resolv_conf},
              {"resolv_backup", s.resolv_backup},
              {"cgroup", s.cgroup},
              {"cgroup_mount", s.cgroup_mount},
              {"uapi_socket", s.uapi_socket},
              {"kill_switch", s.kill_switch},
              {"allow_lan", s.allow_lan},
              {"ipv6_tunneled", s.ipv6_tunneled},
              {"dns", s.dns},
              {"split_include", s.split_include},
              {"split_exclude", s.split_exclude},
              {"country", s.country}};
}

ConnectionState fromJson(const Json& j) {
  if (j.at("version").get<int>() != 1) throw std::invalid_argument("unknown version");
  ConnectionState s;
  s.pid = j.at("pid").get<pid_t>();
  s.started_at = j.at("started_at").get<int64_t>();
  s.phase = j.at("phase").get<std::string>();
  s.server = j.at("server").get<std::string>();
  s.session_id = j.at("session_id").get<std::string>();
  s.node_id = j.at("node_id").get<std::string>();
  s.node_name = j.at("node_name").get<std::string>();
  s.node_country = j.at("node_country").get<std::string>();
  s.endpoint = j.at("endpoint").get<std::string>();
  s.node_public_key = j.at("node_public_key").get<std::string>();
  s.client_public_key = j.at("client_public_key").get<std::string>();
  s.interface_name = j.at("interface").get<std::string>();
  s.addresses = j.at("addresses").get<std::vector<std::string>>();
  s.fwmark = j.at("fwmark").get<uint32_t>();
  s.table = j.at("table").get<uint32_t>();
  for (const auto& r : j.at("rules")) s.rules.push_back(ruleFromJson(r));
  s.nft_tables = j.at("nft_tables").get<std::vector<std::string>>();
  s.sysctls = j.at("sysctls").get<std::map<std::string, std::string>>();
  s.resolv_conf = j.at("resolv_conf").get<std::string>();
  s.resolv_backup = j.at("resolv_backup").get<std::string>();
  s.cgroup = j.at("cgroup").get<std::string>();
  s.cgroup_mount = j.at("cgroup_mount").get<std::string>();
  s.uapi_socket = j.at("uapi_socket").get<std::string>();
  s.kill_switch = j.at("kill_switch").get<bool>();
  s.allow_lan = j.at("allow_lan").get<bool>();
  s.ipv6_tunneled = j.at("ipv6_tunneled").get<bool>();
  s.dns = j.at("dns").get<std::vector<std::string>>();
  s.split_include = j.at("split_include").get<std::vector<std::string>>();
  s.split_exclude = j.at("split_exclude").get<std::vector<std::string>>();
  s.country = j.at("country").get<std::string>();
  return s;
}

}  // namespace

core::Status saveState(const fs::path& path, const ConnectionState& state) {
  const std::string text = toJson(state).dump(2) + "\n";
  const fs::path tmp = path.parent_path() / (path.filename().string() + ".tmp");
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ioError("create", tmp, errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ioError("write", tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ioError("sync", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ioError("rename over", path, err);
  }
  return {};
}

core::Result<std::optional<ConnectionState>> loadState(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<ConnectionState>();
    return ioError("open", path, errno);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  if (text.size() > kMaxStateBytes) {
    return core::Error{core::Code::kDataLoss, fmt::format("{} is too large", path.string()), {}};
  }
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return core::Error{core::Code::kDataLoss, fmt::format("{} is not JSON", path.string()), {}};
  }
  try {
    return std::optional<ConnectionState>(fromJson(j));
  } catch (const std::exception& e) {
    return core::Error{
        core::Code::kDataLoss, fmt::format("{} is corrupt: {}", path.string(), e.what()), {}};
  }
}

core::Status removeState(const fs::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ioError("remove", path, errno);
  return {};
}

bool processAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  // A zombie (killed, not reaped yet: its parent is gone and init is slow
  // or absent, as in some containers) holds nothing any more.
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

}  // namespace aureo::client
