#include "daemon/support/sqlite.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>

namespace e3x::daemon::sqlite {

namespace {

[[noreturn]] void fail(sqlite3* db, int code, std::string_view doing) {
  const int extended = db ? sqlite3_extended_errcode(db) : code;
  std::string what(doing);
  what += ": ";
  what += db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  throw SqliteError(extended, what, db ? sqlite3_system_errno(db) : 0);
}

}  // namespace

bool SqliteError::disk_full() const {
  // SQLite reports ENOSPC as SQLITE_FULL, but EDQUOT (and ENOSPC from fsync) as an I/O error.
  const bool io = (code_ & 0xff) == SQLITE_IOERR;
  return (code_ & 0xff) == SQLITE_FULL ||
         (io && (system_errno_ == ENOSPC || system_errno_ == EDQUOT));
}

Database::Database(const std::filesystem::path& file, int page_size) : file_(file) {
  // Created 0600 from the start: the umask of a service may be looser, and the database holds
  // who wrote to whom.
  const mode_t old_mask = ::umask(0077);
  const int opened =
      sqlite3_open_v2(file.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  ::umask(old_mask);
  if (opened != SQLITE_OK) {
    std::string what =
        "open " + file.string() + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(opened));
    sqlite3_close(db_);
    db_ = nullptr;
    throw SqliteError(opened, what);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 5000);
  try {
    // WAL: one fsync per commit, readers never block the writer. synchronous=FULL: the WAL is
    // synced at every commit, so what a commit returned is there after a power cut.
    // Before WAL mode: switching to it writes the file's first page, fixing its page size.
    if (page_size > 0) exec("PRAGMA page_size=" + std::to_string(page_size));
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
  ::chmod(file.c_str(), 0600);
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string what = file_.string() + ": " + (message ? message : sqlite3_errstr(rc));
    sqlite3_free(message);
    throw SqliteError(sqlite3_extended_errcode(db_), what, sqlite3_system_errno(db_));
  }
}

Statement Database::prepare(std::string_view sql) {
  return Statement(*this, sql);
}

std::int64_t Database::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

int Database::changes() const {
  return sqlite3_changes(db_);
}

int Database::user_version() {
  Statement query(*this, "PRAGMA user_version");
  query.step();
  return static_cast<int>(query.column_int64(0));
}

void Database::set_user_version(int version) {
  exec("PRAGMA user_version=" + std::to_string(version));
}

Statement::Statement(Database& db, std::string_view sql) : db_(&db) {
  const int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) fail(db.handle(), rc, "prepare " + std::string(sql.substr(0, 60)));
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Statement& Statement::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) fail(db_->handle(), rc, "bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  const int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) fail(db_->handle(), rc, "bind");
  return *this;
}

Statement& Statement::bind_blob(int index, ByteView blob) {
  // A zero-length blob must still be a blob, not NULL: sqlite3_bind_blob64 with a null
  // pointer binds NULL.
  static const std::uint8_t kEmpty = 0;
  const int rc = sqlite3_bind_blob64(stmt_, index, blob.empty() ? &kEmpty : blob.data(),
                                     blob.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail(db_->handle(), rc, "bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) fail(db_->handle(), rc, "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Leave the statement reusable after a failure (a full disk may clear up).
  sqlite3_reset(stmt_);
  fail(db_->handle(), rc, "step");
}

void Statement::run() {
  while (step()) {
  }
}

Statement& Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return *this;
}

std::int64_t Statement::column_int64(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::string Statement::column_text(int index) const {
  const auto* text = sqlite3_column_text(stmt_, index);
  const int size = sqlite3_column_bytes(stmt_, index);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size))
              : std::string();
}

Bytes Statement::column_blob(int index) const {
  const auto* blob = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, index));
  const int size = sqlite3_column_bytes(stmt_, index);
  return blob ? Bytes(blob, blob + size) : Bytes();
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

Transaction::Transaction(Database& db) : db_(db) {
  db_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (done_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (...) {
    // Nothing more to do: SQLite already rolled back whatever a failed statement began.
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace e3x::daemon::sqlite
