// The shared known-answer vectors reproduced through the whole Endpoint, not just the cipher
// functions: with the vectors' static and ephemeral keys injected, the bytes an Endpoint puts
// on the wire for a handshake, its reply, a new own-SEQ handshake, an application message and
// a channel open must equal the independent implementation's, byte for byte.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "core/endpoint.hpp"
#include "core/exchange.hpp"

namespace e3x {
namespace {

boost::json::value load_vectors() {
  std::ifstream file(E3X_SHARED_DIR "/vectors/vectors.json");
  std::stringstream text;
  text << file.rdbuf();
  return boost::json::parse(text.str());
}

Bytes hex(const boost::json::value& value) {
  auto bytes = from_hex(std::string_view(value.as_string()));
  EXPECT_TRUE(bytes.has_value());
  return bytes.value_or(Bytes{});
}

template <std::size_t N>
ByteArray<N> hex_array(const boost::json::value& value) {
  const Bytes bytes = hex(value);
  ByteArray<N> out{};
  EXPECT_EQ(bytes.size(), N);
  std::copy_n(bytes.begin(), std::min(N, bytes.size()), out.begin());
  return out;
}

KeyPair keypair(const boost::json::value& secret_hex) {
  return keypair_from_secret(
      SecretKey(std::span<const std::uint8_t, 32>(hex_array<32>(secret_hex))));
}

Bytes only_transmit(Endpoint& endpoint, PathId expected_path) {
  auto transmit = endpoint.poll_transmit();
  EXPECT_TRUE(transmit.has_value());
  if (!transmit) return {};
  EXPECT_EQ(transmit->path, expected_path);
  EXPECT_FALSE(endpoint.poll_transmit().has_value()) << "more than one packet was sent";
  return transmit->packet;
}

template <class T>
std::vector<T> events_of(Endpoint& endpoint) {
  std::vector<T> out;
  while (auto event = endpoint.poll_event()) {
    if (auto* wanted = std::get_if<T>(&*event)) out.push_back(std::move(*wanted));
  }
  return out;
}

class EndpointVectors : public ::testing::Test {
 protected:
  void SetUp() override {
    vectors_ = load_vectors();
    const auto& keys = vectors_.at("keys");
    random_a_.script(hex(keys.at("A_ephemeral").at("secret")));
    random_b_.script(hex(keys.at("B_ephemeral").at("secret")));
    a_ = std::make_unique<Endpoint>(
        Endpoint::Config{.identity = keypair(keys.at("A").at("secret")), .random = &random_a_});
    b_ = std::make_unique<Endpoint>(
        Endpoint::Config{.identity = keypair(keys.at("B").at("secret")), .random = &random_b_});
    b_hashname_ = a_->add_peer(b_->public_key()).value();
    a_hashname_ = b_->add_peer(a_->public_key()).value();
    // A's clock says 1763700001 (A is HIGH, so its first SEQ is that odd value); B is a
    // second behind.
    a_->set_unix_time(t0_, 1763700001);
    b_->set_unix_time(t0_, 1763700000);
  }

  const boost::json::value& handshake(const char* name) {
    return vectors_.at("handshake").at(name);
  }

  boost::json::value vectors_;
  ScriptedRandom random_a_{11}, random_b_{22};
  std::unique_ptr<Endpoint> a_, b_;
  Hashname a_hashname_, b_hashname_;
  Instant t0_{};
  static constexpr PathId kPathToB = 7, kPathToA = 9;
};

TEST_F(EndpointVectors, HandshakeReplyAndNewSeqMatchTheVectorsByteForByte) {
  ASSERT_TRUE(a_->connect(t0_, b_hashname_, kPathToB));
  const Bytes a_hello = only_transmit(*a_, kPathToB);
  EXPECT_EQ(to_hex(a_hello), handshake("A_to_B").at("outer").as_string());

  b_->handle_datagram(t0_, kPathToA, a_hello);
  const Bytes b_reply = only_transmit(*b_, kPathToA);
  EXPECT_EQ(to_hex(b_reply), handshake("B_reply_same_seq").at("outer").as_string());
  auto b_up = events_of<event::ExchangeUp>(*b_);
  ASSERT_EQ(b_up.size(), 1u);
  EXPECT_EQ(b_up[0].peer, a_hashname_);
  EXPECT_EQ(to_hex(b_up[0].remote_token), handshake("A_to_B").at("token").as_string());
  EXPECT_EQ(b_up[0].seq, 1763700001u);

  a_->handle_datagram(t0_, kPathToB, b_reply);
  EXPECT_FALSE(a_->poll_transmit().has_value()) << "a confirmation needs no answer";
  auto a_up = events_of<event::ExchangeUp>(*a_);
  ASSERT_EQ(a_up.size(), 1u);
  EXPECT_EQ(to_hex(a_up[0].remote_token),
            vectors_.at("keys").at("B_ephemeral").at("token").as_string());

  // B starts a new handshake of its own: the next even SEQ above what it has seen.
  ASSERT_TRUE(b_->request_keepalive(t0_, a_hashname_));
  EXPECT_EQ(to_hex(only_transmit(*b_, kPathToA)),
            handshake("B_new_own_seq").at("outer").as_string());
  EXPECT_TRUE(random_a_.script_used_up());
  EXPECT_TRUE(random_b_.script_used_up());
}

TEST_F(EndpointVectors, ApplicationMessageMatchesTheVector) {
  ASSERT_TRUE(a_->connect(t0_, b_hashname_, kPathToB));
  b_->handle_datagram(t0_, kPathToA, only_transmit(*a_, kPathToB));
  a_->handle_datagram(t0_, kPathToB, only_transmit(*b_, kPathToA));
  ASSERT_TRUE(b_->request_keepalive(t0_, a_hashname_));  // SEQ 1763700002
  a_->handle_datagram(t0_, kPathToB, only_transmit(*b_, kPathToA));
  b_->handle_datagram(t0_, kPathToA, only_transmit(*a_, kPathToB));
  ASSERT_TRUE(a_->request_keepalive(t0_, b_hashname_));  // SEQ 1763700003
  b_->handle_datagram(t0_, kPathToA, only_transmit(*a_, kPathToB));
  a_->handle_datagram(t0_, kPathToB, only_transmit(*b_, kPathToA));
  (void)events_of<event::ExchangeUp>(*a_);
  (void)events_of<event::ExchangeUp>(*b_);

  const auto& message = vectors_.at("message");
  const std::string body = "hello, B";
  auto sent = a_->send_message(t0_, b_hashname_, "msg", "m1", {}, as_bytes(body));
  ASSERT_TRUE(sent) << to_string(sent.error());
  EXPECT_EQ(to_hex(*sent), message.at("outer").as_string());
  const Bytes wire = only_transmit(*a_, kPathToB);
  EXPECT_EQ(wire, *sent);

  // The vector predates PROTOCOL.md revision 2: its head has no "expires", so B opens and
  // authenticates it and then drops it, counted, without delivering it (section 10 rule 7).
  const std::uint64_t x25519_before = b_->stats().x25519_operations;
  const auto unauthenticated_before = b_->stats().dropped_unauthenticated;
  EXPECT_FALSE(b_->handle_datagram(t0_, kPathToA, wire));
  EXPECT_TRUE(events_of<event::MessageReceived>(*b_).empty());
  EXPECT_EQ(b_->stats().dropped_expired, 1u);
  EXPECT_EQ(b_->stats().dropped_unauthenticated, unauthenticated_before);
  EXPECT_FALSE(b_->poll_transmit().has_value()) << "messages are not answered by the core";

  // The same message with an expiry is delivered, from the known exchange at no X25519 cost.
  const boost::json::object expires{{"expires", 1763700000 + 3600}};
  auto with_expiry = a_->send_message(t0_, b_hashname_, "msg", "m1", expires, as_bytes(body));
  ASSERT_TRUE(with_expiry);
  EXPECT_TRUE(b_->handle_datagram(t0_, kPathToA, only_transmit(*a_, kPathToB)));
  auto received = events_of<event::MessageReceived>(*b_);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].from, a_hashname_);
  EXPECT_EQ(received[0].type, "msg");
  EXPECT_EQ(received[0].id, "m1");
  EXPECT_EQ(received[0].seq, 1763700007u);
  EXPECT_EQ(Bytes(received[0].body), Bytes(body.begin(), body.end()));
  EXPECT_EQ(b_->stats().x25519_operations, x25519_before);
  EXPECT_FALSE(b_->poll_transmit().has_value()) << "messages are not answered by the core";
}

TEST_F(EndpointVectors, ChannelOpenMatchesTheVector) {
  const auto& channel = vectors_.at("channel");
  random_a_.script(hex(channel.at("nonce")));
  ASSERT_TRUE(a_->connect(t0_, b_hashname_, kPathToB));
  b_->handle_datagram(t0_, kPathToA, only_transmit(*a_, kPathToB));
  a_->handle_datagram(t0_, kPathToB, only_transmit(*b_, kPathToA));

  auto id = a_->open_channel(t0_, b_hashname_, "path", /*reliable=*/true);
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 1u);  // A is HIGH: odd channel ids from 1
  const Bytes wire = only_transmit(*a_, kPathToB);
  EXPECT_EQ(to_hex(wire), channel.at("A_to_B_outer").as_string());

  (void)events_of<event::ExchangeUp>(*b_);
  b_->handle_datagram(t0_, kPathToA, wire);
  auto opened = events_of<event::ChannelOpened>(*b_);
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].peer, a_hashname_);
  EXPECT_EQ(opened[0].channel, 1u);
  EXPECT_EQ(opened[0].type, "path");
  EXPECT_TRUE(opened[0].reliable);

  // The same packet again is a replay: dropped and counted, no event.
  b_->handle_datagram(t0_, kPathToA, wire);
  EXPECT_EQ(b_->stats().dropped_replay, 1u);
  EXPECT_FALSE(b_->poll_event().has_value());
}

TEST_F(EndpointVectors, EveryHandshakeRejectVectorIsDroppedWithoutReply) {
  const auto& rejects = handshake("rejects").as_array();
  ASSERT_EQ(rejects.size(), 7u);
  for (const auto& reject : rejects) {
    SCOPED_TRACE(std::string(reject.at("name").as_string()));
    const EndpointStats before = b_->stats();
    b_->handle_datagram(t0_, kPathToA, hex(reject.at("outer")));
    EXPECT_FALSE(b_->poll_transmit().has_value());
    EXPECT_FALSE(b_->poll_event().has_value());
    const EndpointStats& after = b_->stats();
    EXPECT_EQ(after.dropped_malformed + after.dropped_unauthenticated,
              before.dropped_malformed + before.dropped_unauthenticated + 1);
    EXPECT_EQ(after.handshakes_received, 0u);
  }
  // And the genuine one still works afterwards.
  b_->handle_datagram(t0_, kPathToA, hex(handshake("A_to_B").at("outer")));
  EXPECT_EQ(b_->stats().handshakes_received, 1u);
}

}  // namespace
}  // namespace e3x

namespace e3x {
namespace {

// With the vectors' ephemeral keys known, the test can seal channel packets as A would, with
// any channel id, and watch B's validation of incoming ids.
class IncomingChannelIds : public EndpointVectors {
 protected:
  void SetUp() override {
    EndpointVectors::SetUp();
    ASSERT_TRUE(a_->connect(t0_, b_hashname_, kPathToB));
    b_->handle_datagram(t0_, kPathToA, only_transmit(*a_, kPathToB));
    (void)b_->poll_transmit();
    (void)events_of<event::ExchangeUp>(*b_);
    const auto& keys = vectors_.at("keys");
    const KeyPair a_ephemeral = keypair(keys.at("A_ephemeral").at("secret"));
    const PublicKey b_ephemeral = hex_array<32>(keys.at("B_ephemeral").at("public"));
    a_out_ = derive_channel_keys(x25519_shared(b_ephemeral, a_ephemeral.secret_key),
                                 a_ephemeral.public_key, b_ephemeral)
                 .out;
    a_token_ = token_of(a_ephemeral.public_key);
  }

  // Seals {"c":id,...} as A's exchange would and hands it to B; returns B's events.
  std::vector<Event> send_as_a(boost::json::object head) {
    ChannelNonce nonce;
    nonce_source_.fill(nonce);
    b_->handle_datagram(t0_, kPathToA, seal_channel(a_token_, nonce, a_out_, lob_encode(head, {})));
    std::vector<Event> out;
    while (auto event = b_->poll_event()) out.push_back(std::move(*event));
    while (b_->poll_transmit()) {
    }
    return out;
  }
  bool opened(std::uint32_t id) {
    auto events = send_as_a({{"c", id}, {"type", "probe"}});
    return events.size() == 1 && std::holds_alternative<event::ChannelOpened>(events[0]) &&
           std::get<event::ChannelOpened>(events[0]).channel == id;
  }

  SharedKey a_out_;
  Token a_token_{};
  SeededRandom nonce_source_{99};
};

TEST_F(IncomingChannelIds, OnlyThePeersParityAndNewIdsOpenChannels) {
  // A is HIGH: its channels are odd. An even id is B's own to open.
  EXPECT_FALSE(opened(2));
  EXPECT_EQ(b_->stats().dropped_channel, 1u);
  EXPECT_TRUE(opened(1));
  EXPECT_TRUE(opened(3));

  // Channel 1 is closed by the peer's err; its id cannot be opened again.
  auto closed = send_as_a({{"c", 1}, {"err", "done"}});
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<event::ChannelErrored>(closed[0]));
  EXPECT_FALSE(opened(1));

  // Ids may arrive a little out of order, not arbitrarily far below the highest seen.
  EXPECT_TRUE(opened(1001));
  EXPECT_TRUE(opened(999));
  EXPECT_FALSE(opened(901));
  // Zero, and anything that is not a 32-bit positive integer, is not a channel id.
  EXPECT_TRUE(send_as_a({{"c", 0}, {"type", "probe"}}).empty());
  EXPECT_TRUE(send_as_a({{"c", 4294967297LL}, {"type", "probe"}}).empty());
  EXPECT_TRUE(send_as_a({{"c", "5"}, {"type", "probe"}}).empty());
  EXPECT_TRUE(send_as_a({{"c", 5}}).empty()) << "no type: not an open packet";
  EXPECT_EQ(b_->peer_status(a_hashname_)->channels, 3u);  // 3, 1001 and 999; 1 was closed
}

TEST_F(IncomingChannelIds, APeerCannotOpenChannelsWithoutBound) {
  std::size_t opened_count = 0;
  for (std::uint32_t id = 1; id < 2 * 1100; id += 2) opened_count += opened(id) ? 1 : 0;
  EXPECT_EQ(opened_count, kMaxChannelsPerExchange);
  EXPECT_EQ(b_->peer_status(a_hashname_)->channels, kMaxChannelsPerExchange);
  EXPECT_EQ(b_->stats().dropped_channel, 1100u - kMaxChannelsPerExchange);
}

}  // namespace
}  // namespace e3x
