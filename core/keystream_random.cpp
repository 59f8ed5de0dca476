#include "core/keystream_random.hpp"

#include <algorithm>

#include <sodium.h>

#include "core/sodium_init.hpp"

namespace e3x {

KeystreamRandom::KeystreamRandom() {
  ensure_sodium();
  randombytes_buf(key_.data(), key_.size());
}

KeystreamRandom::~KeystreamRandom() {
  sodium_memzero(buffer_.data(), buffer_.size());
}

void KeystreamRandom::refill() {
  if (since_reseed_ >= kReseedAfterBytes) {
    // XOR with fresh OS bytes: the key stays uniformly random whatever either part is.
    std::uint8_t fresh[32];
    randombytes_buf(fresh, sizeof fresh);
    for (std::size_t i = 0; i < sizeof fresh; ++i) key_.data()[i] ^= fresh[i];
    sodium_memzero(fresh, sizeof fresh);
    since_reseed_ = 0;
    ++reseeds_;
  }
  // Each key is used for exactly one buffer, so a fixed nonce never repeats under a key.
  static constexpr std::uint8_t kNonce[crypto_stream_chacha20_NONCEBYTES] = {};
  crypto_stream_chacha20(buffer_.data(), buffer_.size(), kNonce, key_.data());
  std::copy_n(buffer_.begin(), key_.size(), key_.data());
  sodium_memzero(buffer_.data(), key_.size());
  position_ = key_.size();
}

void KeystreamRandom::fill(std::span<std::uint8_t> out) {
  std::size_t written = 0;
  while (written < out.size()) {
    if (position_ == buffer_.size()) refill();
    const std::size_t take = std::min(out.size() - written, buffer_.size() - position_);
    std::copy_n(buffer_.begin() + static_cast<std::ptrdiff_t>(position_), take,
                out.begin() + static_cast<std::ptrdiff_t>(written));
    sodium_memzero(buffer_.data() + position_, take);
    position_ += take;
    since_reseed_ += take;
    written += take;
  }
}

}  // namespace e3x
