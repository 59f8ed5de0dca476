// Token-bucket pacing (PROTOCOL.md 13). See pacer.hpp.
#include "core/pacer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace e3x {
namespace {

// Once blocked, wait for at least this much sending time's worth of tokens.
constexpr double kQuantumSeconds = 0.001;

}  // namespace

void Pacer::refill(Instant now, double rate, double capacity) {
  if (!last_) {
    tokens_ = capacity;  // a fresh path may send one burst at once
    last_ = now;
    return;
  }
  if (now > *last_) {
    const double elapsed = std::chrono::duration<double>(now - *last_).count();
    tokens_ = std::min(capacity, tokens_ + rate * elapsed);
    last_ = now;
  }
  tokens_ = std::min(tokens_, capacity);
}

Instant Pacer::release_time(Instant now, std::size_t bytes, double rate, double capacity) {
  refill(now, rate, capacity);
  const double need = static_cast<double>(bytes);
  if (tokens_ >= need || rate <= 0) return now;
  const double target = std::max(need, std::min(capacity, rate * kQuantumSeconds));
  const double wait = (target - tokens_) / rate;
  const auto nanos = static_cast<Duration::rep>(std::ceil(wait * 1e9));
  return now + std::max(Duration{nanos}, Duration{1});
}

}  // namespace e3x
