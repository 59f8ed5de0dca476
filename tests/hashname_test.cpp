#include "core/hashname.hpp"

#include <string>
#include <unordered_set>

#include <boost/json.hpp>

#include "core/base32.hpp"
#include "gtest/gtest.h"

namespace e3x {
namespace {

PublicKey key_filled(std::uint8_t value) {
  PublicKey key;
  key.fill(value);
  return key;
}

Digest digest_filled(std::uint8_t value) {
  Digest digest;
  digest.fill(value);
  return digest;
}

// The rollup written out step by step from PROTOCOL.md section 2, for one key.
TEST(Hashname, SingleKeyRollup) {
  const PublicKey key = key_filled(0x42);
  const std::uint8_t csid[1] = {0x3a};
  const Digest expected = sha256({ByteView(sha256(csid)), ByteView(sha256(key))});
  const Hashname hashname = hashname_of(key);
  EXPECT_EQ(hashname.digest, expected);
  EXPECT_EQ(hashname.to_string(), base32_encode(expected));
  EXPECT_EQ(hashname.to_string().size(), 52u);
}

// With a compact 1a key the rollup visits 0x1a first, then 0x3a.
TEST(Hashname, CompactKeysAreRolledUpInCsidOrder) {
  const PublicKey key = key_filled(0x42);
  const Digest intermediate_1a = digest_filled(0x11);
  const Digest intermediate_3a = sha256(key);
  const std::uint8_t csid_1a[1] = {0x1a};
  const std::uint8_t csid_3a[1] = {0x3a};
  Digest h = sha256(csid_1a);
  h = sha256({h, intermediate_1a});
  h = sha256({ByteView(h), ByteView(csid_3a)});
  h = sha256({h, intermediate_3a});
  EXPECT_EQ(hashname_of(key, {{0x1a, intermediate_1a}}).digest, h);

  // A CSID above 3a comes after it.
  const std::uint8_t csid_4a[1] = {0x4a};
  Digest g = sha256(csid_3a);
  g = sha256({g, intermediate_3a});
  g = sha256({ByteView(g), ByteView(csid_4a)});
  g = sha256({g, intermediate_1a});
  EXPECT_EQ(hashname_of(key, {{0x4a, intermediate_1a}}).digest, g);
}

TEST(Hashname, DifferentKeysDifferentHashnames) {
  EXPECT_NE(hashname_of(key_filled(1)), hashname_of(key_filled(2)));
  EXPECT_NE(hashname_of(key_filled(1)), hashname_of(key_filled(1), {{0x1a, digest_filled(0)}}));
}

TEST(Hashname, ParseRoundTripAndCase) {
  const Hashname hashname = hashname_of(key_filled(7));
  const std::string text = hashname.to_string();
  EXPECT_EQ(Hashname::parse(text), hashname);
  std::string upper = text;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Hashname::parse(upper), hashname);
}

TEST(Hashname, ParseRejectsWrongLengthsAndCharacters) {
  const std::string text = hashname_of(key_filled(7)).to_string();
  EXPECT_FALSE(Hashname::parse("").has_value());
  EXPECT_FALSE(Hashname::parse(text.substr(0, 51)).has_value());
  EXPECT_FALSE(Hashname::parse(text + "a").has_value());
  std::string bad = text;
  bad[10] = '1';
  EXPECT_FALSE(Hashname::parse(bad).has_value());
  // 52 characters whose 4 unused trailing bits are not zero.
  std::string trailing = text;
  trailing.back() = 'p';  // 0b01111
  EXPECT_FALSE(Hashname::parse(trailing).has_value());
}

TEST(Hashname, StdHashUsable) {
  std::unordered_set<Hashname> set;
  set.insert(hashname_of(key_filled(1)));
  set.insert(hashname_of(key_filled(2)));
  set.insert(hashname_of(key_filled(1)));
  EXPECT_EQ(set.size(), 2u);
}

TEST(Hashname, ParseCompactKeys) {
  const Digest intermediate = digest_filled(0x5c);
  boost::json::object json;
  json["1a"] = base32_encode(intermediate);
  json["2A"] = base32_encode(digest_filled(0x01));
  std::optional<CompactKeys> keys = parse_compact_keys(json);
  ASSERT_TRUE(keys.has_value());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ(keys->at(0x1a), intermediate);
  EXPECT_EQ(keys->at(0x2a), digest_filled(0x01));
  EXPECT_TRUE(parse_compact_keys(boost::json::object{}).has_value());
}

TEST(Hashname, ParseCompactKeysRejections) {
  const std::string good = base32_encode(digest_filled(0x5c));
  const auto rejected = [](boost::json::object json) {
    return !parse_compact_keys(json).has_value();
  };
  EXPECT_TRUE(rejected({{"3a", good}})) << "3a is never a compact key";
  EXPECT_TRUE(rejected({{"3A", good}}));
  EXPECT_TRUE(rejected({{"1", good}}));
  EXPECT_TRUE(rejected({{"01a", good}}));
  EXPECT_TRUE(rejected({{"zz", good}}));
  EXPECT_TRUE(rejected({{"1a", 5}}));
  EXPECT_TRUE(rejected({{"1a", good.substr(0, 51)}}));
  EXPECT_TRUE(rejected({{"1a", base32_encode(Bytes(31, 1))}}));
  EXPECT_TRUE(rejected({{"1a", base32_encode(Bytes(33, 1))}}));
  EXPECT_TRUE(rejected({{"1a", good}, {"2a", "!"}}));
}

TEST(Hashname, OrderIsUnsignedBigEndian) {
  PublicKey low = key_filled(0x00);
  PublicKey high = key_filled(0x00);
  low[31] = 0xff;  // larger last byte does not outweigh the first
  high[0] = 0x01;
  EXPECT_EQ(order_of(high, low), Order::kHigh);
  EXPECT_EQ(order_of(low, high), Order::kLow);
  EXPECT_EQ(order_of(low, low), Order::kSame);
  // 0x80 must count as larger than 0x7f (unsigned comparison).
  PublicKey signed_trap = key_filled(0x7f);
  PublicKey top = key_filled(0x7f);
  top[0] = 0x80;
  EXPECT_EQ(order_of(top, signed_trap), Order::kHigh);
}

}  // namespace
}  // namespace e3x
