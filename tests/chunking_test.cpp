#include "transports/chunking.hpp"

#include <stdexcept>

#include "core/random.hpp"
#include "gtest/gtest.h"

namespace e3x {
namespace {

Bytes sequence(std::size_t size) {
  Bytes bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(i);
  return bytes;
}

TEST(Chunking, SpecExampleWithChunkSizeFive) {
  const Bytes packet = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const Bytes expected = {4, 0, 1, 2, 3, 4, 4, 5, 6, 7, 2, 8, 9, 0};
  EXPECT_EQ(chunk_encode(packet, 5), expected);

  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  EXPECT_EQ(decoder.feed(expected, packets), ChunkDecoder::Status::kOk);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0], packet);
}

TEST(Chunking, DefaultSizeUsesFragmentsOf255) {
  const Bytes packet = sequence(600);
  const Bytes stream = chunk_encode(packet);
  ASSERT_EQ(stream.size(), 600u + 3 + 1);
  EXPECT_EQ(stream[0], 255);
  EXPECT_EQ(stream[256], 255);
  EXPECT_EQ(stream[512], 90);
  EXPECT_EQ(stream.back(), 0);
}

TEST(Chunking, ChunkSizeBounds) {
  EXPECT_THROW(chunk_encode(sequence(3), 1), std::invalid_argument);
  EXPECT_THROW(chunk_encode(sequence(3), 257), std::invalid_argument);
  EXPECT_EQ(chunk_encode(Bytes{7, 8}, 2), (Bytes{1, 7, 1, 8, 0}));
}

TEST(Chunking, LoneZeroAcksAreIgnored) {
  const Bytes packet = {0x00, 0x00, 0xaa};
  Bytes stream = {0, 0, 0};
  append(stream, chunk_encode(packet));
  append(stream, Bytes{0, 0});
  append(stream, chunk_encode(packet));
  stream.push_back(0);

  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  EXPECT_EQ(decoder.feed(stream, packets), ChunkDecoder::Status::kOk);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0], packet);
  EXPECT_EQ(packets[1], packet);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(Chunking, ByteByByteFeeding) {
  const Bytes first = sequence(700);
  const Bytes second = sequence(3);
  Bytes stream = chunk_encode(first, 100);
  const std::size_t first_end = stream.size();  // index just past the first terminator
  append(stream, chunk_encode(second, 100));

  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ASSERT_EQ(decoder.feed(ByteView(stream).subspan(i, 1), packets), ChunkDecoder::Status::kOk);
    // A packet is delivered exactly when its terminator arrives, not before.
    const std::size_t expected = i + 1 < first_end ? 0 : i + 1 < stream.size() ? 1 : 2;
    ASSERT_EQ(packets.size(), expected) << "after byte " << i;
  }
  EXPECT_EQ(packets[0], first);
  EXPECT_EQ(packets[1], second);
}

TEST(Chunking, ArbitrarySplitsGiveTheSamePackets) {
  SeededRandom random(6);
  std::vector<Bytes> sent;
  Bytes stream;
  for (int i = 0; i < 20; ++i) {
    Bytes packet(1 + random.uniform(2000));
    random.fill(packet);
    append(stream, chunk_encode(packet, 2 + random.uniform(255)));
    sent.push_back(std::move(packet));
  }
  ChunkDecoder decoder;
  std::vector<Bytes> received;
  std::size_t offset = 0;
  while (offset < stream.size()) {
    const std::size_t take = std::min<std::size_t>(1 + random.uniform(300), stream.size() - offset);
    ASSERT_EQ(decoder.feed(ByteView(stream).subspan(offset, take), received),
              ChunkDecoder::Status::kOk);
    offset += take;
  }
  EXPECT_EQ(received, sent);
}

TEST(Chunking, BufferedCountsTheUnterminatedPacket) {
  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  EXPECT_EQ(decoder.feed(Bytes{3, 1, 2}, packets), ChunkDecoder::Status::kOk);
  EXPECT_EQ(decoder.buffered(), 2u);
  EXPECT_EQ(decoder.feed(Bytes{3, 0}, packets), ChunkDecoder::Status::kOk);
  EXPECT_EQ(decoder.buffered(), 0u);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0], (Bytes{1, 2, 3}));
}

TEST(Chunking, ExactlyTheLimitIsAccepted) {
  const Bytes packet = sequence(kMaxChunkedPacket);
  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  EXPECT_EQ(decoder.feed(chunk_encode(packet), packets), ChunkDecoder::Status::kOk);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0], packet);
}

TEST(Chunking, OversizeFramePoisonsTheDecoder) {
  const Bytes stream = chunk_encode(sequence(kMaxChunkedPacket + 1));
  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  EXPECT_EQ(decoder.feed(stream, packets), ChunkDecoder::Status::kFrameTooLarge);
  EXPECT_TRUE(packets.empty());
  EXPECT_EQ(decoder.buffered(), 0u);
  // Once poisoned, even a valid packet is ignored.
  EXPECT_EQ(decoder.feed(chunk_encode(Bytes{0, 0, 1}), packets),
            ChunkDecoder::Status::kFrameTooLarge);
  EXPECT_TRUE(packets.empty());
}

TEST(Chunking, OversizeDetectedWhileFeedingInPieces) {
  // A peer that never terminates: fragments keep coming until the limit is crossed.
  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  Bytes fragment = {255};
  append(fragment, Bytes(255, 0x61));
  ChunkDecoder::Status status = ChunkDecoder::Status::kOk;
  std::size_t fed = 0;
  while (status == ChunkDecoder::Status::kOk && fed < 2 * kMaxChunkedPacket) {
    status = decoder.feed(fragment, packets);
    fed += 255;
    EXPECT_LE(decoder.buffered(), kMaxChunkedPacket);
  }
  EXPECT_EQ(status, ChunkDecoder::Status::kFrameTooLarge);
  EXPECT_GT(fed, kMaxChunkedPacket);
  EXPECT_TRUE(packets.empty());
}

}  // namespace
}  // namespace e3x
