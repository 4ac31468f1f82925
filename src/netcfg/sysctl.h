// Kernel parameters under /proc/sys, by their sysctl(8) names.
//
// Keys under net.* belong to the network namespace of the calling thread.
// As in sysctl(8), a '/' inside a key segment stands for a '.' in the file
// name, so "net.ipv6.conf.eth0/100.disable_ipv6" names the VLAN eth0.100.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.h"

namespace aureo::netcfg {

inline constexpr std::string_view kIpv4Forward = "net.ipv4.ip_forward";
inline constexpr std::string_view kIpv6ForwardAll = "net.ipv6.conf.all.forwarding";
// Lets reverse-path filtering take the fwmark into account (wg-quick sets it).
inline constexpr std::string_view kSrcValidMark = "net.ipv4.conf.all.src_valid_mark";
inline constexpr std::string_view kProcSys = "/proc/sys";

// "net.ipv6.conf.<ifname>.disable_ipv6", with dots in ifname escaped.
std::string disableIpv6Key(std::string_view ifname);

// The file behind a key, or InvalidArgument for a malformed key (empty or
// "." / ".." segments, characters outside [A-Za-z0-9_-@/]).
core::Result<std::filesystem::path> sysctlPath(std::string_view key,
                                               const std::filesystem::path& root = kProcSys);

// The value without its trailing newline.
core::Result<std::string> readSysctl(std::string_view key,
                                     const std::filesystem::path& root = kProcSys);
core::Status writeSysctl(std::string_view key, std::string_view value,
                         const std::filesystem::path& root = kProcSys);

// Sets a key and puts the previous value back when destroyed (or on
// restore()). release() keeps the new value.
class SysctlGuard {
 public:
  static core::Result<SysctlGuard> set(std::string_view key, std::string_view value,
                                       const std::filesystem::path& root = kProcSys);

  SysctlGuard(SysctlGuard&& other) noexcept;
  SysctlGuard& operator=(SysctlGuard&& other) noexcept;
  SysctlGuard(const SysctlGuard&) = delete;
  SysctlGuard& operator=(const SysctlGuard&) = delete;
  ~SysctlGuard();

  // Writes the previous value back now; later calls (and the destructor) do
  // nothing.
  core::Status restore();
  void release() { active_ = false; }
  [[nodiscard]] const std::string& previous() const { return previous_; }

 private:
  SysctlGuard(std::string key, std::string previous, std::filesystem::path root);

  std::string key_;
  std::string previous_;
  std::filesystem::path root_;
  bool active_ = false;
};

}  // namespace aureo::netcfg
