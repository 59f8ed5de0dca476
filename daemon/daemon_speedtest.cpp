// `e3xctl speedtest` (docs/control-protocol.md): streaming an unreliable "speedtest" channel
// to a peer as fast as the socket takes it, and counting one that a peer streams to us. The
// message flow and the pure pieces are in speedtest.hpp.
//
// Sending as fast as possible must not starve the rest of the daemon: each io_context turn
// hands one batch to the core and drive()s it into the socket, then posts the next batch, so
// received packets, timers and control requests run in between. When the socket refuses
// packets (its send buffer is full: counted as send errors by the network) the sender waits
// a moment on a timer instead of spinning.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "daemon/daemon.hpp"

namespace e3x::daemon {

namespace asio = boost::asio;
namespace json = boost::json;

void Daemon::start_speedtest(const control::Request& request,
                             control::ControlServer::Respond respond) {
  const json::value* name = request.args.if_contains("peer");
  if (!name || !name->is_string()) {
    respond(control::error_reply("bad_argument", "\"peer\" must be a peer name or hashname"));
    return;
  }
  auto params = speedtest::parse_params(request.args);
  if (!params) {
    respond(control::error_reply("bad_argument", params.error()));
    return;
  }
  const std::string label(name->get_string());
  const auto hashname = lookup_peer(label);
  if (!hashname) {
    respond(control::error_reply("unknown_peer", "no peer named '" + label + "'"));
    return;
  }
  const auto status = endpoint_->peer_status(*hashname);
  if (!status || status->state != ExchangeState::kUp) {
    respond(control::error_reply("not_up", "peer '" + label + "' is not up"));
    return;
  }
  // One at a time: two would share the socket and measure each other.
  if (!speedtest_sends_.empty()) {
    respond(control::error_reply("busy", "a speed test is already running"));
    return;
  }
  const Instant at = now();
  auto opened =
      endpoint_->open_channel(at, *hashname, speedtest::kChannelType, false,
                              json::object{{"seconds", params->seconds}, {"size", params->size}});
  if (!opened) {
    respond(control::error_reply("not_up", to_string(opened.error())));
    return;
  }
  const ChannelKey key{*hashname, *opened};
  SpeedtestSend& test = speedtest_sends_[key];
  test.summary.peer = label;
  test.summary.params = *params;
  test.body.assign(speedtest::body_size(*opened, params->size), 0);
  test.opened_at = at;
  test.respond = std::move(respond);
  test.timer = std::make_unique<asio::steady_timer>(io_);
  spdlog::info("peer {}: speed test: sending {} s of {}-byte packets", peer_label(*hashname),
               params->seconds, params->size);
  speedtest_wait(key, speedtest::kReplyTimeout, [this](const ChannelKey& k) {
    auto found = speedtest_sends_.find(k);
    if (found == speedtest_sends_.end()) return;
    if (found->second.phase != SpeedtestSend::Phase::kWaitingReady) return;
    speedtest_fail(k, "no_reply", "the peer did not accept the speed test within 5 s");
  });
}

// Arms the session's one timer (replacing whatever it waited for).
void Daemon::speedtest_wait(const ChannelKey& key, Duration delay,
                            std::function<void(const ChannelKey&)> then) {
  auto found = speedtest_sends_.find(key);
  if (found == speedtest_sends_.end()) return;
  asio::steady_timer& timer = *found->second.timer;
  timer.expires_after(delay);
  timer.async_wait([this, key, then = std::move(then)](const boost::system::error_code& error) {
    if (error || stopping_) return;
    then(key);
    drive();
  });
}

void Daemon::speedtest_pump(const ChannelKey& key) {
  if (stopping_) return;
  auto found = speedtest_sends_.find(key);
  if (found == speedtest_sends_.end()) return;
  if (found->second.phase != SpeedtestSend::Phase::kSending) return;
  const Instant at = now();
  {
    SpeedtestSend& test = found->second;
    if (at - test.started_at >= seconds(test.summary.params.seconds)) {
      test.phase = SpeedtestSend::Phase::kWaitingReport;
      test.summary.duration = at - test.started_at;
      test.summary.cpu_seconds = speedtest::process_cpu_seconds() - test.cpu_at_start;
      test.report_asked_at = at;
      speedtest_ask_report(key);
      drive();
      return;
    }
    for (std::size_t i = 0; i < speedtest::kBatch; ++i) {
      auto sent = endpoint_->send_channel(at, key.first, key.second, {}, test.body);
      if (!sent) {
        speedtest_fail(key, "no_reply", std::string("cannot send: ") + to_string(sent.error()));
        drive();
        return;
      }
    }
  }
  const std::uint64_t refused_before = network_->stats().dropped_send_error;
  drive();
  const std::uint64_t refused = network_->stats().dropped_send_error - refused_before;
  found = speedtest_sends_.find(key);  // drive() may have ended the test (channel errored)
  if (found == speedtest_sends_.end()) return;
  SpeedtestSend& test = found->second;
  const std::uint64_t batch = speedtest::kBatch;
  test.summary.sent += batch - std::min(refused, batch);
  test.summary.send_buffer_full += std::min(refused, batch);
  if (refused > 0) {
    speedtest_wait(key, speedtest::kSendBufferBackoff,
                   [this](const ChannelKey& k) { speedtest_pump(k); });
  } else {
    asio::post(io_, [this, key] { speedtest_pump(key); });
  }
}

// Sends "done" (again) until the receiver's report arrives or kReplyTimeout passes.
void Daemon::speedtest_ask_report(const ChannelKey& key) {
  auto found = speedtest_sends_.find(key);
  if (found == speedtest_sends_.end()) return;
  SpeedtestSend& test = found->second;
  if (test.phase != SpeedtestSend::Phase::kWaitingReport) return;
  const Instant at = now();
  if (at - test.report_asked_at >= speedtest::kReplyTimeout) {
    speedtest_fail(key, "no_reply", "the peer did not report what it received within 5 s");
    return;
  }
  (void)endpoint_->send_channel(at, key.first, key.second,
                                json::object{{"done", test.summary.sent}}, {});
  speedtest_wait(key, speedtest::kDoneResend,
                 [this](const ChannelKey& k) { speedtest_ask_report(k); });
}

void Daemon::speedtest_fail(const ChannelKey& key, std::string code, std::string message) {
  auto found = speedtest_sends_.find(key);
  if (found == speedtest_sends_.end()) return;
  spdlog::warn("peer {}: speed test failed: {}", peer_label(key.first), message);
  if (found->second.respond)
    found->second.respond(control::error_reply(std::move(code), std::move(message)));
  speedtest_sends_.erase(found);
  // Tells the receiver to stop counting; a no-op when the channel is already gone.
  (void)endpoint_->close_channel(now(), key.first, key.second, "failed");
}

void Daemon::on_speedtest_opened(event::ChannelOpened& opened) {
  const Instant at = now();
  const ChannelKey key{opened.peer, opened.channel};
  if (opened.reliable || speedtest_receives_.size() >= speedtest::kMaxReceiving) {
    (void)endpoint_->close_channel(at, opened.peer, opened.channel,
                                   opened.reliable ? "unknown channel type" : "busy");
    return;
  }
  SpeedtestReceive& test = speedtest_receives_[key];
  test.ready_at = at;
  test.last_activity = at;
  test.cpu_at_ready = speedtest::process_cpu_seconds();
  test.idle_timer = std::make_unique<asio::steady_timer>(io_);
  spdlog::info("peer {}: speed test: receiving", peer_label(opened.peer));
  (void)endpoint_->send_channel(at, opened.peer, opened.channel, json::object{{"ready", true}}, {});
  speedtest_watch_idle(key);
}

// A receiving session whose sender went quiet is closed, so it cannot hold a slot forever.
void Daemon::speedtest_watch_idle(const ChannelKey& key) {
  auto found = speedtest_receives_.find(key);
  if (found == speedtest_receives_.end()) return;
  asio::steady_timer& timer = *found->second.idle_timer;
  timer.expires_after(speedtest::kReceiveIdleTimeout / 3);
  timer.async_wait([this, key](const boost::system::error_code& error) {
    if (error || stopping_) return;
    auto found = speedtest_receives_.find(key);
    if (found == speedtest_receives_.end()) return;
    const Instant at = now();
    if (at - found->second.last_activity < speedtest::kReceiveIdleTimeout) {
      speedtest_watch_idle(key);
      return;
    }
    spdlog::info("peer {}: speed test: the sender went quiet", peer_label(key.first));
    speedtest_receives_.erase(found);
    (void)endpoint_->close_channel(at, key.first, key.second, "timeout");
    drive();
  });
}

// Runs inside drive() for every data packet on a channel that is not a path probe: no
// drive() here, the loop that called us sends what we queue.
void Daemon::on_speedtest_data(event::ChannelData& data) {
  const ChannelKey key{data.peer, data.channel};
  if (auto found = speedtest_receives_.find(key); found != speedtest_receives_.end()) {
    SpeedtestReceive& test = found->second;
    const Instant at = now();
    test.last_activity = at;
    if (data.end) {
      // The sender has its report: end our side too, which closes the channel cleanly.
      (void)endpoint_->send_channel(at, key.first, key.second, {}, {}, true);
      speedtest_receives_.erase(found);
      return;
    }
    if (data.json.contains("done")) {
      if (!test.report) {
        test.report = speedtest::report_json(test.tally,
                                             speedtest::process_cpu_seconds() - test.cpu_at_ready);
        spdlog::info("peer {}: speed test: received {} packets, {} bytes", peer_label(key.first),
                     test.tally.packets, test.tally.bytes);
      }
      (void)endpoint_->send_channel(at, key.first, key.second,
                                    json::object{{"report", *test.report}}, {});
      return;
    }
    // A data packet is {"c":id} and a body; after "done" nothing more is counted.
    if (!test.report && data.json.size() == 1) {
      test.tally.add(at - test.ready_at, speedtest::inner_size(key.second, data.body.size()));
    }
    return;
  }

  auto found = speedtest_sends_.find(key);
  if (found == speedtest_sends_.end()) return;
  SpeedtestSend& test = found->second;
  if (data.end) {
    if (test.phase == SpeedtestSend::Phase::kClosing) {
      speedtest_sends_.erase(found);
      return;
    }
    speedtest_fail(key, "no_reply", "the peer ended the speed test early");
    return;
  }
  if (test.phase == SpeedtestSend::Phase::kWaitingReady && data.json.contains("ready")) {
    test.phase = SpeedtestSend::Phase::kSending;
    test.started_at = now();
    test.cpu_at_start = speedtest::process_cpu_seconds();
    test.timer->cancel();
    asio::post(io_, [this, key] { speedtest_pump(key); });
    return;
  }
  if (test.phase != SpeedtestSend::Phase::kWaitingReport) return;
  const auto report = speedtest::parse_report(data.json.if_contains("report"));
  if (!report) {
    speedtest_fail(key, "no_reply", "the peer's report is malformed");
    return;
  }
  json::object result = speedtest::result_json(test.summary, *report);
  spdlog::info("peer {}: speed test: {} sent, {} delivered, {:.0f} packets/s, {:.1f} Mbit/s",
               peer_label(key.first), test.summary.sent, report->packets,
               result.at("packets_per_s").as_double(), result.at("mbit_per_s").as_double());
  if (test.respond) test.respond(json::value(std::move(result)));
  test.respond = nullptr;
  test.phase = SpeedtestSend::Phase::kClosing;
  (void)endpoint_->send_channel(now(), key.first, key.second, {}, {}, true);
  // The core keeps a channel that sent "end" until the peer's "end"; if that is lost, close
  // it ourselves after the usual grace period.
  speedtest_wait(key, kChannelEndedTimeout, [this](const ChannelKey& k) {
    auto found = speedtest_sends_.find(k);
    if (found == speedtest_sends_.end()) return;
    speedtest_sends_.erase(found);
    (void)endpoint_->close_channel(now(), k.first, k.second, "timeout");
  });
}

// The channel ended or errored (refused by the peer, timed out, reset with the exchange).
void Daemon::on_speedtest_closed(const Hashname& peer, std::uint32_t channel,
                                 const std::string& why) {
  const ChannelKey key{peer, channel};
  speedtest_receives_.erase(key);
  auto found = speedtest_sends_.find(key);
  if (found == speedtest_sends_.end()) return;
  if (found->second.phase == SpeedtestSend::Phase::kClosing) {
    speedtest_sends_.erase(found);
    return;
  }
  const bool refused = found->second.phase == SpeedtestSend::Phase::kWaitingReady;
  speedtest_fail(
      key, refused ? "refused" : "no_reply",
      (refused ? "the peer refused the speed test: " : "the speed test channel closed: ") + why);
}

void Daemon::stop_speedtests() {
  for (auto& [key, test] : speedtest_sends_) {
    if (test.respond) test.respond(control::error_reply("busy", "e3xd is shutting down"));
  }
  // Destroying the timers cancels their waits; queued batches find no session.
  speedtest_sends_.clear();
  speedtest_receives_.clear();
}

}  // namespace e3x::daemon
