// Fixed-size secret material that is wiped when it goes away, and constant-time comparison.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <sodium.h>

#include "core/bytes.hpp"

namespace e3x {

template <std::size_t N>
class Secret {
 public:
  Secret() { bytes_.fill(0); }
  explicit Secret(std::span<const std::uint8_t, N> from) {
    std::copy(from.begin(), from.end(), bytes_.begin());
  }
  Secret(const Secret& other) : bytes_(other.bytes_) {}
  Secret& operator=(const Secret& other) {
    bytes_ = other.bytes_;
    return *this;
  }
  // Moving copies and wipes the source, so no stray copy stays behind.
  Secret(Secret&& other) noexcept : bytes_(other.bytes_) { other.wipe(); }
  Secret& operator=(Secret&& other) noexcept {
    bytes_ = other.bytes_;
    other.wipe();
    return *this;
  }
  ~Secret() { wipe(); }

  std::uint8_t* data() { return bytes_.data(); }
  const std::uint8_t* data() const { return bytes_.data(); }
  static constexpr std::size_t size() { return N; }
  std::span<std::uint8_t, N> span() { return bytes_; }
  std::span<const std::uint8_t, N> span() const { return bytes_; }
  ByteView view() const { return {bytes_.data(), N}; }

  void wipe() { sodium_memzero(bytes_.data(), N); }

  friend bool operator==(const Secret& a, const Secret& b) {
    return sodium_memcmp(a.bytes_.data(), b.bytes_.data(), N) == 0;
  }

 private:
  std::array<std::uint8_t, N> bytes_;
};

// Constant-time equality of two byte strings of equal length; false when lengths differ
// (the length itself is not secret).
inline bool constant_time_equal(ByteView a, ByteView b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace e3x
