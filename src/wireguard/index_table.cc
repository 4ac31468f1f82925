#include "wireguard/index_table.h"

#include <mutex>

#include "wireguard/internal/primitives.h"
#include "wireguard/keypair.h"

namespace aureo::wireguard {

uint32_t IndexTable::insertHandshake(Peer* peer) {
  std::unique_lock lock(mutex_);
  for (;;) {
    const uint32_t index = internal::randomU32();
    if (entries_.try_emplace(index, Entry{peer, nullptr}).second) return index;
  }
}

void IndexTable::replaceWithKeypair(uint32_t index, std::shared_ptr<Keypair> keypair) {
  std::unique_lock lock(mutex_);
  auto it = entries_.find(index);
  if (it != entries_.end()) it->second.keypair = std::move(keypair);
}

void IndexTable::remove(uint32_t index) {
  std::shared_ptr<Keypair> dying;  // freed after the lock is released
  std::unique_lock lock(mutex_);
  auto it = entries_.find(index);
  if (it == entries_.end()) return;
  dying = std::move(it->second.keypair);
  entries_.erase(it);
}

void IndexTable::clear() {
  std::unordered_map<uint32_t, Entry> dying;
  std::unique_lock lock(mutex_);
  dying.swap(entries_);
}

std::optional<IndexTable::Entry> IndexTable::lookup(uint32_t index) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(index);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

size_t IndexTable::size() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

}  // namespace aureo::wireguard
