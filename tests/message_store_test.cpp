// The on-disk side of messages: the record format (daemon/message_record.hpp), the store
// directory (daemon/message_store.hpp), and the outbox and inbox built on it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/hashname.hpp"
#include "core/message_rules.hpp"
#include "daemon/modules/messages/inbox.hpp"
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
    Outbox outbox(dir.path());
    ASSERT_EQ(outbox.open(), "");
    for (const char* id : {"zeta", "alpha", "mid"}) {
      ASSERT_TRUE(outbox.add(outgoing(id), as_bytes(std::string("body of ") + id), UINT64_MAX));
    }
    ASSERT_EQ(outbox.remove("alpha"), "");
  }
  Outbox outbox(dir.path());
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
    Outbox outbox(dir.path());
    ASSERT_EQ(outbox.open(), "");
    ASSERT_TRUE(outbox.add(outgoing("done"), as_bytes("payload"), UINT64_MAX));
    ASSERT_TRUE(outbox.add(outgoing("waiting"), as_bytes("payload 2"), UINT64_MAX));
    ASSERT_EQ(outbox.mark_delivered("done", 1500), "");
    EXPECT_EQ(outbox.size(), 1u);
    EXPECT_EQ(outbox.delivered_count(), 1u);
  }
  Outbox outbox(dir.path());
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
  EXPECT_EQ(outbox.forget_delivered(1999), 0u);
  EXPECT_EQ(outbox.forget_delivered(2000), 1u);  // expires at 2000
  EXPECT_EQ(outbox.find("done"), nullptr);
  EXPECT_NE(outbox.find("waiting"), nullptr) << "only delivered records are forgotten";
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
    Inbox inbox(dir.path());
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
  }
  Inbox inbox(dir.path());
  ASSERT_EQ(inbox.open(), "");
  EXPECT_EQ(inbox.size(), 1u);
  EXPECT_EQ(*inbox.store(arrival(1, "m1"), as_bytes("one")), Inbox::Stored::kDuplicate)
      << "an acknowledged message that is sent again is not stored again";
  // Once keep_until (the message's expiry, 150) has passed the tombstone goes.
  EXPECT_EQ(inbox.forget_tombstones(149), 0u);
  EXPECT_EQ(inbox.forget_tombstones(151), 1u);
  EXPECT_EQ(inbox.pending().size(), 1u);
}

// PROTOCOL.md 10.7: the same id with another payload is not a repeat (issue 10 item 5: a
// reused id was "delivered" on the sender while the receiver dropped it as a repeat); it is
// stored, and each is found by its own key.
TEST(Inbox, SameIdWithAnotherPayloadIsAnotherMessage) {
  TempDir dir;
  Inbox inbox(dir.path());
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

TEST(Inbox, IdsNeverBecomePaths) {
  TempDir dir;
  Inbox inbox(dir.path() / "in");
  ASSERT_EQ(inbox.open(), "");
  ASSERT_TRUE(inbox.store(arrival(1, "../../escape"), as_bytes("x")));
  EXPECT_FALSE(fs::exists(dir.path() / "escape.msg"));
  EXPECT_FALSE(fs::exists(dir.path() / "escape"));
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path() / "in")) {
    EXPECT_EQ(entry.path().filename().string().size(), 32u + 4u);
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST(Inbox, QuotaRefusesAndKeepsWhatIsStored) {
  TempDir dir;
  Inbox inbox(dir.path());
  ASSERT_EQ(inbox.open(), "");
  const Bytes payload(1000, 7);
  const InboxQuota quota{3000, UINT64_MAX};
  ASSERT_TRUE(inbox.store(arrival(1, "a"), payload, quota));
  ASSERT_TRUE(inbox.store(arrival(1, "b"), payload, quota));
  auto refused = inbox.store(arrival(1, "c"), payload, quota);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, StoreError::Kind::kQuota);
  EXPECT_EQ(inbox.size(), 2u);
  EXPECT_EQ(*inbox.body(*inbox.find("a")[0]), payload);
}

// Issue 10 item 9: one peer could fill the shared quota for everyone, and tombstones counted.
// Now each sender has its own share of unacknowledged bytes, and acknowledged messages
// (tombstones) count toward neither.
TEST(Inbox, OnePeerCannotFillTheInboxForEveryone) {
  TempDir dir;
  Inbox inbox(dir.path());
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

// A record written before revision 2 (keyed by sender and id only) is read back, and its
// tombstone still recognises the id as a repeat.
TEST(Inbox, ReadsRecordsWrittenBeforeRevisionTwo) {
  TempDir dir;
  {
    MessageStore store(dir.path());
    ASSERT_TRUE(store.open());
    const auto legacy = [](std::uint8_t from, const std::string& id, bool acked) {
      boost::json::object meta{{"from", name_of(from).to_string()},
                               {"id", id},
                               {"type", "msg"},
                               {"via", "network"},
                               {"order", 1},
                               {"received", 100},
                               {"keep_until", 500}};
      if (acked) meta["acked"] = true;
      return MessageRecord{meta, acked ? Bytes{} : Bytes{'o', 'l', 'd'}};
    };
    ASSERT_TRUE(
        store.put(Inbox::legacy_key_of(name_of(1), "old-acked"), legacy(1, "old-acked", true)));
    ASSERT_TRUE(
        store.put(Inbox::legacy_key_of(name_of(1), "old-new"), legacy(1, "old-new", false)));
  }
  Inbox inbox(dir.path());
  ASSERT_EQ(inbox.open(), "");
  EXPECT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox.tombstones(), 1u);
  EXPECT_EQ(*inbox.store(arrival(1, "old-acked"), as_bytes("anything")), Inbox::Stored::kDuplicate);
  EXPECT_EQ(*inbox.store(arrival(1, "old-new"), as_bytes("old")), Inbox::Stored::kDuplicate);
  EXPECT_EQ(*inbox.store(arrival(1, "old-new"), as_bytes("other")), Inbox::Stored::kNew);
}

}  // namespace
}  // namespace e3x::daemon
