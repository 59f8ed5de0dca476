// How much a stream reads from its local socket at a time (daemon/modules/services/stream.*):
// a whole number of channel packets, so that a read that fills the buffer leaves no short
// packet behind (a bulk stream lost 0.6% of the path to them, issue 13).
#include <gtest/gtest.h>

#include "daemon/modules/services/stream.hpp"

namespace e3x::daemon {
namespace {

constexpr std::size_t kAbout = 64 * 1024;

TEST(StreamReadSize, IsAWholeNumberOfPacketsOfAbout64KiB) {
  // A stream packet's body at most: 1,400 bytes of INNER less its head; acks owed take more.
  for (std::size_t body :
       {std::size_t{1374}, std::size_t{1342}, std::size_t{1000}, std::size_t{1}}) {
    const std::size_t size = local_read_size(body);
    EXPECT_EQ(size % body, 0u) << body;
    EXPECT_LE(size, kAbout) << body;
    EXPECT_GT(size + body, kAbout) << body;  // no smaller than it must be
  }
  EXPECT_EQ(local_read_size(1374), 47u * 1374);
}

TEST(StreamReadSize, FallsBackTo64KiBWithoutAUsableQuota) {
  EXPECT_EQ(local_read_size(0), kAbout);  // the channel is gone
  EXPECT_EQ(local_read_size(kAbout + 1), kAbout);
  EXPECT_EQ(local_read_size(kAbout), kAbout);
}

}  // namespace
}  // namespace e3x::daemon
