// Refused senders are logged at most once per source address per minute, in a bounded table
// (daemon/host/refusal_log.hpp).
#include "daemon/host/refusal_log.hpp"

#include <string>

#include <gtest/gtest.h>

namespace e3x::daemon {
namespace {

const Instant kStart{};

TEST(RefusalLog, OncePerSourcePerMinute) {
  RefusalLog log;
  EXPECT_TRUE(log.should_log("192.0.2.7", kStart));
  EXPECT_FALSE(log.should_log("192.0.2.7", kStart + seconds(1)));
  EXPECT_FALSE(log.should_log("192.0.2.7", kStart + seconds(59)));
  // Another source is logged on its own.
  EXPECT_TRUE(log.should_log("198.51.100.4", kStart + seconds(30)));
  EXPECT_TRUE(log.should_log("192.0.2.7", kStart + seconds(60)));
  EXPECT_FALSE(log.should_log("192.0.2.7", kStart + seconds(61)));
  EXPECT_FALSE(log.should_log("198.51.100.4", kStart + seconds(60)));
  EXPECT_TRUE(log.should_log("198.51.100.4", kStart + seconds(90)));
}

TEST(RefusalLog, TheTableIsBoundedUnderAFloodOfSources) {
  RefusalLog log;
  for (std::size_t i = 0; i < RefusalLog::kMaxSources; ++i) {
    EXPECT_TRUE(log.should_log("10.0." + std::to_string(i), kStart + seconds(1)));
  }
  // Full of sources logged within the minute: a new one is not logged, and not remembered.
  for (int i = 0; i < 5000; ++i) {
    EXPECT_FALSE(log.should_log("172.16." + std::to_string(i), kStart + seconds(2)));
  }
  EXPECT_EQ(log.sources(), RefusalLog::kMaxSources);
  EXPECT_EQ(log.unlogged_for_space(), 5000u);
  // A minute later the old entries make room: new sources are logged again.
  EXPECT_TRUE(log.should_log("172.16.0", kStart + seconds(61)));
  EXPECT_EQ(log.sources(), 1u);
}

}  // namespace
}  // namespace e3x::daemon
