// The messages' database, `<state_dir>/messages.db` (docs/messages.md, "Storage"): the outbox,
// the inbox, the inbox's tombstones and the outbox's delivered records, in SQLite (WAL,
// synchronous=FULL: a committed transaction survives a power cut, one fsync per commit).
// Payloads are BLOBs in the same row as their metadata, so a message and its metadata are
// committed together, with the payload's SHA-256, checked on every read (SQLite has no page
// checksums).
//
// One MessageDb per daemon, owned by the messages module; the Outbox and the Inbox share it.
// Peers are small integers (the `peers` table), so a tombstone row is a 16-byte key, a peer
// number and an expiry.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/hashname.hpp"
#include "daemon/modules/messages/message_store.hpp"
#include "daemon/support/sqlite.hpp"

namespace e3x::daemon {

inline constexpr int kMessageDbVersion = 1;

class MessageDb {
 public:
  explicit MessageDb(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}

  // Creates state_dir (0700) if needed, opens (creating) messages.db and its schema. "" or
  // what went wrong.
  std::string open();

  sqlite::Database& db() { return *db_; }
  const std::filesystem::path& state_dir() const { return state_dir_; }
  std::filesystem::path file() const { return state_dir_ / "messages.db"; }

  // The number of `peer` in the peers table, adding it (in its own commit, so a later
  // rollback never leaves a stale number here) when new. Throws sqlite::SqliteError.
  std::int64_t peer_number(const Hashname& peer);
  // The hashname of a peer number; nullopt when unknown.
  std::optional<Hashname> peer_of(std::int64_t number);
  // Deletes the peers no outbox or inbox row or tombstone refers to any more, and forgets the
  // numbers cached here; returns how many went. peer_number() adds a peer in a commit of its
  // own, so refused messages, expired tombstones and delivered outbox entries leave peers
  // behind: without this the table (and the cache) grows with every sender ever heard from.
  // Throws sqlite::SqliteError.
  std::size_t forget_unused_peers();

  // Runs `write` (one commit); when the disk is full, checkpoints the WAL into the database
  // and truncates it, which frees the room of every superseded page, and runs it once more.
  // A WAL only shrinks at a checkpoint, so on a nearly full disk this is the difference
  // between refusing at the WAL's high-water mark and refusing when the data fills the disk.
  template <typename Write>
  void write_with_room(Write&& write) {
    try {
      write();
      return;
    } catch (const sqlite::SqliteError& error) {
      if (!error.disk_full()) throw;
    }
    checkpoint();
    write();
  }
  // PRAGMA wal_checkpoint(TRUNCATE); errors are ignored (the WAL is checkpointed later).
  void checkpoint();

  // Whether old file `name` of `box` ("outbox", "inbox") was moved into the database already;
  // note_migrated() says so, in the migration's transaction. A file whose deletion a crash
  // prevented is then deleted, never moved twice (the messages may have changed since).
  bool migrated(std::string_view box, std::string_view name);
  void note_migrated(std::string_view box, std::string_view name);

  // Moves a row that failed its checksum aside into the `corrupt` table (kept for
  // inspection, never delivered), logged by the caller. Throws sqlite::SqliteError.
  void set_aside(std::string_view box, std::string_view name, std::string_view meta, ByteView body,
                 std::int64_t now_unix);

 private:
  std::filesystem::path state_dir_;
  std::unique_ptr<sqlite::Database> db_;
  std::unordered_map<Hashname, std::int64_t> peer_numbers_;
  std::unordered_map<std::int64_t, Hashname> peer_names_;
};

// A database error as a store error, naming the database: a full disk (SQLITE_FULL, or
// ENOSPC/EDQUOT) is "disk_full" and says so in the file system's words, anything else is
// "store_error".
StoreError store_error_of(const sqlite::SqliteError& error, const std::filesystem::path& file);

}  // namespace e3x::daemon
