// What a node keeps across restarts, in its state directory (mode 0700,
// files 0600, written atomically):
//   wg.key      the WireGuard private key, base64; generated on first start
//   node.json   node id, node credential and the settings control sent when
//               the node enrolled
//   openvpn-*   the OpenVPN server key, certificates, tls-crypt key, config
#pragma once

#include <optional>
#include <string>

#include "core/result.h"
#include "node/control_client.h"
#include "wireguard/keys.h"

namespace aureo::node {

class StateDir {
 public:
  // Creates the directory (0700) if needed; refuses one that group or
  // others can read.
  static core::Result<StateDir> open(std::string path);

  // Reads wg.key, or generates and stores a new key when it does not exist.
  core::Result<wireguard::PrivateKey> loadOrCreatePrivateKey() const;

  // nullopt when the node has not enrolled yet.
  core::Result<std::optional<Enrollment>> loadEnrollment() const;
  core::Status saveEnrollment(const Enrollment& enrollment) const;

  // A file in the directory by name (no '/'), owner-only. nullopt when absent.
  core::Result<std::optional<std::string>> readPrivate(const std::string& name) const;
  // Replaces the file atomically, mode 0600.
  core::Status writePrivate(const std::string& name, const std::string& content) const;

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  explicit StateDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace aureo::node
