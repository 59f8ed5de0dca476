// A thin RAII layer over SQLite for the daemon's stores (message metadata, tombstones, the
// mailbox's index). It adds nothing SQLite does not do; it only makes misuse hard: a
// Database opens in WAL mode with synchronous=FULL (a committed transaction survives a power
// cut, which is what "durable before the control reply" promises), a Statement is finalized
// when it goes out of scope, and a Transaction rolls back unless committed.
//
// Errors throw SqliteError, carrying SQLite's extended result code, so a store can tell a
// full disk (SQLITE_FULL, answered as "disk_full") from anything else and turn it into its
// own error type at its boundary. Nothing here logs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace e3x::daemon::sqlite {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what, int system_errno = 0)
      : std::runtime_error(what), code_(code), system_errno_(system_errno) {}
  int code() const { return code_; }  // extended result code (sqlite3_extended_errcode)
  int system_errno() const { return system_errno_; }  // sqlite3_system_errno, 0 if none
  bool disk_full() const;  // SQLITE_FULL, or the file system said ENOSPC/EDQUOT

 private:
  int code_;
  int system_errno_;
};

class Statement;

class Database {
 public:
  // Opens (creating it, mode 0600, when missing) the database at `file` in WAL mode with
  // synchronous=FULL and foreign keys on. `page_size` (a power of two, 512 to 65536; 0:
  // SQLite's default, 4096) applies only when the file is created: a database keeps the page
  // size it was made with. Throws SqliteError.
  explicit Database(const std::filesystem::path& file, int page_size = 0);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements with no parameters (schema, pragmas).
  void exec(std::string_view sql);
  Statement prepare(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;  // rows changed by the last statement
  // PRAGMA user_version: the schema version a store migrates from.
  int user_version();
  void set_user_version(int version);
  const std::filesystem::path& file() const { return file_; }
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::filesystem::path file_;
};

// A prepared statement. Bind parameters by 1-based index, then step() until it returns false.
// reset() lets it run again with new bindings (prepare once, run many: the hot paths do).
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind_blob(int index, ByteView blob);
  Statement& bind_null(int index);
  // true: a row is ready (read it with the column_ accessors); false: done.
  bool step();
  // step() that must finish without a row (INSERT, UPDATE, DELETE).
  void run();
  Statement& reset();  // also clears the bindings

  std::int64_t column_int64(int index) const;
  std::string column_text(int index) const;
  Bytes column_blob(int index) const;
  bool column_is_null(int index) const;

 private:
  Database* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back if destroyed uncommitted (an exception on the way).
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace e3x::daemon::sqlite
