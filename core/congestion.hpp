// Congestion control of a path (PROTOCOL.md section 13): how many bytes of reliable channel
// packets may be in flight on an exchange's current path, shared by all its reliable channels.
//
// The interface follows the shape of quinn-proto's congestion::Controller: the owner reports
// deliveries and losses with the time each packet was sent, and asks for the window. The
// controller knows nothing about channels, sequence numbers or timers; the loss detection
// that feeds it lives in the channels (reliable_channel.cpp) and the bookkeeping of bytes in
// flight and pacing in PathControl (path_control.hpp). Three algorithms: NewReno (RFC 9002
// section 7, RFC 6582), CUBIC (RFC 9438), and BBR (congestion_bbr.hpp), which models the path
// from delivery rate samples (delivery_rate.hpp) instead of reacting to loss.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

#include "core/delivery_rate.hpp"
#include "core/rtt_estimator.hpp"
#include "core/time.hpp"

namespace e3x {

enum class CongestionAlgorithm { kNewReno, kCubic, kBbr };
const char* to_string(CongestionAlgorithm algorithm);
// "newreno", "cubic" or "bbr" (as to_string names them).
std::optional<CongestionAlgorithm> parse_congestion_algorithm(std::string_view name);

// The largest packet a reliable channel sends: an INNER of at most 1400 bytes (PROTOCOL.md 6).
inline constexpr std::size_t kCongestionMss = 1400;

struct CongestionConfig {
  std::size_t mss = kCongestionMss;
  std::size_t initial_window = 10 * kCongestionMss;   // RFC 9002 7.2 (10 datagrams)
  std::size_t minimum_window = 2 * kCongestionMss;    // RFC 9002 7.2
  std::size_t maximum_window = std::size_t{1} << 30;  // a bound, never reached in practice
};

class CongestionController {
 public:
  virtual ~CongestionController() = default;

  virtual CongestionAlgorithm algorithm() const = 0;
  // Bytes of congestion-controlled packets that may be in flight.
  virtual std::size_t window() const = 0;
  virtual bool in_slow_start() const = 0;

  // A packet of `bytes` sent at `sent` is known delivered. `window_limited` says whether the
  // sender has been using its window; growth is only earned by a window that was used (RFC
  // 9002 7.8), not by an application or a peer's flow-control window holding the sender back.
  virtual void on_ack(Instant now, Instant sent, std::size_t bytes, const RttEstimator& rtt,
                      bool window_limited) = 0;
  // A packet sent at `sent` was declared lost. Returns true when this starts a new congestion
  // event (the window is reduced once per round trip: losses of packets sent before the
  // current recovery began are part of it). `persistent`: the path has been silent for
  // several timeouts: the window collapses to the minimum whatever the recovery state.
  virtual bool on_congestion_event(Instant now, Instant sent, bool persistent) = 0;

  // For controllers that model the path (BBR): every delivery's rate sample, after on_ack.
  // Loss-based controllers ignore it.
  virtual void on_delivery_sample(Instant /*now*/, const DeliverySample& /*sample*/) {}
  // The rate (bytes per second) the controller wants packets paced at; nullopt: PathControl
  // paces by window / srtt (loss-based controllers, and a model before its first sample).
  virtual std::optional<double> pacing_rate() const { return std::nullopt; }
  // The controller keeps the flight below what the path takes on purpose (BBR's ProbeRTT):
  // deliveries of what is sent meanwhile are application limited samples.
  virtual bool holding_back() const { return false; }
  // How often a model-based controller drained the flight to measure the RTT (BBR's
  // ProbeRTT) and how often it renewed an expired minimum without draining; zero for the
  // loss-based ones. For stats: where a stream's time went.
  struct RttProbes {
    std::uint64_t drained = 0;
    std::uint64_t renewed = 0;

    // A path's counts add up over the controllers it has had (PathControl).
    RttProbes& operator+=(const RttProbes& other) {
      drained += other.drained;
      renewed += other.renewed;
      return *this;
    }
  };
  virtual RttProbes rtt_probes() const { return {}; }
};

std::unique_ptr<CongestionController> make_congestion_controller(CongestionAlgorithm algorithm,
                                                                 CongestionConfig config = {});

// Shared by both algorithms: slow start threshold and the recovery period.
class RecoveryState {
 public:
  // Packets sent at or before the start of the current recovery belong to it.
  bool in_recovery(Instant sent) const { return start_ && sent <= *start_; }
  void begin(Instant now) { start_ = now; }

 private:
  std::optional<Instant> start_;
};

// NewReno (RFC 9002 section 7.3, B.5-B.9): slow start doubles the window per round trip,
// congestion avoidance adds one MSS per window acknowledged, a congestion event halves it.
class NewReno final : public CongestionController {
 public:
  explicit NewReno(CongestionConfig config);
  CongestionAlgorithm algorithm() const override { return CongestionAlgorithm::kNewReno; }
  std::size_t window() const override { return window_; }
  bool in_slow_start() const override { return window_ < ssthresh_; }
  void on_ack(Instant now, Instant sent, std::size_t bytes, const RttEstimator& rtt,
              bool window_limited) override;
  bool on_congestion_event(Instant now, Instant sent, bool persistent) override;

 private:
  CongestionConfig config_;
  std::size_t window_;
  std::size_t ssthresh_;
  std::size_t acked_in_avoidance_ = 0;  // bytes acknowledged toward the next MSS of growth
  RecoveryState recovery_;
};

// CUBIC (RFC 9438): the window follows W(t) = C * (t - K)^3 + W_max after a reduction to
// beta * W_max, never slower than the Reno-friendly estimate; fast convergence releases
// bandwidth to newer flows; slow start as NewReno.
class Cubic final : public CongestionController {
 public:
  explicit Cubic(CongestionConfig config);
  CongestionAlgorithm algorithm() const override { return CongestionAlgorithm::kCubic; }
  std::size_t window() const override { return window_; }
  bool in_slow_start() const override { return window_ < ssthresh_; }
  void on_ack(Instant now, Instant sent, std::size_t bytes, const RttEstimator& rtt,
              bool window_limited) override;
  bool on_congestion_event(Instant now, Instant sent, bool persistent) override;

  static constexpr double kC = 0.4;     // RFC 9438 4.2, in MSS per second cubed
  static constexpr double kBeta = 0.7;  // RFC 9438 4.6: window kept after a congestion event

 private:
  double w_cubic(double t_seconds) const;  // bytes

  CongestionConfig config_;
  std::size_t window_;
  std::size_t ssthresh_;
  double w_max_ = 0;                    // bytes: the window before the last reduction
  double k_ = 0;                        // seconds from the epoch start to reach w_max_ again
  double w_est_ = 0;                    // bytes: the Reno-friendly estimate
  std::optional<Instant> epoch_start_;  // start of the current congestion avoidance epoch
  RecoveryState recovery_;
};

}  // namespace e3x
