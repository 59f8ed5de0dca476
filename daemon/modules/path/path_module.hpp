// The built-in "path" channel (telehash-v3 path.md): whoever opens it gets back the address
// we see it at; we open one to every peer on each new session, to learn how peers see us
// (`public_paths` in status), and for `e3xctl ping` (the channel's round trip).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/host/host.hpp"
#include "daemon/host/module.hpp"

namespace e3x::daemon {

inline constexpr std::size_t kPublicPathLimit = 16;  // addresses peers report seeing us at
// A path probe (`e3xctl ping`) unanswered this long fails with "no_reply"; shorter than the
// channel's own 10 s OPENING timeout so e3xctl (10 s request timeout) always hears why.
inline constexpr Duration kPathProbeTimeout = seconds(5);
// An unanswered probe is sent again (a new "path" channel) after this, checked at each
// housekeeping tick: the channel is unreliable, so one lost datagram each way would otherwise
// cost the asker the whole 5 s. The round trip reported is the answered attempt's.
inline constexpr Duration kPathProbeRetry = seconds(1);

class PathModule final : public Module {
 public:
  explicit PathModule(Host& host);

  void tick(Instant now) override;
  void exchange_up(const event::ExchangeUp& up) override;
  void exchange_down(const event::ExchangeDown& down) override;
  void peer_removed(const Hashname& peer) override;
  void channel_opened(event::ChannelOpened& opened) override;
  void channel_data(event::ChannelData& data) override;
  void channel_closed(const ChannelKey& key, const std::string& reason) override;
  void add_status(boost::json::object& status) const override;
  void add_peer_status(const Hashname& peer, boost::json::object& entry) const override;

 private:
  // A "path" channel we opened, and who waits for its answer.
  struct Probe {
    Instant started_at{};  // the first attempt: the 5 s count from here
    Instant opened_at{};   // this attempt's channel: the round trip counts from here
    std::vector<Host::Respond> waiters;
  };

  void ping(const control::Request& request, Host::Respond respond);
  void start_probe(const Hashname& peer, Host::Respond respond);
  void finish_probe(const ChannelKey& key, const std::string& why);
  void retry_probe(const ChannelKey& key, Instant now);

  Host& host_;
  std::map<ChannelKey, Probe> probes_;
  std::set<std::string> public_paths_;
  std::map<Hashname, Duration> probe_rtts_;  // the last round trip per peer
};

}  // namespace e3x::daemon
