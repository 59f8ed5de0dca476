#include "core/random.hpp"

#include <array>
#include <vector>

#include "core/sha256.hpp"
#include "gtest/gtest.h"

namespace e3x {
namespace {

Bytes draw(Random& random, std::size_t size) {
  Bytes out(size);
  random.fill(out);
  return out;
}

TEST(Random, SeededIsDeterministic) {
  SeededRandom first(12345);
  SeededRandom second(12345);
  EXPECT_EQ(draw(first, 1000), draw(second, 1000));
}

TEST(Random, DifferentSeedsDiffer) {
  SeededRandom a(1);
  SeededRandom b(2);
  SeededRandom c(1ull << 32);  // the high half of the seed matters too
  const Bytes from_a = draw(a, 64);
  EXPECT_NE(from_a, draw(b, 64));
  EXPECT_NE(from_a, draw(c, 64));
}

TEST(Random, MatchesTheDocumentedConstruction) {
  // Key = SHA256(seed as 8 bytes little-endian); block i = ChaCha20 keystream under the
  // 8-byte little-endian nonce i.
  const std::uint64_t seed = 0x0102030405060708ull;
  const std::uint8_t seed_bytes[8] = {8, 7, 6, 5, 4, 3, 2, 1};
  const Digest key = sha256(ByteView(seed_bytes));
  Bytes expected;
  for (std::uint8_t block = 0; block < 3; ++block) {
    const std::uint8_t nonce[8] = {block, 0, 0, 0, 0, 0, 0, 0};
    std::uint8_t keystream[64];
    crypto_stream_chacha20(keystream, sizeof keystream, nonce, key.data());
    append(expected, keystream);
  }
  SeededRandom random(seed);
  EXPECT_EQ(draw(random, 192), expected);
}

TEST(Random, OutputIsAPureStream) {
  SeededRandom whole(99);
  const Bytes all = draw(whole, 300);
  // Any way of cutting the same stream gives the same bytes, across block boundaries.
  for (std::vector<std::size_t> cuts : {std::vector<std::size_t>{3, 5, 292},
                                        {64, 64, 172},
                                        {63, 2, 235},
                                        {1, 1, 1, 297},
                                        {0, 128, 0, 172},
                                        {200, 100}}) {
    SeededRandom pieces(99);
    Bytes joined;
    for (std::size_t cut : cuts) append(joined, draw(pieces, cut));
    EXPECT_EQ(joined, all);
  }
}

TEST(Random, NextU32ComesFromTheStream) {
  SeededRandom bytes(5);
  SeededRandom words(5);
  const Bytes first = draw(bytes, 4);
  EXPECT_EQ(words.next_u32(), read_u32_be(first));
}

TEST(Random, UniformStaysInBounds) {
  SeededRandom random(8);
  for (std::uint32_t bound : {1u, 2u, 3u, 7u, 10u, 1000u, 0x80000001u, 0xffffffffu}) {
    for (int i = 0; i < 2000; ++i) ASSERT_LT(random.uniform(bound), bound) << "bound " << bound;
  }
}

TEST(Random, UniformCoversSmallRangeEvenly) {
  SeededRandom random(9);
  std::array<int, 6> counts{};
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) ++counts[random.uniform(6)];
  for (int count : counts) {
    // Expected 10000 each; 5 standard deviations is about +-456.
    EXPECT_NEAR(count, draws / 6, 500);
  }
}

TEST(Random, UniformRejectsTheBiasedTop) {
  // With bound 3 * 2^30, plain modulo maps both [0, 2^30) and [3 * 2^30, 2^32) onto
  // [0, 2^30), so that range would come up half the time instead of a third.
  SeededRandom random(10);
  const std::uint32_t bound = 0xc0000000u;
  int low_third = 0;
  const int draws = 30000;
  for (int i = 0; i < draws; ++i) low_third += random.uniform(bound) < 0x40000000u ? 1 : 0;
  EXPECT_NEAR(low_third, draws / 3, 500);  // plain modulo would give about 15000
}

TEST(Random, SodiumRandomFillsAndVaries) {
  SodiumRandom random;
  const Bytes a = draw(random, 32);
  const Bytes b = draw(random, 32);
  EXPECT_NE(a, b);
  EXPECT_NE(a, Bytes(32, 0));
  Bytes empty;
  random.fill(empty);  // a zero-length fill is allowed
}

}  // namespace
}  // namespace e3x
