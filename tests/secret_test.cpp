// Secret storage and constant-time comparison (core/secret.hpp), hex helpers (core/bytes.hpp)
// and SHA-256 (core/sha256.hpp).
#include <gtest/gtest.h>

#include "core/bytes.hpp"
#include "core/secret.hpp"
#include "core/sha256.hpp"

namespace e3x {
namespace {

Secret<32> secret_of(std::uint8_t fill) {
  ByteArray<32> bytes;
  bytes.fill(fill);
  return Secret<32>(std::span<const std::uint8_t, 32>(bytes));
}

bool all_zero(const Secret<32>& secret) {
  for (std::size_t i = 0; i < secret.size(); ++i) {
    if (secret.data()[i] != 0) return false;
  }
  return true;
}

TEST(Secret, MovingWipesTheSource) {
  Secret<32> source = secret_of(0xab);
  Secret<32> moved(std::move(source));
  EXPECT_TRUE(all_zero(source));  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_EQ(moved, secret_of(0xab));

  Secret<32> assigned;
  Secret<32> again = secret_of(0xcd);
  assigned = std::move(again);
  EXPECT_TRUE(all_zero(again));  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(assigned, secret_of(0xcd));
}

TEST(Secret, WipeZeroes) {
  Secret<32> secret = secret_of(0x5a);
  EXPECT_FALSE(all_zero(secret));
  secret.wipe();
  EXPECT_TRUE(all_zero(secret));
}

TEST(Secret, EqualityComparesEveryByte) {
  Secret<32> a = secret_of(1);
  Secret<32> b = secret_of(1);
  EXPECT_TRUE(a == b);
  b.data()[31] ^= 1;
  EXPECT_FALSE(a == b);
}

TEST(ConstantTimeEqual, LengthAndContent) {
  const Bytes x{1, 2, 3}, y{1, 2, 3}, z{1, 2, 4}, shorter{1, 2};
  EXPECT_TRUE(constant_time_equal(x, y));
  EXPECT_FALSE(constant_time_equal(x, z));
  EXPECT_FALSE(constant_time_equal(x, shorter));
  EXPECT_TRUE(constant_time_equal(Bytes{}, Bytes{}));
}

TEST(Hex, RoundTripAndRejects) {
  const Bytes bytes{0x00, 0x7f, 0x80, 0xff};
  EXPECT_EQ(to_hex(bytes), "007f80ff");
  EXPECT_EQ(from_hex("007F80fF"), bytes);
  EXPECT_FALSE(from_hex("abc").has_value());  // odd length
  EXPECT_FALSE(from_hex("zz").has_value());   // not hex
  EXPECT_EQ(from_hex(""), Bytes{});
}

TEST(Sha256, KnownAnswersAndPartsEqualWhole) {
  // FIPS 180-2 "abc", and the cloaking key of PROTOCOL.md section 7: SHA256("telehash").
  EXPECT_EQ(to_hex(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256(as_bytes("telehash"))),
            "d7f0e555546241b2a944ecd6d0de66856ac50b0baba76a6f5a4782956ca9459a");
  EXPECT_EQ(sha256({as_bytes("tele"), as_bytes(""), as_bytes("hash")}),
            sha256(as_bytes("telehash")));
}

TEST(BigEndian, U32RoundTrip) {
  Bytes out;
  append_u32_be(out, 0x691fed21u);
  EXPECT_EQ(to_hex(out), "691fed21");
  EXPECT_EQ(read_u32_be(out), 0x691fed21u);
}

}  // namespace
}  // namespace e3x
