// libsodium must be initialised once before its first use (it picks the fastest
// implementations and seeds randombytes). Every core file that calls libsodium goes through
// ensure_sodium() first; the function-local static makes that cheap after the first call.
#pragma once

#include <stdexcept>

#include <sodium.h>

namespace e3x {

inline void ensure_sodium() {
  static const bool initialised = [] {
    // sodium_init returns 1 when already initialised elsewhere, which is fine too.
    if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
    return true;
  }();
  (void)initialised;
}

}  // namespace e3x
