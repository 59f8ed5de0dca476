// The handshake rate limiter: per-address and global token buckets, bounded table.
#include "daemon/host/handshake_limiter.hpp"

#include <gtest/gtest.h>

namespace e3x::daemon {
namespace {

using boost::asio::ip::make_address;

const Instant kStart = Instant{} + seconds(1000);

int admitted_of(HandshakeLimiter& limiter, Instant now, const boost::asio::ip::address& ip,
                int tries) {
  int admitted = 0;
  for (int i = 0; i < tries; ++i) admitted += limiter.admit(now, ip) ? 1 : 0;
  return admitted;
}

TEST(HandshakeLimiter, OneAddressGetsItsBurstThenItsRate) {
  HandshakeLimiter limiter;  // defaults: 20/s, burst 40
  const auto ip = make_address("192.0.2.7");
  EXPECT_EQ(admitted_of(limiter, kStart, ip, 100), 40);
  EXPECT_EQ(limiter.refused(), 60u);
  // 20 per second refill: 1 s later, 20 more; never more than the burst.
  EXPECT_EQ(admitted_of(limiter, kStart + seconds(1), ip, 100), 20);
  EXPECT_EQ(admitted_of(limiter, kStart + milliseconds(1050), ip, 100), 1);
  EXPECT_EQ(admitted_of(limiter, kStart + seconds(60), ip, 100), 40);
}

TEST(HandshakeLimiter, AddressesAreLimitedIndependently) {
  HandshakeLimiter limiter;
  EXPECT_EQ(admitted_of(limiter, kStart, make_address("192.0.2.7"), 100), 40);
  EXPECT_EQ(admitted_of(limiter, kStart, make_address("192.0.2.8"), 100), 40);
  EXPECT_EQ(limiter.tracked_addresses(), 2u);
}

TEST(HandshakeLimiter, Ipv6SharesOneBucketPerSlash64) {
  HandshakeLimiter limiter;
  EXPECT_EQ(admitted_of(limiter, kStart, make_address("2001:db8:1:2::1"), 30), 30);
  EXPECT_EQ(admitted_of(limiter, kStart, make_address("2001:db8:1:2:ffff::9"), 30), 10);
  EXPECT_EQ(admitted_of(limiter, kStart, make_address("2001:db8:1:3::1"), 30), 30);
  EXPECT_EQ(limiter.tracked_addresses(), 2u);
}

TEST(HandshakeLimiter, GlobalCapBoundsWorkAcrossManyAddresses) {
  HandshakeLimiter limiter(HandshakeLimits{.per_address_rate = 20,
                                           .per_address_burst = 40,
                                           .global_rate = 100,
                                           .global_burst = 50,
                                           .max_addresses = 65536});
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto ip = boost::asio::ip::address_v4(0x0a000000u + static_cast<unsigned>(i));
    admitted += limiter.admit(kStart, ip) ? 1 : 0;
  }
  EXPECT_EQ(admitted, 50);  // the global burst
  // 10 s more of 1000 addresses asking every 0.5 s (the global bucket holds 0.5 s of
  // tokens): the burst + 10 s x 100/s, however many addresses ask.
  for (int step = 1; step <= 20; ++step) {
    for (int i = 0; i < 1000; ++i) {
      const auto ip = boost::asio::ip::address_v4(0x0b000000u + static_cast<unsigned>(i));
      admitted += limiter.admit(kStart + milliseconds(500 * step), ip) ? 1 : 0;
    }
  }
  EXPECT_EQ(admitted, 50 + 10 * 100);
  EXPECT_TRUE(limiter.admit_global(kStart + seconds(20)));
}

TEST(HandshakeLimiter, ARefusedAddressDoesNotDrainTheGlobalBucket) {
  HandshakeLimiter limiter(HandshakeLimits{.per_address_rate = 1,
                                           .per_address_burst = 1,
                                           .global_rate = 1,
                                           .global_burst = 2,
                                           .max_addresses = 16});
  const auto flooder = make_address("198.51.100.1");
  EXPECT_EQ(admitted_of(limiter, kStart, flooder, 1000), 1);
  EXPECT_TRUE(limiter.admit(kStart, make_address("198.51.100.2")));
}

TEST(HandshakeLimiter, TheTableIsBoundedAndEvictsTheLeastRecentlySeen) {
  HandshakeLimiter limiter(HandshakeLimits{.per_address_rate = 1,
                                           .per_address_burst = 1,
                                           .global_rate = 1e9,
                                           .global_burst = 1e9,
                                           .max_addresses = 4});
  const auto first = make_address("203.0.113.1");
  EXPECT_TRUE(limiter.admit(kStart, first));
  EXPECT_FALSE(limiter.admit(kStart, first));  // its bucket is empty and remembered
  for (int i = 2; i <= 100; ++i) {
    limiter.admit(kStart, boost::asio::ip::address_v4(0xcb007100u + static_cast<unsigned>(i)));
    EXPECT_LE(limiter.tracked_addresses(), 4u);
  }
  // Evicted, so it starts over with a full bucket (the global bucket still bounds this).
  EXPECT_TRUE(limiter.admit(kStart, first));
}

TEST(HandshakeLimiter, IdleAddressesAreForgotten) {
  HandshakeLimiter limiter;
  for (unsigned i = 0; i < 100; ++i) limiter.admit(kStart, boost::asio::ip::address_v4(i + 1));
  EXPECT_EQ(limiter.tracked_addresses(), 100u);
  // Two seconds refill any bucket from empty to its burst: such entries are dropped when the
  // next new address arrives.
  limiter.admit(kStart + seconds(3), make_address("192.0.2.99"));
  EXPECT_EQ(limiter.tracked_addresses(), 1u);
}

}  // namespace
}  // namespace e3x::daemon
