// Routing through a mutual peer (PROTOCOL.md 12) in the daemon: the core's Routing (core/
// routing.hpp) configured from [router] and each peer's `via`, peers with `via` connected
// through their routers, and what `e3xctl routes` and `peers` show of it.
#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>

#include "daemon/host/host.hpp"

namespace e3x::daemon {

namespace json = boost::json;

namespace {
// A peer with endpoints is tried through its routers once a direct attempt has gone this long
// without an answer (the issue: "one with endpoints, after direct attempts fail").
constexpr Duration kDirectAttemptBeforeVia = seconds(5);

double seconds_of(Duration duration) {
  return std::chrono::duration<double>(duration).count();
}
}  // namespace

RoutingConfig Host::routing_config() {
  RoutingConfig routing;
  const config::RouterConfig& router = config_.router;
  routing.router = router.enable;
  routing.relay.relay = router.relay;
  routing.relay.rate = router.relay_rate;
  routing.relay.idle = seconds(router.relay_idle_s);
  routing.may_route = [this](const Hashname& peer) {
    const config::RouterConfig& allow = config_.router;
    if (allow.allow_all_peers && find_runtime(peer)) return true;
    return std::any_of(allow.allow.begin(), allow.allow.end(), [&](const std::string& entry) {
      const auto hashname = lookup_peer(entry);
      return hashname && *hashname == peer;
    });
  };
  routing.routers_for = [this](const Hashname& peer) {
    std::vector<Hashname> routers;
    if (const PeerRuntime* runtime = find_runtime(peer)) {
      for (const auto& name : runtime->config.via) {
        if (auto router = lookup_peer(name)) routers.push_back(*router);
      }
    }
    return routers;
  };
  // Only UDP addresses are offered for punching: a TCP path cannot be punched.
  routing.describe_path = [this](PathId path) {
    json::array paths;
    const net::PathAddress* address = network_->address_of(path);
    if (address && address->kind == net::PathKind::kUdp) paths.emplace_back(path_object(path));
    return paths;
  };
  routing.path_from_description = [this](const json::object& entry) -> PathId {
    const auto* type = entry.if_contains("type");
    const auto* ip = entry.if_contains("ip");
    const auto* port = entry.if_contains("port");
    if (!type || !ip || !port || !type->is_string() || !ip->is_string() || !port->is_int64()) {
      return kNoPath;
    }
    if (type->get_string() != "udp4" && type->get_string() != "udp6") return kNoPath;
    boost::system::error_code error;
    const auto address = boost::asio::ip::make_address(std::string(ip->get_string()), error);
    const std::int64_t number = port->get_int64();
    if (error || number <= 0 || number > 65535 || address.is_unspecified() ||
        address.is_multicast()) {
      return kNoPath;
    }
    return network_->path_for(
        net::PathAddress{net::PathKind::kUdp, address, static_cast<std::uint16_t>(number)});
  };
  return routing;
}

// Peers with `via`: through a router at once when they have no endpoint, else after a direct
// attempt went unanswered for kDirectAttemptBeforeVia. Called every housekeeping second.
void Host::connect_via_routers() {
  const Instant at = now();
  for (auto& [hashname, runtime] : runtimes_) {
    PeerRuntime& peer = *runtime;
    if (peer.config.via.empty() || endpoint_->exchange_up(hashname)) continue;
    if (peer.next_attempt && *peer.next_attempt > at) continue;
    if (!peer.config.endpoints.empty()) {
      const bool direct_failing =
          peer.attempt_started && at - *peer.attempt_started >= kDirectAttemptBeforeVia;
      if (!direct_failing) continue;
    }
    if (peer.via_attempt && at - *peer.via_attempt < kDirectAttemptBeforeVia) continue;
    for (const auto& name : peer.config.via) {
      const auto router = lookup_peer(name);
      if (!router || !endpoint_->exchange_up(*router)) continue;
      auto sent = routing_->connect_via(at, hashname, *router);
      if (sent) {
        peer.via_attempt = at;
        spdlog::debug("peer {}: handshaking through {}", peer.config.name, name);
      } else {
        spdlog::debug("peer {}: cannot connect through {}: {}", peer.config.name, name,
                      to_string(sent.error()));
      }
    }
  }
}

json::object Host::reach_json(const Hashname& hashname, bool detailed) const {
  const PeerReach reach = routing_->reach(hashname);
  json::object out{{"kind", to_string(reach.kind)}};
  // The router only while it matters: a direct peer is not reached "via" anyone.
  const bool through_router =
      reach.kind == ReachKind::kRelayed || reach.kind == ReachKind::kConnectingVia;
  out["via"] =
      reach.via && through_router ? json::value(peer_label(*reach.via)) : json::value(nullptr);
  if (!detailed) return out;
  json::array history;
  const Instant at = const_cast<Host*>(this)->now();
  const std::int64_t unix_now = unix_seconds();
  for (const PathChange& change : reach.history) {
    auto label = [this](const std::string& text) {
      // "relayed via <hashname>" reads better with the peer's name.
      const std::string prefix = "relayed via ";
      if (text.rfind(prefix, 0) == 0) {
        if (auto router = Hashname::parse(text.substr(prefix.size()))) {
          return prefix + peer_label(*router);
        }
      }
      return text;
    };
    history.emplace_back(json::object{
        {"at", unix_now - static_cast<std::int64_t>(seconds_of(at - change.at))},
        {"from", label(change.from)},
        {"to", change.to == "direct" && reach.path != kNoPath && !is_relay_path(reach.path)
                   ? "direct " + path_text(reach.path)
                   : label(change.to)},
        {"reason", change.reason}});
  }
  out["path_history"] = std::move(history);
  json::object punch{{"state", to_string(reach.punch)}};
  punch["last_failure"] =
      reach.last_failure.empty() ? json::value(nullptr) : json::value(reach.last_failure);
  punch["next_attempt_in"] = reach.next_attempt
                                 ? json::value(std::max(0.0, seconds_of(*reach.next_attempt - at)))
                                 : json::value(nullptr);
  json::array observed;
  for (const PathId path : reach.observed) observed.emplace_back(path_text(path));
  punch["addresses"] = std::move(observed);
  out["punch"] = std::move(punch);
  return out;
}

json::object Host::routes_json() {
  const config::RouterConfig& router = config_.router;
  json::object out{{"router", json::object{{"enable", router.enable},
                                           {"relay", router.relay},
                                           {"relay_rate", router.relay_rate},
                                           {"relay_idle", router.relay_idle_s}}}};
  json::array routes;
  auto name_of = [this](const Hashname& hashname) -> json::value {
    const PeerRuntime* runtime = find_runtime(hashname);
    return runtime ? json::value(runtime->config.name) : json::value(nullptr);
  };
  for (const RelayPairStats& pair : routing_->route_pairs(now())) {
    routes.emplace_back(json::object{{"a", name_of(pair.a)},
                                     {"a_hashname", pair.a.to_string()},
                                     {"b", name_of(pair.b)},
                                     {"b_hashname", pair.b.to_string()},
                                     {"introductions", pair.introductions},
                                     {"relayed_packets", pair.relayed_packets},
                                     {"relayed_bytes", pair.relayed_bytes},
                                     {"rate", pair.rate},
                                     {"dropped_rate_limited", pair.dropped_rate_limited},
                                     {"idle_seconds", seconds_of(pair.idle)},
                                     {"relaying", pair.relaying}});
  }
  out["routes"] = std::move(routes);
  const RoutingStats& stats = routing_->stats();
  out["stats"] = json::object{{"introductions", stats.introductions},
                              {"peer_requests_refused", stats.peer_requests_refused},
                              {"connects_refused", stats.connects_refused},
                              {"relayed_packets", stats.relayed_packets},
                              {"relayed_bytes", stats.relayed_bytes},
                              {"relay_dropped", stats.relay_dropped},
                              {"punches_started", stats.punches_started},
                              {"punches_succeeded", stats.punches_succeeded},
                              {"punches_failed", stats.punches_failed}};
  return out;
}

// A direct path after one through a router: say so, and how long punching took.
void Host::log_path_upgrade(const Hashname& hashname, PathId path) {
  const PeerReach reach = routing_->reach(hashname);
  if (reach.history.empty() || is_relay_path(path)) return;
  const PathChange& last = reach.history.back();
  if (last.from.rfind("relayed", 0) != 0 || last.to != "direct") return;
  spdlog::info("peer {}: direct path found on {} ({}; was {})", peer_label(hashname),
               path_text(path), last.reason,
               reach.via ? "relayed via " + peer_label(*reach.via) : last.from);
}

}  // namespace e3x::daemon
