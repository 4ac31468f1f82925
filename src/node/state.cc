#include "node/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace aureo::node {
namespace {

using Json = nlohmann::json;

std::string errnoText() {
  return std::error_code(errno, std::generic_category()).message();
}

// A file only its owner may read; anything else means someone could have
// copied the secret in it.
core::Status checkPrivate(const std::string& path, bool directory) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return core::unavailable(path + ": " + errnoText());
  if (directory != S_ISDIR(st.st_mode)) {
    return core::failedPrecondition(path + (directory ? " is not a directory" : " is not a file"));
  }
  if ((st.st_mode & 077) != 0) {
    return core::failedPrecondition(path + " is readable by group or others; chmod " +
                                    (directory ? "700" : "600") + " it");
  }
  return core::okStatus();
}

core::Result<std::optional<std::string>> readFile(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return core::unavailable(path + ": " + errnoText());
  }
  AUREO_RETURN_IF_ERROR(checkPrivate(path, false));
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::unavailable("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return std::optional<std::string>(ss.str());
}

// Writes to a temporary file (0600) and renames it over path, so a crash
// leaves either the old or the new content.
core::Status writeFileAtomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return core::unavailable("cannot create " + tmp + ": " + errnoText());
  size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = errnoText();
      ::close(fd);
      ::unlink(tmp.c_str());
      return core::unavailable("cannot write " + tmp + ": " + err);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return core::unavailable("cannot write " + tmp + ": " + errnoText());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return core::unavailable("cannot rename " + tmp + ": " + errnoText());
  }
  return core::okStatus();
}

}  // namespace

core::Result<StateDir> StateDir::open(std::string path) {
  if (path.empty()) return core::invalidArgument("the state directory is not set", "state_dir");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    std::filesystem::create_directories(path, ec);
    if (ec) return core::unavailable("cannot create " + path + ": " + ec.message());
    if (::chmod(path.c_str(), 0700) != 0) {
      return core::unavailable("cannot chmod " + path + ": " + errnoText());
    }
  }
  AUREO_RETURN_IF_ERROR(checkPrivate(path, true));
  return StateDir(std::move(path));
}

core::Result<std::optional<std::string>> StateDir::readPrivate(const std::string& name) const {
  if (name.empty() || name.find('/') != std::string::npos) {
    return core::invalidArgument("bad state file name " + name);
  }
  return readFile(path_ + "/" + name);
}

core::Status StateDir::writePrivate(const std::string& name, const std::string& content) const {
  if (name.empty() || name.find('/') != std::string::npos) {
    return core::invalidArgument("bad state file name " + name);
  }
  return writeFileAtomic(path_ + "/" + name, content);
}

core::Result<wireguard::PrivateKey> StateDir::loadOrCreatePrivateKey() const {
  const std::string file = path_ + "/wg.key";
  AUREO_ASSIGN_OR_RETURN(auto text, readFile(file));
  if (text) {
    std::string& raw = *text;
    size_t n = raw.size();
    while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == ' ')) --n;
    auto key = wireguard::parsePrivateKey(std::string_view(raw).substr(0, n));
    wireguard::secureZero(raw.data(), raw.size());
    if (!key) return core::failedPrecondition(file + " does not hold a WireGuard private key");
    return *key;
  }
  wireguard::PrivateKey key = wireguard::generatePrivateKey();
  std::string encoded = wireguard::toBase64(key.span()) + "\n";
  auto st = writeFileAtomic(file, encoded);
  wireguard::secureZero(encoded.data(), encoded.size());
  if (!st.ok()) return st.error();
  return key;
}

core::Result<std::optional<Enrollment>> StateDir::loadEnrollment() const {
  const std::string file = path_ + "/node.json";
  AUREO_ASSIGN_OR_RETURN(auto text, readFile(file));
  if (!text) return std::optional<Enrollment>();
  auto j = Json::parse(*text, nullptr, false);
  auto bad = [&] { return core::failedPrecondition(file + " is damaged; enroll the node again"); };
  if (!j.is_object()) return bad();
  Enrollment e;
  try {
    e.node_id = j.at("node_id").get<std::string>();
    e.node_credential = j.at("node_credential").get<std::string>();
    const Json& s = j.at("settings");
    e.settings.tunnel_ipv4_cidr = s.at("tunnel_ipv4_cidr").get<std::string>();
    e.settings.tunnel_ipv6_cidr = s.value("tunnel_ipv6_cidr", "");
    e.settings.wg_port = s.value("wg_port", int64_t{51820});
    e.settings.dns_servers = s.value("dns_servers", std::vector<std::string>{});
    e.settings.dns_resolver = s.value("dns_resolver", true);
    e.settings.heartbeat_interval_s = s.value("heartbeat_interval_s", int64_t{30});
    e.settings.report_interval_s = s.value("report_interval_s", int64_t{60});
    e.settings.long_poll_timeout_s = s.value("long_poll_timeout_s", int64_t{30});
  } catch (const Json::exception&) {
    return bad();
  }
  if (e.node_id.empty() || e.node_credential.empty()) return bad();
  return std::optional<Enrollment>(std::move(e));
}

core::Status StateDir::saveEnrollment(const Enrollment& e) const {
  const auto& s = e.settings;
  const Json j{{"node_id", e.node_id},
               {"node_credential", e.node_credential},
               {"settings",
                {{"tunnel_ipv4_cidr", s.tunnel_ipv4_cidr},
                 {"tunnel_ipv6_cidr", s.tunnel_ipv6_cidr},
                 {"wg_port", s.wg_port},
                 {"dns_servers", s.dns_servers},
                 {"dns_resolver", s.dns_resolver},
                 {"heartbeat_interval_s", s.heartbeat_interval_s},
                 {"report_interval_s", s.report_interval_s},
                 {"long_poll_timeout_s", s.long_poll_timeout_s}}}};
  return writeFileAtomic(path_ + "/node.json", j.dump(2) + "\n");
}

}  // namespace aureo::node
