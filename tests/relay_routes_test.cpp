// The router's relay table (core/relay_routes.hpp): routing tokens of both packet kinds, routes
// only for introduced pairs, the first registration of a token wins, the per-pair rate, the
// bounds on what one peer can make a router hold, idle expiry.
#include <vector>

#include <gtest/gtest.h>

#include "core/relay_routes.hpp"
#include "core/sha256.hpp"

namespace e3x {
namespace {

constexpr Instant kT0 = Instant{} + seconds(1000);

Hashname name_of(std::uint8_t n) {
  Hashname hashname;
  hashname.digest.fill(n);
  return hashname;
}

Token token_of_byte(std::uint8_t n) {
  Token token{};
  token.fill(n);
  return token;
}

TEST(RoutingToken, AChannelPacketsTokenIsItsFirstSixteenBodyBytes) {
  Bytes packet = {0, 0};
  for (int i = 0; i < 16; ++i) packet.push_back(static_cast<std::uint8_t>(i + 1));
  packet.resize(2 + 16 + 24 + 16, 0xee);
  const auto token = routing_token_of(packet);
  ASSERT_TRUE(token);
  for (int i = 0; i < 16; ++i) EXPECT_EQ((*token)[static_cast<std::size_t>(i)], i + 1);
  packet.resize(2 + 16 + 24 + 15);  // too short to be a channel packet
  EXPECT_FALSE(routing_token_of(packet));
}

TEST(RoutingToken, AMessagesTokenIsTheHashOfItsKeyPrefix) {
  Bytes packet = {0, 1, 0x3a, 0, 0, 0, 7};  // LENGTH 1, CSID 3a, SEQ 7
  for (int i = 0; i < 32; ++i) packet.push_back(static_cast<std::uint8_t>(0x40 + i));  // KEY
  packet.resize(3 + 70, 0x11);
  const auto token = routing_token_of(packet);
  ASSERT_TRUE(token);
  const auto digest = sha256(ByteView(packet).subspan(3 + 4, 16));
  EXPECT_TRUE(std::equal(token->begin(), token->end(), digest.begin()));
  packet[2] = 0x1a;  // another cipher set: not ours to route
  EXPECT_FALSE(routing_token_of(packet));
  EXPECT_FALSE(routing_token_of(Bytes{0, 7, '{', '}'}));
}

TEST(RelayRoutes, OnlyIntroducedTokensAreRoutedToTheOtherEnd) {
  RelayRoutes routes;
  const Hashname a = name_of(1), b = name_of(2);
  EXPECT_EQ(routes.route(kT0, token_of_byte(9), 100).first, RelayRoutes::Verdict::kNotRouted);
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(9), a, b));
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(8), b, a));
  const auto [verdict, to] = routes.route(kT0, token_of_byte(9), 100);
  EXPECT_EQ(verdict, RelayRoutes::Verdict::kForward);
  EXPECT_EQ(to, b);
  EXPECT_EQ(routes.route(kT0, token_of_byte(8), 100).second, a);
  const auto pairs = routes.pairs(kT0);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].a, a);
  EXPECT_EQ(pairs[0].introductions, 2u);
  EXPECT_EQ(pairs[0].relayed_packets, 2u);
  EXPECT_EQ(pairs[0].relayed_bytes, 200u);
}

TEST(RelayRoutes, TheFirstRegistrationOfATokenWins) {
  RelayRoutes routes;
  const Hashname a = name_of(1), b = name_of(2), c = name_of(3);
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(9), a, b));
  // C replays A's handshake to have A's packets sent to itself: refused.
  EXPECT_FALSE(routes.add_route(kT0, token_of_byte(9), c, b));
  EXPECT_FALSE(routes.add_route(kT0, token_of_byte(9), b, c));
  EXPECT_EQ(routes.route(kT0, token_of_byte(9), 10).second, b);
}

TEST(RelayRoutes, EachPairIsHeldToItsRate) {
  RelayLimits limits;
  limits.rate = 100'000;  // bytes per second; a quarter second of burst
  RelayRoutes routes(limits);
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(9), name_of(1), name_of(2)));
  std::uint64_t forwarded = 0;
  // Ten seconds of 1,000-byte packets offered at 1 MB/s.
  for (int ms = 0; ms < 10'000; ++ms) {
    const Instant at = kT0 + milliseconds(ms);
    if (routes.route(at, token_of_byte(9), 1000).first == RelayRoutes::Verdict::kForward) {
      forwarded += 1000;
    }
  }
  EXPECT_GE(forwarded, 990'000u);
  EXPECT_LE(forwarded, 1'000'000u + 25'000u);
  EXPECT_GT(routes.pairs(kT0 + seconds(10))[0].dropped_rate_limited, 8'000u);
}

// A packet whose other end cannot be reached (no path to it, or the path it came from) is
// dropped without counting as the pair's: it neither shows as relayed in `e3xctl routes` nor
// spends the pair's rate, which the packets that can go still have in full. (Found by
// fuzz_routing: the pair counted and charged first, and Routing dropped afterwards.)
TEST(RelayRoutes, APacketWithNowhereToGoSpendsNothing) {
  RelayLimits limits;
  limits.rate = 100'000;  // a quarter second of burst: 25 packets of 1,000 bytes
  RelayRoutes routes(limits);
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(9), name_of(1), name_of(2)));
  std::vector<Hashname> asked;
  const auto nowhere = [&](const Hashname& to) {
    asked.push_back(to);
    return false;
  };
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(routes.route(kT0, token_of_byte(9), 1000, nowhere).first,
              RelayRoutes::Verdict::kUndeliverable);
  }
  ASSERT_EQ(asked.size(), 100u);
  EXPECT_EQ(asked.front(), name_of(2));  // asked about the other end
  const auto pairs = routes.pairs(kT0);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].relayed_packets, 0u);
  EXPECT_EQ(pairs[0].relayed_bytes, 0u);
  EXPECT_EQ(pairs[0].dropped_rate_limited, 0u);
  int forwarded = 0;
  for (int i = 0; i < 25; ++i) {
    forwarded +=
        routes.route(kT0, token_of_byte(9), 1000, [](const Hashname&) { return true; }).first ==
        RelayRoutes::Verdict::kForward;
  }
  EXPECT_EQ(forwarded, 25);
  EXPECT_EQ(routes.pairs(kT0)[0].relayed_packets, 25u);
}

TEST(RelayRoutes, RelayOffForwardsNothing) {
  RelayLimits limits;
  limits.relay = false;
  RelayRoutes routes(limits);
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(9), name_of(1), name_of(2)));
  EXPECT_EQ(routes.route(kT0, token_of_byte(9), 10).first, RelayRoutes::Verdict::kRelayOff);
}

TEST(RelayRoutes, OnePeerCannotMakeTheRouterHoldOrSendWithoutBound) {
  RelayRoutes routes;
  const Hashname a = name_of(1), b = name_of(2);
  // A flood of introductions with made-up tokens: a few a second are taken.
  std::size_t taken = 0;
  for (int i = 0; i < 1000; ++i) {
    Token token{};
    token[0] = static_cast<std::uint8_t>(i);
    token[1] = static_cast<std::uint8_t>(i >> 8);
    taken += routes.add_route(kT0 + milliseconds(i), token, a, b) ? 1 : 0;
  }
  EXPECT_LE(taken, 8u * 2);  // one second and a bit: two windows
  // Over a long time, the pair holds only its newest tokens.
  for (int i = 0; i < 1000; ++i) {
    Token token{};
    token[0] = static_cast<std::uint8_t>(i);
    token[1] = static_cast<std::uint8_t>(i >> 8);
    token[2] = 1;
    (void)routes.add_route(kT0 + seconds(10 + i), token, a, b);
  }
  EXPECT_LE(routes.route_count(), kMaxTokensPerPair);
}

TEST(RelayRoutes, PairsWithAnEndNoLongerAllowedAreForgotten) {
  RelayRoutes routes;
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(9), name_of(1), name_of(2)));
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(8), name_of(3), name_of(4)));
  routes.forget_pairs_unless([](const Hashname& peer) { return peer != name_of(2); });
  EXPECT_EQ(routes.route(kT0, token_of_byte(9), 10).first, RelayRoutes::Verdict::kNotRouted);
  EXPECT_EQ(routes.route(kT0, token_of_byte(8), 10).first, RelayRoutes::Verdict::kForward);
  routes.forget_peer(name_of(3));
  EXPECT_EQ(routes.route_count(), 0u);
}

TEST(RelayRoutes, AnIdlePairIsForgotten) {
  RelayLimits limits;
  limits.idle = seconds(120);
  RelayRoutes routes(limits);
  ASSERT_TRUE(routes.add_route(kT0, token_of_byte(9), name_of(1), name_of(2)));
  routes.route(kT0 + seconds(100), token_of_byte(9), 10);  // traffic keeps it
  routes.expire(kT0 + seconds(200));
  EXPECT_EQ(routes.route_count(), 1u);
  ASSERT_TRUE(routes.next_expiry());
  EXPECT_EQ(*routes.next_expiry(), kT0 + seconds(220));
  routes.expire(kT0 + seconds(220));
  EXPECT_EQ(routes.route_count(), 0u);
  EXPECT_TRUE(routes.pairs(kT0 + seconds(220)).empty());
  EXPECT_EQ(routes.route(kT0 + seconds(221), token_of_byte(9), 10).first,
            RelayRoutes::Verdict::kNotRouted);
}

}  // namespace
}  // namespace e3x
