// Round-trip time of a path (PROTOCOL.md section 13), estimated as RFC 6298 does: a smoothed
// RTT and its variation from samples of packets sent once (Karn's rule is the caller's: a
// retransmitted packet's acknowledgement cannot be matched to one of its sends, so it is never
// sampled), the latest and the minimum sample, and from these the retransmission timeout and
// the loss detection delay of reliable channels.
#pragma once

#include <optional>

#include "core/time.hpp"

namespace e3x {

// Retransmission timeout before any sample (PROTOCOL.md 13: 1 s, not the old fixed 2 s).
inline constexpr Duration kInitialRto = seconds(1);
// The RTT assumed by loss detection before any sample (RFC 9002 6.2.2).
inline constexpr Duration kInitialRtt = milliseconds(333);
// The floor of srtt + 4 * rttvar.
inline constexpr Duration kMinRto = milliseconds(200);
// The ceiling of the backed-off timeout: a peer whose window is closed is probed at least
// this often, so a lost window update costs at most this long (see core-decisions.md).
inline constexpr Duration kMaxRto = seconds(10);
// The smallest delay a timer is armed for (RFC 9002's kGranularity).
inline constexpr Duration kTimerGranularity = milliseconds(1);

class RttEstimator {
 public:
  // A sample from a packet sent once and now acknowledged (RFC 6298 section 2).
  void on_sample(Duration rtt);
  bool has_sample() const { return smoothed_.has_value(); }

  // Only meaningful with a sample; zero before.
  Duration smoothed() const { return smoothed_.value_or(Duration::zero()); }
  Duration variation() const { return variation_; }
  Duration latest() const { return latest_; }
  Duration min() const { return min_; }

  // srtt + 4 * rttvar, at least kMinRto; kInitialRto before any sample.
  Duration rto() const;
  // The time threshold of loss detection: 9/8 * max(srtt, latest), at least kTimerGranularity
  // (9/8 * kInitialRtt before any sample).
  Duration loss_delay() const;

  void reset() { *this = RttEstimator{}; }

 private:
  std::optional<Duration> smoothed_;
  Duration variation_{};
  Duration latest_{};
  Duration min_{};
};

}  // namespace e3x
