// Congestion controllers (PROTOCOL.md 13): NewReno and CUBIC; BBR is in congestion_bbr.cpp.
// See congestion.hpp.
#include "core/congestion.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/congestion_bbr.hpp"

namespace e3x {
namespace {

double seconds_of(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

const char* to_string(CongestionAlgorithm algorithm) {
  switch (algorithm) {
    case CongestionAlgorithm::kNewReno:
      return "newreno";
    case CongestionAlgorithm::kCubic:
      return "cubic";
    case CongestionAlgorithm::kBbr:
      return "bbr";
  }
  return "?";
}

std::optional<CongestionAlgorithm> parse_congestion_algorithm(std::string_view name) {
  for (auto algorithm :
       {CongestionAlgorithm::kNewReno, CongestionAlgorithm::kCubic, CongestionAlgorithm::kBbr}) {
    if (name == to_string(algorithm)) return algorithm;
  }
  return std::nullopt;
}

std::unique_ptr<CongestionController> make_congestion_controller(CongestionAlgorithm algorithm,
                                                                 CongestionConfig config) {
  switch (algorithm) {
    case CongestionAlgorithm::kNewReno:
      return std::make_unique<NewReno>(config);
    case CongestionAlgorithm::kCubic:
      return std::make_unique<Cubic>(config);
    case CongestionAlgorithm::kBbr:
      return std::make_unique<Bbr>(config);
  }
  return std::make_unique<NewReno>(config);
}

// ---- NewReno ------------------------------------------------------------------------------

NewReno::NewReno(CongestionConfig config)
    : config_(config),
      window_(config.initial_window),
      ssthresh_(std::numeric_limits<std::size_t>::max()) {}

void NewReno::on_ack(Instant /*now*/, Instant sent, std::size_t bytes, const RttEstimator& /*rtt*/,
                     bool window_limited) {
  // Packets sent before the recovery began say nothing about the reduced window.
  if (recovery_.in_recovery(sent) || !window_limited) return;
  if (window_ < ssthresh_) {
    window_ = std::min(window_ + bytes, config_.maximum_window);  // slow start
    return;
  }
  // Congestion avoidance: one MSS per window of acknowledged bytes.
  acked_in_avoidance_ += bytes;
  if (acked_in_avoidance_ >= window_) {
    acked_in_avoidance_ -= window_;
    window_ = std::min(window_ + config_.mss, config_.maximum_window);
  }
}

bool NewReno::on_congestion_event(Instant now, Instant sent, bool persistent) {
  const bool new_event = !recovery_.in_recovery(sent);
  if (new_event) {
    recovery_.begin(now);
    window_ = std::max(window_ / 2, config_.minimum_window);
    ssthresh_ = window_;
    acked_in_avoidance_ = 0;
  }
  if (persistent) {
    recovery_.begin(now);
    window_ = config_.minimum_window;
    acked_in_avoidance_ = 0;
  }
  return new_event;
}

// ---- CUBIC --------------------------------------------------------------------------------

Cubic::Cubic(CongestionConfig config)
    : config_(config),
      window_(config.initial_window),
      ssthresh_(std::numeric_limits<std::size_t>::max()) {}

double Cubic::w_cubic(double t) const {
  const double offset = t - k_;
  return kC * offset * offset * offset * static_cast<double>(config_.mss) + w_max_;
}

void Cubic::on_ack(Instant now, Instant sent, std::size_t bytes, const RttEstimator& rtt,
                   bool window_limited) {
  if (recovery_.in_recovery(sent)) return;
  if (!window_limited) {
    // RFC 9438 5.8: an application-limited (or flow-control-limited) sender does not grow,
    // and the time it spent so does not count toward the cubic curve: a new epoch starts
    // when the window is used again.
    epoch_start_.reset();
    return;
  }
  const double mss = static_cast<double>(config_.mss);
  if (window_ < ssthresh_) {
    window_ = std::min(window_ + bytes, config_.maximum_window);
    return;
  }
  double window = static_cast<double>(window_);
  if (!epoch_start_) {
    epoch_start_ = now;
    if (window < w_max_) {
      k_ = std::cbrt((w_max_ - window) / mss / kC);
    } else {
      k_ = 0;
      w_max_ = window;
    }
    w_est_ = window;
  }
  const double t = seconds_of(now - *epoch_start_);
  const double rtt_seconds = seconds_of(rtt.smoothed());
  // The Reno-friendly estimate grows by alpha MSS per window acknowledged (RFC 9438 4.3).
  constexpr double kAlpha = 3.0 * (1.0 - kBeta) / (1.0 + kBeta);
  w_est_ += kAlpha * mss * static_cast<double>(bytes) / window;
  if (w_cubic(t) < w_est_) {
    window = std::max(window, w_est_);
  } else {
    // Concave or convex region (RFC 9438 4.4, 4.5): toward W(t + RTT), at most 1.5x per RTT.
    const double target = std::clamp(w_cubic(t + rtt_seconds), window, 1.5 * window);
    window += (target - window) * static_cast<double>(bytes) / window;
  }
  window_ = std::min(static_cast<std::size_t>(window), config_.maximum_window);
}

bool Cubic::on_congestion_event(Instant now, Instant sent, bool persistent) {
  const bool new_event = !recovery_.in_recovery(sent);
  if (new_event) {
    recovery_.begin(now);
    epoch_start_.reset();
    const double window = static_cast<double>(window_);
    // Fast convergence (RFC 9438 4.7): a flow whose window did not reach the last maximum
    // lowers that maximum further, to make room for newer flows.
    w_max_ = window < w_max_ ? window * (1.0 + kBeta) / 2.0 : window;
    window_ = std::max(static_cast<std::size_t>(window * kBeta), config_.minimum_window);
    ssthresh_ = window_;
  }
  if (persistent) {
    recovery_.begin(now);
    epoch_start_.reset();
    window_ = config_.minimum_window;
  }
  return new_event;
}

}  // namespace e3x
