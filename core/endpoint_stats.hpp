// Counters an Endpoint keeps. Every silently dropped packet is counted under its reason.
#pragma once

#include <cstdint>

namespace e3x {

struct EndpointStats {
  // Cost: X25519 scalar multiplications (key generation and shared secrets). Validation
  // caching is proven by this staying flat across keepalive handshakes.
  std::uint64_t x25519_operations = 0;

  std::uint64_t datagrams_received = 0;
  std::uint64_t handshakes_received = 0;       // authenticated
  std::uint64_t handshakes_sent = 0;           // including verbatim resends
  std::uint64_t channel_packets_received = 0;  // authenticated and not replayed
  std::uint64_t channel_packets_sent = 0;
  std::uint64_t messages_received = 0;  // application messages, authenticated
  std::uint64_t messages_sent = 0;

  // Drops, by reason.
  std::uint64_t dropped_malformed = 0;        // not a LOB packet, wrong CSID, too short
  std::uint64_t dropped_unauthenticated = 0;  // BOX or AUTH failed, bad channel ciphertext
  std::uint64_t dropped_policy = 0;           // sender not accepted, or ourselves
  std::uint64_t dropped_stale = 0;            // handshake SEQ stale or invalid, or an old KEY
  std::uint64_t dropped_seq_too_far = 0;      // remote SEQ over a day ahead (PROTOCOL.md 10.4)
  std::uint64_t dropped_unknown_token = 0;    // channel packet for no known exchange
  std::uint64_t dropped_replay = 0;           // channel nonce seen before
  std::uint64_t dropped_channel = 0;          // channel INNER invalid, unknown or closed id
  std::uint64_t dropped_pending = 0;          // pending queue full while not in sync
  std::uint64_t dropped_transmits = 0;        // transmit queue full (driver not draining)
  std::uint64_t dropped_events = 0;           // event queue full (driver not draining)
  std::uint64_t dropped_rate_limited = 0;     // X25519 refused by Config::admit_expensive
  std::uint64_t dropped_expired = 0;  // application message without a valid "expires" (10.7)
};

}  // namespace e3x
