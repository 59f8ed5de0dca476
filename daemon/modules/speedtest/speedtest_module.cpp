// The speed test module (speedtest_module.hpp).
#include "daemon/modules/speedtest/speedtest_module.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "core/channel.hpp"
namespace e3x::daemon {

namespace asio = boost::asio;
namespace json = boost::json;

SpeedtestModule::SpeedtestModule(Host& host) : host_(host) {
  host_.serve_channel(speedtest::kChannelType, *this);
  host_.serve_command("speedtest", [this](const control::Request& request, Host::Respond respond) {
    start_test(request, std::move(respond));
  });
}

void SpeedtestModule::start_test(const control::Request& request, Host::Respond respond) {
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
  const auto hashname = host_.lookup_peer(label);
  if (!hashname) {
    respond(control::error_reply("unknown_peer", "no peer named '" + label + "'"));
    return;
  }
  const auto status = host_.endpoint().peer_status(*hashname);
  if (!status || status->state != ExchangeState::kUp) {
    respond(control::error_reply("not_up", "peer '" + label + "' is not up"));
    return;
  }
  // One at a time: two would share the socket and measure each other.
  if (!sends_.empty()) {
    respond(control::error_reply("busy", "a speed test is already running"));
    return;
  }
  const Instant at = host_.now();
  auto opened =
      host_.open_channel(*this, *hashname, speedtest::kChannelType, false,
                         json::object{{"seconds", params->seconds}, {"size", params->size}});
  if (!opened) {
    respond(control::error_reply("not_up", to_string(opened.error())));
    return;
  }
  const ChannelKey key{*hashname, *opened};
  SpeedtestSend& test = sends_[key];
  test.summary.peer = label;
  test.summary.params = *params;
  test.body.assign(speedtest::body_size(*opened, params->size), 0);
  test.opened_at = at;
  test.respond = std::move(respond);
  test.timer = std::make_unique<asio::steady_timer>(host_.io());
  spdlog::info("peer {}: speed test: sending {} s of {}-byte packets", host_.peer_label(*hashname),
               params->seconds, params->size);
  wait(key, speedtest::kReplyTimeout, [this](const ChannelKey& k) {
    auto found = sends_.find(k);
    if (found == sends_.end()) return;
    if (found->second.phase != SpeedtestSend::Phase::kWaitingReady) return;
    fail(k, "no_reply", "the peer did not accept the speed test within 5 s");
  });
}

// Arms the session's one timer (replacing whatever it waited for).
void SpeedtestModule::wait(const ChannelKey& key, Duration delay,
                           std::function<void(const ChannelKey&)> then) {
  auto found = sends_.find(key);
  if (found == sends_.end()) return;
  asio::steady_timer& timer = *found->second.timer;
  timer.expires_after(delay);
  timer.async_wait([this, key, then = std::move(then)](const boost::system::error_code& error) {
    if (error || host_.stopping()) return;
    then(key);
    host_.drive();
  });
}

void SpeedtestModule::send_more(const ChannelKey& key) {
  if (host_.stopping()) return;
  auto found = sends_.find(key);
  if (found == sends_.end()) return;
  if (found->second.phase != SpeedtestSend::Phase::kSending) return;
  const Instant at = host_.now();
  {
    SpeedtestSend& test = found->second;
    if (at - test.started_at >= seconds(test.summary.params.seconds)) {
      test.phase = SpeedtestSend::Phase::kWaitingReport;
      test.summary.duration = at - test.started_at;
      test.summary.cpu_seconds = speedtest::process_cpu_seconds() - test.cpu_at_start;
      test.report_asked_at = at;
      ask_report(key);
      host_.drive();
      return;
    }
    for (std::size_t i = 0; i < speedtest::kBatch; ++i) {
      auto sent = host_.endpoint().send_channel(at, key.first, key.second, {}, test.body);
      if (!sent) {
        fail(key, "no_reply", std::string("cannot send: ") + to_string(sent.error()));
        host_.drive();
        return;
      }
    }
  }
  const std::uint64_t refused_before = host_.network().stats().dropped_send_error;
  host_.drive();
  const std::uint64_t refused = host_.network().stats().dropped_send_error - refused_before;
  found = sends_.find(key);  // host_.drive() may have ended the test (channel errored)
  if (found == sends_.end()) return;
  SpeedtestSend& test = found->second;
  const std::uint64_t batch = speedtest::kBatch;
  test.summary.sent += batch - std::min(refused, batch);
  test.summary.send_buffer_full += std::min(refused, batch);
  if (refused > 0) {
    wait(key, speedtest::kSendBufferBackoff, [this](const ChannelKey& k) { send_more(k); });
  } else {
    asio::post(host_.io(), [this, key] { send_more(key); });
  }
}

// Sends "done" (again) until the receiver's report arrives or kReplyTimeout passes.
void SpeedtestModule::ask_report(const ChannelKey& key) {
  auto found = sends_.find(key);
  if (found == sends_.end()) return;
  SpeedtestSend& test = found->second;
  if (test.phase != SpeedtestSend::Phase::kWaitingReport) return;
  const Instant at = host_.now();
  if (at - test.report_asked_at >= speedtest::kReplyTimeout) {
    fail(key, "no_reply", "the peer did not report what it received within 5 s");
    return;
  }
  (void)host_.endpoint().send_channel(at, key.first, key.second,
                                      json::object{{"done", test.summary.sent}}, {});
  wait(key, speedtest::kDoneResend, [this](const ChannelKey& k) { ask_report(k); });
}

void SpeedtestModule::fail(const ChannelKey& key, std::string code, std::string message) {
  auto found = sends_.find(key);
  if (found == sends_.end()) return;
  spdlog::warn("peer {}: speed test failed: {}", host_.peer_label(key.first), message);
  if (found->second.respond)
    found->second.respond(control::error_reply(std::move(code), std::move(message)));
  sends_.erase(found);
  // Tells the receiver to stop counting; a no-op when the channel is already gone.
  host_.close_channel(key, "failed");
}

void SpeedtestModule::channel_opened(event::ChannelOpened& opened) {
  const Instant at = host_.now();
  const ChannelKey key{opened.peer, opened.channel};
  if (opened.reliable || receives_.size() >= speedtest::kMaxReceiving) {
    host_.close_channel(key, opened.reliable ? "unknown channel type" : "busy");
    return;
  }
  SpeedtestReceive& test = receives_[key];
  test.ready_at = at;
  test.last_activity = at;
  test.cpu_at_ready = speedtest::process_cpu_seconds();
  test.idle_timer = std::make_unique<asio::steady_timer>(host_.io());
  spdlog::info("peer {}: speed test: receiving", host_.peer_label(opened.peer));
  (void)host_.endpoint().send_channel(at, opened.peer, opened.channel,
                                      json::object{{"ready", true}}, {});
  watch_idle(key);
}

// A receiving session whose sender went quiet is closed, so it cannot hold a slot forever.
void SpeedtestModule::watch_idle(const ChannelKey& key) {
  auto found = receives_.find(key);
  if (found == receives_.end()) return;
  asio::steady_timer& timer = *found->second.idle_timer;
  timer.expires_after(speedtest::kReceiveIdleTimeout / 3);
  timer.async_wait([this, key](const boost::system::error_code& error) {
    if (error || host_.stopping()) return;
    auto found = receives_.find(key);
    if (found == receives_.end()) return;
    const Instant at = host_.now();
    if (at - found->second.last_activity < speedtest::kReceiveIdleTimeout) {
      watch_idle(key);
      return;
    }
    spdlog::info("peer {}: speed test: the sender went quiet", host_.peer_label(key.first));
    receives_.erase(found);
    host_.close_channel(key, "timeout");
    host_.drive();
  });
}

// Runs inside the host's drive() for every data packet on a speed test channel: no drive()
// here, the loop that called us sends what we queue.
void SpeedtestModule::channel_data(event::ChannelData& data) {
  const ChannelKey key{data.peer, data.channel};
  if (auto found = receives_.find(key); found != receives_.end()) {
    SpeedtestReceive& test = found->second;
    const Instant at = host_.now();
    test.last_activity = at;
    if (data.end) {
      // The sender has its report: end our side too, which closes the channel cleanly.
      (void)host_.endpoint().send_channel(at, key.first, key.second, {}, {}, true);
      receives_.erase(found);
      return;
    }
    if (data.json.contains("done")) {
      if (!test.report) {
        test.report = speedtest::report_json(test.tally,
                                             speedtest::process_cpu_seconds() - test.cpu_at_ready);
        spdlog::info("peer {}: speed test: received {} packets, {} bytes",
                     host_.peer_label(key.first), test.tally.packets, test.tally.bytes);
      }
      (void)host_.endpoint().send_channel(at, key.first, key.second,
                                          json::object{{"report", *test.report}}, {});
      return;
    }
    // A data packet is {"c":id} and a body; after "done" nothing more is counted.
    if (!test.report && data.json.size() == 1) {
      test.tally.add(at - test.ready_at, speedtest::inner_size(key.second, data.body.size()));
    }
    return;
  }

  auto found = sends_.find(key);
  if (found == sends_.end()) return;
  SpeedtestSend& test = found->second;
  if (data.end) {
    if (test.phase == SpeedtestSend::Phase::kClosing) {
      sends_.erase(found);
      return;
    }
    fail(key, "no_reply", "the peer ended the speed test early");
    return;
  }
  if (test.phase == SpeedtestSend::Phase::kWaitingReady && data.json.contains("ready")) {
    test.phase = SpeedtestSend::Phase::kSending;
    test.started_at = host_.now();
    test.cpu_at_start = speedtest::process_cpu_seconds();
    test.timer->cancel();
    asio::post(host_.io(), [this, key] { send_more(key); });
    return;
  }
  if (test.phase != SpeedtestSend::Phase::kWaitingReport) return;
  const auto report = speedtest::parse_report(data.json.if_contains("report"));
  if (!report) {
    fail(key, "no_reply", "the peer's report is malformed");
    return;
  }
  json::object result = speedtest::result_json(test.summary, *report);
  spdlog::info("peer {}: speed test: {} sent, {} delivered, {:.0f} packets/s, {:.1f} Mbit/s",
               host_.peer_label(key.first), test.summary.sent, report->packets,
               result.at("packets_per_s").as_double(), result.at("mbit_per_s").as_double());
  if (test.respond) test.respond(json::value(std::move(result)));
  test.respond = nullptr;
  test.phase = SpeedtestSend::Phase::kClosing;
  (void)host_.endpoint().send_channel(host_.now(), key.first, key.second, {}, {}, true);
  // The core keeps a channel that sent "end" until the peer's "end"; if that is lost, close
  // it ourselves after the usual grace period.
  wait(key, kChannelEndedTimeout, [this](const ChannelKey& k) {
    auto found = sends_.find(k);
    if (found == sends_.end()) return;
    sends_.erase(found);
    host_.close_channel(k, "timeout");
  });
}

// The channel ended or errored (refused by the peer, timed out, reset with the exchange).
void SpeedtestModule::channel_closed(const ChannelKey& key, const std::string& why) {
  receives_.erase(key);
  auto found = sends_.find(key);
  if (found == sends_.end()) return;
  if (found->second.phase == SpeedtestSend::Phase::kClosing) {
    sends_.erase(found);
    return;
  }
  const bool refused = found->second.phase == SpeedtestSend::Phase::kWaitingReady;
  fail(key, refused ? "refused" : "no_reply",
       (refused ? "the peer refused the speed test: " : "the speed test channel closed: ") + why);
}

void SpeedtestModule::stop() {
  for (auto& [key, test] : sends_) {
    if (test.respond) test.respond(control::error_reply("busy", "e3xd is shutting down"));
  }
  // Destroying the timers cancels their waits; queued batches find no session.
  sends_.clear();
  receives_.clear();
}

}  // namespace e3x::daemon
