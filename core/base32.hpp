// RFC 4648 base32, lower-case alphabet, no padding (telehash-v3/base32.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace e3x {

std::string base32_encode(ByteView bytes);

// Accepts lower or upper case. Rejects (nullopt): any character outside the alphabet
// (including '='), an impossible length (length % 8 in {1, 3, 6}), and non-zero trailing
// bits (so every byte string has exactly one accepted text).
std::optional<Bytes> base32_decode(std::string_view text);

}  // namespace e3x
