// BBR (PROTOCOL.md section 13): a congestion controller that models the path instead of
// reacting to loss, after version 1 as draft-cardwell-iccrg-bbr-congestion-control describes
// it. Two numbers make the model: the bottleneck bandwidth (BtlBw, the largest delivery rate
// sampled over about ten round trips) and the round-trip propagation time (RTprop, the least
// RTT sampled over ten seconds). Their product is the path's bandwidth-delay product (BDP).
// The sender paces at gain * BtlBw and keeps at most cwnd_gain * BDP in flight; the gains
// depend on the state:
//
//   Startup   pacing and cwnd gain 2/ln 2: doubles the sending rate every round trip, until
//             three rounds in a row raise BtlBw by less than a quarter (the pipe is full).
//   Drain     pacing gain ln 2 / 2: empties the queue Startup built, until the flight is
//             down to one BDP.
//   ProbeBW   pacing gain cycles 1.25, 0.75, 1 x 6, one phase per RTprop: a round that
//             probes for more bandwidth, one that drains what the probe queued, and six at
//             the estimate; cwnd gain 2.
//   ProbeRTT  when RTprop has not been sampled for 10 s: the flight goes down to half a BDP
//             (at least 4 packets) for 200 ms and a round trip, so the queue empties and the
//             true RTprop shows. Version 1 went down to 4 packets, stopping the stream for
//             that time; half a BDP is what versions 2 and 3 hold, and it empties the queue
//             just as well while the bottleneck stays half busy. Unlike version 1, not when
//             an RTT of those 10 s came within 9/8 of RTprop: the queue was nearly empty
//             then, and RTprop is renewed as it stands (update_min_rtt).
//
// Random loss does not change the model: a lost packet is simply resent. Only persistent
// congestion (the path silent for several timeouts) caps the window at its minimum until
// deliveries grow it back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "core/congestion.hpp"

namespace e3x {

// The largest value seen over the last `length` rounds (exact, at most one entry per round).
class WindowedMaxFilter {
 public:
  explicit WindowedMaxFilter(std::uint64_t length) : length_(length) {}
  void update(double value, std::uint64_t round);
  double get() const { return entries_.empty() ? 0 : entries_.front().value; }
  void reset() { entries_.clear(); }

 private:
  struct Entry {
    double value;
    std::uint64_t round;
  };
  std::uint64_t length_;
  std::deque<Entry> entries_;  // values decreasing, rounds increasing
};

class Bbr final : public CongestionController {
 public:
  enum class Mode { kStartup, kDrain, kProbeBw, kProbeRtt };

  static constexpr double kHighGain = 2.885;  // 2 / ln 2: doubles the rate per round
  static constexpr double kDrainGain = 1.0 / kHighGain;
  static constexpr double kCwndGain = 2.0;
  static constexpr double kPacingGainCycle[] = {1.25, 0.75, 1, 1, 1, 1, 1, 1};
  static constexpr std::size_t kGainCycleLength = 8;
  static constexpr std::uint64_t kBtlBwFilterRounds = 10;
  static constexpr Duration kMinRttFilter = seconds(10);
  // RTTs within 9/8 of RTprop count as the path without a queue: an expired RTprop is renewed
  // by one (update_min_rtt), not probed.
  static constexpr int kSimilarRttNumerator = 9;
  static constexpr int kSimilarRttDenominator = 8;
  static constexpr Duration kProbeRttDuration = milliseconds(200);
  static constexpr std::size_t kMinPipePackets = 4;
  static constexpr double kProbeRttCwndGain = 0.5;  // of the BDP, during ProbeRTT
  static constexpr double kFullBwGrowth = 1.25;
  static constexpr int kFullBwRounds = 3;

  explicit Bbr(CongestionConfig config);
  CongestionAlgorithm algorithm() const override { return CongestionAlgorithm::kBbr; }
  std::size_t window() const override;
  bool in_slow_start() const override { return mode_ == Mode::kStartup; }
  // Growth comes from delivery samples, not from acknowledged bytes.
  void on_ack(Instant /*now*/, Instant /*sent*/, std::size_t /*bytes*/, const RttEstimator& /*rtt*/,
              bool /*window_limited*/) override {}
  bool on_congestion_event(Instant now, Instant sent, bool persistent) override;
  void on_delivery_sample(Instant now, const DeliverySample& sample) override;
  std::optional<double> pacing_rate() const override;
  bool holding_back() const override { return mode_ == Mode::kProbeRtt; }
  RttProbes rtt_probes() const override { return {probe_rtt_entries_, min_rtt_renewals_}; }

  // ---- the model, for tests and stats ----
  Mode mode() const { return mode_; }
  double bottleneck_bandwidth() const { return btl_bw_.get(); }  // bytes per second
  std::optional<Duration> min_rtt() const { return min_rtt_; }
  double pacing_gain() const { return pacing_gain_; }
  double cwnd_gain() const { return cwnd_gain_; }
  std::size_t cycle_index() const { return cycle_index_; }
  std::uint64_t round_count() const { return round_count_; }
  bool filled_pipe() const { return filled_pipe_; }
  // gain * BDP in bytes (the initial window while the model has no RTprop or BtlBw).
  std::size_t inflight(double gain) const;

 private:
  void update_round(const DeliverySample& sample);
  void update_btl_bw(const DeliverySample& sample);
  void check_cycle_phase(Instant now, const DeliverySample& sample);
  void check_full_pipe(const DeliverySample& sample);
  void check_drain(Instant now, const DeliverySample& sample);
  void update_min_rtt(Instant now, const DeliverySample& sample);
  void check_probe_rtt(Instant now, const DeliverySample& sample);
  void stamp_min_rtt(Instant now);
  void update_pacing_rate();
  void update_cwnd(const DeliverySample& sample);
  void enter_startup();
  void enter_probe_bw(Instant now);
  void advance_cycle_phase(Instant now);
  std::size_t min_pipe_window() const { return kMinPipePackets * config_.mss; }
  std::size_t probe_rtt_window() const {
    return std::max(min_pipe_window(), inflight(kProbeRttCwndGain));
  }
  std::uint32_t next_random();

  CongestionConfig config_;
  Mode mode_ = Mode::kStartup;
  WindowedMaxFilter btl_bw_{kBtlBwFilterRounds};
  std::optional<Duration> min_rtt_;
  Instant min_rtt_stamp_{};
  bool min_rtt_expired_ = false;
  std::optional<Duration> least_rtt_since_stamp_;  // the least RTT sampled since min_rtt_stamp_
  std::uint64_t probe_rtt_entries_ = 0;
  std::uint64_t min_rtt_renewals_ = 0;
  std::uint64_t round_count_ = 0;
  std::uint64_t next_round_delivered_ = 0;
  bool round_start_ = false;
  double pacing_gain_ = kHighGain;
  double cwnd_gain_ = kHighGain;
  double pacing_rate_ = 0;  // bytes per second; 0 before the first bandwidth sample
  std::size_t cwnd_;
  std::size_t prior_cwnd_ = 0;  // saved on entering ProbeRTT, restored after
  bool filled_pipe_ = false;
  double full_bw_ = 0;
  int full_bw_count_ = 0;
  std::size_t cycle_index_ = 0;
  Instant cycle_stamp_{};
  bool loss_in_cycle_phase_ = false;
  std::optional<Instant> probe_rtt_done_;
  bool probe_rtt_round_done_ = false;
  std::uint32_t random_ = 0;  // xorshift state, seeded from the first sample's time
  RecoveryState recovery_;    // for counting congestion events only
};

const char* to_string(Bbr::Mode mode);

}  // namespace e3x
