// What scenario tests look at: handshakes and channel packets on the wire, and channel
// content in a host's event log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/simulator.hpp"

namespace e3x::sim {

// A handshake (message packet) a host sent, with its SEQ.
struct HandshakeRecord {
  Instant at{};
  std::uint32_t seq = 0;
  Address to;
  Fate fate = Fate::kDelivered;
  Bytes bytes;
};
std::vector<HandshakeRecord> handshakes_sent(const Simulator& sim, const Host& host);
std::vector<SentRecord> channel_packets_sent(const Simulator& sim, const Host& host);

// The body of the open packet (ChannelOpened) then of every ChannelData the receiver got on
// `channel` from `from`, as text, in order.
std::vector<std::string> channel_bodies(const Host& receiver, const Hashname& from,
                                        std::uint32_t channel, bool include_open = true);
// The id of the first channel of `type` that `from` opened at the receiver.
std::optional<std::uint32_t> opened_channel(const Host& receiver, const Hashname& from,
                                            const std::string& type);

// True if `ours` is the HIGH side against `theirs` (odd SEQs).
bool is_high(const Host& ours, const Host& theirs);

}  // namespace e3x::sim
