// The single libsodium calls the protocol is built from, as limits for the composite
// figures: X25519 three ways, SHA-256 of K_auth's 68-byte input, onetimeauth of a
// handshake's SEQ || KEY || BOX (86 bytes), and the 24 random bytes of a channel nonce.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include "bench/names.hpp"
#include "core/keystream_random.hpp"

namespace e3x::bench {
namespace {

struct KeyPairs {
  KeyPairs() {
    crypto_box_keypair(our_public, our_secret);
    crypto_box_keypair(their_public, their_secret);
  }
  unsigned char our_public[32], our_secret[32], their_public[32], their_secret[32];
};

// What the core calls for every shared secret (x25519_shared).
void raw_x25519_box_beforenm(benchmark::State& state) {
  const KeyPairs keys;
  unsigned char shared[crypto_box_BEFORENMBYTES];
  for (auto _ : state) {
    if (crypto_box_beforenm(shared, keys.their_public, keys.our_secret) != 0) {
      state.SkipWithError("crypto_box_beforenm failed");
      break;
    }
    benchmark::DoNotOptimize(shared);
  }
}

void raw_x25519_scalarmult(benchmark::State& state) {
  const KeyPairs keys;
  unsigned char shared[crypto_scalarmult_BYTES];
  for (auto _ : state) {
    if (crypto_scalarmult(shared, keys.our_secret, keys.their_public) != 0) {
      state.SkipWithError("crypto_scalarmult failed");
      break;
    }
    benchmark::DoNotOptimize(shared);
  }
}

// Key generation (keypair_from_secret) is a fixed-base multiplication, cheaper than the
// variable-base one in libsodium.
void raw_x25519_scalarmult_base(benchmark::State& state) {
  KeyPairs keys;
  unsigned char public_key[crypto_scalarmult_BYTES];
  for (auto _ : state) {
    crypto_scalarmult_base(public_key, keys.our_secret);
    benchmark::DoNotOptimize(public_key);
    keys.our_secret[0] ^= public_key[0];  // a new scalar each time, as a fresh key would be
  }
}

void raw_sha256_68(benchmark::State& state) {
  unsigned char input[68], digest[crypto_hash_sha256_BYTES];
  randombytes_buf(input, sizeof input);
  for (auto _ : state) {
    crypto_hash_sha256(digest, input, sizeof input);
    benchmark::DoNotOptimize(digest);
  }
}

void raw_onetimeauth_86(benchmark::State& state) {
  unsigned char input[86], key[crypto_onetimeauth_KEYBYTES], tag[crypto_onetimeauth_BYTES];
  randombytes_buf(input, sizeof input);
  randombytes_buf(key, sizeof key);
  for (auto _ : state) {
    crypto_onetimeauth(tag, input, sizeof input, key);
    benchmark::DoNotOptimize(tag);
  }
}

void raw_randombytes_24(benchmark::State& state) {
  unsigned char nonce[crypto_secretbox_NONCEBYTES];
  for (auto _ : state) {
    randombytes_buf(nonce, sizeof nonce);
    benchmark::DoNotOptimize(nonce);
  }
}

// What the daemon draws nonces from since issue 13, beside the system call it replaced.
void keystream_random_24(benchmark::State& state) {
  KeystreamRandom random;
  unsigned char nonce[crypto_secretbox_NONCEBYTES];
  for (auto _ : state) {
    random.fill(nonce);
    benchmark::DoNotOptimize(nonce);
  }
}

BENCHMARK(raw_x25519_box_beforenm)->Name(kRawX25519)->Unit(benchmark::kMicrosecond);
BENCHMARK(raw_x25519_scalarmult)->Name(kRawScalarmult)->Unit(benchmark::kMicrosecond);
BENCHMARK(raw_x25519_scalarmult_base)->Name(kRawScalarmultBase)->Unit(benchmark::kMicrosecond);
BENCHMARK(raw_sha256_68)->Name(kRawSha256);
BENCHMARK(raw_onetimeauth_86)->Name(kRawOnetimeauth);
BENCHMARK(raw_randombytes_24)->Name(kRawRandom24);
BENCHMARK(keystream_random_24)->Name(kKeystreamRandom24);

}  // namespace
}  // namespace e3x::bench
