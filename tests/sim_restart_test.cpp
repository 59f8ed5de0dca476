// A peer restart (PROTOCOL.md 3 and 5): a new Endpoint with the same identity has a new
// ephemeral key, so the survivor must reset the session: every open channel is errored, it
// reports ExchangeUp{new_session=true} with the new remote token, and new channels work.
// Three ways the survivor can learn of the restart: the restarted side connects; the
// survivor's keepalive reaches the restarted side first; both handshake at the same instant.
#include <gtest/gtest.h>

#include <set>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

enum class Discovery { kRestartedConnects, kSurvivorKeepalive, kCrossing };

// Opens a channel from `from` and answers it from `to`, so it is OPEN on both sides.
std::uint32_t open_answered(Simulator& sim, Host& from, Host& to, const std::string& type,
                            bool reliable) {
  const std::uint32_t channel = sim.open_channel(from, to, type, reliable, bytes_of(type));
  EXPECT_TRUE(sim.run_until([&] { return opened_channel(to, from.hashname(), type).has_value(); },
                            seconds(5)));
  EXPECT_TRUE(sim.send_channel(to, from, channel, bytes_of("answer " + type)).has_value());
  EXPECT_TRUE(sim.run_until(
      [&] { return channel_bodies(from, to.hashname(), channel, false).size() == 1; }, seconds(5)));
  return channel;
}

void run_restart(Discovery discovery) {
  Simulator sim(resolve_seed(901));
  sim.network().set_default_link(LinkParams{milliseconds(15), milliseconds(5), 0.0, 0.0});
  Host& a = sim.add_host("a");  // survivor
  Host& b = sim.add_host("b");  // restarts
  const PeerOptions a_options{seconds(10)};
  const PeerOptions b_options{discovery == Discovery::kSurvivorKeepalive ? Duration::zero()
                                                                         : seconds(10)};
  sim.make_peers(a, a_options, b, b_options);
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const std::set<std::uint32_t> channels = {open_answered(sim, a, b, "r1", true),
                                            open_answered(sim, a, b, "u1", false),
                                            open_answered(sim, b, a, "r2", true)};
  ASSERT_EQ(channels.size(), 3u);
  const Token old_remote = *a.endpoint().peer_status(b.hashname())->remote_token;
  sim.run_for(seconds(4));
  ASSERT_EQ(a.count<event::ChannelErrored>(), 0u);

  if (discovery == Discovery::kCrossing) {
    // Restart just before A's keepalive fires, so B's first handshake and A's keepalive cross.
    auto due = a.endpoint().next_timeout();
    ASSERT_TRUE(due.has_value());
    sim.run_until_time(*due - milliseconds(1));
  }
  const Instant restarted_at = sim.now();
  sim.restart(b, RestartOptions{b.endpoint().highest_seq_used(), 0, std::nullopt});
  sim.add_peer(b, a, b_options);
  if (discovery != Discovery::kSurvivorKeepalive) {
    ASSERT_TRUE(sim.connect(b, a).has_value());
  }

  auto new_sessions = [&] {
    std::vector<event::ExchangeUp> out;
    for (const auto& up : a.events_of<event::ExchangeUp>()) {
      if (up.new_session) out.push_back(up);
    }
    return out;
  };
  const bool reset =
      sim.run_until([&] { return !new_sessions().empty() && sim.in_sync(a, b); }, seconds(30));
  std::string seqs;
  for (const auto& h : handshakes_sent(sim, a)) {
    if (h.at >= restarted_at) seqs += " a:" + std::to_string(h.seq);
  }
  for (const auto& h : handshakes_sent(sim, b)) {
    if (h.at >= restarted_at) seqs += " b:" + std::to_string(h.seq);
  }
  ASSERT_TRUE(reset) << "A never reported the new session; handshakes after the restart:" << seqs;
  const auto ups = new_sessions();
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].peer, b.hashname());
  EXPECT_NE(ups[0].remote_token, old_remote);
  EXPECT_EQ(ups[0].remote_token, *b.endpoint().peer_status(a.hashname())->local_token);

  // Every channel A had open was errored, before the new session was reported.
  const auto errors = a.timed_events_of<event::ChannelErrored>();
  std::set<std::uint32_t> errored;
  Instant up_at{};
  for (const auto& [at, e] : a.timed_events_of<event::ExchangeUp>()) {
    if (e.new_session) up_at = at;
  }
  for (const auto& [at, e] : errors) {
    EXPECT_EQ(e.peer, b.hashname());
    EXPECT_LE(at, up_at);
    errored.insert(e.channel);
  }
  EXPECT_EQ(errored, channels);
  EXPECT_EQ(a.count<event::ExchangeDown>(), 0u);

  // New channels work both ways afterwards (ids start over, so forget the old session's
  // events to tell the channels apart).
  a.clear_events();
  b.clear_events();
  const std::uint32_t from_b = open_answered(sim, b, a, "after-b", true);
  const std::uint32_t from_a = open_answered(sim, a, b, "after-a", true);
  EXPECT_NE(from_a, 0u);
  EXPECT_NE(from_b, 0u);
  EXPECT_EQ(channel_bodies(a, b.hashname(), from_b).front(), "after-b");
  EXPECT_EQ(channel_bodies(b, a.hashname(), from_a).front(), "after-a");
  const std::size_t errors_after = a.count<event::ChannelErrored>();
  sim.run_for(seconds(60));
  EXPECT_EQ(a.count<event::ChannelErrored>(), errors_after) << "a new channel died";
  EXPECT_TRUE(sim.in_sync(a, b));
}

TEST(SimRestart, RestartedPeerConnectsAndSurvivorResetsTheSession) {
  run_restart(Discovery::kRestartedConnects);
}

TEST(SimRestart, SurvivorKeepaliveDiscoversTheRestart) {
  run_restart(Discovery::kSurvivorKeepalive);
}

TEST(SimRestart, RestartCrossingTheSurvivorsKeepalive) {
  run_restart(Discovery::kCrossing);
}

}  // namespace
}  // namespace e3x::sim
