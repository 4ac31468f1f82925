// The receiver-index table: every message after the first names the
// receiver's 32-bit index, which leads here to the peer's handshake or to one
// of its sessions. Indices are random, so they reveal nothing about how many
// peers or sessions exist.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

namespace aureo::wireguard {

class Keypair;
class Peer;

class IndexTable {
 public:
  struct Entry {
    Peer* peer = nullptr;
    std::shared_ptr<Keypair> keypair;  // null while the index names a handshake
  };

  // A fresh unused index for peer's handshake. Safe from any thread.
  uint32_t insertHandshake(Peer* peer);
  // The handshake at index became keypair (which keeps the same index).
  void replaceWithKeypair(uint32_t index, std::shared_ptr<Keypair> keypair);
  void remove(uint32_t index);
  void clear();
  [[nodiscard]] std::optional<Entry> lookup(uint32_t index) const;
  [[nodiscard]] size_t size() const;

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<uint32_t, Entry> entries_;  // guarded by mutex_
};

}  // namespace aureo::wireguard
