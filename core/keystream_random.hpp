// The daemon's random source: a ChaCha20 keystream in user space, keyed from the OS and
// re-keyed from it as it goes (issue 13). Every sealed channel packet and every cloaked
// datagram needs a fresh random nonce; asking the kernel (getrandom) for each one is a system
// call per packet, where a keystream costs a few nanoseconds. The construction is the "fast
// key erasure" one: each refill of the buffer draws the next key from the keystream first, so
// a memory disclosure after the fact reveals nothing already handed out, and output bytes are
// wiped from the buffer as they are taken.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/random.hpp"
#include "core/secret.hpp"

namespace e3x {

class KeystreamRandom final : public Random {
 public:
  // After this many bytes of output, fresh OS randomness is mixed into the key (so a state
  // that leaked somehow heals), as Linux's own CRNG re-keys.
  static constexpr std::size_t kReseedAfterBytes = 1 << 20;
  // One refill: the next key, then output.
  static constexpr std::size_t kBufferSize = 1024;

  // Keyed from the OS (libsodium's randombytes_buf). Not for use across fork(): a child
  // would repeat the parent's stream (e3xd never forks).
  KeystreamRandom();
  KeystreamRandom(const KeystreamRandom&) = delete;
  KeystreamRandom& operator=(const KeystreamRandom&) = delete;
  ~KeystreamRandom() override;

  void fill(std::span<std::uint8_t> out) override;

  std::uint64_t reseeds() const { return reseeds_; }  // how often the OS was asked again

 private:
  void refill();

  Secret<32> key_;
  std::array<std::uint8_t, kBufferSize> buffer_{};
  std::size_t position_ = kBufferSize;  // next unread byte of buffer_; at the end: refill
  std::size_t since_reseed_ = 0;
  std::uint64_t reseeds_ = 0;
};

}  // namespace e3x
