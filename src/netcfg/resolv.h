// Replacing /etc/resolv.conf while connected, and putting the original back
// byte for byte.
//
// The original is saved to a backup file before anything changes, so a later
// process can restore it after a crash: a client that died connected calls
// restore() on its next start. The backup records what the path was: a
// regular file (bytes, mode, owner), a symbolic link (its target, so
// systemd-resolved's stub link comes back as a link) or nothing at all.
// Every replacement is written beside the target and renamed over it; a
// target that cannot be renamed over (a bind mount, as in containers) is
// rewritten in place instead.
//
// Not thread-safe, and one process at a time: the client holds its own lock.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/result.h"

namespace aureo::netcfg {

inline constexpr std::string_view kResolvConf = "/etc/resolv.conf";

class ResolvConf {
 public:
  ResolvConf(std::filesystem::path target, std::filesystem::path backup);

  // Saves the current target unless a backup already exists (a previous run
  // died before restoring: that backup is the real original and is kept),
  // then writes a resolv.conf naming `nameservers` in order.
  core::Status install(const std::vector<core::IpAddress>& nameservers,
                       const std::vector<std::string>& search_domains = {});

  // Puts the saved original back exactly and deletes the backup. Without a
  // backup there is nothing to undo and this succeeds.
  core::Status restore();

  [[nodiscard]] bool hasBackup() const;
  [[nodiscard]] const std::filesystem::path& target() const { return target_; }
  [[nodiscard]] const std::filesystem::path& backup() const { return backup_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path backup_;
};

// The text install() writes.
core::Result<std::string> renderResolvConf(const std::vector<core::IpAddress>& nameservers,
                                           const std::vector<std::string>& search_domains = {});

}  // namespace aureo::netcfg
