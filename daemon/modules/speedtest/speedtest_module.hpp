// `e3xctl speedtest` (docs/control-protocol.md): streams an unreliable "speedtest" channel to a
// peer as fast as the socket takes it, and counts one that a peer streams to us. The message
// flow and the pure pieces are in speedtest.hpp; the state of each test in
// speedtest_session.hpp.
//
// Sending as fast as possible must not starve the rest of the daemon: each io_context turn
// hands one batch to the core and drives it into the socket, then posts the next batch, so
// received packets, timers and control requests run in between. When the socket refuses
// packets (its send buffer is full: counted as send errors by the network) the sender waits
// a moment on a timer instead of spinning.
#pragma once

#include <functional>
#include <map>

#include "daemon/host/host.hpp"
#include "daemon/host/module.hpp"
#include "daemon/modules/speedtest/speedtest_session.hpp"

namespace e3x::daemon {

class SpeedtestModule final : public Module {
 public:
  explicit SpeedtestModule(Host& host);

  void stop() override;
  void channel_opened(event::ChannelOpened& opened) override;
  void channel_data(event::ChannelData& data) override;
  void channel_closed(const ChannelKey& key, const std::string& why) override;

 private:
  void start_test(const control::Request& request, Host::Respond respond);
  // Arms the session's one timer (replacing whatever it waited for).
  void wait(const ChannelKey& key, Duration delay, std::function<void(const ChannelKey&)> then);
  void send_more(const ChannelKey& key);
  void ask_report(const ChannelKey& key);
  void fail(const ChannelKey& key, std::string code, std::string message);
  void watch_idle(const ChannelKey& key);

  Host& host_;
  std::map<ChannelKey, SpeedtestSend> sends_;
  std::map<ChannelKey, SpeedtestReceive> receives_;
};

}  // namespace e3x::daemon
