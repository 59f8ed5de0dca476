#include "daemon/modules/messages/outbox.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>

#include "core/sha256.hpp"

namespace e3x::daemon {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// What a message counts toward store_quota: its payload, id and type, and a fixed allowance
// for the rest of its row.
constexpr std::uint64_t kRowOverhead = 128;

std::uint64_t stored_bytes_of(const OutboxEntry& entry, std::size_t body_bytes) {
  return body_bytes + entry.id.size() + entry.type.size() + kRowOverhead;
}

// Reads an entry back from an old record's metadata; nullopt when a field is missing.
std::optional<OutboxEntry> entry_from(const json::object& meta, std::size_t body_size) {
  try {
    OutboxEntry entry;
    entry.id = std::string(meta.at("id").as_string());
    const auto peer = Hashname::parse(std::string_view(meta.at("peer").as_string()));
    if (!peer) return std::nullopt;
    entry.peer = *peer;
    entry.type = std::string(meta.at("type").as_string());
    entry.order = meta.at("order").to_number<std::uint64_t>();
    entry.created = meta.at("created").to_number<std::int64_t>();
    entry.expires = meta.at("expires").to_number<std::int64_t>();
    entry.body_sha256 = std::string(meta.at("sha256").as_string());
    entry.bytes = body_size;
    if (const json::value* delivered = meta.if_contains("delivered")) {
      entry.delivered = delivered->to_number<std::int64_t>();
      entry.bytes = meta.at("bytes").to_number<std::size_t>();
    }
    return entry;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

json::object meta_of(const OutboxEntry& entry) {
  json::object meta{{"id", entry.id},
                    {"peer", entry.peer.to_string()},
                    {"type", entry.type},
                    {"order", entry.order},
                    {"created", entry.created},
                    {"expires", entry.expires},
                    {"sha256", entry.body_sha256}};
  if (entry.delivered) {
    meta["delivered"] = *entry.delivered;
    meta["bytes"] = entry.bytes;
  }
  return meta;
}

constexpr const char* kColumns =
    "id, peer, type, ord, created, expires, bytes, stored_bytes, sha256, delivered, deposited, "
    "deposited_with";

#define E3X_OUTBOX_INSERT(verb)                                                            \
  verb " INTO outbox(id, peer, type, ord, created, expires, bytes, stored_bytes, sha256, " \
       "delivered, deposited, deposited_with, body) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"
constexpr const char* kInsertOrIgnore = E3X_OUTBOX_INSERT("INSERT OR IGNORE");
constexpr const char* kInsertOrReplace = E3X_OUTBOX_INSERT("INSERT OR REPLACE");
#undef E3X_OUTBOX_INSERT

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void bind_entry(sqlite::Statement& insert, const OutboxEntry& entry, std::int64_t peer,
                const Bytes* body) {
  insert.bind(1, entry.id)
      .bind(2, peer)
      .bind(3, entry.type)
      .bind(4, static_cast<std::int64_t>(entry.order))
      .bind(5, entry.created)
      .bind(6, entry.expires)
      .bind(7, static_cast<std::int64_t>(entry.bytes))
      .bind(8, static_cast<std::int64_t>(entry.stored_bytes))
      .bind(9, entry.body_sha256);
  if (entry.delivered) {
    insert.bind(10, *entry.delivered);
  } else {
    insert.bind_null(10);
  }
  if (entry.deposited) {
    insert.bind(11, *entry.deposited);
  } else {
    insert.bind_null(11);
  }
  insert.bind(12, entry.deposited_with);
  if (body) {
    insert.bind_blob(13, *body);
  } else {
    insert.bind_null(13);
  }
}

}  // namespace

std::optional<OutboxEntry> Outbox::load_row(sqlite::Statement& row) const {
  OutboxEntry entry;
  entry.id = row.column_text(0);
  const auto peer = db_.peer_of(row.column_int64(1));
  if (!peer) return std::nullopt;
  entry.peer = *peer;
  entry.type = row.column_text(2);
  entry.order = static_cast<std::uint64_t>(row.column_int64(3));
  entry.created = row.column_int64(4);
  entry.expires = row.column_int64(5);
  entry.bytes = static_cast<std::size_t>(row.column_int64(6));
  entry.stored_bytes = static_cast<std::uint64_t>(row.column_int64(7));
  entry.body_sha256 = row.column_text(8);
  if (!row.column_is_null(9)) entry.delivered = row.column_int64(9);
  if (!row.column_is_null(10)) entry.deposited = row.column_int64(10);
  entry.deposited_with = row.column_text(11);
  return entry;
}

bool Outbox::valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// Old records (state_dir/outbox/*.msg) go into the database in one transaction; the files
// are deleted only after it committed. INSERT OR IGNORE makes a repeat after a crash between
// the commit and the deletions change nothing.
std::string Outbox::migrate() {
  const fs::path dir = db_.state_dir() / "outbox";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  MessageStore store(dir);
  auto loaded = store.open();
  if (!loaded) return loaded.error();
  corrupt_ += store.corrupt_files();
  if (loaded->empty()) return {};
  std::vector<std::string> migrated;
  std::size_t pending = 0;
  std::size_t delivered = 0;
  try {
    struct Row {
      OutboxEntry entry;
      std::int64_t peer = 0;
      const Bytes* body = nullptr;
    };
    std::vector<Row> rows;
    for (const auto& [name, record] : *loaded) {
      if (db_.migrated("outbox", name)) {
        migrated.push_back(name);  // moved before a crash stopped its deletion
        continue;
      }
      auto entry = entry_from(record.meta, record.body.size());
      if (!entry || entry->id != name || !valid_id(entry->id)) {
        spdlog::error("outbox: {}/{}.msg has unusable metadata; left in place and not sent",
                      dir.string(), name);
        continue;
      }
      if (!entry->delivered) entry->stored_bytes = stored_bytes_of(*entry, record.body.size());
      const std::int64_t peer = db_.peer_number(entry->peer);
      rows.push_back(Row{std::move(*entry), peer, &record.body});
    }
    sqlite::Transaction transaction(db_.db());
    auto insert = db_.db().prepare(kInsertOrIgnore);
    for (const Row& row : rows) {
      insert.reset();
      bind_entry(insert, row.entry, row.peer, row.entry.delivered ? nullptr : row.body);
      insert.run();
      db_.note_migrated("outbox", row.entry.id);
      migrated.push_back(row.entry.id);
      (row.entry.delivered ? delivered : pending) += 1;
    }
    transaction.commit();
  } catch (const sqlite::SqliteError& error) {
    return std::string("migrating ") + dir.string() + ": " + error.what();
  }
  db_.checkpoint();
  for (const std::string& name : migrated) {
    if (!fs::remove(dir / (name + ".msg"), ec) && ec) {
      spdlog::warn("outbox: cannot remove {}/{}.msg after moving it: {}", dir.string(), name,
                   ec.message());
    }
  }
  fs::remove(dir, ec);  // only when nothing is left in it (corrupt/, an unusable file)
  spdlog::info("outbox: moved {} message record(s) ({} undelivered, {} delivered) from {}/ into {}",
               migrated.size(), pending, delivered, dir.string(), db_.file().string());
  return {};
}

std::string Outbox::open() {
  entries_.clear();
  order_.clear();
  set_aside_.clear();
  looked_up_.reset();
  pending_bytes_ = 0;
  if (std::string error = migrate(); !error.empty()) return error;
  try {
    auto rows = db_.db().prepare(std::string("SELECT ") + kColumns +
                                 " FROM outbox WHERE delivered IS NULL ORDER BY ord");
    while (rows.step()) {
      auto entry = load_row(rows);
      if (!entry) {
        spdlog::error("outbox: message {} names an unknown peer; not sent", rows.column_text(0));
        continue;
      }
      pending_bytes_ += entry->stored_bytes;
      order_.emplace(entry->order, entry->id);
      entries_.emplace(entry->id, std::move(*entry));
    }
    auto last = db_.db().prepare("SELECT coalesce(max(ord), 0) FROM outbox");
    last.step();
    next_order_ = static_cast<std::uint64_t>(last.column_int64(0)) + 1;
    auto delivered = db_.db().prepare("SELECT count(*) FROM outbox WHERE delivered IS NOT NULL");
    delivered.step();
    delivered_count_ = static_cast<std::size_t>(delivered.column_int64(0));
  } catch (const sqlite::SqliteError& error) {
    return error.what();
  }
  return {};
}

Result<const OutboxEntry*, StoreError> Outbox::add(OutboxEntry entry, ByteView body,
                                                   std::uint64_t quota) {
  entry.order = next_order_;
  entry.bytes = body.size();
  entry.body_sha256 = to_hex(sha256(body));
  entry.delivered.reset();
  entry.stored_bytes = stored_bytes_of(entry, body.size());
  const auto old = entries_.find(entry.id);
  const std::uint64_t replaced = old == entries_.end() ? 0 : old->second.stored_bytes;
  if (pending_bytes_ - replaced + entry.stored_bytes > quota) {
    return unexpected(
        StoreError{StoreError::Kind::kQuota, "the outbox holds " + std::to_string(pending_bytes_) +
                                                 " bytes; " + std::to_string(entry.stored_bytes) +
                                                 " more would pass its quota of " +
                                                 std::to_string(quota) + " bytes (store_quota)"});
  }
  try {
    const std::int64_t peer = db_.peer_number(entry.peer);
    // One statement, one commit: durable (the WAL fsync'd) when it returns.
    auto insert = db_.db().prepare(kInsertOrReplace);
    const Bytes copy(body.begin(), body.end());
    const bool was_delivered = old == entries_.end() && [&] {
      auto query = db_.db().prepare("SELECT 1 FROM outbox WHERE id = ? AND delivered IS NOT NULL");
      query.bind(1, entry.id);
      return query.step();
    }();
    db_.write_with_room([&] {
      insert.reset();
      bind_entry(insert, entry, peer, &copy);
      insert.run();
    });
    if (was_delivered) delivered_count_ -= 1;
  } catch (const sqlite::SqliteError& error) {
    return unexpected(store_error_of(error, db_.file()));
  }
  ++next_order_;
  if (old != entries_.end()) {
    order_.erase({old->second.order, old->first});
    pending_bytes_ -= replaced;
  }
  set_aside_.erase(entry.id);
  pending_bytes_ += entry.stored_bytes;
  order_.emplace(entry.order, entry.id);
  auto [it, added] = entries_.insert_or_assign(entry.id, std::move(entry));
  return &it->second;
}

OutboxEntry* Outbox::find(const std::string& id) {
  if (const auto it = entries_.find(id); it != entries_.end()) {
    return set_aside_.contains(id) ? nullptr : &it->second;
  }
  try {
    auto query = db_.db().prepare(std::string("SELECT ") + kColumns +
                                  " FROM outbox WHERE id = ? AND delivered IS NOT NULL");
    query.bind(1, id);
    if (!query.step()) return nullptr;
    looked_up_ = load_row(query);
  } catch (const sqlite::SqliteError& error) {
    spdlog::error("outbox: looking up {}: {}", id, error.what());
    return nullptr;
  }
  return looked_up_ ? &*looked_up_ : nullptr;
}

Result<Bytes, std::string> Outbox::body(const OutboxEntry& entry) {
  if (set_aside_.contains(entry.id)) {
    return unexpected("message " + entry.id + " failed its checksum and was set aside");
  }
  Bytes body;
  try {
    auto query = db_.db().prepare("SELECT body FROM outbox WHERE id = ?");
    query.bind(1, entry.id);
    if (!query.step()) return unexpected("message " + entry.id + " is not in the outbox");
    if (query.column_is_null(0)) return Bytes{};  // delivered: the payload is gone
    body = query.column_blob(0);
  } catch (const sqlite::SqliteError& error) {
    return unexpected(std::string(error.what()));
  }
  if (to_hex(sha256(body)) == entry.body_sha256) return body;
  // Damaged since it was written (SQLite has no page checksums): never sent. The entry stays
  // in memory (a caller may hold it) but leaves the order and is never found again.
  corrupt_ += 1;
  std::string where = "set aside in the corrupt table";
  try {
    sqlite::Transaction transaction(db_.db());
    db_.set_aside("outbox", entry.id, json::serialize(meta_of(entry)), body, unix_now());
    db_.db().prepare("DELETE FROM outbox WHERE id = ?").bind(1, entry.id).run();
    transaction.commit();
  } catch (const sqlite::SqliteError& error) {
    where = std::string("could not be set aside: ") + error.what();
  }
  spdlog::error("outbox: message {} in {} fails its SHA-256 check; {} and not sent", entry.id,
                db_.file().string(), where);
  set_aside_.insert(entry.id);
  order_.erase({entry.order, entry.id});
  if (const auto it = entries_.find(entry.id); it != entries_.end()) {
    pending_bytes_ -= it->second.stored_bytes;
    it->second.stored_bytes = 0;
  }
  return unexpected("message " + entry.id + " failed its checksum and was set aside");
}

std::string Outbox::mark_delivered(const std::string& id, std::int64_t now_unix) {
  const auto it = entries_.find(id);
  if (it == entries_.end() || set_aside_.contains(id)) return {};
  std::string error;
  try {
    db_.write_with_room([&] {
      db_.db()
          .prepare(
              "UPDATE outbox SET delivered = ?, body = NULL WHERE id = ? AND delivered IS NULL")
          .bind(1, now_unix)
          .bind(2, id)
          .run();
    });
    delivered_count_ += 1;
  } catch (const sqlite::SqliteError& error_) {
    // Delivered either way; a failed write leaves the full row, sent again after a restart
    // and acknowledged again by the recipient without being stored twice.
    error = error_.what();
  }
  pending_bytes_ -= it->second.stored_bytes;
  order_.erase({it->second.order, id});
  entries_.erase(it);
  return error;
}

std::string Outbox::mark_deposited(const std::string& id, const std::string& mailbox_hashname,
                                   std::int64_t now_unix) {
  try {
    db_.db()
        .prepare("UPDATE outbox SET deposited = ?, deposited_with = ? WHERE id = ?")
        .bind(1, now_unix)
        .bind(2, mailbox_hashname)
        .bind(3, id)
        .run();
    if (db_.db().changes() == 0) return "the outbox holds no message '" + id + "'";
  } catch (const sqlite::SqliteError& error) {
    return error.what();
  }
  if (const auto it = entries_.find(id); it != entries_.end()) {
    it->second.deposited = now_unix;
    it->second.deposited_with = mailbox_hashname;
  }
  if (looked_up_ && looked_up_->id == id) {
    looked_up_->deposited = now_unix;
    looked_up_->deposited_with = mailbox_hashname;
  }
  return {};
}

std::string Outbox::remove(const std::string& id) {
  try {
    db_.db().prepare("DELETE FROM outbox WHERE id = ?").bind(1, id).run();
    const bool removed = db_.db().changes() > 0;
    const auto it = entries_.find(id);
    if (it != entries_.end()) {
      if (!set_aside_.contains(id)) {
        pending_bytes_ -= it->second.stored_bytes;
        order_.erase({it->second.order, id});
      }
      entries_.erase(it);
    } else if (removed) {
      delivered_count_ -= 1;
    }
    if (looked_up_ && looked_up_->id == id) looked_up_.reset();
  } catch (const sqlite::SqliteError& error) {
    return error.what();
  }
  return {};
}

std::size_t Outbox::forget_delivered(std::int64_t now_unix) {
  try {
    db_.db()
        .prepare("DELETE FROM outbox WHERE delivered IS NOT NULL AND expires <= ?")
        .bind(1, now_unix)
        .run();
    const auto forgotten = static_cast<std::size_t>(db_.db().changes());
    delivered_count_ -= std::min(delivered_count_, forgotten);
    looked_up_.reset();
    return forgotten;
  } catch (const sqlite::SqliteError& error) {
    spdlog::warn("outbox: forgetting delivered records: {}", error.what());
    return 0;
  }
}

std::vector<OutboxEntry> Outbox::delivered() const {
  std::vector<OutboxEntry> out;
  try {
    auto rows = db_.db().prepare(std::string("SELECT ") + kColumns +
                                 " FROM outbox WHERE delivered IS NOT NULL ORDER BY ord");
    while (rows.step()) {
      if (auto entry = load_row(rows)) out.push_back(std::move(*entry));
    }
  } catch (const sqlite::SqliteError& error) {
    spdlog::error("outbox: listing delivered records: {}", error.what());
  }
  return out;
}

std::vector<OutboxEntry*> Outbox::in_order() {
  std::vector<OutboxEntry*> out;
  out.reserve(order_.size());
  for (const auto& [order, id] : order_) out.push_back(&entries_.at(id));
  return out;
}

std::vector<const OutboxEntry*> Outbox::in_order() const {
  std::vector<const OutboxEntry*> out;
  out.reserve(order_.size());
  for (const auto& [order, id] : order_) out.push_back(&entries_.at(id));
  return out;
}

}  // namespace e3x::daemon
