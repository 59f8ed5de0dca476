// Sealed application messages without an Endpoint (core/sealed_message.hpp): the round trip,
// the vector from the independent implementation, and every way a file can be wrong.
#include "core/sealed_message.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include <boost/json.hpp>

#include "core/endpoint.hpp"
#include "core/lob.hpp"

namespace e3x {
namespace {

constexpr std::uint32_t kSeq = 1763700001;

struct Identity {
  explicit Identity(std::uint64_t seed) : random(seed), keys(generate_keypair(random)) {}
  SeededRandom random;
  KeyPair keys;
  Hashname hashname() const { return hashname_of(keys.public_key); }
};

// A lookup that knows exactly one sender.
SenderKeyLookup knows(const KeyPair& sender) {
  const PublicKey key = sender.public_key;
  return [key](const Hashname& name) -> std::optional<PublicKey> {
    if (name == hashname_of(key)) return key;
    return std::nullopt;
  };
}

Bytes seal(Identity& from, const Identity& to, std::string_view body, std::string_view id = "m1") {
  return seal_application_message(from.keys, to.keys.public_key, kSeq, "msg", id, {},
                                  as_bytes(body), from.random);
}

TEST(SealedMessage, RoundTripsBetweenTwoIdentities) {
  Identity alice(1), bob(2);
  const Bytes sealed = seal(alice, bob, "hello, bob", "note-7");
  auto opened = open_application_message(bob.keys, sealed, knows(alice.keys));
  ASSERT_TRUE(opened) << to_string(opened.error());
  EXPECT_EQ(opened->from, alice.hashname());
  EXPECT_EQ(opened->type, "msg");
  EXPECT_EQ(opened->id, "note-7");
  EXPECT_EQ(opened->seq, kSeq);
  EXPECT_EQ(std::string(opened->body.begin(), opened->body.end()), "hello, bob");
  EXPECT_EQ(sealed.size(),
            application_message_size(lob_encode(opened->head, {}).size() - 2, opened->body.size()));
}

TEST(SealedMessage, EverySealUsesAFreshEphemeralKey) {
  Identity alice(1), bob(2);
  const Bytes first = seal(alice, bob, "same");
  const Bytes second = seal(alice, bob, "same");
  const auto a = parse_message(first);
  const auto b = parse_message(second);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->key, b->key);
  EXPECT_NE(first, second);
}

TEST(SealedMessage, ExtraHeadKeysTravelButCannotReplaceTheReservedOnes) {
  Identity alice(1), bob(2);
  const boost::json::object extra{{"expires", 1800000000}, {"from", "someone-else"}};
  const Bytes sealed = seal_application_message(alice.keys, bob.keys.public_key, kSeq, "msg", "x",
                                                extra, as_bytes("b"), alice.random);
  auto opened = open_application_message(bob.keys, sealed, knows(alice.keys));
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->head.at("expires").to_number<std::int64_t>(), 1800000000);
  EXPECT_EQ(opened->from, alice.hashname());
}

TEST(SealedMessage, EveryTamperedByteIsRejected) {
  Identity alice(1), bob(2);
  const Bytes good = seal(alice, bob, "the payload that must arrive intact");
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (const std::uint8_t flip : {0x01, 0x80, 0xff}) {
      Bytes bad = good;
      bad[i] ^= flip;
      EXPECT_FALSE(open_application_message(bob.keys, bad, knows(alice.keys)))
          << "byte " << i << " flipped with " << int(flip) << " was accepted";
    }
  }
  // Truncated and extended files too.
  for (std::size_t length = 0; length < good.size(); ++length) {
    EXPECT_FALSE(
        open_application_message(bob.keys, ByteView(good.data(), length), knows(alice.keys)));
  }
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_FALSE(open_application_message(bob.keys, longer, knows(alice.keys)));
}

TEST(SealedMessage, TamperingIsReportedAsSuch) {
  Identity alice(1), bob(2);
  Bytes sealed = seal(alice, bob, "payload");
  Bytes box_changed = sealed;
  box_changed[2 + 1 + 4 + 32 + 3] ^= 1;  // inside BOX
  EXPECT_EQ(open_application_message(bob.keys, box_changed, knows(alice.keys)).error(),
            OpenMessageError::kNotForUs);
  Bytes auth_changed = sealed;
  auth_changed.back() ^= 1;  // inside AUTH: BOX still opens
  EXPECT_EQ(open_application_message(bob.keys, auth_changed, knows(alice.keys)).error(),
            OpenMessageError::kBadAuth);
  EXPECT_EQ(
      open_application_message(bob.keys, ByteView(sealed.data(), 10), knows(alice.keys)).error(),
      OpenMessageError::kMalformed);
}

TEST(SealedMessage, AFileSealedForSomeoneElseIsRejected) {
  Identity alice(1), bob(2), carol(3);
  const Bytes for_carol = seal(alice, carol, "not for bob");
  auto opened = open_application_message(bob.keys, for_carol, knows(alice.keys));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), OpenMessageError::kNotForUs);
  EXPECT_TRUE(open_application_message(carol.keys, for_carol, knows(alice.keys)));
}

TEST(SealedMessage, AWrongOrUnknownSenderIsRejected) {
  Identity alice(1), bob(2), mallory(4);
  const Bytes from_alice = seal(alice, bob, "hi");
  // Bob expects mallory only: alice's hashname is unknown to him.
  EXPECT_EQ(open_application_message(bob.keys, from_alice, knows(mallory.keys)).error(),
            OpenMessageError::kUnknownSender);
  // Mallory claims to be alice: the head says alice, but AUTH was made with mallory's key.
  const Bytes forged = seal_application_message(mallory.keys, bob.keys.public_key, kSeq, "msg", "f",
                                                {}, as_bytes("hi"), mallory.random);
  auto forged_head = open_application_message(bob.keys, forged, knows(mallory.keys));
  ASSERT_TRUE(forged_head);  // honest: it names mallory
  // A lookup that maps alice's hashname to a wrong key makes AUTH fail, never pass.
  const PublicKey wrong = mallory.keys.public_key;
  auto wrong_key = open_application_message(
      bob.keys, from_alice, [wrong](const Hashname&) { return std::optional<PublicKey>(wrong); });
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error(), OpenMessageError::kBadAuth);
}

TEST(SealedMessage, AHandshakeIsNotAnApplicationMessage) {
  Identity alice(1), bob(2);
  const KeyPair ephemeral = generate_keypair(alice.random);
  const Bytes handshake = seal_message(kSeq, ephemeral.public_key,
                                       x25519_shared(bob.keys.public_key, ephemeral.secret_key),
                                       x25519_shared(bob.keys.public_key, alice.keys.secret_key),
                                       lob_encode(ByteView{}, alice.keys.public_key));
  EXPECT_EQ(open_application_message(bob.keys, handshake, knows(alice.keys)).error(),
            OpenMessageError::kNotApplication);
}

// A sealed file is an ordinary OUTER packet: an Endpoint accepts it off the wire too.
TEST(SealedMessage, AnEndpointAcceptsASealedFileAsADatagram) {
  Identity alice(1), bob(2);
  SeededRandom random(9);
  Endpoint endpoint(Endpoint::Config{.identity = std::move(bob.keys), .random = &random});
  ASSERT_TRUE(endpoint.add_peer(alice.keys.public_key));
  // The endpoint's clock reads Unix time 0 here: one hour ahead is a valid expiry.
  const Bytes sealed =
      seal_application_message(alice.keys, endpoint.public_key(), kSeq, "msg", "wire-1",
                               boost::json::object{{"expires", 3600}}, as_bytes("x"), alice.random);
  endpoint.handle_datagram(Instant{}, 1, sealed);
  bool received = false;
  while (auto event = endpoint.poll_event()) {
    if (auto* message = std::get_if<event::MessageReceived>(&*event)) {
      received = message->id == "wire-1" && message->from == alice.hashname();
    }
  }
  EXPECT_TRUE(received);
  EXPECT_FALSE(endpoint.poll_transmit().has_value()) << "a message needs no reply";
}

// The application message vector of shared/vectors/vectors.json opens with B's key.
TEST(SealedMessage, OpensTheSharedVector) {
  const std::string path = std::string(E3X_SHARED_DIR) + "/vectors/vectors.json";
  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  const auto root = boost::json::parse(
      std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>()));
  const auto& keys = root.at("keys").as_object();
  const auto key_bytes = [&](const char* name, const char* part) {
    return *from_hex(keys.at(name).at(part).as_string());
  };
  KeyPair b;
  const Bytes b_secret = key_bytes("B", "secret");
  b.secret_key = SecretKey(std::span<const std::uint8_t, 32>(b_secret.data(), 32));
  const Bytes b_public = key_bytes("B", "public");
  std::copy(b_public.begin(), b_public.end(), b.public_key.begin());
  KeyPair a;
  const Bytes a_public = key_bytes("A", "public");
  std::copy(a_public.begin(), a_public.end(), a.public_key.begin());

  const auto& vector = root.at("message").as_object();
  const Bytes outer = *from_hex(vector.at("outer").as_string());
  auto opened = open_application_message(b, outer, knows(a));
  ASSERT_TRUE(opened) << to_string(opened.error());
  EXPECT_EQ(opened->type, "msg");
  EXPECT_EQ(opened->id, "m1");
  EXPECT_EQ(opened->seq, vector.at("seq").to_number<std::uint32_t>());
  const Bytes inner = *from_hex(vector.at("inner").as_string());
  EXPECT_EQ(lob_encode(opened->head, opened->body), inner);
}

}  // namespace
}  // namespace e3x
