// Pacing (PROTOCOL.md section 13): a token bucket that releases congestion-controlled packets
// at a rate (bytes per second) with a bounded burst, so a window is spread over the round
// trip instead of leaving as one burst. Time is an argument: the caller asks when a packet
// may leave and arms a timer for that instant (Exchange::next_deadline).
//
// quinn-proto's pacer waits, once empty, until a whole burst has refilled; this one waits
// for the packet or for a quantum of at most a millisecond of sending, whichever is larger,
// so slow paths are paced packet by packet and fast ones wake at most about once a
// millisecond.
#pragma once

#include <cstddef>
#include <optional>

#include "core/time.hpp"

namespace e3x {

class Pacer {
 public:
  // When a packet of `bytes` may leave at `rate` bytes per second with bursts of at most
  // `capacity` bytes: `now` when it may leave now, else the instant the bucket will allow it.
  Instant release_time(Instant now, std::size_t bytes, double rate, double capacity);
  // A packet left: its bytes are taken from the bucket (which may go negative: a packet sent
  // outside pacing, such as a timeout probe, delays those that follow).
  void on_sent(std::size_t bytes) { tokens_ -= static_cast<double>(bytes); }
  void reset() { *this = Pacer{}; }
  double tokens() const { return tokens_; }

 private:
  void refill(Instant now, double rate, double capacity);

  double tokens_ = 0;
  std::optional<Instant> last_;
};

}  // namespace e3x
