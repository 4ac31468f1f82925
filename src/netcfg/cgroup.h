// cgroup v2 helpers for excluding applications from the tunnel: make a
// cgroup, put a process in it, and name it the way nftables'
// `socket cgroupv2` match wants.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "netcfg/rulesets.h"

namespace aureo::netcfg {

inline constexpr std::string_view kCgroupMount = "/sys/fs/cgroup";

// Where cgroup v2 is mounted according to `mounts` (a /proc/self/mounts
// file): /sys/fs/cgroup on unified systems, /sys/fs/cgroup/unified on hybrid
// ones. NotFound if there is none.
core::Result<std::filesystem::path> findCgroup2Mount(
    const std::filesystem::path& mounts = "/proc/self/mounts");

class Cgroup {
 public:
  // Creates `relative` (e.g. "aureo-exclude" or "aureo/app-1") under a
  // cgroup v2 mount; missing parents are created too. AlreadyExists if the
  // cgroup itself exists.
  static core::Result<Cgroup> create(std::string_view relative,
                                     const std::filesystem::path& mount = kCgroupMount);
  // An existing cgroup.
  static core::Result<Cgroup> open(std::string_view relative,
                                   const std::filesystem::path& mount = kCgroupMount);

  // Moves a process (all its threads) into this cgroup.
  core::Status addProcess(pid_t pid) const;
  core::Result<std::vector<pid_t>> processes() const;
  // The cgroup id: the inode number of its directory, which is what the
  // kernel compares in `socket cgroupv2`.
  core::Result<uint64_t> id() const;
  // Depth below the hierarchy root (the mount), 1 for a top-level cgroup.
  [[nodiscard]] int level() const;
  // The `socket cgroupv2` operands. nft resolves paths relative to
  // /sys/fs/cgroup, so a mount elsewhere is FailedPrecondition.
  core::Result<CgroupMatch> nftMatch() const;
  // Moves any processes left to the parent cgroup, then removes the
  // directory. Parents that create() made are left alone.
  core::Status remove() const;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  Cgroup(std::filesystem::path mount, std::string relative);

  std::filesystem::path mount_;
  std::string relative_;
  std::filesystem::path path_;
};

}  // namespace aureo::netcfg
