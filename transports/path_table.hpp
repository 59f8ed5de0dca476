// Address <-> opaque path id, bounded. Ids count up from 1 and are never reused, so an id the
// core still holds for an evicted address can never reach a different address. When more than
// `limit` addresses are known, the least recently used untrusted one is forgotten; a trusted
// one (an address a peer's authenticated packet came from) only when no untrusted one is left
// to forget. Pinned entries (the daemon's configured endpoints) are never evicted. So a flood
// of packets from new (possibly spoofed) addresses cannot make the daemon forget where its
// peers are, configured or learned.
#pragma once

#include <cstddef>
#include <list>
#include <unordered_map>

#include "core/events.hpp"
#include "transports/path_address.hpp"

namespace e3x::net {

struct PathEntry {
  PathId id = kNoPath;
  PathAddress address;
  bool peer_cloaks = false;  // the peer has sent us a cloaked packet: answer cloaked
  bool pinned = false;       // never evicted (set by pin())
  bool trusted = false;      // a peer's authenticated packet came from here (set by trust())
};

class PathTable {
 public:
  // A limit of 0 is treated as 1.
  explicit PathTable(std::size_t limit);

  // The entry for `address` (normalised first), created with a fresh id if unknown. Marks it
  // most recently used; may evict the least recently used other entry. The reference stays
  // valid until that entry is evicted.
  PathEntry& intern(const PathAddress& address);

  // The entry for `id`, or nullptr if unknown or evicted. Does not change the LRU order.
  PathEntry* find(PathId id);
  const PathEntry* find(PathId id) const;

  // Marks `id` most recently used; false if unknown or evicted.
  bool touch(PathId id);

  // Exempts the entry from eviction for good. Pinned entries count towards the limit, but
  // while they fill it the table still keeps the newest unpinned entry.
  void pin(PathEntry& entry);
  // Marks the entry as a peer's (authenticated traffic came from it): evicted only after
  // every untrusted entry. No effect on a pinned entry.
  void trust(PathEntry& entry);

  std::size_t size() const { return by_id_.size(); }
  std::size_t limit() const { return limit_; }
  std::uint64_t evicted() const { return evicted_; }

 private:
  using Lru = std::list<PathEntry>;  // front: most recently used

  std::size_t limit_;
  PathId next_id_ = 1;
  std::uint64_t evicted_ = 0;
  Lru& list_of(const PathEntry& entry) { return entry.trusted ? trusted_ : lru_; }

  Lru lru_;      // unpinned, untrusted entries
  Lru trusted_;  // unpinned, trusted entries
  Lru pinned_;   // entries move between lists by splice (iterators stay valid)
  std::unordered_map<PathId, Lru::iterator> by_id_;
  std::unordered_map<PathAddress, Lru::iterator, PathAddressHash> by_address_;
};

}  // namespace e3x::net
