// daemon/modules/mailbox/packet_pieces.hpp: a sealed packet cut to fit channel packets and
// put back together, with the assembler's bound.
#include <gtest/gtest.h>

#include "core/channel.hpp"
#include "core/lob.hpp"
#include "daemon/modules/mailbox/packet_pieces.hpp"

namespace e3x::daemon {
namespace {

Bytes counting(std::size_t size) {
  Bytes bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(i * 7);
  return bytes;
}

TEST(PacketPieces, OpenRoomLeavesTheOpenPacketWithinTheChannelLimit) {
  const boost::json::object extra{{"to", std::string(52, 'a')}, {"expires", 1796429025}};
  const std::size_t room = open_body_room("deposit", extra);
  boost::json::object head = extra;
  head["c"] = 0xffffffffu;
  head["type"] = "deposit";
  head["seq"] = 1;
  EXPECT_EQ(lob_encode(head, counting(room)).size(), kMaxChannelInner);
  boost::json::object more = extra;
  more["more"] = true;
  EXPECT_EQ(open_body_room("deposit", more), room - kMoreKeyBytes);
}

TEST(PacketPieces, APacketThatFitsIsOnePiece) {
  const Bytes packet = counting(900);
  const auto pieces = cut_to_quota(packet, 1000);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_TRUE(std::equal(pieces[0].begin(), pieces[0].end(), packet.begin(), packet.end()));
}

TEST(PacketPieces, CutAndAssembledGivesTheSameBytes) {
  for (const std::size_t size : {1001u, 1500u, 2000u, 65536u}) {
    const Bytes packet = counting(size);
    const auto pieces = cut_to_quota(packet, 1000);
    for (std::size_t i = 0; i + 1 < pieces.size(); ++i) {
      EXPECT_EQ(pieces[i].size(), 1000u - kMoreKeyBytes);
    }
    PieceAssembler assembler;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      const bool more = i + 1 < pieces.size();
      EXPECT_EQ(assembler.add(pieces[i], more),
                more ? PieceAssembler::Step::kMore : PieceAssembler::Step::kComplete);
    }
    EXPECT_EQ(assembler.take(), packet) << size;
    EXPECT_TRUE(assembler.empty());
  }
}

// The mailbox checks its send capacity with pieces_for_quota and then sends cut_to_quota's
// pieces. They used to disagree for a packet of quota - 11 to quota bytes (counted as one
// packet, cut into two since the first piece needs room for "more"), so with a capacity of
// exactly one the second piece failed and the pickup was taken for a lost channel halfway
// through a packet: the recipient glued the next packet onto the half and dropped both.
TEST(PacketPieces, TheCountOfPiecesIsWhatIsCutAtEveryQuota) {
  for (const std::size_t quota : {kMoreKeyBytes + 1, std::size_t{100}, std::size_t{1374}}) {
    for (std::size_t size = 0; size <= 3 * quota + 2 * kMoreKeyBytes; ++size) {
      const Bytes packet = counting(size);
      const auto pieces = cut_to_quota(packet, quota);
      ASSERT_EQ(pieces.size(), pieces_for_quota(size, quota)) << size << " bytes, quota " << quota;
      std::size_t at = 0;
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        const bool last = i + 1 == pieces.size();
        // Each piece fits its channel packet: with "more" (kMoreKeyBytes) or without.
        if (last) {
          EXPECT_LE(pieces[i].size(), quota);
        } else {
          EXPECT_EQ(pieces[i].size(), quota - kMoreKeyBytes);
        }
        EXPECT_EQ(pieces[i].data(), packet.data() + at);
        at += pieces[i].size();
      }
      EXPECT_EQ(at, size);
    }
  }
  EXPECT_EQ(pieces_for_quota(1374, 1374), 1u);  // fits: no "more", no second packet
  EXPECT_EQ(pieces_for_quota(1370, 1374), 1u);
  EXPECT_EQ(pieces_for_quota(1375, 1374), 2u);
}

TEST(PacketPieces, TheAssemblerRefusesMoreThanItsBoundAndForgetsIt) {
  PieceAssembler assembler;
  const Bytes piece = counting(1000);
  std::size_t added = 0;
  PieceAssembler::Step step = PieceAssembler::Step::kMore;
  while (step == PieceAssembler::Step::kMore) {
    step = assembler.add(piece, true);
    added += piece.size();
    ASSERT_LE(added, kMaxPiecedPacket + piece.size());
  }
  EXPECT_EQ(step, PieceAssembler::Step::kTooLarge);
  EXPECT_TRUE(assembler.empty());
  // The rest of the refused packet, up to its last piece, is not the start of the next one.
  EXPECT_EQ(assembler.add(piece, true), PieceAssembler::Step::kDiscarded);
  EXPECT_EQ(assembler.add(piece, false), PieceAssembler::Step::kDiscarded);
  EXPECT_TRUE(assembler.empty());
  const Bytes next = counting(300);
  EXPECT_EQ(assembler.add(next, false), PieceAssembler::Step::kComplete);
  EXPECT_EQ(assembler.take(), next);
}

// A refusal at a packet's last piece leaves nothing to discard: the next piece starts a packet.
TEST(PacketPieces, ARefusalAtTheLastPieceDiscardsNothingAfter) {
  PieceAssembler assembler;
  EXPECT_EQ(assembler.add(counting(kMaxPiecedPacket), true), PieceAssembler::Step::kMore);
  EXPECT_EQ(assembler.add(counting(1), false), PieceAssembler::Step::kTooLarge);
  const Bytes next = counting(10);
  EXPECT_EQ(assembler.add(next, true), PieceAssembler::Step::kMore);
  EXPECT_EQ(assembler.add(next, false), PieceAssembler::Step::kComplete);
  Bytes both = next;
  both.insert(both.end(), next.begin(), next.end());
  EXPECT_EQ(assembler.take(), both);
}

TEST(PacketPieces, MoreIsOnlyTrueWhenItSaysSo) {
  EXPECT_TRUE(has_more({{"more", true}}));
  EXPECT_FALSE(has_more({{"more", false}}));
  EXPECT_FALSE(has_more({{"more", 1}}));
  EXPECT_FALSE(has_more({}));
}

}  // namespace
}  // namespace e3x::daemon
