#include "core/base32.hpp"

#include <cctype>
#include <initializer_list>
#include <string>

#include "core/random.hpp"
#include "gtest/gtest.h"

namespace e3x {
namespace {

// RFC 4648 section 10 test vectors, lower-cased and without padding.
TEST(Base32, Rfc4648Vectors) {
  const std::pair<std::string, std::string> cases[] = {
      {"", ""},
      {"f", "my"},
      {"fo", "mzxq"},
      {"foo", "mzxw6"},
      {"foob", "mzxw6yq"},
      {"fooba", "mzxw6ytb"},
      {"foobar", "mzxw6ytboi"},
  };
  for (const auto& [plain, text] : cases) {
    SCOPED_TRACE(plain);
    EXPECT_EQ(base32_encode(as_bytes(plain)), text);
    std::optional<Bytes> decoded = base32_decode(text);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, Bytes(plain.begin(), plain.end()));
  }
}

TEST(Base32, UpperCaseAccepted) {
  std::optional<Bytes> decoded = base32_decode("MZXW6YTBOI");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, Bytes({'f', 'o', 'o', 'b', 'a', 'r'}));
  EXPECT_EQ(base32_decode("MzXw6YtBoI"), decoded);
}

TEST(Base32, CharactersOutsideTheAlphabetRejected) {
  for (const std::string& text :
       std::initializer_list<std::string>{"mzx0", "mzx1", "mzx8", "mzx9", "mzx ", "mz-w", "mz_w",
                                          "mzx\n", std::string("mz\0w", 4), "mzx\xc3"}) {
    EXPECT_FALSE(base32_decode(text).has_value()) << "accepted \"" << text << "\"";
  }
}

TEST(Base32, PaddingRejected) {
  EXPECT_FALSE(base32_decode("my======").has_value());
  EXPECT_FALSE(base32_decode("my=").has_value());
  EXPECT_FALSE(base32_decode("mzxw6ytboi======").has_value());
}

TEST(Base32, ImpossibleLengthsRejected) {
  // Lengths 1, 3 and 6 mod 8 cannot come from whole bytes; all 'a' means zero trailing bits,
  // so only the length can be the reason.
  for (std::size_t length = 0; length <= 40; ++length) {
    const std::string text(length, 'a');
    const std::size_t tail = length % 8;
    const bool impossible = tail == 1 || tail == 3 || tail == 6;
    EXPECT_EQ(base32_decode(text).has_value(), !impossible) << "length " << length;
  }
}

TEST(Base32, NonZeroTrailingBitsRejected) {
  // "my" is 0x66: 01100 110(00). "mz" sets one of the two unused bits.
  EXPECT_TRUE(base32_decode("my").has_value());
  EXPECT_FALSE(base32_decode("mz").has_value());
  EXPECT_FALSE(base32_decode("m7").has_value());
  // 32 bytes -> 52 characters with 4 unused bits: the canonical text ends in "a" here.
  const std::string canonical = base32_encode(Bytes(32, 0));
  ASSERT_EQ(canonical.size(), 52u);
  EXPECT_TRUE(base32_decode(canonical).has_value());
  for (char last : std::string("bcdefghijklmnop")) {
    std::string altered = canonical;
    altered.back() = last;
    EXPECT_FALSE(base32_decode(altered).has_value()) << "accepted trailing '" << last << "'";
  }
}

TEST(Base32, RoundTripRandomLengths) {
  SeededRandom random(32);
  for (std::size_t length = 0; length <= 100; ++length) {
    Bytes bytes(length);
    random.fill(bytes);
    const std::string text = base32_encode(bytes);
    EXPECT_EQ(text.size(), (length * 8 + 4) / 5) << "length " << length;
    for (char c : text) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << "character " << c;
    }
    std::optional<Bytes> decoded = base32_decode(text);
    ASSERT_TRUE(decoded.has_value()) << "length " << length;
    EXPECT_EQ(*decoded, bytes) << "length " << length;
  }
}

}  // namespace
}  // namespace e3x
