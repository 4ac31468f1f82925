#include "netcfg/resolv.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "core/errno_text.h"

namespace aureo::netcfg {
namespace {

namespace fs = std::filesystem;

// resolv.conf is a few hundred bytes; anything near this is not one.
constexpr size_t kMaxFileSize = size_t{1024} * 1024;
constexpr std::string_view kMagic = "aureo-resolv-backup 1";

core::Error ioError(std::string_view what, const fs::path& path, int err) {
  core::Code code = core::Code::kInternal;
  if (err == ENOENT) code = core::Code::kNotFound;
  if (err == EACCES || err == EPERM || err == EROFS) code = core::Code::kPermissionDenied;
  return {code, fmt::format("{} {}: {}", what, path.string(), core::errnoText(err)), {}};
}

// What the target path was before we touched it.
struct Original {
  enum class Kind { kFile, kSymlink, kAbsent } kind = Kind::kAbsent;
  std::string bytes;  // file contents or link target
  mode_t mode = 0644;
  uid_t uid = 0;
  gid_t gid = 0;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

core::Status writeAll(int fd, std::string_view data, const fs::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

core::Result<std::string> readAll(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return ioError("open", path, errno);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileSize) {
      return core::resourceExhausted(
          fmt::format("{} is larger than {} bytes", path.string(), kMaxFileSize));
    }
  }
  return out;
}

core::Status syncDirectory(const fs::path& file) {
  fs::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ioError("open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return ioError("fsync", dir, errno);
  return {};
}

fs::path tempBeside(const fs::path& path) {
  return path.parent_path() / fmt::format(".{}.aureo-tmp", path.filename().string());
}

// Writes `data` to a temporary file beside `path` and renames it over `path`,
// so readers see the old file or the new one, never half of either.
core::Status replaceFile(const fs::path& path, std::string_view data, mode_t mode,
                         std::optional<std::pair<uid_t, gid_t>> owner) {
  const fs::path tmp = tempBeside(path);
  ::unlink(tmp.c_str());
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return ioError("create", tmp, errno);
    AUREO_RETURN_IF_ERROR(writeAll(fd.get(), data, tmp));
    if (owner && ::fchown(fd.get(), owner->first, owner->second) != 0 && errno != EPERM) {
      return ioError("chown", tmp, errno);
    }
    // fchmod after fchown: chown may clear set-id bits, and the umask must
    // not decide the final mode.
    if (::fchmod(fd.get(), mode) != 0) return ioError("chmod", tmp, errno);
    if (::fsync(fd.get()) != 0) return ioError("fsync", tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err != EBUSY && err != EXDEV) return ioError("rename over", path, err);
    // A bind-mounted file (containers) cannot be replaced, only rewritten.
    Fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (fd.get() < 0) return ioError("open", path, errno);
    AUREO_RETURN_IF_ERROR(writeAll(fd.get(), data, path));
    if (::fsync(fd.get()) != 0) return ioError("fsync", path, errno);
    return {};
  }
  return syncDirectory(path);
}

core::Status replaceWithSymlink(const fs::path& path, const std::string& target) {
  const fs::path tmp = tempBeside(path);
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return ioError("symlink", tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ioError("rename over", path, err);
  }
  return syncDirectory(path);
}

core::Result<Original> capture(const fs::path& path) {
  Original o;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return o;
    return ioError("stat", path, errno);
  }
  if (S_ISLNK(st.st_mode)) {
    o.kind = Original::Kind::kSymlink;
    std::string target(4096, '\0');
    const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) return ioError("readlink", path, errno);
    if (static_cast<size_t>(n) >= target.size()) {
      return core::resourceExhausted(fmt::format("{}: link target too long", path.string()));
    }
    target.resize(static_cast<size_t>(n));
    o.bytes = std::move(target);
    return o;
  }
  if (!S_ISREG(st.st_mode)) {
    return core::failedPrecondition(
        fmt::format("{} is neither a regular file nor a symbolic link", path.string()));
  }
  o.kind = Original::Kind::kFile;
  o.mode = st.st_mode & 07777;
  o.uid = st.st_uid;
  o.gid = st.st_gid;
  AUREO_ASSIGN_OR_RETURN(o.bytes, readAll(path));
  return o;
}

std::string_view kindName(Original::Kind kind) {
  switch (kind) {
    case Original::Kind::kFile: return "file";
    case Original::Kind::kSymlink: return "symlink";
    case Original::Kind::kAbsent: return "absent";
  }
  return "absent";
}

// Header lines, a blank line, then exactly `length` payload bytes.
std::string encode(const Original& o) {
  return fmt::format("{}\nkind {}\nmode {:o}\nuid {}\ngid {}\nlength {}\n\n{}", kMagic,
                     kindName(o.kind), o.mode, o.uid, o.gid, o.bytes.size(), o.bytes);
}

template <typename T>
bool parseNumber(std::string_view text, T& out, int base = 10) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

core::Result<Original> decode(std::string_view data, const fs::path& path) {
  const auto corrupt = [&](std::string_view why) {
    return core::Error{
        core::Code::kDataLoss, fmt::format("backup {} is corrupt: {}", path.string(), why), {}};
  };
  const size_t end = data.find("\n\n");
  if (end == std::string_view::npos) return corrupt("no header");
  std::string_view header = data.substr(0, end + 1);
  const std::string_view payload = data.substr(end + 2);
  Original o;
  std::optional<size_t> length;
  bool magic = false;
  bool kind = false;
  while (!header.empty()) {
    const size_t nl = header.find('\n');
    const std::string_view line = header.substr(0, nl);
    header.remove_prefix(nl + 1);
    if (line == kMagic) {
      magic = true;
      continue;
    }
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return corrupt("bad header line");
    const std::string_view key = line.substr(0, sp);
    const std::string_view value = line.substr(sp + 1);
    bool ok = true;
    if (key == "kind") {
      kind = true;
      if (value == "file") {
        o.kind = Original::Kind::kFile;
      } else if (value == "symlink") {
        o.kind = Original::Kind::kSymlink;
      } else if (value == "absent") {
        o.kind = Original::Kind::kAbsent;
      } else {
        ok = false;
      }
    } else if (key == "mode") {
      ok = parseNumber(value, o.mode, 8) && o.mode <= 07777;
    } else if (key == "uid") {
      ok = parseNumber(value, o.uid);
    } else if (key == "gid") {
      ok = parseNumber(value, o.gid);
    } else if (key == "length") {
      size_t n = 0;
      ok = parseNumber(value, n);
      length = n;
    }
    if (!ok) return corrupt(fmt::format("bad {}", key));
  }
  if (!magic || !kind || !length) return corrupt("missing header fields");
  if (payload.size() != *length) return corrupt("payload length differs (truncated?)");
  o.bytes = std::string(payload);
  return o;
}

bool validSearchDomain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  for (const char c : d) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

core::Result<std::string> renderResolvConf(const std::vector<core::IpAddress>& nameservers,
                                           const std::vector<std::string>& search_domains) {
  if (nameservers.empty()) return core::invalidArgument("no nameservers", "nameservers");
  std::string out =
      "# Written by Aureo VPN while connected; the original comes back on disconnect.\n";
  for (const auto& ns : nameservers) out += fmt::format("nameserver {}\n", ns.toString());
  if (!search_domains.empty()) {
    for (const auto& d : search_domains) {
      if (!validSearchDomain(d)) {
        return core::invalidArgument(fmt::format("invalid search domain '{}'", d),
                                     "search_domains");
      }
    }
    out += fmt::format("search {}\n", fmt::join(search_domains, " "));
  }
  return out;
}

ResolvConf::ResolvConf(std::filesystem::path target, std::filesystem::path backup)
    : target_(std::move(target)), backup_(std::move(backup)) {}

bool ResolvConf::hasBackup() const {
  struct stat st {};
  return ::lstat(backup_.c_str(), &st) == 0;
}

core::Status ResolvConf::install(const std::vector<core::IpAddress>& nameservers,
                                 const std::vector<std::string>& search_domains) {
  AUREO_ASSIGN_OR_RETURN(const std::string text, renderResolvConf(nameservers, search_domains));
  if (!hasBackup()) {
    AUREO_ASSIGN_OR_RETURN(const Original original, capture(target_));
    // The backup is durable before the target changes: a crash between the
    // two leaves the original in place and a backup of it, both harmless.
    AUREO_RETURN_IF_ERROR(replaceFile(backup_, encode(original), 0600, std::nullopt));
  }
  return replaceFile(target_, text, 0644, std::nullopt);
}

core::Status ResolvConf::restore() {
  auto data = readAll(backup_);
  if (!data.ok()) {
    if (data.error().code == core::Code::kNotFound) return {};
    return std::move(data).error();
  }
  AUREO_ASSIGN_OR_RETURN(const Original original, decode(*data, backup_));
  switch (original.kind) {
    case Original::Kind::kFile:
      AUREO_RETURN_IF_ERROR(replaceFile(target_, original.bytes, original.mode,
                                        std::make_pair(original.uid, original.gid)));
      break;
    case Original::Kind::kSymlink:
      AUREO_RETURN_IF_ERROR(replaceWithSymlink(target_, original.bytes));
      break;
    case Original::Kind::kAbsent:
      if (::unlink(target_.c_str()) != 0 && errno != ENOENT) {
        return ioError("remove", target_, errno);
      }
      AUREO_RETURN_IF_ERROR(syncDirectory(target_));
      break;
  }
  // Only now is the backup redundant; a crash before this line repeats an
  // idempotent restore next time.
  if (::unlink(backup_.c_str()) != 0 && errno != ENOENT) return ioError("remove", backup_, errno);
  return syncDirectory(backup_);
}

}  // namespace aureo::netcfg
