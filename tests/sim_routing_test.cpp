// Routing through a mutual peer (PROTOCOL.md 12) on the simulated network: A and B sit behind
// NATs that filter by address (as Linux conntrack does), H is public and configured as their
// router. Introduction through `peer`/`connect`, hole punching from both sides, relay when a
// symmetric NAT defeats punching, and the router's policy.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/lob.hpp"
#include "core/routing.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

struct Sites {
  explicit Sites(bool b_symmetric = false, std::uint64_t seed = 0,
                 Duration a_nat_idle = seconds(30))
      : sim(resolve_seed(seed == 0 ? 1201 : seed)) {
    NatOptions a_nat;
    a_nat.address_dependent_filtering = true;
    a_nat.idle_timeout = a_nat_idle;
    NatOptions b_nat = a_nat;
    b_nat.symmetric = b_symmetric;
    h = &sim.add_host("h");
    HostOptions a_options;
    a_options.name = "a";
    a_options.nat = sim.add_nat(a_nat);
    a = &sim.add_host(a_options);
    HostOptions b_options;
    b_options.name = "b";
    b_options.nat = sim.add_nat(b_nat);
    b = &sim.add_host(b_options);
    sim.make_peers(*a, *h);
    sim.make_peers(*b, *h);
    sim.make_peers(*a, *b);
    RoutingConfig router;
    router.router = true;
    allowed = {a->hashname(), b->hashname()};
    router.may_route = [this](const Hashname& peer) { return allowed.count(peer) != 0; };
    h_routing = &sim.enable_routing(*h, router);
    a_routing = &sim.enable_routing(*a, client(*b));
    b_routing = &sim.enable_routing(*b, client(*a));
  }
  RoutingConfig client(const Host& peer) {
    RoutingConfig config;
    const Hashname peer_hashname = peer.hashname();
    const Hashname hub = h->hashname();
    config.routers_for = [peer_hashname, hub](const Hashname& who) {
      return who == peer_hashname ? std::vector<Hashname>{hub} : std::vector<Hashname>{};
    };
    return config;
  }
  // A and B up with H (their configured router).
  void link_to_hub(Duration timeout = seconds(5)) {
    ASSERT_TRUE(sim.connect(*a, *h));
    ASSERT_TRUE(sim.connect(*b, *h));
    ASSERT_TRUE(sim.run_until_in_sync(*a, *h, timeout));
    ASSERT_TRUE(sim.run_until_in_sync(*b, *h, timeout));
  }
  // A asks H to introduce it to B.
  void ask_hub_for_b() {
    ASSERT_TRUE(a_routing->connect_via(sim.now(), b->hashname(), h->hashname()));
    sim.drain(*a);
  }
  void introduce() {
    link_to_hub();
    ask_hub_for_b();
    ASSERT_TRUE(sim.run_until_in_sync(*a, *b, seconds(5)));
  }
  bool direct(Host& from, const Host& to) {
    const PathId path = from.endpoint().current_path(to.hashname());
    return path != kNoPath && !is_relay_path(path);
  }

  Simulator sim;
  Host* h = nullptr;
  Host* a = nullptr;
  Host* b = nullptr;
  Routing* h_routing = nullptr;
  Routing* a_routing = nullptr;
  Routing* b_routing = nullptr;
  std::set<Hashname> allowed;
};

// Sends `count` unreliable packets from `from` to `to` on a new channel; returns the channel.
std::uint32_t send_burst(Simulator& sim, Host& from, const Host& to, int count) {
  const std::uint32_t channel = sim.open_channel(from, to, "burst", false, bytes_of("0"));
  for (int i = 1; i < count; ++i) {
    EXPECT_TRUE(sim.send_channel(from, to, channel, bytes_of(std::to_string(i))));
  }
  return channel;
}

std::size_t received_on(const Host& host, const Hashname& from, const std::string& type) {
  std::size_t opened = 0, data = 0;
  std::uint32_t id = 0;
  for (const auto& open : host.events_of<event::ChannelOpened>()) {
    if (open.peer == from && open.type == type) {
      ++opened;
      id = open.channel;
    }
  }
  for (const auto& packet : host.events_of<event::ChannelData>()) {
    if (packet.peer == from && packet.channel == id) ++data;
  }
  return opened + data;
}

TEST(SimRouting, IntroductionThroughTheRouterThenBothSidesPunchADirectPath) {
  Sites sites;
  sites.introduce();
  // Up through H first: both sides are on the relay path.
  EXPECT_TRUE(is_relay_path(sites.a->endpoint().current_path(sites.b->hashname())) ||
              sites.direct(*sites.a, *sites.b));
  EXPECT_EQ(sites.h_routing->stats().introductions >= 2, true);
  const Instant up = sites.sim.now();
  ASSERT_TRUE(sites.sim.run_until(
      [&] { return sites.direct(*sites.a, *sites.b) && sites.direct(*sites.b, *sites.a); },
      seconds(5)))
      << "no direct path within 5 s of the exchange coming up through the router";
  EXPECT_LE(sites.sim.now() - up, seconds(5));
  EXPECT_EQ(sites.a_routing->reach(sites.b->hashname()).kind, ReachKind::kDirect);
  EXPECT_EQ(sites.b_routing->reach(sites.a->hashname()).kind, ReachKind::kDirect);
  const auto history = sites.a_routing->reach(sites.b->hashname()).history;
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().to, "direct");
  EXPECT_NE(history.back().reason.find("punched in"), std::string::npos) << history.back().reason;

  // From now on H forwards nothing for the pair: traffic flows directly.
  sites.sim.run_for(seconds(1));
  const auto relayed_before = sites.h_routing->stats().relayed_packets;
  send_burst(sites.sim, *sites.a, *sites.b, 50);
  send_burst(sites.sim, *sites.b, *sites.a, 50);
  sites.sim.run_for(seconds(60));  // keepalives included
  EXPECT_EQ(received_on(*sites.b, sites.a->hashname(), "burst"), 50u);
  EXPECT_EQ(received_on(*sites.a, sites.b->hashname(), "burst"), 50u);
  EXPECT_EQ(sites.h_routing->stats().relayed_packets, relayed_before);
  EXPECT_TRUE(sites.direct(*sites.a, *sites.b));
}

TEST(SimRouting, ASymmetricNatKeepsThePairRelayedAndTrafficFlowsThroughTheRouter) {
  Sites sites(/*b_symmetric=*/true);
  sites.introduce();
  sites.sim.run_for(seconds(6));  // one whole punching attempt
  EXPECT_FALSE(sites.direct(*sites.a, *sites.b));
  EXPECT_FALSE(sites.direct(*sites.b, *sites.a));
  const PeerReach reach = sites.a_routing->reach(sites.b->hashname());
  EXPECT_EQ(reach.kind, ReachKind::kRelayed);
  ASSERT_TRUE(reach.via);
  EXPECT_EQ(*reach.via, sites.h->hashname());
  EXPECT_EQ(reach.punch, PeerReach::Punch::kFailed);
  EXPECT_NE(reach.last_failure.find("no answer from"), std::string::npos) << reach.last_failure;

  const auto relayed_before = sites.h_routing->stats().relayed_packets;
  send_burst(sites.sim, *sites.a, *sites.b, 100);
  sites.sim.run_for(seconds(2));
  EXPECT_EQ(received_on(*sites.b, sites.a->hashname(), "burst"), 100u);
  EXPECT_GE(sites.h_routing->stats().relayed_packets, relayed_before + 100);

  // The upgrade is retried every 60 s while relayed, without disturbing the exchange.
  const auto attempts = sites.a_routing->stats().punches_started;
  sites.sim.run_for(seconds(125));
  EXPECT_GE(sites.a_routing->stats().punches_started, attempts + 2);
  EXPECT_TRUE(sites.sim.in_sync(*sites.a, *sites.b));
  EXPECT_EQ(sites.a->count<event::ExchangeDown>(), 0u);
  EXPECT_EQ(sites.b->count<event::ExchangeDown>(), 0u);
}

TEST(SimRouting, WhenTheDirectPathIsCutThePairFallsBackToTheRelay) {
  // "The relayed path stays as a fallback" (PROTOCOL.md 12): once direct, losing the direct
  // path brings the pair back through the router without the exchange going down.
  Sites sites;
  sites.introduce();
  ASSERT_TRUE(sites.sim.run_until(
      [&] { return sites.direct(*sites.a, *sites.b) && sites.direct(*sites.b, *sites.a); },
      seconds(5)));
  const Address a_public = *sites.sim.address_of(*sites.a);
  const Address b_public = *sites.sim.address_of(*sites.b);
  // From now on nothing passes directly between the two NATs.
  sites.sim.network().set_filter([&](const SentRecord& record) {
    const bool a_to_b = record.from.ip == a_public.ip && record.to.ip == b_public.ip;
    const bool b_to_a = record.from.ip == b_public.ip && record.to.ip == a_public.ip;
    return !(a_to_b || b_to_a);
  });
  const Instant cut = sites.sim.now();
  ASSERT_TRUE(sites.sim.run_until(
      [&] { return !sites.direct(*sites.a, *sites.b) && !sites.direct(*sites.b, *sites.a); },
      seconds(90)));
  // Rule 6: silence for 10 s, then a new handshake; it reaches the peer through the router.
  EXPECT_LE(sites.sim.now() - cut, seconds(60));
  EXPECT_TRUE(sites.sim.in_sync(*sites.a, *sites.b));
  EXPECT_EQ(sites.a->count<event::ExchangeDown>(), 0u);
  EXPECT_EQ(sites.b->count<event::ExchangeDown>(), 0u);
  EXPECT_EQ(sites.a_routing->reach(sites.b->hashname()).kind, ReachKind::kRelayed);
  sites.sim.run_for(seconds(1));
  send_burst(sites.sim, *sites.a, *sites.b, 30);
  sites.sim.run_for(seconds(2));
  EXPECT_EQ(received_on(*sites.b, sites.a->hashname(), "burst"), 30u);
}

TEST(SimRouting, ThePolicyRefusesSilentlyAndRelaysOnlyIntroducedPairs) {
  Sites sites;
  // C is a peer of H and knows B, but H does not route for it.
  Host& c = sites.sim.add_host("c");
  sites.sim.make_peers(c, *sites.h);
  sites.sim.make_peers(c, *sites.b);
  Routing& c_routing = sites.sim.enable_routing(c, sites.client(*sites.b));
  ASSERT_TRUE(sites.sim.connect(c, *sites.h));
  ASSERT_TRUE(sites.sim.connect(*sites.b, *sites.h));
  ASSERT_TRUE(sites.sim.run_until_in_sync(c, *sites.h, seconds(5)));
  ASSERT_TRUE(sites.sim.run_until_in_sync(*sites.b, *sites.h, seconds(5)));
  sites.sim.run_for(seconds(1));
  const std::size_t c_received = c.datagrams_received();
  const std::uint64_t b_received = sites.b->datagrams_received();
  ASSERT_TRUE(c_routing.connect_via(sites.sim.now(), sites.b->hashname(), sites.h->hashname()));
  sites.sim.drain(c);
  sites.sim.run_for(seconds(3));
  EXPECT_EQ(sites.h_routing->stats().introductions, 0u);
  EXPECT_GE(sites.h_routing->stats().peer_requests_refused, 1u);
  // No reply at all to C beyond its exchange with H (which has nothing to say in 3 s: its
  // keepalive is 25 s away), and nothing reached B on C's behalf.
  EXPECT_EQ(c.datagrams_received(), c_received);
  EXPECT_EQ(sites.b->datagrams_received(), b_received);
  EXPECT_FALSE(sites.sim.in_sync(c, *sites.b));
}

// A router turned hostile sends A `connect` channels that claim to introduce B, each with a
// different junk message packet as BODY, closing each (so A's channel limit never bites). A
// used to keep the token of every BODY before its endpoint rejected the packet, about 128
// bytes each, until B's exchange went down: memory without bound (found by fuzz_routing).
TEST(SimRouting, AHostileRouterCannotMakeAClientKeepTokensForJunk) {
  Sites sites;
  sites.link_to_hub();
  Endpoint& hub = sites.h->endpoint();
  const auto refused = sites.a_routing->stats().connects_refused;
  constexpr int kConnects = 200;
  for (int i = 0; i < kConnects; ++i) {
    Bytes junk = {0x00, 0x01, 0x3a};  // a message packet's LENGTH and CSID, then noise
    junk.resize(3 + 70, 0x11);
    for (int k = 0; k < 4; ++k) junk[7 + k] = static_cast<std::uint8_t>(i >> (8 * k));
    const boost::json::object claim{{"peer", sites.b->hashname().to_string()},
                                    {"paths", boost::json::array{}}};
    auto channel =
        hub.open_channel(sites.sim.now(), sites.a->hashname(), "connect", false, claim, junk);
    ASSERT_TRUE(channel.has_value());
    sites.sim.drain(*sites.h);
    sites.sim.run_for(milliseconds(20));
    (void)hub.close_channel(sites.sim.now(), sites.a->hashname(), *channel, "done");
    sites.sim.drain(*sites.h);
    sites.sim.run_for(milliseconds(20));
  }
  EXPECT_EQ(sites.a_routing->stats().connects_refused, refused + kConnects);
  EXPECT_EQ(sites.a_routing->incoming_token_count(), 0u);
  EXPECT_TRUE(sites.sim.in_sync(*sites.a, *sites.h));
  EXPECT_FALSE(sites.sim.in_sync(*sites.a, *sites.b));
}

// H lists A as a router for B. A, turned hostile, sends H a `connect` claiming to introduce B
// with A's own handshake as BODY. H used to take it on the relay path "B through A" and move
// its exchange with A onto that path, which leads back through A: H's link to A stopped
// working until a handshake came from a direct address (found by fuzz_routing). A carried
// handshake is taken only from the peer the `connect` names.
TEST(SimRouting, AConnectCarryingAnotherPeersHandshakeMovesNothing) {
  Sites sites;
  RoutingConfig hub = sites.h_routing->config();
  const Hashname a = sites.a->hashname();
  const Hashname b = sites.b->hashname();
  hub.routers_for = [a, b](const Hashname& who) {
    return who == b ? std::vector<Hashname>{a} : std::vector<Hashname>{};
  };
  sites.h_routing->reconfigure(hub);
  sites.link_to_hub();
  sites.sim.run_for(seconds(1));
  const PathId h_to_a = sites.h->endpoint().current_path(a);
  ASSERT_NE(h_to_a, kNoPath);
  ASSERT_FALSE(is_relay_path(h_to_a));
  // A's last handshake to H, as the network saw it.
  const auto handshakes = sites.sim.sent_by(*sites.a, [](const SentRecord& sent) {
    return sent.bytes.size() > 2 && sent.bytes[0] == 0 && sent.bytes[1] == 1;
  });
  ASSERT_FALSE(handshakes.empty());
  const auto refused = sites.h_routing->stats().connects_refused;
  const boost::json::object claim{{"peer", b.to_string()}, {"paths", boost::json::array{}}};
  ASSERT_TRUE(sites.a->endpoint()
                  .open_channel(sites.sim.now(), sites.h->hashname(), "connect", false, claim,
                                handshakes.back().bytes)
                  .has_value());
  sites.sim.drain(*sites.a);
  sites.sim.run_for(seconds(2));
  EXPECT_EQ(sites.h_routing->stats().connects_refused, refused + 1);
  EXPECT_EQ(sites.h->endpoint().current_path(a), h_to_a);
  EXPECT_EQ(sites.h_routing->incoming_token_count(), 0u);
  // H and A still talk: a burst from H reaches A.
  const std::uint32_t channel = send_burst(sites.sim, *sites.h, *sites.a, 5);
  sites.sim.run_for(milliseconds(500));
  EXPECT_EQ(received_on(*sites.a, sites.h->hashname(), "burst"), 5u);
  (void)channel;
}

TEST(SimRouting, AForgedPacketWithARoutedTokenIsForwardedButDroppedByTheRecipient) {
  Sites sites(/*b_symmetric=*/true);
  sites.introduce();
  sites.sim.run_for(seconds(6));
  ASSERT_FALSE(sites.direct(*sites.a, *sites.b));
  // A channel packet carrying A's token with garbage after it, from a spoofed address.
  const auto status = sites.a->endpoint().peer_status(sites.b->hashname());
  ASSERT_TRUE(status && status->local_token);
  Bytes forged = {0, 0};
  forged.insert(forged.end(), status->local_token->begin(), status->local_token->end());
  forged.resize(forged.size() + 24 + 40, 0x5a);
  const auto h_x25519 = sites.h->stats().x25519_operations;
  const auto relayed = sites.h_routing->stats().relayed_packets;
  const auto b_dropped = sites.b->stats().dropped_unauthenticated;
  sites.sim.inject(*sites.h, ipv4(10, 9, 9, 9, 9999), forged);
  sites.sim.run_for(milliseconds(200));
  EXPECT_EQ(sites.h_routing->stats().relayed_packets, relayed + 1);
  EXPECT_EQ(sites.h->stats().x25519_operations, h_x25519);  // no crypto at the router
  EXPECT_EQ(sites.b->stats().dropped_unauthenticated, b_dropped + 1);
}

TEST(SimRouting, TheRouterCannotAlterRelayedData) {
  Sites sites(/*b_symmetric=*/true);
  sites.introduce();
  sites.sim.run_for(seconds(6));
  ASSERT_FALSE(sites.direct(*sites.a, *sites.b));
  const HostId h_id = sites.h->id();
  const HostId b_id = sites.b->id();
  int flipped = 0;
  sites.sim.network().set_mutator([&](const SentRecord& record, Bytes& bytes) {
    if (record.from_node == h_id && record.to_node == b_id && flipped < 5 && bytes.size() > 60 &&
        bytes[0] == 0 && bytes[1] == 0 && sites.h_routing->stats().relayed_packets > 0) {
      bytes[bytes.size() - 20] ^= 0x01;
      ++flipped;
    }
  });
  const auto b_dropped = sites.b->stats().dropped_unauthenticated;
  const std::uint32_t channel = sites.sim.open_channel(*sites.a, *sites.b, "data", true);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        sites.sim.send_channel(*sites.a, *sites.b, channel, bytes_of("x" + std::to_string(i))));
  }
  sites.sim.run_for(seconds(5));
  EXPECT_EQ(flipped, 5);
  EXPECT_EQ(sites.b->stats().dropped_unauthenticated, b_dropped + 5);
  // The reliable channel repaired what the router broke: all 20 arrive, in order.
  std::vector<std::string> got;
  for (const auto& data : sites.b->events_of<event::ChannelData>()) {
    if (data.peer == sites.a->hashname()) got.push_back(text_of(data.body));
  }
  ASSERT_EQ(got.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "x" + std::to_string(i));
}

TEST(SimRouting, BothSidesAskingAtOnceStillGiveOneSessionThatCarriesBothDirections) {
  // Each end has the other in `via` and no endpoint: the daemon sends both introductions in
  // the same second. Every channel opened afterwards, either way, must arrive.
  Sites sites;
  sites.link_to_hub();
  // Each side probes the other as soon as it is up, as the daemon's path module does.
  for (Host* host : {sites.a, sites.b}) {
    host->on_event = [&sites](Host& self, const Event& event) {
      if (const auto* up = std::get_if<event::ExchangeUp>(&event)) {
        Host& other = up->peer == sites.a->hashname() ? *sites.a : *sites.b;
        if (&other != &self && up->peer != sites.h->hashname()) {
          (void)self.endpoint().open_channel(sites.sim.now(), other.hashname(), "probe", false);
        }
      }
    };
  }
  ASSERT_TRUE(
      sites.a_routing->connect_via(sites.sim.now(), sites.b->hashname(), sites.h->hashname()));
  ASSERT_TRUE(
      sites.b_routing->connect_via(sites.sim.now(), sites.a->hashname(), sites.h->hashname()));
  sites.sim.drain_all();
  ASSERT_TRUE(sites.sim.run_until(
      [&] { return sites.direct(*sites.a, *sites.b) && sites.direct(*sites.b, *sites.a); },
      seconds(6)));
  sites.sim.run_for(seconds(1));
  // The probes opened the moment each exchange came up (through the router) arrived: the
  // handshake that set up the route left ahead of them.
  EXPECT_EQ(received_on(*sites.b, sites.a->hashname(), "probe"), 1u);
  EXPECT_EQ(received_on(*sites.a, sites.b->hashname(), "probe"), 1u);
  const auto a_dropped = sites.a->stats().dropped_channel;
  const auto b_dropped = sites.b->stats().dropped_channel;
  send_burst(sites.sim, *sites.a, *sites.b, 10);
  send_burst(sites.sim, *sites.b, *sites.a, 10);
  sites.sim.run_for(seconds(1));
  EXPECT_EQ(received_on(*sites.b, sites.a->hashname(), "burst"), 10u);
  EXPECT_EQ(received_on(*sites.a, sites.b->hashname(), "burst"), 10u);
  EXPECT_EQ(sites.a->stats().dropped_channel, a_dropped);
  EXPECT_EQ(sites.b->stats().dropped_channel, b_dropped);
}

TEST(SimRouting, AChannelOpenedTheMomentTheExchangeComesUpArrivesThroughTheRouter) {
  // The daemon's path module opens a channel as soon as an exchange is up; on the side that
  // answered the introduction that happens before its reply (wrapped in a `peer` channel)
  // has left. The wrapped reply must reach the router first: it sets up the route.
  Sites sites(/*b_symmetric=*/true);
  sites.link_to_hub();
  for (Host* host : {sites.a, sites.b}) {
    host->on_event = [&sites](Host& self, const Event& event) {
      const auto* up = std::get_if<event::ExchangeUp>(&event);
      if (!up || up->peer == sites.h->hashname()) return;
      (void)self.endpoint().open_channel(sites.sim.now(), up->peer, "probe", false);
    };
  }
  sites.ask_hub_for_b();
  ASSERT_TRUE(sites.sim.run_until_in_sync(*sites.a, *sites.b, seconds(5)));
  sites.sim.run_for(seconds(1));
  EXPECT_EQ(received_on(*sites.b, sites.a->hashname(), "probe"), 1u);
  EXPECT_EQ(received_on(*sites.a, sites.b->hashname(), "probe"), 1u);
}

TEST(SimRouting, WhenANatRebindsThePairRecoversThroughTheRouterAndPunchesAgain) {
  // A's NAT forgets a mapping after 20 s without outbound traffic, less than the 25 s
  // keepalive: between keepalives A's public port changes. B's NAT filters by address, so
  // A's packets from the new port are dropped there until B has sent to it: the pair falls
  // back to the relay, learns the new address from the router's `connect`, and punches again.
  Sites sites(/*b_symmetric=*/false, /*seed=*/0, /*a_nat_idle=*/seconds(20));
  sites.introduce();
  ASSERT_TRUE(sites.sim.run_until(
      [&] { return sites.direct(*sites.a, *sites.b) && sites.direct(*sites.b, *sites.a); },
      seconds(5)));
  const Address first = *sites.sim.address_of(*sites.a);
  sites.sim.run_for(seconds(300));
  const auto nat = *sites.sim.network().nat_of(sites.a->id());
  EXPECT_GE(sites.sim.network().nat(nat).mappings_created(), 3u) << "the NAT did not rebind";
  EXPECT_NE(*sites.sim.address_of(*sites.a), first);
  // Each rebinding: back to the relay (the fallback handshake), then direct again.
  std::size_t to_relay = 0, to_direct = 0;
  for (const auto& changed : sites.a->events_of<event::PathChanged>()) {
    (is_relay_path(changed.path) ? to_relay : to_direct) += 1;
  }
  EXPECT_GE(to_relay, 2u);
  EXPECT_GE(to_direct, to_relay);
  EXPECT_TRUE(sites.direct(*sites.a, *sites.b));
  EXPECT_EQ(sites.a->count<event::ExchangeDown>(), 0u);
  EXPECT_EQ(sites.b->count<event::ExchangeDown>(), 0u);
  EXPECT_TRUE(sites.sim.in_sync(*sites.a, *sites.b));
  EXPECT_GE(sites.a_routing->stats().punches_succeeded + sites.b_routing->stats().punches_succeeded,
            2u);
  // Traffic flows whichever path the pair is on at this moment.
  send_burst(sites.sim, *sites.a, *sites.b, 20);
  send_burst(sites.sim, *sites.b, *sites.a, 20);
  sites.sim.run_for(seconds(2));
  EXPECT_EQ(received_on(*sites.b, sites.a->hashname(), "burst"), 20u);
  EXPECT_EQ(received_on(*sites.a, sites.b->hashname(), "burst"), 20u);
}

TEST(SimRouting, IntroductionAndPunchingSurviveLossJitterAndDuplicates) {
  // 5% loss, 20-40 ms one way, duplicates: the introduction is retried with the handshake's
  // resends, punches are repeated six times, and the pair still ends up direct.
  Sites sites;
  LinkParams lossy;
  lossy.delay = milliseconds(20);
  lossy.jitter = milliseconds(20);
  lossy.loss = 0.05;
  lossy.duplicate = 0.02;
  sites.sim.network().set_default_link(lossy);
  sites.link_to_hub(seconds(20));
  sites.ask_hub_for_b();
  ASSERT_TRUE(sites.sim.run_until_in_sync(*sites.a, *sites.b, seconds(30)));
  ASSERT_TRUE(sites.sim.run_until(
      [&] { return sites.direct(*sites.a, *sites.b) && sites.direct(*sites.b, *sites.a); },
      seconds(70)))
      << "punching never succeeded (attempts every 60 s)";
  const std::uint32_t channel = sites.sim.open_channel(*sites.a, *sites.b, "data", true);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(sites.sim.send_channel(*sites.a, *sites.b, channel, bytes_of(std::to_string(i))));
  }
  sites.sim.run_for(seconds(10));
  std::size_t got = 0;
  for (const auto& data : sites.b->events_of<event::ChannelData>()) {
    got += data.peer == sites.a->hashname() ? 1 : 0;
  }
  EXPECT_EQ(got, 50u);
  EXPECT_EQ(sites.a->count<event::ExchangeDown>(), 0u);
}

}  // namespace
}  // namespace e3x::sim
