#include "netcfg/cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "core/errno_text.h"

namespace aureo::netcfg {
namespace {

namespace fs = std::filesystem;

core::Error ioError(std::string_view what, const fs::path& path, int err) {
  core::Code code = core::Code::kInternal;
  if (err == ENOENT) code = core::Code::kNotFound;
  if (err == EEXIST) code = core::Code::kAlreadyExists;
  if (err == EACCES || err == EPERM || err == EROFS) code = core::Code::kPermissionDenied;
  if (err == EBUSY) code = core::Code::kFailedPrecondition;
  if (err == ESRCH) code = core::Code::kNotFound;
  return {code, fmt::format("{} {}: {}", what, path.string(), core::errnoText(err)), {}};
}

core::Status checkCgroup2(const fs::path& mount) {
  struct statfs st {};
  if (::statfs(mount.c_str(), &st) != 0) return ioError("statfs", mount, errno);
  if (static_cast<unsigned long>(st.f_type) != CGROUP2_SUPER_MAGIC) {
    return core::failedPrecondition(fmt::format("{} is not a cgroup v2 mount", mount.string()));
  }
  return {};
}

core::Status writeText(const fs::path& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ioError("open", path, errno);
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0) return ioError(fmt::format("write '{}' to", text), path, err);
  return {};
}

core::Result<std::vector<pid_t>> readPids(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return ioError("open", path, errno);
  std::vector<pid_t> pids;
  std::string line;
  while (std::getline(in, line)) {
    pid_t pid = 0;
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (ec == std::errc{} && ptr == line.data() + line.size()) pids.push_back(pid);
  }
  return pids;
}

}  // namespace

core::Result<fs::path> findCgroup2Mount(const fs::path& mounts) {
  std::ifstream in(mounts);
  if (!in) return ioError("open", mounts, errno);
  std::string line;
  std::vector<fs::path> found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string source;
    std::string target;
    std::string type;
    if (!(fields >> source >> target >> type)) continue;
    if (type == "cgroup2") found.emplace_back(target);
  }
  if (found.empty()) return core::notFound("no cgroup v2 mount");
  // Prefer the one nft can name (under /sys/fs/cgroup).
  for (const auto& p : found) {
    const std::string s = p.string();
    if (s == kCgroupMount || s.starts_with(fmt::format("{}/", kCgroupMount))) return p;
  }
  return found.front();
}

Cgroup::Cgroup(fs::path mount, std::string relative)
    : mount_(std::move(mount)), relative_(std::move(relative)), path_(mount_ / relative_) {}

core::Result<Cgroup> Cgroup::create(std::string_view relative, const fs::path& mount) {
  if (!isValidCgroupPath(relative)) {
    return core::invalidArgument(fmt::format("invalid cgroup path '{}'", relative), "relative");
  }
  AUREO_RETURN_IF_ERROR(checkCgroup2(mount));
  Cgroup cg(mount, std::string(relative));
  // Parents first; an existing parent is fine, an existing leaf is not.
  fs::path at = mount;
  const fs::path rel(cg.relative_);
  for (auto it = rel.begin(); it != rel.end(); ++it) {
    at /= *it;
    const bool leaf = std::next(it) == rel.end();
    if (::mkdir(at.c_str(), 0755) != 0 && (leaf || errno != EEXIST)) {
      return ioError("mkdir", at, errno);
    }
  }
  return cg;
}

core::Result<Cgroup> Cgroup::open(std::string_view relative, const fs::path& mount) {
  if (!isValidCgroupPath(relative)) {
    return core::invalidArgument(fmt::format("invalid cgroup path '{}'", relative), "relative");
  }
  AUREO_RETURN_IF_ERROR(checkCgroup2(mount));
  Cgroup cg(mount, std::string(relative));
  struct stat st {};
  if (::stat(cg.path_.c_str(), &st) != 0) return ioError("stat", cg.path_, errno);
  if (!S_ISDIR(st.st_mode))
    return core::failedPrecondition(fmt::format("{} is not a cgroup", cg.path_.string()));
  return cg;
}

core::Status Cgroup::addProcess(pid_t pid) const {
  if (pid <= 0) return core::invalidArgument("pid must be positive", "pid");
  return writeText(path_ / "cgroup.procs", std::to_string(pid));
}

core::Result<std::vector<pid_t>> Cgroup::processes() const {
  return readPids(path_ / "cgroup.procs");
}

core::Result<uint64_t> Cgroup::id() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return ioError("stat", path_, errno);
  return static_cast<uint64_t>(st.st_ino);
}

int Cgroup::level() const {
  return static_cast<int>(std::count(relative_.begin(), relative_.end(), '/')) + 1;
}

core::Result<CgroupMatch> Cgroup::nftMatch() const {
  const fs::path full = path_.lexically_normal();
  const fs::path rel = full.lexically_relative(kCgroupMount);
  const std::string text = rel.string();
  if (rel.empty() || text.starts_with("..") || !isValidCgroupPath(text)) {
    return core::failedPrecondition(fmt::format(
        "nft names cgroups relative to {}, and {} is not below it", kCgroupMount, full.string()));
  }
  return CgroupMatch{text, level()};
}

core::Status Cgroup::remove() const {
  AUREO_ASSIGN_OR_RETURN(const auto pids, processes());
  const fs::path parent_procs = path_.parent_path() / "cgroup.procs";
  for (const pid_t pid : pids) {
    auto moved = writeText(parent_procs, std::to_string(pid));
    // A process that exited meanwhile is gone from the cgroup anyway.
    if (!moved.ok() && moved.error().code != core::Code::kNotFound) return moved;
  }
  if (::rmdir(path_.c_str()) != 0) return ioError("rmdir", path_, errno);
  return {};
}

}  // namespace aureo::netcfg
