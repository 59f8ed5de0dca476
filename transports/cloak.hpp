// Cloaking (PROTOCOL.md section 7, telehash-v3/cloaking.md):
// NONCE8 || ChaCha20-xor(packet, NONCE8, K_cloak), K_cloak = SHA256("telehash"), NONCE8[0] != 0.
#pragma once

#include <optional>
#include <span>

#include "core/bytes.hpp"
#include "core/random.hpp"

namespace e3x {

inline constexpr int kMaxCloakLayers = 8;

// One layer with the given nonce; nonce[0] must be non-zero (std::invalid_argument).
Bytes cloak_once(ByteView packet, std::span<const std::uint8_t, 8> nonce);

// `layers` layers (1..8) with random nonces whose first byte is non-zero.
Bytes cloak(ByteView packet, Random& random, int layers = 1);

struct Uncloaked {
  Bytes packet;    // first byte 0x00 (a plain packet)
  int layers = 0;  // how many layers were removed (0: it arrived plain)
};

// Removes layers while the first byte is not 0x00, at most 8. nullopt when the input is
// empty, a layer is shorter than its 8-byte nonce, or 8 layers still leave a cloaked packet.
std::optional<Uncloaked> uncloak(ByteView datagram);

}  // namespace e3x
