// RFC 6298-style RTT estimation (PROTOCOL.md 13). See rtt_estimator.hpp.
#include "core/rtt_estimator.hpp"

#include <algorithm>

namespace e3x {

void RttEstimator::on_sample(Duration rtt) {
  if (rtt < Duration::zero()) rtt = Duration::zero();
  latest_ = rtt;
  if (!smoothed_) {
    // RFC 6298 2.2: SRTT <- R, RTTVAR <- R/2.
    smoothed_ = rtt;
    variation_ = rtt / 2;
    min_ = rtt;
    return;
  }
  min_ = std::min(min_, rtt);
  // RFC 6298 2.3 with alpha = 1/8, beta = 1/4: RTTVAR first, from the old SRTT.
  const Duration error = *smoothed_ > rtt ? *smoothed_ - rtt : rtt - *smoothed_;
  variation_ = (variation_ * 3 + error) / 4;
  smoothed_ = (*smoothed_ * 7 + rtt) / 8;
}

Duration RttEstimator::rto() const {
  if (!smoothed_) return kInitialRto;
  return std::max(*smoothed_ + std::max(4 * variation_, kTimerGranularity), kMinRto);
}

Duration RttEstimator::loss_delay() const {
  if (!smoothed_) return kInitialRtt * 9 / 8;
  const Duration base = std::max(smoothed(), latest_);
  return std::max(base * 9 / 8, kTimerGranularity);
}

}  // namespace e3x
