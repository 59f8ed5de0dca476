#include "core/base32.hpp"

namespace e3x {

namespace {

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

// The 5-bit value of a base32 character in either case, -1 for anything else.
int symbol_value(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

}  // namespace

std::string base32_encode(ByteView bytes) {
  std::string text;
  text.reserve((bytes.size() * 8 + 4) / 5);
  std::uint32_t bits = 0;  // pending bits, right-aligned
  int bit_count = 0;
  for (std::uint8_t byte : bytes) {
    bits = (bits << 8) | byte;
    bit_count += 8;
    while (bit_count >= 5) {
      bit_count -= 5;
      text.push_back(kAlphabet[(bits >> bit_count) & 0x1f]);
    }
  }
  // The last symbol is padded on the right with zero bits (no '=' padding).
  if (bit_count > 0) text.push_back(kAlphabet[(bits << (5 - bit_count)) & 0x1f]);
  return text;
}

std::optional<Bytes> base32_decode(std::string_view text) {
  // 8 symbols carry 5 bytes; a tail of 1, 3 or 6 symbols cannot come from any whole
  // number of bytes.
  const std::size_t tail = text.size() % 8;
  if (tail == 1 || tail == 3 || tail == 6) return std::nullopt;

  Bytes bytes;
  bytes.reserve(text.size() * 5 / 8);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    int value = symbol_value(c);
    if (value < 0) return std::nullopt;
    bits = (bits << 5) | static_cast<std::uint32_t>(value);
    bit_count += 5;
    if (bit_count >= 8) {
      bit_count -= 8;
      bytes.push_back(static_cast<std::uint8_t>(bits >> bit_count));
    }
    bits &= (1u << bit_count) - 1;  // keep only the bits not yet emitted
  }
  // Leftover bits must be the encoder's zero padding; anything else would let two texts
  // decode to the same bytes.
  if (bits != 0) return std::nullopt;
  return bytes;
}

}  // namespace e3x
