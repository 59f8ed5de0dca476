// The names the crypto benchmarks register under. The summary pairs each figure with its
// limit by these names, so they live in one place.
#pragma once

#include <cstdint>
#include <string>

namespace e3x::bench {

// Message packets (PROTOCOL.md section 4), INNER sizes: a handshake's INNER is 34 bytes
// (empty-HEAD LOB around a 32-byte key); 1400 is the largest channel INNER.
inline constexpr std::int64_t kMessageSizes[] = {34, 1400};
// Channel packets (section 6), INNER sizes required by issue 5.
inline constexpr std::int64_t kChannelSizes[] = {64, 512, 1400};

inline constexpr const char* kMessageSeal = "message_seal";
inline constexpr const char* kMessageOpen = "message_open";
inline constexpr const char* kRawMessageSeal = "raw_message_seal";
inline constexpr const char* kRawMessageOpen = "raw_message_open";

inline constexpr const char* kChannelSeal = "channel_seal";
inline constexpr const char* kChannelOpen = "channel_open";
inline constexpr const char* kRawChannelSeal = "raw_channel_seal";
inline constexpr const char* kRawChannelOpen = "raw_channel_open";

inline constexpr const char* kHandshakeCold = "handshake_cold";
inline constexpr const char* kHandshakeWarm = "handshake_warm";

// One X25519 as the core calls it (crypto_box_beforenm = scalar mult + HSalsa20), the bare
// scalar multiplication, and the fixed-base one that key generation uses.
inline constexpr const char* kRawX25519 = "raw_x25519_box_beforenm";
inline constexpr const char* kRawScalarmult = "raw_x25519_scalarmult";
inline constexpr const char* kRawScalarmultBase = "raw_x25519_scalarmult_base";
inline constexpr const char* kRawSha256 = "raw_sha256_68";
inline constexpr const char* kRawOnetimeauth = "raw_onetimeauth_86";
// The per-packet channel nonce (a getrandom(2) call in libsodium 1.0.18).
inline constexpr const char* kRawRandom24 = "raw_randombytes_24";
// The same 24 bytes from the daemon's user-space keystream (core/keystream_random.hpp).
inline constexpr const char* kKeystreamRandom24 = "keystream_random_24";

// The counter a handshake benchmark reports: X25519 operations per handshake, read from
// EndpointStats::x25519_operations.
inline constexpr const char* kX25519Counter = "x25519";

inline std::string sized(const char* name, std::int64_t size) {
  return std::string(name) + "/" + std::to_string(size);
}

}  // namespace e3x::bench
