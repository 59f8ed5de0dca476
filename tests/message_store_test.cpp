// The on-disk side of messages: the old record format (daemon/message_record.hpp) and store
// directory (daemon/message_store.hpp), still read to migrate an old store
// (message_migration_test.cpp), and the outbox and inbox in the messages' database
// (daemon/modules/messages/message_db.hpp).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/hashname.hpp"
#include "core/message_rules.hpp"
#include "daemon/modules/messages/inbox.hpp"
#include "daemon/modules/messages/message_db.hpp"
#include "daemon/modules/messages/message_record.hpp"
#include "daemon/modules/messages/message_store.hpp"
#include "daemon/modules/messages/outbox.hpp"

namespace e3x::daemon {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "e3x-store-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Bytes file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& file, ByteView bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

Hashname name_of(std::uint8_t seed) {
  PublicKey key{};
  key.fill(seed);
  return hashname_of(key);
}

MessageRecord sample_record() {
  return MessageRecord{json::object{{"id", "m1"}, {"n", 5}}, Bytes{0, 1, 2, 0xff, 0x80}};
}

// ---------------------------------------------------------------- record format

TEST(MessageRecord, RoundTrips) {
  const MessageRecord record = sample_record();
  auto decoded = decode_record(encode_record(record));
  ASSERT_TRUE(decoded) << decoded.error();
  EXPECT_EQ(decoded->meta, record.meta);
  EXPECT_EQ(decoded->body, record.body);
}

TEST(MessageRecord, EveryDamagedByteAndEveryTruncationIsDetected) {
  const Bytes good = encode_record(sample_record());
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x04;
    EXPECT_FALSE(decode_record(bad)) << "flipped byte " << i;
  }
  for (std::size_t length = 0; length < good.size(); ++length) {
    EXPECT_FALSE(decode_record(ByteView(good.data(), length))) << "truncated to " << length;
  }
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_FALSE(decode_record(longer));
}

// ---------------------------------------------------------------- store directory

TEST(MessageStore, WritesAtomicallyWithMode0600AndCountsBytes) {
  TempDir dir;
  MessageStore store(dir.path() / "box");
  ASSERT_TRUE(store.open());
  EXPECT_EQ(fs::status(dir.path() / "box").permissions() & fs::perms::all, fs::perms::owner_all);
  auto size = store.put("a", sample_record());
  ASSERT_TRUE(size);
  struct stat info {};
  ASSERT_EQ(::stat((dir.path() / "box" / "a.msg").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(store.bytes(), *size);
  EXPECT_EQ(*size, fs::file_size(dir.path() / "box" / "a.msg"));
  ASSERT_TRUE(store.put("b", sample_record()));
  EXPECT_EQ(store.bytes(), 2 * *size);
  EXPECT_EQ(store.read("a")->body, sample_record().body);
  EXPECT_EQ(store.remove("a"), "");
  EXPECT_EQ(store.bytes(), *size);
  EXPECT_FALSE(fs::exists(dir.path() / "box" / "a.msg"));
  EXPECT_EQ(store.remove("a"), "") << "removing twice is harmless";
}

TEST(MessageStore, QuotaRefusesWithoutWritingAndCountsReplacementsOnce) {
  TempDir dir;
  MessageStore store(dir.path());
  ASSERT_TRUE(store.open());
  const std::uint64_t one = encode_record(sample_record()).size();
  ASSERT_TRUE(store.put("a", sample_record(), 2 * one));
  ASSERT_TRUE(store.put("a", sample_record(), 2 * one)) << "replacing does not double count";
  ASSERT_TRUE(store.put("b", sample_record(), 2 * one));
  auto refused = store.put("c", sample_record(), 2 * one);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, StoreError::Kind::kQuota);
  EXPECT_STREQ(error_code(refused.error().kind), "quota_exceeded");
  EXPECT_NE(refused.error().message.find("store_quota"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "c.msg"));
  EXPECT_EQ(store.bytes(), 2 * one);
}

TEST(MessageStore, OpenRemovesInterruptedWritesAndQuarantinesDamagedFiles) {
  TempDir dir;
  {
    MessageStore store(dir.path());
    ASSERT_TRUE(store.open());
    ASSERT_TRUE(store.put("good", sample_record()));
    ASSERT_TRUE(store.put("torn", sample_record()));
  }
  // A crash between creating the temporary and renaming it leaves this behind.
  write_bytes(dir.path() / ".x.msg.tmp-Ab12Cd", Bytes{1, 2, 3});
  // A file cut short (what a torn write would look like without the rename discipline).
  Bytes torn = file_bytes(dir.path() / "torn.msg");
  torn.resize(torn.size() / 2);
  write_bytes(dir.path() / "torn.msg", torn);

  MessageStore store(dir.path());
  auto loaded = store.open();
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].name, "good");
  EXPECT_EQ(store.corrupt_files(), 1u);
  EXPECT_FALSE(fs::exists(dir.path() / ".x.msg.tmp-Ab12Cd"));
  EXPECT_FALSE(fs::exists(dir.path() / "torn.msg"));
  EXPECT_TRUE(fs::exists(dir.path() / "corrupt" / "torn.msg")) << "kept for inspection";
  EXPECT_EQ(store.bytes(), fs::file_size(dir.path() / "good.msg"));
}

// ---------------------------------------------------------------- database

// The messages' database of a state directory, opened.
class Db {
 public:
  explicit Db(const fs::path& state_dir) : db(state_dir) { EXPECT_EQ(db.open(), ""); }
  sqlite::Database& sql() { return db.db(); }
  std::int64_t count(const std::string& sql_text) {
    auto query = db.db().prepare(sql_text);
    EXPECT_TRUE(query.step());
    return query.column_int64(0);
  }
  MessageDb db;
};

TEST(MessageDb, OneDatabaseWithMode0600AndNoFilePerMessage) {
  TempDir dir;
  {
    Db db(dir.path() / "state");
    Outbox outbox(db.db);
    Inbox inbox(db.db);
    ASSERT_EQ(outbox.open(), "");
    ASSERT_EQ(inbox.open(), "");
    OutboxEntry entry;
    entry.id = "a";
    entry.peer = name_of(1);
    entry.type = "msg";
    ASSERT_TRUE(outbox.add(entry, as_bytes("x"), UINT64_MAX));
    ASSERT_TRUE(inbox.store(Inbox::Arrival{name_of(1), "../../escape", "msg", {}, "network", 1, 9},
                            as_bytes("x")));
  }
  struct stat info {};
  ASSERT_EQ(::stat((dir.path() / "state" / "messages.db").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  for (const auto& entry : fs::directory_iterator(dir.path() / "state")) {
    EXPECT_TRUE(entry.path().filename().string().starts_with("messages.db")) << entry.path();
  }
  EXPECT_FALSE(fs::exists(dir.path() / "escape"));
  EXPECT_FALSE(fs::exists(dir.path() / "state" / "outbox"));
  EXPECT_FALSE(fs::exists(dir.path() / "state" / "inbox"));
}

// SQLITE_FULL (or ENOSPC/EDQUOT under an I/O error) is "disk_full", in the file system's
// words; anything else is "store_error". Both name the database.
TEST(MessageDb, DatabaseErrorsBecomeStoreErrors) {
  const StoreError full = store_error_of(sqlite::SqliteError(13, "step: database or disk is full"),
                                         "/state/messages.db");
  EXPECT_EQ(full.kind, StoreError::Kind::kDiskFull);
  EXPECT_STREQ(error_code(full.kind), "disk_full");
  EXPECT_NE(full.message.find("No space left on device"), std::string::npos) << full.message;
  EXPECT_NE(full.message.find("/state/messages.db"), std::string::npos) << full.message;
  const StoreError quota =
      store_error_of(sqlite::SqliteError(10 | 3 << 8, "disk I/O error", EDQUOT), "db");
  EXPECT_EQ(quota.kind, StoreError::Kind::kDiskFull);
  const StoreError io =
      store_error_of(sqlite::SqliteError(10 | 3 << 8, "disk I/O error", EIO), "db");
  EXPECT_EQ(io.kind, StoreError::Kind::kIo);
  EXPECT_STREQ(error_code(io.kind), "store_error");
}

TEST(MessageDb, RefusesADatabaseFromANewerVersion) {
  TempDir dir;
  {
    Db db(dir.path());
    db.sql().set_user_version(kMessageDbVersion + 1);
  }
  MessageDb db(dir.path());
  EXPECT_NE(db.open().find("newer"), std::string::npos);
}

// ---------------------------------------------------------------- outbox

OutboxEntry outgoing(std::string id, std::uint8_t peer = 1) {
  OutboxEntry entry;
  entry.id = std::move(id);
  entry.peer = name_of(peer);
  entry.type = "msg";
  entry.created = 1000;
  entry.expires = 2000;
  return entry;
}

TEST(Outbox, KeepsMessagesAndTheirOrderAcrossRestarts) {
  TempDir dir;
  {
    Db db(dir.path());
    Outbox outbox(db.db);
    ASSERT_EQ(outbox.open(), "");
    for (const char* id : {"zeta", "alpha", "mid"}) {
      ASSERT_TRUE(outbox.add(outgoing(id), as_bytes(std::string("body of ") + id), UINT64_MAX));
    }
    ASSERT_EQ(outbox.remove("alpha"), "");
  }
  Db db(dir.path());
  Outbox outbox(db.db);
  ASSERT_EQ(outbox.open(), "");
  std::vector<std::string> ids;
  for (const OutboxEntry* entry : outbox.in_order()) ids.push_back(entry->id);
  EXPECT_EQ(ids, (std::vector<std::string>{"zeta", "mid"}));
  const OutboxEntry* mid = outbox.find("mid");
  ASSERT_NE(mid, nullptr);
  EXPECT_EQ(mid->peer, name_of(1));
  EXPECT_EQ(mid->expires, 2000);
  EXPECT_EQ(mid->bytes, std::string("body of mid").size());
  EXPECT_EQ(*outbox.body(*mid),
            Bytes(as_bytes("body of mid").begin(), as_bytes("body of mid").end()));
  // New messages go after the old ones, even though the counter restarted.
  ASSERT_TRUE(outbox.add(outgoing("new"), as_bytes("x"), UINT64_MAX));
  EXPECT_EQ(outbox.in_order().back()->id, "new");
}

// A delivered message leaves a record without its payload until it expires, across restarts,
// so its id is not used again for another message in that time (PROTOCOL.md 10.7).
TEST(Outbox, DeliveredMessagesKeepTheirIdUntilTheyExpire) {
  TempDir dir;
  {
    Db db(dir.path());
    Outbox outbox(db.db);
    ASSERT_EQ(outbox.open(), "");
    ASSERT_TRUE(outbox.add(outgoing("done"), as_bytes("payload"), UINT64_MAX));
    ASSERT_TRUE(outbox.add(outgoing("waiting"), as_bytes("payload 2"), UINT64_MAX));
    ASSERT_EQ(outbox.mark_delivered("done", 1500), "");
    EXPECT_EQ(outbox.size(), 1u);
    EXPECT_EQ(outbox.delivered_count(), 1u);
  }
  Db db(dir.path());
  Outbox outbox(db.db);
  ASSERT_EQ(outbox.open(), "");
  EXPECT_EQ(outbox.size(), 1u);
  ASSERT_EQ(outbox.in_order().size(), 1u);
  EXPECT_EQ(outbox.in_order()[0]->id, "waiting");
  const OutboxEntry* done = outbox.find("done");
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->delivered, std::optional<std::int64_t>(1500));
  EXPECT_EQ(done->bytes, std::string("payload").size());
  EXPECT_EQ(done->body_sha256, payload_sha256(as_bytes("payload")));
  EXPECT_FALSE(outbox.body(*done)->size() > 0) << "the payload is gone once delivered";
  EXPECT_EQ(db.count("SELECT count(*) FROM outbox WHERE id = 'done' AND body IS NULL"), 1);
  ASSERT_EQ(outbox.delivered().size(), 1u);
  EXPECT_EQ(outbox.delivered()[0].id, "done");
  EXPECT_EQ(outbox.forget_delivered(1999), 0u);
  EXPECT_EQ(outbox.forget_delivered(2000), 1u);  // expires at 2000
  EXPECT_EQ(outbox.find("done"), nullptr);
  EXPECT_EQ(outbox.delivered_count(), 0u);
  EXPECT_NE(outbox.find("waiting"), nullptr) << "only delivered records are forgotten";
  EXPECT_EQ(db.count("SELECT count(*) FROM outbox"), 1);
}

// Delivered records are not held in memory: a delivered id is found in the database, and the
// in-memory outbox holds only what is still to be sent.
TEST(Outbox, DeliveredRecordsAreLookedUpNotHeld) {
  TempDir dir;
  Db db(dir.path());
  Outbox outbox(db.db);
  ASSERT_EQ(outbox.open(), "");
  for (int i = 0; i < 50; ++i) {
    const std::string id = "m" + std::to_string(i);
    ASSERT_TRUE(outbox.add(outgoing(id), as_bytes("payload"), UINT64_MAX));
    ASSERT_EQ(outbox.mark_delivered(id, 1500), "");
  }
  EXPECT_EQ(outbox.size(), 0u);
  EXPECT_EQ(outbox.bytes(), 0u);
  EXPECT_EQ(outbox.delivered_count(), 50u);
  const OutboxEntry* found = outbox.find("m7");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->delivered, std::optional<std::int64_t>(1500));
  EXPECT_EQ(found->peer, name_of(1));
  EXPECT_EQ(outbox.delivered().size(), 50u);
  EXPECT_EQ(outbox.find("m50"), nullptr);
}

TEST(Outbox, QuotaCountsUndeliveredMessagesOnly) {
  TempDir dir;
  Db db(dir.path());
  Outbox outbox(db.db);
  ASSERT_EQ(outbox.open(), "");
  const Bytes payload(1000, 7);
  ASSERT_TRUE(outbox.add(outgoing("a"), payload, 2500));
  ASSERT_TRUE(outbox.add(outgoing("b"), payload, 2500));
  auto refused = outbox.add(outgoing("c"), payload, 2500);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, StoreError::Kind::kQuota);
  EXPECT_STREQ(error_code(refused.error().kind), "quota_exceeded");
  EXPECT_NE(refused.error().message.find("store_quota"), std::string::npos);
  EXPECT_EQ(outbox.find("c"), nullptr);
  EXPECT_EQ(db.count("SELECT count(*) FROM outbox WHERE id = 'c'"), 0) << "nothing written";
  ASSERT_EQ(outbox.mark_delivered("a", 1500), "");
  EXPECT_TRUE(outbox.add(outgoing("c"), payload, 2500)) << "a delivered message frees its share";
}

// The mailbox feature's fields: kept across restarts, pending or delivered.
TEST(Outbox, DepositsArePersisted) {
  TempDir dir;
  const std::string mailbox = name_of(9).to_string();
  {
    Db db(dir.path());
    Outbox outbox(db.db);
    ASSERT_EQ(outbox.open(), "");
    ASSERT_TRUE(outbox.add(outgoing("kept"), as_bytes("p"), UINT64_MAX));
    ASSERT_TRUE(outbox.add(outgoing("done"), as_bytes("q"), UINT64_MAX));
    EXPECT_FALSE(outbox.find("kept")->deposited);
    EXPECT_EQ(outbox.mark_deposited("kept", mailbox, 1234), "");
    EXPECT_EQ(outbox.find("kept")->deposited, std::optional<std::int64_t>(1234));
    EXPECT_EQ(outbox.mark_deposited("done", mailbox, 1300), "");
    ASSERT_EQ(outbox.mark_delivered("done", 1400), "");
    EXPECT_NE(outbox.mark_deposited("nothing", mailbox, 1234), "");
  }
  Db db(dir.path());
  Outbox outbox(db.db);
  ASSERT_EQ(outbox.open(), "");
  const OutboxEntry* kept = outbox.find("kept");
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->deposited, std::optional<std::int64_t>(1234));
  EXPECT_EQ(kept->deposited_with, mailbox);
  const OutboxEntry* done = outbox.find("done");
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->deposited, std::optional<std::int64_t>(1300));
  EXPECT_EQ(done->deposited_with, mailbox);
  EXPECT_EQ(done->delivered, std::optional<std::int64_t>(1400));
}

// SQLite has no page checksums: a payload damaged in the database is caught by its SHA-256,
// set aside, counted, and never sent, then or after a restart.
TEST(Outbox, DamagedPayloadIsSetAsideAndNeverSent) {
  TempDir dir;
  {
    Db db(dir.path());
    Outbox outbox(db.db);
    ASSERT_EQ(outbox.open(), "");
    ASSERT_TRUE(outbox.add(outgoing("bad"), as_bytes("payload"), UINT64_MAX));
    ASSERT_TRUE(outbox.add(outgoing("good"), as_bytes("payload"), UINT64_MAX));
    db.sql().exec("UPDATE outbox SET body = CAST('paYload' AS BLOB) WHERE id = 'bad'");  // one byte
    OutboxEntry* bad = outbox.find("bad");
    ASSERT_NE(bad, nullptr);
    auto body = outbox.body(*bad);
    ASSERT_FALSE(body);
    EXPECT_NE(body.error().find("checksum"), std::string::npos) << body.error();
    EXPECT_EQ(outbox.corrupt_files(), 1u);
    EXPECT_FALSE(outbox.body(*bad)) << "asked again, still refused";
    EXPECT_EQ(outbox.corrupt_files(), 1u) << "counted once";
    ASSERT_EQ(outbox.in_order().size(), 1u);
    EXPECT_EQ(outbox.in_order()[0]->id, "good");
    EXPECT_EQ(outbox.find("bad"), nullptr);
    EXPECT_EQ(outbox.size(), 1u);
    EXPECT_EQ(db.count("SELECT count(*) FROM corrupt WHERE box = 'outbox' AND name = 'bad'"), 1);
    EXPECT_TRUE(outbox.body(*outbox.find("good")));
  }
  Db db(dir.path());
  Outbox outbox(db.db);
  ASSERT_EQ(outbox.open(), "");
  ASSERT_EQ(outbox.in_order().size(), 1u);
  EXPECT_EQ(outbox.in_order()[0]->id, "good");
}

TEST(Outbox, ValidIds) {
  for (const char* good : {"a", "m-1", "A.b_c", "0123456789abcdef"}) {
    EXPECT_TRUE(Outbox::valid_id(good)) << good;
  }
  for (const std::string& bad :
       {std::string(), std::string(".hidden"), std::string("a/b"), std::string("../x"),
        std::string(65, 'a'), std::string("sp ace"), std::string("nul\0x", 5)}) {
    EXPECT_FALSE(Outbox::valid_id(bad)) << bad;
  }
}

// ---------------------------------------------------------------- inbox

Inbox::Arrival arrival(std::uint8_t from, std::string id, std::int64_t now = 100) {
  return Inbox::Arrival{name_of(from), std::move(id), "msg",    {{"type", "msg"}},
                        "network",     now,           now + 50, ""};
}

std::string key_of(std::uint8_t from, std::string_view id, std::string_view payload) {
  return Inbox::key_of(name_of(from), id, payload_sha256(as_bytes(payload)));
}

TEST(Inbox, StoresOncePerSenderIdAndPayloadEvenAfterAckAndRestart) {
  TempDir dir;
  {
    Db db(dir.path());
    Inbox inbox(db.db);
    ASSERT_EQ(inbox.open(), "");
    EXPECT_EQ(*inbox.store(arrival(1, "m1"), as_bytes("one")), Inbox::Stored::kNew);
    EXPECT_EQ(*inbox.store(arrival(1, "m1"), as_bytes("one")), Inbox::Stored::kDuplicate);
    // The same id from another sender is another message.
    EXPECT_EQ(*inbox.store(arrival(2, "m1"), as_bytes("two")), Inbox::Stored::kNew);
    EXPECT_EQ(inbox.size(), 2u);
    EXPECT_EQ(inbox.find("m1").size(), 2u);
    ASSERT_EQ(inbox.find("m1", name_of(2)).size(), 1u);
    EXPECT_EQ(*inbox.body(*inbox.find("m1", name_of(2))[0]), Bytes({'t', 'w', 'o'}));
    ASSERT_TRUE(inbox.ack(key_of(1, "m1", "one"), 120));
    EXPECT_EQ(inbox.size(), 1u);
    EXPECT_EQ(inbox.tombstones(), 1u);
    EXPECT_TRUE(inbox.find("m1", name_of(1)).empty());
    EXPECT_EQ(*inbox.store(arrival(1, "m1"), as_bytes("one")), Inbox::Stored::kDuplicate);
  }
  Db db(dir.path());
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  EXPECT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox.tombstones(), 1u);
  EXPECT_EQ(*inbox.store(arrival(1, "m1"), as_bytes("one")), Inbox::Stored::kDuplicate)
      << "an acknowledged message that is sent again is not stored again";
  // Once keep_until (the message's expiry, 150) has passed the tombstone goes.
  EXPECT_EQ(inbox.forget_tombstones(149), 0u);
  EXPECT_EQ(inbox.forget_tombstones(151), 1u);
  EXPECT_EQ(inbox.tombstones(), 0u);
  EXPECT_EQ(db.count("SELECT count(*) FROM tombstones"), 0);
  EXPECT_EQ(inbox.pending().size(), 1u);
}

// Peers are added in commits of their own (peer_number), so a refused message or a forgotten
// tombstone leaves its sender's row behind; the sweep removes exactly the rows nothing refers
// to, and a peer that comes back gets a number that works again.
TEST(MessageDb, PeersNothingRefersToAreForgotten) {
  TempDir dir;
  Db db(dir.path());
  Outbox outbox(db.db);
  Inbox inbox(db.db);
  ASSERT_EQ(outbox.open(), "");
  ASSERT_EQ(inbox.open(), "");
  ASSERT_TRUE(outbox.add(outgoing("to-2", 2), as_bytes("x"), UINT64_MAX));  // peer 2: outbox
  ASSERT_TRUE(inbox.store(arrival(1, "from-1"), as_bytes("one")));          // peer 1: inbox
  ASSERT_TRUE(inbox.store(arrival(3, "from-3"), as_bytes("three")));        // peer 3: tombstone
  ASSERT_TRUE(inbox.ack(key_of(3, "from-3", "three"), 120));
  db.db.peer_number(name_of(4));  // peer 4: a sender whose message was refused
  db.db.peer_number(name_of(5));
  EXPECT_EQ(db.count("SELECT count(*) FROM peers"), 5);

  EXPECT_EQ(db.db.forget_unused_peers(), 2u);  // 4 and 5
  EXPECT_EQ(db.count("SELECT count(*) FROM peers"), 3);
  EXPECT_EQ(db.db.forget_unused_peers(), 0u);

  // Once peer 3's tombstone is forgotten, so is peer 3.
  EXPECT_EQ(inbox.forget_tombstones(1'000'000), 1u);
  EXPECT_EQ(db.db.forget_unused_peers(), 1u);
  EXPECT_EQ(db.count("SELECT count(*) FROM peers"), 2);

  // What remains still maps both ways, and a forgotten peer that writes again is stored.
  const std::int64_t one = db.db.peer_number(name_of(1));
  EXPECT_EQ(db.db.peer_of(one), name_of(1));
  ASSERT_EQ(inbox.find("from-1").size(), 1u);
  EXPECT_EQ(inbox.find("from-1")[0]->from, name_of(1));
  EXPECT_EQ(*inbox.store(arrival(4, "from-4"), as_bytes("four")), Inbox::Stored::kNew);
  EXPECT_EQ(db.count("SELECT count(*) FROM peers"), 3);
  EXPECT_EQ(db.db.peer_of(db.db.peer_number(name_of(4))), name_of(4));
  EXPECT_EQ(outbox.size(), 1u);
}

// What an arrival says about itself comes back after a restart, payload checked.
TEST(Inbox, KeepsEverythingAcrossRestarts) {
  TempDir dir;
  const std::string mailbox = name_of(9).to_string();
  {
    Db db(dir.path());
    Inbox inbox(db.db);
    ASSERT_EQ(inbox.open(), "");
    Inbox::Arrival through = arrival(1, "m1", 300);
    through.via = "mailbox";
    through.mailbox = mailbox;
    ASSERT_TRUE(inbox.store(through, as_bytes("one")));
    ASSERT_TRUE(inbox.store(arrival(2, "m2", 301), as_bytes("two")));
  }
  Db db(dir.path());
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  const auto pending = inbox.pending();
  ASSERT_EQ(pending.size(), 2u);
  const InboxEntry& first = *pending[0];
  EXPECT_EQ(first.id, "m1");
  EXPECT_EQ(first.from, name_of(1));
  EXPECT_EQ(first.type, "msg");
  EXPECT_EQ(first.via, "mailbox");
  EXPECT_EQ(first.mailbox, mailbox);
  EXPECT_EQ(first.received, 300);
  EXPECT_EQ(first.keep_until, 350);
  EXPECT_EQ(first.bytes, 3u);
  EXPECT_EQ(first.key, key_of(1, "m1", "one"));
  EXPECT_EQ(*inbox.body(first), Bytes({'o', 'n', 'e'}));
  EXPECT_EQ(pending[1]->mailbox, "");
  EXPECT_EQ(pending[1]->via, "network");
  EXPECT_GT(inbox.pending_bytes_from(name_of(1)), 3u);
  EXPECT_EQ(inbox.bytes(),
            inbox.pending_bytes_from(name_of(1)) + inbox.pending_bytes_from(name_of(2)));
  // New arrivals go after the old ones.
  ASSERT_TRUE(inbox.store(arrival(3, "m3"), as_bytes("three")));
  EXPECT_EQ(inbox.pending().back()->id, "m3");
}

TEST(Inbox, DamagedPayloadIsSetAsideAndNeverReturned) {
  TempDir dir;
  const Bytes payload(as_bytes("payload").begin(), as_bytes("payload").end());
  {
    Db db(dir.path());
    Inbox inbox(db.db);
    ASSERT_EQ(inbox.open(), "");
    ASSERT_TRUE(inbox.store(arrival(1, "bad"), payload));
    ASSERT_TRUE(inbox.store(arrival(1, "good"), payload));
    const std::uint64_t before = inbox.bytes();
    db.sql().exec("UPDATE inbox SET body = CAST('paYload' AS BLOB) WHERE id = 'bad'");
    ASSERT_EQ(inbox.find("bad").size(), 1u);
    auto body = inbox.body(*inbox.find("bad")[0]);
    ASSERT_FALSE(body);
    EXPECT_NE(body.error().find("checksum"), std::string::npos) << body.error();
    EXPECT_EQ(inbox.corrupt_files(), 1u);
    EXPECT_TRUE(inbox.find("bad").empty());
    EXPECT_EQ(inbox.size(), 1u);
    EXPECT_LT(inbox.bytes(), before);
    EXPECT_EQ(db.count("SELECT count(*) FROM corrupt WHERE box = 'inbox'"), 1);
    EXPECT_EQ(*inbox.body(*inbox.find("good")[0]), payload);
  }
  Db db(dir.path());
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  EXPECT_EQ(inbox.size(), 1u);
  EXPECT_TRUE(inbox.find("bad").empty());
}

// Tombstones stay in the database: one row each, of a 16-byte key, a peer number and an
// expiry, with nothing of the message left.
TEST(Inbox, TombstonesAreSmallRowsNotEntries) {
  TempDir dir;
  Db db(dir.path());
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  const std::string payload(5000, 'p');
  ASSERT_TRUE(inbox.store(arrival(1, "m1"), as_bytes(payload)));
  ASSERT_TRUE(inbox.ack(key_of(1, "m1", payload), 120));
  EXPECT_EQ(inbox.bytes(), 0u);
  EXPECT_EQ(inbox.size(), 0u);
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox"), 0);
  EXPECT_EQ(db.count("SELECT length(key) FROM tombstones"), 16);
  EXPECT_EQ(db.count("SELECT keep_until FROM tombstones"), 150);
  EXPECT_EQ(inbox.tombstones_from(name_of(1)), 1u);
  EXPECT_EQ(inbox.tombstones_from(name_of(2)), 0u);
  // Acknowledging again (or something unknown) changes nothing.
  EXPECT_EQ(*inbox.ack(key_of(1, "m1", payload), 130), 0u);
  EXPECT_EQ(inbox.tombstones(), 1u);
}

// Each sender may leave at most kMaxTombstonesPerPeer tombstones; the count is kept by the
// database, not by loading them.
TEST(Inbox, PerSenderTombstoneLimitHolds) {
  TempDir dir;
  {
    Db db(dir.path());
    const std::int64_t peer = db.db.peer_number(name_of(1));
    sqlite::Transaction transaction(db.sql());
    auto insert = db.sql().prepare("INSERT INTO tombstones(key, peer, keep_until) VALUES(?,?,?)");
    for (std::size_t i = 0; i < kMaxTombstonesPerPeer; ++i) {
      const Digest digest = sha256(as_bytes(std::to_string(i)));
      insert.reset()
          .bind_blob(1, ByteView(digest.data(), 16))
          .bind(2, peer)
          .bind(3, std::int64_t{1000 + static_cast<std::int64_t>(i % 2) * 1000})
          .run();
    }
    transaction.commit();
  }
  Db db(dir.path());
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  EXPECT_EQ(inbox.tombstones(), kMaxTombstonesPerPeer);
  EXPECT_EQ(inbox.size(), 0u);
  auto refused = inbox.store(arrival(1, "one more"), as_bytes("x"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, StoreError::Kind::kQuota);
  EXPECT_TRUE(inbox.store(arrival(2, "another sender"), as_bytes("x")));
  // The sweep is one DELETE; half of them expire at 1000.
  EXPECT_EQ(inbox.forget_tombstones(1001), kMaxTombstonesPerPeer / 2);
  EXPECT_EQ(inbox.tombstones(), kMaxTombstonesPerPeer / 2);
  EXPECT_EQ(inbox.tombstones_from(name_of(1)), kMaxTombstonesPerPeer / 2);
  EXPECT_TRUE(inbox.store(arrival(1, "one more"), as_bytes("x")));
}

// PROTOCOL.md 10.7: the same id with another payload is not a repeat (issue 10 item 5: a
// reused id was "delivered" on the sender while the receiver dropped it as a repeat); it is
// stored, and each is found by its own key.
TEST(Inbox, SameIdWithAnotherPayloadIsAnotherMessage) {
  TempDir dir;
  Db db(dir.path());
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  EXPECT_EQ(*inbox.store(arrival(1, "m1"), as_bytes("first")), Inbox::Stored::kNew);
  EXPECT_EQ(*inbox.store(arrival(1, "m1"), as_bytes("second")), Inbox::Stored::kNew);
  EXPECT_EQ(inbox.size(), 2u);
  const auto both = inbox.find("m1", name_of(1));
  ASSERT_EQ(both.size(), 2u);
  const auto second = inbox.find(key_of(1, "m1", "second"));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(*inbox.body(*second[0]), Bytes({'s', 'e', 'c', 'o', 'n', 'd'}));
  EXPECT_EQ(second[0]->sha256, payload_sha256(as_bytes("second")));
}

TEST(Inbox, IdsAreStoredVerbatimAndNeverBecomePaths) {
  TempDir dir;
  Db db(dir.path() / "state");
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  ASSERT_TRUE(inbox.store(arrival(1, "../../escape"), as_bytes("x")));
  EXPECT_FALSE(fs::exists(dir.path() / "escape.msg"));
  EXPECT_FALSE(fs::exists(dir.path() / "escape"));
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox WHERE id = '../../escape'"), 1);
  ASSERT_EQ(inbox.find("../../escape").size(), 1u);
  EXPECT_EQ(inbox.find("../../escape")[0]->key.size(), 32u);
}

TEST(Inbox, QuotaRefusesAndKeepsWhatIsStored) {
  TempDir dir;
  Db db(dir.path());
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  const Bytes payload(1000, 7);
  const InboxQuota quota{3000, UINT64_MAX};
  ASSERT_TRUE(inbox.store(arrival(1, "a"), payload, quota));
  ASSERT_TRUE(inbox.store(arrival(1, "b"), payload, quota));
  auto refused = inbox.store(arrival(1, "c"), payload, quota);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, StoreError::Kind::kQuota);
  EXPECT_EQ(inbox.size(), 2u);
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox"), 2) << "nothing written";
  EXPECT_EQ(*inbox.body(*inbox.find("a")[0]), payload);
}

// Issue 10 item 9: one peer could fill the shared quota for everyone, and tombstones counted.
// Now each sender has its own share of unacknowledged bytes, and acknowledged messages
// (tombstones) count toward neither.
TEST(Inbox, OnePeerCannotFillTheInboxForEveryone) {
  TempDir dir;
  Db db(dir.path());
  Inbox inbox(db.db);
  ASSERT_EQ(inbox.open(), "");
  const Bytes payload(1000, 7);
  const InboxQuota quota{100000, 3000};
  int stored = 0;
  for (int i = 0; i < 10; ++i) {
    if (inbox.store(arrival(1, "flood-" + std::to_string(i)), payload, quota)) ++stored;
  }
  EXPECT_EQ(stored, 2) << "peer 1 stored more than its share";
  auto refused = inbox.store(arrival(1, "more"), payload, quota);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, StoreError::Kind::kQuota);
  EXPECT_NE(refused.error().message.find("peer_quota"), std::string::npos);
  // Another peer is not affected.
  EXPECT_TRUE(inbox.store(arrival(2, "hello"), payload, quota));
  // Acknowledging frees the sender's share; its tombstones are not counted.
  for (const InboxEntry* entry : inbox.pending()) {
    if (entry->from == name_of(1)) {
      ASSERT_TRUE(inbox.ack(entry->key, 120));
    }
  }
  EXPECT_EQ(inbox.pending_bytes_from(name_of(1)), 0u);
  EXPECT_EQ(inbox.tombstones(), 2u);
  EXPECT_TRUE(inbox.store(arrival(1, "after-ack"), payload, quota));
  EXPECT_TRUE(inbox.store(arrival(1, "after-ack-2"), payload, quota));
}

}  // namespace
}  // namespace e3x::daemon
