// The mailbox (PROTOCOL.md 14, daemon/modules/mailbox/) as a hostile configured peer drives it:
// the pieces a deposit arrives in (packet_pieces.hpp: cut_to_quota, pieces_for_quota,
// PieceAssembler, open_body_room, has_more) and what the store does with deposits
// (mailbox_store.hpp: recipient, packet, size, expiry and duplicates are the depositor's; quotas,
// time, pick-ups and sweeps are the mailbox's). MailboxModule itself is not driven: it needs a
// started Host (sockets, an identity, a handshake through private hooks) and reads the wall clock,
// see docs/robustness.md.
//
// The store is a real SQLite file (WAL, synchronous=FULL, as e3xd opens it) in a directory made
// once per process (in /dev/shm when it exists: fsync is free there). It is opened once and, at
// the first store operation of each input, emptied (rows and the AUTOINCREMENT counter), so every
// input starts from an empty mailbox whose ids begin at 1, as a new file's would (creating the
// file for every input cost 2-3 ms more under ASan). Four parties P0..P3 (fixed hashnames)
// deposit for each other. Time starts at kStartUnix.
//
// The input is a script of at most kMaxOps operations, each a byte: bits 0-3 the kind, bits 4-7
// an argument for it, followed by its operands (past the end every read yields zeros):
//   0      cut to a channel quota and assemble: PACKET, u16 quota
//   1      a piece to the long-lived assembler: PACKET as BODY; arg bit 0: "more":true
//   2      open room: u8 length + text as the channel type, u8 length + JSON text as extra keys
//          (not an object: none), u32 a channel id, u16 pad: a key "pad" with pad % 2048
//          characters (so the head can reach the 1400 bytes of a channel packet)
//   3,12-15 deposit: u8 (bits 0-1 sender, bits 2-3 recipient); arg bits 0-1 the packet (0,1:
//          PACKET; 2: a held row's packet again, u8 which; 3: the last packet offered again);
//          arg bits 2-3 EXPIRES (0: now + i8; 1: now + u16 minutes; 2: u8 picks an extreme;
//          3: u32 Unix seconds)
//   4      limits: u8 + operands for quota_per_recipient, the same for quota_per_sender (any
//          uint64: none, 64 KiB, u16, u32, 0, near UINT64_MAX), u8 + operand for max_age (any
//          int64: none, 7 days, 60, u16, 0, negative, INT64_MIN, near INT64_MAX)
//   5      time: arg 0 +u8 s, 1 +u16 min, 2 -u8 s (the wall clock stepped back), 3 u8 extreme
//   6      deliverable_for: recipient arg bits 0-1, u8 limit (255: SIZE_MAX), ID as after_id
//   7      packet(ID)                        8   remove(ID): the recipient acknowledged it
//   9      sweep: expire(now), arg bit 0: expire(now + u16 s)
//   10     damage a held row (u8 which) through a second connection: arg bit 0 flips the packet
//          byte at u16, else the bytes column grows by one (not the peer's doing: the
//          integrity check's path)
//   11     close and reopen the store (at most kMaxReopens per input, then nothing)
// PACKET: u8 s; s < 0x80: s bytes of the input; else s & 0x3f seeds synthetic bytes, u16 & 0xfff
// of them, or u16 + 4096 when s & 0x40, so 64 KiB packets and exact duplicates take three bytes.
// ID: u8; 0xfb..0xff are last id + 1, INT64_MIN, INT64_MAX, -1, 0; else one of the ids ever
// assigned (held or gone).
//
// Invariants. Pieces: as many as pieces_for_quota counts; they tile the packet in order, all but
// the last of quota - kMoreKeyBytes bytes (they carry "more":true), the last within the quota;
// assembled in order they give the packet back, or kTooLarge exactly at the piece that passes
// kMaxPiecedPacket, after which the assembler holds nothing; a stream of arbitrary pieces holds
// exactly what came since the last kComplete or the end of a refused packet (whose later pieces,
// up to its last, are kDiscarded) and never more than kMaxPiecedPacket;
// open_body_room leaves an open packet (c at its longest, type, seq 1, extra) of exactly
// kMaxChannelInner bytes (no room: the head alone reaches it), smaller ids fit too, "more":true
// costs exactly kMoreKeyBytes; has_more is true only for a literal true. Store, against a model
// kept here: a deposit's outcome (stored, held already with the earliest live copy's id, or
// refused as expired / recipient quota / sender quota, checked in that order) is the model's, a
// stored id is above every id before it, and right after a deposit the recipient's and sender's
// bytes not yet expired are within the quotas it was made under (rows past their expiry count for
// nothing); a refusal or a duplicate changes nothing; count, bytes, bytes per recipient and per
// sender, deliverable_for of everyone, its pages and the summary equal the model (a removed,
// expired or damaged packet is never listed or returned again, an unswept one past its expiry
// never listed as deliverable); expire
// returns exactly the rows at or before its time, in id order; packet() returns the deposited
// bytes, and a damaged row is an error, counted once in corrupt() and removed; nothing is a read
// error; a reopened store holds the same. Each operation checks its own result at once; the figures
// (count, bytes, per party, deliverable_for of everyone, the summary, corrupt(), read errors) are
// compared after a reopen and at the end of the input, when every held packet is also read back: a
// query costs 50-100 us under ASan, and comparing them after every operation cost a quarter of the
// executions.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/channel.hpp"
#include "core/hashname.hpp"
#include "core/lob.hpp"
#include "core/sha256.hpp"
#include "daemon/modules/mailbox/mailbox_store.hpp"
#include "daemon/modules/mailbox/packet_pieces.hpp"
#include "daemon/support/sqlite.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

using namespace e3x;
using namespace e3x::daemon;
using Reader = fuzz::ScriptReader;
namespace fs = std::filesystem;

constexpr int kMaxOps = 48;
constexpr int kParties = 4;
// A reopen costs milliseconds (SQLite's open, then every figure compared): runs of them were the
// slowest inputs of the corpus, and a hostile peer cannot cause one.
constexpr int kMaxReopens = 2;
constexpr std::int64_t kStartUnix = 1'700'000'000;
constexpr std::int64_t kMax64 = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin64 = std::numeric_limits<std::int64_t>::min();
// A cut into more pieces than this gets a larger room: a 64 KiB packet cut one byte at a time
// would cost 65,536 assembler calls per operation and tell nothing more.
constexpr std::size_t kMaxPiecesPerCut = 4096;

enum Kind : std::uint8_t {
  kCut = 0,
  kStreamPiece = 1,
  kOpenRoom = 2,
  kDeposit = 3,
  kLimits = 4,
  kTime = 5,
  kHeldFor = 6,
  kPacket = 7,
  kRemove = 8,
  kSweep = 9,
  kDamage = 10,
  kReopen = 11,
  // 12..15: deposits too, the operation a hostile peer repeats most.
};

// ---------------------------------------------------------------------------------------
// Shared helpers

constexpr std::string_view kDirPrefix = "e3x-fuzz-mailbox-";

// A process that crashed (abort, timeout) skips the exit hook and leaves its directory, with a
// database of up to a few MB, in /dev/shm's memory: removed by the next process once that pid
// is gone.
void remove_dirs_of_dead_processes(const fs::path& base) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(base, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(kDirPrefix)) continue;
    const std::string pid = name.substr(kDirPrefix.size());
    if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH) {
      fs::remove_all(entry.path(), error);
    }
  }
}

// Made once per process (LLVMFuzzerInitialize), removed at exit; fork mode gives each child its
// own. The path is never destroyed: the exit hook reads it after static destructors may have run.
const fs::path& work_dir() {
  static const fs::path* const dir = [] {
    std::error_code error;
    const fs::path base = fs::is_directory("/dev/shm", error) && ::access("/dev/shm", W_OK) == 0
                              ? fs::path("/dev/shm")
                              : fs::temp_directory_path();
    remove_dirs_of_dead_processes(base);
    auto* made = new fs::path(base / (std::string(kDirPrefix) + std::to_string(::getpid())));
    fs::remove_all(*made, error);
    fs::create_directories(*made);
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(work_dir(), ignored);
    });
    return made;
  }();
  return *dir;
}

const Hashname& party(int index) {
  static const std::array<Hashname, kParties> parties = [] {
    std::array<Hashname, kParties> out;
    for (int p = 0; p < kParties; ++p) {
      for (std::size_t i = 0; i < out[p].digest.size(); ++i) {
        out[p].digest[i] = static_cast<std::uint8_t>((p + 1) * 31 + i);
      }
    }
    return out;
  }();
  return parties[index];
}

// Time arithmetic in 128 bits, clamped: the harness must not overflow where the store must not.
std::int64_t clamp64(__int128 value) {
  return value > kMax64 ? kMax64 : value < kMin64 ? kMin64 : static_cast<std::int64_t>(value);
}

// PACKET (see the top of the file).
Bytes read_packet(Reader& in) {
  const std::uint8_t selector = in.u8();
  if (selector < 0x80) {
    const ByteView given = in.bytes(selector);
    return Bytes(given.begin(), given.end());
  }
  // Large packets cost milliseconds (hashing, copies, SQLite overflow pages): only on request.
  const std::uint16_t operand = in.u16();
  const std::size_t length = (selector & 0x40) ? operand + std::size_t{4096} : operand & 0xfffu;
  Bytes out(length);
  for (std::size_t i = 0; i < length; ++i) {
    out[i] = static_cast<std::uint8_t>((selector & 0x3f) + i * 7 + (i >> 8));
  }
  return out;
}

std::string read_text(Reader& in) {
  const ByteView text = in.bytes(in.u8());
  return std::string(text.begin(), text.end());
}

// ---------------------------------------------------------------------------------------
// Pieces (packet_pieces.hpp)

// The pieces of `packet` lie end to end inside it, in order; returns how much they cover.
std::size_t check_tiling(ByteView packet, const std::vector<ByteView>& pieces) {
  std::size_t at = 0;
  for (const ByteView piece : pieces) {
    E3X_FUZZ_CHECK(piece.size() <= packet.size() - at);
    E3X_FUZZ_CHECK(piece.empty() || piece.data() == packet.data() + at);
    at += piece.size();
  }
  return at;
}

// Feeds the pieces as the module receives them ("more" on all but the last) to a fresh
// assembler: the packet comes back, or kTooLarge at the piece that passes the bound.
void check_assembly(ByteView packet, const std::vector<ByteView>& pieces) {
  PieceAssembler assembler;
  std::size_t held = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const bool more = i + 1 < pieces.size();
    const auto step = assembler.add(pieces[i], more);
    held += pieces[i].size();
    if (held > kMaxPiecedPacket) {
      E3X_FUZZ_CHECK(step == PieceAssembler::Step::kTooLarge);
      E3X_FUZZ_CHECK(assembler.empty());
      E3X_FUZZ_CHECK(packet.size() > kMaxPiecedPacket);
      return;  // the module forgets the deposit here
    }
    E3X_FUZZ_CHECK(step == (more ? PieceAssembler::Step::kMore : PieceAssembler::Step::kComplete));
  }
  const Bytes assembled = assembler.take();
  E3X_FUZZ_CHECK(std::equal(assembled.begin(), assembled.end(), packet.begin(), packet.end()));
  E3X_FUZZ_CHECK(assembler.empty());
}

void cut_and_assemble(Reader& in) {
  const Bytes packet = read_packet(in);
  // A channel quota above kMoreKeyBytes (the module's precondition: at or below it the channel
  // is gone), raised where needed to keep the cut within kMaxPiecesPerCut pieces.
  std::size_t quota = std::max<std::size_t>(in.u16(), kMoreKeyBytes + 1);
  quota =
      std::max(quota, kMoreKeyBytes + (packet.size() + kMaxPiecesPerCut - 1) / kMaxPiecesPerCut);

  const auto pieces = cut_to_quota(packet, quota);
  E3X_FUZZ_CHECK(!pieces.empty());
  // What the sender checks its capacity for is what it sends.
  E3X_FUZZ_CHECK(pieces.size() == pieces_for_quota(packet.size(), quota));
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const bool last = i + 1 == pieces.size();
    // Each fits its channel packet: "more":true costs kMoreKeyBytes of the quota.
    E3X_FUZZ_CHECK(last ? pieces[i].size() <= quota : pieces[i].size() == quota - kMoreKeyBytes);
    E3X_FUZZ_CHECK(last || !pieces[i].empty());
  }
  E3X_FUZZ_CHECK(check_tiling(packet, pieces) == packet.size());
  check_assembly(packet, pieces);
}

// The assembler of one deposit channel, fed arbitrary pieces, against what it must hold: the
// BODYs since the last complete packet or the last piece of a refused one.
class PieceStream {
 public:
  void add(ByteView body, bool more) {
    const auto step = assembler_.add(body, more);
    if (discarding_) {
      // The rest of a refused packet, up to its last piece: dropped, nothing held.
      E3X_FUZZ_CHECK(step == PieceAssembler::Step::kDiscarded);
      E3X_FUZZ_CHECK(assembler_.empty());
      discarding_ = more;
      return;
    }
    if (expected_.size() + body.size() > kMaxPiecedPacket) {
      E3X_FUZZ_CHECK(step == PieceAssembler::Step::kTooLarge);
      E3X_FUZZ_CHECK(assembler_.empty());
      expected_.clear();
      discarding_ = more;
      return;
    }
    append(expected_, body);
    if (more) {
      E3X_FUZZ_CHECK(step == PieceAssembler::Step::kMore);
      E3X_FUZZ_CHECK(assembler_.empty() == expected_.empty());
      return;
    }
    E3X_FUZZ_CHECK(step == PieceAssembler::Step::kComplete);
    E3X_FUZZ_CHECK(assembler_.take() == expected_);
    E3X_FUZZ_CHECK(assembler_.empty());
    expected_.clear();
  }

 private:
  PieceAssembler assembler_;
  Bytes expected_;
  bool discarding_ = false;  // after a kTooLarge, until that packet's last piece
};

// The open packet a deposit or mail channel sends: head with c, type, seq 1 and `extra`.
std::size_t open_packet_size(std::string_view type, const boost::json::object& extra,
                             std::uint32_t channel, std::size_t body) {
  boost::json::object head = extra;
  head["c"] = channel;
  head["type"] = type;
  head["seq"] = 1;
  return lob_encode(head, Bytes(body)).size();
}

void open_room(Reader& in) {
  const std::string type = read_text(in);
  const std::string extra_text = read_text(in);
  const std::uint32_t channel = in.u32();
  const std::size_t pad = in.u16() % 2048;
  boost::system::error_code error;
  const boost::json::value parsed = boost::json::parse(extra_text, error);
  boost::json::object extra =
      !error && parsed.is_object() ? parsed.get_object() : boost::json::object{};
  if (pad > 0) extra["pad"] = std::string(pad, 'p');

  const std::size_t room = open_body_room(type, extra);
  if (room > 0) {
    E3X_FUZZ_CHECK(open_packet_size(type, extra, 0xffffffffu, room) == kMaxChannelInner);
  } else {
    E3X_FUZZ_CHECK(open_packet_size(type, extra, 0xffffffffu, 0) >= kMaxChannelInner);
  }
  // Any real channel id has no more digits than the longest.
  E3X_FUZZ_CHECK(room == 0 || open_packet_size(type, extra, channel, room) <= kMaxChannelInner);

  const boost::json::value* more = extra.if_contains("more");
  E3X_FUZZ_CHECK(has_more(extra) == (more != nullptr && boost::json::serialize(*more) == "true"));
  if (more == nullptr) {
    boost::json::object with_more = extra;
    with_more["more"] = true;
    E3X_FUZZ_CHECK(open_body_room(type, with_more) ==
                   (room > kMoreKeyBytes ? room - kMoreKeyBytes : 0));
  }
}

// ---------------------------------------------------------------------------------------
// The store (mailbox_store.hpp) against a model

// A row as the model expects the store to hold it.
struct Row {
  std::int64_t id = 0;
  int sender = 0;
  int recipient = 0;
  std::int64_t deposited = 0;
  std::int64_t expires = 0;  // min(the sender's expires, deposited + max_age)
  Bytes packet;              // as deposited
  Digest digest{};           // of the packet as deposited: damage leaves the stored digest
  std::int64_t bytes = 0;    // the bytes column, which damage may make lie
  bool damaged = false;
};

enum class Outcome { kStored, kHeld, kExpired, kRecipientQuota, kSenderQuota };

// The process's database: the store as e3xd opens it, and a second connection (as another
// process would have) that empties it between inputs and damages rows behind the store's back.
class StoreFixture {
 public:
  StoreFixture() : file_(work_dir() / "mailbox.db") {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      fs::remove(file_.string() + suffix, ignored);
    }
    reopen();
    raw_ = std::make_unique<sqlite::Database>(file_);  // after open(): the schema exists
  }

  // An empty mailbox whose next id is 1, as in a new file.
  void empty() { raw_->exec("BEGIN; DELETE FROM mail; DELETE FROM sqlite_sequence; COMMIT;"); }
  // Closes and opens the store again: what was committed must all be there.
  void reopen() {
    store_.reset();
    store_ = std::make_unique<MailboxStore>(file_);
    E3X_FUZZ_CHECK(store().open().empty());
  }
  MailboxStore& store() { return *store_; }
  sqlite::Database& raw() { return *raw_; }

 private:
  fs::path file_;
  std::unique_ptr<MailboxStore> store_;
  std::unique_ptr<sqlite::Database> raw_;
};

// Made at the first store operation of the process, after work_dir(): destroyed before the exit
// hook removes the directory.
StoreFixture& fixture() {
  static StoreFixture fixture;
  return fixture;
}

// One input's store operations, against a model of what the store must hold.
class StoreHarness {
 public:
  StoreHarness() : fixture_(fixture()) {
    fixture_.empty();
    corrupt_ = fixture_.store().corrupt();  // a count since the store was opened
  }
  StoreHarness(const StoreHarness&) = delete;
  StoreHarness& operator=(const StoreHarness&) = delete;

  void run(std::uint8_t kind, std::uint8_t arg, Reader& in) {
    switch (kind) {
      case kLimits:
        return set_limits(in);
      case kTime:
        return step_time(arg, in);
      case kHeldFor:
        return deliverable_for(arg, in);
      case kPacket:
        return read_back(pick_id(in));
      case kRemove:
        return remove(pick_id(in));
      case kSweep:
        return sweep(arg & 1 ? clamp64(__int128{now_} + in.u16()) : now_);
      case kDamage:
        return damage(arg, in);
      case kReopen:
        return reopen();
      default:
        return deposit(arg, in);
    }
  }

  // The totals. A read error (which reads as "nothing held") fails.
  void check_totals() {
    E3X_FUZZ_CHECK(store().count() == rows_.size());
    E3X_FUZZ_CHECK(store().bytes() == bytes_where([](const Row&) { return true; }));
    E3X_FUZZ_CHECK(store().corrupt() == corrupt_);
    E3X_FUZZ_CHECK(store().read_errors() == 0);
  }

  // After a reopen and at the end: everything the store can say equals the model.
  void check_everything() {
    check_totals();
    for (int p = 0; p < kParties; ++p) {
      E3X_FUZZ_CHECK(store().bytes_for(party(p)) ==
                     bytes_where([p](const Row& row) { return row.recipient == p; }));
      E3X_FUZZ_CHECK(store().bytes_from(party(p)) ==
                     bytes_where([p](const Row& row) { return row.sender == p; }));
      check_held(store().deliverable_for(party(p), now_, SIZE_MAX), p, SIZE_MAX, 0);
    }
    check_summary();
  }

  // At the end of the input: every held packet reads back (or is found damaged).
  void finish() {
    check_everything();
    std::vector<std::int64_t> ids;
    for (const Row& row : rows_) ids.push_back(row.id);
    for (const std::int64_t id : ids) read_back(id);
    check_totals();
  }

 private:
  // ---- operations ----

  void deposit(std::uint8_t arg, Reader& in) {
    const std::uint8_t who = in.u8();
    const int sender = who & 3, recipient = (who >> 2) & 3;
    const Bytes packet = choose_packet(arg & 3, in);
    const std::int64_t expires = choose_expires((arg >> 2) & 3, in);
    last_packet_ = packet;

    const auto [outcome, held_id] = expected_deposit(sender, recipient, packet, expires);
    const std::size_t count_before = rows_.size();
    auto got = store().deposit(party(sender), party(recipient), packet, expires, now_, limits_);
    if (!got) {
      E3X_FUZZ_CHECK(outcome == refusal_outcome(got.error().kind));
      E3X_FUZZ_CHECK(!got.error().message.empty());
      E3X_FUZZ_CHECK(store().count() == count_before);
      return;
    }
    if (got->already_held) {
      // Not stored twice: the earliest live copy answers, and nothing changes.
      E3X_FUZZ_CHECK(outcome == Outcome::kHeld && got->id == held_id);
      E3X_FUZZ_CHECK(store().count() == count_before);
      return;
    }
    E3X_FUZZ_CHECK(outcome == Outcome::kStored);
    E3X_FUZZ_CHECK(got->id > last_id_);  // AUTOINCREMENT: never an id seen before
    add_row(got->id, sender, recipient, packet, expires);
    // The quotas count mail not yet expired (rows past their expiry wait for the sweep).
    std::uint64_t deliverable = 0;
    for (const HeldMail& mail : store().deliverable_for(party(recipient), now_, SIZE_MAX)) {
      deliverable += mail.bytes;
    }
    E3X_FUZZ_CHECK(deliverable <= limits_.quota_per_recipient);
    E3X_FUZZ_CHECK(live_bytes_where([&](const Row& row) { return row.sender == sender; }) <=
                   limits_.quota_per_sender);
  }

  void set_limits(Reader& in) {
    limits_.quota_per_recipient = choose_quota(in);
    limits_.quota_per_sender = choose_quota(in);
    limits_.max_age_s = choose_max_age(in);
  }

  void step_time(std::uint8_t arg, Reader& in) {
    switch (arg & 3) {
      case 0:
        now_ = clamp64(__int128{now_} + in.u8());
        break;
      case 1:
        now_ = clamp64(__int128{now_} + in.u16() * 60);
        break;
      case 2:
        now_ = clamp64(__int128{now_} - in.u8());
        break;
      default:
        now_ = extreme_time(in.u8());
        break;
    }
  }

  void deliverable_for(std::uint8_t arg, Reader& in) {
    const int recipient = arg & 3;
    const std::uint8_t limit_byte = in.u8();
    const std::size_t limit = limit_byte == 0xff ? SIZE_MAX : limit_byte;
    const std::int64_t after = pick_id(in);
    check_held(store().deliverable_for(party(recipient), now_, limit, after), recipient, limit,
               after);
  }

  // packet(id): the deposited bytes; a damaged row once as an error, then never again.
  void read_back(std::int64_t id) {
    auto got = store().packet(id);
    const auto row = find_row(id);
    if (row == rows_.end()) {
      E3X_FUZZ_CHECK(!got.has_value());
      return;
    }
    if (row->damaged) {
      E3X_FUZZ_CHECK(!got.has_value());
      ++corrupt_;
      rows_.erase(row);
      return;
    }
    E3X_FUZZ_CHECK(got.has_value() && *got == row->packet);
  }

  void remove(std::int64_t id) {
    E3X_FUZZ_CHECK(store().remove(id).empty());
    if (const auto row = find_row(id); row != rows_.end()) rows_.erase(row);
  }

  void sweep(std::int64_t at) {
    const std::vector<HeldMail> gone = store().expire(at);
    std::vector<Row> expected;
    std::vector<Row> kept;
    for (Row& row : rows_) (row.expires <= at ? expected : kept).push_back(std::move(row));
    rows_ = std::move(kept);
    E3X_FUZZ_CHECK(gone.size() == expected.size());
    for (std::size_t i = 0; i < gone.size(); ++i) check_mail(gone[i], expected[i]);
  }

  // Damages a held row behind the store's back, as a failing disk would.
  void damage(std::uint8_t arg, Reader& in) {
    const std::uint8_t which = in.u8();
    const std::uint16_t position = in.u16();
    if (rows_.empty()) return;
    Row& row = rows_[which % rows_.size()];
    sqlite::Database& raw = fixture_.raw();
    if (arg & 1) {
      Bytes damaged = row.packet;
      if (damaged.empty()) {
        damaged.push_back(0);
      } else {
        damaged[position % damaged.size()] ^= 0x01;
      }
      raw.prepare("UPDATE mail SET packet = ? WHERE id = ?")
          .bind_blob(1, damaged)
          .bind(2, row.id)
          .run();
    } else {
      raw.prepare("UPDATE mail SET bytes = bytes + 1 WHERE id = ?").bind(1, row.id).run();
      row.bytes += 1;
    }
    E3X_FUZZ_CHECK(raw.changes() == 1);
    row.damaged = true;
  }

  // What was committed is all there; corrupt() counts from zero again.
  void reopen() {
    if (reopens_++ >= kMaxReopens) return;
    fixture_.reopen();
    corrupt_ = 0;
    check_everything();
  }

  MailboxStore& store() { return fixture_.store(); }
  const MailboxStore& store() const { return fixture_.store(); }

  // ---- operands ----

  Bytes choose_packet(int how, Reader& in) {
    if (how == 2 && !rows_.empty()) return rows_[in.u8() % rows_.size()].packet;
    if (how == 3) return last_packet_;
    return read_packet(in);
  }

  std::int64_t choose_expires(int how, Reader& in) {
    switch (how) {
      case 0:
        return clamp64(__int128{now_} + static_cast<std::int8_t>(in.u8()));
      case 1:
        return clamp64(__int128{now_} + in.u16() * 60);
      case 2:
        return extreme_time(in.u8());
      default:
        return static_cast<std::int64_t>(in.u32());
    }
  }

  std::int64_t extreme_time(std::uint8_t which) const {
    const std::array<std::int64_t, 7> times = {kMax64, kMin64, 0, -1, kMax64 - 1, kMin64 + 1, now_};
    return times[which % times.size()];
  }

  // Any uint64: the configuration allows 64 KiB to 1 TiB, the store takes anything.
  static std::uint64_t choose_quota(Reader& in) {
    switch (in.u8() % 6) {
      case 0:
        return UINT64_MAX;
      case 1:
        return 64 * 1024;
      case 2:
        return in.u16();
      case 3:
        return in.u32();
      case 4:
        return 0;
      default:
        return UINT64_MAX - in.u16();
    }
  }

  // Any int64: the configuration allows 60 s and up, the store takes anything.
  static std::int64_t choose_max_age(Reader& in) {
    switch (in.u8() % 8) {
      case 0:
        return kMax64;
      case 1:
        return 7 * 24 * 3600;
      case 2:
        return 60;
      case 3:
        return in.u16();
      case 4:
        return 0;
      case 5:
        return -1 - std::int64_t{in.u16()};
      case 6:
        return kMin64;
      default:
        return kMax64 - in.u16();
    }
  }

  std::int64_t pick_id(Reader& in) const {
    const std::uint8_t which = in.u8();
    switch (which) {
      case 0xff:
        return 0;
      case 0xfe:
        return -1;
      case 0xfd:
        return kMax64;
      case 0xfc:
        return kMin64;
      case 0xfb:
        return last_id_ + 1;
      default:
        return ids_.empty() ? which : ids_[which % ids_.size()];
    }
  }

  // ---- the model ----

  // What deposit() must do, in its order: expiry, a live copy held already, then the quotas.
  std::pair<Outcome, std::int64_t> expected_deposit(int sender, int recipient, ByteView packet,
                                                    std::int64_t expires) const {
    const std::int64_t keep = std::min(expires, clamp64(__int128{now_} + limits_.max_age_s));
    if (keep <= now_) return {Outcome::kExpired, 0};
    const Digest digest = sha256(packet);
    for (const Row& row : rows_) {
      if (row.recipient == recipient && row.digest == digest && row.expires > now_) {
        return {Outcome::kHeld, row.id};
      }
    }
    const auto over = [&](std::uint64_t held, std::uint64_t quota) {
      return static_cast<unsigned __int128>(held) + packet.size() > quota;
    };
    if (over(live_bytes_where([&](const Row& row) { return row.recipient == recipient; }),
             limits_.quota_per_recipient)) {
      return {Outcome::kRecipientQuota, 0};
    }
    if (over(live_bytes_where([&](const Row& row) { return row.sender == sender; }),
             limits_.quota_per_sender)) {
      return {Outcome::kSenderQuota, 0};
    }
    return {Outcome::kStored, 0};
  }

  static Outcome refusal_outcome(MailboxRefusal::Kind kind) {
    switch (kind) {
      case MailboxRefusal::Kind::kExpired:
        return Outcome::kExpired;
      case MailboxRefusal::Kind::kRecipientQuota:
        return Outcome::kRecipientQuota;
      case MailboxRefusal::Kind::kSenderQuota:
        return Outcome::kSenderQuota;
      default:
        break;
    }
    E3X_FUZZ_CHECK(!"a disk or I/O refusal from a healthy temporary database");
    return Outcome::kStored;
  }

  void add_row(std::int64_t id, int sender, int recipient, const Bytes& packet,
               std::int64_t expires) {
    Row row;
    row.id = id;
    row.sender = sender;
    row.recipient = recipient;
    row.deposited = now_;
    row.expires = std::min(expires, clamp64(__int128{now_} + limits_.max_age_s));
    row.packet = packet;
    row.digest = sha256(packet);
    row.bytes = static_cast<std::int64_t>(packet.size());
    rows_.push_back(std::move(row));  // ids increase, so rows_ stays in id order
    ids_.push_back(id);
    last_id_ = id;
  }

  std::vector<Row>::iterator find_row(std::int64_t id) {
    return std::find_if(rows_.begin(), rows_.end(), [id](const Row& row) { return row.id == id; });
  }

  template <typename Predicate>
  std::uint64_t bytes_where(Predicate predicate) const {
    std::uint64_t sum = 0;
    for (const Row& row : rows_) {
      if (predicate(row)) sum += static_cast<std::uint64_t>(row.bytes);
    }
    return sum;
  }

  // The bytes of the rows `predicate` picks that have not expired at now_: what a quota counts.
  template <typename Predicate>
  std::uint64_t live_bytes_where(Predicate predicate) const {
    return bytes_where([&](const Row& row) { return row.expires > now_ && predicate(row); });
  }

  static void check_mail(const HeldMail& got, const Row& want) {
    E3X_FUZZ_CHECK(got.id == want.id);
    E3X_FUZZ_CHECK(got.sender == party(want.sender));
    E3X_FUZZ_CHECK(got.recipient == party(want.recipient));
    E3X_FUZZ_CHECK(got.deposited == want.deposited);
    E3X_FUZZ_CHECK(got.expires == want.expires);
    E3X_FUZZ_CHECK(got.bytes == static_cast<std::uint64_t>(want.bytes));
  }

  // deliverable_for(recipient, now_, limit, after): the recipient's rows after `after` that have
  // not expired at now_, oldest first. Rows past their expiry but not yet swept are not listed.
  void check_held(const std::vector<HeldMail>& got, int recipient, std::size_t limit,
                  std::int64_t after) const {
    std::size_t i = 0;
    for (const Row& row : rows_) {
      if (row.recipient != recipient || row.id <= after || row.expires <= now_ || i == limit) {
        continue;
      }
      E3X_FUZZ_CHECK(i < got.size());
      check_mail(got[i++], row);
    }
    E3X_FUZZ_CHECK(i == got.size());
  }

  void check_summary() const {
    struct Expected {
      RecipientSummary figures;
      std::set<int> senders;
    };
    std::map<Hashname, Expected> expected;  // in Hashname order, as summary() sorts
    for (const Row& row : rows_) {
      Expected& entry = expected[party(row.recipient)];
      entry.figures.oldest = entry.figures.messages == 0
                                 ? row.deposited
                                 : std::min(entry.figures.oldest, row.deposited);
      entry.figures.messages += 1;
      entry.figures.bytes += static_cast<std::uint64_t>(row.bytes);
      entry.senders.insert(row.sender);
    }
    const auto got = store().summary();
    E3X_FUZZ_CHECK(got.size() == expected.size());
    std::size_t i = 0;
    for (const auto& [recipient, want] : expected) {
      E3X_FUZZ_CHECK(got[i].recipient == recipient);
      E3X_FUZZ_CHECK(got[i].messages == want.figures.messages);
      E3X_FUZZ_CHECK(got[i].bytes == want.figures.bytes);
      E3X_FUZZ_CHECK(got[i].oldest == want.figures.oldest);
      E3X_FUZZ_CHECK(got[i].senders == want.senders.size());
      ++i;
    }
  }

  StoreFixture& fixture_;
  MailboxLimits limits_;
  std::int64_t now_ = kStartUnix;
  std::vector<Row> rows_;          // held, in id order
  std::vector<std::int64_t> ids_;  // every id assigned in this input, held or gone
  std::int64_t last_id_ = 0;
  std::uint64_t corrupt_ = 0;
  int reopens_ = 0;
  Bytes last_packet_;
};

// ---------------------------------------------------------------------------------------
// The script

class Script {
 public:
  void run(Reader& in) {
    for (int op = 0; op < kMaxOps && !in.done(); ++op) {
      const std::uint8_t byte = in.u8();
      const std::uint8_t kind = byte & 0x0f, arg = byte >> 4;
      switch (kind) {
        case kCut:
          cut_and_assemble(in);
          break;
        case kStreamPiece: {
          const Bytes body = read_packet(in);
          pieces_.add(body, arg & 1);
          break;
        }
        case kOpenRoom:
          open_room(in);
          break;
        default:
          store().run(kind, arg, in);
          break;
      }
    }
    if (store_) store_->finish();
  }

 private:
  // Opened at the first store operation: piece-only inputs cost no database.
  StoreHarness& store() {
    if (!store_) store_.emplace();
    return *store_;
  }

  PieceStream pieces_;
  std::optional<StoreHarness> store_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  work_dir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(fuzz::view_of(data, size));
  try {
    Script script;
    script.run(in);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "exception: %s\n", error.what());
    E3X_FUZZ_CHECK(!"an exception escaped");
  }
  return 0;
}
