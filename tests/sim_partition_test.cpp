// Partitions against the handshake timers (PROTOCOL.md 5 and 9): with 25 s keepalives, a
// 20 s partition that swallows a keepalive and its first resends heals through a later resend
// without the exchange going down; a 40 s one outlasts every resend and the 30 s timeout takes
// the exchange down on both sides, after which a new connect works.
#include <gtest/gtest.h>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

struct Outcome {
  std::size_t downs_a = 0, downs_b = 0;
  std::uint64_t partitioned = 0;
  bool in_sync_after = false;
};

Outcome run_partition(std::uint64_t seed, Duration length) {
  Simulator sim(seed);
  sim.network().set_default_link(LinkParams{milliseconds(20), milliseconds(5), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{seconds(25)});
  EXPECT_TRUE(sim.connect(a, b).has_value());
  EXPECT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  // Wait for the first keepalive exchange, then cut the link 10 s later: the next keepalive
  // (due 25 s after it) and its resends at +1, +3 and +7 s fall inside a 20 s partition.
  const auto sent = a.stats().handshakes_sent + b.stats().handshakes_sent;
  EXPECT_TRUE(sim.run_until(
      [&] { return a.stats().handshakes_sent + b.stats().handshakes_sent > sent; }, seconds(30)));
  sim.run_for(milliseconds(500));
  const Instant cut = sim.now() + seconds(10);
  sim.network().partition(a.id(), b.id(), cut, cut + length);
  const auto received_a = a.stats().handshakes_received;
  sim.run_until_time(cut + length + seconds(60));
  Outcome out;
  out.downs_a = a.count<event::ExchangeDown>();
  out.downs_b = b.count<event::ExchangeDown>();
  out.partitioned = sim.network().stats().partitioned;
  out.in_sync_after = sim.in_sync(a, b);
  for (Host* h : {&a, &b}) {
    for (const auto& down : h->events_of<event::ExchangeDown>()) {
      EXPECT_EQ(down.reason, DownReason::kTimeout);
    }
  }
  if (out.downs_a == 0) {
    EXPECT_GT(a.stats().handshakes_received, received_a) << "no handshake after the heal";
  } else {
    // After the timeout, a new connect establishes a fresh exchange.
    EXPECT_TRUE(sim.connect(a, b).has_value());
    EXPECT_TRUE(sim.run_until_in_sync(a, b, seconds(10)));
  }
  return out;
}

TEST(SimPartition, TwentySecondsHealsWithoutGoingDown) {
  const Outcome out = run_partition(resolve_seed(1001), seconds(20));
  EXPECT_GT(out.partitioned, 0u) << "the partition swallowed nothing: the test proves nothing";
  EXPECT_EQ(out.downs_a, 0u);
  EXPECT_EQ(out.downs_b, 0u);
  EXPECT_TRUE(out.in_sync_after);
}

TEST(SimPartition, FortySecondsTakesTheExchangeDown) {
  const Outcome out = run_partition(resolve_seed(1002), seconds(40));
  EXPECT_GT(out.partitioned, 0u);
  EXPECT_EQ(out.downs_a, 1u);
  EXPECT_EQ(out.downs_b, 1u);
}

}  // namespace
}  // namespace e3x::sim
