// SHA-256 (libsodium crypto_hash_sha256).
#pragma once

#include <initializer_list>

#include "core/bytes.hpp"

namespace e3x {

using Digest = ByteArray<32>;

Digest sha256(ByteView data);
// SHA-256 of the concatenation of the parts, without building the concatenation.
Digest sha256(std::initializer_list<ByteView> parts);

}  // namespace e3x
