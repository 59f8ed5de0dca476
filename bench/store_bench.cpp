// The message store's figures (docs/benchmarks.md, "Message store"; bench/run-store.sh):
//
//   1. resident memory before and after storing and acknowledging N messages (target: within
//      2 MB after 100,000);
//   2. disk per tombstone: messages.db + its WAL after a checkpoint, divided by the count
//      (target: at most 200 B);
//   3. time to open a store holding 1,000,000 tombstones: MessageDb::open, Outbox::open and
//      Inbox::open, as e3xd's start does (target: under 2 s);
//   4. median and p99 latency of accepting one message durably, Outbox::add (one SQLite
//      commit, WAL fsync'd), beside the old file store's MessageStore::put of the same record
//      (temporary, fsync, rename, fsync of the directory), alternating, in the same directory
//      (target: the database no slower at the median).
//
// Usage: e3x_store_bench [--dir DIR] [--acks N] [--tombstones N] [--samples N] [--payload B]
// DIR is where the stores go (default: a new directory under /var/tmp): pick the file system
// e3xd's state_dir lives on. Prints each figure beside its target, and MET / NOT MET.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/hashname.hpp"
#include "core/message_rules.hpp"
#include "core/random.hpp"
#include "core/sha256.hpp"
#include "daemon/modules/messages/inbox.hpp"
#include "daemon/modules/messages/message_db.hpp"
#include "daemon/modules/messages/message_record.hpp"
#include "daemon/modules/messages/message_store.hpp"
#include "daemon/modules/messages/outbox.hpp"

namespace {

using namespace e3x;
using namespace e3x::daemon;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

Hashname name_of(std::uint8_t seed) {
  PublicKey key{};
  key.fill(seed);
  return hashname_of(key);
}

std::uint64_t db_bytes(const fs::path& state) {
  std::uint64_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::error_code ec;
    const auto size = fs::file_size(state / (std::string("messages.db") + suffix), ec);
    if (!ec) total += size;
  }
  return total;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void verdict(bool met, const std::string& what) {
  std::printf("%s: %s\n", met ? "MET" : "NOT MET", what.c_str());
}

struct Options {
  fs::path dir;
  std::size_t acks = 100000;
  std::size_t tombstones = 1000000;
  std::size_t samples = 500;
  std::size_t payload = 1024;
};

bool all_met = true;
void check(bool met, const std::string& what) {
  all_met = all_met && met;
  verdict(met, what);
}

// 1 and 2: store and acknowledge `count` messages through the real API.
void memory_and_disk(const Options& options) {
  const fs::path state = options.dir / "acks";
  fs::remove_all(state);
  MessageDb db(state);
  if (auto error = db.open(); !error.empty()) throw std::runtime_error(error);
  // Memory does not depend on when the WAL is fsync'd; without it 200,000 commits take
  // seconds instead of minutes. Phase 4 measures the durable path.
  db.db().exec("PRAGMA synchronous=OFF");
  Outbox outbox(db);
  Inbox inbox(db);
  if (!outbox.open().empty() || !inbox.open().empty()) throw std::runtime_error("open");
  const Bytes payload(options.payload, 0x5a);
  std::size_t done = 0;
  const auto store_and_ack = [&](std::size_t count) {
    for (std::size_t i = 0; i < count; ++i, ++done) {
      const Inbox::Arrival arrival{name_of(static_cast<std::uint8_t>(1 + done % 4)),
                                   "m" + std::to_string(done),
                                   "msg",
                                   {{"type", "msg"}},
                                   "network",
                                   1000,
                                   1000 + 7 * 86400};
      auto stored = inbox.store(arrival, payload);
      if (!stored || *stored != Inbox::Stored::kNew) throw std::runtime_error("store");
      const std::string key = Inbox::key_of(arrival.from, arrival.id, payload_sha256(payload));
      if (!inbox.ack(key, 1001)) throw std::runtime_error("ack");
    }
  };
  // Warm-up: SQLite's page cache (bounded, 2 MiB by default) and the allocator settle.
  store_and_ack(1000);
  const long before = rss_kib();
  const auto start = Clock::now();
  store_and_ack(options.acks / 2);
  const long halfway = rss_kib();
  const std::size_t done_halfway = done;
  store_and_ack(options.acks - options.acks / 2);
  const double took = seconds_since(start);
  const long after = rss_kib();
  db.db().exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const std::uint64_t bytes = db_bytes(state);
  auto freelist = db.db().prepare("PRAGMA freelist_count");
  freelist.step();
  const std::int64_t free_pages = freelist.column_int64(0);
  std::printf("== 1. memory: store and acknowledge %zu messages (%zu-byte payloads) ==\n",
              options.acks, options.payload);
  std::printf("%-46s %10ld KiB\n", "RSS after 1,000 (warm-up)", before);
  std::printf("%-46s %10ld KiB\n", ("RSS after " + std::to_string(done_halfway)).c_str(), halfway);
  std::printf("%-46s %10ld KiB\n", ("RSS after " + std::to_string(done)).c_str(), after);
  std::printf("%-46s %10ld KiB   2048 KiB target\n", "growth", after - before);
  std::printf("%-46s %10.1f s (synchronous=OFF)\n", "time", took);
  std::printf("%-46s %10zu\n", "tombstones", inbox.tombstones());
  check(after - before <= 2048, "resident memory within 2 MB after " +
                                    std::to_string(options.acks) + " acknowledged messages");
  std::printf("== 2. disk per tombstone (after those, checkpointed) ==\n");
  std::printf("%-46s %10llu B\n", "messages.db + WAL", static_cast<unsigned long long>(bytes));
  std::printf("%-46s %10lld pages\n", "of which free (left by deleted payloads)",
              static_cast<long long>(free_pages));
  const double per = static_cast<double>(bytes) / static_cast<double>(inbox.tombstones());
  std::printf("%-46s %10.1f B   200 B target\n", "per tombstone", per);
  check(per <= 200, "disk per tombstone at most 200 B");
}

// 3: a store holding `count` tombstones (bulk inserts matching the schema, one transaction),
// then opened as e3xd's start opens it.
void startup(const Options& options) {
  const fs::path state = options.dir / "tombstones";
  fs::remove_all(state);
  {
    MessageDb db(state);
    if (auto error = db.open(); !error.empty()) throw std::runtime_error(error);
    std::vector<std::int64_t> peers;
    for (std::uint8_t i = 1; i <= 50; ++i) peers.push_back(db.peer_number(name_of(i)));
    SeededRandom random(42);
    const auto start = Clock::now();
    sqlite::Transaction transaction(db.db());
    auto insert = db.db().prepare("INSERT INTO tombstones(key, peer, keep_until) VALUES(?,?,?)");
    for (std::size_t i = 0; i < options.tombstones; ++i) {
      ByteArray<16> key;
      random.fill(key);
      // Acknowledged over 30 days, in order: keep_until grows.
      insert.reset()
          .bind_blob(1, key)
          .bind(2, peers[i % peers.size()])
          .bind(3, static_cast<std::int64_t>(1'700'000'000 + i * 30 * 86400 / options.tombstones))
          .run();
    }
    transaction.commit();
    db.db().exec("PRAGMA wal_checkpoint(TRUNCATE)");
    std::printf("== 3. start with %zu tombstones ==\n", options.tombstones);
    std::printf("%-46s %10.1f s\n", "generated (one transaction)", seconds_since(start));
    const double per =
        static_cast<double>(db_bytes(state)) / static_cast<double>(options.tombstones);
    std::printf("%-46s %10.1f B   200 B target\n", "disk per tombstone (bulk, random keys)", per);
    check(per <= 200, "disk per tombstone at most 200 B (1,000,000 of them)");
  }
  const long rss_before = rss_kib();
  const auto start = Clock::now();
  MessageDb db(state);
  if (auto error = db.open(); !error.empty()) throw std::runtime_error(error);
  Outbox outbox(db);
  Inbox inbox(db);
  if (!outbox.open().empty() || !inbox.open().empty()) throw std::runtime_error("open");
  const double took = seconds_since(start);
  std::printf("%-46s %10.3f s   2 s target\n", "open (database, outbox, inbox)", took);
  std::printf("%-46s %10zu\n", "tombstones the inbox reports", inbox.tombstones());
  std::printf("%-46s %10ld KiB\n", "RSS growth from opening", rss_kib() - rss_before);
  // A duplicate check against them: one lookup by key.
  const auto lookup = Clock::now();
  const Inbox::Arrival arrival{name_of(1), "new", "msg", {}, "network", 1000, 2000};
  if (!inbox.store(arrival, Bytes{1})) throw std::runtime_error("store");
  std::printf("%-46s %10.3f ms\n", "store one message (duplicate check + commit)",
              seconds_since(lookup) * 1000);
  check(took < 2.0 && inbox.tombstones() == options.tombstones,
        "start with " + std::to_string(options.tombstones) + " tombstones in under 2 s");
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[at];
}

// 4: accepting a message durably, the database against the old file store, alternating.
void latency(const Options& options) {
  const fs::path state = options.dir / "latency";
  fs::remove_all(state);
  MessageDb db(state);
  if (auto error = db.open(); !error.empty()) throw std::runtime_error(error);
  Outbox outbox(db);
  if (!outbox.open().empty()) throw std::runtime_error("open");
  fs::remove_all(options.dir / "latency-files");
  MessageStore files(options.dir / "latency-files");
  if (!files.open()) throw std::runtime_error("open files");
  const Bytes payload(options.payload, 0x33);
  std::vector<double> sqlite_us;
  std::vector<double> file_us;
  for (std::size_t i = 0; i < options.samples + 20; ++i) {
    OutboxEntry entry;
    entry.id = "msg-" + std::to_string(i);
    entry.peer = name_of(1);
    entry.type = "msg";
    entry.created = 1000;
    entry.expires = 1000 + 7 * 86400;
    // The old outbox's record of the same message (outbox.cpp before the database).
    const MessageRecord record{{{"id", entry.id},
                                {"peer", entry.peer.to_string()},
                                {"type", entry.type},
                                {"order", i + 1},
                                {"created", entry.created},
                                {"expires", entry.expires},
                                {"sha256", payload_sha256(payload)}},
                               payload};
    auto start = Clock::now();
    if (!outbox.add(std::move(entry), payload, UINT64_MAX)) throw std::runtime_error("add");
    const double db_took = seconds_since(start) * 1e6;
    start = Clock::now();
    if (!files.put("msg-" + std::to_string(i), record)) throw std::runtime_error("put");
    const double file_took = seconds_since(start) * 1e6;
    if (i >= 20) {  // the first ones warm the caches
      sqlite_us.push_back(db_took);
      file_us.push_back(file_took);
    }
  }
  std::printf("== 4. accept one message durably (%zu-byte payload, %zu samples each) ==\n",
              options.payload, options.samples);
  std::printf("%-46s %10s %10s\n", "", "median", "p99");
  std::printf("%-46s %8.0f us %8.0f us\n", "Outbox::add (SQLite commit, WAL fsync)",
              percentile(sqlite_us, 0.5), percentile(sqlite_us, 0.99));
  std::printf("%-46s %8.0f us %8.0f us\n", "MessageStore::put (tmp, fsync, rename, fsync dir)",
              percentile(file_us, 0.5), percentile(file_us, 0.99));
  check(percentile(sqlite_us, 0.5) <= percentile(file_us, 0.5),
        "accepting a message no slower than the file store at the median");
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--dir") {
      options.dir = value;
    } else if (flag == "--acks") {
      options.acks = std::strtoull(value, nullptr, 10);
    } else if (flag == "--tombstones") {
      options.tombstones = std::strtoull(value, nullptr, 10);
    } else if (flag == "--samples") {
      options.samples = std::strtoull(value, nullptr, 10);
    } else if (flag == "--payload") {
      options.payload = std::strtoull(value, nullptr, 10);
    } else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  const bool made_dir = options.dir.empty();
  if (made_dir) {
    std::string pattern = "/var/tmp/e3x-store-bench-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      std::perror("mkdtemp");
      return 1;
    }
    options.dir = pattern;
  }
  fs::create_directories(options.dir);
  std::printf("stores under %s\n", options.dir.c_str());
  int status = 0;
  try {
    latency(options);
    memory_and_disk(options);
    startup(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "failed: %s\n", error.what());
    status = 1;
  }
  if (made_dir) fs::remove_all(options.dir);
  return status != 0 ? status : (all_met ? 0 : 3);
}
