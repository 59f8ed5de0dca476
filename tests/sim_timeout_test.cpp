// Handshake resends and the exchange timeout (PROTOCOL.md 5 and 9): a handshake nobody
// answers is sent exactly five times, byte-identical, at +0, +1, +3, +7 and +15 s; at +30 s the
// exchange goes down (ExchangeDown{kTimeout}) and a channel opened meanwhile is errored with
// "timeout". Nothing is sent afterwards.
#include <gtest/gtest.h>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

enum class Silence { kPartitioned, kPeerDoesNotKnowUs };

void run_unanswered(Silence silence) {
  Simulator sim(resolve_seed(401));
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.add_peer(a, b);
  if (silence == Silence::kPartitioned) {
    sim.add_peer(b, a);
    sim.network().partition(a.id(), b.id(), sim.now(), sim.now() + seconds(3600));
  }
  sim.run_for(milliseconds(1234));  // an arbitrary start, not on a whole second
  const Instant t0 = sim.now();
  ASSERT_TRUE(sim.connect(a, b).has_value());
  const std::uint32_t channel = sim.open_channel(a, b, "doomed", true, bytes_of("hi"));
  ASSERT_NE(channel, 0u);
  ASSERT_TRUE(sim.run_until([&] { return a.count<event::ExchangeDown>() > 0; }, seconds(60)))
      << "the exchange never timed out";
  sim.run_for(seconds(300));

  const auto sends = handshakes_sent(sim, a);
  ASSERT_EQ(sends.size(), 5u) << "expected the first send and four resends";
  const Duration offsets[] = {seconds(0), seconds(1), seconds(3), seconds(7), seconds(15)};
  for (std::size_t i = 0; i < sends.size(); ++i) {
    EXPECT_LT(std::chrono::abs(sends[i].at - (t0 + offsets[i])), milliseconds(1))
        << "send " << i << " at +" << (sends[i].at - t0).count() / 1000000 << " ms";
    EXPECT_EQ(sends[i].bytes, sends[0].bytes) << "resend " << i << " is not verbatim";
  }
  EXPECT_EQ(a.stats().handshakes_sent, 5u);
  EXPECT_EQ(a.datagrams_sent(), 5u) << "only the handshake may go out: no channel packet";
  EXPECT_EQ(a.stats().channel_packets_sent, 0u);

  const auto downs = a.timed_events_of<event::ExchangeDown>();
  ASSERT_EQ(downs.size(), 1u);
  EXPECT_EQ(downs[0].second.reason, DownReason::kTimeout);
  EXPECT_EQ(downs[0].second.peer, b.hashname());
  EXPECT_LT(std::chrono::abs(downs[0].first - (t0 + seconds(30))), milliseconds(1))
      << "down at +" << (downs[0].first - t0).count() / 1000000 << " ms";

  const auto errors = a.timed_events_of<event::ChannelErrored>();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].second.channel, channel);
  EXPECT_EQ(errors[0].second.reason, "timeout");
  EXPECT_LE(errors[0].first, downs[0].first) << "channels are errored before ExchangeDown";
  EXPECT_EQ(a.count<event::ExchangeUp>(), 0u);

  const auto status = a.endpoint().peer_status(b.hashname());
  ASSERT_TRUE(status.has_value()) << "the peer stays configured";
  EXPECT_NE(status->state, ExchangeState::kUp);
  EXPECT_EQ(a.endpoint().next_timeout(), std::nullopt) << "a dead exchange keeps no timer";
}

TEST(SimTimeout, ResendsAt1_3_7_15AndTimesOutAt30WhenPartitioned) {
  run_unanswered(Silence::kPartitioned);
}

TEST(SimTimeout, ResendsAt1_3_7_15AndTimesOutAt30WhenThePeerIgnoresUs) {
  run_unanswered(Silence::kPeerDoesNotKnowUs);
}

// A late answer (after the last resend, before 30 s) still completes the handshake: the
// partition heals at +20 s and the peer's own connect reaches us.
TEST(SimTimeout, AnswerAfterLastResendBeforeTimeoutSyncs) {
  Simulator sim(resolve_seed(402));
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);
  const Instant t0 = sim.now();
  sim.network().partition(a.id(), b.id(), t0, t0 + seconds(20));
  ASSERT_TRUE(sim.connect(a, b).has_value());
  sim.run_for(seconds(22));
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(7)));
  EXPECT_LT(sim.now(), t0 + seconds(30));
  sim.run_for(seconds(60));
  EXPECT_EQ(a.count<event::ExchangeDown>(), 0u);
  EXPECT_EQ(b.count<event::ExchangeDown>(), 0u);
  EXPECT_TRUE(sim.in_sync(a, b));
}

}  // namespace
}  // namespace e3x::sim
