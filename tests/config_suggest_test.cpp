// The "did you mean" rule the configuration's unknown keys and e3xctl's unknown commands share
// (config/suggest.hpp).
#include <gtest/gtest.h>

#include "config/suggest.hpp"

namespace e3x::config {
namespace {

TEST(Suggest, EditDistanceCountsASwapOfNeighboursAsOneEdit) {
  EXPECT_EQ(edit_distance("status", "status"), 0u);
  EXPECT_EQ(edit_distance("stauts", "status"), 1u);  // "ut" <-> "tu"
  EXPECT_EQ(edit_distance("keepalve", "keepalive"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("ping", "peers"), 4u);
}

TEST(Suggest, TheNearestWithinTwoEdits) {
  const std::vector<std::string_view> commands = {"status", "peers", "peer", "ping", "inbox"};
  EXPECT_EQ(did_you_mean("stauts", commands), "status");
  EXPECT_EQ(did_you_mean("inbx", commands), "inbox");
  EXPECT_EQ(did_you_mean("peerz", commands), "peers");  // one edit from both: the first
  EXPECT_EQ(did_you_mean("peer", commands), "peer");    // nearest wins over the first
  EXPECT_EQ(did_you_mean("xyzzy", commands), std::nullopt);
  EXPECT_EQ(did_you_mean("pi", commands), std::nullopt);  // too short to guess
  EXPECT_EQ(did_you_mean("stat", std::vector<std::string_view>{}), std::nullopt);
}

}  // namespace
}  // namespace e3x::config
