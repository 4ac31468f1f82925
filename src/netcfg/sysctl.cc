#include "netcfg/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "core/errno_text.h"

namespace aureo::netcfg {
namespace {

// Sysctl values are short; a longer read means the key is not what we think.
constexpr size_t kMaxValue = 4096;

core::Error fileError(std::string_view what, const std::filesystem::path& path, int err) {
  core::Code code = core::Code::kInternal;
  if (err == ENOENT) code = core::Code::kNotFound;
  if (err == EACCES || err == EPERM || err == EROFS) code = core::Code::kPermissionDenied;
  if (err == EINVAL) code = core::Code::kInvalidArgument;
  return {code, fmt::format("{} {}: {}", what, path.string(), core::errnoText(err)), {}};
}

bool validSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '@' || c == '/';
}

}  // namespace

std::string disableIpv6Key(std::string_view ifname) {
  std::string escaped(ifname);
  for (char& c : escaped) {
    if (c == '.') c = '/';
  }
  return fmt::format("net.ipv6.conf.{}.disable_ipv6", escaped);
}

core::Result<std::filesystem::path> sysctlPath(std::string_view key,
                                               const std::filesystem::path& root) {
  if (key.empty() || key.size() > 255) return core::invalidArgument("bad sysctl key", "key");
  std::filesystem::path path = root;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('.', start);
    if (end == std::string_view::npos) end = key.size();
    std::string segment(key.substr(start, end - start));
    for (char& c : segment) {
      if (!validSegmentChar(c)) {
        return core::invalidArgument(fmt::format("bad sysctl key '{}'", key), "key");
      }
      if (c == '/') c = '.';
    }
    if (segment.empty() || segment == "." || segment == "..") {
      return core::invalidArgument(fmt::format("bad sysctl key '{}'", key), "key");
    }
    path /= segment;
    start = end + 1;
  }
  return path;
}

core::Result<std::string> readSysctl(std::string_view key, const std::filesystem::path& root) {
  AUREO_ASSIGN_OR_RETURN(const auto path, sysctlPath(key, root));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fileError("open", path, errno);
  std::string value(kMaxValue + 1, '\0');
  size_t got = 0;
  while (got < value.size()) {
    const ssize_t n = ::read(fd, value.data() + got, value.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return fileError("read", path, err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxValue)
    return core::Error{core::Code::kOutOfRange, fmt::format("{}: value too long", key), {}};
  value.resize(got);
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

core::Status writeSysctl(std::string_view key, std::string_view value,
                         const std::filesystem::path& root) {
  AUREO_ASSIGN_OR_RETURN(const auto path, sysctlPath(key, root));
  if (value.size() > kMaxValue || value.find('\n') != std::string_view::npos) {
    return core::invalidArgument(fmt::format("bad value for {}", key), "value");
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fileError("open", path, errno);
  const std::string line = fmt::format("{}\n", value);
  ssize_t n;
  do {
    n = ::write(fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0) return fileError(fmt::format("write '{}' to", value), path, err);
  if (static_cast<size_t>(n) != line.size()) {
    return core::internalError(fmt::format("short write to {}", path.string()));
  }
  return {};
}

SysctlGuard::SysctlGuard(std::string key, std::string previous, std::filesystem::path root)
    : key_(std::move(key)), previous_(std::move(previous)), root_(std::move(root)), active_(true) {}

SysctlGuard::SysctlGuard(SysctlGuard&& other) noexcept
    : key_(std::move(other.key_)),
      previous_(std::move(other.previous_)),
      root_(std::move(other.root_)),
      active_(std::exchange(other.active_, false)) {}

SysctlGuard& SysctlGuard::operator=(SysctlGuard&& other) noexcept {
  if (this != &other) {
    (void)restore();
    key_ = std::move(other.key_);
    previous_ = std::move(other.previous_);
    root_ = std::move(other.root_);
    active_ = std::exchange(other.active_, false);
  }
  return *this;
}

SysctlGuard::~SysctlGuard() {
  // Nowhere to report a failure from a destructor; callers who care call
  // restore() themselves.
  (void)restore();
}

core::Result<SysctlGuard> SysctlGuard::set(std::string_view key, std::string_view value,
                                           const std::filesystem::path& root) {
  AUREO_ASSIGN_OR_RETURN(std::string previous, readSysctl(key, root));
  AUREO_RETURN_IF_ERROR(writeSysctl(key, value, root));
  return SysctlGuard(std::string(key), std::move(previous), root);
}

core::Status SysctlGuard::restore() {
  if (!active_) return {};
  active_ = false;
  return writeSysctl(key_, previous_, root_);
}

}  // namespace aureo::netcfg
