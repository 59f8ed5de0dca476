// Endpoint::Config::admit_expensive: the driver's say over X25519 work for KEYs the
// validation cache does not know (issue 5, "Load and hostile traffic").
#include <gtest/gtest.h>

#include "core/endpoint.hpp"

namespace e3x {
namespace {

constexpr std::int64_t kUnixStart = 1763700000;

// One endpoint whose policy answers `admit` and records the paths it was asked about.
struct Side {
  explicit Side(std::uint64_t seed)
      : random(seed),
        endpoint(Endpoint::Config{.identity = generate_keypair(random),
                                  .random = &random,
                                  .admit_expensive = [this](PathId path) {
                                    asked.push_back(path);
                                    return admit;
                                  }}) {
    endpoint.set_unix_time(Instant{}, kUnixStart);
  }
  SeededRandom random;
  bool admit = true;
  std::vector<PathId> asked;
  Endpoint endpoint;
};

// a and b configured with each other; a's first handshake, not yet delivered.
struct Pair {
  Side a{1}, b{2};
  Hashname a_name = b.endpoint.add_peer(a.endpoint.public_key()).value();
  Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();

  Bytes first_handshake(Instant now) {
    EXPECT_TRUE(a.endpoint.connect(now, b_name, 1));
    return a.endpoint.poll_transmit().value().packet;
  }
  void deliver_all(Instant now) {
    for (bool any = true; any;) {
      any = false;
      while (auto t = a.endpoint.poll_transmit()) {
        b.endpoint.handle_datagram(now, 7, t->packet);
        any = true;
      }
      while (auto t = b.endpoint.poll_transmit()) {
        a.endpoint.handle_datagram(now, 1, t->packet);
        any = true;
      }
    }
  }
};

TEST(EndpointRateLimit, ARefusedHandshakeCostsNoX25519AndGetsNoReply) {
  Pair pair;
  const Bytes hello = pair.first_handshake(Instant{});
  pair.b.admit = false;
  const std::uint64_t x25519_before = pair.b.endpoint.stats().x25519_operations;
  pair.b.endpoint.handle_datagram(Instant{}, 7, hello);
  EXPECT_EQ(pair.b.endpoint.stats().x25519_operations, x25519_before);
  EXPECT_EQ(pair.b.endpoint.stats().dropped_rate_limited, 1u);
  EXPECT_EQ(pair.b.endpoint.stats().handshakes_received, 0u);
  EXPECT_EQ(pair.b.asked, std::vector<PathId>{7});
  EXPECT_FALSE(pair.b.endpoint.poll_transmit().has_value());
  EXPECT_FALSE(pair.b.endpoint.poll_event().has_value());
  EXPECT_EQ(pair.b.endpoint.peer_status(pair.a_name)->state, ExchangeState::kNone);

  // The same packet once the policy admits again is handled as usual.
  pair.b.admit = true;
  pair.b.endpoint.handle_datagram(Instant{}, 7, hello);
  EXPECT_EQ(pair.b.endpoint.stats().handshakes_received, 1u);
  EXPECT_TRUE(pair.b.endpoint.poll_transmit().has_value());
}

TEST(EndpointRateLimit, GarbageFromUnknownKeysIsRefusedBeforeAnyX25519) {
  Side b(2);
  b.admit = false;
  SeededRandom random(9);
  // Well-formed OUTER packets with random KEYs: each would need one X25519 to open.
  for (int i = 0; i < 50; ++i) {
    const KeyPair stranger = generate_keypair(random);
    SharedKey junk;
    const Bytes packet = seal_message(static_cast<std::uint32_t>(i + 1), stranger.public_key, junk,
                                      junk, Bytes(34, 0x42));
    b.endpoint.handle_datagram(Instant{}, 3, packet);
  }
  EXPECT_EQ(b.endpoint.stats().x25519_operations, 0u);
  EXPECT_EQ(b.endpoint.stats().dropped_rate_limited, 50u);
  EXPECT_FALSE(b.endpoint.poll_transmit().has_value());
}

TEST(EndpointRateLimit, KeepalivesOfAKnownExchangeAreNeverLimited) {
  Pair pair;
  const Instant start{};
  pair.b.endpoint.handle_datagram(start, 7, pair.first_handshake(start));
  pair.deliver_all(start);
  ASSERT_EQ(pair.b.endpoint.peer_status(pair.a_name)->state, ExchangeState::kUp);
  const auto token = pair.b.endpoint.peer_status(pair.a_name)->remote_token;
  const std::size_t asked_before = pair.b.asked.size();
  const std::uint64_t x25519_before = pair.b.endpoint.stats().x25519_operations;
  const std::uint64_t handshakes_before = pair.b.endpoint.stats().handshakes_received;

  pair.b.admit = false;
  for (int i = 1; i <= 3; ++i) {
    const Instant at = start + seconds(30 * i);
    pair.a.endpoint.set_unix_time(at, kUnixStart + 30 * i);
    ASSERT_TRUE(pair.a.endpoint.request_keepalive(at, pair.b_name));
    pair.deliver_all(at);
  }
  EXPECT_EQ(pair.b.endpoint.stats().handshakes_received, handshakes_before + 3);
  EXPECT_EQ(pair.b.endpoint.stats().dropped_rate_limited, 0u);
  EXPECT_EQ(pair.b.endpoint.stats().x25519_operations, x25519_before);
  EXPECT_EQ(pair.b.asked.size(), asked_before);  // the policy was not even asked
  EXPECT_EQ(pair.b.endpoint.peer_status(pair.a_name)->state, ExchangeState::kUp);
  EXPECT_EQ(pair.b.endpoint.peer_status(pair.a_name)->remote_token, token);
}

TEST(EndpointRateLimit, ReplaysOfAKnownKeyAreDroppedWithoutAsking) {
  Pair pair;
  const Bytes hello = pair.first_handshake(Instant{});
  pair.b.endpoint.handle_datagram(Instant{}, 7, hello);
  pair.deliver_all(Instant{});
  ASSERT_EQ(pair.b.endpoint.peer_status(pair.a_name)->state, ExchangeState::kUp);
  const std::size_t asked_before = pair.b.asked.size();
  const std::uint64_t x25519_before = pair.b.endpoint.stats().x25519_operations;
  pair.b.admit = false;
  for (int i = 0; i < 10; ++i) pair.b.endpoint.handle_datagram(Instant{} + seconds(5), 9, hello);
  EXPECT_EQ(pair.b.endpoint.stats().x25519_operations, x25519_before);
  EXPECT_EQ(pair.b.asked.size(), asked_before);
  EXPECT_EQ(pair.b.endpoint.stats().dropped_rate_limited, 0u);
}

}  // namespace
}  // namespace e3x
