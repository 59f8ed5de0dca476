#include "core/random.hpp"

#include <algorithm>

#include <sodium.h>

#include "core/sha256.hpp"
#include "core/sodium_init.hpp"

namespace e3x {

std::uint32_t Random::next_u32() {
  std::uint8_t bytes[4];
  fill(bytes);
  return read_u32_be(bytes);
}

std::uint32_t Random::uniform(std::uint32_t bound) {
  // Rejection sampling: values at or above the largest multiple of `bound` that fits in
  // 2^32 would make the low residues more likely, so they are drawn again.
  // (2^32 - bound) % bound == 2^32 % bound, computed without 64-bit arithmetic.
  const std::uint32_t rejected_below = static_cast<std::uint32_t>(0u - bound) % bound;
  for (;;) {
    std::uint32_t value = next_u32();
    if (value >= rejected_below) return value % bound;
  }
}

void SodiumRandom::fill(std::span<std::uint8_t> out) {
  if (out.empty()) return;  // randombytes_buf rejects a null pointer, even for 0 bytes
  ensure_sodium();
  randombytes_buf(out.data(), out.size());
}

SeededRandom::SeededRandom(std::uint64_t seed) {
  std::uint8_t seed_bytes[8];
  for (int i = 0; i < 8; ++i) seed_bytes[i] = static_cast<std::uint8_t>(seed >> (8 * i));
  Digest key = sha256(ByteView(seed_bytes, sizeof seed_bytes));
  std::copy(key.begin(), key.end(), key_.data());
  sodium_memzero(key.data(), key.size());
}

// The stream is a sequence of 64-byte blocks; block i is the ChaCha20 keystream under the
// 8-byte little-endian nonce i. The header gives the generator no buffer for the unused tail
// of a block, so `block_counter_` holds the position in the stream in bytes and a fill that
// starts mid-block regenerates that block and skips the bytes already handed out. That
// keeps the output a pure stream: fill(3) then fill(5) yields the same bytes as fill(8).
void SeededRandom::fill(std::span<std::uint8_t> out) {
  ensure_sodium();
  constexpr std::size_t kBlockSize = 64;
  std::size_t written = 0;
  while (written < out.size()) {
    const std::uint64_t block_index = block_counter_ / kBlockSize;
    const std::size_t offset = static_cast<std::size_t>(block_counter_ % kBlockSize);
    std::uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    for (int i = 0; i < 8; ++i) nonce[i] = static_cast<std::uint8_t>(block_index >> (8 * i));
    std::uint8_t block[kBlockSize];
    crypto_stream_chacha20(block, kBlockSize, nonce, key_.data());
    const std::size_t take = std::min(out.size() - written, kBlockSize - offset);
    std::copy_n(block + offset, take, out.begin() + static_cast<std::ptrdiff_t>(written));
    sodium_memzero(block, kBlockSize);
    block_counter_ += take;
    written += take;
  }
}

void ScriptedRandom::fill(std::span<std::uint8_t> out) {
  std::size_t i = 0;
  for (; i < out.size() && !script_.empty(); ++i) {
    out[i] = script_.front();
    script_.pop_front();
  }
  if (i < out.size()) fallback_.fill(out.subspan(i));
}

}  // namespace e3x
