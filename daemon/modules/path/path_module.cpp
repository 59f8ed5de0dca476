#include "daemon/modules/path/path_module.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>

namespace e3x::daemon {

namespace json = boost::json;

namespace {

// "udp4 203.0.113.5:42424" from a path channel's {"type","ip","port"}, or "" if malformed.
std::string describe_reported_path(const json::value* path) {
  const json::object* object = path ? path->if_object() : nullptr;
  if (!object) return {};
  const auto* type = object->if_contains("type");
  const auto* ip = object->if_contains("ip");
  const auto* port = object->if_contains("port");
  if (type && type->is_string() && type->get_string() == "peer") {
    // Reached through a router (PROTOCOL.md 12): the peer sees us relayed by `hn`.
    const auto* hn = object->if_contains("hn");
    const auto router =
        hn && hn->is_string() ? Hashname::parse(std::string_view(hn->get_string())) : std::nullopt;
    return router ? "relayed via " + router->to_string() : std::string{};
  }
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

PathModule::PathModule(Host& host) : host_(host) {
  host_.serve_channel("path", *this);
  host_.serve_command("ping", [this](const control::Request& request, Host::Respond respond) {
    ping(request, std::move(respond));
  });
}

void PathModule::ping(const control::Request& request, Host::Respond respond) {
  const json::value* name = request.args.if_contains("peer");
  if (!name || !name->is_string()) {
    respond(control::error_reply("bad_argument", "\"peer\" must be a peer name or hashname"));
    return;
  }
  const auto hashname = host_.lookup_peer(std::string(name->get_string()));
  if (!hashname) {
    respond(control::error_reply("unknown_peer",
                                 "no peer named '" + std::string(name->get_string()) + "'"));
    return;
  }
  const auto status = host_.endpoint().peer_status(*hashname);
  if (!status || status->state != ExchangeState::kUp) {
    respond(
        control::error_reply("not_up", "peer '" + std::string(name->get_string()) + "' is not up"));
    return;
  }
  start_probe(*hashname, std::move(respond));
}

// Learn how the peer sees us (our public address) on every new session.
void PathModule::exchange_up(const event::ExchangeUp& up) {
  start_probe(up.peer, nullptr);
}

void PathModule::exchange_down(const event::ExchangeDown& down) {
  std::vector<ChannelKey> keys;
  for (const auto& [key, probe] : probes_) {
    if (key.first == down.peer) keys.push_back(key);
  }
  for (const auto& key : keys) finish_probe(key, std::string("peer ") + to_string(down.reason));
}

void PathModule::peer_removed(const Hashname& peer) {
  std::erase_if(probes_, [&](const auto& probe) { return probe.first.first == peer; });
  probe_rtts_.erase(peer);
}

// Whoever opens a "path" channel gets back the address we see it at.
void PathModule::channel_opened(event::ChannelOpened& opened) {
  const ChannelKey key{opened.peer, opened.channel};
  if (opened.reliable) {
    spdlog::debug("peer {}: refused channel of type 'path' (reliable)",
                  host_.peer_label(opened.peer));
    host_.close_channel(key, "unknown channel type");
    return;
  }
  const auto status = host_.endpoint().peer_status(opened.peer);
  const json::object path = status ? host_.path_object(status->path) : json::object{};
  if (path.empty()) {
    host_.close_channel(key, "no path");
    return;
  }
  (void)host_.endpoint().send_channel(host_.now(), opened.peer, opened.channel,
                                      json::object{{"path", path}}, {}, true);
}

void PathModule::channel_data(event::ChannelData& data) {
  const ChannelKey key{data.peer, data.channel};
  auto found = probes_.find(key);
  if (found == probes_.end()) return;  // the opener's end on a channel we answered
  const std::string seen_as = describe_reported_path(data.json.if_contains("path"));
  if (seen_as.empty()) {
    finish_probe(key, "the peer's path reply is malformed");
    return;
  }
  const Duration rtt = host_.now() - found->second.opened_at;
  probe_rtts_[data.peer] = rtt;
  if (seen_as.rfind("relayed", 0) != 0 && public_paths_.size() < kPublicPathLimit &&
      public_paths_.insert(seen_as).second) {
    spdlog::info("peer {} sees us at {}", host_.peer_label(data.peer), seen_as);
  }
  auto waiters = std::move(found->second.waiters);
  probes_.erase(found);
  if (!data.end) {
    host_.close_channel(key, "done");
  } else {
    (void)host_.endpoint().send_channel(host_.now(), data.peer, data.channel, {}, {},
                                        true);  // end as well
  }
  const double rtt_ms = std::chrono::duration<double, std::milli>(rtt).count();
  for (auto& respond : waiters) {
    respond(json::value(json::object{{"path", data.json.at("path")}, {"rtt_ms", rtt_ms}}));
  }
}

void PathModule::channel_closed(const ChannelKey& key, const std::string& reason) {
  finish_probe(
      key, reason == "ended" ? "the peer ended the channel without a path" : "channel " + reason);
}

void PathModule::finish_probe(const ChannelKey& key, const std::string& why) {
  auto found = probes_.find(key);
  if (found == probes_.end()) return;
  auto waiters = std::move(found->second.waiters);
  probes_.erase(found);
  for (auto& respond : waiters) {
    respond(control::error_reply("no_reply", "no path reply: " + why));
  }
}

void PathModule::tick(Instant now) {
  std::vector<ChannelKey> expired;
  std::vector<ChannelKey> unanswered;
  for (const auto& [key, probe] : probes_) {
    if (now - probe.started_at >= kPathProbeTimeout) {
      expired.push_back(key);
    } else if (now - probe.opened_at >= kPathProbeRetry) {
      unanswered.push_back(key);
    }
  }
  for (const auto& key : expired) {
    host_.close_channel(key, "timeout");
    finish_probe(key, "no answer within 5 s");
  }
  for (const auto& key : unanswered) retry_probe(key, now);
}

// The probe moves to a new channel before the old one is closed, so nothing about the old
// channel (its close, a late answer on it) finds a probe under its key any more. If no channel
// can be opened now, the old one goes on waiting.
void PathModule::retry_probe(const ChannelKey& key, Instant now) {
  auto found = probes_.find(key);
  if (found == probes_.end()) return;
  auto opened = host_.open_channel(*this, key.first, "path", false);
  if (!opened) return;
  Probe probe = std::move(found->second);
  probes_.erase(found);
  probe.opened_at = now;
  probes_.emplace(ChannelKey{key.first, *opened}, std::move(probe));
  host_.close_channel(key, "no answer");
}

void PathModule::start_probe(const Hashname& peer, Host::Respond respond) {
  // One probe per peer at a time: a second asker waits for the same answer.
  for (auto& [key, probe] : probes_) {
    if (key.first == peer) {
      if (respond) probe.waiters.push_back(std::move(respond));
      return;
    }
  }
  const Instant at = host_.now();
  auto opened = host_.open_channel(*this, peer, "path", false);
  if (!opened) {
    if (respond) respond(control::error_reply("not_up", to_string(opened.error())));
    return;
  }
  Probe probe{at, at, {}};
  if (respond) probe.waiters.push_back(std::move(respond));
  probes_.emplace(ChannelKey{peer, *opened}, std::move(probe));
}

void PathModule::add_status(json::object& status) const {
  json::array paths;
  for (const auto& path : public_paths_) paths.emplace_back(path);
  status["public_paths"] = std::move(paths);
}

// The handshake's round trip is the better estimate; the probe's stands in without one.
void PathModule::add_peer_status(const Hashname& peer, json::object& entry) const {
  const json::value* rtt = entry.if_contains("rtt_ms");
  if (rtt && !rtt->is_null()) return;
  if (auto found = probe_rtts_.find(peer); found != probe_rtts_.end()) {
    entry["rtt_ms"] = std::chrono::duration<double, std::milli>(found->second).count();
  }
}

}  // namespace e3x::daemon
