#include "transports/path_table.hpp"

#include <algorithm>

namespace e3x::net {

PathTable::PathTable(std::size_t limit) : limit_(std::max<std::size_t>(limit, 1)) {}

PathEntry& PathTable::intern(const PathAddress& address) {
  const PathAddress key = normalised(address);
  if (auto found = by_address_.find(key); found != by_address_.end()) {
    if (!found->second->pinned) lru_.splice(lru_.begin(), lru_, found->second);
    return *found->second;
  }
  lru_.push_front(PathEntry{.id = next_id_++, .address = key});
  by_id_.emplace(lru_.front().id, lru_.begin());
  by_address_.emplace(key, lru_.begin());
  // Never the entry just made (the front), even if pinned entries fill the table.
  while (by_id_.size() > limit_ && lru_.size() > 1) {
    const PathEntry& oldest = lru_.back();
    by_id_.erase(oldest.id);
    by_address_.erase(oldest.address);
    lru_.pop_back();
    ++evicted_;
  }
  return lru_.front();
}

PathEntry* PathTable::find(PathId id) {
  auto found = by_id_.find(id);
  return found == by_id_.end() ? nullptr : &*found->second;
}

const PathEntry* PathTable::find(PathId id) const {
  auto found = by_id_.find(id);
  return found == by_id_.end() ? nullptr : &*found->second;
}

bool PathTable::touch(PathId id) {
  auto found = by_id_.find(id);
  if (found == by_id_.end()) return false;
  if (!found->second->pinned) lru_.splice(lru_.begin(), lru_, found->second);
  return true;
}

void PathTable::pin(PathEntry& entry) {
  if (entry.pinned) return;
  entry.pinned = true;
  pinned_.splice(pinned_.end(), lru_, by_id_.at(entry.id));
}

}  // namespace e3x::net
