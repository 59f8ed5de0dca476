// Delivery rate samples (PROTOCOL.md 13). See delivery_rate.hpp.
#include "core/delivery_rate.hpp"

#include <algorithm>
#include <chrono>

namespace e3x {

DeliverySnapshot DeliveryRateEstimator::on_sent(Instant now, std::size_t in_flight,
                                                bool rtt_ambiguous) {
  if (in_flight == 0 || !started_) {
    // The flight starts (again): the interval begins with this packet, not with the last
    // delivery before a pause.
    first_sent_time_ = now;
    delivered_time_ = now;
    started_ = true;
  }
  return DeliverySnapshot{.delivered = delivered_,
                          .delivered_time = delivered_time_,
                          .first_sent_time = first_sent_time_,
                          .sent_time = now,
                          .app_limited = app_limited_until_ != 0,
                          .rtt_ambiguous = rtt_ambiguous};
}

DeliverySample DeliveryRateEstimator::on_delivered(Instant now, std::size_t bytes,
                                                   const DeliverySnapshot& snapshot,
                                                   Duration min_rtt) {
  delivered_ += bytes;
  delivered_time_ = now;
  // The next interval starts at this packet's send.
  first_sent_time_ = std::max(first_sent_time_, snapshot.sent_time);
  if (app_limited_until_ != 0 && delivered_ > app_limited_until_) app_limited_until_ = 0;

  DeliverySample sample;
  sample.bytes = bytes;
  sample.delivered = delivered_;
  sample.prior_delivered = snapshot.delivered;
  sample.app_limited = snapshot.app_limited;
  if (!snapshot.rtt_ambiguous && now >= snapshot.sent_time) sample.rtt = now - snapshot.sent_time;
  const Duration send_elapsed = snapshot.sent_time - snapshot.first_sent_time;
  const Duration ack_elapsed = now - snapshot.delivered_time;
  const Duration interval = std::max(send_elapsed, ack_elapsed);
  if (interval > Duration::zero() && interval >= min_rtt) {
    sample.interval = interval;
    sample.rate = static_cast<double>(delivered_ - snapshot.delivered) /
                  std::chrono::duration<double>(interval).count();
  }
  return sample;
}

void DeliveryRateEstimator::note_app_limited(std::size_t in_flight) {
  // At least 1, so that 0 keeps meaning "not limited".
  app_limited_until_ = std::max<std::uint64_t>(delivered_ + in_flight, 1);
}

}  // namespace e3x
