// The outbox: application messages accepted by `e3xctl send` and not yet acknowledged by a
// receipt from their recipient (docs/messages.md). Each is a record in a MessageStore, written
// before `send` answers, and kept until a receipt naming its id and payload hash arrives or
// the user cancels it. A delivered message leaves a small record (no payload) until it
// expires, so its id is never used again for another message in that time (PROTOCOL.md
// 10.7: a recipient recognises repeats by sender, id and payload, and must never take a new
// message for a repeat) and a client retrying `send --id` hears "delivered".
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
#include "daemon/modules/messages/message_store.hpp"

namespace e3x::daemon {

struct OutboxEntry {
  std::string id;  // also the file name: [A-Za-z0-9._-], chosen by us or by `send --id`
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
  explicit Outbox(std::filesystem::path dir) : store_(std::move(dir)) {}

  // Reads every stored message. Errors only when the directory is unusable.
  std::string open();

  // Stores a new message durably; `entry.order` is assigned here.
  Result<const OutboxEntry*, StoreError> add(OutboxEntry entry, ByteView body, std::uint64_t quota);
  // The message with this id, pending or delivered (until its expiry).
  OutboxEntry* find(const std::string& id);
  Result<Bytes, std::string> body(const OutboxEntry& entry) const;
  // Replaces the message by its delivered record (atomically: a crash leaves one or the
  // other), kept until it expires.
  std::string mark_delivered(const std::string& id, std::int64_t now_unix);
  // Records that mailbox `mailbox_hashname` stored the message (PROTOCOL.md 14).
  std::string mark_deposited(const std::string& id, const std::string& mailbox_hashname,
                             std::int64_t now_unix);
  // Forgets the message and deletes its file.
  std::string remove(const std::string& id);
  // Deletes delivered records whose message has expired; returns how many.
  std::size_t forget_delivered(std::int64_t now_unix);

  // Every message not yet delivered, oldest first.
  std::vector<OutboxEntry*> in_order();
  std::vector<const OutboxEntry*> in_order() const;
  // Delivered records still kept, oldest first.
  std::vector<const OutboxEntry*> delivered() const;
  std::size_t size() const { return order_.size(); }  // not yet delivered
  std::size_t delivered_count() const { return entries_.size() - order_.size(); }
  std::uint64_t bytes() const { return store_.bytes(); }
  std::size_t corrupt_files() const { return store_.corrupt_files(); }

  // An id `send --id` may use: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'.
  static bool valid_id(std::string_view id);

 private:
  MessageStore store_;
  std::map<std::string, OutboxEntry> entries_;             // pending and delivered, by id
  std::set<std::pair<std::uint64_t, std::string>> order_;  // pending only
  std::uint64_t next_order_ = 1;
};

}  // namespace e3x::daemon
