// daemon/modules/mailbox/mailbox_store.hpp: durable deposits, oldest first, quotas at their
// exact boundary, duplicates, expiry, checksums, summaries, file mode and a damaged file.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>

#include <gtest/gtest.h>

#include "core/sha256.hpp"
#include "daemon/modules/mailbox/mailbox_store.hpp"
#include "daemon/support/sqlite.hpp"

namespace e3x::daemon {
namespace {

namespace fs = std::filesystem;
using Kind = MailboxRefusal::Kind;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::int64_t kLater = kNow + 86'400;

Hashname hashname(std::uint8_t seed) {
  Hashname out;
  for (std::size_t i = 0; i < out.digest.size(); ++i) {
    out.digest[i] = static_cast<std::uint8_t>(seed * 31 + i);
  }
  return out;
}

Bytes packet_of(std::size_t size, std::uint8_t seed) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(seed + i * 7);
  return out;
}

const Hashname kAlice = hashname(1);
const Hashname kBob = hashname(2);
const Hashname kCarol = hashname(3);
const Hashname kDave = hashname(4);

class MailboxStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("e3x-mailbox-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    file_ = dir_ / "mailbox.db";
    reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  void reopen() {
    store_.reset();
    store_ = std::make_unique<MailboxStore>(file_);
    ASSERT_EQ(store_->open(), "");
  }

  // A deposit that must be stored; returns its id.
  std::int64_t put(const Hashname& sender, const Hashname& recipient, const Bytes& packet,
                   const MailboxLimits& limits = {}, std::int64_t expires = kLater,
                   std::int64_t now = kNow) {
    auto stored = store_->deposit(sender, recipient, packet, expires, now, limits);
    EXPECT_TRUE(stored.has_value()) << (stored ? "" : stored.error().message);
    if (!stored) return 0;
    EXPECT_FALSE(stored->already_held);
    return stored->id;
  }

  // A deposit that must be refused with `kind`, changing nothing.
  void refused(Kind kind, const Hashname& sender, const Hashname& recipient, const Bytes& packet,
               const MailboxLimits& limits, std::int64_t expires = kLater,
               std::int64_t now = kNow) {
    const std::size_t count = store_->count();
    const std::uint64_t bytes = store_->bytes();
    const std::uint64_t to = store_->bytes_for(recipient);
    const std::uint64_t from = store_->bytes_from(sender);
    auto stored = store_->deposit(sender, recipient, packet, expires, now, limits);
    ASSERT_FALSE(stored.has_value()) << "stored as id " << stored->id;
    EXPECT_EQ(stored.error().kind, kind) << stored.error().message;
    EXPECT_FALSE(stored.error().message.empty());
    EXPECT_EQ(store_->count(), count);
    EXPECT_EQ(store_->bytes(), bytes);
    EXPECT_EQ(store_->bytes_for(recipient), to);
    EXPECT_EQ(store_->bytes_from(sender), from);
  }

  fs::path dir_;
  fs::path file_;
  std::unique_ptr<MailboxStore> store_;
};

TEST_F(MailboxStoreTest, DepositIsDurableAcrossReopen) {
  const Bytes packet = packet_of(1000, 9);
  const std::int64_t id = put(kAlice, kBob, packet);
  ASSERT_GT(id, 0);
  reopen();
  const auto held = store_->deliverable_for(kBob, kNow, 10);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].id, id);
  EXPECT_EQ(held[0].sender, kAlice);
  EXPECT_EQ(held[0].recipient, kBob);
  EXPECT_EQ(held[0].deposited, kNow);
  EXPECT_EQ(held[0].expires, kLater);
  EXPECT_EQ(held[0].bytes, packet.size());
  auto bytes = store_->packet(id);
  ASSERT_TRUE(bytes.has_value()) << bytes.error();
  EXPECT_EQ(*bytes, packet);
  EXPECT_EQ(store_->count(), 1u);
  EXPECT_EQ(store_->bytes(), 1000u);
  EXPECT_EQ(store_->corrupt(), 0u);
  EXPECT_EQ(store_->file(), file_);
}

TEST_F(MailboxStoreTest, EmptyPacketRoundTrips) {
  const std::int64_t id = put(kAlice, kBob, Bytes{});
  auto bytes = store_->packet(id);
  ASSERT_TRUE(bytes.has_value()) << bytes.error();
  EXPECT_TRUE(bytes->empty());
}

TEST_F(MailboxStoreTest, HandsOutOldestFirstAndPages) {
  std::vector<std::int64_t> bob;
  for (std::uint8_t i = 0; i < 5; ++i) {
    bob.push_back(put(i % 2 ? kAlice : kCarol, kBob, packet_of(10 + i, i)));
    put(kAlice, kCarol, packet_of(20 + i, i));  // another recipient's mail in between
  }
  for (std::size_t i = 1; i < bob.size(); ++i) EXPECT_GT(bob[i], bob[i - 1]);

  auto page = store_->deliverable_for(kBob, kNow, 2);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, bob[0]);
  EXPECT_EQ(page[1].id, bob[1]);
  EXPECT_EQ(page[0].sender, kCarol);
  EXPECT_EQ(page[1].sender, kAlice);
  EXPECT_EQ(page[1].bytes, 11u);

  page = store_->deliverable_for(kBob, kNow, 2, page.back().id);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, bob[2]);
  EXPECT_EQ(page[1].id, bob[3]);

  page = store_->deliverable_for(kBob, kNow, 2, page.back().id);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, bob[4]);
  EXPECT_TRUE(store_->deliverable_for(kBob, kNow, 2, bob[4]).empty());
  EXPECT_TRUE(store_->deliverable_for(kBob, kNow, 0).empty());
  EXPECT_EQ(store_->deliverable_for(kBob, kNow, std::numeric_limits<std::size_t>::max()).size(),
            5u);
  EXPECT_TRUE(store_->deliverable_for(kDave, kNow, 10).empty());

  // Acknowledged mail goes; ids are never reused, even for the newest row.
  EXPECT_EQ(store_->remove(bob[0]), "");
  EXPECT_EQ(store_->remove(bob[4]), "");
  page = store_->deliverable_for(kBob, kNow, 10);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].id, bob[1]);
  const std::int64_t newest =
      store_->deliverable_for(kCarol, kNow, 10).back().id;  // deposited last
  EXPECT_GT(newest, bob[4]);
  EXPECT_EQ(store_->remove(newest), "");
  EXPECT_GT(put(kAlice, kBob, packet_of(50, 50)), newest);
  EXPECT_FALSE(store_->packet(bob[0]).has_value());
}

TEST_F(MailboxStoreTest, RecipientQuotaAcceptsExactlyTheQuota) {
  MailboxLimits limits;
  limits.quota_per_recipient = 100;
  put(kAlice, kBob, packet_of(60, 1), limits);
  refused(Kind::kRecipientQuota, kCarol, kBob, packet_of(41, 2), limits);
  put(kCarol, kBob, packet_of(40, 2), limits);  // exactly 100
  EXPECT_EQ(store_->bytes_for(kBob), 100u);
  refused(Kind::kRecipientQuota, kDave, kBob, packet_of(1, 3), limits);
  // Another recipient has its own quota; a single packet over it is refused too.
  put(kAlice, kCarol, packet_of(100, 4), limits);
  refused(Kind::kRecipientQuota, kAlice, kDave, packet_of(101, 5), limits);
  // Room again once mail is acknowledged.
  store_->remove(store_->deliverable_for(kBob, kNow, 1)[0].id);
  put(kDave, kBob, packet_of(60, 3), limits);
  EXPECT_EQ(store_->bytes_for(kBob), 100u);
  EXPECT_EQ(store_->count(), 3u);
}

TEST_F(MailboxStoreTest, SenderQuotaAcceptsExactlyTheQuota) {
  MailboxLimits limits;
  limits.quota_per_sender = 100;
  put(kAlice, kBob, packet_of(70, 1), limits);
  refused(Kind::kSenderQuota, kAlice, kCarol, packet_of(31, 2), limits);
  put(kAlice, kCarol, packet_of(30, 2), limits);  // exactly 100, for two recipients
  EXPECT_EQ(store_->bytes_from(kAlice), 100u);
  refused(Kind::kSenderQuota, kAlice, kDave, packet_of(1, 3), limits);
  // Other senders have their own quota.
  put(kDave, kBob, packet_of(100, 3), limits);
  EXPECT_EQ(store_->bytes_from(kDave), 100u);
  EXPECT_EQ(store_->bytes_from(kCarol), 0u);
  EXPECT_EQ(store_->count(), 3u);
}

TEST_F(MailboxStoreTest, RecipientQuotaIsCheckedBeforeSenderQuota) {
  MailboxLimits limits;
  limits.quota_per_recipient = 10;
  limits.quota_per_sender = 10;
  refused(Kind::kRecipientQuota, kAlice, kBob, packet_of(11, 1), limits);
  EXPECT_EQ(store_->count(), 0u);
}

TEST_F(MailboxStoreTest, DepositingTheSamePacketAgainAnswersWithTheHeldRow) {
  MailboxLimits limits;
  limits.quota_per_recipient = 50;
  limits.quota_per_sender = 50;
  const Bytes packet = packet_of(50, 7);
  const std::int64_t id = put(kAlice, kBob, packet, limits);
  // Full quotas do not refuse it: nothing more would be held.
  auto again = store_->deposit(kAlice, kBob, packet, kLater, kNow + 5, limits);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->id, id);
  EXPECT_TRUE(again->already_held);
  EXPECT_EQ(store_->count(), 1u);
  EXPECT_EQ(store_->bytes(), 50u);
  EXPECT_EQ(store_->deliverable_for(kBob, kNow, 10)[0].deposited, kNow);
  // The same bytes for another recipient are another message.
  auto other = store_->deposit(kDave, kCarol, packet, kLater, kNow, limits);
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->already_held);
  EXPECT_NE(other->id, id);
  // A different packet is not a duplicate (and meets the full quota).
  refused(Kind::kRecipientQuota, kAlice, kBob, packet_of(50, 8), limits);
  // Once acknowledged, the packet is new again.
  EXPECT_EQ(store_->remove(id), "");
  EXPECT_GT(put(kAlice, kBob, packet, limits), other->id);
}

TEST_F(MailboxStoreTest, KeepsMailUntilTheEarlierOfExpiresAndMaxAge) {
  MailboxLimits limits;
  limits.max_age_s = 100;
  const std::int64_t capped = put(kAlice, kBob, packet_of(10, 1), limits, kNow + 5000);
  const std::int64_t own = put(kCarol, kBob, packet_of(20, 2), limits, kNow + 50);
  const auto held = store_->deliverable_for(kBob, kNow, 10);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].expires, kNow + 100);
  EXPECT_EQ(held[1].expires, kNow + 50);

  refused(Kind::kExpired, kAlice, kBob, packet_of(5, 3), limits, kNow);
  refused(Kind::kExpired, kAlice, kBob, packet_of(5, 3), limits, kNow - 1);
  MailboxLimits no_age;
  no_age.max_age_s = 0;
  refused(Kind::kExpired, kAlice, kBob, packet_of(5, 3), no_age, kLater);

  EXPECT_TRUE(store_->expire(kNow + 49).empty());
  auto gone = store_->expire(kNow + 50);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, own);
  EXPECT_EQ(gone[0].sender, kCarol);
  EXPECT_EQ(gone[0].recipient, kBob);
  EXPECT_EQ(gone[0].bytes, 20u);
  EXPECT_EQ(gone[0].expires, kNow + 50);
  EXPECT_TRUE(store_->expire(kNow + 99).empty());
  gone = store_->expire(kNow + 100);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, capped);
  EXPECT_EQ(store_->count(), 0u);
  EXPECT_FALSE(store_->packet(capped).has_value());
}

TEST_F(MailboxStoreTest, DefaultMaxAgeDoesNotOverflow) {
  const std::int64_t far = std::numeric_limits<std::int64_t>::max();
  put(kAlice, kBob, packet_of(10, 1), MailboxLimits{}, far, far - 1);
  put(kAlice, kBob, packet_of(10, 2), MailboxLimits{}, kLater);
  const auto held = store_->deliverable_for(kBob, kNow, 10);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].expires, far);
  EXPECT_EQ(held[1].expires, kLater);
  EXPECT_EQ(store_->expire(kLater).size(), 1u);
  EXPECT_EQ(store_->count(), 1u);
}

TEST_F(MailboxStoreTest, ACopyPastItsExpiryIsNotHeld) {
  MailboxLimits limits;
  limits.max_age_s = 10;
  const Bytes packet = packet_of(10, 1);
  const std::int64_t first = put(kAlice, kBob, packet, limits);
  // Not swept yet, but past its expiry: the deposit is stored anew.
  auto again = store_->deposit(kAlice, kBob, packet, kLater, kNow + 10, limits);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->already_held);
  EXPECT_GT(again->id, first);
  const auto gone = store_->expire(kNow + 10);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, first);
}

// From its expiry on, a row the sweep has not reached yet is gone for every decision: the
// pick-up does not hand it out and the quotas do not count it (before, both still did until the
// module's next sweep, so a deposit could be refused for room that mail past its time held).
TEST_F(MailboxStoreTest, MailPastItsExpiryIsNeitherDeliverableNorCountedBeforeTheSweep) {
  MailboxLimits limits;
  limits.max_age_s = 10;
  limits.quota_per_recipient = 100;
  limits.quota_per_sender = 100;
  const std::int64_t first = put(kAlice, kBob, packet_of(60, 1), limits);  // expires kNow + 10

  const std::int64_t before = kNow + 9;
  const auto held = store_->deliverable_for(kBob, before, 10);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].id, first);
  refused(Kind::kRecipientQuota, kCarol, kBob, packet_of(60, 2), limits, kLater, before);
  refused(Kind::kSenderQuota, kAlice, kDave, packet_of(60, 3), limits, kLater, before);

  const std::int64_t at = kNow + 10;
  EXPECT_TRUE(store_->deliverable_for(kBob, at, 10).empty());
  EXPECT_TRUE(store_->deliverable_for(kBob, at, 10, 0).empty());
  EXPECT_EQ(store_->count(), 1u);  // not swept: still in the file, still in the figures
  const std::int64_t for_bob = put(kCarol, kBob, packet_of(60, 2), limits, kLater, at);
  const std::int64_t from_alice = put(kAlice, kDave, packet_of(60, 3), limits, kLater, at);
  const auto now_held = store_->deliverable_for(kBob, at, 10);
  ASSERT_EQ(now_held.size(), 1u);
  EXPECT_EQ(now_held[0].id, for_bob);
  ASSERT_EQ(store_->deliverable_for(kDave, at, 10).size(), 1u);
  EXPECT_EQ(store_->deliverable_for(kDave, at, 10)[0].id, from_alice);

  const auto gone = store_->expire(at);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, first);
  EXPECT_EQ(store_->count(), 2u);
}

// A mailbox.db of schema 1 (indexes without `expires`) opens as schema 2, its mail intact.
TEST_F(MailboxStoreTest, ASchemaOneFileIsMigratedWithItsMail) {
  store_.reset();
  fs::remove(file_);
  const Bytes packet = packet_of(40, 5);
  {
    sqlite::Database raw(file_);
    raw.exec(R"sql(
CREATE TABLE mail(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  deposited INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 BLOB NOT NULL,
  packet BLOB NOT NULL
);
CREATE INDEX mail_by_recipient ON mail(recipient, id, bytes);
CREATE INDEX mail_by_expiry ON mail(expires);
CREATE INDEX mail_by_sender ON mail(sender, bytes);
CREATE INDEX mail_by_digest ON mail(recipient, sha256);
)sql");
    raw.prepare(
           "INSERT INTO mail(sender, recipient, deposited, expires, bytes, sha256, packet) "
           "VALUES(?, ?, ?, ?, ?, ?, ?)")
        .bind(1, kAlice.to_string())
        .bind(2, kBob.to_string())
        .bind(3, kNow)
        .bind(4, kLater)
        .bind(5, static_cast<std::int64_t>(packet.size()))
        .bind_blob(6, sha256(packet))
        .bind_blob(7, packet)
        .run();
    raw.set_user_version(1);
  }
  reopen();
  const auto held = store_->deliverable_for(kBob, kNow, 10);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].sender, kAlice);
  EXPECT_EQ(held[0].expires, kLater);
  EXPECT_EQ(store_->packet(held[0].id).value(), packet);
  // New deposits count it against the quota, through the new index.
  MailboxLimits limits;
  limits.quota_per_recipient = packet.size() + 9;
  refused(Kind::kRecipientQuota, kCarol, kBob, packet_of(10, 6), limits);
  EXPECT_GT(put(kCarol, kBob, packet_of(9, 6), limits), held[0].id);
  store_.reset();
  sqlite::Database raw(file_);
  EXPECT_EQ(raw.user_version(), 2);
  const auto columns = [&](const char* index) {
    std::string names;
    auto rows = raw.prepare(std::string("SELECT name FROM pragma_index_info('") + index +
                            "') ORDER BY seqno");
    while (rows.step()) names += rows.column_text(0) + " ";
    return names;
  };
  EXPECT_EQ(columns("mail_by_recipient"), "recipient id expires bytes ");
  EXPECT_EQ(columns("mail_by_sender"), "sender expires bytes ");
  EXPECT_EQ(columns("mail_by_digest"), "recipient sha256 ");
}

TEST_F(MailboxStoreTest, DamagedPacketIsRefusedCountedAndRemoved) {
  const Bytes packet = packet_of(200, 3);
  const std::int64_t id = put(kAlice, kBob, packet);
  const std::int64_t intact = put(kAlice, kBob, packet_of(30, 4));
  {
    sqlite::Database raw(file_);
    Bytes damaged = packet;
    damaged[117] ^= 0x01;
    raw.prepare("UPDATE mail SET packet = ? WHERE id = ?").bind_blob(1, damaged).bind(2, id).run();
    ASSERT_EQ(raw.changes(), 1);
  }
  auto bytes = store_->packet(id);
  ASSERT_FALSE(bytes.has_value());
  EXPECT_NE(bytes.error().find("SHA-256"), std::string::npos) << bytes.error();
  EXPECT_EQ(store_->corrupt(), 1u);
  EXPECT_EQ(store_->count(), 1u);
  ASSERT_EQ(store_->deliverable_for(kBob, kNow, 10).size(), 1u);
  EXPECT_EQ(store_->deliverable_for(kBob, kNow, 10)[0].id, intact);
  // Gone, not damaged twice.
  EXPECT_FALSE(store_->packet(id).has_value());
  EXPECT_EQ(store_->corrupt(), 1u);
  EXPECT_TRUE(store_->packet(intact).has_value());
}

TEST_F(MailboxStoreTest, MissingPacketIsAnErrorAndRemovingItIsFine) {
  EXPECT_FALSE(store_->packet(42).has_value());
  EXPECT_EQ(store_->remove(42), "");
  const std::int64_t id = put(kAlice, kBob, packet_of(10, 1));
  EXPECT_EQ(store_->remove(id), "");
  EXPECT_EQ(store_->remove(id), "");
  EXPECT_EQ(store_->count(), 0u);
  EXPECT_EQ(store_->corrupt(), 0u);
}

TEST_F(MailboxStoreTest, SummarizesPerRecipientInHashnameOrder) {
  put(kAlice, kCarol, packet_of(10, 1), {}, kLater, kNow + 3);
  put(kAlice, kBob, packet_of(20, 2), {}, kLater, kNow + 1);
  put(kDave, kBob, packet_of(30, 3), {}, kLater, kNow);
  put(kAlice, kBob, packet_of(40, 4), {}, kLater, kNow + 2);
  const auto summary = store_->summary();
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_LT(summary[0].recipient, summary[1].recipient);
  const auto& bob = summary[0].recipient == kBob ? summary[0] : summary[1];
  const auto& carol = summary[0].recipient == kBob ? summary[1] : summary[0];
  EXPECT_EQ(bob.recipient, kBob);
  EXPECT_EQ(bob.messages, 3u);
  EXPECT_EQ(bob.bytes, 90u);
  EXPECT_EQ(bob.oldest, kNow);
  EXPECT_EQ(bob.senders, 2u);
  EXPECT_EQ(carol.recipient, kCarol);
  EXPECT_EQ(carol.messages, 1u);
  EXPECT_EQ(carol.bytes, 10u);
  EXPECT_EQ(carol.oldest, kNow + 3);
  EXPECT_EQ(carol.senders, 1u);
  EXPECT_EQ(store_->bytes(), 100u);
  EXPECT_EQ(store_->bytes_for(kBob), 90u);
  EXPECT_EQ(store_->bytes_from(kAlice), 70u);
  EXPECT_EQ(store_->count(), 4u);
}

TEST_F(MailboxStoreTest, SummaryOfAnEmptyMailboxIsEmpty) {
  EXPECT_TRUE(store_->summary().empty());
  EXPECT_EQ(store_->bytes(), 0u);
  EXPECT_EQ(store_->count(), 0u);
}

TEST_F(MailboxStoreTest, FilesAreMode0600) {
  put(kAlice, kBob, packet_of(10, 1));
  for (const char* suffix : {"", "-wal"}) {
    struct stat info {};
    const fs::path path = file_.string() + suffix;
    ASSERT_EQ(::stat(path.c_str(), &info), 0) << path;
    EXPECT_EQ(info.st_mode & 0777, 0600u) << path;
  }
}

// The read methods answer "nothing held" when the database fails them (their callers retry
// on the next tick); each failure is counted and its text kept, so the status can say the
// figures are not the whole truth instead of showing an empty mailbox.
TEST_F(MailboxStoreTest, AFailedReadIsCountedAndKeptNotJustEmpty) {
  put(kAlice, kBob, packet_of(10, 1));
  ASSERT_EQ(store_->count(), 1u);
  EXPECT_EQ(store_->read_errors(), 0u);
  EXPECT_EQ(store_->last_read_error(), "");
  sqlite::Database other(file_);
  other.exec("ALTER TABLE mail RENAME TO mail_elsewhere");
  EXPECT_TRUE(store_->summary().empty());
  EXPECT_EQ(store_->read_errors(), 1u);
  EXPECT_NE(store_->last_read_error().find("reading the summary: "), std::string::npos)
      << store_->last_read_error();
  EXPECT_NE(store_->last_read_error().find("mail"), std::string::npos);
  EXPECT_EQ(store_->count(), 0u);
  EXPECT_EQ(store_->bytes(), 0u);
  EXPECT_EQ(store_->bytes_for(kBob), 0u);
  EXPECT_EQ(store_->bytes_from(kAlice), 0u);
  EXPECT_TRUE(store_->deliverable_for(kBob, kNow, 10).empty());
  EXPECT_TRUE(store_->expire(std::numeric_limits<std::int64_t>::max()).empty());
  EXPECT_EQ(store_->read_errors(), 7u);
  EXPECT_NE(store_->last_read_error().find("reading expired mail: "), std::string::npos);
  // The table back: the mail is still there, and the count of failures stays.
  other.exec("ALTER TABLE mail_elsewhere RENAME TO mail");
  EXPECT_EQ(store_->count(), 1u);
  EXPECT_EQ(store_->deliverable_for(kBob, kNow, 10).size(), 1u);
  EXPECT_EQ(store_->read_errors(), 7u);
}

TEST_F(MailboxStoreTest, ABusyDatabaseIsAnIoRefusal) {
  put(kAlice, kBob, packet_of(10, 1));
  sqlite::Database other(file_);
  sqlite::Transaction writing(other);  // holds the write lock past the 5 s busy timeout
  refused(Kind::kIo, kAlice, kBob, packet_of(10, 2), MailboxLimits{});
}

// A full file system, for real: a small tmpfs in a mount namespace of a child process (a
// file size limit is no substitute: SQLite reports EFBIG as an I/O error, only ENOSPC as
// SQLITE_FULL). Needs CAP_SYS_ADMIN; skipped without it.
TEST_F(MailboxStoreTest, AFullDiskIsADiskFullRefusal) {
  store_.reset();
  const fs::path small = dir_ / "small";
  fs::create_directories(small);
  enum : int { kFull = 0, kNoMount = 10, kOpenFailed, kNeverFull, kOtherKind, kChanged };
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("e3x-test", small.c_str(), "tmpfs", 0, "size=256k,mode=0700") != 0) {
      ::_exit(kNoMount);
    }
    MailboxStore store(small / "mailbox.db");
    if (!store.open().empty()) ::_exit(kOpenFailed);
    for (std::uint8_t i = 0; i < 64; ++i) {
      const std::size_t count = store.count();
      auto stored = store.deposit(kAlice, kBob, packet_of(32 * 1024, i), kLater, kNow, {});
      if (stored) continue;
      if (stored.error().kind != Kind::kDiskFull) ::_exit(kOtherKind);
      ::_exit(store.count() == count ? kFull : kChanged);
    }
    ::_exit(kNeverFull);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kNoMount) GTEST_SKIP() << "cannot mount a tmpfs here";
  EXPECT_EQ(WEXITSTATUS(status), kFull);
}

TEST_F(MailboxStoreTest, GarbageAtThePathIsAnOpenError) {
  store_.reset();
  fs::remove(file_);
  {
    std::ofstream garbage(file_, std::ios::binary);
    for (int i = 0; i < 4096; ++i) garbage << "this is not an SQLite database ";
  }
  MailboxStore store(file_);
  EXPECT_NE(store.open(), "");
  // Not open: everything answers without crashing.
  auto stored = store.deposit(kAlice, kBob, packet_of(10, 1), kLater, kNow, {});
  ASSERT_FALSE(stored.has_value());
  EXPECT_EQ(stored.error().kind, Kind::kIo);
  EXPECT_TRUE(store.deliverable_for(kBob, kNow, 10).empty());
  EXPECT_FALSE(store.packet(1).has_value());
  EXPECT_NE(store.remove(1), "");
  EXPECT_TRUE(store.expire(kLater).empty());
  EXPECT_TRUE(store.summary().empty());
  EXPECT_EQ(store.count(), 0u);
}

TEST_F(MailboxStoreTest, MissingDirectoryIsAnOpenError) {
  MailboxStore store(dir_ / "missing" / "mailbox.db");
  EXPECT_NE(store.open(), "");
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
}

TEST_F(MailboxStoreTest, NewerSchemaIsAnOpenError) {
  store_.reset();
  {
    sqlite::Database raw(file_);
    raw.set_user_version(99);
  }
  MailboxStore store(file_);
  EXPECT_NE(store.open().find("schema version 99"), std::string::npos);
}

TEST_F(MailboxStoreTest, RowsWithUnparsableHashnamesAreSkipped) {
  put(kAlice, kBob, packet_of(10, 1));
  {
    sqlite::Database raw(file_);
    raw.prepare(
           "INSERT INTO mail(sender, recipient, deposited, expires, bytes, sha256, packet) "
           "VALUES('not a hashname', ?, 1, 2, 1, x'00', x'00')")
        .bind(1, kBob.to_string())
        .run();
    raw.prepare(
           "INSERT INTO mail(sender, recipient, deposited, expires, bytes, sha256, packet) "
           "VALUES(?, 'nobody', 1, 2, 1, x'00', x'00')")
        .bind(1, kAlice.to_string())
        .run();
  }
  // At 1 the damaged rows (expiring at 2) are not yet expired: skipped for their names.
  EXPECT_EQ(store_->deliverable_for(kBob, 1, 10).size(), 1u);
  EXPECT_EQ(store_->summary().size(), 1u);
  EXPECT_TRUE(store_->expire(2).empty());
  EXPECT_EQ(store_->count(), 1u);
}

}  // namespace
}  // namespace e3x::daemon
