#include "sim/packets.hpp"

#include <algorithm>

namespace e3x::sim {

namespace {
constexpr std::size_t kLengthBytes = 2;
std::size_t head_length(ByteView packet) {
  return (std::size_t{packet[0]} << 8) | std::size_t{packet[1]};
}
}  // namespace

bool is_message_packet(ByteView packet) {
  return packet.size() >= kLengthBytes + 1 + kMessageMinBody && head_length(packet) == 1 &&
         packet[2] == kCsid3a;
}

std::optional<std::uint32_t> message_seq(ByteView packet) {
  if (!is_message_packet(packet)) return std::nullopt;
  return read_u32_be(packet.subspan(3, 4));
}

std::optional<PublicKey> message_key(ByteView packet) {
  if (!is_message_packet(packet)) return std::nullopt;
  PublicKey key{};
  std::copy_n(packet.begin() + 7, key.size(), key.begin());
  return key;
}

bool is_channel_packet(ByteView packet) {
  return packet.size() >= kLengthBytes + kChannelMinBody && head_length(packet) == 0;
}

std::optional<Token> channel_token(ByteView packet) {
  if (!is_channel_packet(packet)) return std::nullopt;
  Token token{};
  std::copy_n(packet.begin() + 2, token.size(), token.begin());
  return token;
}

}  // namespace e3x::sim
