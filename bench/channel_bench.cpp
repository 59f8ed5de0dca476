// Channel packets (PROTOCOL.md section 6) for 64, 512 and 1400-byte INNER packets: the
// core's seal_channel (after drawing the per-packet random nonce from the production
// Random) and parse_channel + open_channel, beside randombytes_buf + crypto_secretbox_easy
// and crypto_secretbox_open_easy on preallocated buffers.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include "bench/names.hpp"
#include "core/cs3a.hpp"
#include "core/keystream_random.hpp"
#include "core/random.hpp"

namespace e3x::bench {
namespace {

struct ChannelFixture {
  explicit ChannelFixture(std::int64_t size) : inner(static_cast<std::size_t>(size)) {
    randombytes_buf(token.data(), token.size());
    randombytes_buf(key.data(), key.size());
    randombytes_buf(inner.data(), inner.size());
  }
  Token token{};
  SharedKey key;  // K_out of the sender, K_in of the receiver
  Bytes inner;
};

void channel_seal(benchmark::State& state) {
  const ChannelFixture fixture(state.range(0));
  KeystreamRandom random;  // what the daemon injects: the nonce is drawn per packet
  ChannelNonce nonce{};
  for (auto _ : state) {
    random.fill(nonce);
    Bytes outer = seal_channel(fixture.token, nonce, fixture.key, fixture.inner);
    benchmark::DoNotOptimize(outer.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void raw_channel_seal(benchmark::State& state) {
  const ChannelFixture fixture(state.range(0));
  ChannelNonce nonce{};
  Bytes box(fixture.inner.size() + crypto_secretbox_MACBYTES);
  for (auto _ : state) {
    randombytes_buf(nonce.data(), nonce.size());
    crypto_secretbox_easy(box.data(), fixture.inner.data(), fixture.inner.size(), nonce.data(),
                          fixture.key.data());
    benchmark::DoNotOptimize(box.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

Bytes sealed_packet(const ChannelFixture& fixture) {
  ChannelNonce nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  return seal_channel(fixture.token, nonce, fixture.key, fixture.inner);
}

void channel_open(benchmark::State& state) {
  const ChannelFixture fixture(state.range(0));
  const Bytes outer = sealed_packet(fixture);
  bool ok = true;
  for (auto _ : state) {
    const auto parts = parse_channel(outer);
    const auto inner = open_channel(*parts, fixture.key);
    ok &= inner.has_value();
    benchmark::DoNotOptimize(inner);
  }
  if (!ok) state.SkipWithError("channel packet did not open");
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void raw_channel_open(benchmark::State& state) {
  const ChannelFixture fixture(state.range(0));
  const Bytes outer = sealed_packet(fixture);
  const std::uint8_t* nonce = outer.data() + 2 + 16;  // LENGTH(2) || TOKEN(16) || NONCE
  const std::uint8_t* box = nonce + crypto_secretbox_NONCEBYTES;
  const std::size_t box_size = fixture.inner.size() + crypto_secretbox_MACBYTES;
  Bytes plain(fixture.inner.size());
  bool ok = true;
  for (auto _ : state) {
    ok &= crypto_secretbox_open_easy(plain.data(), box, box_size, nonce, fixture.key.data()) == 0;
    benchmark::DoNotOptimize(plain.data());
    benchmark::ClobberMemory();
  }
  if (!ok) state.SkipWithError("channel packet did not open");
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void channel_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t size : kChannelSizes) b->Arg(size);
}

BENCHMARK(channel_seal)->Name(kChannelSeal)->Apply(channel_sizes);
BENCHMARK(raw_channel_seal)->Name(kRawChannelSeal)->Apply(channel_sizes);
BENCHMARK(channel_open)->Name(kChannelOpen)->Apply(channel_sizes);
BENCHMARK(raw_channel_open)->Name(kRawChannelOpen)->Apply(channel_sizes);

}  // namespace
}  // namespace e3x::bench
