#include "api/bootstrap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/errno_text.h"
#include "core/ids.h"
#include "crypto/encoding.h"
#include "store/store.h"

namespace aureo::api {

core::Result<std::string> loadOrCreateSecretFile(const std::string& path, size_t random_bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  if (p.has_parent_path() && !fs::exists(p.parent_path(), ec)) {
    fs::create_directories(p.parent_path(), ec);
    if (ec)
      return core::unavailable("cannot create " + p.parent_path().string() + ": " + ec.message());
    ::chmod(p.parent_path().c_str(), 0700);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
      ::close(fd);
      return core::failedPrecondition(path + " is readable by group or others; chmod 600 it");
    }
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    ::close(fd);
    if (n <= 0) return core::failedPrecondition(path + " is empty or unreadable");
    std::string s(buf, static_cast<size_t>(n));
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (s.size() < 32) return core::failedPrecondition(path + " holds fewer than 32 characters");
    return s;
  }
  if (errno != ENOENT)
    return core::unavailable("cannot read " + path + ": " + core::errnoText(errno));
  const std::string secret = crypto::randomToken(random_bytes);
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return core::unavailable("cannot create " + path + ": " + core::errnoText(errno));
  const std::string line = secret + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return core::unavailable("cannot write " + path);
  return secret;
}

core::Result<std::optional<std::string>> ensureAdmin(store::Store& store, const core::Clock& clock,
                                                     const std::string& email,
                                                     const crypto::Argon2Params& params) {
  store::UserFilter filter;
  filter.role = "admin";
  AUREO_ASSIGN_OR_RETURN(auto admins, store.users().list(filter, {1, 0}));
  if (admins.total > 0) return std::optional<std::string>{};
  const std::string password = crypto::randomToken(18);
  AUREO_ASSIGN_OR_RETURN(std::string hash, crypto::hashPassword(password, params));
  store::User admin;
  admin.id = core::newUuid();
  admin.email = email;
  admin.username = "admin";
  admin.password_hash = hash;
  admin.role = "admin";
  admin.subscription_tier = "enterprise";
  admin.created_at = admin.updated_at = clock.now();
  AUREO_RETURN_IF_ERROR(store.users().create(admin));
  return std::optional<std::string>{password};
}

}  // namespace aureo::api
