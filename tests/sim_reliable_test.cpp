// A reliable channel (telehash-v3 reliable.md, PROTOCOL.md 6) delivers 10,000 packets in
// order and exactly once over a link that loses 20% of datagrams each way, reorders them
// (jitter larger than the spacing) and duplicates some. The sender pushes whenever
// channel_send_capacity() allows.
#include <gtest/gtest.h>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

TEST(SimReliable, TenThousandPacketsInOrderExactlyOnceUnderLossReorderingAndDuplication) {
  constexpr int kPackets = 10000;
  Simulator sim(resolve_seed(801));
  sim.network().set_capture(false);  // keep memory modest
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);
  ASSERT_TRUE(sim.connect(a, b).has_value());
  // The handshake itself can fail under 20% loss (five tries, ~0.6% of runs), and so can a
  // channel's open packet: with the fixed 2 s resend it gets five tries before the 10 s
  // OPENING timeout (~0.03% of runs; seed 103 of 300 after revision 2 changed the order of
  // the random draws). Both are the exchange's and the open's business, tested elsewhere;
  // this test is about the stream, so the link turns hostile once the channel is open.
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(30)));
  std::vector<std::string> received;
  bool opened = false;
  std::size_t errors = 0;
  std::uint32_t channel = 0;
  a.on_event = [&](Host&, const Event& e) {
    errors += std::holds_alternative<event::ChannelErrored>(e) ? 1 : 0;
  };
  b.on_event = [&](Host&, const Event& e) {
    errors += std::holds_alternative<event::ChannelErrored>(e) ? 1 : 0;
    if (const auto* o = std::get_if<event::ChannelOpened>(&e)) {
      EXPECT_FALSE(opened) << "opened twice";
      opened = o->channel == channel;
    } else if (const auto* d = std::get_if<event::ChannelData>(&e)) {
      if (d->channel == channel) received.push_back(text_of(d->body));
    }
  };
  channel = sim.open_channel(a, b, "bulk", true, bytes_of("open"));
  ASSERT_NE(channel, 0u);
  ASSERT_TRUE(sim.run_until([&] { return opened; }, seconds(5)));
  sim.network().set_default_link(LinkParams{milliseconds(20), milliseconds(30), 0.20, 0.05});
  int next = 0;
  const Instant deadline = sim.now() + seconds(3600);
  while (received.size() < kPackets) {
    while (next < kPackets && a.endpoint().channel_send_capacity(b.hashname(), channel) > 0) {
      auto sent = sim.send_channel(a, b, channel, bytes_of(std::to_string(next)));
      ASSERT_TRUE(sent.has_value()) << "send " << next << ": " << to_string(sent.error());
      ++next;
    }
    if (!sim.step(deadline)) break;
    if (errors > 0) break;
  }
  sim.run_for(seconds(5));
  EXPECT_TRUE(opened);
  EXPECT_EQ(a.count<event::ChannelErrored>(), 0u);
  EXPECT_EQ(b.count<event::ChannelErrored>(), 0u);
  ASSERT_EQ(received.size(), std::size_t{kPackets})
      << "sent " << next << " by +" << (sim.now() - sim.start()).count() / 1000000 << " ms";
  for (int i = 0; i < kPackets; ++i) {
    ASSERT_EQ(received[i], std::to_string(i)) << "at position " << i;
  }
  // The network really was hostile.
  const auto& net = sim.network().stats();
  EXPECT_GT(net.lost, kPackets / 10);
  EXPECT_GT(net.duplicated, 0u);
  EXPECT_GT(net.reordered, 0u);
  EXPECT_GT(b.stats().dropped_replay, 0u) << "duplicates should be caught as replays";
  std::printf("[ sim ] 10000 reliable packets in %.1f s simulated; %llu datagrams, %llu lost\n",
              std::chrono::duration<double>(sim.elapsed()).count(),
              static_cast<unsigned long long>(net.sent), static_cast<unsigned long long>(net.lost));
}

}  // namespace
}  // namespace e3x::sim
