#include "core/routing.hpp"

#include <algorithm>
#include <cstdio>

#include <boost/json/string.hpp>

namespace e3x {

namespace {

constexpr const char* kPeerChannel = "peer";
constexpr const char* kConnectChannel = "connect";

std::optional<Hashname> hashname_field(const boost::json::object& json, const char* key) {
  const auto* value = json.if_contains(key);
  if (!value || !value->is_string()) return std::nullopt;
  return Hashname::parse(std::string_view(value->get_string()));
}

bool is_message_packet(ByteView packet) {
  return packet.size() >= 3 && packet[0] == 0 && packet[1] == 1 && packet[2] == 0x3a;
}

std::string seconds_text(Duration duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(duration).count());
  return text;
}

}  // namespace

const char* to_string(ReachKind kind) {
  switch (kind) {
    case ReachKind::kNone:
      return "none";
    case ReachKind::kDirect:
      return "direct";
    case ReachKind::kRelayed:
      return "relayed";
    case ReachKind::kConnectingVia:
      return "connecting";
  }
  return "none";
}

const char* to_string(PeerReach::Punch punch) {
  switch (punch) {
    case PeerReach::Punch::kIdle:
      return "idle";
    case PeerReach::Punch::kPunching:
      return "punching";
    case PeerReach::Punch::kFailed:
      return "failed";
  }
  return "idle";
}

Routing::Routing(Endpoint& endpoint, RoutingConfig config)
    : endpoint_(endpoint), config_(std::move(config)), routes_(config_.relay) {}

void Routing::reconfigure(RoutingConfig config) {
  config_ = std::move(config);
  routes_.set_limits(config_.relay);
  // Routes of pairs we may no longer route for go at once (a router turned off: all of them).
  routes_.forget_pairs_unless([this](const Hashname& peer) {
    return config_.router && (!config_.may_route || config_.may_route(peer));
  });
}

void Routing::forget_peer(const Hashname& peer) {
  routes_.forget_peer(peer);
  forget_tokens_of(peer);
  peers_.erase(peer);
}

// ---------------------------------------------------------------------------------------
// Datagrams

Routing::Decision Routing::on_datagram(Instant now, PathId from, ByteView packet) {
  const bool routing = config_.router && routes_.route_count() != 0;
  if (incoming_tokens_.empty() && !routing) return {Decision::Kind::kDeliver, from};
  const std::optional<Token> token = routing_token_of(packet);
  if (!token) return {Decision::Kind::kDeliver, from};
  if (auto it = incoming_tokens_.find(*token); it != incoming_tokens_.end()) {
    // A packet of a peer we reach through a router, arriving from that router: the relay
    // path is where it came from. The same token from anywhere else is the peer (or anyone)
    // sending directly, and the endpoint's path rules judge it as such.
    if (endpoint_.current_path(it->second.router) == from) {
      return {Decision::Kind::kDeliver, it->second.relay};
    }
  }
  if (!routing || endpoint_.knows_remote_token(*token)) return {Decision::Kind::kDeliver, from};
  // Where it would go is decided before the pair counts it: a packet that cannot be
  // forwarded (no direct path to the other end, or back to where it came from) is not the
  // pair's traffic and spends none of its rate.
  PathId path = kNoPath;
  const auto can_deliver = [&](const Hashname& to) {
    path = endpoint_.current_path(to);
    return path != kNoPath && !is_relay_path(path) && path != from;
  };
  const auto verdict = routes_.route(now, *token, packet.size(), can_deliver).first;
  switch (verdict) {
    case RelayRoutes::Verdict::kNotRouted:
      return {Decision::Kind::kDeliver, from};
    case RelayRoutes::Verdict::kForward:
      stats_.relayed_packets += 1;
      stats_.relayed_bytes += packet.size();
      return {Decision::Kind::kForward, path};
    case RelayRoutes::Verdict::kRateLimited:
    case RelayRoutes::Verdict::kRelayOff:
    case RelayRoutes::Verdict::kUndeliverable:
      break;
  }
  stats_.relay_dropped += 1;
  return {Decision::Kind::kDrop, kNoPath};
}

// ---------------------------------------------------------------------------------------
// Transmits on relay paths

std::optional<Transmit> Routing::poll_transmit(Instant now) {
  for (;;) {
    std::optional<Transmit> next;
    if (!unprocessed_.empty()) {
      next = std::move(unprocessed_.front());
      unprocessed_.pop_front();
    } else {
      next = endpoint_.poll_transmit();
    }
    if (!next) return std::nullopt;
    if (auto transmit = on_transmit(now, std::move(*next))) return transmit;
  }
}

std::optional<Transmit> Routing::on_transmit(Instant now, Transmit transmit) {
  if (!is_relay_path(transmit.path)) return transmit;
  const auto info = relay_path_info_.find(transmit.path);
  if (info == relay_path_info_.end()) {
    stats_.relay_transmit_dropped += 1;
    return std::nullopt;
  }
  const Hashname& router = info->second.router;
  if (is_message_packet(transmit.packet)) {
    // A handshake (or message) for the peer: in a `peer` channel, so the router learns the
    // token it routes by and passes it on in a `connect` (PROTOCOL.md 12).
    boost::json::object extra;
    extra["peer"] = info->second.peer.to_string();
    // With the router's exchange in sync the open leaves at once: it is the endpoint's last
    // transmit. It goes first: packets queued before it (the path probe a peer opens when
    // the exchange comes up, pending packets flushed at sync) use the route it sets up.
    const bool leaves_now = endpoint_.exchange_up(router);
    auto opened =
        endpoint_.open_channel(now, router, kPeerChannel, false, std::move(extra), transmit.packet);
    if (opened && leaves_now) {
      std::deque<Transmit> queued;
      while (auto next = endpoint_.poll_transmit()) queued.push_back(std::move(*next));
      if (!queued.empty()) {
        Transmit wrapped = std::move(queued.back());
        queued.pop_back();
        for (auto& earlier : queued) unprocessed_.push_back(std::move(earlier));
        // On the router's own path, which may be a relay path in its turn (a router reached
        // through another): judged like any transmit, never handed out on a relay path.
        return on_transmit(now, std::move(wrapped));
      }
    }
    if (opened) return std::nullopt;
    // Too large for a channel: sent as it is; the router forwards it by token once the pair
    // has a route.
  }
  const PathId router_path = endpoint_.current_path(router);
  if (router_path == kNoPath || is_relay_path(router_path)) {
    stats_.relay_transmit_dropped += 1;
    return std::nullopt;
  }
  transmit.path = router_path;
  return transmit;
}

// ---------------------------------------------------------------------------------------
// Events

bool Routing::on_event(Instant now, const Event& event) {
  if (const auto* open = std::get_if<event::ChannelOpened>(&event)) {
    if (open->type == kPeerChannel && !open->reliable) {
      on_peer_request(now, *open);
      return true;
    }
    if (open->type == kConnectChannel && !open->reliable) {
      on_connect(now, *open);
      return true;
    }
    return false;
  }
  if (const auto* up = std::get_if<event::ExchangeUp>(&event)) {
    if (is_relay_path(up->path)) remember_token(up->remote_token, up->path);
    on_path(now, up->peer, up->path, up->new_session ? "new session" : "exchange up");
  } else if (const auto* changed = std::get_if<event::PathChanged>(&event)) {
    on_path(now, changed->peer, changed->path, "path changed");
  } else if (const auto* down = std::get_if<event::ExchangeDown>(&event)) {
    forget_tokens_of(down->peer);
    if (auto it = peers_.find(down->peer); it != peers_.end()) {
      PeerState& state = it->second;
      if (state.reach.kind != ReachKind::kNone) {
        state.reach.history.push_back(
            {now, describe_reach(state.reach.path), "none", "exchange down"});
        if (state.reach.history.size() > kMaxPathHistory) state.reach.history.pop_front();
      }
      state.reach.kind = ReachKind::kNone;
      state.reach.path = kNoPath;
      state.reach.punch = PeerReach::Punch::kIdle;
      state.reach.next_attempt.reset();
      state.attempt_started.reset();
      state.relayed_since.reset();
    }
  }
  return false;
}

void Routing::on_peer_request(Instant now, const event::ChannelOpened& open) {
  // Never a reply, whatever the outcome (telehash peer.md): the asker learns nothing.
  const auto target = hashname_field(open.json, "peer");
  const std::optional<Token> token =
      is_message_packet(open.body) ? routing_token_of(open.body) : std::nullopt;
  const bool allowed = config_.router && target && token && *target != open.peer &&
                       *target != endpoint_.hashname() && config_.may_route &&
                       config_.may_route(open.peer) && config_.may_route(*target) &&
                       endpoint_.exchange_up(*target) && !endpoint_.knows_remote_token(*token);
  if (!allowed || !routes_.add_route(now, *token, open.peer, *target)) {
    stats_.peer_requests_refused += 1;
    return;
  }
  boost::json::object extra;
  extra["peer"] = open.peer.to_string();
  boost::json::array paths;
  if (config_.describe_path) paths = config_.describe_path(endpoint_.current_path(open.peer));
  extra["paths"] = std::move(paths);
  if (endpoint_.open_channel(now, *target, kConnectChannel, false, std::move(extra), open.body)) {
    stats_.introductions += 1;
  }
}

void Routing::on_connect(Instant now, const event::ChannelOpened& open) {
  const auto origin = hashname_field(open.json, "peer");
  const std::optional<Token> token =
      is_message_packet(open.body) ? routing_token_of(open.body) : std::nullopt;
  bool from_our_router = false;
  if (origin && config_.routers_for) {
    const auto routers = config_.routers_for(*origin);
    from_our_router = std::find(routers.begin(), routers.end(), open.peer) != routers.end();
  }
  if (!from_our_router || !token || *origin == endpoint_.hashname()) {
    stats_.connects_refused += 1;
    return;
  }
  const PathId relay = relay_path(open.peer, *origin);
  PeerState& state = peers_[*origin];
  if (const auto* paths = open.json.if_contains("paths");
      paths && paths->is_array() && config_.path_from_description) {
    for (const auto& entry : paths->get_array()) {
      if (!entry.is_object()) continue;
      const PathId path = config_.path_from_description(entry.get_object());
      if (path == kNoPath || is_relay_path(path)) continue;
      auto& observed = state.reach.observed;
      if (std::find(observed.begin(), observed.end(), path) != observed.end()) continue;
      if (observed.size() >= kMaxObservedPaths) observed.erase(observed.begin());
      observed.push_back(path);
    }
  }
  // The attached packet as if it had arrived on the relay path, taken only when it
  // authenticates as a handshake from the peer the router says it is. Its token is kept only
  // then: a router turned hostile could otherwise have us keep one for every junk BODY it
  // sends, and a peer listed as a router could move its own exchange (or anyone's) onto the
  // relay path through itself.
  if (endpoint_.handle_carried_handshake(now, relay, open.body, *origin)) {
    remember_token(*token, relay);
  } else {
    stats_.connects_refused += 1;
  }
}

// At most kMaxTokensPerPair per relay path, the oldest forgotten: every handshake of the peer
// through the router brings a new token, for as long as the exchange lives.
void Routing::remember_token(const Token& token, PathId relay) {
  const auto info = relay_path_info_.find(relay);
  if (info == relay_path_info_.end()) return;
  std::size_t held = 0;
  auto oldest = incoming_tokens_.end();
  for (auto it = incoming_tokens_.begin(); it != incoming_tokens_.end(); ++it) {
    if (it->second.relay != relay || it->first == token) continue;
    ++held;
    if (oldest == incoming_tokens_.end() || it->second.order < oldest->second.order) oldest = it;
  }
  if (held >= kMaxTokensPerPair) incoming_tokens_.erase(oldest);
  incoming_tokens_[token] =
      IncomingToken{relay, info->second.router, info->second.peer, ++token_order_};
}

void Routing::forget_tokens_of(const Hashname& peer) {
  std::erase_if(incoming_tokens_, [&](const auto& entry) { return entry.second.peer == peer; });
}

std::string Routing::describe_reach(PathId path) const {
  if (path == kNoPath) return "none";
  if (is_relay_path(path)) {
    const auto info = relay_path_info_.find(path);
    return info == relay_path_info_.end() ? "relayed"
                                          : "relayed via " + info->second.router.to_string();
  }
  return "direct";
}

void Routing::on_path(Instant now, const Hashname& peer, PathId path, const std::string& why) {
  const bool relayed = is_relay_path(path);
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (!relayed) return;  // a peer we never routed: nothing to track
    it = peers_.try_emplace(peer).first;
  }
  PeerState& state = it->second;
  const PathId before = state.reach.path;
  const std::string from = describe_reach(before);
  state.reach.path = path;
  if (relayed) {
    state.reach.kind = ReachKind::kRelayed;
    state.reach.via = relay_path_info_.at(path).router;
    if (!state.relayed_since) state.relayed_since = now;
    if (!state.attempt_started && state.reach.punch != PeerReach::Punch::kFailed) {
      start_attempt(now, state);
    }
  } else {
    std::string reason = why;
    if (is_relay_path(before) && state.attempt_started) {
      reason = "punched in " + seconds_text(now - *state.attempt_started);
      stats_.punches_succeeded += 1;
    } else if (is_relay_path(before)) {
      reason = "direct path confirmed";
    }
    state.reach.kind = ReachKind::kDirect;
    state.reach.punch = PeerReach::Punch::kIdle;
    state.reach.last_failure.clear();
    state.reach.next_attempt.reset();
    state.attempt_started.reset();
    state.relayed_since.reset();
    if (from != "direct" || before != path) {
      state.reach.history.push_back({now, from, "direct", reason});
    }
    if (state.reach.history.size() > kMaxPathHistory) state.reach.history.pop_front();
    return;
  }
  if (from != describe_reach(path)) {
    state.reach.history.push_back({now, from, describe_reach(path), why});
    if (state.reach.history.size() > kMaxPathHistory) state.reach.history.pop_front();
  }
}

void Routing::start_attempt(Instant now, PeerState& state) {
  state.attempt_started = now;
  state.punches_sent = 0;
  state.reach.next_attempt.reset();
  state.reach.punch = PeerReach::Punch::kPunching;
  stats_.punches_started += 1;
}

std::optional<Instant> Routing::next_punch(const PeerState& state) const {
  if (state.attempt_started) {
    if (state.punches_sent < std::size(kPunchSchedule)) {
      return *state.attempt_started + kPunchSchedule[state.punches_sent];
    }
    return *state.attempt_started + kPunchAttemptLength;
  }
  if (state.reach.kind == ReachKind::kRelayed && state.reach.next_attempt) {
    return state.reach.next_attempt;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Timers

PathId Routing::fallback_path(const Hashname& peer) const {
  for (const auto& [pair, path] : relay_paths_) {
    if (pair.second == peer) return path;
  }
  return kNoPath;
}

std::optional<Instant> Routing::fallback_due(const Hashname& peer, const PeerState& state) const {
  if (state.reach.kind != ReachKind::kDirect) return std::nullopt;
  const auto since = endpoint_.handshake_outstanding_since(peer);
  if (!since || state.fallback_offered_for == since) return std::nullopt;
  return *since + kRelayFallbackAfter;
}

void Routing::handle_timeout(Instant now) {
  if (auto next = routes_.next_expiry(); next && *next <= now) routes_.expire(now);
  for (auto& [peer, state] : peers_) {
    if (auto due = fallback_due(peer, state); due && *due <= now) {
      // The same handshake, offered through the router: the peer answers it from there and
      // the exchange moves to the relay (a fresh confirmation), or the direct path recovers.
      state.fallback_offered_for = endpoint_.handshake_outstanding_since(peer);
      if (const PathId relay = fallback_path(peer); relay != kNoPath) {
        (void)endpoint_.connect(now, peer, relay);
      }
    }
  }
  for (auto& [peer, state] : peers_) {
    if (state.reach.kind != ReachKind::kRelayed) continue;
    if (!state.attempt_started && state.reach.next_attempt && *state.reach.next_attempt <= now) {
      start_attempt(now, state);
    }
    if (!state.attempt_started) continue;
    while (state.punches_sent < std::size(kPunchSchedule) &&
           *state.attempt_started + kPunchSchedule[state.punches_sent] <= now) {
      ++state.punches_sent;
      if (state.reach.observed.empty()) continue;
      // One fresh handshake per attempt, then the same bytes again (Endpoint::punch).
      (void)endpoint_.punch(now, peer, state.reach.observed);
    }
    if (now - *state.attempt_started >= kPunchAttemptLength) {
      const Duration took = now - *state.attempt_started;
      state.attempt_started.reset();
      state.reach.punch = PeerReach::Punch::kFailed;
      state.reach.last_failure =
          state.reach.observed.empty()
              ? "no direct address of the peer is known"
              : "no answer from " + std::to_string(state.reach.observed.size()) +
                    (state.reach.observed.size() == 1 ? " address in " : " addresses in ") +
                    seconds_text(took);
      state.reach.next_attempt = now + config_.upgrade_retry;
      stats_.punches_failed += 1;
    }
  }
}

std::optional<Instant> Routing::next_timeout() const {
  std::optional<Instant> next = routes_.next_expiry();
  for (const auto& [peer, state] : peers_) {
    if (auto at = fallback_due(peer, state); at && (!next || *at < *next)) next = at;
    if (state.reach.kind != ReachKind::kRelayed) continue;
    if (auto at = next_punch(state); at && (!next || *at < *next)) next = at;
  }
  return next;
}

// ---------------------------------------------------------------------------------------
// Commands and status

PathId Routing::relay_path(const Hashname& router, const Hashname& peer) {
  auto [it, inserted] = relay_paths_.try_emplace({router, peer}, next_relay_path_);
  if (inserted) {
    relay_path_info_[next_relay_path_] = RelayPathInfo{router, peer};
    ++next_relay_path_;
  }
  return it->second;
}

bool Routing::in_order_needed(PathId from) const {
  if (config_.router) return true;
  for (const auto& [pair, path] : relay_paths_) {
    if (endpoint_.current_path(pair.first) == from) return true;
  }
  return false;
}

std::optional<Routing::RelayPathInfo> Routing::relay_path_info(PathId path) const {
  const auto it = relay_path_info_.find(path);
  if (it == relay_path_info_.end()) return std::nullopt;
  return it->second;
}

Result<Sent, EndpointError> Routing::connect_via(Instant now, const Hashname& peer,
                                                 const Hashname& router) {
  PeerState& state = peers_[peer];
  if (state.reach.kind == ReachKind::kNone) {
    state.reach.kind = ReachKind::kConnectingVia;
    state.reach.via = router;
  }
  return endpoint_.connect(now, peer, relay_path(router, peer));
}

PeerReach Routing::reach(const Hashname& peer) const {
  const auto it = peers_.find(peer);
  if (it == peers_.end()) {
    PeerReach reach;
    reach.path = endpoint_.current_path(peer);
    reach.kind = !endpoint_.exchange_up(peer) ? ReachKind::kNone : ReachKind::kDirect;
    return reach;
  }
  PeerReach reach = it->second.reach;
  if (reach.kind == ReachKind::kConnectingVia && endpoint_.exchange_up(peer) &&
      !is_relay_path(endpoint_.current_path(peer))) {
    reach.kind = ReachKind::kDirect;
  }
  return reach;
}

}  // namespace e3x
