// e3xctl seal/open's library (daemon/sealed_file.hpp): the messages a person sees.
#include "daemon/modules/messages/sealed_file.hpp"

#include <gtest/gtest.h>

namespace e3x::daemon {
namespace {

struct Person {
  explicit Person(std::uint64_t seed) : random(seed), keys(generate_keypair(random)) {}
  SeededRandom random;
  KeyPair keys;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SealedFile, RoundTripsAndNamesTheSender) {
  Person alice(1), bob(2);
  const Bytes file = seal_file(alice.keys, bob.keys.public_key, "f1", as_bytes("payload"),
                               alice.random, 1800000000);
  auto opened = open_file(bob.keys, alice.keys.public_key, file);
  ASSERT_TRUE(opened) << opened.error();
  EXPECT_EQ(opened->from, hashname_of(alice.keys.public_key));
  EXPECT_EQ(opened->id, "f1");
  EXPECT_EQ(opened->payload, Bytes(as_bytes("payload").begin(), as_bytes("payload").end()));
}

TEST(SealedFile, EachFailureSaysWhatWentWrong) {
  Person alice(1), bob(2), carol(3);
  const Bytes file =
      seal_file(alice.keys, bob.keys.public_key, "f1", as_bytes("payload"), alice.random, 1);

  auto wrong_recipient = open_file(carol.keys, alice.keys.public_key, file);
  ASSERT_FALSE(wrong_recipient);
  EXPECT_TRUE(contains(wrong_recipient.error(), "not sealed for this identity"));

  auto wrong_sender = open_file(bob.keys, carol.keys.public_key, file);
  ASSERT_FALSE(wrong_sender);
  EXPECT_TRUE(contains(wrong_sender.error(), "wrong sender: it was sealed by " +
                                                 hashname_of(alice.keys.public_key).to_string()));

  Bytes altered = file;
  altered.back() ^= 0x10;  // AUTH
  auto tampered = open_file(bob.keys, alice.keys.public_key, altered);
  ASSERT_FALSE(tampered);
  EXPECT_TRUE(contains(tampered.error(), "altered"));

  // Every single byte changed is refused, whatever the message.
  for (std::size_t i = 0; i < file.size(); ++i) {
    Bytes bad = file;
    bad[i] ^= 0x01;
    EXPECT_FALSE(open_file(bob.keys, alice.keys.public_key, bad)) << "byte " << i;
  }
  EXPECT_TRUE(contains(open_file(bob.keys, alice.keys.public_key, Bytes{1, 2}).error(),
                       "not a sealed message"));
}

}  // namespace
}  // namespace e3x::daemon
