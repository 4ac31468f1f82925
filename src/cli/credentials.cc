#include "cli/credentials.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace aureo::cli {
namespace {

using Json = nlohmann::json;

core::Error systemError(const std::string& what, const std::filesystem::path& path) {
  return core::unavailable(
      fmt::format("{} {}: {}", what, path.string(), std::system_category().message(errno)));
}

core::Status writeAll(int fd, const std::string& data, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return systemError("cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the flock
}

CredentialStore::CredentialStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

core::Status CredentialStore::ensureDir() const {
  std::error_code ec;
  if (dir_.has_parent_path()) std::filesystem::create_directories(dir_.parent_path(), ec);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return systemError("cannot create", dir_);
  }
  // The folder may predate us with a looser mode; tokens live here.
  if (::chmod(dir_.c_str(), 0700) != 0) return systemError("cannot chmod", dir_);
  return {};
}

core::Result<std::optional<Credentials>> CredentialStore::load() const {
  const auto path = file();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<Credentials>();
    return systemError("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return systemError("cannot stat", path);
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return core::failedPrecondition(
        fmt::format("{} is accessible by other users (mode {:04o}); run `chmod 600 {}` or log in "
                    "again",
                    path.string(), st.st_mode & 07777, path.string()));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return systemError("cannot read", path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);

  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return core::Error{core::Code::kDataLoss,
                       fmt::format("{} is not valid JSON; log in again", path.string()),
                       {}};
  }
  auto str = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return std::optional<Credentials>(Credentials{str("server"), str("email"), str("user_id"),
                                                str("role"), str("access_token"),
                                                str("refresh_token")});
}

core::Status CredentialStore::save(const Credentials& c) const {
  AUREO_RETURN_IF_ERROR(ensureDir());
  const Json j{{"server", c.server},
               {"email", c.email},
               {"user_id", c.user_id},
               {"role", c.role},
               {"access_token", c.access_token},
               {"refresh_token", c.refresh_token}};
  const std::string text = j.dump(2) + "\n";

  // mkstemp creates the file with mode 0600 before anything is written.
  std::string tmp = (dir_ / ".credentials.json.XXXXXX").string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return systemError("cannot create a file in", dir_);
  auto fail = [&](core::Error e) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  if (::fchmod(fd, 0600) != 0) return fail(systemError("cannot chmod", tmp));
  if (auto st = writeAll(fd, text, tmp); !st.ok()) return fail(st.error());
  if (::fsync(fd) != 0) return fail(systemError("cannot sync", tmp));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return systemError("cannot close", tmp);
  }
  if (::rename(tmp.c_str(), file().c_str()) != 0) {
    const auto e = systemError("cannot replace", file());
    ::unlink(tmp.c_str());
    return e;
  }
  // Make the rename itself durable.
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

core::Status CredentialStore::remove() const {
  if (::unlink(file().c_str()) != 0 && errno != ENOENT) return systemError("cannot remove", file());
  return {};
}

core::Result<FileLock> CredentialStore::lock() const {
  AUREO_RETURN_IF_ERROR(ensureDir());
  const auto path = dir_ / "credentials.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return systemError("cannot open", path);
  FileLock lock(fd);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return systemError("cannot lock", path);
  }
  return lock;
}

}  // namespace aureo::cli
