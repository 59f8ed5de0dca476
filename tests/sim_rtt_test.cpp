// Handshake round-trip time (PeerStatus::handshake_rtt), which e3xctl shows as rtt_ms: it is
// the link's round trip for a handshake confirmed at once, and a confirmation of a resent
// handshake is not measured (Karn's rule), so a lost first copy never inflates it.
#include <gtest/gtest.h>

#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

TEST(SimRtt, HandshakeRoundTripIsTheLinkRoundTrip) {
  Simulator sim(resolve_seed(701));
  sim.network().set_default_link(LinkParams{milliseconds(40), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);
  EXPECT_FALSE(a.endpoint().peer_status(b.hashname())->handshake_rtt.has_value());
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const auto rtt = a.endpoint().peer_status(b.hashname())->handshake_rtt;
  ASSERT_TRUE(rtt.has_value());
  EXPECT_EQ(*rtt, milliseconds(80));
  // The answering side sent no handshake of its own, so it has nothing to measure.
  EXPECT_FALSE(b.endpoint().peer_status(a.hashname())->handshake_rtt.has_value());

  // A keepalive over a slower link updates it.
  sim.network().set_default_link(LinkParams{milliseconds(100), Duration::zero(), 0.0, 0.0});
  ASSERT_TRUE(sim.request_keepalive(a, b).has_value());
  sim.run_for(seconds(1));
  EXPECT_EQ(*a.endpoint().peer_status(b.hashname())->handshake_rtt, milliseconds(200));
}

TEST(SimRtt, ResentHandshakesAreNotMeasured) {
  Simulator sim(resolve_seed(702));
  sim.network().set_default_link(LinkParams{milliseconds(40), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);
  // The first copy is lost: the link drops everything until after the first resend is due.
  sim.network().set_default_link(LinkParams{milliseconds(40), Duration::zero(), 1.0, 0.0});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  sim.run_for(milliseconds(500));
  sim.network().set_default_link(LinkParams{milliseconds(40), Duration::zero(), 0.0, 0.0});
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  EXPECT_FALSE(a.endpoint().peer_status(b.hashname())->handshake_rtt.has_value())
      << "a confirmation of a resent handshake was timed from the first send";
}

}  // namespace
}  // namespace e3x::sim
