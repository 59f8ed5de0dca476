// PathTable (address <-> path id, LRU-bounded, ids never reused) and PathAddress formatting.
#include "transports/path_table.hpp"

#include <set>

#include <gtest/gtest.h>

namespace e3x::net {
namespace {

namespace ip = boost::asio::ip;

PathAddress udp(const char* ip, std::uint16_t port) {
  return {PathKind::kUdp, ip::make_address(ip), port};
}

TEST(PathAddress, FormatsTypeAndEndpoint) {
  EXPECT_EQ(to_string(udp("192.0.2.7", 42424)), "udp4 192.0.2.7:42424");
  EXPECT_EQ(to_string(udp("2001:db8::7", 42424)), "udp6 [2001:db8::7]:42424");
  const PathAddress tcp4{PathKind::kTcp, ip::make_address("127.0.0.1"), 1};
  const PathAddress tcp6{PathKind::kTcp, ip::make_address("::1"), 2};
  EXPECT_EQ(path_type(tcp4), "tcp4");
  EXPECT_EQ(path_type(tcp6), "tcp6");
  EXPECT_EQ(to_string(tcp6), "tcp6 [::1]:2");
}

TEST(PathAddress, NormalisesV4MappedAddresses) {
  const PathAddress mapped = normalised(udp("::ffff:192.0.2.7", 9));
  EXPECT_EQ(mapped, udp("192.0.2.7", 9));
  EXPECT_EQ(path_type(mapped), "udp4");
  EXPECT_EQ(udp_path(ip::udp::endpoint(ip::make_address("::ffff:10.0.0.1"), 5)),
            udp("10.0.0.1", 5));
  EXPECT_EQ(normalised(udp("2001:db8::1", 9)), udp("2001:db8::1", 9));
}

TEST(PathAddress, KindAndPortDistinguishAddresses) {
  const PathAddress a = udp("192.0.2.7", 1);
  PathAddress other_kind = a;
  other_kind.kind = PathKind::kTcp;
  EXPECT_NE(a, other_kind);
  EXPECT_NE(a, udp("192.0.2.7", 2));
  EXPECT_LT(udp("192.0.2.7", 1), udp("192.0.2.7", 2));
  EXPECT_EQ(PathAddressHash()(a), PathAddressHash()(udp("192.0.2.7", 1)));
}

TEST(PathTable, SameAddressSameIdFromOne) {
  PathTable table(8);
  const PathId first = table.intern(udp("192.0.2.1", 1)).id;
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(table.intern(udp("192.0.2.2", 1)).id, 2u);
  EXPECT_EQ(table.intern(udp("192.0.2.1", 1)).id, first);
  // A v4-mapped spelling of the same address is the same path.
  EXPECT_EQ(table.intern(udp("::ffff:192.0.2.1", 1)).id, first);
  ASSERT_NE(table.find(first), nullptr);
  EXPECT_EQ(table.find(first)->address, udp("192.0.2.1", 1));
  EXPECT_EQ(table.find(kNoPath), nullptr);
  EXPECT_EQ(table.find(99), nullptr);
  EXPECT_EQ(table.size(), 2u);
}

TEST(PathTable, EvictsLeastRecentlyUsed) {
  PathTable table(3);
  const PathId a = table.intern(udp("192.0.2.1", 1)).id;
  const PathId b = table.intern(udp("192.0.2.2", 1)).id;
  const PathId c = table.intern(udp("192.0.2.3", 1)).id;
  // Use a (intern) and b (touch): c is now the least recently used.
  table.intern(udp("192.0.2.1", 1));
  EXPECT_TRUE(table.touch(b));
  const PathId d = table.intern(udp("192.0.2.4", 1)).id;
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.evicted(), 1u);
  EXPECT_EQ(table.find(c), nullptr);
  EXPECT_FALSE(table.touch(c));
  EXPECT_NE(table.find(a), nullptr);
  EXPECT_NE(table.find(b), nullptr);
  EXPECT_NE(table.find(d), nullptr);
}

TEST(PathTable, FindDoesNotRefresh) {
  PathTable table(2);
  const PathId a = table.intern(udp("192.0.2.1", 1)).id;
  table.intern(udp("192.0.2.2", 1));
  ASSERT_NE(table.find(a), nullptr);  // a lookup is not a use
  table.intern(udp("192.0.2.3", 1));
  EXPECT_EQ(table.find(a), nullptr);
}

TEST(PathTable, EvictedAddressComesBackWithNewIdAndFreshFlags) {
  PathTable table(1);
  PathEntry& first = table.intern(udp("192.0.2.1", 1));
  const PathId old_id = first.id;
  first.peer_cloaks = true;
  table.intern(udp("192.0.2.2", 1));
  PathEntry& again = table.intern(udp("192.0.2.1", 1));
  EXPECT_GT(again.id, old_id);
  EXPECT_FALSE(again.peer_cloaks);
  EXPECT_EQ(table.find(old_id), nullptr);
}

TEST(PathTable, PinnedEntriesAreNeverEvicted) {
  PathTable table(2);
  PathEntry& configured = table.intern(udp("192.0.2.1", 1));
  const PathId pinned = configured.id;
  table.pin(configured);
  EXPECT_TRUE(table.find(pinned)->pinned);
  // A flood of new addresses churns the one unpinned slot only.
  for (std::uint16_t port = 1; port <= 50; ++port) table.intern(udp("198.51.100.1", port));
  EXPECT_NE(table.find(pinned), nullptr);
  EXPECT_EQ(table.intern(udp("192.0.2.1", 1)).id, pinned);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.evicted(), 49u);
  EXPECT_TRUE(table.touch(pinned));
}

// Issue 10: spoofed plain datagrams from many addresses evicted the learned address of a peer
// that had connected to us (no configured endpoint). A trusted entry goes only after every
// untrusted one.
TEST(PathTable, TrustedEntriesOutliveAFloodOfNewAddresses) {
  PathTable table(4);
  PathEntry& learned = table.intern(udp("203.0.113.9", 4000));
  const PathId peer = learned.id;
  table.trust(learned);
  EXPECT_TRUE(table.find(peer)->trusted);
  for (std::uint16_t port = 1; port <= 1000; ++port) table.intern(udp("198.51.100.1", port));
  ASSERT_NE(table.find(peer), nullptr) << "a flood evicted a peer's learned address";
  EXPECT_EQ(table.intern(udp("203.0.113.9", 4000)).id, peer);
  EXPECT_EQ(table.size(), 4u);
  // Trusted entries still go when nothing else is left to forget (the table stays bounded),
  // least recently used first.
  PathTable full(2);
  PathEntry& first = full.intern(udp("203.0.113.1", 1));
  full.trust(first);
  const PathId first_id = first.id;
  PathEntry& second = full.intern(udp("203.0.113.2", 1));
  full.trust(second);
  const PathId second_id = second.id;
  const PathId newest = full.intern(udp("198.51.100.7", 1)).id;
  EXPECT_EQ(full.find(first_id), nullptr);
  EXPECT_NE(full.find(second_id), nullptr);
  EXPECT_NE(full.find(newest), nullptr);
  EXPECT_EQ(full.size(), 2u);
}

TEST(PathTable, PinnedEntriesFillingTheTableStillLeaveRoomForTheNewest) {
  PathTable table(2);
  table.pin(table.intern(udp("192.0.2.1", 1)));
  table.pin(table.intern(udp("192.0.2.2", 1)));
  const PathId learned = table.intern(udp("198.51.100.1", 1)).id;
  EXPECT_NE(table.find(learned), nullptr);  // kept, one over the limit
  EXPECT_EQ(table.size(), 3u);
  const PathId newer = table.intern(udp("198.51.100.2", 1)).id;
  EXPECT_EQ(table.find(learned), nullptr);
  EXPECT_NE(table.find(newer), nullptr);
  EXPECT_EQ(table.size(), 3u);
}

TEST(PathTable, IdsAreNeverReusedUnderChurn) {
  PathTable table(16);
  std::set<PathId> seen;
  PathId last = kNoPath;
  for (int round = 0; round < 5; ++round) {
    for (std::uint16_t port = 1; port <= 100; ++port) {
      // 100 addresses cycle through 16 slots: each is evicted before it comes back.
      const PathId id = table.intern(udp("192.0.2.1", port)).id;
      EXPECT_GT(id, last);
      EXPECT_TRUE(seen.insert(id).second);
      last = id;
    }
  }
  EXPECT_EQ(seen.size(), 500u);
  EXPECT_EQ(table.size(), 16u);
  EXPECT_EQ(table.evicted(), 500u - 16u);
}

TEST(PathTable, ZeroLimitKeepsOne) {
  PathTable table(0);
  EXPECT_EQ(table.limit(), 1u);
  const PathId id = table.intern(udp("192.0.2.1", 1)).id;
  EXPECT_NE(table.find(id), nullptr);
}

}  // namespace
}  // namespace e3x::net
