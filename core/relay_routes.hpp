// A router's table of relayed routes (PROTOCOL.md 12, "Relay"): the token of a handshake one
// peer sent through us maps to the other peer of the pair, so later packets carrying that
// token are forwarded unchanged, before any cryptographic work. Routes exist only for pairs
// we introduced; each pair has a byte rate limit (token bucket) and is forgotten after
// `idle` without traffic. Sans-I/O: time is an argument.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "core/cs3a.hpp"
#include "core/hashname.hpp"
#include "core/time.hpp"

namespace e3x {

// The token a router routes by: a channel packet's TOKEN (BODY[0:16]), or for a message
// packet SHA256(BODY[4:20])[0:16] (PROTOCOL.md 3 and 4). nullopt for anything else.
std::optional<Token> routing_token_of(ByteView packet);

// A pair keeps the tokens of its newest exchanges only (each side has one per session; more
// is someone registering junk), and takes at most this many introductions a second (a wrapped
// handshake each: keepalives, punches and fallbacks come seconds apart). Bounds what one
// allowed peer can make a router hold and send.
inline constexpr std::size_t kMaxTokensPerPair = 16;
inline constexpr std::uint32_t kMaxIntroductionsPerSecond = 8;

struct RelayLimits {
  bool relay = true;               // forward channel packets (introductions always go)
  std::uint64_t rate = 2'000'000;  // bytes per second per pair
  Duration idle = seconds(120);    // a pair unused this long is forgotten
};

// One introduced pair, for status (e3xctl routes).
struct RelayPairStats {
  Hashname a, b;  // a: the peer that asked first
  std::uint64_t introductions = 0;
  std::uint64_t relayed_packets = 0, relayed_bytes = 0;
  std::uint64_t dropped_rate_limited = 0;
  double rate = 0;        // bytes/s relayed, averaged over the last few seconds
  Duration idle{};        // since the pair's last introduction or relayed packet
  bool relaying = false;  // a packet was relayed within the last relay_idle / 4
};

class RelayRoutes {
 public:
  explicit RelayRoutes(RelayLimits limits = {}) : limits_(limits) {}
  void set_limits(RelayLimits limits) { limits_ = limits; }
  const RelayLimits& limits() const { return limits_; }

  // `from` introduced itself to `to` with a handshake carrying `token`: packets with that
  // token go to `to` from now on. False when the token already routes for another pair (the
  // first registration wins: a peer cannot steal a route by replaying someone's handshake),
  // or the pair is over kMaxIntroductionsPerSecond.
  bool add_route(Instant now, const Token& token, const Hashname& from, const Hashname& to);

  enum class Verdict { kNotRouted, kForward, kRateLimited, kRelayOff, kUndeliverable };
  // For a packet carrying `token` of `size` bytes: where it goes, counted against its pair
  // (relayed, or dropped for the pair's rate). `can_deliver`, when given, is asked first
  // whether the other end can be reached for this packet (a path to it, not back where the
  // packet came from); when it cannot, kUndeliverable, and the pair neither counts the packet
  // nor spends its rate on it (`e3xctl routes` shows what a pair really relayed).
  std::pair<Verdict, Hashname> route(
      Instant now, const Token& token, std::size_t size,
      const std::function<bool(const Hashname& to)>& can_deliver = {});

  // Forgets idle pairs and their tokens.
  void expire(Instant now);
  std::optional<Instant> next_expiry() const;
  // Forgets every pair involving `peer` (it was removed, or may no longer be routed for).
  void forget_peer(const Hashname& peer);
  // Forgets every pair with an end that `keep` refuses.
  void forget_pairs_unless(const std::function<bool(const Hashname&)>& keep);

  std::vector<RelayPairStats> pairs(Instant now) const;
  std::size_t route_count() const { return by_token_.size(); }

 private:
  using PairKey = std::pair<Hashname, Hashname>;  // ordered: first < second
  struct Pair {
    Hashname first_asker;
    std::uint64_t introductions = 0;
    std::uint64_t relayed_packets = 0, relayed_bytes = 0, dropped_rate_limited = 0;
    Instant last_used{};
    std::optional<Instant> last_relayed;
    double bucket = 0;  // bytes that may still be sent now
    Instant bucket_at{};
    // A rate estimate: bytes in the current and previous 1 s windows.
    Instant window_start{};
    std::uint64_t window_bytes = 0, previous_window_bytes = 0;
    std::vector<Token> tokens;  // oldest first, at most kMaxTokensPerPair
    Instant introductions_window{};
    std::uint32_t introductions_in_window = 0;
  };
  struct Route {
    PairKey pair;
    Hashname to;
  };
  static PairKey key_of(const Hashname& a, const Hashname& b);
  void refill(Pair& pair, Instant now) const;

  RelayLimits limits_;
  std::map<PairKey, Pair> pairs_;
  std::map<Token, Route> by_token_;
};

}  // namespace e3x
