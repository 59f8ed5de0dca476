// A path's congestion window, bytes in flight, RTT and pacing (PROTOCOL.md 13). See
// path_control.hpp.
#include "core/path_control.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

namespace e3x {

PathControl::PathControl(std::optional<CongestionAlgorithm> algorithm, CongestionConfig config)
    : algorithm_(algorithm), config_(config) {
  if (algorithm_) controller_ = make_congestion_controller(*algorithm_, config_);
}

std::size_t PathControl::window() const {
  return controller_ ? controller_->window() : std::numeric_limits<std::size_t>::max();
}

bool PathControl::window_allows(std::size_t bytes) const {
  if (!controller_) return true;
  return in_flight_ + bytes <= controller_->window() || recovery_send_;
}

void PathControl::note_sender_idle(Instant now) {
  window_limited_ = false;
  if (controller_ && in_flight_ < controller_->window()) delivery_.note_app_limited(in_flight_);
  note_limit(now, in_flight_ > 0 ? SendLimit::kApplication : SendLimit::kNone);
}

void PathControl::note_window_blocked(Instant now) {
  window_limited_ = true;
  note_limit(now, SendLimit::kCongestionWindow);
}

// Held by the peer's window with less than half the congestion window in flight, the senders
// have nothing they may send, so what is delivered meanwhile measures a receive window, not
// the path: those samples are app-limited, as a sender's with no data is. This is how a new
// channel starts on a path a stream has just used: its receive window begins at
// kReliableWindow, a quarter of a 40 ms, 100 Mbit/s product. Counted as the path's, its
// samples replaced the bandwidth the last stream had found (a few round trips of small
// messages between the two had aged it out of BBR's filter), and the next stream ramped from
// 22 to 92 Mbit/s over 1.4 s instead of 0.4 s. Not in Startup, whose window grows 2.89x a
// round and outruns the receive window as it doubles: marked there too, bunched samples
// inflated the estimate (9 congestion events and a 20 ms standing queue in sim_bbr_test). Not
// with half the window or more in flight either: a ProbeBW flight that meets the peer's window
// near 1.5 products is taken as the path's rate, as before.
void PathControl::note_flow_limited(Instant now) {
  window_limited_ = false;
  if (controller_ && !controller_->in_slow_start() && in_flight_ < controller_->window() / 2) {
    delivery_.note_app_limited(in_flight_);
  }
  note_limit(now, SendLimit::kPeerWindow);
}

void PathControl::note_limit(Instant now, SendLimit limit) {
  if (now > limit_since_) {
    const Duration spent = now - limit_since_;
    switch (limit_) {
      case SendLimit::kNone:
        break;
      case SendLimit::kPacing:
        limited_.pacing += spent;
        break;
      case SendLimit::kCongestionWindow:
        limited_.congestion_window += spent;
        break;
      case SendLimit::kPeerWindow:
        limited_.peer_window += spent;
        break;
      case SendLimit::kApplication:
        limited_.application += spent;
        break;
    }
    limit_since_ = now;
  }
  limit_ = limit;
}

double PathControl::pacing_rate() const {
  if (!controller_) return 0;
  if (const auto rate = controller_->pacing_rate()) return *rate;
  if (!rtt_.has_sample()) return 0;
  const double srtt = std::chrono::duration<double>(
                          std::max(rtt_.smoothed(), Duration{std::chrono::microseconds(100)}))
                          .count();
  const double gain = controller_->in_slow_start() ? kPacingGainSlowStart : kPacingGain;
  return gain * static_cast<double>(controller_->window()) / srtt;
}

Instant PathControl::release_time(Instant now, std::size_t bytes) {
  const double rate = pacing_rate();
  if (rate <= 0) return now;
  const double mss = static_cast<double>(config_.mss);
  const double burst = rate * std::chrono::duration<double>(kPacingBurstInterval).count();
  // Never a whole window at once: at most a quarter of it (but two packets at least).
  const double quarter = static_cast<double>(controller_->window()) / 4;
  const double capacity = std::max(std::min({burst, quarter, mss * kPacingMaxBurstPackets}),
                                   mss * kPacingMinBurstPackets);
  return pacer_.release_time(now, bytes, rate, capacity);
}

void PathControl::note_activity(Instant now) {
  if (!last_activity_ || now > *last_activity_) last_activity_ = now;
}

DeliverySnapshot PathControl::on_sent(Instant now, std::size_t bytes, bool retransmission) {
  if (controller_ && in_flight_ == 0 && last_activity_) {
    Duration idle = kCongestionIdleRestart;
    if (rtt_.has_sample()) idle = std::max(idle, 4 * rtt_.smoothed());
    if (now - *last_activity_ >= idle) {
      // What the window and threshold say is about the path as it was: start as a new
      // connection would (the RTT estimate stays, it is the same path).
      retire_controller();
      controller_ = make_congestion_controller(*algorithm_, config_);
      window_limited_ = false;
      ++idle_restarts_;
    }
  }
  note_activity(now);
  recovery_send_ = false;  // the one packet a new congestion event allows has gone
  if (controller_ && controller_->holding_back()) delivery_.note_app_limited(in_flight_);
  const DeliverySnapshot snapshot = delivery_.on_sent(now, in_flight_, retransmission);
  in_flight_ += bytes;
  if (controller_) pacer_.on_sent(bytes);
  return snapshot;
}

void PathControl::on_delivered(Instant now, Instant sent, std::size_t bytes,
                               const DeliverySnapshot* snapshot) {
  note_activity(now);
  const std::size_t before = in_flight_;
  in_flight_ -= std::min(in_flight_, bytes);
  if (!controller_) return;
  // Used its window: blocked by it since the senders last ran dry, or this close to it.
  const std::size_t window = controller_->window();
  const bool limited = window_limited_ || before + 2 * config_.mss >= window;
  controller_->on_ack(now, sent, bytes, rtt_, limited);
  if (snapshot != nullptr) {
    DeliverySample sample = delivery_.on_delivered(now, bytes, *snapshot, rtt_.min());
    sample.prior_in_flight = before;
    sample.in_flight = in_flight_;
    controller_->on_delivery_sample(now, sample);
  }
}

void PathControl::on_lost(Instant now, Instant sent, std::size_t bytes, bool in_flight) {
  note_activity(now);
  if (in_flight) in_flight_ -= std::min(in_flight_, bytes);
  if (!controller_) return;
  if (controller_->on_congestion_event(now, sent, false)) {
    ++congestion_events_;
    recovery_send_ = true;
  }
}

void PathControl::on_persistent_congestion(Instant now) {
  if (!controller_) return;
  ++persistent_congestion_;
  controller_->on_congestion_event(now, now, true);
}

void PathControl::forget(std::size_t bytes) {
  in_flight_ -= std::min(in_flight_, bytes);
}

void PathControl::reset() {
  retire_controller();
  if (algorithm_) controller_ = make_congestion_controller(*algorithm_, config_);
  rtt_.reset();
  delivery_.reset();
  pacer_.reset();
  in_flight_ = 0;
  ++generation_;
  window_limited_ = false;
  recovery_send_ = false;
  last_activity_.reset();
  limit_ = SendLimit::kNone;  // the times stay: they are the exchange's, across its paths
  ++resets_;
}

// The stats count over the path's life, not one controller's: keep what a replaced one counted.
void PathControl::retire_controller() {
  if (!controller_) return;
  retired_probes_ += controller_->rtt_probes();
}

PathFlowStats PathControl::stats() const {
  PathFlowStats s;
  s.algorithm = algorithm_ ? to_string(*algorithm_) : "none";
  s.window = window();
  s.bytes_in_flight = in_flight_;
  s.slow_start = controller_ && controller_->in_slow_start();
  if (rtt_.has_sample()) {
    s.srtt = rtt_.smoothed();
    s.rttvar = rtt_.variation();
    s.min_rtt = rtt_.min();
    s.latest_rtt = rtt_.latest();
  }
  s.rto = rtt_.rto();
  s.pacing_rate = pacing_rate();
  s.congestion_events = congestion_events_;
  s.persistent_congestion = persistent_congestion_;
  s.resets = resets_;
  s.idle_restarts = idle_restarts_;
  CongestionController::RttProbes probes = retired_probes_;
  if (controller_) probes += controller_->rtt_probes();
  s.rtt_probes = probes.drained;
  s.rtt_renewals = probes.renewed;
  s.limited = limited_;
  return s;
}

}  // namespace e3x
