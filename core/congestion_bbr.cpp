// BBR congestion control (PROTOCOL.md 13). See congestion_bbr.hpp; the structure follows
// draft-cardwell-iccrg-bbr-congestion-control (version 1), section by section.
#include "core/congestion_bbr.hpp"

#include <algorithm>
#include <chrono>

namespace e3x {
namespace {

double seconds_of(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

const char* to_string(Bbr::Mode mode) {
  switch (mode) {
    case Bbr::Mode::kStartup:
      return "startup";
    case Bbr::Mode::kDrain:
      return "drain";
    case Bbr::Mode::kProbeBw:
      return "probe_bw";
    case Bbr::Mode::kProbeRtt:
      return "probe_rtt";
  }
  return "?";
}

void WindowedMaxFilter::update(double value, std::uint64_t round) {
  // Entries older than the window leave; a new value retires every entry it is at least as
  // large as (they would leave before it and never be the maximum again).
  while (!entries_.empty() && entries_.front().round + length_ <= round) entries_.pop_front();
  if (!entries_.empty() && entries_.back().round == round && entries_.back().value >= value) {
    return;  // dominated by an entry of the same round
  }
  while (!entries_.empty() && entries_.back().value <= value) entries_.pop_back();
  entries_.push_back(Entry{value, round});
}

Bbr::Bbr(CongestionConfig config) : config_(config), cwnd_(config.initial_window) {}

std::size_t Bbr::window() const {
  if (mode_ == Mode::kProbeRtt) return std::min(cwnd_, probe_rtt_window());
  return cwnd_;
}

std::optional<double> Bbr::pacing_rate() const {
  if (pacing_rate_ <= 0) return std::nullopt;
  return pacing_rate_;
}

std::size_t Bbr::inflight(double gain) const {
  const double bw = btl_bw_.get();
  if (!min_rtt_ || bw <= 0) return config_.initial_window;
  const double bdp = bw * seconds_of(*min_rtt_);
  return static_cast<std::size_t>(gain * bdp);
}

std::uint32_t Bbr::next_random() {
  random_ ^= random_ << 13;
  random_ ^= random_ >> 17;
  random_ ^= random_ << 5;
  return random_;
}

bool Bbr::on_congestion_event(Instant now, Instant sent, bool persistent) {
  loss_in_cycle_phase_ = true;
  const bool new_event = !recovery_.in_recovery(sent);
  if (new_event) recovery_.begin(now);
  if (persistent) {
    // Several timeouts with nothing delivered: whatever the model says, the path is not
    // delivering it. Start again from the minimum; deliveries grow the window back to the
    // model's target within a few round trips (update_cwnd).
    recovery_.begin(now);
    cwnd_ = min_pipe_window();
  }
  return new_event;
}

void Bbr::on_delivery_sample(Instant now, const DeliverySample& sample) {
  if (random_ == 0) {
    random_ = static_cast<std::uint32_t>(now.time_since_epoch().count()) | 1u;
  }
  // The model and the state (draft 4.1.1 BBRUpdateModelAndState) ...
  update_round(sample);
  update_btl_bw(sample);
  check_cycle_phase(now, sample);
  check_full_pipe(sample);
  check_drain(now, sample);
  update_min_rtt(now, sample);
  check_probe_rtt(now, sample);
  // ... then what the sender is allowed (BBRUpdateControlParameters).
  update_pacing_rate();
  update_cwnd(sample);
}

// A round trip ends when a packet sent after the previous round's end is delivered.
void Bbr::update_round(const DeliverySample& sample) {
  round_start_ = false;
  if (sample.prior_delivered >= next_round_delivered_) {
    next_round_delivered_ = sample.delivered;
    ++round_count_;
    round_start_ = true;
  }
}

// An application-limited sample only counts when it shows more than the estimate: it cannot
// tell that the path is slower than that, only that the sender was.
void Bbr::update_btl_bw(const DeliverySample& sample) {
  if (sample.rate <= 0) return;
  if (sample.rate >= btl_bw_.get() || !sample.app_limited)
    btl_bw_.update(sample.rate, round_count_);
}

void Bbr::enter_startup() {
  mode_ = Mode::kStartup;
  pacing_gain_ = kHighGain;
  cwnd_gain_ = kHighGain;
}

void Bbr::enter_probe_bw(Instant now) {
  mode_ = Mode::kProbeBw;
  pacing_gain_ = 1;
  cwnd_gain_ = kCwndGain;
  // A random phase other than the draining one (flows that start together do not probe in
  // step); advance_cycle_phase then moves to the next.
  cycle_index_ = kGainCycleLength - 1 - next_random() % (kGainCycleLength - 1);
  advance_cycle_phase(now);
}

void Bbr::advance_cycle_phase(Instant now) {
  cycle_stamp_ = now;
  cycle_index_ = (cycle_index_ + 1) % kGainCycleLength;
  pacing_gain_ = kPacingGainCycle[cycle_index_];
  loss_in_cycle_phase_ = false;
}

// ProbeBW phases last one RTprop; the probing phase also until the flight reached the
// higher target (or loss showed the path has no more), the draining one ends early once the
// flight is back at one BDP.
void Bbr::check_cycle_phase(Instant now, const DeliverySample& sample) {
  if (mode_ != Mode::kProbeBw) return;
  bool next = min_rtt_ && now - cycle_stamp_ > *min_rtt_;
  if (pacing_gain_ > 1) {
    next = next && (loss_in_cycle_phase_ || sample.prior_in_flight >= inflight(pacing_gain_));
  } else if (pacing_gain_ < 1) {
    next = next || sample.prior_in_flight <= inflight(1);
  }
  if (next) advance_cycle_phase(now);
}

// The pipe is full when three round trips in a row (each measured without the application
// holding the sender back) raised BtlBw by less than 25%.
void Bbr::check_full_pipe(const DeliverySample& sample) {
  if (filled_pipe_ || !round_start_ || sample.app_limited) return;
  const double bw = btl_bw_.get();
  if (bw >= full_bw_ * kFullBwGrowth) {
    full_bw_ = bw;
    full_bw_count_ = 0;
    return;
  }
  if (++full_bw_count_ >= kFullBwRounds) filled_pipe_ = true;
}

void Bbr::check_drain(Instant now, const DeliverySample& sample) {
  if (mode_ == Mode::kStartup && filled_pipe_) {
    mode_ = Mode::kDrain;
    pacing_gain_ = kDrainGain;
    cwnd_gain_ = kHighGain;
  }
  if (mode_ == Mode::kDrain && sample.in_flight <= inflight(1)) enter_probe_bw(now);
}

// RTprop is the least RTT of the last kMinRttFilter. When it is that old, version 1 drains the
// flight (ProbeRTT) to see the path without a queue. We do that only when the RTTs of those
// 10 s give cause: when the least of them came within an eighth of RTprop, the queue was
// nearly empty at that moment and a drain would show about the RTprop we hold, so the
// minimum is renewed as it stands. A single stream on a path it has to itself keeps no
// standing queue and so never needs ProbeRTT, which cost it 1.3% of a clean 100 Mbit/s path
// every 10 s in the simulator (SimBbr.FillsACleanPathLikeTheOthers). A queue that never
// falls below an eighth of RTprop (ours or other flows'), or a path that got longer, still
// leads to ProbeRTT as before.
void Bbr::update_min_rtt(Instant now, const DeliverySample& sample) {
  if (sample.rtt && (!least_rtt_since_stamp_ || *sample.rtt < *least_rtt_since_stamp_)) {
    least_rtt_since_stamp_ = *sample.rtt;
  }
  min_rtt_expired_ = min_rtt_ && now > min_rtt_stamp_ + kMinRttFilter;
  if (min_rtt_expired_ && mode_ != Mode::kProbeRtt && least_rtt_since_stamp_ &&
      *least_rtt_since_stamp_ * kSimilarRttDenominator <= *min_rtt_ * kSimilarRttNumerator) {
    stamp_min_rtt(now);
    min_rtt_expired_ = false;
    ++min_rtt_renewals_;
  }
  if (sample.rtt && (!min_rtt_ || *sample.rtt <= *min_rtt_ || min_rtt_expired_)) {
    min_rtt_ = *sample.rtt;
    stamp_min_rtt(now);
  }
}

void Bbr::stamp_min_rtt(Instant now) {
  min_rtt_stamp_ = now;
  least_rtt_since_stamp_.reset();
}

void Bbr::check_probe_rtt(Instant now, const DeliverySample& sample) {
  if (mode_ != Mode::kProbeRtt && min_rtt_expired_) {
    mode_ = Mode::kProbeRtt;
    ++probe_rtt_entries_;
    pacing_gain_ = 1;
    prior_cwnd_ = std::max(prior_cwnd_, cwnd_);
    probe_rtt_done_.reset();
  }
  if (mode_ != Mode::kProbeRtt) return;
  if (!probe_rtt_done_ && sample.in_flight <= probe_rtt_window()) {
    // The flight is down: hold it there for 200 ms and at least one round trip.
    probe_rtt_done_ = now + kProbeRttDuration;
    probe_rtt_round_done_ = false;
    next_round_delivered_ = sample.delivered;
  } else if (probe_rtt_done_) {
    if (round_start_) probe_rtt_round_done_ = true;
    if (probe_rtt_round_done_ && now > *probe_rtt_done_) {
      stamp_min_rtt(now);
      cwnd_ = std::max(cwnd_, prior_cwnd_);
      prior_cwnd_ = 0;
      if (filled_pipe_) {
        enter_probe_bw(now);
      } else {
        enter_startup();
      }
    }
  }
}

void Bbr::update_pacing_rate() {
  const double bw = btl_bw_.get();
  if (bw <= 0) return;
  if (pacing_rate_ <= 0 && min_rtt_ && *min_rtt_ > Duration::zero()) {
    // The first sample: Startup begins from the window over the round trip at its gain, as
    // Linux's BBR does (bbr_init_pacing_rate_from_rtt), not from the sample. The first
    // samples of a fresh controller are often a trickle (a request and its answer before a
    // transfer: iperf3's control connection, an HTTP request), and Startup, which never
    // lowers the rate, would otherwise double up from there: ten round trips from 0.1 Mbit/s
    // to 100, where the window starts at 8 Mbit/s on a 40 ms path.
    pacing_rate_ = kHighGain * static_cast<double>(cwnd_) / seconds_of(*min_rtt_);
  }
  const double rate = pacing_gain_ * bw;
  // Startup never lowers the rate: an early sample may undershoot.
  if (filled_pipe_ || rate > pacing_rate_) pacing_rate_ = rate;
}

void Bbr::update_cwnd(const DeliverySample& sample) {
  // The target leaves room for three pacing quanta (about a millisecond of sending each),
  // so acks that arrive in bursts do not stall a sender that is at the target.
  const double quantum =
      std::clamp(pacing_rate_ * 0.001, 2.0 * static_cast<double>(config_.mss), 64.0 * 1024);
  const std::size_t target = inflight(cwnd_gain_) + static_cast<std::size_t>(3 * quantum);
  if (filled_pipe_) {
    cwnd_ = std::min(cwnd_ + sample.bytes, target);
  } else if (cwnd_ < target || sample.delivered < config_.initial_window) {
    cwnd_ += sample.bytes;
  }
  cwnd_ = std::clamp(cwnd_, min_pipe_window(), config_.maximum_window);
}

}  // namespace e3x
