// The persisted SEQ marks (PROTOCOL.md 5 and 10.4): one per peer, covering every SEQ handed to
// them; they write rarely, survive a restart, move no other peer's mark, migrate a version 1
// file, refuse to guess when the file is damaged, and are written with mode 0600.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "core/sha256.hpp"
#include "daemon/host/seq_store.hpp"

namespace e3x::daemon {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

std::filesystem::path temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "seq-store-XXXXXX").string();
  return mkdtemp(pattern.data());
}

Hashname peer(std::uint8_t n) {
  return Hashname{sha256(ByteView(&n, 1))};
}

// What the endpoint would report: a table the test fills in.
struct Endpoint {
  std::map<Hashname, PeerSeqMarks> peers;
  SeqStore::Lookup lookup() const {
    return [this](const Hashname& h) -> std::optional<PeerSeqMarks> {
      auto found = peers.find(h);
      if (found == peers.end()) return std::nullopt;
      return found->second;
    };
  }
};

TEST(SeqStore, MissingFileMeansNothingWasUsed) {
  SeqStore store(temp_dir() / "seq.json");
  auto loaded = store.load();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, 0u);
  EXPECT_FALSE(store.marks_of(peer(1)).has_value());
  EXPECT_TRUE(store.needs_cover(peer(1), 1));
}

TEST(SeqStore, CoversPerPeerReservesAheadAndSurvivesARestart) {
  const auto file = temp_dir() / "seq.json";
  SeqStore store(file);
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  endpoint.peers[peer(1)] = {1'700'000'001, 1'700'000'000};
  ASSERT_EQ(store.cover({{peer(1), 1'700'000'001}}, endpoint.lookup(), kNow), "");
  ASSERT_TRUE(store.marks_of(peer(1)).has_value());
  EXPECT_EQ(store.marks_of(peer(1))->used, 1'700'000'001u + kSeqReservation);
  EXPECT_EQ(store.marks_of(peer(1))->seen, 1'700'000'000u);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(store.writes(), 1u);

  // Within the reservation nothing is written.
  ASSERT_EQ(store.cover({{peer(1), 1'700'000'001 + kSeqReservation}}, endpoint.lookup(), kNow), "");
  EXPECT_EQ(store.writes(), 1u);

  SeqStore reopened(file);
  ASSERT_TRUE(reopened.load().has_value());
  ASSERT_TRUE(reopened.marks_of(peer(1)).has_value());
  EXPECT_EQ(reopened.marks_of(peer(1))->used, 1'700'000'001u + kSeqReservation);
  EXPECT_FALSE(reopened.migrated());

  // Beyond it, the mark moves.
  ASSERT_EQ(reopened.cover({{peer(1), 1'700'009'999}}, endpoint.lookup(), kNow), "");
  SeqStore again(file);
  ASSERT_TRUE(again.load().has_value());
  EXPECT_EQ(again.marks_of(peer(1))->used, 1'700'009'999u + kSeqReservation);
}

// Rule 4: a hostile peer that pushed its own mark to the top of the SEQ space does not move
// anyone else's; only its own exchange runs out.
TEST(SeqStore, OnePeersMarkNeverMovesAnother) {
  const auto file = temp_dir() / "seq.json";
  SeqStore store(file);
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  endpoint.peers[peer(1)] = {0xFFFFFFF0u, 0xFFFFFFEFu};
  endpoint.peers[peer(2)] = {1'700'000'001, 0};
  ASSERT_EQ(
      store.cover({{peer(1), 0xFFFFFFF0u}, {peer(2), 1'700'000'001}}, endpoint.lookup(), kNow), "");
  EXPECT_EQ(store.marks_of(peer(1))->used, 0xFFFFFFFFu);  // clamped at the top
  EXPECT_EQ(store.marks_of(peer(2))->used, 1'700'000'001u + kSeqReservation);
  EXPECT_EQ(store.default_mark(), 0u);
  SeqStore reopened(file);
  ASSERT_TRUE(reopened.load().has_value());
  EXPECT_EQ(reopened.marks_of(peer(2))->used, 1'700'000'001u + kSeqReservation);
  EXPECT_EQ(reopened.default_mark(), 0u);
  EXPECT_FALSE(reopened.marks_of(peer(3)).has_value()) << "a new peer starts from the clock";
}

// Peers whose SEQs follow the clock are refreshed together, so they share one write.
TEST(SeqStore, NearbyPeersAreRefreshedInTheSameWrite) {
  SeqStore store(temp_dir() / "seq.json");
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  endpoint.peers[peer(1)] = {1'700'000'001, 0};
  endpoint.peers[peer(2)] = {1'700'000'002, 0};
  ASSERT_EQ(
      store.cover({{peer(1), 1'700'000'001}, {peer(2), 1'700'000'002}}, endpoint.lookup(), kNow),
      "");
  // Time passes: peer 1 goes past its mark, peer 2 is close to its own.
  endpoint.peers[peer(1)].used = 1'700'000'001 + kSeqReservation + 1;
  endpoint.peers[peer(2)].used = 1'700'000'002 + kSeqReservation - 10;
  EXPECT_FALSE(store.needs_cover(peer(2), endpoint.peers[peer(2)].used));
  ASSERT_EQ(store.cover({{peer(1), endpoint.peers[peer(1)].used}}, endpoint.lookup(), kNow), "");
  EXPECT_EQ(store.writes(), 2u);
  EXPECT_EQ(store.marks_of(peer(2))->used, endpoint.peers[peer(2)].used + kSeqReservation)
      << "peer 2 was not refreshed with peer 1";
}

TEST(SeqStore, FlushRecordsTheSeqsSeen) {
  const auto file = temp_dir() / "seq.json";
  SeqStore store(file);
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  endpoint.peers[peer(1)] = {1'700'000'001, 1'700'000'000};
  ASSERT_EQ(store.cover({{peer(1), 1'700'000'001}}, endpoint.lookup(), kNow), "");
  endpoint.peers[peer(1)].seen = 1'700'000'100;
  ASSERT_EQ(store.flush(endpoint.lookup(), kNow), "");
  SeqStore reopened(file);
  ASSERT_TRUE(reopened.load().has_value());
  EXPECT_EQ(reopened.marks_of(peer(1))->seen, 1'700'000'100u);
}

TEST(SeqStore, VersionOneFileBecomesTheFloorForEveryPeer) {
  const auto file = temp_dir() / "seq.json";
  std::ofstream(file) << "{\"seq_high_water\":1800000000}\n";
  SeqStore store(file);
  auto loaded = store.load();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, 1'800'000'000u);
  EXPECT_TRUE(store.migrated());
  EXPECT_FALSE(store.needs_cover(peer(1), 1'799'999'999));
  EXPECT_TRUE(store.needs_cover(peer(1), 1'800'000'001));
  Endpoint endpoint;
  endpoint.peers[peer(1)] = {1'800'000'001, 0};
  ASSERT_EQ(store.cover({{peer(1), 1'800'000'001}}, endpoint.lookup(), kNow), "");
  EXPECT_FALSE(store.migrated());
  SeqStore reopened(file);
  ASSERT_TRUE(reopened.load().has_value());
  EXPECT_EQ(reopened.default_mark(), 1'800'000'000u);
  EXPECT_EQ(reopened.marks_of(peer(1))->used, 1'800'000'001u + kSeqReservation);
}

TEST(SeqStore, DamagedFileIsAnErrorNotAGuess) {
  for (const char* content :
       {"", "garbage", "{\"seq_high_water\":\"12\"}", "{\"other\":1}", "{\"seq_high_water\":-1}",
        "{\"seq_high_water\":99999999999}", "{\"seq_high_water\":1,\"peers\":[]}",
        "{\"seq_high_water\":1,\"peers\":{\"nothashname\":{\"used\":1,\"seen\":1}}}"}) {
    const auto file = temp_dir() / "seq.json";
    std::ofstream(file) << content;
    SeqStore store(file);
    auto loaded = store.load();
    EXPECT_FALSE(loaded.has_value()) << "accepted: " << content;
    if (!loaded) {
      EXPECT_NE(loaded.error().find(file.string()), std::string::npos);
    }
  }
}

TEST(SeqStore, UnwritableDirectoryIsReported) {
  SeqStore store("/proc/e3xd-no-such-dir/seq.json");
  Endpoint endpoint;
  endpoint.peers[peer(1)] = {100, 0};
  const std::string error = store.cover({{peer(1), 100}}, endpoint.lookup(), kNow);
  EXPECT_FALSE(error.empty());
  EXPECT_TRUE(store.needs_cover(peer(1), 100)) << "a failed write must not count as covered";
}

}  // namespace
}  // namespace e3x::daemon
