// Routing through a mutual peer (PROTOCOL.md 12): introductions by `peer` and `connect`
// channels, relay by token, hole punching. Sans-I/O like the Endpoint it wraps: the driver
// passes every datagram, transmit and event through it, and arms its timer too.
//
//   datagram in   decision = routing.on_datagram(now, from, bytes)
//                   kForward: send the bytes unchanged on decision.path (we are the router)
//                   kDeliver: endpoint.handle_datagram(now, decision.path, bytes); the path
//                             is a relay path when the packet came through a router for a
//                             peer reached that way
//                   kDrop:    nothing (counted in stats())
//   transmit out  while (auto t = routing.poll_transmit(now)) send t: the endpoint's transmits,
//                 those on a relay path rewritten (to the router; a handshake wrapped in a
//                 `peer` channel, sent ahead of what was queued behind it)
//   event         routing.on_event(now, event) first; true means it was routing's own (a
//                 `peer` or `connect` channel) and the application never sees it
//   timer         min(endpoint.next_timeout(), routing.next_timeout()); handle_timeout(now)
//
// A relay path is a PathId of its own (>= kRelayPathBase), one per (router, peer): to the
// endpoint it is just another path of the peer, so the path rules of PROTOCOL.md 10 decide
// when the exchange moves off it (only on a fresh handshake confirmed from a direct address).
// Drivers must allocate their own PathIds below kRelayPathBase.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/endpoint.hpp"
#include "core/relay_routes.hpp"

namespace e3x {

inline constexpr PathId kRelayPathBase = PathId{1} << 62;
inline bool is_relay_path(PathId path) {
  return path >= kRelayPathBase;
}

// When the punches of one attempt go out, after the exchange is up through a router
// (PROTOCOL.md 12: "e.g. at 0, 0.1, 0.3, 0.7, 1.5, 3.1 s").
inline constexpr Duration kPunchSchedule[] = {milliseconds(0),    milliseconds(100),
                                              milliseconds(300),  milliseconds(700),
                                              milliseconds(1500), milliseconds(3100)};
// An attempt has failed when the path is still relayed this long after it began.
inline constexpr Duration kPunchAttemptLength = seconds(5);
inline constexpr Duration kDefaultUpgradeRetry = seconds(60);
// A handshake on a direct path unanswered this long is offered on the relay path too (the
// relay is the fallback: a NAT that rebinds or a firewall that closes the direct path must not
// take the pair down). After the 1 s resend, before the 3 s one.
inline constexpr Duration kRelayFallbackAfter = seconds(2);
// Addresses remembered per peer for punching, path changes kept per peer for status.
inline constexpr std::size_t kMaxObservedPaths = 8;
inline constexpr std::size_t kMaxPathHistory = 16;

struct RoutingConfig {
  // The router role: off unless configured.
  bool router = false;
  RelayLimits relay{};
  // Whether we introduce and relay for this peer (both ends of a pair must pass).
  std::function<bool(const Hashname&)> may_route{};
  // The routers we accept introductions of `peer` from, and use for it (its `via`).
  std::function<std::vector<Hashname>(const Hashname&)> routers_for{};
  // The driver's address of a path, as `connect` "paths" entries (PROTOCOL.md 12; telehash
  // path.md: {"type":"udp4","ip":...,"port":...}); empty when it has none to offer.
  std::function<boost::json::array(PathId)> describe_path{};
  // The PathId for such an entry (allocating it), kNoPath when unusable (another type, a
  // malformed entry, an address the driver will not send to).
  std::function<PathId(const boost::json::object&)> path_from_description{};
  Duration upgrade_retry = kDefaultUpgradeRetry;
};

struct RoutingStats {
  std::uint64_t introductions = 0;          // connect channels we opened as a router
  std::uint64_t peer_requests_refused = 0;  // peer channels we stayed silent on
  std::uint64_t connects_refused = 0;  // connect channels not taken: from a router not in `via`,
                                       // or not carrying a handshake of the peer they name
  std::uint64_t relayed_packets = 0, relayed_bytes = 0;
  std::uint64_t relay_dropped = 0;           // rate limited, relay off, or no path to the other end
  std::uint64_t relay_transmit_dropped = 0;  // for a relay path whose router has no path
  std::uint64_t punches_started = 0, punches_succeeded = 0, punches_failed = 0;
};

enum class ReachKind { kNone, kDirect, kRelayed, kConnectingVia };
const char* to_string(ReachKind kind);

struct PathChange {
  Instant at{};
  std::string from, to;  // "relayed via <hashname>", "direct", "none"
  std::string reason;
};

struct PeerReach {
  ReachKind kind = ReachKind::kNone;
  std::optional<Hashname> via;  // the router, when relayed or connecting through one
  PathId path = kNoPath;
  enum class Punch { kIdle, kPunching, kFailed } punch = Punch::kIdle;
  std::string last_failure;
  std::optional<Instant> next_attempt;
  std::vector<PathId> observed;  // direct addresses the peer was seen at
  std::deque<PathChange> history;
};
const char* to_string(PeerReach::Punch punch);

class Routing {
 public:
  Routing(Endpoint& endpoint, RoutingConfig config);

  struct Decision {
    enum class Kind { kDeliver, kForward, kDrop } kind = Kind::kDeliver;
    PathId path = kNoPath;
  };
  Decision on_datagram(Instant now, PathId from, ByteView packet);
  std::optional<Transmit> poll_transmit(Instant now);
  bool on_event(Instant now, const Event& event);
  void handle_timeout(Instant now);
  std::optional<Instant> next_timeout() const;

  // Starts (or offers again) the exchange with `peer` through `router`: our handshake goes
  // to the router in a `peer` channel. The router's own exchange must be up, or come up.
  Result<Sent, EndpointError> connect_via(Instant now, const Hashname& peer,
                                          const Hashname& router);
  // The relay path for (router, peer), allocated on first use.
  PathId relay_path(const Hashname& router, const Hashname& peer);
  struct RelayPathInfo {
    Hashname router, peer;
  };
  std::optional<RelayPathInfo> relay_path_info(PathId path) const;
  // Whether a datagram from `from` may carry routing's own signalling (we are a router, or
  // `from` is the current path of a router we use): a driver that batches datagrams must then
  // let routing see the events of this one before it handles the next (an introduction must
  // set up its route before the packets that follow it are routed).
  bool in_order_needed(PathId from) const;

  // Configuration that can change on reload; routes of pairs no longer allowed are dropped.
  void reconfigure(RoutingConfig config);
  void forget_peer(const Hashname& peer);

  PeerReach reach(const Hashname& peer) const;
  // Whether routing has anything to say about the peer (it was introduced, relayed or punched
  // toward): displays show reach only then, or when the peer has routers configured.
  bool tracks(const Hashname& peer) const { return peers_.count(peer) != 0; }
  std::vector<RelayPairStats> route_pairs(Instant now) const { return routes_.pairs(now); }
  const RoutingStats& stats() const { return stats_; }
  // Tokens of peers' handshakes that came through a router, kept to know their packets.
  std::size_t incoming_token_count() const { return incoming_tokens_.size(); }
  const RoutingConfig& config() const { return config_; }

 private:
  struct PeerState {
    PeerReach reach;
    std::optional<Instant> attempt_started;
    std::size_t punches_sent = 0;  // of kPunchSchedule in the current attempt
    std::optional<Instant> relayed_since;
    // The outstanding handshake (by when it was first sent) already offered on the relay.
    std::optional<Instant> fallback_offered_for;
  };
  struct IncomingToken {
    PathId relay = kNoPath;
    Hashname router;
    Hashname peer;
    std::uint64_t order = 0;  // when it was remembered (the oldest goes first)
  };

  std::optional<Transmit> on_transmit(Instant now, Transmit transmit);
  void on_peer_request(Instant now, const event::ChannelOpened& open);
  void on_connect(Instant now, const event::ChannelOpened& open);
  void on_path(Instant now, const Hashname& peer, PathId path, const std::string& why);
  void start_attempt(Instant now, PeerState& state);
  // The relay path of `peer` through its first router, kNoPath when it was never routed.
  PathId fallback_path(const Hashname& peer) const;
  std::optional<Instant> fallback_due(const Hashname& peer, const PeerState& state) const;
  void remember_token(const Token& token, PathId relay);
  void forget_tokens_of(const Hashname& peer);
  std::string describe_reach(PathId path) const;
  std::optional<Instant> next_punch(const PeerState& state) const;

  Endpoint& endpoint_;
  RoutingConfig config_;
  RelayRoutes routes_;
  RoutingStats stats_;
  PathId next_relay_path_ = kRelayPathBase;
  std::map<std::pair<Hashname, Hashname>, PathId> relay_paths_;  // (router, peer)
  std::map<PathId, RelayPathInfo> relay_path_info_;
  std::map<Token, IncomingToken> incoming_tokens_;
  std::uint64_t token_order_ = 0;
  std::map<Hashname, PeerState> peers_;
  // Transmits taken from the endpoint that on_transmit has not seen yet (taken so a wrapped
  // handshake can go ahead of them: the router must learn the route before the packets that
  // use it arrive).
  std::deque<Transmit> unprocessed_;
};

}  // namespace e3x
