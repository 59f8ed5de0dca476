// Handshake processing through the real Endpoint: cold (a configured peer's first
// handshake, so a new exchange with all the X25519 that costs) and warm (a keepalive
// handshake from a known exchange, which PROTOCOL.md section 3 says costs no X25519). Each
// iteration is one handle_datagram plus taking the reply off the transmit queue; the
// packets are generated before the timed loop.
#include <benchmark/benchmark.h>

#include "bench/handshake_fixture.hpp"
#include "bench/names.hpp"

namespace e3x::bench {
namespace {

// After the loop: every handshake must have been accepted and answered, else the figure
// timed something else (a drop is much cheaper than a handshake).
void check_and_count(benchmark::State& state, const EndpointStats& before,
                     const EndpointStats& after) {
  const auto n = static_cast<std::uint64_t>(state.iterations());
  const std::uint64_t dropped = after.dropped_malformed + after.dropped_unauthenticated +
                                after.dropped_policy + after.dropped_stale -
                                (before.dropped_malformed + before.dropped_unauthenticated +
                                 before.dropped_policy + before.dropped_stale);
  if (after.handshakes_received - before.handshakes_received != n ||
      after.handshakes_sent - before.handshakes_sent != n || dropped != 0) {
    state.SkipWithError("a handshake was not accepted and answered");
    return;
  }
  const double x25519 = static_cast<double>(after.x25519_operations - before.x25519_operations);
  state.counters[kX25519Counter] = x25519 / static_cast<double>(n);
}

void handshake_cold(benchmark::State& state) {
  ColdBatch batch = make_cold_batch(static_cast<std::size_t>(state.max_iterations));
  Endpoint& receiver = batch.receiver->endpoint;
  const EndpointStats before = receiver.stats();
  std::size_t next = 0;
  for (auto _ : state) {
    receiver.handle_datagram(Instant{}, kPeerPath, batch.hellos[next++]);
    auto reply = receiver.poll_transmit();
    benchmark::DoNotOptimize(reply);
    while (receiver.poll_event()) {
    }
  }
  check_and_count(state, before, receiver.stats());
}

void handshake_warm(benchmark::State& state) {
  WarmBatch batch = make_warm_batch(static_cast<std::size_t>(state.max_iterations));
  Endpoint& receiver = batch.receiver->endpoint;
  const EndpointStats before = receiver.stats();
  std::size_t next = 0;
  for (auto _ : state) {
    receiver.handle_datagram(batch.times[next], kPeerPath, batch.keepalives[next]);
    ++next;
    auto reply = receiver.poll_transmit();
    benchmark::DoNotOptimize(reply);
    while (receiver.poll_event()) {
    }
  }
  check_and_count(state, before, receiver.stats());
}

BENCHMARK(handshake_cold)->Name(kHandshakeCold)->Unit(benchmark::kMicrosecond);
BENCHMARK(handshake_warm)->Name(kHandshakeWarm)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace e3x::bench
