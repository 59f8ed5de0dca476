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
  SeqStore::KnownPeers known() const {
    return [this] {
      std::vector<Hashname> out;
      for (const auto& [hashname, marks] : peers) out.push_back(hashname);
      return out;
    };
  }
  std::string cover(SeqStore& store, const Hashname& h, std::uint32_t used,
                    std::int64_t now = kNow) const {
    return store.cover({{h, used}}, lookup(), known(), now);
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

// The default mark moves a reservation ahead of the clock, so peers whose SEQs follow the
// clock are covered by it: a new peer, and the next keepalive round, need no write.
// (Before, every peer had its own mark reserved from its own first SEQ: 10,000 peers coming
// up cost about one write of the whole file per 100 peers, and the first keepalive round as
// many again; bench/run-scale.sh measured 8-12% of a core for what had been 1.5%.)
TEST(SeqStore, PeersThatFollowTheClockShareTheDefaultMark) {
  const auto file = temp_dir() / "seq.json";
  SeqStore store(file);
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  endpoint.peers[peer(0)] = {1'700'000'001, 1'700'000'000};
  ASSERT_EQ(endpoint.cover(store, peer(0), 1'700'000'001), "");
  EXPECT_EQ(store.writes(), 1u);
  EXPECT_GE(store.default_mark(), kNow + kSeqReservation);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  // 200 more peers come up over the next two minutes, one at a time: nothing to write.
  for (std::uint8_t n = 1; n <= 200; ++n) {
    const auto used = static_cast<std::uint32_t>(kNow + n / 2 + 1);
    endpoint.peers[peer(n)] = {used, used - 1};
    EXPECT_FALSE(store.needs_cover(peer(n), used)) << int(n);
    ASSERT_EQ(endpoint.cover(store, peer(n), used, kNow + n / 2), "");
  }
  EXPECT_EQ(store.writes(), 1u);

  // Housekeeping renews the default mark when the clock comes within half a reservation.
  EXPECT_FALSE(store.renewal_due(kNow + kSeqReservation / 2 - 1));
  ASSERT_TRUE(store.renewal_due(kNow + kSeqReservation / 2 + 1));
  ASSERT_EQ(store.renew(endpoint.lookup(), endpoint.known(), kNow + kSeqReservation / 2 + 1), "");
  EXPECT_EQ(store.writes(), 2u);
  EXPECT_FALSE(store.needs_cover(peer(7), kNow + kSeqReservation + 100));

  // Every known peer is listed with the SEQ it was last seen at (rule 1 after a restart),
  // and a restart keeps the coverage.
  SeqStore reopened(file);
  ASSERT_TRUE(reopened.load().has_value());
  EXPECT_FALSE(reopened.migrated());
  EXPECT_EQ(reopened.default_mark(), store.default_mark());
  for (std::uint8_t n = 0; n <= 200; ++n) {
    ASSERT_TRUE(reopened.marks_of(peer(n)).has_value()) << int(n);
    EXPECT_EQ(reopened.marks_of(peer(n))->seen, endpoint.peers[peer(n)].seen) << int(n);
  }
}

// After a restart our SEQs start above the loaded default mark, which is ahead of the clock:
// the first write covers every peer's first SEQ at once, not one write per peer.
TEST(SeqStore, AfterARestartOneWriteCoversEveryPeersFirstSeq) {
  const auto file = temp_dir() / "seq.json";
  std::ofstream(file) << "{\"version\":2,\"seq_high_water\":1700000300,\"peers\":{}}\n";
  SeqStore store(file);
  ASSERT_EQ(*store.load(), 1'700'000'300u);
  Endpoint endpoint;
  for (std::uint8_t n = 0; n < 100; ++n) endpoint.peers[peer(n)] = {1'700'000'301, 0};
  for (std::uint8_t n = 0; n < 100; ++n) {
    ASSERT_EQ(endpoint.cover(store, peer(n), 1'700'000'301, kNow + 10), "");
  }
  EXPECT_EQ(store.writes(), 1u);
  EXPECT_GE(store.default_mark(), 1'700'000'301u + kSeqReservation);
}

// A peer whose SEQs ran ahead of the clock (ours follow the highest it has seen) has its own
// mark, reserved ahead of its use; it survives a restart and moves only when used past.
TEST(SeqStore, APeerAheadOfTheClockHasItsOwnReservation) {
  const auto file = temp_dir() / "seq.json";
  SeqStore store(file);
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  const std::uint32_t ahead = 1'700'050'000;
  endpoint.peers[peer(1)] = {ahead, ahead - 1};
  ASSERT_EQ(endpoint.cover(store, peer(1), ahead), "");
  ASSERT_TRUE(store.marks_of(peer(1)).has_value());
  EXPECT_EQ(store.marks_of(peer(1))->used, ahead + kSeqReservation);
  EXPECT_LT(store.default_mark(), ahead) << "the peer moved the default mark";
  EXPECT_EQ(store.writes(), 1u);

  // Within the reservation nothing is written.
  ASSERT_EQ(endpoint.cover(store, peer(1), ahead + kSeqReservation), "");
  EXPECT_EQ(store.writes(), 1u);

  SeqStore reopened(file);
  ASSERT_TRUE(reopened.load().has_value());
  ASSERT_TRUE(reopened.marks_of(peer(1)).has_value());
  EXPECT_EQ(reopened.marks_of(peer(1))->used, ahead + kSeqReservation);

  // Beyond it, the mark moves.
  endpoint.peers[peer(1)].used = ahead + 9'999;
  ASSERT_EQ(endpoint.cover(reopened, peer(1), ahead + 9'999), "");
  SeqStore again(file);
  ASSERT_TRUE(again.load().has_value());
  EXPECT_EQ(again.marks_of(peer(1))->used, ahead + 9'999 + kSeqReservation);
}

// Rule 4: a hostile peer that pushed its own mark to the top of the SEQ space does not move
// anyone else's; only its own exchange runs out. (The default mark follows the clock.)
TEST(SeqStore, OnePeersMarkNeverMovesAnother) {
  const auto file = temp_dir() / "seq.json";
  SeqStore store(file);
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  endpoint.peers[peer(1)] = {0xFFFFFFF0u, 0xFFFFFFEFu};
  endpoint.peers[peer(2)] = {1'700'000'001, 0};
  ASSERT_EQ(store.cover({{peer(1), 0xFFFFFFF0u}, {peer(2), 1'700'000'001}}, endpoint.lookup(),
                        endpoint.known(), kNow),
            "");
  EXPECT_EQ(store.marks_of(peer(1))->used, 0xFFFFFFFFu);  // clamped at the top
  EXPECT_LE(store.default_mark(), kNow + 2 * kSeqReservation);
  EXPECT_LE(store.marks_of(peer(2))->used, kNow + 2 * kSeqReservation);
  EXPECT_FALSE(store.needs_cover(peer(2), 1'700'000'001));
  SeqStore reopened(file);
  ASSERT_TRUE(reopened.load().has_value());
  EXPECT_LE(reopened.default_mark(), kNow + 2 * kSeqReservation);
  EXPECT_LE(reopened.marks_of(peer(2))->used, kNow + 2 * kSeqReservation);
  EXPECT_FALSE(reopened.marks_of(peer(3)).has_value()) << "a new peer starts from the clock";
}

// Peers ahead of the clock that are near their marks are refreshed together, so they share
// one write.
TEST(SeqStore, NearbyPeersAreRefreshedInTheSameWrite) {
  SeqStore store(temp_dir() / "seq.json");
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  const std::uint32_t ahead = 1'700'050'000;
  endpoint.peers[peer(1)] = {ahead + 1, 0};
  endpoint.peers[peer(2)] = {ahead + 2, 0};
  ASSERT_EQ(store.cover({{peer(1), ahead + 1}, {peer(2), ahead + 2}}, endpoint.lookup(),
                        endpoint.known(), kNow),
            "");
  // Time passes: peer 1 goes past its mark, peer 2 is close to its own.
  endpoint.peers[peer(1)].used = ahead + 1 + kSeqReservation + 1;
  endpoint.peers[peer(2)].used = ahead + 2 + kSeqReservation - 10;
  EXPECT_FALSE(store.needs_cover(peer(2), endpoint.peers[peer(2)].used));
  ASSERT_EQ(endpoint.cover(store, peer(1), endpoint.peers[peer(1)].used), "");
  EXPECT_EQ(store.writes(), 2u);
  EXPECT_EQ(store.marks_of(peer(2))->used, endpoint.peers[peer(2)].used + kSeqReservation)
      << "peer 2 was not refreshed with peer 1";
}

TEST(SeqStore, RenewRecordsTheSeqsSeen) {
  const auto file = temp_dir() / "seq.json";
  SeqStore store(file);
  ASSERT_TRUE(store.load().has_value());
  Endpoint endpoint;
  endpoint.peers[peer(1)] = {1'700'000'001, 1'700'000'000};
  ASSERT_EQ(endpoint.cover(store, peer(1), 1'700'000'001), "");
  endpoint.peers[peer(1)].seen = 1'700'000'100;
  ASSERT_EQ(store.renew(endpoint.lookup(), endpoint.known(), kNow), "");
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
  ASSERT_EQ(endpoint.cover(store, peer(1), 1'800'000'001), "");
  EXPECT_FALSE(store.migrated());
  SeqStore reopened(file);
  ASSERT_TRUE(reopened.load().has_value());
  EXPECT_GE(reopened.default_mark(), 1'800'000'000u);
  EXPECT_FALSE(reopened.needs_cover(peer(1), 1'800'000'001u));
  EXPECT_FALSE(reopened.needs_cover(peer(2), 1'800'000'001u))
      << "the version 1 floor still covers everyone";
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
  const std::string error = endpoint.cover(store, peer(1), 100);
  EXPECT_FALSE(error.empty());
  EXPECT_TRUE(store.needs_cover(peer(1), 100)) << "a failed write must not count as covered";
}

}  // namespace
}  // namespace e3x::daemon
