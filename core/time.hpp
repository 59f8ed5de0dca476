// Time as the core sees it: always an argument, never read from a clock.
//
// `Instant` is a point on a monotonic timeline chosen by the caller (the daemon maps
// steady_clock onto it; tests start at zero and jump). The core never asks for "now".
#pragma once

#include <chrono>
#include <cstdint>

namespace e3x {

// A clock type with no now(): it only gives Instant its own type so it cannot be mixed
// up with a real clock's time_point.
struct CoreClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<CoreClock>;
  static constexpr bool is_steady = true;
};

using Instant = CoreClock::time_point;
using Duration = CoreClock::duration;

using std::chrono::milliseconds;
using std::chrono::seconds;

}  // namespace e3x
