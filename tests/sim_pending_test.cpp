// The pending queue (PROTOCOL.md 5): channel packets sent before the exchange is in sync wait
// in a bounded queue and are flushed once, in order, when it becomes in sync; beyond the
// bound they are dropped and counted (stats().dropped_pending).
#include <gtest/gtest.h>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

constexpr int kPackets = 20;

// "m<i>", appended: "m" + std::to_string(i) makes GCC 12 at -O3 report a false -Wrestrict.
std::string body_text(int i) {
  std::string text = "m";
  text += std::to_string(i);
  return text;
}

std::vector<std::string> expected_bodies(int count) {
  std::vector<std::string> out{"open"};
  for (int i = 0; i < count; ++i) out.push_back(body_text(i));
  return out;
}

enum class Initiator { kSender, kReceiver };

void run_flush(Initiator initiator) {
  Simulator sim(resolve_seed(701));
  sim.network().set_default_link(LinkParams{milliseconds(200), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);
  if (initiator == Initiator::kSender) {
    ASSERT_TRUE(sim.connect(a, b).has_value());
  }
  const std::uint32_t channel = sim.open_channel(a, b, "early", false, bytes_of("open"));
  ASSERT_NE(channel, 0u);
  for (int i = 0; i < kPackets; ++i) {
    ASSERT_TRUE(sim.send_channel(a, b, channel, bytes_of(body_text(i))).has_value());
  }
  EXPECT_EQ(a.stats().channel_packets_sent, 0u) << "channel packets left before sync";
  EXPECT_EQ(a.endpoint().peer_status(b.hashname())->pending, std::size_t{kPackets + 1});
  if (initiator == Initiator::kReceiver) {
    sim.run_for(seconds(2));
    EXPECT_EQ(a.stats().channel_packets_sent, 0u);
    ASSERT_TRUE(sim.connect(b, a).has_value());
  }
  ASSERT_TRUE(
      sim.run_until([&] { return channel_bodies(b, a.hashname(), channel).size() == kPackets + 1; },
                    seconds(10)));
  // None left before the exchange was in sync on A's side.
  const auto a_up = a.timed_events_of<event::ExchangeUp>();
  ASSERT_EQ(a_up.size(), 1u);
  for (const auto& record : channel_packets_sent(sim, a)) EXPECT_GE(record.at, a_up[0].first);
  // (Not beyond the 10 s OPENING timeout of the channel, which B never answers.)
  sim.run_for(seconds(2));
  EXPECT_EQ(channel_bodies(b, a.hashname(), channel), expected_bodies(kPackets));
  EXPECT_EQ(a.stats().channel_packets_sent, std::uint64_t{kPackets + 1})
      << "flushed more than once";
  EXPECT_EQ(a.endpoint().peer_status(b.hashname())->pending, 0u);
  EXPECT_EQ(a.stats().dropped_pending, 0u);
  EXPECT_EQ(b.stats().dropped_replay, 0u);
}

TEST(SimPending, FlushedOnceInOrderWhenOurHandshakeIsConfirmed) {
  run_flush(Initiator::kSender);
}

TEST(SimPending, FlushedOnceInOrderWhenThePeerHandshakesFirst) {
  run_flush(Initiator::kReceiver);
}

TEST(SimPending, BoundIsEnforcedAndDropsAreCounted) {
  constexpr std::size_t kLimit = 8;
  Simulator sim(resolve_seed(702));
  sim.network().set_default_link(LinkParams{milliseconds(200), Duration::zero(), 0.0, 0.0});
  HostOptions options;
  options.name = "a";
  options.pending_limit = kLimit;
  Host& a = sim.add_host(std::move(options));
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);
  ASSERT_TRUE(sim.connect(a, b).has_value());
  const std::uint32_t channel = sim.open_channel(a, b, "early", false, bytes_of("open"));
  for (int i = 0; i < kPackets; ++i) {
    (void)sim.send_channel(a, b, channel, bytes_of(body_text(i)));
  }
  EXPECT_LE(a.endpoint().peer_status(b.hashname())->pending, kLimit);
  EXPECT_EQ(a.stats().dropped_pending, kPackets + 1 - kLimit);
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  sim.run_for(seconds(5));
  EXPECT_EQ(a.stats().channel_packets_sent, kLimit);
  EXPECT_EQ(a.stats().dropped_pending, kPackets + 1 - kLimit);
  // What arrived is in order and without duplicates (a subsequence of what was sent).
  const auto got = channel_bodies(b, a.hashname(), channel);
  const auto all = expected_bodies(kPackets);
  EXPECT_LE(got.size(), kLimit);
  std::size_t at = 0;
  for (const auto& body : got) {
    while (at < all.size() && all[at] != body) ++at;
    EXPECT_LT(at, all.size()) << "'" << body << "' out of order or duplicated";
    ++at;
  }
}

}  // namespace
}  // namespace e3x::sim
