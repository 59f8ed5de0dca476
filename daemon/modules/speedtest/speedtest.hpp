// The pure pieces of `e3xctl speedtest` (docs/control-protocol.md): the request's limits,
// packet sizing, the receiver's tally and report, and the result the sender returns. The
// daemon's side (channel handling, pacing, timers) is daemon_speedtest.cpp.
//
// On the wire it is an unreliable channel of type "speedtest" (docs/daemon-decisions.md):
//   sender -> {"type":"speedtest","seconds":N,"size":S}       (open)
//   receiver -> {"ready":true}                                (it counts from now on)
//   sender -> {"c":id} + body, so that INNER is exactly S bytes, for N seconds
//   sender -> {"done":<packets sent>}                         (repeated until answered)
//   receiver -> {"report":{"packets","bytes","first_us","last_us","cpu_us"}}  (per "done")
//   sender -> end; receiver -> end                            (a clean close)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "core/result.hpp"
#include "core/time.hpp"

namespace e3x::daemon::speedtest {

inline constexpr const char* kChannelType = "speedtest";
inline constexpr std::uint32_t kDefaultSeconds = 10;
inline constexpr std::uint32_t kMaxSeconds = 300;
inline constexpr std::size_t kDefaultSize = 1400;  // kMaxChannelInner: the protocol maximum
// The smallest INNER that still leaves a body byte beside the head of any channel id
// (LENGTH 2 + {"c":4294967295} 16).
inline constexpr std::size_t kMinSize = 32;

// Packets handed to the core per io_context turn before the next batch is posted, so
// received packets, timers and control requests run in between. 64 is the sockets'
// receive budget: both directions get the same share of a turn.
inline constexpr std::size_t kBatch = 64;
// How long the sender pauses when the socket refused packets (its send buffer is full),
// instead of spinning on EAGAIN.
inline constexpr Duration kSendBufferBackoff = std::chrono::milliseconds(1);
// The receiver must say "ready" within this, and answer "done" within this.
inline constexpr Duration kReplyTimeout = seconds(5);
inline constexpr Duration kDoneResend = std::chrono::milliseconds(250);
// A receiving session with no packet for this long is closed (a sender that went away).
inline constexpr Duration kReceiveIdleTimeout = seconds(15);
// Speed tests received at once; more are refused with err "busy".
inline constexpr std::size_t kMaxReceiving = 4;

struct Params {
  std::uint32_t seconds = kDefaultSeconds;
  std::size_t size = kDefaultSize;
};
// The control request's optional "seconds" (1..300) and "size" (32..1400); the error is a
// message for the user.
Result<Params, std::string> parse_params(const boost::json::object& args);

// INNER of a data packet on channel `channel` with a body of `body` bytes: LENGTH(2) + the
// head {"c":<channel>} + body.
std::size_t inner_size(std::uint32_t channel, std::size_t body);
// The body that makes a data packet's INNER exactly `size` bytes (0 if the head alone is
// larger).
std::size_t body_size(std::uint32_t channel, std::size_t size);

// What the receiver counts. Times are from the moment it said "ready".
struct Tally {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;  // INNER bytes
  Duration first{};
  Duration last{};
  void add(Duration since_ready, std::size_t inner_bytes);
};

// The receiver's answer to "done".
struct Report {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::int64_t first_us = 0;
  std::int64_t last_us = 0;
  std::int64_t cpu_us = 0;  // the receiving process's CPU time while it counted
};
boost::json::object report_json(const Tally& tally, double cpu_seconds);
// nullopt unless every member is a non-negative integer.
std::optional<Report> parse_report(const boost::json::value* report);

// What the sender measured.
struct SendSummary {
  std::string peer;
  Params params;
  std::uint64_t sent = 0;              // packets the socket accepted
  std::uint64_t send_buffer_full = 0;  // packets the socket refused (EAGAIN and the like)
  Duration duration{};                 // from "ready" to the last batch
  double cpu_seconds = 0;              // this process's CPU time over `duration`
};
// The control result: counts, loss, delivered rate over the receiver's first-to-last
// arrival span (the sender's duration when fewer than two packets arrived), CPU per
// delivered packet on both sides.
boost::json::object result_json(const SendSummary& sent, const Report& received);

// User + system CPU time of this process so far (getrusage), in seconds.
double process_cpu_seconds();

}  // namespace e3x::daemon::speedtest
