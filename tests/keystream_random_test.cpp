// KeystreamRandom (core/keystream_random.hpp): the daemon's nonce source. It cannot be
// checked against known answers (it is keyed from the OS), so the tests check what a nonce
// source must never do: repeat, hand out the bytes it keeps as its next key, show bias a
// simple count finds, or stop re-keying from the OS.
#include "core/keystream_random.hpp"

#include <array>
#include <cstring>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace e3x {
namespace {

TEST(KeystreamRandom, NoncesNeverRepeatAcrossRefills) {
  KeystreamRandom random;
  std::set<std::array<std::uint8_t, 24>> seen;
  // 200,000 nonces of 24 bytes: over 4,000 refills, across several re-keyings.
  for (int i = 0; i < 200'000; ++i) {
    std::array<std::uint8_t, 24> nonce{};
    random.fill(nonce);
    ASSERT_TRUE(seen.insert(nonce).second) << "nonce " << i << " repeated";
  }
  EXPECT_GE(random.reseeds(), 3u);
}

TEST(KeystreamRandom, TwoInstancesDoNotShareAStream) {
  KeystreamRandom a, b;
  std::array<std::uint8_t, 32> from_a{}, from_b{};
  a.fill(from_a);
  b.fill(from_b);
  EXPECT_NE(from_a, from_b);
}

// Odd-sized reads straddle the buffer's end: every byte still comes out once, and the output
// of a run of small reads is as varied as one large read (no run of zeroes where a wiped byte
// was handed out again, no repeat of a block).
TEST(KeystreamRandom, ReadsAcrossBufferEndsAreFresh) {
  KeystreamRandom random;
  std::vector<std::uint8_t> out(3 * KeystreamRandom::kBufferSize + 17);
  std::size_t at = 0;
  for (std::size_t size = 1; at < out.size(); size = size % 97 + 1) {
    const std::size_t take = std::min(size, out.size() - at);
    random.fill(std::span<std::uint8_t>(out.data() + at, take));
    at += take;
  }
  // No 16-byte window repeats and none is all zero.
  std::set<std::vector<std::uint8_t>> windows;
  for (std::size_t i = 0; i + 16 <= out.size(); i += 16) {
    std::vector<std::uint8_t> window(out.begin() + static_cast<std::ptrdiff_t>(i),
                                     out.begin() + static_cast<std::ptrdiff_t>(i + 16));
    EXPECT_NE(window, std::vector<std::uint8_t>(16, 0)) << "at " << i;
    EXPECT_TRUE(windows.insert(window).second) << "repeated at " << i;
  }
}

// Byte frequencies over 4 MiB: each of 256 values expected 16,384 times; a chi-square with
// 255 degrees of freedom above 400 has a probability under 1e-8 for a uniform source.
TEST(KeystreamRandom, BytesAreUniform) {
  KeystreamRandom random;
  std::array<std::uint64_t, 256> counts{};
  std::vector<std::uint8_t> block(4096);
  for (int i = 0; i < 1024; ++i) {
    random.fill(block);
    for (std::uint8_t byte : block) ++counts[byte];
  }
  const double expected = 4.0 * 1024 * 1024 / 256;
  double chi_square = 0;
  for (std::uint64_t count : counts) {
    const double d = static_cast<double>(count) - expected;
    chi_square += d * d / expected;
  }
  EXPECT_LT(chi_square, 400.0);
}

TEST(KeystreamRandom, ReseedsFromTheOsAsItGoes) {
  KeystreamRandom random;
  std::vector<std::uint8_t> block(KeystreamRandom::kReseedAfterBytes);
  random.fill(block);
  EXPECT_EQ(random.reseeds(), 0u);
  random.fill(block);  // the refill after the first MiB re-keys
  EXPECT_EQ(random.reseeds(), 1u);
}

}  // namespace
}  // namespace e3x
