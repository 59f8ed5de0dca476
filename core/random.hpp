// Injected randomness. The core never calls a global RNG: whoever builds an Endpoint
// hands it one of these.
#pragma once

#include <cstdint>
#include <deque>
#include <span>

#include "core/secret.hpp"

namespace e3x {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;

  std::uint32_t next_u32();
  // Uniform in [0, bound); bound must be > 0.
  std::uint32_t uniform(std::uint32_t bound);
};

// Production source: libsodium's randombytes_buf (the OS CSPRNG).
class SodiumRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override;
};

// Deterministic source for tests and simulations: the ChaCha20 keystream under a key
// derived from the seed. The same seed always yields the same bytes.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed);
  void fill(std::span<std::uint8_t> out) override;

 private:
  Secret<32> key_;
  std::uint64_t block_counter_ = 0;
};

// Deterministic source that hands out scripted bytes first (a known ephemeral secret, known
// nonces), then a SeededRandom stream: lets tests and fuzzers make an Endpoint produce exactly
// the packets of the shared vectors.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::uint64_t seed, std::span<const std::uint8_t> script = {})
      : script_(script.begin(), script.end()), fallback_(seed) {}
  void script(std::span<const std::uint8_t> bytes) {
    script_.insert(script_.end(), bytes.begin(), bytes.end());
  }
  void fill(std::span<std::uint8_t> out) override;
  bool script_used_up() const { return script_.empty(); }

 private:
  std::deque<std::uint8_t> script_;
  SeededRandom fallback_;
};

}  // namespace e3x
