// The inbox: application messages received from peers (or imported from sealed files), kept
// durably until the user acknowledges them (docs/messages.md). A message is committed to the
// messages' database (message_db.hpp: a row with its payload, one fsync'd commit) before its
// receipt is owed, so a receipt always means "stored".
//
// Messages are keyed by (sender hashname, message id, SHA-256 of the payload) (PROTOCOL.md
// 10.7). A repeat of a stored or acknowledged message is reported as a duplicate and not
// stored again; an acknowledged message leaves a small tombstone record behind, kept until
// the message's own expiry, after which the core refuses any replay of it as expired.
// Tombstones live only in the database (a 16-byte key, a peer number, keep_until): they are
// looked up by key, never loaded, so memory does not grow with acknowledged messages.
//
// Limits: the unacknowledged messages of all senders together, and of each sender alone,
// are bounded in bytes; tombstones count toward neither (a peer cannot fill the inbox for
// everyone with messages the user already acknowledged), but each sender may leave at most
// kMaxTombstonesPerPeer of them, and only for as long as its messages' expiry (30 days at
// most).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <boost/json/object.hpp>

#include "core/hashname.hpp"
#include "daemon/modules/messages/message_db.hpp"

namespace e3x::daemon {

inline constexpr std::size_t kMaxTombstonesPerPeer = 100000;

struct InboxEntry {
  std::string key;  // 32 hex characters of a hash of (sender, id, sha256)
  Hashname from;
  std::string id;  // the sender's message id (any string: it is never used as a file name)
  std::string type;
  std::string via;      // "network", "import" or "mailbox"
  std::string mailbox;  // hashname text of the mailbox it came through, "" when not
  std::string sha256;   // hex SHA-256 of the payload
  std::uint64_t order = 0;
  std::int64_t received = 0;       // Unix seconds
  std::size_t bytes = 0;           // payload size
  std::uint64_t stored_bytes = 0;  // what it counts toward the quotas
  std::int64_t keep_until = 0;
};

struct InboxQuota {
  std::uint64_t total = UINT64_MAX;     // stored_bytes of unacknowledged messages, all senders
  std::uint64_t per_peer = UINT64_MAX;  // stored_bytes of unacknowledged messages, one sender
};

class Inbox {
 public:
  // `db` must be open and outlive the inbox.
  explicit Inbox(MessageDb& db) : db_(db) {}

  // Moves records of the old one-file-per-message store (state_dir/inbox/*.msg) into the
  // database, then loads the unacknowledged messages (not the tombstones).
  std::string open();

  struct Arrival {
    Hashname from;
    std::string id;
    std::string type;
    boost::json::object head;
    std::string via;
    std::int64_t now = 0;
    std::int64_t keep_until = 0;  // the message's expiry: its tombstone is kept until then
    std::string mailbox = {};     // hashname text of the mailbox it came through, "" when not
  };
  enum class Stored { kNew, kDuplicate };
  // Stores the message (committed when this returns) unless (from, id, payload) is already
  // here, stored or acknowledged.
  Result<Stored, StoreError> store(const Arrival& arrival, ByteView body, InboxQuota quota = {});

  // Unacknowledged messages with this id (from one sender when `from` is given), or whose key
  // is `id_or_key`.
  std::vector<const InboxEntry*> find(const std::string& id_or_key,
                                      const std::optional<Hashname>& from = std::nullopt) const;
  // Unacknowledged messages, oldest first.
  std::vector<const InboxEntry*> pending() const;
  // The payload, checked against its SHA-256. A mismatch sets the row aside (the `corrupt`
  // table), logs an error, counts it in corrupt_files() and forgets the entry (`entry` is
  // then gone): it is never returned.
  Result<Bytes, std::string> body(const InboxEntry& entry);
  // Replaces the message with its tombstone in one transaction; returns the bytes it no
  // longer counts toward the quotas.
  Result<std::uint64_t, StoreError> ack(const std::string& key, std::int64_t now);
  // Deletes tombstones whose keep_until has passed (one DELETE); returns how many.
  std::size_t forget_tombstones(std::int64_t now);

  std::size_t size() const { return pending_.size(); }
  std::size_t tombstones() const { return tombstones_; }
  // What the unacknowledged messages count toward store_quota.
  std::uint64_t bytes() const { return pending_bytes_; }
  std::uint64_t pending_bytes() const { return pending_bytes_; }
  std::uint64_t pending_bytes_from(const Hashname& peer) const;
  // Tombstones `peer` has left (read from the database).
  std::size_t tombstones_from(const Hashname& peer) const;
  std::size_t corrupt_files() const { return corrupt_; }

  static std::string key_of(const Hashname& from, std::string_view id, std::string_view sha256);
  // The key of a record written before revision 2 (sender and id only).
  static std::string legacy_key_of(const Hashname& from, std::string_view id);

 private:
  std::string migrate();
  bool tombstone_exists(const std::string& key) const;
  void forget(std::map<std::string, InboxEntry>::iterator it);

  MessageDb& db_;
  std::map<std::string, InboxEntry> pending_;  // unacknowledged, by key
  std::unordered_map<Hashname, std::uint64_t> pending_bytes_from_;
  std::uint64_t pending_bytes_ = 0;
  std::size_t tombstones_ = 0;
  std::size_t corrupt_ = 0;
  std::uint64_t next_order_ = 1;
};

}  // namespace e3x::daemon
