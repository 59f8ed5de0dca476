#include "core/cs3a.hpp"

#include <string>

#include "core/lob.hpp"
#include "core/sha256.hpp"
#include "gtest/gtest.h"

namespace e3x {
namespace {

// Two endpoints with static and ephemeral keys, all from one seed.
struct Fixture {
  SeededRandom random{7};
  KeyPair a_static = generate_keypair(random);
  KeyPair a_ephemeral = generate_keypair(random);
  KeyPair b_static = generate_keypair(random);
  KeyPair b_ephemeral = generate_keypair(random);

  Bytes seal_a_to_b(std::uint32_t seq, ByteView inner) const {
    return seal_message(seq, a_ephemeral.public_key,
                        x25519_shared(b_static.public_key, a_ephemeral.secret_key),
                        x25519_shared(b_static.public_key, a_static.secret_key), inner);
  }
  // B's side: nullopt unless the box opens and AUTH verifies against A's static key.
  std::optional<Bytes> open_at_b(ByteView outer) const {
    std::optional<MessageParts> parts = parse_message(outer);
    if (!parts) return std::nullopt;
    std::optional<Bytes> inner =
        open_message_box(*parts, x25519_shared(parts->key, b_static.secret_key));
    if (!inner) return std::nullopt;
    if (!verify_message_auth(*parts, x25519_shared(a_static.public_key, b_static.secret_key))) {
      return std::nullopt;
    }
    return inner;
  }
};

Bytes sample_inner() {
  return lob_encode(ByteView{}, as_bytes("a 32-byte static key stand-in.."));
}

TEST(Cs3a, KeypairFromSecretMatchesGenerated) {
  SeededRandom random(1);
  const KeyPair generated = generate_keypair(random);
  const KeyPair rebuilt = keypair_from_secret(generated.secret_key);
  EXPECT_EQ(rebuilt.public_key, generated.public_key);
  EXPECT_EQ(rebuilt.secret_key, generated.secret_key);
  // libsodium's own derivation agrees.
  PublicKey expected;
  ASSERT_EQ(crypto_scalarmult_base(expected.data(), generated.secret_key.data()), 0);
  EXPECT_EQ(generated.public_key, expected);
}

TEST(Cs3a, SharedKeyIsSymmetric) {
  const Fixture f;
  EXPECT_EQ(x25519_shared(f.b_static.public_key, f.a_static.secret_key),
            x25519_shared(f.a_static.public_key, f.b_static.secret_key));
  EXPECT_FALSE(x25519_shared(f.b_static.public_key, f.a_static.secret_key) ==
               x25519_shared(f.b_ephemeral.public_key, f.a_static.secret_key));
}

TEST(Cs3a, LowOrderPublicKeyGivesNoPredictableKey) {
  const Fixture f;
  const PublicKey zero{};  // a low-order point: X25519 output would be all zeros
  const SharedKey with_a = x25519_shared(zero, f.a_static.secret_key);
  const SharedKey with_b = x25519_shared(zero, f.b_static.secret_key);
  EXPECT_FALSE(with_a == SharedKey{}) << "must not be the all-zero key";
  EXPECT_FALSE(with_a == with_b) << "must not be one key everyone can predict";
  // What libsodium would have derived from an all-zero X25519 output.
  SharedKey predictable;
  const std::uint8_t zeros[32] = {};
  const std::uint8_t nonce[16] = {};
  crypto_core_hsalsa20(predictable.data(), nonce, zeros, nullptr);
  EXPECT_FALSE(with_a == predictable);
}

TEST(Cs3a, TokenIsHashOfFirst16Bytes) {
  PublicKey key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
  const Digest digest = sha256(ByteView(key).first(16));
  const Token token = token_of(key);
  EXPECT_TRUE(std::equal(token.begin(), token.end(), digest.begin()));
  key[20] ^= 1;  // bytes past 16 do not matter
  EXPECT_EQ(token_of(key), token);
  key[15] ^= 1;
  EXPECT_NE(token_of(key), token);
}

TEST(Cs3a, MessageRoundTripAndLayout) {
  const Fixture f;
  const Bytes inner = sample_inner();
  const Bytes outer = f.seal_a_to_b(0x01020304, inner);
  // LENGTH 1, HEAD 0x3a, SEQ BE, KEY, BOX (inner + 16), AUTH 16.
  ASSERT_EQ(outer.size(), 2 + 1 + 4 + 32 + inner.size() + 16 + 16);
  EXPECT_EQ(outer[0], 0x00);
  EXPECT_EQ(outer[1], 0x01);
  EXPECT_EQ(outer[2], 0x3a);
  EXPECT_EQ(outer[3], 0x01);
  EXPECT_EQ(outer[6], 0x04);
  EXPECT_TRUE(std::equal(f.a_ephemeral.public_key.begin(), f.a_ephemeral.public_key.end(),
                         outer.begin() + 7));

  std::optional<MessageParts> parts = parse_message(outer);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->seq, 0x01020304u);
  EXPECT_EQ(parts->key, f.a_ephemeral.public_key);
  EXPECT_EQ(parts->box.size(), inner.size() + 16);
  EXPECT_EQ(parts->auth.size(), 16u);
  EXPECT_EQ(parts->seq_key_box.size(), 4 + 32 + parts->box.size());
  EXPECT_EQ(f.open_at_b(outer), inner);
}

TEST(Cs3a, MessageBoxUsesSeqNonce) {
  // The same INNER under two SEQs must give different boxes (the nonce is SEQ || zeros).
  const Fixture f;
  const Bytes one = f.seal_a_to_b(1, sample_inner());
  const Bytes two = f.seal_a_to_b(2, sample_inner());
  EXPECT_FALSE(std::equal(one.begin() + 39, one.end(), two.begin() + 39));
  // Sealing is deterministic for the same SEQ (a resend may reseal identically).
  EXPECT_EQ(f.seal_a_to_b(1, sample_inner()), one);
}

TEST(Cs3a, EveryFlippedByteIsRejected) {
  const Fixture f;
  const Bytes outer = f.seal_a_to_b(99, sample_inner());
  ASSERT_TRUE(f.open_at_b(outer).has_value());
  for (std::size_t i = 0; i < outer.size(); ++i) {
    for (std::uint8_t flip : {0x01, 0x80}) {
      Bytes tampered = outer;
      tampered[i] ^= flip;
      EXPECT_FALSE(f.open_at_b(tampered).has_value()) << "byte " << i << " flip " << int{flip};
    }
  }
}

TEST(Cs3a, WrongKeysFail) {
  const Fixture f;
  const Bytes outer = f.seal_a_to_b(5, sample_inner());
  std::optional<MessageParts> parts = parse_message(outer);
  ASSERT_TRUE(parts.has_value());
  // A is not the recipient: its static secret does not open the box.
  EXPECT_FALSE(open_message_box(*parts, x25519_shared(parts->key, f.a_static.secret_key)));
  // B's ephemeral is not B's static.
  EXPECT_FALSE(open_message_box(*parts, x25519_shared(parts->key, f.b_ephemeral.secret_key)));
  // AUTH does not verify for a sender B believes is someone else.
  EXPECT_FALSE(
      verify_message_auth(*parts, x25519_shared(f.b_ephemeral.public_key, f.b_static.secret_key)));
  EXPECT_TRUE(
      verify_message_auth(*parts, x25519_shared(f.a_static.public_key, f.b_static.secret_key)));
}

TEST(Cs3a, AuthCoversSeqAndKeyThroughKAuth) {
  // Moving a valid BOX and AUTH under another SEQ must fail AUTH even if someone could open
  // the box: K_auth binds SEQ and KEY.
  const Fixture f;
  const SharedKey s_static = x25519_shared(f.b_static.public_key, f.a_static.secret_key);
  const Bytes outer = f.seal_a_to_b(10, sample_inner());
  Bytes moved = outer;
  moved[6] = 11;
  std::optional<MessageParts> parts = parse_message(moved);
  ASSERT_TRUE(parts.has_value());
  EXPECT_FALSE(verify_message_auth(*parts, s_static));
}

TEST(Cs3a, MinimumBodySize) {
  const Fixture f;
  // INNER of 2 bytes (an empty LOB) gives exactly the 70-byte minimum body.
  const Bytes smallest = f.seal_a_to_b(1, lob_encode(ByteView{}, ByteView{}));
  ASSERT_EQ(smallest.size(), 3 + kMessageMinBody);
  EXPECT_TRUE(parse_message(smallest).has_value());
  EXPECT_TRUE(f.open_at_b(smallest).has_value());
  const Bytes shorter(smallest.begin(), smallest.end() - 1);
  EXPECT_FALSE(parse_message(shorter).has_value());
  // An INNER of 1 byte is sealed but can never be accepted.
  const Bytes one_byte_inner = f.seal_a_to_b(1, Bytes{0});
  EXPECT_FALSE(parse_message(one_byte_inner).has_value());
}

TEST(Cs3a, ParseMessageRejections) {
  const Fixture f;
  const Bytes outer = f.seal_a_to_b(1, sample_inner());
  Bytes wrong_csid = outer;
  wrong_csid[2] = 0x1a;
  EXPECT_FALSE(parse_message(wrong_csid).has_value());

  // HEAD of 2 bytes starting with 0x3a.
  Bytes body(outer.begin() + 3, outer.end());
  const Bytes two_byte_head = {0x3a, 0x3a};
  EXPECT_FALSE(parse_message(lob_encode(two_byte_head, body)).has_value());
  EXPECT_FALSE(parse_message(lob_encode(ByteView{}, body)).has_value());
  EXPECT_FALSE(parse_message(Bytes{0x00}).has_value());
  EXPECT_FALSE(parse_message(Bytes{0x00, 0x05, 0x3a}).has_value());
  EXPECT_FALSE(parse_message(ByteView{}).has_value());
}

TEST(Cs3a, ChannelKeysAreMirrored) {
  const Fixture f;
  const ChannelKeys a =
      derive_channel_keys(x25519_shared(f.b_ephemeral.public_key, f.a_ephemeral.secret_key),
                          f.a_ephemeral.public_key, f.b_ephemeral.public_key);
  const ChannelKeys b =
      derive_channel_keys(x25519_shared(f.a_ephemeral.public_key, f.b_ephemeral.secret_key),
                          f.b_ephemeral.public_key, f.a_ephemeral.public_key);
  EXPECT_EQ(a.out, b.in);
  EXPECT_EQ(a.in, b.out);
  EXPECT_FALSE(a.out == a.in);
  // K_out follows the formula SHA256(S_eph || E.public || remote.public).
  const SharedKey s_eph = x25519_shared(f.b_ephemeral.public_key, f.a_ephemeral.secret_key);
  const Digest expected_out =
      sha256({s_eph.view(), f.a_ephemeral.public_key, f.b_ephemeral.public_key});
  EXPECT_TRUE(std::equal(expected_out.begin(), expected_out.end(), a.out.data()));
}

TEST(Cs3a, ChannelRoundTripAndTampering) {
  const Fixture f;
  const ChannelKeys a =
      derive_channel_keys(x25519_shared(f.b_ephemeral.public_key, f.a_ephemeral.secret_key),
                          f.a_ephemeral.public_key, f.b_ephemeral.public_key);
  const Token token = token_of(f.a_ephemeral.public_key);
  ChannelNonce nonce;
  SeededRandom random(3);
  random.fill(nonce);
  const Bytes inner = lob_encode(as_bytes(R"({"c":1,"type":"x"})"), as_bytes("data"));
  const Bytes outer = seal_channel(token, nonce, a.out, inner);
  ASSERT_EQ(outer.size(), 2 + 16 + 24 + inner.size() + 16);
  EXPECT_EQ(outer[0], 0);
  EXPECT_EQ(outer[1], 0);

  std::optional<ChannelParts> parts = parse_channel(outer);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->token, token);
  EXPECT_EQ(parts->nonce, nonce);
  EXPECT_EQ(open_channel(*parts, a.out), inner);
  EXPECT_FALSE(open_channel(*parts, a.in).has_value());

  for (std::size_t i = 18; i < outer.size(); ++i) {  // nonce and ciphertext
    Bytes tampered = outer;
    tampered[i] ^= 0x04;
    std::optional<ChannelParts> bad = parse_channel(tampered);
    ASSERT_TRUE(bad.has_value());
    EXPECT_FALSE(open_channel(*bad, a.out).has_value()) << "byte " << i;
  }
}

TEST(Cs3a, ParseChannelRejections) {
  const Bytes minimal_body(kChannelMinBody, 0x55);
  EXPECT_TRUE(parse_channel(lob_encode(ByteView{}, minimal_body)).has_value());
  EXPECT_FALSE(
      parse_channel(lob_encode(ByteView{}, ByteView(minimal_body).first(kChannelMinBody - 1))));
  const Bytes head = {0x3a};
  EXPECT_FALSE(parse_channel(lob_encode(head, minimal_body)).has_value());
  EXPECT_FALSE(parse_channel(Bytes{0x00}).has_value());
  // Exactly 56 bytes parse but carry an empty INNER; an empty INNER seals to that size.
  std::optional<ChannelParts> parts = parse_channel(lob_encode(ByteView{}, minimal_body));
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->ciphertext.size(), 16u);
  EXPECT_FALSE(open_channel(*parts, SharedKey{}).has_value());
}

}  // namespace
}  // namespace e3x
