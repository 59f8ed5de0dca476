// The outbox: application messages accepted by `e3xctl send` and not yet acknowledged by a
// receipt from their recipient (docs/messages.md). Each is a row of the `outbox` table of the
// messages' database (message_db.hpp), payload included, committed before `send` answers, and
// kept until a receipt naming its id and payload hash arrives or the user cancels it. A
// delivered message leaves its row without the payload until it expires, so its id is never
// used again for another message in that time (PROTOCOL.md 10.7: a recipient recognises
// repeats by sender, id and payload, and must never take a new message for a repeat) and a
// client retrying `send --id` hears "delivered".
//
// Only undelivered messages are held in memory (they are bounded by store_quota); delivered
// records are looked up in the database when asked for.
//
// Delivery state (attempts, last error, when to retry) lives in memory: after a restart every
// message is simply due again, which at worst sends one more copy that the recipient
// acknowledges without storing it twice.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/hashname.hpp"
#include "core/time.hpp"
#include "daemon/modules/messages/message_db.hpp"

namespace e3x::daemon {

struct OutboxEntry {
  std::string id;  // [A-Za-z0-9._-], chosen by us or by `send --id`
  Hashname peer;
  std::string type;
  std::uint64_t order = 0;   // acceptance order, kept across restarts
  std::int64_t created = 0;  // Unix seconds
  std::int64_t expires = 0;  // Unix seconds; not sent at or after this
  std::size_t bytes = 0;     // payload size
  std::string body_sha256;   // hex: tells a repeated `send --id` from a conflicting one, and
                             // is what the receipt must name
  std::optional<std::int64_t> delivered;  // Unix seconds the receipt came; payload gone
  std::optional<std::int64_t> deposited;  // Unix seconds a mailbox said "stored"
  std::string deposited_with;             // that mailbox's hashname (text)
  std::uint64_t stored_bytes = 0;         // what it counts toward store_quota

  // ---- delivery (memory only) ----
  std::uint32_t attempts = 0;
  std::string last_error;
  std::optional<std::int64_t> last_attempt;  // Unix seconds
  std::optional<Instant> next_attempt;       // unset: due as soon as the peer is up
  Duration backoff{};
  bool expiry_reported = false;

  bool expired(std::int64_t now_unix) const { return now_unix >= expires; }
  bool pending() const { return !delivered; }
};

class Outbox {
 public:
  // `db` must be open and outlive the outbox.
  explicit Outbox(MessageDb& db) : db_(db) {}

  // Moves records of the old one-file-per-message store (state_dir/outbox/*.msg) into the
  // database, then loads the undelivered messages. Errors only when the database or the old
  // directory is unusable.
  std::string open();

  // Stores a new message durably (committed when this returns); `entry.order` is assigned
  // here.
  Result<const OutboxEntry*, StoreError> add(OutboxEntry entry, ByteView body, std::uint64_t quota);
  // The message with this id, pending or delivered (until its expiry). A delivered one is
  // read from the database into a slot that the next find() reuses.
  OutboxEntry* find(const std::string& id);
  // The payload, checked against its SHA-256. A mismatch sets the row aside (the `corrupt`
  // table), logs an error, counts it in corrupt_files(), and the message is never sent.
  Result<Bytes, std::string> body(const OutboxEntry& entry);
  // Replaces the message by its delivered record (one UPDATE: a crash leaves one or the
  // other), kept until it expires.
  std::string mark_delivered(const std::string& id, std::int64_t now_unix);
  // Records that mailbox `mailbox_hashname` said it stored the message; "" or an error.
  std::string mark_deposited(const std::string& id, const std::string& mailbox_hashname,
                             std::int64_t now_unix);
  // Forgets the message and deletes its row.
  std::string remove(const std::string& id);
  // Deletes delivered records whose message has expired; returns how many.
  std::size_t forget_delivered(std::int64_t now_unix);

  // Every message not yet delivered, oldest first.
  std::vector<OutboxEntry*> in_order();
  std::vector<const OutboxEntry*> in_order() const;
  // Delivered records still kept, oldest first (read from the database).
  std::vector<OutboxEntry> delivered() const;
  std::size_t size() const { return order_.size(); }  // not yet delivered
  std::size_t delivered_count() const { return delivered_count_; }
  // What the undelivered messages count toward store_quota.
  std::uint64_t bytes() const { return pending_bytes_; }
  std::size_t corrupt_files() const { return corrupt_; }

  // An id `send --id` may use: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'.
  static bool valid_id(std::string_view id);

 private:
  std::string migrate();
  std::optional<OutboxEntry> load_row(sqlite::Statement& row) const;

  MessageDb& db_;
  std::map<std::string, OutboxEntry> entries_;             // undelivered, by id
  std::set<std::pair<std::uint64_t, std::string>> order_;  // undelivered and not set aside
  std::set<std::string> set_aside_;       // failed their checksum since open(): never sent again
  std::optional<OutboxEntry> looked_up_;  // find()'s slot for a delivered record
  std::uint64_t next_order_ = 1;
  std::uint64_t pending_bytes_ = 0;
  std::size_t delivered_count_ = 0;
  std::size_t corrupt_ = 0;
};

}  // namespace e3x::daemon
