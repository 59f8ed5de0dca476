// Moving an old store (one `.msg` file per record under state_dir/outbox and state_dir/inbox,
// daemon/modules/messages/message_store.hpp) into the messages' database on first start:
// everything arrives (undelivered, delivered, unacknowledged, tombstones, records written
// before revision 2), damaged files stay quarantined, the moved files are deleted, and opening
// again (after a crash at any point) changes nothing.
#include <gtest/gtest.h>

#include <filesystem>

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
    std::string pattern = (fs::temp_directory_path() / "e3x-migrate-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Hashname name_of(std::uint8_t seed) {
  PublicKey key{};
  key.fill(seed);
  return hashname_of(key);
}

Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

// The records exactly as the file store wrote them (the metadata of outbox.cpp and inbox.cpp
// before the database).
MessageRecord old_outbox_record(const std::string& id, std::uint64_t order,
                                std::string_view payload, std::optional<std::int64_t> delivered) {
  json::object meta{{"id", id},
                    {"peer", name_of(1).to_string()},
                    {"type", "msg"},
                    {"order", order},
                    {"created", 1000},
                    {"expires", 2000},
                    {"sha256", payload_sha256(as_bytes(payload))}};
  if (delivered) {
    meta["delivered"] = *delivered;
    meta["bytes"] = payload.size();
    return MessageRecord{meta, {}};
  }
  return MessageRecord{meta, bytes_of(payload)};
}

MessageRecord old_inbox_record(std::uint8_t from, const std::string& id, std::uint64_t order,
                               std::string_view payload, bool acked, bool with_sha = true) {
  json::object meta{{"from", name_of(from).to_string()},
                    {"id", id},
                    {"type", "msg"},
                    {"via", "network"},
                    {"order", order},
                    {"received", 100},
                    {"keep_until", 500}};
  if (with_sha) meta["sha256"] = payload_sha256(as_bytes(payload));
  if (acked) {
    meta["acked"] = true;
    meta["acked_at"] = 120;
    meta["bytes"] = payload.size();
    return MessageRecord{meta, {}};
  }
  meta["head"] = json::object{{"type", "msg"}, {"expires", 500}};
  return MessageRecord{meta, bytes_of(payload)};
}

std::string key_of(std::uint8_t from, std::string_view id, std::string_view payload) {
  return Inbox::key_of(name_of(from), id, payload_sha256(as_bytes(payload)));
}

// An old store: two undelivered and one delivered outbox message, two unacknowledged inbox
// messages and two tombstones, two records written before revision 2, one damaged file and
// one with unusable metadata.
void write_old_store(const fs::path& state) {
  MessageStore outbox(state / "outbox");
  ASSERT_TRUE(outbox.open());
  ASSERT_TRUE(outbox.put("first", old_outbox_record("first", 1, "one", std::nullopt)));
  ASSERT_TRUE(outbox.put("second", old_outbox_record("second", 2, "two", std::nullopt)));
  ASSERT_TRUE(outbox.put("sent", old_outbox_record("sent", 3, "three", 1500)));
  ASSERT_TRUE(outbox.put("torn", old_outbox_record("torn", 4, "four", std::nullopt)));
  ASSERT_TRUE(outbox.put("misnamed", old_outbox_record("other", 5, "five", std::nullopt)));
  MessageStore inbox(state / "inbox");
  ASSERT_TRUE(inbox.open());
  ASSERT_TRUE(inbox.put(key_of(1, "a", "A"), old_inbox_record(1, "a", 1, "A", false)));
  ASSERT_TRUE(inbox.put(key_of(2, "b", "B"), old_inbox_record(2, "b", 2, "B", false)));
  ASSERT_TRUE(inbox.put(key_of(1, "acked", "C"), old_inbox_record(1, "acked", 3, "C", true)));
  ASSERT_TRUE(inbox.put(key_of(2, "acked", "D"), old_inbox_record(2, "acked", 4, "D", true)));
  // Before revision 2: keyed by sender and id, no sha256.
  ASSERT_TRUE(inbox.put(Inbox::legacy_key_of(name_of(3), "old-acked"),
                        old_inbox_record(3, "old-acked", 5, "E", true, false)));
  ASSERT_TRUE(inbox.put(Inbox::legacy_key_of(name_of(3), "old-new"),
                        old_inbox_record(3, "old-new", 6, "old", false, false)));
  // Damaged: cut short.
  const fs::path torn = state / "outbox" / "torn.msg";
  fs::resize_file(torn, fs::file_size(torn) / 2);
}

struct Opened {
  explicit Opened(const fs::path& state) : db(state), outbox(db), inbox(db) {
    EXPECT_EQ(db.open(), "");
    EXPECT_EQ(outbox.open(), "");
    EXPECT_EQ(inbox.open(), "");
  }
  std::int64_t count(const std::string& sql) {
    auto query = db.db().prepare(sql);
    EXPECT_TRUE(query.step());
    return query.column_int64(0);
  }
  MessageDb db;
  Outbox outbox;
  Inbox inbox;
};

// What the old store above must look like once moved.
void expect_migrated(Opened& opened) {
  Outbox& outbox = opened.outbox;
  Inbox& inbox = opened.inbox;
  std::vector<std::string> ids;
  for (const OutboxEntry* entry : outbox.in_order()) ids.push_back(entry->id);
  EXPECT_EQ(ids, (std::vector<std::string>{"first", "second"}));
  ASSERT_NE(outbox.find("second"), nullptr);
  EXPECT_EQ(*outbox.body(*outbox.find("second")), bytes_of("two"));
  EXPECT_EQ(outbox.find("second")->expires, 2000);
  EXPECT_EQ(outbox.find("second")->peer, name_of(1));
  EXPECT_EQ(outbox.delivered_count(), 1u);
  const OutboxEntry* sent = outbox.find("sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(sent->delivered, std::optional<std::int64_t>(1500));
  EXPECT_EQ(sent->bytes, 5u);
  EXPECT_EQ(sent->body_sha256, payload_sha256(as_bytes("three")));
  EXPECT_EQ(outbox.find("torn"), nullptr);
  EXPECT_EQ(outbox.find("other"), nullptr);
  EXPECT_EQ(opened.count("SELECT count(*) FROM outbox"), 3);

  EXPECT_EQ(inbox.size(), 3u);
  EXPECT_EQ(inbox.tombstones(), 3u);
  EXPECT_EQ(opened.count("SELECT count(*) FROM inbox"), 3);
  EXPECT_EQ(opened.count("SELECT count(*) FROM tombstones"), 3);
  ASSERT_EQ(inbox.find("a").size(), 1u);
  EXPECT_EQ(*inbox.body(*inbox.find("a")[0]), bytes_of("A"));
  EXPECT_EQ(inbox.find("a")[0]->key, key_of(1, "a", "A"));
  EXPECT_EQ(inbox.find("a")[0]->keep_until, 500);
  ASSERT_EQ(inbox.find("old-new").size(), 1u);
  EXPECT_EQ(*inbox.body(*inbox.find("old-new")[0]), bytes_of("old"));
  // Repeats are recognised: tombstones, old tombstones whatever the payload, pending ones.
  const auto arrival = [](std::uint8_t from, std::string id) {
    return Inbox::Arrival{name_of(from), std::move(id), "msg", {}, "network", 200, 500};
  };
  EXPECT_EQ(*inbox.store(arrival(1, "acked"), as_bytes("C")), Inbox::Stored::kDuplicate);
  EXPECT_EQ(*inbox.store(arrival(2, "acked"), as_bytes("D")), Inbox::Stored::kDuplicate);
  EXPECT_EQ(*inbox.store(arrival(3, "old-acked"), as_bytes("any")), Inbox::Stored::kDuplicate);
  EXPECT_EQ(*inbox.store(arrival(3, "old-new"), as_bytes("old")), Inbox::Stored::kDuplicate);
  EXPECT_EQ(*inbox.store(arrival(1, "a"), as_bytes("A")), Inbox::Stored::kDuplicate);
  EXPECT_EQ(inbox.tombstones_from(name_of(1)), 1u);
  EXPECT_EQ(inbox.tombstones_from(name_of(3)), 1u);
}

TEST(Migration, MovesEverythingAndDeletesTheFiles) {
  TempDir dir;
  const fs::path state = dir.path() / "state";
  write_old_store(state);
  Opened opened(state);
  expect_migrated(opened);
  EXPECT_EQ(opened.outbox.corrupt_files(), 1u);
  // Moved files are gone; the damaged one stays quarantined, the unusable one in place.
  EXPECT_FALSE(fs::exists(state / "outbox" / "first.msg"));
  EXPECT_FALSE(fs::exists(state / "outbox" / "sent.msg"));
  EXPECT_TRUE(fs::exists(state / "outbox" / "corrupt" / "torn.msg"));
  EXPECT_TRUE(fs::exists(state / "outbox" / "misnamed.msg"));
  EXPECT_FALSE(fs::exists(state / "inbox")) << "an emptied directory is removed";
}

TEST(Migration, OpeningAgainChangesNothing) {
  TempDir dir;
  const fs::path state = dir.path() / "state";
  write_old_store(state);
  { Opened opened(state); }
  Opened again(state);
  expect_migrated(again);
  EXPECT_EQ(again.outbox.corrupt_files(), 0u) << "the quarantined file is not counted again";
}

// A crash after the commit but before the files were deleted: the next start deletes them
// and moves nothing twice; what changed in between (an acknowledgement, a cancel) stays.
TEST(Migration, ACrashBeforeTheFilesAreDeletedLeavesNoDuplicates) {
  TempDir dir;
  const fs::path state = dir.path() / "state";
  write_old_store(state);
  const fs::path copy = dir.path() / "copy";
  fs::copy(state, copy, fs::copy_options::recursive);
  {
    Opened opened(state);
    ASSERT_TRUE(opened.inbox.ack(key_of(2, "b", "B"), 130));
    ASSERT_EQ(opened.outbox.remove("first"), "");
  }
  fs::copy(copy / "inbox", state / "inbox", fs::copy_options::overwrite_existing);
  fs::copy(copy / "outbox", state / "outbox", fs::copy_options::overwrite_existing);
  Opened opened(state);
  EXPECT_EQ(opened.count("SELECT count(*) FROM outbox"), 2);
  EXPECT_EQ(opened.count("SELECT count(*) FROM inbox"), 2);
  EXPECT_EQ(opened.count("SELECT count(*) FROM tombstones"), 4);
  EXPECT_EQ(opened.inbox.size(), 2u);
  EXPECT_EQ(opened.inbox.tombstones(), 4u);
  EXPECT_TRUE(opened.inbox.find("b").empty()) << "an acknowledged message came back";
  EXPECT_EQ(opened.outbox.find("first"), nullptr) << "a cancelled message came back";
  EXPECT_EQ(opened.outbox.size(), 1u);
  EXPECT_EQ(opened.outbox.delivered_count(), 1u);
  EXPECT_FALSE(fs::exists(state / "outbox" / "first.msg"));
  EXPECT_FALSE(fs::exists(state / "inbox" / (key_of(2, "b", "B") + ".msg")));
}

// A crash before the commit leaves the files and an unchanged database: the next start does
// it all. (The transaction is what makes it so; here the first start never happened.)
TEST(Migration, AnEmptyOrMissingOldStoreIsFine) {
  TempDir dir;
  fs::create_directories(dir.path() / "outbox");
  Opened opened(dir.path());
  EXPECT_EQ(opened.outbox.size(), 0u);
  EXPECT_EQ(opened.inbox.size(), 0u);
  EXPECT_EQ(opened.inbox.tombstones(), 0u);
}

}  // namespace
}  // namespace e3x::daemon
