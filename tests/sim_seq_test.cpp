// SEQ parity and monotonicity (PROTOCOL.md 2 and 5) over a long run with keepalives, extra
// keepalive requests, loss and reordering, and restarts of both sides whose wall clocks are
// stepped back by an hour and which get the persisted high-water mark (seq_floor).
//
// Every handshake datagram on the wire is judged: a SEQ of the sender's own parity is an
// origination (HIGH odd, LOW even), and each identity's originations strictly increase across
// all its endpoint instances (a repeat is only allowed as a byte-identical resend); a SEQ of
// the other parity must echo one the peer sent before.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

void check_seq_rules(const Simulator& sim, const Host& host, const Host& peer,
                     std::size_t min_originations) {
  SCOPED_TRACE("host " + host.name());
  const std::uint32_t own = is_high(host, peer) ? 1 : 0;
  const auto ours = handshakes_sent(sim, host);
  const auto theirs = handshakes_sent(sim, peer);
  std::optional<HandshakeRecord> last;
  std::set<std::uint32_t> originated;
  for (const auto& h : ours) {
    if (h.seq % 2 == own) {
      if (last) {
        if (h.seq == last->seq) {
          EXPECT_EQ(h.bytes, last->bytes)
              << "SEQ " << h.seq << " sealed twice with different content";
        } else {
          EXPECT_GT(h.seq, last->seq)
              << "origination at +" << (h.at - sim.start()).count() / 1000000
              << " ms went backwards";
        }
      }
      last = h;
      originated.insert(h.seq);
    } else {
      // A reply: it must echo a SEQ the peer sent earlier.
      bool echoed = false;
      for (const auto& t : theirs) echoed |= t.seq == h.seq && t.at <= h.at;
      EXPECT_TRUE(echoed) << "remote-parity SEQ " << h.seq << " sent at +"
                          << (h.at - sim.start()).count() / 1000000
                          << " ms was never sent by the peer";
    }
  }
  EXPECT_GE(originated.size(), min_originations) << "the run exercised too few handshakes";
}

TEST(SimSeq, ParityAndMonotonicityAcrossKeepalivesAndRestartsWithClockStepBack) {
  Simulator sim(resolve_seed(201));
  sim.network().set_default_link(LinkParams{milliseconds(20), milliseconds(15), 0.03, 0.02});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  const PeerOptions keepalive{seconds(7)};
  sim.make_peers(a, b, keepalive);
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(30)));
  std::mt19937_64 pick(derive_seed(sim.seed(), 7));

  auto run_with_requests = [&](Duration total) {
    const Instant end = sim.now() + total;
    while (sim.now() < end) {
      sim.run_for(milliseconds(500 + pick() % 9000));
      Host& who = pick() % 2 ? a : b;
      Host& other = who.id() == a.id() ? b : a;
      if (sim.in_sync(a, b)) (void)sim.request_keepalive(who, other);
    }
  };
  auto restart = [&](Host& who, Host& survivor) {
    const std::size_t resets_before = [&] {
      std::size_t n = 0;
      for (const auto& up : survivor.events_of<event::ExchangeUp>()) n += up.new_session;
      return n;
    }();
    const std::uint32_t floor = who.endpoint().highest_seq_used();
    EXPECT_GT(floor, 0u);
    sim.restart(who, RestartOptions{floor, -3600, std::nullopt});
    sim.add_peer(who, survivor, keepalive);
    EXPECT_LT(sim.unix_time(who), static_cast<std::int64_t>(floor))
        << "the stepped-back clock must be below the old SEQs for this test to mean anything";
    ASSERT_TRUE(sim.connect(who, survivor).has_value());
    EXPECT_TRUE(sim.run_until(
        [&] {
          std::size_t n = 0;
          for (const auto& up : survivor.events_of<event::ExchangeUp>()) n += up.new_session;
          return n > resets_before && sim.in_sync(a, b);
        },
        seconds(60)))
        << who.name() << " restarted at +" << (sim.now() - sim.start()).count() / 1000000
        << " ms and " << survivor.name()
        << " never reported the new session (ExchangeUp new_session=true) with it in sync";
  };

  run_with_requests(seconds(60));
  restart(a, b);
  run_with_requests(seconds(60));
  restart(b, a);
  run_with_requests(seconds(60));
  restart(a, b);
  run_with_requests(seconds(60));
  restart(b, a);
  run_with_requests(seconds(30));

  check_seq_rules(sim, a, b, 15);
  check_seq_rules(sim, b, a, 15);
  EXPECT_EQ(a.count<event::ExchangeDown>(), 0u);
  EXPECT_EQ(b.count<event::ExchangeDown>(), 0u);
}

// A restart given the floor but not a stepped clock, and one with a clock stepped forward:
// both still originate above everything before.
TEST(SimSeq, RestartWithFloorAndClockJumps) {
  for (std::int64_t step : {std::int64_t{0}, std::int64_t{86400}, std::int64_t{-86400}}) {
    SCOPED_TRACE("clock step " + std::to_string(step));
    Simulator sim(resolve_seed(202));
    Host& a = sim.add_host("a");
    Host& b = sim.add_host("b");
    sim.make_peers(a, b, PeerOptions{seconds(5)});
    ASSERT_TRUE(sim.connect(a, b).has_value());
    ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(10)));
    sim.run_for(seconds(21));
    const std::uint32_t floor = a.endpoint().highest_seq_used();
    sim.restart(a, RestartOptions{floor, step, std::nullopt});
    sim.add_peer(a, b, PeerOptions{seconds(5)});
    ASSERT_TRUE(sim.connect(a, b).has_value());
    sim.run_for(seconds(21));
    EXPECT_TRUE(sim.in_sync(a, b));
    EXPECT_GT(a.endpoint().highest_seq_used(), floor);
    check_seq_rules(sim, a, b, 4);
    check_seq_rules(sim, b, a, 0);
  }
}

}  // namespace
}  // namespace e3x::sim
