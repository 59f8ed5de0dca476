// Endpoint behaviour that does not need a network model: accept policy, peers known by
// hashname only, compact keys, application messages, removal, bounds, garbage input.
#include "core/endpoint.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

namespace e3x {
namespace {

constexpr std::int64_t kUnixStart = 1763700000;

struct Side {
  explicit Side(std::uint64_t seed, AcceptPolicy accept = {}, std::uint32_t seq_floor = 0)
      : random(seed),
        endpoint(Endpoint::Config{.identity = generate_keypair(random),
                                  .random = &random,
                                  .seq_floor = seq_floor,
                                  .accept = std::move(accept)}) {
    endpoint.set_unix_time(Instant{}, kUnixStart);
  }
  SeededRandom random;
  Endpoint endpoint;
  std::vector<Event> events;

  void collect() {
    while (auto event = endpoint.poll_event()) events.push_back(std::move(*event));
  }
  template <class T>
  std::vector<T> take() {
    collect();
    std::vector<T> out;
    for (auto& event : events) {
      if (auto* wanted = std::get_if<T>(&event)) out.push_back(*wanted);
    }
    return out;
  }
};

// Delivers every queued transmit between the two sides (path 1 = "the other side") until
// both are quiet. Returns how many datagrams moved.
int exchange_all(Instant now, Side& a, Side& b) {
  int moved = 0;
  for (bool any = true; any;) {
    any = false;
    while (auto t = a.endpoint.poll_transmit()) {
      b.endpoint.handle_datagram(now, 1, t->packet);
      any = true;
      ++moved;
    }
    while (auto t = b.endpoint.poll_transmit()) {
      a.endpoint.handle_datagram(now, 1, t->packet);
      any = true;
      ++moved;
    }
  }
  return moved;
}

TEST(Endpoint, UnknownPeersAreRefusedByDefaultWithoutReplyOrState) {
  Side a(1), b(2);
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));
  auto hello = a.endpoint.poll_transmit().value();
  b.endpoint.handle_datagram(Instant{}, 1, hello.packet);
  EXPECT_FALSE(b.endpoint.poll_transmit().has_value());
  EXPECT_EQ(b.endpoint.stats().dropped_policy, 1u);
  EXPECT_TRUE(b.endpoint.peers().empty());
  b.collect();
  EXPECT_TRUE(b.events.empty());
}

TEST(Endpoint, AcceptPolicyAdmitsAnyoneItApproves) {
  Side a(1), b(2, [](const Hashname&) { return true; });
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));
  exchange_all(Instant{}, a, b);
  ASSERT_EQ(b.take<event::ExchangeUp>().size(), 1u);
  EXPECT_EQ(b.endpoint.peers(), std::vector<Hashname>{a.endpoint.hashname()});
  EXPECT_EQ(b.endpoint.peer_status(a.endpoint.hashname())->state, ExchangeState::kUp);
}

TEST(Endpoint, PeersAdmittedByPolicyAreBoundedAndForgottenWhenTheirExchangeTimesOut) {
  SeededRandom random(40);
  Endpoint b(Endpoint::Config{.identity = generate_keypair(random),
                              .random = &random,
                              .accept = [](const Hashname&) { return true; },
                              .admitted_peer_limit = 3});
  b.set_unix_time(Instant{}, kUnixStart);
  std::vector<std::unique_ptr<Side>> strangers;
  for (int i = 0; i < 5; ++i) {
    strangers.push_back(std::make_unique<Side>(100 + i));
    Side& s = *strangers.back();
    const Hashname b_name = s.endpoint.add_peer(b.public_key()).value();
    ASSERT_TRUE(s.endpoint.connect(Instant{}, b_name, 1));
    b.handle_datagram(Instant{}, 1, s.endpoint.poll_transmit()->packet);
  }
  EXPECT_EQ(b.peers().size(), 3u);
  EXPECT_EQ(b.stats().dropped_policy, 2u);

  // Their exchanges time out when B's keepalive handshakes go unanswered: they are forgotten,
  // which makes room for new ones.
  for (int second = 1; second <= 120; ++second) b.handle_timeout(Instant{} + seconds(second));
  EXPECT_TRUE(b.peers().empty());
  Side& late = *strangers.back();
  late.endpoint.set_unix_time(Instant{} + seconds(120), kUnixStart + 120);
  const Hashname b_name = late.endpoint.peers().front();
  ASSERT_TRUE(late.endpoint.request_keepalive(Instant{} + seconds(120), b_name, 1) ||
              late.endpoint.connect(Instant{} + seconds(120), b_name, 1));
  while (auto t = late.endpoint.poll_transmit()) {
    b.handle_datagram(Instant{} + seconds(120), 1, t->packet);
  }
  EXPECT_EQ(b.peers().size(), 1u);
}

TEST(Endpoint, PeerKnownByHashnameOnlyLearnsItsKeyFromItsHandshake) {
  Side a(1), b(2);
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  const Hashname a_name = b.endpoint.add_peer(a.endpoint.hashname()).value();
  EXPECT_EQ(a_name, a.endpoint.hashname());
  // B cannot start: it has no key for A yet.
  auto refused = b.endpoint.connect(Instant{}, a_name, 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), EndpointError::kNoKey);

  ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));
  exchange_all(Instant{}, a, b);
  EXPECT_EQ(b.take<event::ExchangeUp>().size(), 1u);
  EXPECT_EQ(b.endpoint.peer_status(a_name)->key, a.endpoint.public_key());
}

TEST(Endpoint, OurOwnKeyIsRefused) {
  Side a(1);
  auto self = a.endpoint.add_peer(a.endpoint.public_key());
  ASSERT_FALSE(self);
  EXPECT_EQ(self.error(), EndpointError::kPeerIsSelf);
  ASSERT_FALSE(a.endpoint.add_peer(a.endpoint.hashname()));
}

boost::json::value shared_vectors() {
  std::ifstream file(E3X_SHARED_DIR "/vectors/vectors.json");
  std::stringstream text;
  text << file.rdbuf();
  return boost::json::parse(text.str());
}

KeyPair keypair_from_hex(std::string_view secret_hex) {
  const Bytes secret = from_hex(secret_hex).value();
  return keypair_from_secret(SecretKey(std::span<const std::uint8_t, 32>(secret.data(), 32)));
}

TEST(Endpoint, HandshakeWithCompactKeysIsFromTheCompactHashname) {
  const auto vectors = shared_vectors();
  const auto& keys = vectors.at("keys");
  const Bytes outer =
      from_hex(vectors.at("handshake").at("A_to_B_with_compact_1a").at("outer").as_string())
          .value();
  const auto compact_name =
      Hashname::parse(keys.at("A").at("hashname_with_compact_1a").at("hashname").as_string())
          .value();
  SeededRandom random(5);
  auto make_b = [&] {
    auto b = std::make_unique<Endpoint>(Endpoint::Config{
        .identity = keypair_from_hex(keys.at("B").at("secret").as_string()), .random = &random});
    b->set_unix_time(Instant{}, kUnixStart);
    return b;
  };

  // Configured with A's bare key, B does not accept it: the sender named itself differently.
  auto b = make_b();
  const auto a_key = keypair_from_hex(keys.at("A").at("secret").as_string()).public_key;
  ASSERT_TRUE(b->add_peer(a_key));
  b->handle_datagram(Instant{}, 1, outer);
  EXPECT_EQ(b->stats().dropped_policy, 1u);
  EXPECT_FALSE(b->poll_transmit().has_value());

  // Configured with the compact hashname, B accepts it and answers.
  b = make_b();
  ASSERT_TRUE(b->add_peer(compact_name));
  b->handle_datagram(Instant{}, 1, outer);
  EXPECT_EQ(b->stats().handshakes_received, 1u);
  EXPECT_TRUE(b->poll_transmit().has_value());
  EXPECT_EQ(b->peer_status(compact_name)->state, ExchangeState::kUp);
}

TEST(Endpoint, ApplicationMessagesOnlyFromKnownPeersWithValidAuth) {
  Side a(1), b(2), stranger(3);
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  b.endpoint.add_peer(a.endpoint.public_key()).value();
  const Hashname b_for_stranger = stranger.endpoint.add_peer(b.endpoint.public_key()).value();

  // A message needs no handshake first: it is sealed to B's static key.
  const boost::json::object expires{{"expires", kUnixStart + 3600}};
  auto sealed =
      a.endpoint.send_message(Instant{}, b_name, "msg", "id-1", expires, as_bytes("hi"), 1);
  ASSERT_TRUE(sealed);
  b.endpoint.handle_datagram(Instant{}, 1, a.endpoint.poll_transmit()->packet);
  auto received = b.take<event::MessageReceived>();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].from, a.endpoint.hashname());
  EXPECT_EQ(received[0].id, "id-1");

  // A stranger B never configured: dropped by policy.
  ASSERT_TRUE(stranger.endpoint.send_message(Instant{}, b_for_stranger, "msg", "x", expires,
                                             as_bytes("hi"), 1));
  b.endpoint.handle_datagram(Instant{}, 1, stranger.endpoint.poll_transmit()->packet);
  EXPECT_EQ(b.endpoint.stats().dropped_policy, 1u);

  // Every single flipped byte of A's message is rejected.
  const Bytes good = *sealed;
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    b.endpoint.handle_datagram(Instant{}, 1, bad);
  }
  EXPECT_TRUE(b.take<event::MessageReceived>().size() == 1u) << "a tampered message got through";
  EXPECT_FALSE(b.endpoint.poll_transmit().has_value());

  // Reserved head keys are refused.
  boost::json::object extra{{"from", "me"}};
  auto reserved = a.endpoint.send_message(Instant{}, b_name, "msg", "id-2", extra, {}, 1);
  ASSERT_FALSE(reserved);
  EXPECT_EQ(reserved.error(), EndpointError::kReservedKey);
}

TEST(Endpoint, RemovingAPeerErrorsItsChannelsAndReportsDown) {
  Side a(1), b(2);
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  b.endpoint.add_peer(a.endpoint.public_key()).value();
  ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));
  exchange_all(Instant{}, a, b);
  const auto channel = a.endpoint.open_channel(Instant{}, b_name, "chat", true).value();
  exchange_all(Instant{}, a, b);
  ASSERT_TRUE(a.endpoint.remove_peer(Instant{}, b_name));
  auto errored = a.take<event::ChannelErrored>();
  ASSERT_EQ(errored.size(), 1u);
  EXPECT_EQ(errored[0].channel, channel);
  auto down = a.take<event::ExchangeDown>();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].reason, DownReason::kRemoved);
  EXPECT_FALSE(a.endpoint.peer_status(b_name).has_value());
  EXPECT_FALSE(a.endpoint.next_timeout().has_value()) << "a removed peer keeps no timer";
}

TEST(Endpoint, SeqFloorIsRespectedAndTheHighestSeqReported) {
  Side a(1, {}, /*seq_floor=*/1900000000), b(2);
  // B's clock must be within a day of A's SEQs, or B drops them (PROTOCOL.md 10.4).
  b.endpoint.set_unix_time(Instant{}, 1900000000);
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  b.endpoint.add_peer(a.endpoint.public_key()).value();
  EXPECT_EQ(a.endpoint.highest_seq_used(), 1900000000u);
  ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));
  exchange_all(Instant{}, a, b);
  const auto status = a.endpoint.peer_status(b_name).value();
  EXPECT_GT(status.seq_sent, 1900000000u);
  EXPECT_EQ(a.endpoint.highest_seq_used(), status.seq_sent);
  EXPECT_EQ(status.state, ExchangeState::kUp);
}

TEST(Endpoint, PendingQueueIsBoundedAndCountsDrops) {
  SeededRandom random(9), random_b(10);
  Endpoint a(Endpoint::Config{
      .identity = generate_keypair(random), .random = &random, .pending_limit = 8});
  Endpoint b(Endpoint::Config{.identity = generate_keypair(random_b), .random = &random_b});
  const Hashname b_name = a.add_peer(b.public_key()).value();
  const auto channel = a.open_channel(Instant{}, b_name, "stream", false).value();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(a.send_channel(Instant{}, b_name, channel, {}, Bytes{static_cast<uint8_t>(i)}));
  }
  EXPECT_FALSE(a.poll_transmit().has_value()) << "nothing goes out before a handshake";
  EXPECT_EQ(a.peer_status(b_name)->pending, 8u);
  EXPECT_EQ(a.stats().dropped_pending, 21u - 8u);  // the open packet plus 20, minus 8 kept
}

TEST(Endpoint, GarbageNeverCrashesNorAnswers) {
  Side a(1), b(2);
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  b.endpoint.add_peer(a.endpoint.public_key()).value();
  ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));
  exchange_all(Instant{}, a, b);
  SeededRandom noise(77);
  for (int i = 0; i < 20000; ++i) {
    Bytes junk(noise.uniform(200));
    noise.fill(junk);
    // Bias towards the interesting prefixes: channel (00 00) and message (00 01 3a).
    if (junk.size() >= 3 && i % 3 == 0) junk[0] = 0, junk[1] = 0;
    if (junk.size() >= 3 && i % 3 == 1) junk[0] = 0, junk[1] = 1, junk[2] = 0x3a;
    b.endpoint.handle_datagram(Instant{}, 1, junk);
  }
  EXPECT_FALSE(b.endpoint.poll_transmit().has_value());
  const auto& s = b.endpoint.stats();
  EXPECT_EQ(s.dropped_malformed + s.dropped_unauthenticated + s.dropped_unknown_token, 20000u);
  EXPECT_EQ(b.endpoint.peer_status(a.endpoint.hashname())->state, ExchangeState::kUp);
}

// Mutations of genuine packets (bit flips, truncation, extension) reach deeper than random
// bytes: every one must be dropped without a reply, and the genuine exchange must survive.
TEST(Endpoint, MutatedGenuinePacketsAreDroppedWithoutReply) {
  Side a(1), b(2);
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  b.endpoint.add_peer(a.endpoint.public_key()).value();
  ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));
  const Bytes handshake = a.endpoint.poll_transmit()->packet;
  b.endpoint.handle_datagram(Instant{}, 1, handshake);
  a.endpoint.handle_datagram(Instant{}, 1, b.endpoint.poll_transmit()->packet);
  const auto channel = a.endpoint.open_channel(Instant{}, b_name, "probe", true, {}, Bytes{1, 2});
  ASSERT_TRUE(channel);
  const Bytes channel_packet = a.endpoint.poll_transmit()->packet;
  const Bytes message =
      a.endpoint
          .send_message(Instant{}, b_name, "msg", "m",
                        boost::json::object{{"expires", kUnixStart + 3600}}, as_bytes("payload"), 1)
          .value();
  (void)a.endpoint.poll_transmit();
  const auto received_before = b.endpoint.stats().handshakes_received;

  SeededRandom mutate(123);
  for (int i = 0; i < 30000; ++i) {
    const Bytes& original = i % 3 == 0 ? handshake : i % 3 == 1 ? channel_packet : message;
    Bytes bad = original;
    switch (mutate.uniform(3)) {
      case 0: {  // flip 1..4 bits
        for (std::uint32_t n = 1 + mutate.uniform(4); n > 0; --n) {
          bad[mutate.uniform(static_cast<std::uint32_t>(bad.size()))] ^=
              static_cast<std::uint8_t>(1u << mutate.uniform(8));
        }
        break;
      }
      case 1:  // truncate
        bad.resize(mutate.uniform(static_cast<std::uint32_t>(bad.size())));
        break;
      default: {  // extend with junk
        Bytes junk(1 + mutate.uniform(64));
        mutate.fill(junk);
        append(bad, junk);
        break;
      }
    }
    if (bad == original) continue;
    b.endpoint.handle_datagram(Instant{}, 1, bad);
    ASSERT_FALSE(b.endpoint.poll_transmit().has_value()) << "a reply to mutation " << i;
  }
  b.collect();
  for (const auto& event : b.events) {
    EXPECT_TRUE(std::holds_alternative<event::ExchangeUp>(event))
        << "a mutated packet produced event index " << event.index();
  }
  EXPECT_EQ(b.endpoint.stats().handshakes_received, received_before);
  // The genuine packets still work.
  b.endpoint.handle_datagram(Instant{}, 1, channel_packet);
  EXPECT_EQ(b.take<event::ChannelOpened>().size(), 1u);
}

}  // namespace
}  // namespace e3x

namespace e3x {
namespace {

// Found while benchmarking handshake latency: a peer removed and added again (a reload) in
// the same second got a new exchange whose first SEQ repeated the old exchange's, which the
// peer takes for a resend. The removed peer's SEQs are remembered, so the next one is higher.
TEST(Endpoint, APeerAddedAgainNeverReusesASeq) {
  Side a(1), b(2);
  const Hashname b_name = a.endpoint.add_peer(b.endpoint.public_key()).value();
  const Hashname a_name = b.endpoint.add_peer(a.endpoint.public_key()).value();
  ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));
  exchange_all(Instant{}, a, b);
  const std::uint32_t first = a.endpoint.peer_status(b_name)->seq_sent;
  ASSERT_EQ(a.endpoint.peer_status(b_name)->state, ExchangeState::kUp);

  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(a.endpoint.remove_peer(Instant{}, b_name));
    ASSERT_TRUE(a.endpoint.add_peer(b.endpoint.public_key()));
    ASSERT_TRUE(a.endpoint.connect(Instant{}, b_name, 1));  // same instant, same Unix second
    exchange_all(Instant{}, a, b);
    const auto status = a.endpoint.peer_status(b_name);
    EXPECT_GT(status->seq_sent, first) << "round " << round;
    EXPECT_EQ(status->state, ExchangeState::kUp) << "B must take it as new, not as a resend";
    EXPECT_EQ(b.endpoint.peer_status(a_name)->seq_recv, status->seq_sent);
  }
}

}  // namespace
}  // namespace e3x
