// BBR congestion control (PROTOCOL.md section 13, congestion_bbr.hpp): the delivery rate
// samples it is fed (delivery_rate.hpp), its bandwidth filter, its states, and PathControl
// pacing at its rate.
#include <chrono>
#include <set>

#include <gtest/gtest.h>

#include "core/congestion_bbr.hpp"
#include "core/delivery_rate.hpp"
#include "core/path_control.hpp"

namespace e3x {
namespace {

constexpr std::size_t kMss = kCongestionMss;

Instant at_ms(std::int64_t ms) {
  return Instant{} + milliseconds(ms);
}

TEST(WindowedMaxFilter, KeepsTheMaximumOfTheLastRounds) {
  WindowedMaxFilter filter(10);
  EXPECT_EQ(filter.get(), 0);
  filter.update(100, 1);
  filter.update(50, 2);
  filter.update(70, 3);
  EXPECT_EQ(filter.get(), 100);
  filter.update(60, 10);
  EXPECT_EQ(filter.get(), 100);  // round 1 is still among the last 10 (1..10)
  filter.update(60, 11);
  EXPECT_EQ(filter.get(), 70);  // 100 (round 1) and 50 (round 2) have left; 70 is next
  filter.update(65, 13);
  EXPECT_EQ(filter.get(), 65);  // 70 (round 3) left at round 13
  filter.update(200, 13);
  EXPECT_EQ(filter.get(), 200);
  filter.reset();
  EXPECT_EQ(filter.get(), 0);
}

TEST(DeliveryRateEstimator, SamplesBytesDeliveredOverTheLongerOfSendAndAckIntervals) {
  DeliveryRateEstimator rate;
  std::vector<DeliverySnapshot> sent;
  // Ten packets, one a millisecond from t = 0; each acknowledged 100 ms after it left.
  for (int i = 0; i < 10; ++i) sent.push_back(rate.on_sent(at_ms(i), i * kMss, false));
  EXPECT_EQ(sent[0].delivered, 0u);
  EXPECT_EQ(sent[9].first_sent_time, at_ms(0));
  DeliverySample sample;
  for (int i = 0; i < 10; ++i) {
    sample = rate.on_delivered(at_ms(100 + i), kMss, sent[i], milliseconds(100));
  }
  // The last: 10 packets since its snapshot (taken at t = 0) over 109 ms (the ack interval;
  // the send interval is 9 ms).
  EXPECT_EQ(sample.delivered, 10 * kMss);
  EXPECT_EQ(sample.interval, milliseconds(109));
  EXPECT_NEAR(sample.rate, 10.0 * kMss / 0.109, 1e-6);
  ASSERT_TRUE(sample.rtt.has_value());
  EXPECT_EQ(*sample.rtt, milliseconds(100));
  EXPECT_FALSE(sample.app_limited);
  // An interval shorter than the minimum RTT gives no rate: the first packet's is 100 ms,
  // with a 150 ms minimum.
  DeliveryRateEstimator strict;
  const auto snapshot = strict.on_sent(at_ms(0), 0, true);
  const auto short_sample = strict.on_delivered(at_ms(100), kMss, snapshot, milliseconds(150));
  EXPECT_EQ(short_sample.rate, 0);
  EXPECT_FALSE(short_sample.rtt.has_value());  // sent before: no RTT sample
}

TEST(DeliveryRateEstimator, MarksWhatIsSentWhileTheSendersAreShortOfDataUntilDelivered) {
  DeliveryRateEstimator rate;
  const auto first = rate.on_sent(at_ms(0), 0, false);
  const auto second = rate.on_sent(at_ms(1), kMss, false);
  EXPECT_FALSE(first.app_limited);
  // Nothing more to send with two packets in flight: what follows is application limited
  // until those two are delivered.
  rate.note_app_limited(2 * kMss);
  const auto third = rate.on_sent(at_ms(50), 2 * kMss, false);
  EXPECT_TRUE(third.app_limited);
  (void)rate.on_delivered(at_ms(100), kMss, first, Duration::zero());
  EXPECT_TRUE(rate.app_limited());
  (void)rate.on_delivered(at_ms(101), kMss, second, Duration::zero());
  EXPECT_TRUE(rate.app_limited());  // delivered must pass the mark, not reach it
  const auto sample = rate.on_delivered(at_ms(150), kMss, third, Duration::zero());
  EXPECT_TRUE(sample.app_limited);
  EXPECT_FALSE(rate.app_limited());
  EXPECT_FALSE(rate.on_sent(at_ms(151), 0, false).app_limited);
}

constexpr double kBw = 1'250'000;  // bytes per second (10 Mbit/s)
constexpr Duration kRtt = milliseconds(40);
constexpr std::size_t kBdp = 50'000;  // kBw * kRtt

// Feeds a Bbr round by round as a path would: every packet of a round was sent after the
// previous round's deliveries, so each round is one round trip of the model.
struct Feeder {
  Bbr& bbr;
  Instant now = at_ms(0);
  std::uint64_t delivered = 0;
  std::uint64_t round_base = 0;

  // One round trip of `packets` deliveries at `rate` bytes/s, with `rtt`, `in_flight` after.
  void round(double rate, Duration rtt, std::size_t packets, std::size_t in_flight,
             bool app_limited = false) {
    now += rtt;
    const std::uint64_t prior = round_base;
    for (std::size_t i = 0; i < packets; ++i) {
      delivered += kMss;
      DeliverySample sample;
      sample.bytes = kMss;
      sample.delivered = delivered;
      sample.prior_delivered = prior;
      sample.rate = rate;
      sample.interval = rtt;
      sample.app_limited = app_limited;
      sample.rtt = rtt;
      sample.prior_in_flight = in_flight + kMss;
      sample.in_flight = in_flight;
      bbr.on_delivery_sample(now, sample);
    }
    round_base = delivered;
  }

  // Startup at kBw until the pipe is full, then Drain down to one product: ProbeBW.
  void to_probe_bw() {
    for (int i = 0; i < 6; ++i) round(kBw, kRtt, 10, 3 * kBdp);
    round(kBw, kRtt, 10, kBdp);
  }
};

// Startup until three rounds in a row raise the bandwidth by less than a quarter; Drain until
// the flight is down to one product; then ProbeBW with a window of twice the product.
TEST(Bbr, StartupDrainsIntoProbeBwOnceTheBandwidthStopsGrowing) {
  Bbr bbr({});
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kStartup);
  EXPECT_TRUE(bbr.in_slow_start());
  EXPECT_EQ(bbr.window(), 10 * kMss);
  EXPECT_FALSE(bbr.pacing_rate().has_value());  // no sample: PathControl paces by window
  Feeder feed{bbr};
  for (double rate = kBw / 16; rate < kBw; rate *= 2) {
    feed.round(rate, kRtt, 10, 3 * kBdp);
    EXPECT_EQ(bbr.mode(), Bbr::Mode::kStartup);
    EXPECT_DOUBLE_EQ(bbr.pacing_gain(), Bbr::kHighGain);
  }
  feed.round(kBw, kRtt, 10, 3 * kBdp);
  feed.round(kBw, kRtt, 10, 3 * kBdp);
  feed.round(kBw, kRtt, 10, 3 * kBdp);
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kStartup);
  // The third flat round fills the pipe; the flight is still three products: Drain.
  feed.round(kBw, kRtt, 10, 3 * kBdp);
  EXPECT_TRUE(bbr.filled_pipe());
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kDrain);
  EXPECT_DOUBLE_EQ(bbr.pacing_gain(), Bbr::kDrainGain);
  ASSERT_TRUE(bbr.pacing_rate().has_value());
  EXPECT_NEAR(*bbr.pacing_rate(), Bbr::kDrainGain * kBw, 1);
  feed.round(kBw, kRtt, 10, kBdp);
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeBw);
  EXPECT_FALSE(bbr.in_slow_start());
  EXPECT_DOUBLE_EQ(bbr.cwnd_gain(), 2);
  EXPECT_EQ(bbr.inflight(1), kBdp);
  // The window converges on twice the product plus three pacing quanta (2 packets each at
  // this rate); deliveries never take it higher.
  for (int i = 0; i < 20; ++i) feed.round(kBw, kRtt, 40, kBdp);
  EXPECT_EQ(bbr.window(), 2 * kBdp + 3 * 2 * kMss);
}

// A fresh controller's first samples are often a trickle (a request and its answer before a
// transfer). Startup never lowers the rate, so it must not start from the trickle's: it paces
// from the window over the round trip at its gain (Linux: bbr_init_pacing_rate_from_rtt), and
// real samples take over once they show more.
TEST(Bbr, StartupPacesFromTheWindowNotFromATrickle) {
  Bbr bbr({});
  Feeder feed{bbr};
  feed.round(kBw / 1000, kRtt, 2, 2 * kMss, true);
  const double from_window = Bbr::kHighGain * static_cast<double>(10 * kMss) / 0.040;
  ASSERT_TRUE(bbr.pacing_rate().has_value());
  EXPECT_NEAR(*bbr.pacing_rate(), from_window, from_window * 0.01);
  // Rounds that deliver more than the window's rate raise it; Startup doubles from there.
  feed.round(kBw, kRtt, 10, 3 * kBdp);
  EXPECT_NEAR(*bbr.pacing_rate(), Bbr::kHighGain * kBw, 1);
}

TEST(Bbr, ProbeBwCyclesThroughItsEightGains) {
  Bbr bbr({});
  Feeder feed{bbr};
  feed.to_probe_bw();
  ASSERT_EQ(bbr.mode(), Bbr::Mode::kProbeBw);
  EXPECT_NE(bbr.pacing_gain(), 0.75);  // never starts with the draining phase
  // A phase lasts at least one min RTT; the probing one also until the flight reached 1.25
  // products (here it always has: 2 products), the draining one until a product or less.
  std::vector<double> gains;
  for (int i = 0; i < 16; ++i) {
    feed.round(kBw, kRtt + milliseconds(1), 10, 2 * kBdp);
    gains.push_back(bbr.pacing_gain());
  }
  std::size_t probe = 0;
  while (gains[probe] != 1.25) ++probe;
  ASSERT_LT(probe, 8u);
  EXPECT_EQ(gains[probe + 1], 0.75);
  for (std::size_t i = probe + 2; i < probe + 8; ++i) EXPECT_EQ(gains[i], 1) << i;
  EXPECT_EQ(gains[probe + 8], 1.25);
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeBw);
  EXPECT_NEAR(bbr.bottleneck_bandwidth(), kBw, 1);
}

TEST(Bbr, ApplicationLimitedSamplesDoNotLowerTheBandwidth) {
  Bbr bbr({});
  Feeder feed{bbr};
  feed.to_probe_bw();
  ASSERT_EQ(bbr.mode(), Bbr::Mode::kProbeBw);
  // Thirty rounds of a sender with little to say: the path is no slower for it.
  for (int i = 0; i < 30; ++i) feed.round(kBw / 10, kRtt, 2, 2 * kMss, true);
  EXPECT_NEAR(bbr.bottleneck_bandwidth(), kBw, 1);
  // An application-limited sample above the estimate raises it: the path can do that much.
  feed.round(2 * kBw, kRtt, 2, 2 * kMss, true);
  EXPECT_NEAR(bbr.bottleneck_bandwidth(), 2 * kBw, 1);
  // Samples not application limited are the path's: once the larger ones are more than ten
  // rounds old, the estimate follows them down.
  for (int i = 0; i < 11; ++i) feed.round(kBw / 2, kRtt, 10, kBdp);
  EXPECT_NEAR(bbr.bottleneck_bandwidth(), kBw / 2, 1);
}

// ProbeRTT holds the flight at half a product (BBRv2 and v3 do; v1 held 4 packets): enough to
// empty the queue the minimum is measured through, without stopping the stream for 200 ms and
// a round trip every 10 s (2.4% of a clean 100 Mbit/s path in the simulator, SimBbr).
TEST(Bbr, ProbesTheRttWithHalfAProductWhenTheMinimumIsTenSecondsOld) {
  Bbr bbr({});
  Feeder feed{bbr};
  feed.to_probe_bw();
  ASSERT_EQ(bbr.mode(), Bbr::Mode::kProbeBw);
  const std::size_t window = bbr.window();
  // RTTs above the minimum for ten seconds (a queue that never empties): the minimum is
  // stale.
  const Instant stamp = feed.now;
  while (feed.now <= stamp + Bbr::kMinRttFilter - milliseconds(60)) {
    feed.round(kBw, milliseconds(60), 10, 2 * kBdp);
  }
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeBw);
  feed.round(kBw, milliseconds(60), 10, 2 * kBdp);
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeRtt);
  EXPECT_TRUE(bbr.holding_back());
  ASSERT_TRUE(bbr.min_rtt().has_value());
  EXPECT_EQ(*bbr.min_rtt(), milliseconds(60));  // the stale minimum gave way to a new sample
  // Half the product at that minimum: 1.25 MB/s x 60 ms / 2.
  EXPECT_EQ(bbr.window(), 37'500u);
  EXPECT_GT(bbr.window(), Bbr::kMinPipePackets * kMss);
  // While the flight is above half a product the hold does not begin ...
  for (int i = 0; i < 10; ++i) feed.round(kBw, milliseconds(40), 10, kBdp);
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeRtt);
  EXPECT_EQ(*bbr.min_rtt(), milliseconds(40));
  EXPECT_EQ(bbr.window(), kBdp / 2);  // half the product at the minimum it just found
  // ... once it is down there, it lasts 200 ms and a round trip, then ProbeBW again with the
  // window it had.
  feed.round(kBw, milliseconds(40), 4, kBdp / 2);
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeRtt);
  for (int i = 0; i < 5; ++i) feed.round(kBw, milliseconds(40), 4, kBdp / 2);
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeRtt);  // 200 ms have not passed
  feed.round(kBw, milliseconds(40), 4, kBdp / 2);
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeBw);
  EXPECT_FALSE(bbr.holding_back());
  EXPECT_EQ(*bbr.min_rtt(), milliseconds(40));
  EXPECT_GE(bbr.window(), window);
}

// Version 1 enters ProbeRTT whenever RTprop is 10 s old. When an RTT of those 10 s came within
// an eighth of RTprop, the queue was nearly empty then and a drain would show what we hold:
// RTprop is renewed and the stream goes on. A queue that stays above an eighth still probes.
TEST(Bbr, RenewsAnExpiredMinimumWithoutProbingWhenAnRttOfTheLastTenSecondsCameClose) {
  Bbr bbr({});
  Feeder feed{bbr};
  feed.to_probe_bw();
  ASSERT_EQ(bbr.mode(), Bbr::Mode::kProbeBw);
  // 44 ms (1.1 x RTprop) for 25 s: each expiry renews the minimum; no ProbeRTT.
  const Instant start = feed.now;
  while (feed.now <= start + 2 * Bbr::kMinRttFilter + seconds(5)) {
    feed.round(kBw, milliseconds(44), 10, 2 * kBdp);
    ASSERT_EQ(bbr.mode(), Bbr::Mode::kProbeBw) << "at " << (feed.now - start).count();
  }
  EXPECT_EQ(bbr.rtt_probes().drained, 0u);
  EXPECT_EQ(bbr.rtt_probes().renewed, 2u);
  EXPECT_EQ(*bbr.min_rtt(), kRtt);  // renewed as it stood, not raised to 44 ms
  // 46 ms (1.15 x) from here on. The expiry at about 30 s still renews (its 10 s began at
  // the renewal at 20 s and hold 5 s of 44 ms); the one at 40 s finds only 46 ms: ProbeRTT.
  const Instant queued = feed.now;
  while (feed.now <= queued + 2 * Bbr::kMinRttFilter && bbr.mode() != Bbr::Mode::kProbeRtt) {
    feed.round(kBw, milliseconds(46), 10, 2 * kBdp);
  }
  EXPECT_EQ(bbr.mode(), Bbr::Mode::kProbeRtt);
  EXPECT_EQ(bbr.rtt_probes().drained, 1u);
  EXPECT_EQ(bbr.rtt_probes().renewed, 3u);
  EXPECT_GT(feed.now - start, 4 * Bbr::kMinRttFilter - milliseconds(100));
}

TEST(Bbr, RandomLossLeavesTheModelAndPersistentCongestionCapsTheWindow) {
  Bbr bbr({});
  Feeder feed{bbr};
  feed.to_probe_bw();
  for (int i = 0; i < 20; ++i) feed.round(kBw, kRtt, 40, kBdp);
  const std::size_t window = bbr.window();
  const auto rate = bbr.pacing_rate();
  // A loss is counted as a congestion event (once per round trip) and changes nothing else.
  EXPECT_TRUE(bbr.on_congestion_event(feed.now, feed.now - kRtt, false));
  EXPECT_FALSE(bbr.on_congestion_event(feed.now, feed.now - kRtt, false));
  EXPECT_EQ(bbr.window(), window);
  EXPECT_EQ(bbr.pacing_rate(), rate);
  // Persistent congestion: the minimum window, grown back by deliveries.
  bbr.on_congestion_event(feed.now, feed.now, true);
  EXPECT_EQ(bbr.window(), Bbr::kMinPipePackets * kMss);
  EXPECT_NEAR(bbr.bottleneck_bandwidth(), kBw, 1);
  for (int i = 0; i < 3; ++i) feed.round(kBw, kRtt, 40, kBdp);
  EXPECT_EQ(bbr.window(), window);
}

// PathControl takes the pacing rate from BBR once it has one, and gives BBR the samples of
// the packets the channels send with their snapshots.
TEST(PathControl, PacesAtBbrsRateAndFeedsItDeliverySamples) {
  PathControl path(CongestionAlgorithm::kBbr);
  EXPECT_STREQ(path.stats().algorithm, "bbr");
  path.rtt().on_sample(milliseconds(100));
  // Before a delivery: window / srtt pacing with the slow start gain (BBR is in Startup).
  EXPECT_NEAR(path.stats().pacing_rate, 2.0 * 10 * kMss / 0.1, 1);
  std::vector<DeliverySnapshot> snapshots;
  for (int i = 0; i < 10; ++i) snapshots.push_back(path.on_sent(at_ms(0), kMss));
  for (int i = 0; i < 10; ++i) path.on_delivered(at_ms(100), at_ms(0), kMss, &snapshots[i]);
  // The last sample: 10 packets in 100 ms; paced at the Startup gain times that.
  EXPECT_NEAR(path.stats().pacing_rate, Bbr::kHighGain * 10 * kMss / 0.1, 1);
  EXPECT_EQ(path.bytes_in_flight(), 0u);
  // Without snapshots (NewReno's callers may pass none) nothing is sampled.
  PathControl newreno(CongestionAlgorithm::kNewReno);
  newreno.rtt().on_sample(milliseconds(100));
  newreno.on_sent(at_ms(0), kMss);
  newreno.on_delivered(at_ms(100), at_ms(0), kMss);
  EXPECT_EQ(newreno.bytes_in_flight(), 0u);
}

// PathControl's stats count BBR's RTT probes over the path's life: a controller replaced after
// a quiet second (idle restart) leaves its counts behind in them.
TEST(PathControl, CountsRttProbesAcrossTheControllersOfAPath) {
  PathControl path(CongestionAlgorithm::kBbr);
  Instant now = at_ms(0);
  // One packet every 10 ms, each delivered `rtt` after it left, for `span`.
  auto packets = [&](Duration rtt, Duration span) {
    const Instant end = now + span;
    for (; now < end; now += milliseconds(10)) {
      path.rtt().on_sample(rtt);
      const DeliverySnapshot snapshot = path.on_sent(now, kMss);
      path.on_delivered(now + rtt, now, kMss, &snapshot);
    }
  };
  packets(milliseconds(100), milliseconds(100));
  // 105 ms (within an eighth of 100) past the minimum's 10 s: renewed, no drain.
  packets(milliseconds(105), seconds(11));
  EXPECT_EQ(path.stats().rtt_probes, 0u);
  EXPECT_EQ(path.stats().rtt_renewals, 1u);
  // Quiet for 2 s, then a fresh controller whose RTTs rise from 100 ms to 150: ProbeRTT.
  now += seconds(2);
  packets(milliseconds(100), milliseconds(100));
  EXPECT_EQ(path.stats().idle_restarts, 1u);
  EXPECT_EQ(path.stats().rtt_renewals, 1u);  // the first controller's, kept
  packets(milliseconds(150), seconds(11));
  EXPECT_EQ(path.stats().rtt_probes, 1u);
  EXPECT_EQ(path.stats().rtt_renewals, 1u);
  // Loss-based controllers never probe.
  PathControl newreno(CongestionAlgorithm::kNewReno);
  EXPECT_EQ(newreno.stats().rtt_probes, 0u);
  EXPECT_EQ(newreno.stats().rtt_renewals, 0u);
}

TEST(CongestionAlgorithm, NamesParseBack) {
  for (auto algorithm :
       {CongestionAlgorithm::kNewReno, CongestionAlgorithm::kCubic, CongestionAlgorithm::kBbr}) {
    EXPECT_EQ(parse_congestion_algorithm(to_string(algorithm)), algorithm);
  }
  EXPECT_FALSE(parse_congestion_algorithm("reno").has_value());
  EXPECT_FALSE(parse_congestion_algorithm("BBR").has_value());
}

}  // namespace
}  // namespace e3x
