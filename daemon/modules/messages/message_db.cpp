#include "daemon/modules/messages/message_db.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace e3x::daemon {

namespace fs = std::filesystem;

namespace {

// Version 1. Sizes matter for the tombstones (docs/benchmarks.md, "Message store"): a
// WITHOUT ROWID row of a 16-byte key, a peer number and an expiry, plus its keep_until
// index entry, is well under 100 bytes on disk.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS peers(
  number INTEGER PRIMARY KEY,
  hashname BLOB NOT NULL UNIQUE,            -- the 32-byte digest
  tombstones INTEGER NOT NULL DEFAULT 0     -- maintained by the triggers below
);
CREATE TABLE IF NOT EXISTS outbox(
  ord INTEGER PRIMARY KEY,                  -- acceptance order (the rowid)
  id TEXT NOT NULL UNIQUE,
  peer INTEGER NOT NULL REFERENCES peers(number),
  type TEXT NOT NULL,
  created INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  bytes INTEGER NOT NULL,                   -- payload size
  stored_bytes INTEGER NOT NULL,            -- what counts toward store_quota
  sha256 TEXT NOT NULL,                     -- hex SHA-256 of the payload
  delivered INTEGER,                        -- NULL until the receipt came
  deposited INTEGER,                        -- when a mailbox said "stored"
  deposited_with TEXT NOT NULL DEFAULT '',  -- that mailbox's hashname
  body BLOB                                 -- NULL once delivered
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(ord) WHERE delivered IS NULL;
CREATE INDEX IF NOT EXISTS outbox_delivered ON outbox(expires) WHERE delivered IS NOT NULL;
CREATE TABLE IF NOT EXISTS inbox(
  key BLOB PRIMARY KEY,                     -- 16 bytes (Inbox::key_of)
  peer INTEGER NOT NULL REFERENCES peers(number),
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  via TEXT NOT NULL,
  mailbox TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL,
  ord INTEGER NOT NULL,
  received INTEGER NOT NULL,
  keep_until INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  stored_bytes INTEGER NOT NULL,
  head TEXT NOT NULL,                       -- the message's INNER head, JSON
  body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones(
  key BLOB PRIMARY KEY,                     -- 16 bytes: Inbox::key_of, or legacy_key_of
  peer INTEGER NOT NULL,
  keep_until INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tombstones_keep_until ON tombstones(keep_until);
CREATE TRIGGER IF NOT EXISTS tombstone_added AFTER INSERT ON tombstones BEGIN
  UPDATE peers SET tombstones = tombstones + 1 WHERE number = new.peer;
END;
CREATE TRIGGER IF NOT EXISTS tombstone_removed AFTER DELETE ON tombstones BEGIN
  UPDATE peers SET tombstones = tombstones - 1 WHERE number = old.peer;
END;
CREATE TABLE IF NOT EXISTS migrated(       -- old .msg files already moved in
  box TEXT NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY(box, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS corrupt(
  box TEXT NOT NULL,                        -- "outbox" or "inbox"
  name TEXT NOT NULL,                       -- id or key
  meta TEXT NOT NULL,                       -- the row's metadata, JSON
  body BLOB,
  found INTEGER NOT NULL                    -- Unix seconds
);
)sql";

}  // namespace

StoreError store_error_of(const sqlite::SqliteError& error, const fs::path& file) {
  std::string message = file.string() + ": " + error.what();
  if (error.disk_full()) {
    // SQLite's own words ("database or disk is full") hide which; say it as the file system
    // did (SQLITE_FULL is how SQLite reports ENOSPC).
    const int code = error.system_errno() != 0 ? error.system_errno() : ENOSPC;
    message += std::string(" (") + std::strerror(code) + ")";
    return StoreError{StoreError::Kind::kDiskFull, std::move(message)};
  }
  return StoreError{StoreError::Kind::kIo, std::move(message)};
}

std::string MessageDb::open() {
  std::error_code ec;
  if (fs::create_directories(state_dir_, ec)) ::chmod(state_dir_.c_str(), 0700);
  if (ec) return "cannot create " + state_dir_.string() + ": " + ec.message();
  try {
    // 1 KiB pages: a commit writes whole pages to the WAL (the row's leaf, its index leaves),
    // so small pages keep a message's commit near its own size, not 4 pages of 4 KiB. On a
    // nearly full disk that is what decides how many messages fit before the WAL can be
    // checkpointed (docs/benchmarks.md, "Message store").
    db_ = std::make_unique<sqlite::Database>(file(), 1024);
    // A migration or a sweep can make the WAL large; do not keep it that size afterwards.
    db_->exec("PRAGMA journal_size_limit=8388608");
    const int version = db_->user_version();
    if (version > kMessageDbVersion) {
      db_.reset();
      return file().string() + " has schema version " + std::to_string(version) +
             ", newer than this e3xd knows (" + std::to_string(kMessageDbVersion) + ")";
    }
    if (version < kMessageDbVersion) {
      sqlite::Transaction transaction(*db_);
      db_->exec(kSchema);
      db_->set_user_version(kMessageDbVersion);
      transaction.commit();
      checkpoint();
    }
  } catch (const sqlite::SqliteError& error) {
    db_.reset();
    return error.what();
  }
  peer_numbers_.clear();
  peer_names_.clear();
  return {};
}

std::int64_t MessageDb::peer_number(const Hashname& peer) {
  if (auto found = peer_numbers_.find(peer); found != peer_numbers_.end()) return found->second;
  const ByteView digest(peer.digest.data(), peer.digest.size());
  db_->prepare("INSERT OR IGNORE INTO peers(hashname) VALUES(?)").bind_blob(1, digest).run();
  auto query = db_->prepare("SELECT number FROM peers WHERE hashname = ?");
  query.bind_blob(1, digest);
  if (!query.step()) throw sqlite::SqliteError(0, "peers: a peer just added is missing");
  const std::int64_t number = query.column_int64(0);
  peer_numbers_.emplace(peer, number);
  peer_names_.emplace(number, peer);
  return number;
}

std::size_t MessageDb::forget_unused_peers() {
  // tombstones = 0 is the triggers' count; outbox and inbox refer by foreign key (NOT NULL).
  // NOT IN, not a correlated NOT EXISTS: SQLite builds each list once, where NOT EXISTS
  // would scan the unindexed peer columns once per peer.
  db_->prepare(
         "DELETE FROM peers WHERE tombstones = 0"
         " AND number NOT IN (SELECT peer FROM outbox)"
         " AND number NOT IN (SELECT peer FROM inbox)")
      .run();
  const auto forgotten = static_cast<std::size_t>(db_->changes());
  if (forgotten > 0) {
    peer_numbers_.clear();
    peer_names_.clear();
  }
  return forgotten;
}

std::optional<Hashname> MessageDb::peer_of(std::int64_t number) {
  if (auto found = peer_names_.find(number); found != peer_names_.end()) return found->second;
  auto query = db_->prepare("SELECT hashname FROM peers WHERE number = ?");
  query.bind(1, number);
  if (!query.step()) return std::nullopt;
  const Bytes digest = query.column_blob(0);
  if (digest.size() != Digest{}.size()) return std::nullopt;
  Hashname peer;
  std::memcpy(peer.digest.data(), digest.data(), digest.size());
  peer_numbers_.emplace(peer, number);
  peer_names_.emplace(number, peer);
  return peer;
}

void MessageDb::checkpoint() {
  try {
    db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (const sqlite::SqliteError&) {
    // Busy or out of room: the WAL stays as it is and is checkpointed later.
  }
}

bool MessageDb::migrated(std::string_view box, std::string_view name) {
  auto query = db_->prepare("SELECT 1 FROM migrated WHERE box = ? AND name = ?");
  query.bind(1, box).bind(2, name);
  return query.step();
}

void MessageDb::note_migrated(std::string_view box, std::string_view name) {
  db_->prepare("INSERT OR IGNORE INTO migrated(box, name) VALUES(?,?)")
      .bind(1, box)
      .bind(2, name)
      .run();
}

void MessageDb::set_aside(std::string_view box, std::string_view name, std::string_view meta,
                          ByteView body, std::int64_t now_unix) {
  db_->prepare("INSERT INTO corrupt(box, name, meta, body, found) VALUES(?,?,?,?,?)")
      .bind(1, box)
      .bind(2, name)
      .bind(3, meta)
      .bind_blob(4, body)
      .bind(5, now_unix)
      .run();
}

}  // namespace e3x::daemon
