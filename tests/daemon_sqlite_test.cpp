// daemon/support/sqlite.hpp: WAL mode, 0600, bindings round-trip, rollback on exceptions.
#include <sys/stat.h>

#include <cerrno>

#include <filesystem>

#include <gtest/gtest.h>

#include "daemon/support/sqlite.hpp"

namespace e3x::daemon::sqlite {
namespace {

namespace fs = std::filesystem;

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("e3x-sqlite-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SqliteTest, OpensInWalModeWithMode0600) {
  Database db(dir_ / "a.db");
  auto mode = db.prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.column_text(0), "wal");
  struct stat info {};
  ASSERT_EQ(::stat((dir_ / "a.db").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

// A page size applies when the file is created (before WAL mode fixes it), and a database
// keeps the one it was made with.
TEST_F(SqliteTest, PageSizeAppliesWhenCreated) {
  const auto page_size = [](Database& db) {
    auto query = db.prepare("PRAGMA page_size");
    EXPECT_TRUE(query.step());
    return query.column_int64(0);
  };
  {
    Database db(dir_ / "small.db", 1024);
    db.exec("CREATE TABLE t(i INTEGER)");
    EXPECT_EQ(page_size(db), 1024);
    auto mode = db.prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode.step());
    EXPECT_EQ(mode.column_text(0), "wal");
  }
  Database again(dir_ / "small.db", 8192);
  EXPECT_EQ(page_size(again), 1024);
  Database other(dir_ / "default.db");
  other.exec("CREATE TABLE t(i INTEGER)");
  EXPECT_EQ(page_size(other), 4096);
}

TEST_F(SqliteTest, BindsAndReadsBackEveryKind) {
  Database db(dir_ / "a.db");
  db.exec("CREATE TABLE t(i INTEGER, s TEXT, b BLOB, n BLOB)");
  const Bytes blob{0, 1, 2, 255};
  db.prepare("INSERT INTO t VALUES(?,?,?,?)")
      .bind(1, std::int64_t{-5})
      .bind(2, std::string_view("text\0with nul", 13))
      .bind_blob(3, blob)
      .bind_null(4)
      .run();
  auto row = db.prepare("SELECT i, s, b, n FROM t");
  ASSERT_TRUE(row.step());
  EXPECT_EQ(row.column_int64(0), -5);
  EXPECT_EQ(row.column_text(1), std::string("text\0with nul", 13));
  EXPECT_EQ(row.column_blob(2), blob);
  EXPECT_TRUE(row.column_is_null(3));
  EXPECT_FALSE(row.step());
}

TEST_F(SqliteTest, EmptyBlobIsNotNull) {
  Database db(dir_ / "a.db");
  db.exec("CREATE TABLE t(b BLOB)");
  db.prepare("INSERT INTO t VALUES(?)").bind_blob(1, ByteView()).run();
  auto row = db.prepare("SELECT b IS NULL, length(b) FROM t");
  ASSERT_TRUE(row.step());
  EXPECT_EQ(row.column_int64(0), 0);
  EXPECT_EQ(row.column_int64(1), 0);
}

TEST_F(SqliteTest, UncommittedTransactionRollsBack) {
  Database db(dir_ / "a.db");
  db.exec("CREATE TABLE t(i INTEGER)");
  try {
    Transaction transaction(db);
    db.prepare("INSERT INTO t VALUES(1)").run();
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  {
    Transaction transaction(db);
    db.prepare("INSERT INTO t VALUES(2)").run();
    transaction.commit();
  }
  auto rows = db.prepare("SELECT group_concat(i) FROM t");
  ASSERT_TRUE(rows.step());
  EXPECT_EQ(rows.column_text(0), "2");
}

TEST_F(SqliteTest, ErrorsCarryTheCodeAndTheStatementStaysUsable) {
  Database db(dir_ / "a.db");
  db.exec("CREATE TABLE t(i INTEGER PRIMARY KEY)");
  auto insert = db.prepare("INSERT INTO t VALUES(?)");
  insert.bind(1, std::int64_t{1}).run();
  insert.reset().bind(1, std::int64_t{1});
  try {
    insert.run();
    FAIL() << "a duplicate key was accepted";
  } catch (const SqliteError& error) {
    EXPECT_FALSE(error.disk_full());
    EXPECT_NE(std::string(error.what()).find("UNIQUE"), std::string::npos) << error.what();
  }
  insert.reset().bind(1, std::int64_t{2}).run();
  EXPECT_EQ(db.changes(), 1);
  EXPECT_THROW(db.prepare("SELECT nonsense FROM nowhere"), SqliteError);
}

// A full disk is "disk_full" whichever way SQLite reports it: SQLITE_FULL, or an I/O error
// whose system errno is ENOSPC or EDQUOT; other I/O errors are not.
TEST(SqliteError, DiskFullFromTheCodeOrTheSystemErrno) {
  constexpr int kFull = 13;                 // SQLITE_FULL
  constexpr int kIoErrWrite = 10 | 3 << 8;  // SQLITE_IOERR_WRITE
  constexpr int kIoErrFsync = 10 | 4 << 8;  // SQLITE_IOERR_FSYNC
  EXPECT_TRUE(SqliteError(kFull, "full").disk_full());
  EXPECT_TRUE(SqliteError(kIoErrWrite, "quota", EDQUOT).disk_full());
  EXPECT_TRUE(SqliteError(kIoErrFsync, "no space", ENOSPC).disk_full());
  EXPECT_FALSE(SqliteError(kIoErrWrite, "eio", EIO).disk_full());
  EXPECT_FALSE(SqliteError(19, "constraint", ENOSPC).disk_full()) << "not an I/O error";
}

TEST_F(SqliteTest, UserVersionPersists) {
  {
    Database db(dir_ / "a.db");
    EXPECT_EQ(db.user_version(), 0);
    db.set_user_version(3);
  }
  Database db(dir_ / "a.db");
  EXPECT_EQ(db.user_version(), 3);
}

}  // namespace
}  // namespace e3x::daemon::sqlite
