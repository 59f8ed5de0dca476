#include "daemon/modules/mailbox/mailbox_store.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/sha256.hpp"
#include "daemon/support/sqlite.hpp"

namespace e3x::daemon {

namespace {

// Schema versions (PRAGMA user_version): 0 is a new, empty file; 1 the table below with
// indexes that did not carry `expires`; 2 the indexes below (kIndexesV2 turns 1 into 2).
constexpr int kSchemaVersion = 2;

// AUTOINCREMENT: ids are never reused, even after the newest row is removed, so "id order" is
// deposit order and a recipient's acknowledgement of id N can never name a later deposit.
// The recipient and sender indexes carry `expires` and `bytes` so the quota sums (of rows not
// yet expired) and the pick-up's next row read only the index.
// The (recipient, sha256) index finds a packet deposited again; it is not UNIQUE because a
// held copy that is past its expiry (not yet swept by expire()) does not count as held.
constexpr const char* kTable = R"sql(
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
CREATE INDEX mail_by_expiry ON mail(expires);
CREATE INDEX mail_by_digest ON mail(recipient, sha256);
)sql";
constexpr const char* kIndexesV2 = R"sql(
DROP INDEX IF EXISTS mail_by_recipient;
DROP INDEX IF EXISTS mail_by_sender;
CREATE INDEX mail_by_recipient ON mail(recipient, id, expires, bytes);
CREATE INDEX mail_by_sender ON mail(sender, expires, bytes);
)sql";

constexpr const char* kMailColumns = "id, sender, recipient, deposited, expires, bytes";

// Reads a row selected with kMailColumns; nullopt when a hashname does not parse (a damaged
// or foreign row: skipped, never a crash).
std::optional<HeldMail> read_mail(const sqlite::Statement& row) {
  auto sender = Hashname::parse(row.column_text(1));
  auto recipient = Hashname::parse(row.column_text(2));
  if (!sender || !recipient) return std::nullopt;
  HeldMail mail;
  mail.id = row.column_int64(0);
  mail.sender = *sender;
  mail.recipient = *recipient;
  mail.deposited = row.column_int64(3);
  mail.expires = row.column_int64(4);
  const std::int64_t bytes = row.column_int64(5);
  mail.bytes = bytes > 0 ? static_cast<std::uint64_t>(bytes) : 0;
  return mail;
}

std::uint64_t as_unsigned(std::int64_t value) {
  return value > 0 ? static_cast<std::uint64_t>(value) : 0;
}

// `held + more > quota`, without overflowing.
bool passes(std::uint64_t held, std::uint64_t more, std::uint64_t quota) {
  return more > quota || held > quota - more;
}

MailboxRefusal refusal_from(const sqlite::SqliteError& error) {
  return {error.disk_full() ? MailboxRefusal::Kind::kDiskFull : MailboxRefusal::Kind::kIo,
          error.what()};
}

}  // namespace

MailboxStore::MailboxStore(std::filesystem::path file) : file_(std::move(file)) {}

MailboxStore::~MailboxStore() = default;

std::string MailboxStore::open() {
  db_.reset();
  try {
    auto db = std::make_unique<sqlite::Database>(file_);
    const int version = db->user_version();
    if (version > kSchemaVersion) {
      return file_.string() + ": schema version " + std::to_string(version) +
             " is newer than this e3xd knows (" + std::to_string(kSchemaVersion) + ")";
    }
    if (version < kSchemaVersion) {
      sqlite::Transaction transaction(*db);
      if (version == 0) db->exec(kTable);
      db->exec(kIndexesV2);
      db->set_user_version(kSchemaVersion);
      transaction.commit();
    }
    db_ = std::move(db);
    return "";
  } catch (const std::exception& error) {
    return error.what();
  }
}

Result<MailboxStore::Deposited, MailboxRefusal> MailboxStore::deposit(
    const Hashname& sender, const Hashname& recipient, ByteView packet, std::int64_t expires,
    std::int64_t now, const MailboxLimits& limits) {
  using Kind = MailboxRefusal::Kind;
  if (!db_) return unexpected(MailboxRefusal{Kind::kIo, file_.string() + ": not open"});

  // The latest the row may live: now + max_age, saturating (max_age defaults to INT64_MAX).
  std::int64_t latest = 0;
  if (__builtin_add_overflow(now, limits.max_age_s, &latest)) {
    latest = limits.max_age_s > 0 ? std::numeric_limits<std::int64_t>::max()
                                  : std::numeric_limits<std::int64_t>::min();
  }
  const std::int64_t keep_until = std::min(expires, latest);
  if (keep_until <= now) {
    return unexpected(MailboxRefusal{
        Kind::kExpired, expires <= now ? "the message expired at " + std::to_string(expires) +
                                             ", not after now (" + std::to_string(now) + ")"
                                       : "max_age " + std::to_string(limits.max_age_s) +
                                             " s leaves the message no time to be held"});
  }

  const std::string sender_text = sender.to_string();
  const std::string recipient_text = recipient.to_string();
  const Digest digest = sha256(packet);
  const std::uint64_t size = packet.size();

  try {
    sqlite::Transaction transaction(*db_);

    // Each query is finalized before the insert and the commit.
    {
      auto held = db_->prepare(
          "SELECT id FROM mail WHERE recipient = ? AND sha256 = ? AND expires > ? "
          "ORDER BY id LIMIT 1");
      held.bind(1, recipient_text).bind_blob(2, digest).bind(3, now);
      // Held already: nothing changes (the transaction rolls back, a no-op) and no quota
      // applies, since nothing more is held.
      if (held.step()) return Deposited{held.column_int64(0), true};
    }
    {
      auto held = db_->prepare(
          "SELECT COALESCE(SUM(bytes), 0) FROM mail WHERE recipient = ? AND expires > ?");
      held.bind(1, recipient_text).bind(2, now);
      held.step();
      const std::uint64_t recipient_bytes = as_unsigned(held.column_int64(0));
      if (passes(recipient_bytes, size, limits.quota_per_recipient)) {
        return unexpected(MailboxRefusal{
            Kind::kRecipientQuota, "the recipient holds " + std::to_string(recipient_bytes) +
                                       " bytes; " + std::to_string(size) + " more would pass " +
                                       std::to_string(limits.quota_per_recipient)});
      }
    }
    {
      auto held =
          db_->prepare("SELECT COALESCE(SUM(bytes), 0) FROM mail WHERE sender = ? AND expires > ?");
      held.bind(1, sender_text).bind(2, now);
      held.step();
      const std::uint64_t sender_bytes = as_unsigned(held.column_int64(0));
      if (passes(sender_bytes, size, limits.quota_per_sender)) {
        return unexpected(MailboxRefusal{
            Kind::kSenderQuota, "the sender's deposits hold " + std::to_string(sender_bytes) +
                                    " bytes; " + std::to_string(size) + " more would pass " +
                                    std::to_string(limits.quota_per_sender)});
      }
    }
    db_->prepare(
           "INSERT INTO mail(sender, recipient, deposited, expires, bytes, sha256, packet) "
           "VALUES(?, ?, ?, ?, ?, ?, ?)")
        .bind(1, sender_text)
        .bind(2, recipient_text)
        .bind(3, now)
        .bind(4, keep_until)
        .bind(5, static_cast<std::int64_t>(size))
        .bind_blob(6, digest)
        .bind_blob(7, packet)
        .run();
    const std::int64_t id = db_->last_insert_rowid();
    transaction.commit();
    return Deposited{id, false};
  } catch (const sqlite::SqliteError& error) {
    return unexpected(refusal_from(error));
  } catch (const std::exception& error) {
    return unexpected(MailboxRefusal{Kind::kIo, error.what()});
  }
}

std::vector<HeldMail> MailboxStore::deliverable_for(const Hashname& recipient, std::int64_t now,
                                                    std::size_t limit,
                                                    std::int64_t after_id) const {
  std::vector<HeldMail> out;
  if (!db_ || limit == 0) return out;
  // A database error reads as "nothing held" (counted, note_read_error); the next call tries
  // again.
  try {
    auto rows = db_->prepare(
        std::string("SELECT ") + kMailColumns +
        " FROM mail WHERE recipient = ? AND id > ? AND expires > ? ORDER BY id LIMIT ?");
    const std::int64_t cap =
        limit > static_cast<std::size_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(limit);
    rows.bind(1, recipient.to_string()).bind(2, after_id).bind(3, now).bind(4, cap);
    while (rows.step()) {
      if (auto mail = read_mail(rows)) out.push_back(*mail);
    }
  } catch (const std::exception& error) {
    note_read_error("held mail", error);
    out.clear();
  }
  return out;
}

Result<Bytes, std::string> MailboxStore::packet(std::int64_t id) {
  if (!db_) return unexpected(file_.string() + ": not open");
  try {
    Bytes bytes;
    Bytes stored_digest;
    std::int64_t stored_size = 0;
    {
      auto row = db_->prepare("SELECT packet, sha256, bytes FROM mail WHERE id = ?");
      row.bind(1, id);
      if (!row.step()) return unexpected("no packet " + std::to_string(id) + " is held");
      bytes = row.column_blob(0);
      stored_digest = row.column_blob(1);
      stored_size = row.column_int64(2);
    }
    const Digest digest = sha256(bytes);
    const bool intact = stored_digest.size() == digest.size() &&
                        std::equal(digest.begin(), digest.end(), stored_digest.begin()) &&
                        stored_size >= 0 && static_cast<std::uint64_t>(stored_size) == bytes.size();
    if (intact) return bytes;
    ++corrupt_;
    std::string message = "packet " + std::to_string(id) +
                          " does not match its SHA-256 (damaged in the database); removed";
    const std::string removed = remove(id);
    if (!removed.empty()) message += " (failed: " + removed + ")";
    return unexpected(std::move(message));
  } catch (const std::exception& error) {
    return unexpected(std::string(error.what()));
  }
}

std::string MailboxStore::remove(std::int64_t id) {
  if (!db_) return file_.string() + ": not open";
  try {
    db_->prepare("DELETE FROM mail WHERE id = ?").bind(1, id).run();
    return "";
  } catch (const std::exception& error) {
    return error.what();
  }
}

std::vector<HeldMail> MailboxStore::expire(std::int64_t now) {
  std::vector<HeldMail> out;
  if (!db_) return out;
  try {
    sqlite::Transaction transaction(*db_);
    {
      auto rows = db_->prepare(std::string("SELECT ") + kMailColumns +
                               " FROM mail WHERE expires <= ? ORDER BY id");
      rows.bind(1, now);
      while (rows.step()) {
        if (auto mail = read_mail(rows)) out.push_back(*mail);
      }
    }
    db_->prepare("DELETE FROM mail WHERE expires <= ?").bind(1, now).run();
    transaction.commit();
  } catch (const std::exception& error) {
    // Rolled back: nothing was removed, so nothing is reported; the next sweep tries again.
    note_read_error("expired mail", error);
    out.clear();
  }
  return out;
}

std::vector<RecipientSummary> MailboxStore::summary() const {
  std::vector<RecipientSummary> out;
  if (!db_) return out;
  try {
    auto rows = db_->prepare(
        "SELECT recipient, COUNT(*), COALESCE(SUM(bytes), 0), MIN(deposited), "
        "COUNT(DISTINCT sender) FROM mail GROUP BY recipient");
    while (rows.step()) {
      auto recipient = Hashname::parse(rows.column_text(0));
      if (!recipient) continue;
      RecipientSummary entry;
      entry.recipient = *recipient;
      entry.messages = static_cast<std::size_t>(as_unsigned(rows.column_int64(1)));
      entry.bytes = as_unsigned(rows.column_int64(2));
      entry.oldest = rows.column_int64(3);
      entry.senders = static_cast<std::size_t>(as_unsigned(rows.column_int64(4)));
      out.push_back(entry);
    }
  } catch (const std::exception& error) {
    note_read_error("the summary", error);
    out.clear();
  }
  // Hashname order (of the digests), which is not the text order of base32.
  std::sort(out.begin(), out.end(), [](const RecipientSummary& a, const RecipientSummary& b) {
    return a.recipient < b.recipient;
  });
  return out;
}

namespace {

std::int64_t scalar(sqlite::Database& db, const char* sql, const std::string* text = nullptr) {
  auto row = db.prepare(sql);
  if (text) row.bind(1, *text);
  return row.step() ? row.column_int64(0) : 0;
}

}  // namespace

std::uint64_t MailboxStore::bytes_for(const Hashname& recipient) const {
  if (!db_) return 0;
  try {
    const std::string text = recipient.to_string();
    return as_unsigned(
        scalar(*db_, "SELECT COALESCE(SUM(bytes), 0) FROM mail WHERE recipient = ?", &text));
  } catch (const std::exception& error) {
    note_read_error("a recipient's bytes", error);
    return 0;
  }
}

std::uint64_t MailboxStore::bytes_from(const Hashname& sender) const {
  if (!db_) return 0;
  try {
    const std::string text = sender.to_string();
    return as_unsigned(
        scalar(*db_, "SELECT COALESCE(SUM(bytes), 0) FROM mail WHERE sender = ?", &text));
  } catch (const std::exception& error) {
    note_read_error("a sender's bytes", error);
    return 0;
  }
}

std::size_t MailboxStore::count() const {
  if (!db_) return 0;
  try {
    return static_cast<std::size_t>(as_unsigned(scalar(*db_, "SELECT COUNT(*) FROM mail")));
  } catch (const std::exception& error) {
    note_read_error("the count", error);
    return 0;
  }
}

std::uint64_t MailboxStore::bytes() const {
  if (!db_) return 0;
  try {
    return as_unsigned(scalar(*db_, "SELECT COALESCE(SUM(bytes), 0) FROM mail"));
  } catch (const std::exception& error) {
    note_read_error("the total bytes", error);
    return 0;
  }
}

void MailboxStore::note_read_error(const char* reading, const std::exception& error) const {
  ++read_errors_;
  std::string text = std::string("reading ") + reading + ": " + error.what();
  // The 1st, 2nd, 4th, 8th ... failure: a database that stays broken is not logged once per
  // tick of a module that asks every second, and the log still shows it going on.
  if ((read_errors_ & (read_errors_ - 1)) == 0) {
    spdlog::warn("mailbox {}: {} (failed reads so far: {})", file_.string(), text, read_errors_);
  }
  last_read_error_ = std::move(text);
}

}  // namespace e3x::daemon
