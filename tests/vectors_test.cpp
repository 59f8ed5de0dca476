// Reproduces every known-answer vector in shared/vectors/vectors.json (produced by an
// independent implementation) byte for byte. The "miss" vectors belong to reliable channels
// and are tested there.
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

#include <boost/json.hpp>

#include "core/base32.hpp"
#include "core/cs3a.hpp"
#include "core/hashname.hpp"
#include "core/lob.hpp"
#include "core/sha256.hpp"
#include "gtest/gtest.h"
#include "transports/chunking.hpp"
#include "transports/cloak.hpp"

namespace e3x {
namespace {

namespace json = boost::json;

const json::object& vectors() {
  static const json::object root = [] {
    const std::string path = std::string(E3X_SHARED_DIR) + "/vectors/vectors.json";
    std::ifstream file(path);
    if (!file) throw std::runtime_error("cannot open " + path);
    const std::string text((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
    return json::parse(text).as_object();
  }();
  return root;
}

const json::object& section(std::string_view name) {
  return vectors().at(name).as_object();
}

std::string text_of(const json::value& value) {
  return std::string(value.as_string());
}

Bytes hex(const json::value& value) {
  std::optional<Bytes> bytes = from_hex(value.as_string());
  if (!bytes) throw std::runtime_error("bad hex in vectors: " + text_of(value));
  return *bytes;
}

template <std::size_t N>
ByteArray<N> hex_array(const json::value& value) {
  Bytes bytes = hex(value);
  if (bytes.size() != N) throw std::runtime_error("wrong length in vectors: " + text_of(value));
  ByteArray<N> out;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

SecretKey secret_of(const json::value& value) {
  const ByteArray<32> bytes = hex_array<32>(value);
  return SecretKey(std::span<const std::uint8_t, 32>(bytes));
}

// A key pair from the vectors: the public key is checked against the secret elsewhere, here
// it is taken as given so the message tests do not depend on that check.
struct VectorKey {
  SecretKey secret;
  PublicKey public_key;
};
VectorKey key_named(std::string_view name) {
  const json::object& key = section("keys").at(name).as_object();
  return VectorKey{secret_of(key.at("secret")), hex_array<32>(key.at("public"))};
}

std::string hex_text(const Bytes& bytes) {
  return to_hex(bytes);
}

// ---------------------------------------------------------------- LOB

TEST(Vectors, Lob) {
  for (const json::value& entry : vectors().at("lob").as_array()) {
    const json::object& vector = entry.as_object();
    SCOPED_TRACE("lob vector \"" + text_of(vector.at("name")) + "\"");
    const Bytes packet = hex(vector.at("packet"));
    auto decoded = lob_decode(packet);

    if (const json::value* error = vector.if_contains("error")) {
      const std::map<std::string, LobError> names = {
          {"short", LobError::kShort}, {"length", LobError::kLength}, {"json", LobError::kJson}};
      ASSERT_FALSE(decoded.has_value()) << "expected error " << text_of(*error);
      EXPECT_EQ(decoded.error(), names.at(text_of(*error)))
          << "got " << to_string(decoded.error()) << ", expected " << text_of(*error);
      continue;
    }

    ASSERT_TRUE(decoded.has_value()) << "decode failed: " << to_string(decoded.error());
    EXPECT_EQ(hex_text(Bytes(decoded->head.begin(), decoded->head.end())),
              text_of(vector.at("head")));
    EXPECT_EQ(hex_text(Bytes(decoded->body.begin(), decoded->body.end())),
              text_of(vector.at("body")));
    const json::value& expected_json = vector.at("json");
    if (expected_json.is_null()) {
      EXPECT_FALSE(decoded->json.has_value());
      EXPECT_EQ(lob_encode(decoded->head, decoded->body), packet);
    } else {
      ASSERT_TRUE(decoded->json.has_value());
      EXPECT_EQ(json::value(*decoded->json), expected_json);
      EXPECT_EQ(lob_encode(expected_json.as_object(), decoded->body), packet)
          << "re-encoding the JSON head must reproduce the packet";
    }
  }
}

// ---------------------------------------------------------------- base32

TEST(Vectors, Base32) {
  for (const json::value& entry : vectors().at("base32").as_array()) {
    const json::object& vector = entry.as_object();
    const std::string text = text_of(vector.at("text"));
    SCOPED_TRACE("base32 vector \"" + text + "\"");
    const Bytes bytes = hex(vector.at("bytes"));
    EXPECT_EQ(base32_encode(bytes), text);
    std::optional<Bytes> decoded = base32_decode(text);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, bytes);
  }
}

// ---------------------------------------------------------------- keys and tokens

TEST(Vectors, KeysPublicFromSecret) {
  for (const char* name : {"A", "B", "A_ephemeral", "B_ephemeral"}) {
    SCOPED_TRACE(std::string("keys.") + name);
    const json::object& key = section("keys").at(name).as_object();
    const KeyPair pair = keypair_from_secret(secret_of(key.at("secret")));
    EXPECT_EQ(to_hex(pair.public_key), text_of(key.at("public")));
  }
}

TEST(Vectors, KeysHashnames) {
  for (const char* name : {"A", "B"}) {
    SCOPED_TRACE(std::string("keys.") + name + ".hashname");
    const json::object& key = section("keys").at(name).as_object();
    const Hashname hashname = hashname_of(hex_array<32>(key.at("public")));
    EXPECT_EQ(hashname.to_string(), text_of(key.at("hashname")));
    std::optional<Hashname> parsed = Hashname::parse(text_of(key.at("hashname")));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, hashname);
  }
}

TEST(Vectors, KeysOrder) {
  SCOPED_TRACE("keys.A.order_vs_B / keys.B.order_vs_A");
  const VectorKey a = key_named("A");
  const VectorKey b = key_named("B");
  const auto order_name = [](Order order) {
    return order == Order::kHigh ? "HIGH" : order == Order::kLow ? "LOW" : "SAME";
  };
  const json::object& keys = section("keys");
  EXPECT_EQ(order_name(order_of(a.public_key, b.public_key)),
            text_of(keys.at("A").as_object().at("order_vs_B")));
  EXPECT_EQ(order_name(order_of(b.public_key, a.public_key)),
            text_of(keys.at("B").as_object().at("order_vs_A")));
}

TEST(Vectors, KeysHashnameWithCompact1a) {
  SCOPED_TRACE("keys.A.hashname_with_compact_1a");
  const json::object& vector =
      section("keys").at("A").as_object().at("hashname_with_compact_1a").as_object();
  const json::object& compact = vector.at("compact").as_object();
  std::optional<CompactKeys> parsed = parse_compact_keys(compact);
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->size(), 1u);
  ASSERT_TRUE(parsed->contains(0x1a));
  EXPECT_EQ(base32_encode(parsed->at(0x1a)), text_of(compact.at("1a")));
  EXPECT_EQ(hashname_of(key_named("A").public_key, *parsed).to_string(),
            text_of(vector.at("hashname")));
}

TEST(Vectors, EphemeralTokens) {
  for (const char* name : {"A_ephemeral", "B_ephemeral"}) {
    SCOPED_TRACE(std::string("keys.") + name + ".token");
    const json::object& key = section("keys").at(name).as_object();
    EXPECT_EQ(to_hex(token_of(hex_array<32>(key.at("public")))), text_of(key.at("token")));
  }
}

// ---------------------------------------------------------------- messages

// The sender side of one message: its exchange's ephemeral and its static key.
struct Sender {
  VectorKey ephemeral;
  VectorKey static_key;
};

Bytes seal_as(const Sender& sender, const VectorKey& recipient, std::uint32_t seq, ByteView inner) {
  const SharedKey k_box = x25519_shared(recipient.public_key, sender.ephemeral.secret);
  const SharedKey s_static = x25519_shared(recipient.public_key, sender.static_key.secret);
  return seal_message(seq, sender.ephemeral.public_key, k_box, s_static, inner);
}

enum class Stage { kParse, kBox, kInner, kAuth, kAccepted };
const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::kParse:
      return "parse";
    case Stage::kBox:
      return "box";
    case Stage::kInner:
      return "inner";
    case Stage::kAuth:
      return "auth";
    case Stage::kAccepted:
      return "accepted";
  }
  return "?";
}

// How far a handshake gets at `recipient` when its claimed sender static key is taken from
// the INNER BODY, as a receiver does it (PROTOCOL.md section 4 "Receiving").
Stage receive_handshake(ByteView outer, const VectorKey& recipient, Bytes* inner_out = nullptr) {
  std::optional<MessageParts> parts = parse_message(outer);
  if (!parts) return Stage::kParse;
  std::optional<Bytes> inner =
      open_message_box(*parts, x25519_shared(parts->key, recipient.secret));
  if (!inner) return Stage::kBox;
  auto decoded = lob_decode(*inner);
  if (!decoded || decoded->body.size() != 32) return Stage::kInner;
  PublicKey sender_static;
  std::copy(decoded->body.begin(), decoded->body.end(), sender_static.begin());
  if (!verify_message_auth(*parts, x25519_shared(sender_static, recipient.secret))) {
    return Stage::kAuth;
  }
  if (inner_out) *inner_out = *inner;
  return Stage::kAccepted;
}

void check_handshake(std::string_view vector_name, const Sender& sender, const VectorKey& recipient,
                     const Bytes& inner) {
  SCOPED_TRACE("handshake." + std::string(vector_name));
  const json::object& vector = section("handshake").at(vector_name).as_object();
  const std::uint32_t seq = static_cast<std::uint32_t>(vector.at("seq").to_number<std::int64_t>());
  const Bytes outer = hex(vector.at("outer"));
  if (const json::value* expected_inner = vector.if_contains("inner")) {
    EXPECT_EQ(to_hex(inner), text_of(*expected_inner)) << "INNER built by the test differs";
  }

  EXPECT_EQ(to_hex(seal_as(sender, recipient, seq, inner)), text_of(vector.at("outer")))
      << "sealed OUTER differs";

  std::optional<MessageParts> parts = parse_message(outer);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->seq, seq);
  EXPECT_EQ(parts->key, sender.ephemeral.public_key);
  // The token a receiver learns is derived from BODY[4:20] (bytes 3..18 of OUTER).
  const Token token_from_body = token_of(parts->key);
  EXPECT_EQ(token_from_body, token_of(sender.ephemeral.public_key));
  if (const json::value* token = vector.if_contains("token")) {
    EXPECT_EQ(to_hex(token_from_body), text_of(*token));
  }

  Bytes opened;
  EXPECT_STREQ(stage_name(receive_handshake(outer, recipient, &opened)), "accepted");
  EXPECT_EQ(opened, inner);
  // S_static is symmetric: the recipient's view equals the sender's.
  EXPECT_EQ(x25519_shared(sender.static_key.public_key, recipient.secret),
            x25519_shared(recipient.public_key, sender.static_key.secret));
}

Bytes handshake_inner(const PublicKey& static_public) {
  return lob_encode(ByteView{}, static_public);
}

TEST(Vectors, HandshakeAToB) {
  const Sender a{key_named("A_ephemeral"), key_named("A")};
  check_handshake("A_to_B", a, key_named("B"), handshake_inner(a.static_key.public_key));
}

TEST(Vectors, HandshakeBReplySameSeq) {
  const Sender b{key_named("B_ephemeral"), key_named("B")};
  check_handshake("B_reply_same_seq", b, key_named("A"), handshake_inner(b.static_key.public_key));
}

TEST(Vectors, HandshakeBNewOwnSeq) {
  const Sender b{key_named("B_ephemeral"), key_named("B")};
  check_handshake("B_new_own_seq", b, key_named("A"), handshake_inner(b.static_key.public_key));
}

TEST(Vectors, HandshakeAToBWithCompact1a) {
  const Sender a{key_named("A_ephemeral"), key_named("A")};
  const json::object& compact_vector =
      section("keys").at("A").as_object().at("hashname_with_compact_1a").as_object();
  const Bytes inner = lob_encode(compact_vector.at("compact").as_object(), a.static_key.public_key);
  check_handshake("A_to_B_with_compact_1a", a, key_named("B"), inner);

  // The receiver computes the sender's hashname from the INNER BODY plus the compact keys.
  SCOPED_TRACE("handshake.A_to_B_with_compact_1a sender hashname");
  const json::object& vector = section("handshake").at("A_to_B_with_compact_1a").as_object();
  Bytes opened;
  ASSERT_EQ(receive_handshake(hex(vector.at("outer")), key_named("B"), &opened), Stage::kAccepted);
  auto decoded = lob_decode(opened);
  ASSERT_TRUE(decoded.has_value());
  ASSERT_TRUE(decoded->json.has_value());
  std::optional<CompactKeys> compact = parse_compact_keys(*decoded->json);
  ASSERT_TRUE(compact.has_value());
  ASSERT_EQ(decoded->body.size(), 32u);
  PublicKey sender_static;
  std::copy(decoded->body.begin(), decoded->body.end(), sender_static.begin());
  EXPECT_EQ(hashname_of(sender_static, *compact).to_string(),
            text_of(vector.at("sender_hashname")));
}

TEST(Vectors, HandshakeRejects) {
  // The stage at which each reject must fail at B, by vector name. A flipped SEQ changes the
  // box nonce and a flipped KEY changes K_box, so both already fail at the box.
  const std::map<std::string, Stage> expected = {
      {"SEQ byte flipped", Stage::kBox},
      {"KEY byte flipped", Stage::kBox},
      {"BOX byte flipped", Stage::kBox},
      {"AUTH byte flipped", Stage::kAuth},
      {"truncated to 69-byte body", Stage::kParse},
      {"wrong CSID", Stage::kParse},
      {"sealed by a third key claiming to be A", Stage::kAuth},
  };
  const VectorKey b = key_named("B");
  const auto& rejects = section("handshake").at("rejects").as_array();
  EXPECT_FALSE(rejects.empty());
  for (const json::value& entry : rejects) {
    const json::object& vector = entry.as_object();
    const std::string name = text_of(vector.at("name"));
    SCOPED_TRACE("handshake reject \"" + name + "\"");
    const Stage stage = receive_handshake(hex(vector.at("outer")), b);
    EXPECT_NE(stage, Stage::kAccepted) << "a reject vector was accepted";
    auto known = expected.find(name);
    if (known != expected.end()) {
      EXPECT_STREQ(stage_name(stage), stage_name(known->second));
    }
  }
}

TEST(Vectors, ThirdKeyRejectClaimsAAndOpensButFailsAuth) {
  SCOPED_TRACE("handshake reject \"sealed by a third key claiming to be A\"");
  const VectorKey a = key_named("A");
  const VectorKey b = key_named("B");
  for (const json::value& entry : section("handshake").at("rejects").as_array()) {
    const json::object& vector = entry.as_object();
    if (text_of(vector.at("name")) != "sealed by a third key claiming to be A") continue;
    const Bytes outer = hex(vector.at("outer"));
    std::optional<MessageParts> parts = parse_message(outer);
    ASSERT_TRUE(parts.has_value());
    std::optional<Bytes> inner = open_message_box(*parts, x25519_shared(parts->key, b.secret));
    ASSERT_TRUE(inner.has_value()) << "the box is sealed to B, so it must open";
    EXPECT_EQ(*inner, handshake_inner(a.public_key)) << "the INNER claims to be A";
    EXPECT_FALSE(verify_message_auth(*parts, x25519_shared(a.public_key, b.secret)));
    return;
  }
  FAIL() << "vector not found";
}

TEST(Vectors, Message) {
  SCOPED_TRACE("message");
  const json::object& vector = section("message");
  const Sender a{key_named("A_ephemeral"), key_named("A")};
  const VectorKey b = key_named("B");
  const std::uint32_t seq = static_cast<std::uint32_t>(vector.at("seq").to_number<std::int64_t>());
  const Bytes inner = hex(vector.at("inner"));

  EXPECT_EQ(to_hex(seal_as(a, b, seq, inner)), text_of(vector.at("outer")));

  const Bytes outer = hex(vector.at("outer"));
  std::optional<MessageParts> parts = parse_message(outer);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->seq, seq);
  std::optional<Bytes> opened = open_message_box(*parts, x25519_shared(parts->key, b.secret));
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, inner);

  // An application message names its sender by hashname; the recipient looks up that key.
  auto decoded = lob_decode(*opened);
  ASSERT_TRUE(decoded.has_value());
  ASSERT_TRUE(decoded->json.has_value());
  EXPECT_EQ(text_of(decoded->json->at("type")), "msg");
  EXPECT_EQ(text_of(decoded->json->at("from")), hashname_of(a.static_key.public_key).to_string());
  EXPECT_TRUE(verify_message_auth(*parts, x25519_shared(a.static_key.public_key, b.secret)));
  // With anyone else's key it must not verify.
  EXPECT_FALSE(verify_message_auth(*parts, x25519_shared(b.public_key, b.secret)));
}

// ---------------------------------------------------------------- channel packets

TEST(Vectors, Channel) {
  SCOPED_TRACE("channel");
  const json::object& vector = section("channel");
  const VectorKey a_eph = key_named("A_ephemeral");
  const VectorKey b_eph = key_named("B_ephemeral");

  const ChannelKeys a_keys = derive_channel_keys(x25519_shared(b_eph.public_key, a_eph.secret),
                                                 a_eph.public_key, b_eph.public_key);
  EXPECT_EQ(to_hex(a_keys.out.view()), text_of(vector.at("A_out_key")));
  EXPECT_EQ(to_hex(a_keys.in.view()), text_of(vector.at("A_in_key")));

  const ChannelNonce nonce = hex_array<24>(vector.at("nonce"));
  const Bytes inner = hex(vector.at("inner"));
  const Token a_token = token_of(a_eph.public_key);
  EXPECT_EQ(to_hex(seal_channel(a_token, nonce, a_keys.out, inner)),
            text_of(vector.at("A_to_B_outer")));

  // B derives the mirror keys from its side of the ephemeral exchange.
  const ChannelKeys b_keys = derive_channel_keys(x25519_shared(a_eph.public_key, b_eph.secret),
                                                 b_eph.public_key, a_eph.public_key);
  EXPECT_EQ(b_keys.in, a_keys.out);
  EXPECT_EQ(b_keys.out, a_keys.in);

  const Bytes outer = hex(vector.at("A_to_B_outer"));
  std::optional<ChannelParts> parts = parse_channel(outer);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->token, a_token);
  EXPECT_EQ(parts->nonce, nonce);
  std::optional<Bytes> opened = open_channel(*parts, b_keys.in);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, inner);
  EXPECT_FALSE(open_channel(*parts, b_keys.out).has_value()) << "wrong direction key opened it";
}

// ---------------------------------------------------------------- transports

TEST(Vectors, Cloak) {
  SCOPED_TRACE("cloak");
  const json::object& vector = section("cloak");
  EXPECT_EQ(to_hex(sha256(as_bytes("telehash"))), text_of(vector.at("key")));

  const Bytes packet = hex(vector.at("packet"));
  const ByteArray<8> nonce1 = hex_array<8>(vector.at("nonce1"));
  const ByteArray<8> nonce2 = hex_array<8>(vector.at("nonce2"));
  const Bytes once = cloak_once(packet, nonce1);
  EXPECT_EQ(to_hex(once), text_of(vector.at("cloaked_once")));
  const Bytes twice = cloak_once(once, nonce2);
  EXPECT_EQ(to_hex(twice), text_of(vector.at("cloaked_twice")));

  std::optional<Uncloaked> from_once = uncloak(hex(vector.at("cloaked_once")));
  ASSERT_TRUE(from_once.has_value());
  EXPECT_EQ(from_once->packet, packet);
  EXPECT_EQ(from_once->layers, 1);

  std::optional<Uncloaked> from_twice = uncloak(hex(vector.at("cloaked_twice")));
  ASSERT_TRUE(from_twice.has_value());
  EXPECT_EQ(from_twice->packet, packet);
  EXPECT_EQ(from_twice->layers, 2);
}

TEST(Vectors, Chunking) {
  SCOPED_TRACE("chunking");
  const json::object& vector = section("chunking");
  const std::size_t size = static_cast<std::size_t>(vector.at("size").to_number<std::int64_t>());
  const Bytes packet = hex(vector.at("packet"));
  const Bytes stream = hex(vector.at("stream"));
  EXPECT_EQ(to_hex(chunk_encode(packet, size)), text_of(vector.at("stream")));

  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  EXPECT_EQ(decoder.feed(stream, packets), ChunkDecoder::Status::kOk);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0], packet);
  EXPECT_EQ(decoder.buffered(), 0u);
}

}  // namespace
}  // namespace e3x
