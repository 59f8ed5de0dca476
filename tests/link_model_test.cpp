// The link emulator's model (bench/link_model.hpp): delay, rate, bounded queue, loss and the
// accounting of every packet, driven by an explicit clock.
#include "link_model.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

using e3x::bench::default_queue_bytes;
using e3x::bench::LinkConfig;
using e3x::bench::LinkModel;
using e3x::bench::LinkPacket;
using e3x::bench::LinkVerdict;
using namespace std::chrono_literals;
using Time = LinkModel::Time;

LinkPacket packet_of(std::size_t size, std::uint32_t tag = 0) {
  return LinkPacket{std::vector<std::uint8_t>(size, 0xab), tag};
}

// Serialisation time of `bytes` bytes at `rate` bits/s, in exact nanoseconds (floored).
Time serialise(std::uint64_t bytes, std::uint64_t rate) {
  return Time(static_cast<Time::rep>(bytes * 8 * 1'000'000'000ULL / rate));
}

void expect_conserved(const LinkModel& model) {
  const auto& c = model.counts();
  EXPECT_EQ(c.received, c.forwarded + c.dropped_loss + c.dropped_queue + model.in_flight());
}

TEST(LinkModel, DelayIsAppliedExactly) {
  LinkModel model(LinkConfig{.delay = 20ms});
  const Time sent = 5s + 123ns;
  auto packet = packet_of(100, 7);
  ASSERT_EQ(model.offer(sent, packet), LinkVerdict::queued);
  EXPECT_EQ(model.next_due(), sent + 20ms);

  LinkPacket out;
  EXPECT_FALSE(model.pop_due(sent + 20ms - 1ns, out));
  ASSERT_TRUE(model.pop_due(sent + 20ms, out));
  EXPECT_EQ(out.tag, 7u);
  EXPECT_EQ(out.data.size(), 100u);
  EXPECT_FALSE(model.has_pending());
  EXPECT_EQ(model.next_due(), Time::max());
}

TEST(LinkModel, NoImpairmentDeliversAtOnceInOrder) {
  LinkModel model(LinkConfig{});
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    auto packet = packet_of(1400, i);
    ASSERT_EQ(model.offer(1s, packet), LinkVerdict::queued);
  }
  LinkPacket out;
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(model.pop_due(1s, out));
    EXPECT_EQ(out.tag, i);
  }
  EXPECT_FALSE(model.pop_due(1s, out));
  EXPECT_EQ(model.counts().forwarded, 10'000u);
  EXPECT_EQ(model.counts().dropped_queue, 0u);
}

TEST(LinkModel, RateSpacesBackToBackDeparturesBySizeOverRate) {
  const std::uint64_t rate = 100'000'000;
  LinkModel model(LinkConfig{.delay = 20ms, .rate_bps = rate});
  for (std::uint32_t i = 0; i < 10; ++i) {
    auto packet = packet_of(1400, i);
    ASSERT_EQ(model.offer(0s, packet), LinkVerdict::queued);
  }
  // The k-th packet's last bit leaves the bottleneck k serialisation times after the start,
  // and is delivered one delay later; nothing is delivered earlier.
  LinkPacket out;
  for (std::uint32_t k = 1; k <= 10; ++k) {
    const Time due = 20ms + serialise(1400ULL * k, rate);
    EXPECT_EQ(model.next_due(), due);
    EXPECT_FALSE(model.pop_due(due - 1ns, out));
    ASSERT_TRUE(model.pop_due(due, out));
    EXPECT_EQ(out.tag, k - 1);
  }
}

TEST(LinkModel, OverheadIsSerialisedAndQueuedWithEachPacket) {
  // With 28 bytes of IPv4 and UDP headers a 1400-byte datagram occupies 1428 bytes of link.
  const std::uint64_t rate = 100'000'000;
  LinkModel model(LinkConfig{.rate_bps = rate, .queue_bytes = 2 * 1428, .overhead = 28});
  for (int i = 0; i < 2; ++i) {
    auto packet = packet_of(1400);
    ASSERT_EQ(model.offer(0s, packet), LinkVerdict::queued);
  }
  auto third = packet_of(1);  // 29 bytes with its headers: over the bound
  EXPECT_EQ(model.offer(0s, third), LinkVerdict::dropped_queue);
  EXPECT_EQ(model.next_due(), serialise(1428, rate));
  LinkPacket out;
  ASSERT_TRUE(model.pop_due(serialise(1428, rate), out));
  EXPECT_EQ(out.data.size(), 1400u);  // the headers are the link's, not the datagram's
  EXPECT_EQ(model.next_due(), serialise(2 * 1428, rate));
  EXPECT_EQ(model.backlog_bytes(), 1428u);
  EXPECT_EQ(model.counts().bytes_forwarded, 1400u);
}

TEST(LinkModel, FractionalSerialisationTimesDoNotDriftFromTheRate) {
  // 1000 bytes at 3 Mbit/s is 2,666,666.67 ns: rounding each packet would drift by 0.67 ns
  // a packet; the model must stay on the exact schedule over a long busy period.
  const std::uint64_t rate = 3'000'000;
  LinkModel model(LinkConfig{.rate_bps = rate});
  const std::uint64_t count = 3000;
  for (std::uint32_t i = 0; i < count; ++i) {
    auto packet = packet_of(1000, i);
    ASSERT_EQ(model.offer(0s, packet), LinkVerdict::queued);
  }
  LinkPacket out;
  for (std::uint64_t k = 1; k <= count; ++k) {
    ASSERT_EQ(model.next_due(), serialise(1000 * k, rate)) << "packet " << k;
    ASSERT_TRUE(model.pop_due(model.next_due(), out));
  }
}

TEST(LinkModel, AnIdleLinkStartsSerialisingOnArrival) {
  const std::uint64_t rate = 10'000'000;
  LinkModel model(LinkConfig{.rate_bps = rate});
  auto first = packet_of(1250);
  ASSERT_EQ(model.offer(0s, first), LinkVerdict::queued);
  LinkPacket out;
  ASSERT_TRUE(model.pop_due(1s, out));
  // Arriving long after the link went idle, the second is not sent "early" on saved-up credit.
  auto second = packet_of(1250);
  ASSERT_EQ(model.offer(1s, second), LinkVerdict::queued);
  EXPECT_EQ(model.next_due(), 1s + serialise(1250, rate));
}

TEST(LinkModel, SaturatedLinkForwardsAtTheRate) {
  const std::uint64_t rate = 100'000'000;
  LinkModel model(LinkConfig{.delay = 20ms, .rate_bps = rate, .queue_bytes = 500'000});
  // Offer twice the rate for one simulated second: a 1400-byte packet every 56 us.
  std::uint64_t delivered_bytes = 0;
  LinkPacket out;
  for (Time now = 0s; now < 1s; now += 56us) {
    auto packet = packet_of(1400);
    model.offer(now, packet);
    while (model.pop_due(now, out)) delivered_bytes += out.data.size();
  }
  // Delivery starts after one delay and one packet time, then runs at the rate: what was
  // delivered by 1 s is the rate over (1 s - delay), to within one packet.
  const double expected = static_cast<double>(rate) / 8 * (1.0 - 0.020);
  EXPECT_NEAR(static_cast<double>(delivered_bytes), expected, 1400);
  EXPECT_GT(model.counts().dropped_queue, 0u);
  expect_conserved(model);
}

TEST(LinkModel, PacketBoundDropsTheTailAndCountsIt) {
  LinkModel model(LinkConfig{.rate_bps = 1'000'000, .queue_packets = 5});
  for (std::uint32_t i = 0; i < 20; ++i) {
    auto packet = packet_of(1000, i);
    const auto verdict = model.offer(0s, packet);
    EXPECT_EQ(verdict, i < 5 ? LinkVerdict::queued : LinkVerdict::dropped_queue) << i;
    if (verdict != LinkVerdict::queued) {
      EXPECT_EQ(packet.tag, i);  // a dropped packet is left to the caller
    }
  }
  EXPECT_EQ(model.counts().dropped_queue, 15u);
  // The first five (the head) are the ones that come out.
  LinkPacket out;
  for (std::uint32_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(model.pop_due(1s, out));
    EXPECT_EQ(out.tag, i);
  }
  expect_conserved(model);
}

TEST(LinkModel, ByteBoundCountsThePacketOnTheWireAndFreesAsItLeaves) {
  const std::uint64_t rate = 1'000'000;
  LinkModel model(LinkConfig{.rate_bps = rate, .queue_bytes = 3 * 1000 + 500});
  for (int i = 0; i < 3; ++i) {
    auto packet = packet_of(1000);
    ASSERT_EQ(model.offer(0s, packet), LinkVerdict::queued);
  }
  auto fourth = packet_of(1000);
  EXPECT_EQ(model.offer(0s, fourth), LinkVerdict::dropped_queue);
  auto small = packet_of(500);  // exactly fills the bound
  EXPECT_EQ(model.offer(0s, small), LinkVerdict::queued);
  EXPECT_EQ(model.backlog_bytes(), 3500u);
  // Once the first packet has fully left, its 1000 bytes are free again.
  const Time one = serialise(1000, rate);
  auto late = packet_of(1000);
  EXPECT_EQ(model.offer(one - 1ns, late), LinkVerdict::dropped_queue);
  EXPECT_EQ(model.offer(one, late), LinkVerdict::queued);
  EXPECT_EQ(model.counts().max_backlog_bytes, 3500u);
  EXPECT_EQ(model.counts().dropped_queue, 2u);
  expect_conserved(model);
}

double loss_fraction(double loss, std::uint64_t seed, std::size_t count) {
  LinkModel model(LinkConfig{.loss = loss, .seed = seed});
  LinkPacket out;
  for (std::size_t i = 0; i < count; ++i) {
    auto packet = packet_of(64);
    model.offer(Time(static_cast<Time::rep>(i)), packet);
    while (model.pop_due(Time(static_cast<Time::rep>(i)), out)) {
    }
  }
  expect_conserved(model);
  return static_cast<double>(model.counts().dropped_loss) / static_cast<double>(count);
}

TEST(LinkModel, LossFractionIsWithinStatisticalTolerance) {
  const std::size_t count = 100'000;
  for (const double p : {0.01, 0.1, 0.5}) {
    // Five standard deviations of a binomial proportion: a correct model fails this for a
    // given seed with probability under 1e-6.
    const double tolerance = 5 * std::sqrt(p * (1 - p) / static_cast<double>(count));
    for (const std::uint64_t seed : {1ULL, 42ULL, 20261204ULL}) {
      EXPECT_NEAR(loss_fraction(p, seed, count), p, tolerance) << "p=" << p << " seed=" << seed;
    }
  }
  EXPECT_EQ(loss_fraction(0.0, 1, 1000), 0.0);
  EXPECT_EQ(loss_fraction(1.0, 1, 1000), 1.0);
}

TEST(LinkModel, LossesAreTheSameForTheSameSeedAndDifferForAnother) {
  auto pattern = [](std::uint64_t seed) {
    LinkModel model(LinkConfig{.loss = 0.2, .seed = seed});
    std::vector<bool> lost;
    for (int i = 0; i < 1000; ++i) {
      auto packet = packet_of(10);
      lost.push_back(model.offer(0s, packet) == LinkVerdict::dropped_loss);
    }
    return lost;
  };
  EXPECT_EQ(pattern(7), pattern(7));
  EXPECT_NE(pattern(7), pattern(8));
}

TEST(LinkModel, EveryPacketIsCountedThroughAMixedRun) {
  LinkModel model(LinkConfig{.delay = 3ms,
                             .loss = 0.05,
                             .rate_bps = 20'000'000,
                             .queue_packets = 40,
                             .queue_bytes = 30'000,
                             .seed = 99});
  std::mt19937_64 random(5);
  Time now = 0s;
  LinkPacket out;
  std::uint64_t popped = 0, popped_bytes = 0;
  for (int step = 0; step < 50'000; ++step) {
    now += Time(static_cast<Time::rep>(random() % 600'000));
    // Bursts of up to 8 packets of 40-1500 bytes, then whatever is due.
    for (auto n = random() % 9; n > 0; --n) {
      auto packet = packet_of(40 + random() % 1461);
      model.offer(now, packet);
    }
    while (model.pop_due(now, out)) {
      ++popped;
      popped_bytes += out.data.size();
    }
    expect_conserved(model);
    ASSERT_LE(model.backlog_bytes(), 30'000u);
  }
  const auto& c = model.counts();
  EXPECT_EQ(popped, c.forwarded);
  EXPECT_EQ(popped_bytes, c.bytes_forwarded);
  EXPECT_GT(c.dropped_loss, 0u);
  EXPECT_GT(c.dropped_queue, 0u);
  EXPECT_LE(c.max_backlog_bytes, 30'000u);
  // Draining the line leaves nothing in flight and everything accounted.
  while (model.has_pending()) ASSERT_TRUE(model.pop_due(model.next_due(), out));
  EXPECT_EQ(c.received, c.forwarded + c.dropped_loss + c.dropped_queue);
}

TEST(LinkModel, DefaultQueueIsOneBandwidthDelayProduct) {
  // 100 Mbit/s over a 40 ms round trip (20 ms each way): 500,000 bytes.
  EXPECT_EQ(default_queue_bytes(100'000'000, 20ms), 500'000u);
  EXPECT_EQ(default_queue_bytes(100'000'000, 0ms), 64u * 1500);  // the floor
  EXPECT_EQ(default_queue_bytes(0, 20ms), 0u);                   // no rate, no queue
}

}  // namespace
