// Congestion control of a path (PROTOCOL.md section 13): NewReno and CUBIC, the pacer, and
// PathControl's accounting of bytes in flight, recovery and pacing.
#include <chrono>
#include <cmath>

#include <gtest/gtest.h>

#include "core/congestion.hpp"
#include "core/pacer.hpp"
#include "core/path_control.hpp"

namespace e3x {
namespace {

constexpr std::size_t kMss = kCongestionMss;

Instant at_ms(std::int64_t ms) {
  return Instant{} + milliseconds(ms);
}

RttEstimator rtt_of(Duration rtt) {
  RttEstimator estimator;
  estimator.on_sample(rtt);
  return estimator;
}

// Acknowledges one window's worth, packet by packet, of packets sent one RTT before `now`.
void ack_window(CongestionController& cc, Instant now, const RttEstimator& rtt) {
  const std::size_t packets = cc.window() / kMss;
  for (std::size_t i = 0; i < packets; ++i) cc.on_ack(now, now - rtt.smoothed(), kMss, rtt, true);
}

TEST(NewReno, SlowStartDoublesPerWindowAndAvoidanceAddsOneMss) {
  NewReno cc({});
  const auto rtt = rtt_of(milliseconds(100));
  EXPECT_EQ(cc.window(), 10 * kMss);  // RFC 9002: 10 packets
  EXPECT_TRUE(cc.in_slow_start());
  ack_window(cc, at_ms(100), rtt);
  EXPECT_EQ(cc.window(), 20 * kMss);
  // A sender that does not use its window earns nothing.
  cc.on_ack(at_ms(150), at_ms(50), kMss, rtt, false);
  EXPECT_EQ(cc.window(), 20 * kMss);
  // A congestion event halves it, once per round trip: losses of packets sent before the
  // recovery began belong to the same event.
  EXPECT_TRUE(cc.on_congestion_event(at_ms(200), at_ms(100), false));
  EXPECT_EQ(cc.window(), 10 * kMss);
  EXPECT_FALSE(cc.in_slow_start());
  EXPECT_FALSE(cc.on_congestion_event(at_ms(210), at_ms(150), false));
  EXPECT_EQ(cc.window(), 10 * kMss);
  // Acks of packets sent before the recovery do not grow the window...
  cc.on_ack(at_ms(220), at_ms(190), kMss, rtt, true);
  EXPECT_EQ(cc.window(), 10 * kMss);
  // ... those sent after it do, by one MSS per window acknowledged.
  for (int i = 0; i < 9; ++i) cc.on_ack(at_ms(320), at_ms(220), kMss, rtt, true);
  EXPECT_EQ(cc.window(), 10 * kMss);
  cc.on_ack(at_ms(320), at_ms(220), kMss, rtt, true);
  EXPECT_EQ(cc.window(), 11 * kMss);
  // A new event (a packet sent after the recovery began) halves again, never below 2 MSS.
  EXPECT_TRUE(cc.on_congestion_event(at_ms(400), at_ms(300), false));
  EXPECT_EQ(cc.window(), 11 * kMss / 2);
  for (int i = 0; i < 10; ++i)
    cc.on_congestion_event(at_ms(500 + 100 * i), at_ms(450 + 100 * i), false);
  EXPECT_EQ(cc.window(), 2 * kMss);
  // Persistent congestion collapses the window at once.
  ack_window(cc, at_ms(2000), rtt);
  cc.on_congestion_event(at_ms(2100), at_ms(1000), true);
  EXPECT_EQ(cc.window(), 2 * kMss);
}

TEST(Cubic, ReducesByBetaAndReturnsToTheOldMaximumAfterK) {
  Cubic cc({});
  const auto rtt = rtt_of(milliseconds(100));
  Instant now = at_ms(0);
  while (cc.window() < 100 * kMss) {
    now += milliseconds(100);
    ack_window(cc, now, rtt);
  }
  const double w_max = static_cast<double>(cc.window());
  EXPECT_TRUE(cc.on_congestion_event(now, now - milliseconds(50), false));
  EXPECT_NEAR(static_cast<double>(cc.window()), w_max * Cubic::kBeta, kMss);
  EXPECT_FALSE(cc.in_slow_start());
  // K = cbrt(W_max * (1 - beta) / C), in MSS and seconds.
  const double k = std::cbrt(w_max / kMss * (1 - Cubic::kBeta) / Cubic::kC);
  const Instant epoch = now + milliseconds(100);
  double at_half_k = 0, at_k = 0, at_twice_k = 0;
  for (int step = 1; step <= 120; ++step) {
    now += milliseconds(100);
    ack_window(cc, now, rtt);
    const double t = std::chrono::duration<double>(now - epoch).count();
    const double window = static_cast<double>(cc.window());
    if (at_half_k == 0 && t >= k / 2) at_half_k = window;
    if (at_k == 0 && t >= k) at_k = window;
    if (at_twice_k == 0 && t >= 2 * k) at_twice_k = window;
  }
  // Concave toward the old maximum, a plateau near it at K, then convex beyond.
  EXPECT_LT(at_half_k, w_max * 0.99);
  EXPECT_GT(at_half_k, w_max * Cubic::kBeta);
  EXPECT_NEAR(at_k, w_max, w_max * 0.05);
  EXPECT_GT(at_twice_k, w_max * 1.1);
}

TEST(Cubic, FastConvergenceLowersTheMaximumWhenBelowIt) {
  Cubic cc({});
  const auto rtt = rtt_of(milliseconds(100));
  Instant now = at_ms(0);
  while (cc.window() < 100 * kMss) {
    now += milliseconds(100);
    ack_window(cc, now, rtt);
  }
  const double w_max = static_cast<double>(cc.window());
  cc.on_congestion_event(now, now - milliseconds(50), false);  // to 0.7 W_max
  for (int i = 0; i < 3; ++i) {
    now += milliseconds(100);
    ack_window(cc, now, rtt);  // a little growth, well below W_max
  }
  const double window = static_cast<double>(cc.window());
  ASSERT_GT(window, w_max * Cubic::kBeta);
  ASSERT_LT(window, w_max * 0.9);
  cc.on_congestion_event(now + milliseconds(1), now, false);
  EXPECT_NEAR(static_cast<double>(cc.window()), window * Cubic::kBeta, kMss);
  // The new maximum is (1 + beta) / 2 of where it was: the window passes it sooner than the
  // window before this event (K measured from it).
  const double released = window * (1 + Cubic::kBeta) / 2;
  Instant t = now + milliseconds(1);
  const double k = std::cbrt((released - cc.window()) / kMss / Cubic::kC);
  for (int i = 0; i < static_cast<int>(k * 10) + 2; ++i) {
    t += milliseconds(100);
    ack_window(cc, t, rtt);
  }
  EXPECT_NEAR(static_cast<double>(cc.window()), released, released * 0.05);
}

TEST(Cubic, RenoFriendlyOnShortPaths) {
  // On a short round trip the cubic curve grows slower than Reno would: CUBIC follows Reno's
  // estimate (alpha MSS per window) instead.
  Cubic cubic({});
  NewReno reno({});
  const auto rtt = rtt_of(milliseconds(2));
  Instant now = at_ms(0);
  for (CongestionController* cc :
       {static_cast<CongestionController*>(&cubic), static_cast<CongestionController*>(&reno)}) {
    for (int i = 0; i < 4; ++i) ack_window(*cc, at_ms(2 * i + 2), rtt);
    cc->on_congestion_event(at_ms(10), at_ms(9), false);
  }
  const std::size_t cubic_start = cubic.window();
  for (int i = 0; i < 100; ++i) {
    now = at_ms(12 + 2 * i);
    ack_window(cubic, now, rtt);
  }
  // 100 round trips of 2 ms are 0.2 s: the cubic term adds almost nothing, Reno's estimate
  // adds about alpha (0.53) MSS per round trip.
  const double grown = static_cast<double>(cubic.window() - cubic_start) / kMss;
  EXPECT_GT(grown, 40.0);
  EXPECT_LT(grown, 60.0);
}

TEST(Pacer, ReleasesABurstThenSpacesPackets) {
  Pacer pacer;
  const double rate = 1'400'000;  // 1000 packets a second
  const double capacity = 10 * kMss;
  const Instant t0 = at_ms(1000);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(pacer.release_time(t0, kMss, rate, capacity), t0) << i;
    pacer.on_sent(kMss);
  }
  // Empty: the next packet waits for its own tokens (the quantum is a millisecond's worth,
  // which here is one packet).
  EXPECT_EQ(pacer.release_time(t0, kMss, rate, capacity), t0 + milliseconds(1));
  EXPECT_EQ(pacer.release_time(t0 + milliseconds(1), kMss, rate, capacity), t0 + milliseconds(1));
  pacer.on_sent(kMss);
  // A packet sent outside pacing (a timeout probe) is a debt the next ones wait for.
  pacer.on_sent(2 * kMss);
  EXPECT_EQ(pacer.release_time(t0 + milliseconds(1), kMss, rate, capacity), t0 + milliseconds(4));
  // A long pause refills at most one burst.
  EXPECT_EQ(pacer.release_time(t0 + seconds(10), kMss, rate, capacity), t0 + seconds(10));
  EXPECT_DOUBLE_EQ(pacer.tokens(), capacity);
}

TEST(Pacer, FastPathsWakeAboutOncePerMillisecond) {
  Pacer pacer;
  const double rate = 125'000'000;  // 1 Gbit/s: about 89 packets a millisecond
  const double capacity = 256 * kMss;
  const Instant t0 = at_ms(0);
  ASSERT_EQ(pacer.release_time(t0, kMss, rate, capacity), t0);
  pacer.on_sent(static_cast<std::size_t>(capacity));
  const Instant next = pacer.release_time(t0, kMss, rate, capacity);
  EXPECT_EQ(next, t0 + milliseconds(1));  // not 11 us: a millisecond's worth at once
}

TEST(PathControl, CountsFlightAgainstTheWindowWithOneRecoveryPacket) {
  PathControl path(CongestionAlgorithm::kNewReno);
  EXPECT_TRUE(path.limited());
  EXPECT_EQ(path.window(), 10 * kMss);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(path.window_allows(kMss));
    path.on_sent(at_ms(0), kMss);
  }
  EXPECT_FALSE(path.window_allows(kMss));
  EXPECT_EQ(path.bytes_in_flight(), 10 * kMss);
  // A loss starts a congestion event: the window halves, and one packet (the repair) may go
  // although the flight is above it.
  path.on_lost(at_ms(100), at_ms(0), kMss, true);
  EXPECT_EQ(path.window(), 5 * kMss);
  EXPECT_EQ(path.bytes_in_flight(), 9 * kMss);
  EXPECT_TRUE(path.window_allows(kMss));
  path.on_sent(at_ms(100), kMss);
  EXPECT_FALSE(path.window_allows(kMss));
  // Another loss from the same flight is the same event: no second allowance.
  path.on_lost(at_ms(101), at_ms(0), kMss, true);
  EXPECT_FALSE(path.window_allows(kMss));
  EXPECT_EQ(path.stats().congestion_events, 1u);
  // Deliveries drain the flight.
  for (int i = 0; i < 5; ++i) path.on_delivered(at_ms(110), at_ms(0), kMss);
  EXPECT_EQ(path.bytes_in_flight(), 4 * kMss);
  EXPECT_TRUE(path.window_allows(kMss));
  // A new path: a fresh window and RTT, nothing in flight, a new generation.
  const auto generation = path.generation();
  path.reset();
  EXPECT_EQ(path.generation(), generation + 1);
  EXPECT_EQ(path.bytes_in_flight(), 0u);
  EXPECT_EQ(path.window(), 10 * kMss);
  EXPECT_FALSE(path.rtt().has_sample());
}

TEST(PathControl, PacesAtGainTimesWindowPerRtt) {
  PathControl path(CongestionAlgorithm::kNewReno);
  // No RTT yet: no pacing (the first window goes at once).
  EXPECT_EQ(path.release_time(at_ms(0), kMss), at_ms(0));
  path.rtt().on_sample(milliseconds(100));
  // Slow start: 2 * 14000 B / 0.1 s = 280 kB/s; bursts of two packets (the floor; a quarter
  // of the window and 2 ms of sending are less); then one packet per 5 ms.
  EXPECT_DOUBLE_EQ(path.stats().pacing_rate, 280'000);
  Instant now = at_ms(1000);
  int released_at_once = 0;
  while (path.release_time(now, kMss) == now) {
    path.on_sent(now, kMss);
    ++released_at_once;
  }
  EXPECT_EQ(released_at_once, 2);
  EXPECT_EQ(path.release_time(now, kMss), now + milliseconds(5));
  // Congestion avoidance paces at 1.25 times the window per RTT.
  path.on_lost(at_ms(1001), at_ms(1000), kMss, true);
  EXPECT_FALSE(path.stats().slow_start);
  EXPECT_EQ(path.window(), 5 * kMss);
  EXPECT_DOUBLE_EQ(path.stats().pacing_rate, 1.25 * 5 * kMss / 0.1);
}

// The controller outlives streams: a loss episode's window and threshold must not hold back
// the next stream after a pause. Quiet for kCongestionIdleRestart (or 4 RTT) with nothing in
// flight, the next packet starts a fresh controller; a shorter pause, or one with packets
// still in flight, keeps what was learnt.
TEST(PathControl, StartsAFreshControllerAfterAQuietSecond) {
  PathControl path(CongestionAlgorithm::kNewReno);
  path.rtt().on_sample(milliseconds(40));
  auto lossy_episode = [&path](std::int64_t ms) {
    for (int i = 0; i < 10; ++i) path.on_sent(at_ms(ms), kMss);
    path.on_lost(at_ms(ms + 40), at_ms(ms), kMss, true);
    for (int i = 0; i < 9; ++i) path.on_delivered(at_ms(ms + 40), at_ms(ms), kMss);
  };
  lossy_episode(0);
  ASSERT_EQ(path.bytes_in_flight(), 0u);
  EXPECT_EQ(path.window(), 5 * kMss);
  EXPECT_FALSE(path.stats().slow_start);
  // Half a second later: the same episode, still in congestion avoidance.
  path.on_sent(at_ms(540), kMss);
  EXPECT_EQ(path.window(), 5 * kMss);
  EXPECT_FALSE(path.stats().slow_start);
  EXPECT_EQ(path.stats().idle_restarts, 0u);
  path.on_delivered(at_ms(580), at_ms(540), kMss);
  // A packet that stays in flight through a long pause (a timeout's probe) is not a quiet path.
  lossy_episode(1000);
  const std::size_t reduced = path.window();
  path.on_sent(at_ms(1100), kMss);
  path.on_sent(at_ms(5000), kMss);
  EXPECT_EQ(path.window(), reduced);
  EXPECT_EQ(path.stats().idle_restarts, 0u);
  path.on_delivered(at_ms(5040), at_ms(1100), kMss);
  path.on_delivered(at_ms(5040), at_ms(5000), kMss);
  ASSERT_EQ(path.bytes_in_flight(), 0u);
  // A second of quiet with nothing in flight: the next packet starts as a new connection would,
  // with the initial window and slow start; the RTT estimate is kept.
  path.on_sent(at_ms(6040), kMss);
  EXPECT_EQ(path.window(), 10 * kMss);
  EXPECT_TRUE(path.stats().slow_start);
  EXPECT_EQ(path.stats().idle_restarts, 1u);
  EXPECT_TRUE(path.rtt().has_sample());
  EXPECT_EQ(path.bytes_in_flight(), kMss);
  // On a long path the quiet must also last 4 smoothed RTTs.
  PathControl slow(CongestionAlgorithm::kNewReno);
  slow.rtt().on_sample(milliseconds(500));
  slow.on_sent(at_ms(0), kMss);
  slow.on_lost(at_ms(600), at_ms(0), kMss, true);
  slow.on_sent(at_ms(1700), kMss);  // 1.1 s quiet: less than 4 x 500 ms
  EXPECT_EQ(slow.stats().idle_restarts, 0u);
  slow.on_delivered(at_ms(2200), at_ms(1700), kMss);
  slow.on_sent(at_ms(4300), kMss);  // 2.1 s quiet
  EXPECT_EQ(slow.stats().idle_restarts, 1u);
  EXPECT_EQ(slow.window(), 10 * kMss);
}

TEST(PathControl, UnlimitedHasNoWindowAndNoPacing) {
  PathControl path(std::nullopt);
  EXPECT_FALSE(path.limited());
  path.rtt().on_sample(milliseconds(10));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(path.window_allows(kMss));
    ASSERT_EQ(path.release_time(at_ms(5), kMss), at_ms(5));
    path.on_sent(at_ms(5), kMss);
  }
  EXPECT_EQ(path.bytes_in_flight(), 1000 * kMss);
}

}  // namespace
}  // namespace e3x
