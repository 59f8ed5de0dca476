// What the host does with each core event: logs one line per peer state change, tells
// watchers, reconnects after a timeout, then hands the event to the modules: channel events
// to the module that owns the channel, application messages to the module serving them.
#include <spdlog/spdlog.h>

#include "daemon/host/host.hpp"
#include "daemon/support/encoding.hpp"
#include "daemon/support/text_escape.hpp"

namespace e3x::daemon {

void Host::handle_event(Event& event) {
  // `peer` and `connect` channels are routing's own; it also follows paths and exchanges.
  if (routing_->on_event(now(), event)) return;
  std::visit(
      [this](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, event::ExchangeUp>) on_exchange_up(e);
        if constexpr (std::is_same_v<T, event::ExchangeDown>) on_exchange_down(e);
        if constexpr (std::is_same_v<T, event::PathChanged>) on_path_changed(e);
        if constexpr (std::is_same_v<T, event::ChannelOpened>) on_channel_opened(e);
        if constexpr (std::is_same_v<T, event::ChannelData>) on_channel_data(e);
        if constexpr (std::is_same_v<T, event::ChannelEnded>) {
          on_channel_closed({e.peer, e.channel}, "ended");
        }
        if constexpr (std::is_same_v<T, event::ChannelErrored>) {
          on_channel_closed({e.peer, e.channel}, e.reason);
        }
        if constexpr (std::is_same_v<T, event::MessageReceived>) on_message(e);
        if constexpr (std::is_same_v<T, event::SeqExhausted>) on_seq_exhausted(e);
      },
      event);
}

void Host::on_exchange_up(const event::ExchangeUp& up) {
  if (PeerRuntime* peer = runtime_of(up.peer)) {
    peer->backoff = kReconnectBackoffFirst;
    peer->next_attempt.reset();
    peer->down_reason.clear();
    peer->attempt_started.reset();
    peer->via_attempt.reset();
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
  for (auto& module : modules_) module->exchange_up(up);
}

void Host::on_exchange_down(const event::ExchangeDown& down) {
  const char* reason = to_string(down.reason);
  if (PeerRuntime* peer = runtime_of(down.peer)) {
    peer->down_reason = reason;
    if (down.reason == DownReason::kTimeout) {
      // Names may point elsewhere now (numeric endpoints map to the same paths again).
      peer->resolve_needed = true;
      schedule_retry(*peer, now());
    }
  }
  spdlog::warn("peer {}: down ({})", peer_label(down.peer), reason);
  broadcast(boost::json::object{{"event", "peer_down"}, {"reason", reason}}, down.peer);
  for (auto& module : modules_) module->exchange_down(down);
}

void Host::on_path_changed(const event::PathChanged& changed) {
  apply_keepalive(changed.peer);
  spdlog::info("peer {}: path changed to {}", peer_label(changed.peer), path_text(changed.path));
  log_path_upgrade(changed.peer, changed.path);
  broadcast(boost::json::object{{"event", "path_changed"}, {"path", path_text(changed.path)}},
            changed.peer);
}

// PROTOCOL.md 10.4: only this peer's exchange is affected (its SEQs were pushed to the top by
// its own handshakes, or ours toward it ran out); every other peer goes on.
void Host::on_seq_exhausted(const event::SeqExhausted& exhausted) {
  spdlog::error(
      "peer {}: no SEQ value is left toward it (its SEQs or ours reached 2^32), so nothing "
      "more can be sent to it; other peers are not affected. A peer that sends SEQs near "
      "2^32 is broken or hostile: remove it, or give it a new key",
      peer_label(exhausted.peer));
  broadcast(boost::json::object{{"event", "seq_exhausted"}}, exhausted.peer);
}

// A peer opened a channel: the module serving its type owns it; nobody serves it: refused.
void Host::on_channel_opened(event::ChannelOpened& opened) {
  auto served = channel_types_.find(opened.type);
  if (served == channel_types_.end()) {
    spdlog::debug("peer {}: refused channel of type '{}'", peer_label(opened.peer),
                  escape_text(opened.type));
    (void)endpoint_->close_channel(now(), opened.peer, opened.channel, "unknown channel type");
    return;
  }
  channel_owners_[{opened.peer, opened.channel}] = served->second;
  served->second->channel_opened(opened);
}

void Host::on_channel_data(event::ChannelData& data) {
  auto owner = channel_owners_.find({data.peer, data.channel});
  if (owner != channel_owners_.end()) owner->second->channel_data(data);
}

void Host::on_channel_closed(const ChannelKey& key, const std::string& reason) {
  auto owner = channel_owners_.find(key);
  if (owner == channel_owners_.end()) return;
  Module* module = owner->second;
  channel_owners_.erase(owner);
  module->channel_closed(key, reason);
}

void Host::on_message(event::MessageReceived& message) {
  if (message_handler_) message_handler_->message_received(message);
}

// ---------------------------------------------------------------------------------------
// Registration and channels for modules

void Host::serve_channel(std::string type, Module& module) {
  channel_types_[std::move(type)] = &module;
}

void Host::serve_messages(Module& module) {
  message_handler_ = &module;
}

void Host::serve_command(std::string name, CommandHandler handler) {
  commands_[std::move(name)] = std::move(handler);
}

Result<std::uint32_t, EndpointError> Host::open_channel(Module& owner, const Hashname& peer,
                                                        std::string type, bool reliable,
                                                        boost::json::object extra, Bytes body,
                                                        ChannelOptions options) {
  auto opened = endpoint_->open_channel(now(), peer, std::move(type), reliable, std::move(extra),
                                        std::move(body), options);
  if (opened) channel_owners_[{peer, *opened}] = &owner;
  return opened;
}

void Host::close_channel(const ChannelKey& key, const std::string& reason) {
  channel_owners_.erase(key);
  (void)endpoint_->close_channel(now(), key.first, key.second, reason);
}

void Host::broadcast(boost::json::object event, std::optional<Hashname> peer) {
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
