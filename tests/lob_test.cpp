#include "core/lob.hpp"

#include <string>

#include <boost/json.hpp>

#include "gtest/gtest.h"

namespace e3x {
namespace {

Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

// LENGTH || HEAD || BODY written out by hand, independent of lob_encode.
Bytes packet_of(std::string_view head, std::string_view body) {
  // Reserved up front: growing the two-byte vector makes GCC 12 at -O3 report a false
  // -Warray-bounds inside std::vector.
  Bytes packet;
  packet.reserve(2 + head.size() + body.size());
  packet.push_back(static_cast<std::uint8_t>(head.size() >> 8));
  packet.push_back(static_cast<std::uint8_t>(head.size()));
  append(packet, as_bytes(head));
  append(packet, as_bytes(body));
  return packet;
}

TEST(Lob, EmptyInputIsShort) {
  auto decoded = lob_decode(ByteView{});
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error(), LobError::kShort);
  EXPECT_STREQ(to_string(LobError::kShort), "short");
  EXPECT_STREQ(to_string(LobError::kLength), "length");
  EXPECT_STREQ(to_string(LobError::kJson), "json");
}

TEST(Lob, LengthZeroIsAllBody) {
  const Bytes packet = {0x00, 0x00, 0xde, 0xad};
  auto decoded = lob_decode(packet);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->head.empty());
  EXPECT_FALSE(decoded->json.has_value());
  EXPECT_EQ(Bytes(decoded->body.begin(), decoded->body.end()), (Bytes{0xde, 0xad}));
}

TEST(Lob, BinaryHeadsOfOneToSixBytesAreNotJson) {
  for (std::size_t length = 1; length <= 6; ++length) {
    SCOPED_TRACE("head length " + std::to_string(length));
    // A binary head may look like JSON, it is still binary below 7 bytes.
    const std::string head = std::string("{}{}{}").substr(0, length);
    const Bytes packet = packet_of(head, "xy");
    auto decoded = lob_decode(packet);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->head.size(), length);
    EXPECT_FALSE(decoded->json.has_value());
    EXPECT_EQ(decoded->body.size(), 2u);
  }
}

TEST(Lob, ViewsPointIntoTheBuffer) {
  const Bytes packet = packet_of("\x3a", "body");
  auto decoded = lob_decode(packet);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->head.data(), packet.data() + 2);
  EXPECT_EQ(decoded->body.data(), packet.data() + 3);
}

TEST(Lob, JsonHeadIsParsed) {
  const Bytes packet = packet_of(R"({"type":"x","c":7})", "payload");
  auto decoded = lob_decode(packet);
  ASSERT_TRUE(decoded.has_value());
  ASSERT_TRUE(decoded->json.has_value());
  EXPECT_EQ(decoded->json->at("type").as_string(), "x");
  EXPECT_EQ(decoded->json->at("c").as_int64(), 7);
  EXPECT_EQ(Bytes(decoded->body.begin(), decoded->body.end()), bytes_of("payload"));
}

// Found by fuzz_lob: Boost.JSON reads 1e400 as infinity and would write it back as
// `Infinity`, which is not JSON. Such a head is refused, so a decoded head always re-encodes
// to a packet that decodes.
TEST(Lob, NumbersTooLargeForADoubleAreRejected) {
  for (const char* head :
       {R"({"c":1e400})", R"({"c":3429497e9266})", R"({"a":[1,{"b":-1e999}]})"}) {
    auto decoded = lob_decode(packet_of(head, ""));
    ASSERT_FALSE(decoded.has_value()) << head;
    EXPECT_EQ(decoded.error(), LobError::kJson) << head;
  }
  auto finite = lob_decode(packet_of(R"({"c":1.5e300})", ""));
  ASSERT_TRUE(finite.has_value());
  EXPECT_TRUE(lob_decode(lob_encode(*finite->json, {})).has_value());
}

TEST(Lob, LengthPastEndIsRejectedAtEveryCut) {
  const Bytes packet = packet_of(R"({"a":"bcdef"})", "");
  // Every truncation that cuts into the HEAD must be reported as kLength, never read past.
  for (std::size_t size = 2; size < packet.size(); ++size) {
    auto decoded = lob_decode(ByteView(packet).first(size));
    ASSERT_FALSE(decoded.has_value()) << "size " << size;
    EXPECT_EQ(decoded.error(), LobError::kLength) << "size " << size;
  }
  EXPECT_EQ(lob_decode(ByteView(packet).first(1)).error(), LobError::kShort);
}

TEST(Lob, NonObjectJsonHeadsAreRejected) {
  for (std::string head : {R"(["a","b"])", R"("abcdefg")", "1234567", "truetrue", "{\"a\":12",
                           "{\"a\":1}}", "{\"a\" 1 }", " {\"a\":1}", "{'a':1}  "}) {
    SCOPED_TRACE(head);
    auto decoded = lob_decode(packet_of(head, ""));
    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error(), LobError::kJson);
  }
}

TEST(Lob, InvalidUtf8InJsonHeadIsRejected) {
  const std::string head = "{\"a\":\"\xff\xfe\"}";
  auto decoded = lob_decode(packet_of(head, ""));
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error(), LobError::kJson);
}

TEST(Lob, EncodeBinaryHead) {
  const Bytes head = {0x3a};
  const Bytes body = {1, 2, 3};
  EXPECT_EQ(lob_encode(head, body), (Bytes{0x00, 0x01, 0x3a, 1, 2, 3}));
  EXPECT_EQ(lob_encode(ByteView{}, ByteView{}), (Bytes{0x00, 0x00}));
}

TEST(Lob, EncodeJsonWithoutWhitespaceInKeyOrder) {
  boost::json::object json;
  json["type"] = "path";
  json["c"] = 1;
  json["list"] = boost::json::array{1, 2};
  const Bytes packet = lob_encode(json, as_bytes("hi"));
  EXPECT_EQ(packet, packet_of(R"({"type":"path","c":1,"list":[1,2]})", "hi"));
}

TEST(Lob, EncodeLengthIsBigEndian) {
  const std::string head(300, 'h');
  const Bytes packet = lob_encode(as_bytes(head), ByteView{});
  ASSERT_EQ(packet.size(), 302u);
  EXPECT_EQ(packet[0], 0x01);
  EXPECT_EQ(packet[1], 0x2c);
}

TEST(Lob, EncodeRejectsOversizeHead) {
  const Bytes max_head(65535, 'x');
  EXPECT_EQ(lob_encode(max_head, ByteView{}).size(), 65537u);
  const Bytes too_long(65536, 'x');
  EXPECT_THROW(lob_encode(too_long, ByteView{}), std::length_error);
}

TEST(Lob, RoundTripJsonAndBody) {
  boost::json::object json;
  json["c"] = 4294967295LL;
  json["end"] = true;
  const Bytes body = {0, 1, 2, 0xff};
  const Bytes packet = lob_encode(json, body);
  auto decoded = lob_decode(packet);
  ASSERT_TRUE(decoded.has_value());
  ASSERT_TRUE(decoded->json.has_value());
  EXPECT_EQ(*decoded->json, json);
  EXPECT_EQ(Bytes(decoded->body.begin(), decoded->body.end()), body);
}

TEST(Lob, ToAndFromHex) {
  EXPECT_EQ(to_hex(Bytes{0x00, 0xab, 0x7f}), "00ab7f");
  EXPECT_EQ(from_hex("00AB7f"), (Bytes{0x00, 0xab, 0x7f}));
  EXPECT_EQ(from_hex(""), Bytes{});
  EXPECT_FALSE(from_hex("abc").has_value());
  EXPECT_FALSE(from_hex("zz").has_value());
  EXPECT_FALSE(from_hex("0g").has_value());
}

}  // namespace
}  // namespace e3x
