// The inbox: application messages received from peers (or imported from sealed files), kept
// durably until the user acknowledges them (docs/messages.md). A message is written, fsync'd
// and renamed into place before its receipt is sent, so a receipt always means "stored".
//
// Messages are keyed by (sender hashname, message id). A repeat of a stored or acknowledged
// message is reported as a duplicate and not stored again; an acknowledged message leaves a
// small tombstone record behind, kept until the sender can no longer be retrying it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "core/hashname.hpp"
#include "daemon/message_store.hpp"

namespace e3x::daemon {

struct InboxEntry {
  std::string key;  // the file name: hex of SHA-256(sender hashname, 0, id), 32 characters
  Hashname from;
  std::string id;  // the sender's message id (any string: it is never used as a file name)
  std::string type;
  std::string via;  // "network" or "import"
  std::uint64_t order = 0;
  std::int64_t received = 0;  // Unix seconds
  std::size_t bytes = 0;      // payload size
  bool acked = false;         // a tombstone: kept only to recognise repeats
  std::int64_t keep_until = 0;
};

class Inbox {
 public:
  explicit Inbox(std::filesystem::path dir) : store_(std::move(dir)) {}

  std::string open();

  struct Arrival {
    Hashname from;
    std::string id;
    std::string type;
    boost::json::object head;
    std::string via;
    std::int64_t now = 0;
    std::int64_t keep_until = 0;  // how long a tombstone must outlive an acknowledgement
  };
  enum class Stored { kNew, kDuplicate };
  // Stores the message unless (from, id) is already here (stored or acknowledged).
  Result<Stored, StoreError> store(const Arrival& arrival, ByteView body, std::uint64_t quota);

  // Unacknowledged messages with this id (from one sender when `from` is given).
  std::vector<const InboxEntry*> find(const std::string& id,
                                      const std::optional<Hashname>& from = std::nullopt) const;
  // Unacknowledged messages, oldest first.
  std::vector<const InboxEntry*> pending() const;
  Result<Bytes, std::string> body(const InboxEntry& entry) const;
  // Replaces the message with its tombstone (atomically: a crash leaves one or the other).
  Result<std::uint64_t, StoreError> ack(const std::string& key, std::int64_t now);
  // Deletes tombstones whose keep_until has passed; returns how many.
  std::size_t forget_tombstones(std::int64_t now);

  std::size_t size() const { return pending_count_; }
  std::uint64_t bytes() const { return store_.bytes(); }
  std::size_t corrupt_files() const { return store_.corrupt_files(); }

  static std::string key_of(const Hashname& from, std::string_view id);

 private:
  MessageStore store_;
  std::map<std::string, InboxEntry> entries_;  // by key, tombstones included
  std::size_t pending_count_ = 0;
  std::uint64_t next_order_ = 1;
};

}  // namespace e3x::daemon
