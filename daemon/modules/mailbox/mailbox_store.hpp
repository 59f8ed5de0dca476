// What a mailbox holds (PROTOCOL.md 14, docs/messages.md "Mailboxes"): sealed message packets
// deposited by one peer for another, kept in an SQLite database (daemon/support/sqlite.hpp,
// WAL, synchronous=FULL) until the recipient acknowledges them, they expire, or they are older
// than the mailbox's max_age.
//
// The mailbox cannot open what it holds (sealed to the recipient, authenticated with the
// sender's key); it stores exactly the bytes it was given, with their SHA-256, and checks it
// on every read, so a damaged row is detected, removed and counted instead of being sent.
// A deposit is committed before deposit() returns: "stored" means durable.
//
// Limits: bytes held per recipient and per sender (packets as deposited), and age. A deposit
// that would pass either quota, or that has already expired, is refused and nothing changes.
// Depositing the same packet again for the same recipient (a sender whose "stored" answer was
// lost) stores nothing new and answers with the earlier row.
//
// A row past its expiry stays in the file until the next expire() sweep (the module sweeps
// every few seconds), but from its expiry on it is gone for every decision: it is not handed
// out for delivery, not a copy that makes a deposit a duplicate, and not counted in a quota.
// The figures for display (count, bytes, bytes_for/from, summary) count what the file holds.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/hashname.hpp"
#include "core/result.hpp"

namespace e3x::daemon {

namespace sqlite {
class Database;
}

struct MailboxLimits {
  std::uint64_t quota_per_recipient = UINT64_MAX;  // bytes
  std::uint64_t quota_per_sender = UINT64_MAX;     // bytes
  std::int64_t max_age_s = INT64_MAX;              // seconds after the deposit
};

struct MailboxRefusal {
  enum class Kind {
    kRecipientQuota,  // the recipient's mail would pass quota_per_recipient
    kSenderQuota,     // the sender's deposits would pass quota_per_sender
    kExpired,         // expires is not after now
    kDiskFull,        // SQLITE_FULL
    kIo,              // anything else the database said
  };
  Kind kind = Kind::kIo;
  std::string message;  // a sentence for the log
};

// One held packet, without its bytes.
struct HeldMail {
  std::int64_t id = 0;  // row id: increasing in deposit order
  Hashname sender;
  Hashname recipient;
  std::int64_t deposited = 0;  // Unix seconds
  std::int64_t expires = 0;    // Unix seconds: min(the sender's expires, deposited + max_age)
  std::uint64_t bytes = 0;     // of the packet
};

struct RecipientSummary {
  Hashname recipient;
  std::size_t messages = 0;
  std::uint64_t bytes = 0;
  std::int64_t oldest = 0;  // deposit time of the oldest, Unix seconds
  std::size_t senders = 0;  // distinct senders
};

class MailboxStore {
 public:
  explicit MailboxStore(std::filesystem::path file);
  ~MailboxStore();
  MailboxStore(const MailboxStore&) = delete;
  MailboxStore& operator=(const MailboxStore&) = delete;

  // Opens (creating) the database; "" or what went wrong.
  std::string open();

  struct Deposited {
    std::int64_t id = 0;
    bool already_held = false;  // the same packet for the same recipient was held already
  };
  // Stores `packet` from `sender` for `recipient`, durably, unless a limit refuses it.
  // `expires` is the sender's word for the message's expiry (Unix seconds); the row keeps
  // min(expires, now + limits.max_age_s).
  Result<Deposited, MailboxRefusal> deposit(const Hashname& sender, const Hashname& recipient,
                                            ByteView packet, std::int64_t expires, std::int64_t now,
                                            const MailboxLimits& limits);

  // Up to `limit` packets held for `recipient` with id > `after_id` that have not expired at
  // `now` (Unix seconds), oldest first.
  std::vector<HeldMail> deliverable_for(const Hashname& recipient, std::int64_t now,
                                        std::size_t limit, std::int64_t after_id = 0) const;
  // The bytes of packet `id`, checked against their SHA-256. A mismatch removes the row,
  // counts it in corrupt() and returns an error; a missing row returns an error.
  Result<Bytes, std::string> packet(std::int64_t id);
  // Removes packet `id` (the recipient acknowledged it); removing a missing one is fine.
  std::string remove(std::int64_t id);
  // Removes every packet whose expiry is at or before `now`; returns them (for counting
  // and logging: sender, recipient, sizes).
  std::vector<HeldMail> expire(std::int64_t now);

  // Per recipient, for `e3xctl mailbox`; in recipient order.
  std::vector<RecipientSummary> summary() const;
  std::uint64_t bytes_for(const Hashname& recipient) const;
  std::uint64_t bytes_from(const Hashname& sender) const;
  std::size_t count() const;
  std::uint64_t bytes() const;
  std::uint64_t corrupt() const { return corrupt_; }
  const std::filesystem::path& file() const { return file_; }

  // The reads above have no error channel of their own (their callers retry on the next
  // tick): a database error reads as nothing held. It is counted and kept here (and logged
  // at the 1st, 2nd, 4th ... failure), so `e3xctl mailbox` can say its figures are not the
  // whole truth.
  std::uint64_t read_errors() const { return read_errors_; }
  const std::string& last_read_error() const { return last_read_error_; }

 private:
  void note_read_error(const char* reading, const std::exception& error) const;

  std::filesystem::path file_;
  std::unique_ptr<sqlite::Database> db_;
  std::uint64_t corrupt_ = 0;
  mutable std::uint64_t read_errors_ = 0;
  mutable std::string last_read_error_;
};

}  // namespace e3x::daemon
