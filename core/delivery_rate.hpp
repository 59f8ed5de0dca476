// Delivery rate estimation (PROTOCOL.md section 13), for a congestion controller that models
// the path (BBR, congestion_bbr.hpp) rather than reacting to loss. The design is that of
// draft-cheng-iccrg-delivery-rate-estimation (Linux's tcp_rate.c does the same): when a
// packet is sent it takes a snapshot of how much the path had delivered and when; when it is
// delivered, the bytes delivered since that snapshot over the time they took are a sample of
// the rate the path delivers at. The interval is the longer of the send interval and the ack
// interval, so neither a burst of sends nor a burst of acks (aggregation) inflates it.
//
// A sample is "application limited" when the packet was sent while the senders had less to
// send than the window allowed: such a sample says how fast the application went, not the
// path, and may only raise an estimate of the path's bandwidth, never lower it.
//
// The channels keep the snapshot with each packet (Channel::Sending::snapshot) and hand it
// back on delivery; PathControl owns the estimator. NewReno and CUBIC ignore the samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/time.hpp"

namespace e3x {

// What a packet carries from its send to its delivery.
struct DeliverySnapshot {
  std::uint64_t delivered = 0;  // bytes the path had delivered when the packet left
  Instant delivered_time{};     // when that count last moved (or the flight last started)
  Instant first_sent_time{};    // send time of the packet whose delivery began the interval
  Instant sent_time{};          // this packet's send
  bool app_limited = false;     // sent while the senders were short of data
  // Its delivery gives no RTT sample: it was sent before (Karn), or it is only presumed
  // delivered (a duplicate ack showed some packet arrived, not which).
  bool rtt_ambiguous = false;
};

// What one delivery tells a model controller.
struct DeliverySample {
  std::size_t bytes = 0;              // the packet's
  std::uint64_t delivered = 0;        // the path's total, this packet included
  std::uint64_t prior_delivered = 0;  // the total when the packet was sent
  double rate = 0;                    // bytes per second; 0: no valid sample
  Duration interval{};                // what `rate` was measured over
  bool app_limited = false;
  std::optional<Duration> rtt;      // from this packet's send, when sent once
  std::size_t prior_in_flight = 0;  // the path's flight before this delivery
  std::size_t in_flight = 0;        // ... and after
};

class DeliveryRateEstimator {
 public:
  // A packet leaves with `in_flight` bytes already in flight (not counting it).
  DeliverySnapshot on_sent(Instant now, std::size_t in_flight, bool rtt_ambiguous);
  // A packet is delivered: the sample it gives. `min_rtt`: intervals shorter than it are
  // not trusted (a sample over less than a round trip measures the ack clock, not the path).
  DeliverySample on_delivered(Instant now, std::size_t bytes, const DeliverySnapshot& snapshot,
                              Duration min_rtt);
  // The senders ran out of data with `in_flight` bytes in flight and the window not full:
  // samples of packets sent until that flight is delivered are application limited.
  void note_app_limited(std::size_t in_flight);
  bool app_limited() const { return app_limited_until_ != 0; }
  std::uint64_t delivered() const { return delivered_; }
  void reset() { *this = DeliveryRateEstimator{}; }

 private:
  std::uint64_t delivered_ = 0;
  Instant delivered_time_{};
  Instant first_sent_time_{};
  // Non-zero: delivered_ must pass this before samples stop being application limited.
  std::uint64_t app_limited_until_ = 0;
  bool started_ = false;
};

}  // namespace e3x
