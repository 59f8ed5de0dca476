// The host's control commands (docs/control-protocol.md): dispatch to what the host and the
// modules serve, the built-in status, peers, peer and reload, and reload itself.
#include <spdlog/spdlog.h>

#include "config/identity_file.hpp"
#include "core/base32.hpp"
#include "daemon/host/host.hpp"
#include "daemon/support/build_info.hpp"
#include "daemon/support/encoding.hpp"
#include "daemon/support/logging.hpp"
#include "daemon/support/systemd_notify.hpp"

namespace e3x::daemon {

namespace json = boost::json;
using Reply = control::ControlServer::Reply;

namespace {

const char* state_name(ExchangeState state) {
  switch (state) {
    case ExchangeState::kUp:
      return "up";
    case ExchangeState::kConnecting:
      return "connecting";
    case ExchangeState::kNone:
      return "down";
  }
  return "down";
}

json::array string_array(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

}  // namespace

void Host::serve_builtin_commands() {
  serve_command("status", [this](const control::Request&, Respond respond) {
    respond(json::value(status_json()));
  });
  serve_command("peers", [this](const control::Request&, Respond respond) {
    respond(json::value(peers_json()));
  });
  serve_command("peer", [this](const control::Request& request, Respond respond) {
    const json::value* name = request.args.if_contains("peer");
    if (!name || !name->is_string()) {
      respond(control::error_reply("bad_argument", "\"peer\" must be a peer name or hashname"));
      return;
    }
    const auto hashname = lookup_peer(std::string(name->get_string()));
    if (!hashname) {
      respond(control::error_reply("unknown_peer",
                                   "no peer named '" + std::string(name->get_string()) + "'"));
      return;
    }
    json::object peer = peer_json(*hashname);
    if (auto flow = path_flow_json(*hashname)) peer["congestion"] = std::move(*flow);
    if (peer.contains("reach")) {
      const json::object detail = reach_json(*hashname, /*detailed=*/true);
      peer["path_history"] = detail.at("path_history");
      peer["punch"] = detail.at("punch");
    }
    respond(json::value(std::move(peer)));
  });
  serve_command("reload", [this](const control::Request&, Respond respond) { respond(reload()); });
  serve_command("routes", [this](const control::Request&, Respond respond) {
    respond(json::value(routes_json()));
  });
}

void Host::handle_control(const control::Request& request, Respond respond) {
  if (stopping_) {
    respond(control::error_reply("busy", "e3xd is shutting down"));
    return;
  }
  auto served = commands_.find(request.cmd);
  if (served == commands_.end()) {
    std::string known;
    for (const auto& [name, handler] : commands_) known += name + ", ";
    respond(control::error_reply(
        "unknown_command", "unknown command '" + request.cmd + "'; commands: " + known + "watch"));
    return;
  }
  served->second(request, std::move(respond));
  drive();  // whatever the command asked of the core goes out now
}

json::object Host::status_json() const {
  json::array listen;
  for (const auto& address : network_->local_addresses())
    listen.emplace_back(net::to_string(address));
  std::size_t up = 0;
  const auto peers = endpoint_->peers();
  for (const auto& peer : peers) {
    const auto status = endpoint_->peer_status(peer);
    if (status && status->state == ExchangeState::kUp) ++up;
  }
  const auto uptime = std::chrono::steady_clock::now() - started_at_;
  json::object status{
      {"hashname", endpoint_->hashname().to_string()},
      {"key", base32_encode(endpoint_->public_key())},
      {"version", e3xd_version()},
      {"listen", std::move(listen)},
      {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
      {"peers_up", up},
      {"peers_total", peers.size()},
      {"counters", counters_json()},
      {"dropped", drops_json()},
  };
  for (const auto& module : modules_) module->add_status(status);
  return status;
}

// The core's work since start: what it cost (X25519) and what went through it.
json::object Host::counters_json() const {
  const EndpointStats& core = endpoint_->stats();
  return json::object{
      {"x25519_operations", core.x25519_operations},
      {"datagrams_received", core.datagrams_received},
      {"handshakes_received", core.handshakes_received},
      {"handshakes_sent", core.handshakes_sent},
      {"channel_packets_received", core.channel_packets_received},
      {"channel_packets_sent", core.channel_packets_sent},
      {"message_packets_received", core.messages_received},
      {"message_packets_sent", core.messages_sent},
  };
}

// Every silently dropped packet, by reason (the core's and the sockets' counters).
json::object Host::drops_json() const {
  const EndpointStats& core = endpoint_->stats();
  const net::NetworkStats& net = network_->stats();
  return json::object{
      {"malformed", core.dropped_malformed},
      {"unauthenticated", core.dropped_unauthenticated},
      {"policy", core.dropped_policy},
      {"stale", core.dropped_stale},
      {"unknown_token", core.dropped_unknown_token},
      {"replay", core.dropped_replay},
      {"channel", core.dropped_channel},
      {"pending_full", core.dropped_pending},
      {"rate_limited", core.dropped_rate_limited},
      {"seq_too_far", core.dropped_seq_too_far},
      {"expired", core.dropped_expired},
      {"tcp_unauthenticated_closed", net.tcp_closed_unauthenticated},
      {"tcp_unauthenticated_refused", net.tcp_rejected_unauthenticated},
      {"oversize", net.dropped_oversize},
      {"receive_buffer_full", net.dropped_receive_buffer},
      {"uncloak", net.dropped_uncloak},
      {"send_error", net.dropped_send_error + net.dropped_unknown_path},
      {"tcp_write_queue_full", net.dropped_write_queue_full},
      {"tcp_frame_too_large", net.tcp_frame_too_large},
      {"seq_mark_unwritable", held_back_packets_},
  };
}

json::object Host::peer_json(const Hashname& hashname) const {
  const auto status = endpoint_->peer_status(hashname);
  const PeerRuntime* runtime = find_runtime(hashname);
  json::object out;
  out["name"] = runtime ? json::value(runtime->config.name) : json::value();
  out["hashname"] = hashname.to_string();
  // How the peer is reached, for peers that routing concerns (PROTOCOL.md 12): those with
  // `via`, and any it introduced or relayed. Other peers' output is what it always was.
  if ((runtime && !runtime->config.via.empty()) || routing_->tracks(hashname)) {
    out["reach"] = reach_json(hashname, /*detailed=*/false);
  }
  out["key"] = status && status->key ? json::value(base32_encode(*status->key)) : json::value();
  const ExchangeState state = status ? status->state : ExchangeState::kNone;
  out["state"] = state_name(state);
  std::string reason;
  if (state == ExchangeState::kNone && runtime) {
    reason = runtime->down_reason;
    for (const auto& [endpoint, error] : runtime->resolve_errors) {
      reason += "; cannot resolve " + endpoint + ": " + error;
    }
  }
  out["reason"] = reason.empty() ? json::value() : json::value(reason);
  const PathId path = status ? status->path : kNoPath;
  out["path"] = path != kNoPath ? json::value(path_text(path)) : json::value();
  json::array paths;
  if (status) {
    for (const PathId p : status->paths) paths.emplace_back(path_text(p));
  }
  out["paths"] = std::move(paths);
  json::array endpoints;
  if (runtime) {
    for (const auto& endpoint : runtime->config.endpoints) endpoints.emplace_back(endpoint.text);
  }
  out["endpoints"] = std::move(endpoints);
  json::object endpoint_errors;
  if (runtime) {
    for (const auto& [endpoint, error] : runtime->resolve_errors) endpoint_errors[endpoint] = error;
  }
  out["endpoint_errors"] = std::move(endpoint_errors);
  out["seq_sent"] = status ? status->seq_sent : 0;
  out["seq_recv"] = status ? status->seq_recv : 0;
  // PROTOCOL.md 10.4: no SEQ left toward this peer; nothing more can be sent to it.
  out["seq_exhausted"] = status && status->seq_exhausted;
  out["token"] =
      status && status->remote_token ? json::value(to_hex(*status->remote_token)) : json::value();
  json::value last_handshake;
  if (status && status->last_handshake) {
    // The core keeps monotonic instants; convert through the current offset to Unix time.
    const auto ago = std::chrono::steady_clock::now().time_since_epoch() -
                     status->last_handshake->time_since_epoch();
    const auto when = std::chrono::system_clock::now() -
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(ago);
    last_handshake =
        std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
  }
  out["last_handshake"] = last_handshake;
  // The handshake's round trip; null when unknown. (Read from the optional directly: through
  // a local std::optional, GCC 12 at -Os reports a false -Wmaybe-uninitialized.)
  json::value rtt_ms;
  if (status && status->handshake_rtt) {
    rtt_ms = std::chrono::duration<double, std::milli>(*status->handshake_rtt).count();
  }
  out["rtt_ms"] = rtt_ms;
  out["rx_packets"] = status ? status->rx_packets : 0;
  out["tx_packets"] = status ? status->tx_packets : 0;
  out["rx_bytes"] = status ? status->rx_bytes : 0;
  out["tx_bytes"] = status ? status->tx_bytes : 0;
  out["keepalive"] =
      status ? std::chrono::duration_cast<std::chrono::seconds>(status->keepalive).count() : 0;
  out["channels"] = status ? status->channels : 0;
  for (const auto& module : modules_) module->add_peer_status(hashname, out);
  return out;
}

// The congestion state of a peer's current path (PROTOCOL.md 13), for `peer` only (a list of
// thousands of peers does not need it): what a user asks when a stream is slower than the link.
std::optional<json::object> Host::path_flow_json(const Hashname& hashname) const {
  const auto flow = endpoint_->path_flow(hashname);
  if (!flow) return std::nullopt;
  auto ms = [](const std::optional<Duration>& value) -> json::value {
    if (!value) return nullptr;
    return std::chrono::duration<double, std::milli>(*value).count();
  };
  auto total_ms = [](Duration value) {
    return std::chrono::duration<double, std::milli>(value).count();
  };
  return json::object{
      {"algorithm", flow->algorithm},
      {"window", flow->window == SIZE_MAX ? json::value(nullptr) : json::value(flow->window)},
      {"bytes_in_flight", flow->bytes_in_flight},
      {"slow_start", flow->slow_start},
      {"srtt_ms", ms(flow->srtt)},
      {"rttvar_ms", ms(flow->rttvar)},
      {"min_rtt_ms", ms(flow->min_rtt)},
      {"pacing_bytes_per_s", flow->pacing_rate},
      {"congestion_events", flow->congestion_events},
      {"persistent_congestion", flow->persistent_congestion},
      {"idle_restarts", flow->idle_restarts},
      {"rtt_probes", flow->rtt_probes},
      {"rtt_renewals", flow->rtt_renewals},
      {"limited_ms",
       json::object{
           {"pacing", total_ms(flow->limited.pacing)},
           {"congestion_window", total_ms(flow->limited.congestion_window)},
           {"peer_window", total_ms(flow->limited.peer_window)},
           {"application", total_ms(flow->limited.application)},
       }},
  };
}

json::array Host::peers_json() const {
  json::array out;
  // Configured peers in name order, then any others (admitted by accept = "any").
  for (const auto& [name, hashname] : names_) out.emplace_back(peer_json(hashname));
  for (const auto& hashname : endpoint_->peers()) {
    if (!find_runtime(hashname)) out.emplace_back(peer_json(hashname));
  }
  return out;
}

Reply Host::reload() {
  if (config_file_.empty()) {
    return control::error_reply("no_config_file",
                                "e3xd runs on its embedded default config; nothing to reload");
  }
  notify_reloading();
  auto next = config::load_config(config_file_);
  if (!next) {
    notify_ready("reload failed");
    // Nothing of the file was applied: say so, so nobody wonders which half is running.
    return control::error_reply("bad_config",
                                next.error().to_string() + "; the running configuration is kept");
  }
  const ConfigDiff diff = diff_config(config_, *next);
  for (const auto& name : diff.removed) remove_configured_peer(name);
  for (const auto& name : diff.rekeyed) remove_configured_peer(name);
  config::Config& running = config_;
  // Settings that apply live.
  accept_any_ = next->accept == config::Accept::kAny;
  running.log_level = next->log_level;
  running.accept = next->accept;
  running.udp.keepalive_s = next->udp.keepalive_s;
  running.tcp.keepalive_s = next->tcp.keepalive_s;
  running.messages = next->messages;
  running.router = next->router;
  std::vector<std::string> failed;
  for (const auto& peer : next->peers) {
    const bool is_new =
        std::find(diff.added.begin(), diff.added.end(), peer.name) != diff.added.end() ||
        std::find(diff.rekeyed.begin(), diff.rekeyed.end(), peer.name) != diff.rekeyed.end();
    if (is_new) {
      if (auto error = add_configured_peer(peer)) {
        failed.push_back(peer.name + ": " + *error);
      }
      continue;
    }
    // Changed or unchanged: the exchange stays; endpoints and keepalive are updated.
    PeerRuntime* runtime = runtime_of(names_.at(peer.name));
    if (!runtime) continue;
    const bool endpoints_changed = runtime->config.endpoints != peer.endpoints;
    runtime->config = peer;
    if (endpoints_changed) {
      // New endpoints deserve an attempt now, not when an old backoff runs out.
      runtime->next_attempt.reset();
      runtime->backoff = kReconnectBackoffFirst;
      const auto status = endpoint_->peer_status(peer.hashname);
      if (status && status->state != ExchangeState::kUp) {
        resolve_endpoints(*runtime);
        attempt_connect(*runtime);  // joins an outstanding handshake, or starts one
      } else {
        runtime->resolve_needed = true;  // used at the next attempt
      }
    }
    apply_keepalive(peer.hashname);
  }
  running.peers = next->peers;
  running.services = next->services;  // the services module applies them (reloaded())
  running.forwards = next->forwards;
  std::erase_if(running.peers, [&](const config::PeerConfig& peer) {
    return names_.find(peer.name) == names_.end();
  });
  json::array changed = string_array(diff.changed);
  for (const auto& name : diff.rekeyed) changed.emplace_back(name);
  json::object result{{"added", string_array(diff.added)},
                      {"removed", string_array(diff.removed)},
                      {"changed", std::move(changed)},
                      {"unchanged", string_array(diff.unchanged)},
                      {"restart_required", string_array(diff.restart_required)},
                      {"applied", string_array(diff.applied)}};
  if (!failed.empty()) result["failed"] = string_array(failed);
  spdlog::info("reloaded {}: {} added, {} removed, {} changed, {} unchanged{}",
               config_file_.string(), diff.added.size(), diff.removed.size(),
               diff.changed.size() + diff.rekeyed.size(), diff.unchanged.size(),
               diff.restart_required.empty() ? "" : "; restart needed for some settings");
  for (const auto& change : diff.applied) spdlog::info("reload: {}", change);
  for (const auto& name : diff.added) spdlog::info("reload: peer {} added", name);
  for (const auto& name : diff.removed) spdlog::info("reload: peer {} removed", name);
  for (const auto& name : diff.changed) {
    spdlog::info("reload: peer {} changed (endpoints or keepalive)", name);
  }
  for (const auto& name : diff.rekeyed) {
    spdlog::info("reload: peer {} has another key or hashname: a new peer", name);
  }
  for (const auto& failure : failed) spdlog::error("reload: peer {}", failure);
  for (const auto& key : diff.restart_required) {
    spdlog::warn("reload: '{}' changed; it takes effect after a restart", key);
  }
  // Last, so the report above goes out at the level it was asked under.
  if (diff.log_level_changed) set_log_level(running.log_level);
  broadcast(json::object{{"event", "reload"}, {"result", result}});
  for (auto& module : modules_) module->reloaded();
  routing_->reconfigure(routing_config());
  connect_due_peers();
  drive();
  notify_ready("reloaded");
  return json::value(std::move(result));
}

}  // namespace e3x::daemon
