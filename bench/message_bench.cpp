// Message packets (PROTOCOL.md section 4): the core's seal_message and parse_message +
// open_message_box + verify_message_auth, beside the libsodium calls they are made of
// (secretbox, SHA-256 for K_auth, onetimeauth) on preallocated buffers.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstring>

#include "bench/names.hpp"
#include "core/cs3a.hpp"

namespace e3x::bench {
namespace {

constexpr std::size_t kSeqKey = 4 + 32;  // SEQ || KEY, what starts BODY and K_auth's input

struct MessageKeys {
  MessageKeys() {
    randombytes_buf(ephemeral_public.data(), ephemeral_public.size());
    randombytes_buf(k_box.data(), k_box.size());
    randombytes_buf(s_static.data(), s_static.size());
  }
  PublicKey ephemeral_public{};
  SharedKey k_box;
  SharedKey s_static;
};

Bytes random_bytes(std::int64_t size) {
  Bytes out(static_cast<std::size_t>(size));
  randombytes_buf(out.data(), out.size());
  return out;
}

void write_seq(std::uint8_t* out, std::uint32_t seq) {
  out[0] = static_cast<std::uint8_t>(seq >> 24);
  out[1] = static_cast<std::uint8_t>(seq >> 16);
  out[2] = static_cast<std::uint8_t>(seq >> 8);
  out[3] = static_cast<std::uint8_t>(seq);
}

// K_auth = SHA256(SEQ || KEY || S_static) with the one-shot call.
void raw_auth_key(const std::uint8_t* seq_key, const SharedKey& s_static, std::uint8_t* k_auth) {
  std::uint8_t input[kSeqKey + 32];
  std::memcpy(input, seq_key, kSeqKey);
  std::memcpy(input + kSeqKey, s_static.data(), 32);
  crypto_hash_sha256(k_auth, input, sizeof input);
}

void message_seal(benchmark::State& state) {
  const MessageKeys keys;
  const Bytes inner = random_bytes(state.range(0));
  std::uint32_t seq = 1;
  for (auto _ : state) {
    Bytes outer = seal_message(seq, keys.ephemeral_public, keys.k_box, keys.s_static, inner);
    benchmark::DoNotOptimize(outer.data());
    seq += 2;  // one exchange never seals two INNERs under one SEQ
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void raw_message_seal(benchmark::State& state) {
  const MessageKeys keys;
  const Bytes inner = random_bytes(state.range(0));
  const std::size_t box_size = inner.size() + crypto_secretbox_MACBYTES;
  Bytes body(kSeqKey + box_size + crypto_onetimeauth_BYTES);
  std::memcpy(body.data() + 4, keys.ephemeral_public.data(), 32);
  std::uint8_t nonce[crypto_secretbox_NONCEBYTES] = {};
  std::uint8_t k_auth[32];
  std::uint32_t seq = 1;
  for (auto _ : state) {
    write_seq(body.data(), seq);
    write_seq(nonce, seq);
    crypto_secretbox_easy(body.data() + kSeqKey, inner.data(), inner.size(), nonce,
                          keys.k_box.data());
    raw_auth_key(body.data(), keys.s_static, k_auth);
    crypto_onetimeauth(body.data() + kSeqKey + box_size, body.data(), kSeqKey + box_size, k_auth);
    benchmark::DoNotOptimize(body.data());
    benchmark::ClobberMemory();
    seq += 2;
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void message_open(benchmark::State& state) {
  const MessageKeys keys;
  const Bytes outer = seal_message(7, keys.ephemeral_public, keys.k_box, keys.s_static,
                                   random_bytes(state.range(0)));
  bool ok = true;
  for (auto _ : state) {
    const auto parts = parse_message(outer);
    const auto inner = open_message_box(*parts, keys.k_box);
    ok &= inner && verify_message_auth(*parts, keys.s_static);
    benchmark::DoNotOptimize(inner);
  }
  if (!ok) state.SkipWithError("message did not open");
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void raw_message_open(benchmark::State& state) {
  const MessageKeys keys;
  const Bytes outer = seal_message(7, keys.ephemeral_public, keys.k_box, keys.s_static,
                                   random_bytes(state.range(0)));
  const std::uint8_t* body = outer.data() + 3;  // LENGTH(2) || HEAD(0x3a)
  const std::size_t box_size = static_cast<std::size_t>(state.range(0)) + crypto_secretbox_MACBYTES;
  Bytes plain(static_cast<std::size_t>(state.range(0)));
  std::uint8_t nonce[crypto_secretbox_NONCEBYTES] = {};
  std::uint8_t k_auth[32];
  bool ok = true;
  for (auto _ : state) {
    std::memcpy(nonce, body, 4);
    ok &= crypto_secretbox_open_easy(plain.data(), body + kSeqKey, box_size, nonce,
                                     keys.k_box.data()) == 0;
    raw_auth_key(body, keys.s_static, k_auth);
    ok &=
        crypto_onetimeauth_verify(body + kSeqKey + box_size, body, kSeqKey + box_size, k_auth) == 0;
    benchmark::DoNotOptimize(plain.data());
    benchmark::ClobberMemory();
  }
  if (!ok) state.SkipWithError("message did not open");
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void message_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t size : kMessageSizes) b->Arg(size);
}

BENCHMARK(message_seal)->Name(kMessageSeal)->Apply(message_sizes);
BENCHMARK(raw_message_seal)->Name(kRawMessageSeal)->Apply(message_sizes);
BENCHMARK(message_open)->Name(kMessageOpen)->Apply(message_sizes);
BENCHMARK(raw_message_open)->Name(kRawMessageOpen)->Apply(message_sizes);

}  // namespace
}  // namespace e3x::bench
