// Classification of raw E3X datagrams by their LOB framing alone (no keys, no crypto), for
// taps that watch the simulated wire (PROTOCOL.md sections 1, 4 and 6).
#pragma once

#include <cstdint>
#include <optional>

#include "core/bytes.hpp"
#include "core/cs3a.hpp"

namespace e3x::sim {

// A message packet (handshake or application message): LENGTH 1, HEAD 0x3a, BODY of at least
// 70 bytes.
bool is_message_packet(ByteView packet);
// Its SEQ: the first 4 bytes of BODY, big-endian.
std::optional<std::uint32_t> message_seq(ByteView packet);
// Its KEY: the sender exchange's ephemeral public key (BODY[4:36]).
std::optional<PublicKey> message_key(ByteView packet);

// A channel packet: LENGTH 0 and BODY of at least 56 bytes.
bool is_channel_packet(ByteView packet);
// Its TOKEN: BODY[0:16].
std::optional<Token> channel_token(ByteView packet);

}  // namespace e3x::sim
