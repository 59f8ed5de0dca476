#include "core/replay_window.hpp"

#include <cstring>

#include <gtest/gtest.h>

#include "core/random.hpp"

namespace e3x {
namespace {

ChannelNonce nonce_from(Random& random) {
  ChannelNonce nonce;
  random.fill(nonce);
  return nonce;
}

TEST(ReplayWindow, RemembersAcceptedNonces) {
  SeededRandom random(1);
  ReplayWindow window;
  const auto a = nonce_from(random);
  const auto b = nonce_from(random);
  EXPECT_FALSE(window.seen(a));
  window.remember(a);
  EXPECT_TRUE(window.seen(a));
  EXPECT_FALSE(window.seen(b));
}

TEST(ReplayWindow, KeepsAtLeastTheLast4096) {
  SeededRandom random(2);
  ReplayWindow window;
  std::vector<ChannelNonce> nonces;
  for (int i = 0; i < 20000; ++i) {
    nonces.push_back(nonce_from(random));
    window.remember(nonces.back());
    // Every one of the last 4096 accepted nonces is still recognised.
    if (i % 997 == 0 || i == 19999) {
      const std::size_t from = nonces.size() > 4096 ? nonces.size() - 4096 : 0;
      for (std::size_t j = from; j < nonces.size(); ++j) {
        ASSERT_TRUE(window.seen(nonces[j])) << "nonce " << j << " forgotten at " << i;
      }
    }
  }
  // Memory stays bounded: very old nonces are forgotten (at most two generations kept).
  EXPECT_FALSE(window.seen(nonces[0]));
}

TEST(ReplayWindow, MemoryFollowsUse) {
  ReplayWindow window;
  EXPECT_EQ(window.memory_bytes(), 0u) << "an idle exchange takes no table";
  ChannelNonce nonce{};
  for (std::uint32_t i = 1; i <= 3; ++i) {
    std::memcpy(nonce.data(), &i, sizeof i);
    window.remember(nonce);
  }
  EXPECT_LE(window.memory_bytes(), 256u) << "a path probe's few packets take little";
  for (std::uint32_t i = 4; i <= 3 * ReplayWindow::kGeneration; ++i) {
    std::memcpy(nonce.data(), &i, sizeof i);
    window.remember(nonce);
  }
  EXPECT_LE(window.memory_bytes(), 2 * 2 * ReplayWindow::kGeneration * sizeof(std::uint64_t));
  // Growth kept every nonce of the last generation.
  for (std::uint32_t i = 2 * ReplayWindow::kGeneration + 1; i <= 3 * ReplayWindow::kGeneration;
       ++i) {
    std::memcpy(nonce.data(), &i, sizeof i);
    EXPECT_TRUE(window.seen(nonce)) << i;
  }
}

TEST(ReplayWindow, ZeroNonceIsHandled) {
  ReplayWindow window;
  ChannelNonce zero{};
  EXPECT_FALSE(window.seen(zero));
  window.remember(zero);
  EXPECT_TRUE(window.seen(zero));
}

TEST(ReplayWindow, ClearForgetsEverything) {
  SeededRandom random(3);
  ReplayWindow window;
  const auto a = nonce_from(random);
  window.remember(a);
  window.clear();
  EXPECT_FALSE(window.seen(a));
}

}  // namespace
}  // namespace e3x
