#include "daemon/modules/messages/inbox.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>

#include "core/message_rules.hpp"
#include "core/sha256.hpp"

namespace e3x::daemon {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// What a message counts toward the quotas: its payload, id, type, via, head, and a fixed
// allowance for the rest of its row.
constexpr std::uint64_t kRowOverhead = 128;

// A record of the old file store, read back for the migration.
struct OldRecord {
  InboxEntry entry;
  bool acked = false;
  std::string head = "{}";
};

std::optional<OldRecord> entry_from(const std::string& key, const MessageRecord& record) {
  try {
    const json::object& meta = record.meta;
    OldRecord old;
    InboxEntry& entry = old.entry;
    entry.key = key;
    const auto from = Hashname::parse(std::string_view(meta.at("from").as_string()));
    if (!from) return std::nullopt;
    entry.from = *from;
    entry.id = std::string(meta.at("id").as_string());
    entry.type = std::string(meta.at("type").as_string());
    entry.via = std::string(meta.at("via").as_string());
    entry.order = meta.at("order").to_number<std::uint64_t>();
    entry.received = meta.at("received").to_number<std::int64_t>();
    entry.keep_until = meta.at("keep_until").to_number<std::int64_t>();
    old.acked = meta.contains("acked");
    entry.bytes = old.acked && meta.contains("bytes") ? meta.at("bytes").to_number<std::size_t>()
                                                      : record.body.size();
    if (const json::value* head = meta.if_contains("head"); head && head->is_object()) {
      old.head = json::serialize(*head);
    }
    if (const json::value* mailbox = meta.if_contains("mailbox"); mailbox && mailbox->is_string()) {
      entry.mailbox = std::string(mailbox->get_string());
    }
    if (const json::value* sha = meta.if_contains("sha256")) {
      entry.sha256 = std::string(sha->as_string());
      if (Inbox::key_of(entry.from, entry.id, entry.sha256) != key) return std::nullopt;
    } else {
      // Written before revision 2: keyed by sender and id only. A pending one still has its
      // payload; a tombstone keeps recognising its id whatever the payload.
      if (Inbox::legacy_key_of(entry.from, entry.id) != key) return std::nullopt;
      if (!old.acked) entry.sha256 = payload_sha256(record.body);
    }
    // Keyed as a message stored today would be, except a tombstone without sha256 (it must
    // go on matching any payload under its id).
    if (!entry.sha256.empty()) entry.key = Inbox::key_of(entry.from, entry.id, entry.sha256);
    return old;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string hex32_of(std::initializer_list<ByteView> parts) {
  return to_hex(sha256(parts)).substr(0, 32);
}

// The 16 bytes of a 32-hex-digit key; empty when it is not one.
Bytes key_blob(const std::string& key) {
  if (key.size() != 32) return {};
  auto bytes = from_hex(key);
  return bytes ? *bytes : Bytes{};
}

std::uint64_t stored_bytes_of(const InboxEntry& entry, std::size_t head_bytes) {
  return entry.bytes + entry.id.size() + entry.type.size() + entry.via.size() +
         entry.mailbox.size() + head_bytes + kRowOverhead;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kInsertPending =
    "INSERT OR IGNORE INTO inbox(key, peer, id, type, via, mailbox, sha256, ord, received, "
    "keep_until, bytes, stored_bytes, head, body) SELECT ?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
    "?13,?14 WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE key = ?1)";

void bind_pending(sqlite::Statement& insert, const InboxEntry& entry, std::int64_t peer,
                  std::string_view head, ByteView body) {
  insert.bind_blob(1, key_blob(entry.key))
      .bind(2, peer)
      .bind(3, entry.id)
      .bind(4, entry.type)
      .bind(5, entry.via)
      .bind(6, entry.mailbox)
      .bind(7, entry.sha256)
      .bind(8, static_cast<std::int64_t>(entry.order))
      .bind(9, entry.received)
      .bind(10, entry.keep_until)
      .bind(11, static_cast<std::int64_t>(entry.bytes))
      .bind(12, static_cast<std::int64_t>(entry.stored_bytes))
      .bind(13, head)
      .bind_blob(14, body);
}

}  // namespace

std::string Inbox::key_of(const Hashname& from, std::string_view id, std::string_view sha256) {
  const std::string name = from.to_string();
  const std::uint8_t separator = 0;
  return hex32_of({as_bytes(name), ByteView(&separator, 1), as_bytes(id), ByteView(&separator, 1),
                   as_bytes(sha256)});
}

std::string Inbox::legacy_key_of(const Hashname& from, std::string_view id) {
  const std::string name = from.to_string();
  const std::uint8_t separator = 0;
  return hex32_of({as_bytes(name), ByteView(&separator, 1), as_bytes(id)});
}

std::uint64_t Inbox::pending_bytes_from(const Hashname& peer) const {
  auto found = pending_bytes_from_.find(peer);
  return found == pending_bytes_from_.end() ? 0 : found->second;
}

std::size_t Inbox::tombstones_from(const Hashname& peer) const {
  auto query = db_.db().prepare("SELECT tombstones FROM peers WHERE hashname = ?");
  query.bind_blob(1, ByteView(peer.digest.data(), peer.digest.size()));
  return query.step() ? static_cast<std::size_t>(query.column_int64(0)) : 0;
}

bool Inbox::tombstone_exists(const std::string& key) const {
  const Bytes blob = key_blob(key);
  if (blob.empty()) return false;
  auto query = db_.db().prepare("SELECT 1 FROM tombstones WHERE key = ?");
  query.bind_blob(1, blob);
  return query.step();
}

void Inbox::forget(std::map<std::string, InboxEntry>::iterator it) {
  pending_bytes_ -= it->second.stored_bytes;
  auto from = pending_bytes_from_.find(it->second.from);
  if (from != pending_bytes_from_.end()) {
    from->second -= it->second.stored_bytes;
    if (from->second == 0) pending_bytes_from_.erase(from);
  }
  pending_.erase(it);
}

// Old records (state_dir/inbox/*.msg) go into the database in one transaction; the files are
// deleted only after it committed. INSERT OR IGNORE (and no pending row where a tombstone
// already is) makes a repeat after a crash between the commit and the deletions change
// nothing.
std::string Inbox::migrate() {
  const fs::path dir = db_.state_dir() / "inbox";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  MessageStore store(dir);
  auto loaded = store.open();
  if (!loaded) return loaded.error();
  corrupt_ += store.corrupt_files();
  if (loaded->empty()) return {};
  std::vector<std::string> migrated;
  std::size_t pending = 0;
  std::size_t tombstones = 0;
  try {
    struct Row {
      OldRecord old;
      std::int64_t peer = 0;
      const Bytes* body = nullptr;
      std::string name;
    };
    std::vector<Row> rows;
    for (const auto& [name, record] : *loaded) {
      if (db_.migrated("inbox", name)) {
        migrated.push_back(name);  // moved before a crash stopped its deletion
        continue;
      }
      auto old = entry_from(name, record);
      if (!old) {
        spdlog::error("inbox: {}/{}.msg has unusable metadata; left in place and ignored",
                      dir.string(), name);
        continue;
      }
      if (!old->acked) {
        old->entry.stored_bytes = stored_bytes_of(old->entry, old->head.size());
      }
      const std::int64_t peer = db_.peer_number(old->entry.from);
      rows.push_back(Row{std::move(*old), peer, &record.body, name});
    }
    sqlite::Transaction transaction(db_.db());
    auto insert_pending = db_.db().prepare(kInsertPending);
    auto insert_tombstone =
        db_.db().prepare("INSERT OR IGNORE INTO tombstones(key, peer, keep_until) VALUES(?,?,?)");
    auto drop_pending = db_.db().prepare("DELETE FROM inbox WHERE key = ?");
    for (const Row& row : rows) {
      const InboxEntry& entry = row.old.entry;
      if (row.old.acked) {
        insert_tombstone.reset()
            .bind_blob(1, key_blob(entry.key))
            .bind(2, row.peer)
            .bind(3, entry.keep_until)
            .run();
        drop_pending.reset().bind_blob(1, key_blob(entry.key)).run();
        tombstones += 1;
      } else {
        insert_pending.reset();
        bind_pending(insert_pending, entry, row.peer, row.old.head, *row.body);
        insert_pending.run();
        pending += 1;
      }
      db_.note_migrated("inbox", row.name);
      migrated.push_back(row.name);
    }
    transaction.commit();
  } catch (const sqlite::SqliteError& error) {
    return std::string("migrating ") + dir.string() + ": " + error.what();
  }
  db_.checkpoint();
  for (const std::string& name : migrated) {
    if (!fs::remove(dir / (name + ".msg"), ec) && ec) {
      spdlog::warn("inbox: cannot remove {}/{}.msg after moving it: {}", dir.string(), name,
                   ec.message());
    }
  }
  fs::remove(dir, ec);  // only when nothing is left in it (corrupt/, an unusable file)
  spdlog::info(
      "inbox: moved {} message record(s) ({} unacknowledged, {} tombstones) from {}/ into {}",
      migrated.size(), pending, tombstones, dir.string(), db_.file().string());
  return {};
}

std::string Inbox::open() {
  pending_.clear();
  pending_bytes_from_.clear();
  pending_bytes_ = 0;
  tombstones_ = 0;
  next_order_ = 1;
  if (std::string error = migrate(); !error.empty()) return error;
  try {
    auto rows = db_.db().prepare(
        "SELECT key, peer, id, type, via, mailbox, sha256, ord, received, keep_until, bytes, "
        "stored_bytes FROM inbox");
    while (rows.step()) {
      InboxEntry entry;
      entry.key = to_hex(rows.column_blob(0));
      const auto from = db_.peer_of(rows.column_int64(1));
      if (!from) {
        spdlog::error("inbox: message {} names an unknown peer; ignored", entry.key);
        continue;
      }
      entry.from = *from;
      entry.id = rows.column_text(2);
      entry.type = rows.column_text(3);
      entry.via = rows.column_text(4);
      entry.mailbox = rows.column_text(5);
      entry.sha256 = rows.column_text(6);
      entry.order = static_cast<std::uint64_t>(rows.column_int64(7));
      entry.received = rows.column_int64(8);
      entry.keep_until = rows.column_int64(9);
      entry.bytes = static_cast<std::size_t>(rows.column_int64(10));
      entry.stored_bytes = static_cast<std::uint64_t>(rows.column_int64(11));
      next_order_ = std::max(next_order_, entry.order + 1);
      pending_bytes_ += entry.stored_bytes;
      pending_bytes_from_[entry.from] += entry.stored_bytes;
      pending_.emplace(entry.key, std::move(entry));
    }
    // The per-sender counts the triggers keep: no tombstone is read.
    auto count = db_.db().prepare("SELECT coalesce(sum(tombstones), 0) FROM peers");
    count.step();
    tombstones_ = static_cast<std::size_t>(count.column_int64(0));
  } catch (const sqlite::SqliteError& error) {
    return error.what();
  }
  return {};
}

Result<Inbox::Stored, StoreError> Inbox::store(const Arrival& arrival, ByteView body,
                                               InboxQuota quota) {
  const std::string sha = payload_sha256(body);
  const std::string key = key_of(arrival.from, arrival.id, sha);
  if (pending_.contains(key)) return Stored::kDuplicate;
  try {
    // A tombstone under the key, or under the id alone (written before revision 2, when a
    // tombstone did not name its payload).
    if (tombstone_exists(key) || tombstone_exists(legacy_key_of(arrival.from, arrival.id))) {
      return Stored::kDuplicate;
    }
    if (tombstones_from(arrival.from) >= kMaxTombstonesPerPeer) {
      return unexpected(StoreError{StoreError::Kind::kQuota,
                                   "this sender already has " +
                                       std::to_string(kMaxTombstonesPerPeer) +
                                       " acknowledged messages remembered until they expire"});
    }
  } catch (const sqlite::SqliteError& error) {
    return unexpected(store_error_of(error, db_.file()));
  }
  InboxEntry entry;
  entry.key = key;
  entry.from = arrival.from;
  entry.id = arrival.id;
  entry.type = arrival.type;
  entry.via = arrival.via;
  entry.mailbox = arrival.mailbox;
  entry.sha256 = sha;
  entry.order = next_order_;
  entry.received = arrival.now;
  entry.bytes = body.size();
  entry.keep_until = arrival.keep_until;
  const std::string head = json::serialize(arrival.head);
  entry.stored_bytes = stored_bytes_of(entry, head.size());
  const std::uint64_t from_peer = pending_bytes_from(arrival.from);
  if (from_peer + entry.stored_bytes > quota.per_peer) {
    return unexpected(StoreError{StoreError::Kind::kQuota,
                                 "this sender's unacknowledged messages would exceed "
                                 "[messages] peer_quota (" +
                                     std::to_string(quota.per_peer) + " bytes)"});
  }
  if (pending_bytes_ + entry.stored_bytes > quota.total) {
    return unexpected(StoreError{StoreError::Kind::kQuota,
                                 "unacknowledged messages would exceed [messages] store_quota (" +
                                     std::to_string(quota.total) + " bytes)"});
  }
  try {
    const std::int64_t peer = db_.peer_number(arrival.from);
    // One statement, one commit: durable (the WAL fsync'd) when it returns.
    auto insert = db_.db().prepare(kInsertPending);
    db_.write_with_room([&] {
      insert.reset();
      bind_pending(insert, entry, peer, head, body);
      insert.run();
    });
  } catch (const sqlite::SqliteError& error) {
    return unexpected(store_error_of(error, db_.file()));
  }
  ++next_order_;
  pending_bytes_ += entry.stored_bytes;
  pending_bytes_from_[entry.from] += entry.stored_bytes;
  pending_.emplace(key, std::move(entry));
  return Stored::kNew;
}

std::vector<const InboxEntry*> Inbox::find(const std::string& id_or_key,
                                           const std::optional<Hashname>& from) const {
  std::vector<const InboxEntry*> out;
  for (const auto& [key, entry] : pending_) {
    if (from && entry.from != *from) continue;
    if (entry.id == id_or_key || key == id_or_key) out.push_back(&entry);
  }
  return out;
}

std::vector<const InboxEntry*> Inbox::pending() const {
  std::vector<const InboxEntry*> out;
  out.reserve(pending_.size());
  for (const auto& [key, entry] : pending_) out.push_back(&entry);
  std::sort(out.begin(), out.end(),
            [](const InboxEntry* a, const InboxEntry* b) { return a->order < b->order; });
  return out;
}

Result<Bytes, std::string> Inbox::body(const InboxEntry& entry) {
  const std::string key = entry.key;
  Bytes body;
  std::string head;
  try {
    auto query = db_.db().prepare("SELECT body, head FROM inbox WHERE key = ?");
    query.bind_blob(1, key_blob(key));
    if (!query.step()) return unexpected("message " + key + " is not in the inbox");
    body = query.column_blob(0);
    head = query.column_text(1);
  } catch (const sqlite::SqliteError& error) {
    return unexpected(std::string(error.what()));
  }
  if (payload_sha256(body) == entry.sha256) return body;
  // Damaged since it was written (SQLite has no page checksums): never shown again.
  corrupt_ += 1;
  std::string where = "set aside in the corrupt table";
  try {
    sqlite::Transaction transaction(db_.db());
    const json::object meta{{"from", entry.from.to_string()},
                            {"id", entry.id},
                            {"type", entry.type},
                            {"via", entry.via},
                            {"sha256", entry.sha256},
                            {"received", entry.received},
                            {"keep_until", entry.keep_until},
                            {"head", head}};
    db_.set_aside("inbox", key, json::serialize(meta), body, unix_now());
    db_.db().prepare("DELETE FROM inbox WHERE key = ?").bind_blob(1, key_blob(key)).run();
    transaction.commit();
  } catch (const sqlite::SqliteError& error) {
    where = std::string("could not be set aside: ") + error.what();
  }
  spdlog::error("inbox: message {} in {} fails its SHA-256 check; {} and not shown", key,
                db_.file().string(), where);
  if (const auto it = pending_.find(key); it != pending_.end()) forget(it);
  return unexpected("message " + key + " failed its checksum and was set aside");
}

Result<std::uint64_t, StoreError> Inbox::ack(const std::string& key, std::int64_t now) {
  const auto it = pending_.find(key);
  if (it == pending_.end()) return std::uint64_t{0};
  const InboxEntry& entry = it->second;
  try {
    const std::int64_t peer = db_.peer_number(entry.from);
    const Bytes blob = key_blob(key);
    bool added = false;
    db_.write_with_room([&] {
      sqlite::Transaction transaction(db_.db());
      db_.db().prepare("DELETE FROM inbox WHERE key = ?").bind_blob(1, blob).run();
      db_.db()
          .prepare("INSERT OR IGNORE INTO tombstones(key, peer, keep_until) VALUES(?,?,?)")
          .bind_blob(1, blob)
          .bind(2, peer)
          .bind(3, std::max(entry.keep_until, now))
          .run();
      added = db_.db().changes() > 0;
      transaction.commit();
    });
    if (added) tombstones_ += 1;
  } catch (const sqlite::SqliteError& error) {
    return unexpected(store_error_of(error, db_.file()));
  }
  const std::uint64_t freed = entry.stored_bytes;
  forget(it);
  return freed;
}

std::size_t Inbox::forget_tombstones(std::int64_t now) {
  try {
    db_.db().prepare("DELETE FROM tombstones WHERE keep_until < ?").bind(1, now).run();
    const auto forgotten = static_cast<std::size_t>(db_.db().changes());
    tombstones_ -= std::min(tombstones_, forgotten);
    return forgotten;
  } catch (const sqlite::SqliteError& error) {
    spdlog::warn("inbox: forgetting tombstones: {}", error.what());
    return 0;
  }
}

}  // namespace e3x::daemon
