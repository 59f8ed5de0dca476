// What the daemon does with each core event: logs one line per peer state change, tells
// watchers, reconnects after a timeout, and serves the built-in "path" channel.
#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>

#include "daemon/daemon.hpp"
#include "daemon/encoding.hpp"
#include "daemon/text_escape.hpp"

namespace e3x::daemon {

namespace {

// "udp4 203.0.113.5:42424" from a path channel's {"type","ip","port"}, or "" if malformed.
std::string describe_reported_path(const boost::json::value* path) {
  const boost::json::object* object = path ? path->if_object() : nullptr;
  if (!object) return {};
  const auto* type = object->if_contains("type");
  const auto* ip = object->if_contains("ip");
  const auto* port = object->if_contains("port");
  if (!type || !type->is_string() || !ip || !ip->is_string() || !port || !port->is_int64()) {
    return {};
  }
  const std::string kind(type->get_string());
  if (kind != "udp4" && kind != "udp6" && kind != "tcp4" && kind != "tcp6") return {};
  // Peer-supplied: only a numeric address of the right family is shown (PROTOCOL.md 10.10).
  const std::string host(ip->get_string());
  boost::system::error_code bad_address;
  const auto address = boost::asio::ip::make_address(host, bad_address);
  const bool v6 = kind.back() == '6';
  if (bad_address || address.is_v6() != v6) return {};
  const std::int64_t number = port->as_int64();
  if (number < 0 || number > 65535) return {};
  return kind + " " + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port->as_int64());
}

}  // namespace

void Daemon::handle_event(Event& event) {
  std::visit(
      [this](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, event::ExchangeUp>) on_exchange_up(e);
        if constexpr (std::is_same_v<T, event::ExchangeDown>) on_exchange_down(e);
        if constexpr (std::is_same_v<T, event::PathChanged>) on_path_changed(e);
        if constexpr (std::is_same_v<T, event::ChannelOpened>) on_channel_opened(e);
        if constexpr (std::is_same_v<T, event::ChannelData>) on_channel_data(e);
        if constexpr (std::is_same_v<T, event::ChannelEnded>) {
          finish_probe(e.peer, e.channel, "the peer ended the channel without a path");
          on_speedtest_closed(e.peer, e.channel, "ended");
        }
        if constexpr (std::is_same_v<T, event::ChannelErrored>) {
          finish_probe(e.peer, e.channel, "channel " + e.reason);
          on_speedtest_closed(e.peer, e.channel, e.reason);
        }
        if constexpr (std::is_same_v<T, event::MessageReceived>) on_message(e);
        if constexpr (std::is_same_v<T, event::SeqExhausted>) on_seq_exhausted(e);
      },
      event);
}

void Daemon::on_exchange_up(const event::ExchangeUp& up) {
  if (PeerRuntime* peer = find_runtime(up.peer)) {
    peer->backoff = kReconnectBackoffFirst;
    peer->next_attempt.reset();
    peer->down_reason.clear();
  }
  apply_keepalive(up.peer);
  const std::string token = to_hex(up.remote_token);
  spdlog::info("peer {}: up on {} (token {}{})", peer_label(up.peer), path_text(up.path),
               token.substr(0, 8), up.new_session ? ", new session" : "");
  broadcast(boost::json::object{{"event", "peer_up"},
                                {"path", path_text(up.path)},
                                {"token", token},
                                {"new_session", up.new_session}},
            up.peer);
  // Learn how the peer sees us (our public address) on every new session.
  start_path_probe(up.peer, nullptr);
  // Whatever waits in the outbox for this peer goes now, not when its backoff runs out.
  restart_deliveries(up.peer);
}

void Daemon::on_exchange_down(const event::ExchangeDown& down) {
  const char* reason = to_string(down.reason);
  if (PeerRuntime* peer = find_runtime(down.peer)) {
    peer->down_reason = reason;
    if (down.reason == DownReason::kTimeout) {
      // Names may point elsewhere now (numeric endpoints map to the same paths again).
      peer->resolve_needed = true;
      schedule_retry(*peer, now());
    }
  }
  spdlog::warn("peer {}: down ({})", peer_label(down.peer), reason);
  broadcast(boost::json::object{{"event", "peer_down"}, {"reason", reason}}, down.peer);
  std::vector<std::uint32_t> channels;
  for (const auto& [key, probe] : probes_) {
    if (key.first == down.peer) channels.push_back(key.second);
  }
  for (auto channel : channels) finish_probe(down.peer, channel, std::string("peer ") + reason);
}

// PROTOCOL.md 10.4: only this peer's exchange is affected (its SEQs were pushed to the top by
// its own handshakes, or ours toward it ran out); every other peer goes on.
void Daemon::on_seq_exhausted(const event::SeqExhausted& exhausted) {
  spdlog::error(
      "peer {}: no SEQ value is left toward it (its SEQs or ours reached 2^32), so nothing "
      "more can be sent to it; other peers are not affected. A peer that sends SEQs near "
      "2^32 is broken or hostile: remove it, or give it a new key",
      peer_label(exhausted.peer));
  broadcast(boost::json::object{{"event", "seq_exhausted"}}, exhausted.peer);
}

void Daemon::on_path_changed(const event::PathChanged& changed) {
  apply_keepalive(changed.peer);
  spdlog::info("peer {}: path changed to {}", peer_label(changed.peer), path_text(changed.path));
  broadcast(boost::json::object{{"event", "path_changed"}, {"path", path_text(changed.path)}},
            changed.peer);
}

// The built-in "path" channel: whoever opens it gets back the address we see it at.
void Daemon::on_channel_opened(event::ChannelOpened& opened) {
  if (opened.type == speedtest::kChannelType) {
    on_speedtest_opened(opened);
    return;
  }
  const Instant at = now();
  if (opened.type != "path" || opened.reliable) {
    spdlog::debug("peer {}: refused channel of type '{}'", peer_label(opened.peer),
                  escape_text(opened.type));
    (void)endpoint_->close_channel(at, opened.peer, opened.channel, "unknown channel type");
    return;
  }
  const auto status = endpoint_->peer_status(opened.peer);
  const boost::json::object path = status ? path_object(status->path) : boost::json::object{};
  if (path.empty()) {
    (void)endpoint_->close_channel(at, opened.peer, opened.channel, "no path");
    return;
  }
  (void)endpoint_->send_channel(at, opened.peer, opened.channel,
                                boost::json::object{{"path", path}}, {}, true);
}

void Daemon::on_channel_data(event::ChannelData& data) {
  auto found = probes_.find({data.peer, data.channel});
  if (found == probes_.end()) {
    on_speedtest_data(data);
    return;
  }
  const std::string seen_as = describe_reported_path(data.json.if_contains("path"));
  if (seen_as.empty()) {
    finish_probe(data.peer, data.channel, "the peer's path reply is malformed");
    return;
  }
  const Duration rtt = now() - found->second.opened_at;
  if (PeerRuntime* peer = find_runtime(data.peer)) peer->probe_rtt = rtt;
  if (public_paths_.size() < kPublicPathLimit && public_paths_.insert(seen_as).second) {
    spdlog::info("peer {} sees us at {}", peer_label(data.peer), seen_as);
  }
  auto waiters = std::move(found->second.waiters);
  probes_.erase(found);
  if (!data.end) {
    (void)endpoint_->close_channel(now(), data.peer, data.channel, "done");
  } else {
    (void)endpoint_->send_channel(now(), data.peer, data.channel, {}, {}, true);  // end as well
  }
  const double rtt_ms = std::chrono::duration<double, std::milli>(rtt).count();
  for (auto& respond : waiters) {
    respond(boost::json::value(
        boost::json::object{{"path", data.json.at("path")}, {"rtt_ms", rtt_ms}}));
  }
}

void Daemon::finish_probe(const Hashname& peer, std::uint32_t channel, const std::string& why) {
  auto found = probes_.find({peer, channel});
  if (found == probes_.end()) return;
  auto waiters = std::move(found->second.waiters);
  probes_.erase(found);
  for (auto& respond : waiters) {
    respond(control::error_reply("no_reply", "no path reply: " + why));
  }
}

void Daemon::expire_probes(Instant at) {
  std::vector<std::pair<Hashname, std::uint32_t>> expired;
  for (const auto& [key, probe] : probes_) {
    if (at - probe.opened_at >= kPathProbeTimeout) expired.push_back(key);
  }
  for (const auto& [peer, channel] : expired) {
    (void)endpoint_->close_channel(at, peer, channel, "timeout");
    finish_probe(peer, channel, "no answer within 5 s");
  }
}

void Daemon::start_path_probe(const Hashname& peer, control::ControlServer::Respond respond) {
  // One probe per peer at a time: a second asker waits for the same answer.
  for (auto& [key, probe] : probes_) {
    if (key.first == peer) {
      if (respond) probe.waiters.push_back(std::move(respond));
      return;
    }
  }
  const Instant at = now();
  auto opened = endpoint_->open_channel(at, peer, "path", false);
  if (!opened) {
    if (respond) {
      respond(control::error_reply("not_up", to_string(opened.error())));
    }
    return;
  }
  PathProbe probe{at, {}};
  if (respond) probe.waiters.push_back(std::move(respond));
  probes_.emplace(std::pair{peer, *opened}, std::move(probe));
}

void Daemon::broadcast(boost::json::object event, std::optional<Hashname> peer) {
  if (!control_) return;
  boost::json::object line{{"event", event.at("event")}, {"time", unix_seconds()}};
  if (peer) {
    const PeerRuntime* runtime = find_runtime(*peer);
    line["peer"] = runtime ? boost::json::value(runtime->config.name) : boost::json::value();
    line["hashname"] = peer->to_string();
  }
  for (auto& [key, value] : event) {
    if (key != "event") line[key] = std::move(value);
  }
  control_->broadcast(line);
}

}  // namespace e3x::daemon
