// The signed-in account's tokens, kept in one JSON file only its owner can
// read (~/.config/aureo-vpn/credentials.json, mode 0600, folder 0700).
//
// Writes are atomic: a new file is written beside the old one, synced and
// renamed over it, so a crash or a second process never sees half a file.
// Refreshing takes lock() first, so two commands running at once do not both
// spend the same refresh token (the server would take the second use as a
// stolen token and end the login).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "core/result.h"

namespace aureo::cli {

struct Credentials {
  std::string server;  // the API the tokens belong to; never sent elsewhere
  std::string email;
  std::string user_id;
  std::string role;  // "user" or "admin", as of the last login
  std::string access_token;
  std::string refresh_token;

  bool operator==(const Credentials&) const = default;
};

// An exclusive flock(2) held until destruction.
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {}
  ~FileLock();
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;

 private:
  int fd_;
};

class CredentialStore {
 public:
  explicit CredentialStore(std::filesystem::path dir);

  [[nodiscard]] std::filesystem::path file() const { return dir_ / "credentials.json"; }

  // nullopt when nobody is signed in. kFailedPrecondition if the file can be
  // read by group or others (it is not trusted then, like ssh's keys);
  // kDataLoss if it is not valid JSON.
  [[nodiscard]] core::Result<std::optional<Credentials>> load() const;

  // Creates the folder (0700) if needed and replaces the file atomically (0600).
  [[nodiscard]] core::Status save(const Credentials& credentials) const;

  // Removes the file; fine if it was not there.
  [[nodiscard]] core::Status remove() const;

  // Blocks until this process holds the store's lock (a separate lock file,
  // so the atomic rename of the data file does not drop it).
  [[nodiscard]] core::Result<FileLock> lock() const;

 private:
  [[nodiscard]] core::Status ensureDir() const;
  std::filesystem::path dir_;
};

}  // namespace aureo::cli
