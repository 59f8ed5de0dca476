// Handshake convergence (PROTOCOL.md 5): whichever side starts, or both at once, over clean,
// delayed/reordering and lossy links, both endpoints end in sync exactly once (ExchangeUp,
// not a new session), agree on each other's tokens, and can exchange channel data.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

struct LinkCase {
  const char* name;
  LinkParams params;
};

const std::vector<LinkCase>& link_cases() {
  static const std::vector<LinkCase> cases = {
      {"clean", LinkParams{milliseconds(5), Duration::zero(), 0.0, 0.0}},
      {"delay+jitter", LinkParams{milliseconds(80), milliseconds(60), 0.0, 0.0}},
      {"loss+dup", LinkParams{milliseconds(30), milliseconds(20), 0.10, 0.05}},
  };
  return cases;
}

enum class Starter { kHigh, kLow, kBoth };

// Everything the issue requires of a converged pair, checked from both sides.
void expect_converged(Simulator& sim, Host& a, Host& b) {
  ASSERT_TRUE(sim.run_until(
      [&] {
        return a.count<event::ExchangeUp>() > 0 && b.count<event::ExchangeUp>() > 0 &&
               sim.in_sync(a, b);
      },
      seconds(60)))
      << "no convergence: " << a.name() << " ups=" << a.count<event::ExchangeUp>() << " "
      << b.name() << " ups=" << b.count<event::ExchangeUp>();

  for (auto [x, y] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    const auto ups = x->events_of<event::ExchangeUp>();
    ASSERT_FALSE(ups.empty());
    EXPECT_EQ(ups.front().peer, y->hashname());
    EXPECT_FALSE(ups.front().new_session) << x->name() << ": the first sync is not a reset";
    EXPECT_EQ(x->count<event::ExchangeDown>(), 0u);
    EXPECT_EQ(x->count<event::ChannelErrored>(), 0u);
    const auto xs = x->endpoint().peer_status(y->hashname());
    const auto ys = y->endpoint().peer_status(x->hashname());
    ASSERT_TRUE(xs && ys);
    ASSERT_TRUE(xs->remote_token.has_value());
    ASSERT_TRUE(ys->local_token.has_value());
    EXPECT_EQ(*xs->remote_token, *ys->local_token)
        << x->name() << " routes by a token that is not " << y->name() << "'s";
    EXPECT_EQ(ups.back().remote_token, *xs->remote_token);
    EXPECT_EQ(x->stats().dropped_unauthenticated, 0u);
  }

  // Data both ways on a reliable channel each side opens, and a reply on the other's.
  const std::uint32_t from_a = sim.open_channel(a, b, "sim-a", true, bytes_of("hello from a"));
  const std::uint32_t from_b = sim.open_channel(b, a, "sim-b", true, bytes_of("hello from b"));
  ASSERT_NE(from_a, 0u);
  ASSERT_NE(from_b, 0u);
  EXPECT_NE(from_a % 2, from_b % 2) << "both sides picked channel ids of the same parity";
  ASSERT_TRUE(sim.run_until(
      [&] {
        return opened_channel(b, a.hashname(), "sim-a") && opened_channel(a, b.hashname(), "sim-b");
      },
      seconds(30)));
  ASSERT_TRUE(sim.send_channel(b, a, from_a, bytes_of("reply from b")).has_value());
  ASSERT_TRUE(sim.send_channel(a, b, from_b, bytes_of("reply from a")).has_value());
  ASSERT_TRUE(sim.run_until(
      [&] {
        return channel_bodies(a, b.hashname(), from_a).size() == 1 &&
               channel_bodies(b, a.hashname(), from_b).size() == 1;
      },
      seconds(30)));
  EXPECT_EQ(channel_bodies(b, a.hashname(), from_a), (std::vector<std::string>{"hello from a"}));
  EXPECT_EQ(channel_bodies(a, b.hashname(), from_a), (std::vector<std::string>{"reply from b"}));
  EXPECT_EQ(channel_bodies(a, b.hashname(), from_b), (std::vector<std::string>{"hello from b"}));
  EXPECT_EQ(channel_bodies(b, a.hashname(), from_b), (std::vector<std::string>{"reply from a"}));
  // In sync once: channel traffic and any later handshake do not report ExchangeUp again.
  EXPECT_EQ(a.count<event::ExchangeUp>(), 1u);
  EXPECT_EQ(b.count<event::ExchangeUp>(), 1u);
}

void run_case(std::uint64_t seed, const LinkCase& link, Starter starter, Duration offset) {
  SCOPED_TRACE(std::string("link ") + link.name);
  Simulator sim(seed);
  sim.network().set_default_link(link.params);
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);
  Host& high = is_high(a, b) ? a : b;
  Host& low = is_high(a, b) ? b : a;
  switch (starter) {
    case Starter::kHigh:
      ASSERT_TRUE(sim.connect(high, low).has_value());
      break;
    case Starter::kLow:
      ASSERT_TRUE(sim.connect(low, high).has_value());
      break;
    case Starter::kBoth:
      ASSERT_TRUE(sim.connect(a, b).has_value());
      sim.run_for(offset);
      ASSERT_TRUE(sim.connect(b, a).has_value());
      break;
  }
  expect_converged(sim, a, b);
  if (starter != Starter::kBoth) {
    // Only the starter originated: the other side's handshakes all echo the starter's SEQs.
    Host& responder = starter == Starter::kHigh ? low : high;
    for (const auto& h : handshakes_sent(sim, responder)) {
      EXPECT_EQ(h.seq % 2, is_high(responder, responder.id() == a.id() ? b : a) ? 0u : 1u)
          << responder.name() << " originated SEQ " << h.seq << " without being asked";
    }
  }
}

TEST(SimHandshake, ConvergesWhenTheHighSideStarts) {
  for (const auto& link : link_cases()) run_case(resolve_seed(101), link, Starter::kHigh, {});
}

TEST(SimHandshake, ConvergesWhenTheLowSideStarts) {
  for (const auto& link : link_cases()) run_case(resolve_seed(102), link, Starter::kLow, {});
}

TEST(SimHandshake, ConvergesWhenBothStartAtTheSameInstant) {
  for (const auto& link : link_cases()) {
    run_case(resolve_seed(103), link, Starter::kBoth, Duration::zero());
  }
}

// Simultaneous open with a random head start for one side (below one link delay, so the two
// handshakes cross in flight) over 50 seeds, alternating clean and lossy links.
TEST(SimHandshake, ConvergesWhenBothStartWithSmallRandomOffsets) {
  for (std::uint64_t seed : resolve_seeds(1000, 50)) {
    std::mt19937_64 pick(derive_seed(seed, 99));
    const Duration delay = milliseconds(5 + pick() % 60);
    const Duration offset = milliseconds(pick() % 100);
    const bool lossy = seed % 2 == 1;
    const LinkCase link{
        lossy ? "random lossy" : "random clean",
        LinkParams{delay, milliseconds(pick() % 30), lossy ? 0.1 : 0.0, lossy ? 0.05 : 0.0}};
    SCOPED_TRACE("delay " + std::to_string(delay.count() / 1000000) + " ms, offset " +
                 std::to_string(offset.count() / 1000000) + " ms");
    run_case(seed, link, Starter::kBoth, offset);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace e3x::sim
