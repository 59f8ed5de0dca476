// Paths change only after authentication (PROTOCOL.md 7), and NAT mappings are kept alive by
// keepalives (PROTOCOL.md 5). A host behind a NAT goes quiet until its mapping expires; its
// next authenticated packet comes from a new public port (NAT rebinding): the peer reports
// PathChanged and answers there. Garbage, forgeries and replays from a third address change
// nothing and get no answer.
#include <gtest/gtest.h>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

const Address kThirdAddress = ipv4(198, 51, 100, 7, 9999);

struct NatPair {
  Simulator sim;
  NatId nat;
  Host& a;  // behind the NAT
  Host& b;  // public
  NatPair(std::uint64_t seed, Duration idle_timeout, PeerOptions a_options, PeerOptions b_options)
      : sim(seed), nat(sim.add_nat(idle_timeout)), a(add_inside(sim, nat)), b(sim.add_host("b")) {
    sim.network().set_default_link(LinkParams{milliseconds(20), milliseconds(5), 0.0, 0.0});
    sim.make_peers(a, a_options, b, b_options);
  }
  static Host& add_inside(Simulator& sim, NatId nat) {
    HostOptions options;
    options.name = "a";
    options.nat = nat;
    return sim.add_host(std::move(options));
  }
  // The channel both sides have opened (so neither side times it out in OPENING).
  std::uint32_t open_both_ways() {
    const std::uint32_t channel = sim.open_channel(a, b, "roam", false, bytes_of("open"));
    EXPECT_TRUE(sim.run_until([&] { return opened_channel(b, a.hashname(), "roam").has_value(); },
                              seconds(5)));
    EXPECT_TRUE(sim.send_channel(b, a, channel, bytes_of("open back")).has_value());
    EXPECT_TRUE(sim.run_until([&] { return channel_bodies(a, b.hashname(), channel).size() == 1; },
                              seconds(5)));
    return channel;
  }
};

enum class RoamBy { kChannelPacket, kHandshake };

void run_rebinding(RoamBy roam_by) {
  NatPair p(resolve_seed(601), seconds(20), PeerOptions{Duration::zero()},
            PeerOptions{Duration::zero()});
  auto& sim = p.sim;
  Host& a = p.a;
  Host& b = p.b;
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const std::uint32_t channel = p.open_both_ways();
  // A newer handshake, so A's first one is stale (for the replay below).
  ASSERT_TRUE(sim.request_keepalive(a, b).has_value());
  sim.run_for(seconds(1));
  const auto first_mapping = sim.address_of(a);
  ASSERT_TRUE(first_mapping.has_value());
  const PathId old_path = b.endpoint().peer_status(a.hashname())->path;
  ASSERT_EQ(b.address_of(old_path), first_mapping);
  const auto captured_handshakes = handshakes_sent(sim, a);
  const auto captured_channel = channel_packets_sent(sim, a);
  ASSERT_GE(captured_handshakes.size(), 2u);
  ASSERT_FALSE(captured_channel.empty());

  // Quiet past the NAT's idle timeout: the mapping is gone, B cannot reach A.
  sim.run_for(seconds(25));
  EXPECT_FALSE(sim.address_of(a).has_value());
  const auto nat_drops = sim.network().stats().nat_dropped;
  ASSERT_TRUE(sim.send_channel(b, a, channel, bytes_of("lost at the nat")).has_value());
  sim.run_for(seconds(1));
  EXPECT_EQ(sim.network().stats().nat_dropped, nat_drops + 1);
  EXPECT_EQ(channel_bodies(a, b.hashname(), channel).size(), 1u);

  // A's next authenticated packet leaves from a new public port.
  if (roam_by == RoamBy::kChannelPacket) {
    ASSERT_TRUE(sim.send_channel(a, b, channel, bytes_of("from the new port")).has_value());
  } else {
    ASSERT_TRUE(sim.request_keepalive(a, b).has_value());
  }
  const auto second_mapping = sim.address_of(a);
  ASSERT_TRUE(second_mapping.has_value());
  ASSERT_NE(*second_mapping, *first_mapping);
  ASSERT_TRUE(sim.run_until([&] { return b.count<event::PathChanged>() > 0; }, seconds(5)))
      << "B never moved to A's new mapping";
  const auto changed = b.events_of<event::PathChanged>();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].peer, a.hashname());
  EXPECT_EQ(b.address_of(changed[0].path), second_mapping);
  EXPECT_EQ(b.endpoint().peer_status(a.hashname())->path, changed[0].path);
  sim.run_for(seconds(1));
  if (roam_by == RoamBy::kChannelPacket) {
    EXPECT_EQ(channel_bodies(b, a.hashname(), channel).back(), "from the new port");
  }
  ASSERT_TRUE(sim.send_channel(b, a, channel, bytes_of("to the new port")).has_value());
  sim.run_for(seconds(1));
  EXPECT_EQ(channel_bodies(a, b.hashname(), channel).back(), "to the new port");
  const auto b_sent = sim.sent_by(b);
  EXPECT_EQ(b_sent.back().to, *second_mapping);

  // Now from a third address: garbage, a forged channel packet, a forged handshake, a
  // replayed channel packet and a replayed (stale) handshake.
  const auto before = b.stats();
  const auto b_sent_before = b.datagrams_sent();
  const auto events_before = b.events().size();
  Bytes garbage(120);
  for (auto& byte : garbage) byte = static_cast<std::uint8_t>(sim.network().rng()());
  garbage[0] = 0x7f;  // a LENGTH beyond the datagram
  Bytes forged_channel = captured_channel.back().bytes;
  forged_channel[2 + 16] ^= 0x01;  // a fresh NONCE: it must fail authentication, not replay
  Bytes forged_handshake = captured_handshakes.back().bytes;
  forged_handshake[60] ^= 0x80;  // inside BOX
  sim.inject(b, kThirdAddress, garbage);
  sim.inject(b, kThirdAddress, forged_channel, milliseconds(10));
  sim.inject(b, kThirdAddress, forged_handshake, milliseconds(20));
  sim.inject(b, kThirdAddress, captured_channel.back().bytes, milliseconds(30));
  sim.inject(b, kThirdAddress, captured_handshakes.front().bytes, milliseconds(40));
  sim.run_for(seconds(5));
  const auto& after = b.stats();
  EXPECT_EQ(after.dropped_malformed + after.dropped_unauthenticated,
            before.dropped_malformed + before.dropped_unauthenticated + 3)
      << "garbage, the forged channel packet and the forged handshake";
  EXPECT_EQ(after.dropped_replay, before.dropped_replay + 1);
  EXPECT_EQ(after.dropped_stale, before.dropped_stale + 1);
  EXPECT_EQ(b.datagrams_sent(), b_sent_before) << "B answered something from the third address";
  EXPECT_EQ(b.events().size(), events_before);
  EXPECT_EQ(b.endpoint().peer_status(a.hashname())->path, changed[0].path);
  for (const auto& record : sim.sent_by(b)) EXPECT_NE(record.to, kThirdAddress);
  ASSERT_TRUE(sim.send_channel(b, a, channel, bytes_of("still the new port")).has_value());
  sim.run_for(seconds(1));
  EXPECT_EQ(channel_bodies(a, b.hashname(), channel).back(), "still the new port");
}

TEST(SimRoaming, NatRebindingFollowedAfterAuthenticatedChannelPacket) {
  run_rebinding(RoamBy::kChannelPacket);
}

TEST(SimRoaming, NatRebindingFollowedAfterAuthenticatedHandshake) {
  run_rebinding(RoamBy::kHandshake);
}

// A replay of A's newest handshake (SEQ == recv_max, so a "resend") from a third address does
// not move B's path either.
TEST(SimRoaming, ReplayedCurrentHandshakeFromThirdAddressDoesNotMoveThePath) {
  Simulator sim(resolve_seed(602));
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  sim.run_for(seconds(3));
  const PathId path = b.endpoint().peer_status(a.hashname())->path;
  const auto hs = handshakes_sent(sim, a);
  ASSERT_EQ(hs.size(), 1u);
  sim.inject(b, kThirdAddress, hs.front().bytes);
  sim.run_for(seconds(3));
  EXPECT_EQ(b.count<event::PathChanged>(), 0u);
  EXPECT_EQ(b.endpoint().peer_status(a.hashname())->path, path);
}

// NAT idle timeout (30 s) shorter than the inside host's keepalive (60 s): the outside peer
// cannot reach it between keepalives; with a 20 s keepalive it always can, on one mapping.
// B's pings are 45 s apart: each makes B check the peer 10 s later (PROTOCOL.md 10.6), and
// A's answer refreshes the mapping too, so pings closer together than the NAT timeout minus
// 10 s would keep it alive whatever the keepalive.
TEST(SimRoaming, KeepaliveShorterThanNatTimeoutKeepsReachability) {
  for (Duration keepalive : {seconds(60), seconds(20)}) {
    const bool keeps = keepalive < seconds(30);
    SCOPED_TRACE("keepalive " + std::to_string(keepalive.count() / 1000000000) + " s");
    NatPair p(resolve_seed(603), seconds(30), PeerOptions{keepalive},
              PeerOptions{Duration::zero()});
    auto& sim = p.sim;
    ASSERT_TRUE(sim.connect(p.a, p.b).has_value());
    ASSERT_TRUE(sim.run_until_in_sync(p.a, p.b, seconds(5)));
    const std::uint32_t channel = p.open_both_ways();
    std::size_t delivered = 0, sent = 0;
    // B sends every 45 s for 6 minutes; count what reaches A.
    for (int i = 0; i < 8; ++i) {
      sim.run_for(seconds(45));
      const std::size_t got = channel_bodies(p.a, p.b.hashname(), channel).size();
      ASSERT_TRUE(
          sim.send_channel(p.b, p.a, channel, bytes_of("ping " + std::to_string(i))).has_value());
      ++sent;
      sim.run_for(milliseconds(200));
      delivered += channel_bodies(p.a, p.b.hashname(), channel).size() - got;
    }
    if (keeps) {
      EXPECT_EQ(delivered, sent);
      EXPECT_EQ(sim.network().nat(p.nat).mappings_created(), 1u);
      EXPECT_EQ(p.b.count<event::PathChanged>(), 0u);
    } else {
      EXPECT_LT(delivered, sent) << "the NAT forgot the mapping, so some pings must be lost";
      EXPECT_GT(sim.network().stats().nat_dropped, 0u);
      // Each keepalive re-creates the mapping and B follows it.
      EXPECT_GT(sim.network().nat(p.nat).mappings_created(), 1u);
      EXPECT_GE(p.b.count<event::PathChanged>(), 1u);
      EXPECT_GT(delivered, 0u) << "after each keepalive B can reach A again";
    }
    EXPECT_EQ(p.a.count<event::ExchangeDown>() + p.b.count<event::ExchangeDown>(), 0u);
  }
}

}  // namespace
}  // namespace e3x::sim
