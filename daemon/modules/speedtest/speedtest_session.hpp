// What the speed test module keeps for each speed test it runs (speedtest_module.cpp): the
// sending side, started by `e3xctl speedtest`, and the receiving side, started by a peer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/hashname.hpp"
#include "core/time.hpp"
#include "daemon/control/control_server.hpp"
#include "daemon/host/module.hpp"
#include "daemon/modules/speedtest/speedtest.hpp"

namespace e3x::daemon {

struct SpeedtestSend {
  enum class Phase {
    kWaitingReady,   // channel opened; the receiver has not said "ready"
    kSending,        // streaming data packets, one batch per io_context turn
    kWaitingReport,  // "done" sent (and resent) until the receiver's report
    kClosing,        // answered; our "end" sent, waiting for the receiver's
  };
  Phase phase = Phase::kWaitingReady;
  speedtest::SendSummary summary;
  Bytes body;  // one data packet's body, sent again and again
  Instant opened_at{};
  Instant started_at{};
  Instant report_asked_at{};
  double cpu_at_start = 0;
  // Ready and report deadlines, "done" resends, send-buffer backoff, the closing grace.
  std::unique_ptr<boost::asio::steady_timer> timer;
  control::ControlServer::Respond respond;
};

struct SpeedtestReceive {
  Instant ready_at{};
  Instant last_activity{};
  double cpu_at_ready = 0;
  speedtest::Tally tally;
  // Frozen at the first "done", so every answer to a resent "done" is the same.
  std::optional<boost::json::object> report;
  std::unique_ptr<boost::asio::steady_timer> idle_timer;
};

}  // namespace e3x::daemon
