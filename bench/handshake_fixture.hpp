// Endpoints and pre-generated handshake packets for the handshake benchmarks. Everything
// here runs outside the timed loop, so a benchmark times only what one endpoint does with
// one incoming handshake (open, verify, exchange and SEQ rules, sealing its reply).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/endpoint.hpp"
#include "core/random.hpp"

namespace e3x::bench {

inline constexpr PathId kPeerPath = 1;  // the only path: "the other side"
inline constexpr std::int64_t kUnixStart = 1763700000;

// An endpoint with its own deterministic randomness: the same seed gives the same identity
// and ephemerals, so two nodes built alike and fed alike stay identical.
struct Node {
  explicit Node(std::uint64_t seed);
  SeededRandom random;
  Endpoint endpoint;
};

// Drops whatever the endpoint queued (the benchmarks do not deliver replies).
void drain(Endpoint& endpoint);

// A receiver with `count` configured peers, and each peer's first handshake to it: every
// one of them makes the receiver create a new exchange ("cold").
struct ColdBatch {
  std::unique_ptr<Node> receiver;
  std::vector<Bytes> hellos;
};
ColdBatch make_cold_batch(std::size_t count);

// Two nodes in sync, and `count` keepalive handshakes from the first to the second, each
// with a higher SEQ on the same exchange ("warm"). The keepalives are produced against a
// rehearsal twin of the receiver (the sender needs each one confirmed before it sends the
// next); the returned receiver is built identically and has not seen them yet.
struct WarmBatch {
  std::unique_ptr<Node> receiver;
  std::vector<Instant> times;
  std::vector<Bytes> keepalives;
};
WarmBatch make_warm_batch(std::size_t count);

}  // namespace e3x::bench
