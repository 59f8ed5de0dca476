#include "transports/path_table.hpp"

#include <algorithm>

namespace e3x::net {

PathTable::PathTable(std::size_t limit) : limit_(std::max<std::size_t>(limit, 1)) {}

PathEntry& PathTable::intern(const PathAddress& address) {
  const PathAddress key = normalised(address);
  if (auto found = by_address_.find(key); found != by_address_.end()) {
    PathEntry& entry = *found->second;
    if (!entry.pinned) list_of(entry).splice(list_of(entry).begin(), list_of(entry), found->second);
    return entry;
  }
  lru_.push_front(PathEntry{.id = next_id_++, .address = key});
  by_id_.emplace(lru_.front().id, lru_.begin());
  by_address_.emplace(key, lru_.begin());
  // Never the entry just made (the front of lru_), even if pinned entries fill the table;
  // untrusted entries go first.
  while (by_id_.size() > limit_) {
    Lru* from = lru_.size() > 1 ? &lru_ : (!trusted_.empty() ? &trusted_ : nullptr);
    if (from == nullptr) break;
    const PathEntry& oldest = from->back();
    by_id_.erase(oldest.id);
    by_address_.erase(oldest.address);
    from->pop_back();
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
  PathEntry& entry = *found->second;
  if (!entry.pinned) list_of(entry).splice(list_of(entry).begin(), list_of(entry), found->second);
  return true;
}

void PathTable::pin(PathEntry& entry) {
  if (entry.pinned) return;
  pinned_.splice(pinned_.end(), list_of(entry), by_id_.at(entry.id));
  entry.pinned = true;
}

void PathTable::trust(PathEntry& entry) {
  if (entry.pinned || entry.trusted) return;
  trusted_.splice(trusted_.begin(), lru_, by_id_.at(entry.id));
  entry.trusted = true;
}

}  // namespace e3x::net
