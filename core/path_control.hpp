// What an exchange's current path allows its reliable channels (PROTOCOL.md section 13): the
// RTT estimate, the congestion window and the bytes in flight against it, and pacing. One per
// exchange, shared by every reliable channel of it; a path change resets it (a new
// generation: packets sent before no longer count against the new path's window).
//
// Channels do the per-packet bookkeeping (what is in flight, acknowledged, lost) and report
// it here; the exchange's scheduler asks window_allows() and release_time() before it lets a
// channel send. A PathControl made "unlimited" (no controller) has the RTT estimate only:
// a channel on its own (unit tests) uses one, so it sends whatever its peer's window allows.
//
// Unreliable channel packets, acks and handshakes are not congestion controlled and are not
// counted here (they are never acknowledged, so they cannot be "in flight").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/congestion.hpp"
#include "core/delivery_rate.hpp"
#include "core/pacer.hpp"
#include "core/rtt_estimator.hpp"
#include "core/time.hpp"

namespace e3x {

// The default for exchanges. NewReno is the default: see core-decisions.md for why.
inline constexpr CongestionAlgorithm kDefaultCongestionAlgorithm = CongestionAlgorithm::kNewReno;

// Pacing: the bucket refills at gain * window / srtt, or at the controller's own rate when it
// has one (BBR: a gain times its bottleneck bandwidth); a burst is at most this much sending.
inline constexpr double kPacingGainSlowStart = 2.0;
inline constexpr double kPacingGain = 1.25;
inline constexpr Duration kPacingBurstInterval = milliseconds(2);
inline constexpr std::size_t kPacingMinBurstPackets = 2;
inline constexpr std::size_t kPacingMaxBurstPackets = 256;

// A path with nothing in flight and nothing sent or acknowledged for this long (or 4 smoothed
// RTTs, if longer: the receive window's idle rule, kReliableWindowIdle) starts its next packet
// with a fresh controller: initial window, slow start, no threshold. The controller outlives
// streams (one per exchange), and a threshold a lossy episode left would otherwise hold every
// later stream to one packet of growth per round trip, however good the path has become;
// Linux no longer carries ssthresh from one connection to the next for the same reason
// (net.ipv4.tcp_no_ssthresh_metrics_save).
inline constexpr Duration kCongestionIdleRestart = seconds(1);

// Why the senders on a path last stopped sending, and so where their time goes until they run
// again: Linux keeps the same account for TCP (tcp_info's busy, rwnd_limited and
// sndbuf_limited times), and it answers "why is my stream slower than the link?". A path that
// is the limit spends its time paced; a stream that could go faster spends it waiting on the
// congestion window (the controller's model), the peer's advertised windows (the receiving
// application or flow control) or its own application (nothing to send while packets are in
// flight). A quiet path (nothing to send, nothing in flight) is not charged at all.
enum class SendLimit : std::uint8_t {
  kNone,
  kPacing,
  kCongestionWindow,
  kPeerWindow,
  kApplication
};

struct SendLimitTimes {
  Duration pacing{};
  Duration congestion_window{};
  Duration peer_window{};
  Duration application{};
};

struct PathFlowStats {
  const char* algorithm = "none";
  std::size_t window = 0;  // bytes; SIZE_MAX when unlimited
  std::size_t bytes_in_flight = 0;
  bool slow_start = false;
  std::optional<Duration> srtt, rttvar, min_rtt, latest_rtt;
  Duration rto{};
  double pacing_rate = 0;  // bytes per second; 0 when not pacing
  std::uint64_t congestion_events = 0;
  std::uint64_t persistent_congestion = 0;
  std::uint64_t resets = 0;
  std::uint64_t idle_restarts = 0;  // fresh controllers after kCongestionIdleRestart quiet
  std::uint64_t rtt_probes = 0;     // BBR's ProbeRTT drains, every controller of the path's
  std::uint64_t rtt_renewals = 0;   // expired minimum RTTs renewed without a drain
  SendLimitTimes limited;           // since the path control began, up to the last note_limit
};

class PathControl {
 public:
  // With an algorithm: congestion controlled and paced. Without: unlimited (RTT only).
  explicit PathControl(std::optional<CongestionAlgorithm> algorithm = kDefaultCongestionAlgorithm,
                       CongestionConfig config = {});

  RttEstimator& rtt() { return rtt_; }
  const RttEstimator& rtt() const { return rtt_; }
  bool limited() const { return controller_ != nullptr; }
  std::size_t window() const;
  std::size_t bytes_in_flight() const { return in_flight_; }
  // Packets record the generation they were sent in; after reset() their verdicts do not
  // touch the new path's accounting.
  std::uint32_t generation() const { return generation_; }

  // ---- asked by the scheduler ----
  // May a packet of `bytes` enter the network by the congestion window? True also once after
  // a new congestion event began (the retransmission that repairs it goes at once, RFC 9002
  // 7.3.2 and RFC 6675 section 5), and always when unlimited.
  bool window_allows(std::size_t bytes) const;
  // When pacing lets a packet of `bytes` go: `now`, or later. Always `now` when unlimited or
  // before any RTT sample.
  Instant release_time(Instant now, std::size_t bytes);
  // The scheduler had packets the window would not take (the window is the limit), or had
  // nothing to send while the window had room (the application or flow control is).
  // Idle senders with room in the window also make the delivery rate samples of what is sent
  // next application limited (delivery_rate.hpp).
  // The senders have data that the peers' flow-control windows hold back: not window limited,
  // but not application limited either (the samples show what the path delivers).
  // Each also charges the time since the previous call to the reason given then (SendLimit):
  // blocked by the window, idle (application limited while packets are in flight, else quiet),
  // held back by the peers' windows, or waiting for the pacer (note_paced).
  void note_window_blocked(Instant now);
  void note_sender_idle(Instant now);
  void note_flow_limited(Instant now);
  void note_paced(Instant now) { note_limit(now, SendLimit::kPacing); }

  // ---- reported by channels ----
  // A packet enters the flight; after kCongestionIdleRestart of quiet, with a fresh controller.
  // The snapshot goes with the packet and comes back with on_delivered. `retransmission`:
  // the packet was sent before (its delivery gives no RTT sample to the controller's model).
  DeliverySnapshot on_sent(Instant now, std::size_t bytes, bool retransmission = false);
  // A packet in flight is known delivered (acknowledged, or presumed from a duplicate ack).
  // `snapshot`: what on_sent returned for it; without one, no delivery rate sample is taken.
  void on_delivered(Instant now, Instant sent, std::size_t bytes,
                    const DeliverySnapshot* snapshot = nullptr);
  // A packet was declared lost; `in_flight`: it was still counted (not presumed delivered).
  void on_lost(Instant now, Instant sent, std::size_t bytes, bool in_flight);
  // Timeouts fired in a row with nothing acknowledged in between: the window collapses.
  void on_persistent_congestion(Instant now);
  // Bytes leave the flight with no verdict (their channel closed).
  void forget(std::size_t bytes);

  // The path changed: a fresh controller, RTT estimate and pacer; a new generation.
  void reset();

  PathFlowStats stats() const;

 private:
  double pacing_rate() const;  // bytes per second; 0: do not pace
  void note_activity(Instant now);
  void retire_controller();
  void note_limit(Instant now, SendLimit limit);

  std::optional<CongestionAlgorithm> algorithm_;
  CongestionConfig config_;
  std::unique_ptr<CongestionController> controller_;
  RttEstimator rtt_;
  DeliveryRateEstimator delivery_;
  Pacer pacer_;
  std::size_t in_flight_ = 0;
  std::uint32_t generation_ = 0;
  bool window_limited_ = false;
  bool recovery_send_ = false;  // one packet may exceed the window: a new event just began
  std::uint64_t congestion_events_ = 0;
  std::uint64_t persistent_congestion_ = 0;
  std::uint64_t resets_ = 0;
  std::uint64_t idle_restarts_ = 0;
  CongestionController::RttProbes retired_probes_;  // of the controllers replaced so far
  std::optional<Instant> last_activity_;            // the latest send, delivery or loss
  SendLimit limit_ = SendLimit::kNone;              // why the senders last stopped
  Instant limit_since_{};                           // when they did
  SendLimitTimes limited_;
};

}  // namespace e3x
