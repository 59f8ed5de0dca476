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
  const auto pieces = cut_into_pieces(packet, 1000, 500);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_TRUE(std::equal(pieces[0].begin(), pieces[0].end(), packet.begin(), packet.end()));
}

TEST(PacketPieces, CutAndAssembledGivesTheSameBytes) {
  for (const std::size_t size : {1001u, 1500u, 2000u, 65536u}) {
    const Bytes packet = counting(size);
    const auto pieces = cut_into_pieces(packet, 1000, 500);
    EXPECT_EQ(pieces.front().size(), 1000u);
    for (std::size_t i = 1; i + 1 < pieces.size(); ++i) EXPECT_EQ(pieces[i].size(), 500u);
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
  EXPECT_EQ(assembler.add(piece, false), PieceAssembler::Step::kComplete);
  EXPECT_EQ(assembler.take(), piece);
}

TEST(PacketPieces, MoreIsOnlyTrueWhenItSaysSo) {
  EXPECT_TRUE(has_more({{"more", true}}));
  EXPECT_FALSE(has_more({{"more", false}}));
  EXPECT_FALSE(has_more({{"more", 1}}));
  EXPECT_FALSE(has_more({}));
}

}  // namespace
}  // namespace e3x::daemon
