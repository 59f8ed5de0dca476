// Stale and replayed packets produce no reply (PROTOCOL.md 4, 5 and 6): an old handshake
// from the peer (SEQ below recv_max) and an already-accepted channel packet are dropped and
// counted, and nothing is sent back; a resend of the current handshake (same SEQ) is answered
// with the stored reply, verbatim, at most once per second.
#include <gtest/gtest.h>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

struct Synced {
  Simulator sim;
  Host& a;
  Host& b;
  explicit Synced(std::uint64_t seed) : sim(seed), a(sim.add_host("a")), b(sim.add_host("b")) {
    sim.network().set_default_link(LinkParams{milliseconds(15), Duration::zero(), 0.0, 0.0});
    sim.make_peers(a, b, PeerOptions{Duration::zero()});  // no keepalive: a quiet wire
  }
};

// B's own-parity handshakes as sent, oldest first.
std::vector<HandshakeRecord> originated_by(const Simulator& sim, const Host& host,
                                           const Host& peer) {
  std::vector<HandshakeRecord> out;
  const std::uint32_t own = is_high(host, peer) ? 1 : 0;
  for (auto& h : handshakes_sent(sim, host)) {
    if (h.seq % 2 == own && (out.empty() || out.back().seq != h.seq)) out.push_back(h);
  }
  return out;
}

TEST(SimReplay, StaleHandshakeGetsNoReply) {
  Synced s(resolve_seed(301));
  // References, not a structured binding: clang before 16 cannot capture a binding in a lambda.
  Simulator& sim = s.sim;
  Host& a = s.a;
  Host& b = s.b;
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  sim.run_for(seconds(3));
  ASSERT_TRUE(sim.request_keepalive(b, a).has_value());
  const auto received_before = a.stats().handshakes_received;
  ASSERT_TRUE(
      sim.run_until([&] { return a.stats().handshakes_received > received_before; }, seconds(5)));
  sim.run_for(seconds(2));
  const auto originated = originated_by(sim, b, a);
  ASSERT_GE(originated.size(), 2u);
  ASSERT_LT(originated.front().seq, originated.back().seq);
  ASSERT_EQ(a.endpoint().peer_status(b.hashname())->seq_recv, originated.back().seq);

  const auto sent_before = a.datagrams_sent();
  const auto stale_before = a.stats().dropped_stale;
  const auto events_before = a.events().size();
  sim.inject(a, *sim.address_of(b), originated.front().bytes);
  sim.run_for(seconds(10));
  EXPECT_EQ(a.datagrams_sent(), sent_before) << "a answered a stale handshake";
  EXPECT_EQ(a.stats().dropped_stale, stale_before + 1);
  EXPECT_EQ(a.events().size(), events_before);
  EXPECT_EQ(a.endpoint().peer_status(b.hashname())->seq_recv, originated.back().seq);
  EXPECT_TRUE(sim.in_sync(a, b));
}

TEST(SimReplay, ReplayedChannelPacketIsDroppedWithoutReply) {
  Synced s(resolve_seed(302));
  // References, not a structured binding: clang before 16 cannot capture a binding in a lambda.
  Simulator& sim = s.sim;
  Host& a = s.a;
  Host& b = s.b;
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const std::uint32_t channel = sim.open_channel(b, a, "replay", false, bytes_of("open"));
  ASSERT_TRUE(sim.run_until([&] { return opened_channel(a, b.hashname(), "replay").has_value(); },
                            seconds(5)));
  ASSERT_TRUE(sim.send_channel(a, b, channel, bytes_of("ack it")).has_value());
  ASSERT_TRUE(sim.send_channel(b, a, channel, bytes_of("payload")).has_value());
  ASSERT_TRUE(sim.run_until([&] { return channel_bodies(a, b.hashname(), channel).size() == 2; },
                            seconds(5)));
  sim.run_for(seconds(3));
  const auto packets = channel_packets_sent(sim, b);
  ASSERT_EQ(packets.size(), 2u);

  const auto sent_before = a.datagrams_sent();
  const auto replay_before = a.stats().dropped_replay;
  const auto events_before = a.events().size();
  for (const auto& p : packets) sim.inject(a, *sim.address_of(b), p.bytes);
  sim.inject(a, *sim.address_of(b), packets.back().bytes, seconds(2));
  sim.run_for(seconds(10));
  EXPECT_EQ(a.datagrams_sent(), sent_before) << "a answered a replayed channel packet";
  EXPECT_EQ(a.stats().dropped_replay, replay_before + 3);
  EXPECT_EQ(a.events().size(), events_before) << "a replay was delivered to the application";
  EXPECT_EQ(channel_bodies(a, b.hashname(), channel),
            (std::vector<std::string>{"open", "payload"}));
}

TEST(SimReplay, ResentHandshakeGetsStoredReplyAtMostOncePerSecond) {
  Synced s(resolve_seed(303));
  // References, not a structured binding: clang before 16 cannot capture a binding in a lambda.
  Simulator& sim = s.sim;
  Host& a = s.a;
  Host& b = s.b;
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const auto originated = originated_by(sim, b, a);
  ASSERT_EQ(originated.size(), 1u);
  const std::uint32_t seq = originated.front().seq;
  auto replies = [&] {
    std::vector<HandshakeRecord> out;
    for (auto& h : handshakes_sent(sim, a)) {
      if (h.seq == seq) out.push_back(h);
    }
    return out;
  };
  ASSERT_EQ(replies().size(), 1u);

  // The same handshake again every 100 ms for 3.5 s, from B's address.
  for (int i = 1; i <= 35; ++i) {
    sim.inject(a, *sim.address_of(b), originated.front().bytes, milliseconds(100 * i));
  }
  sim.run_for(seconds(5));
  const auto all = replies();
  ASSERT_GE(all.size(), 2u) << "a resent handshake got no reply at all";
  EXPECT_LE(all.size(), 5u);
  for (std::size_t i = 1; i < all.size(); ++i) {
    EXPECT_EQ(all[i].bytes, all[0].bytes) << "the reply was not resent verbatim";
    EXPECT_GE(all[i].at - all[i - 1].at, seconds(1))
        << "replies " << i - 1 << " and " << i << " are less than a second apart";
  }
  EXPECT_EQ(a.endpoint().peer_status(b.hashname())->seq_recv, seq);
  EXPECT_EQ(a.count<event::ExchangeUp>(), 1u);
}

}  // namespace
}  // namespace e3x::sim
