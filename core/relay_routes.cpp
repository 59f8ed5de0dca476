#include "core/relay_routes.hpp"

#include <algorithm>
#include <cstring>

#include "core/sha256.hpp"

namespace e3x {

namespace {
constexpr std::size_t kMinChannelBody = 16 + 24 + 16;  // TOKEN || NONCE || MAC
constexpr std::size_t kMinMessageBody = 70;
// The token bucket holds at most this much of the rate: a burst of a quarter second.
constexpr double kBurstSeconds = 0.25;
}  // namespace

std::optional<Token> routing_token_of(ByteView packet) {
  if (packet.size() < 2) return std::nullopt;
  const std::size_t head = (std::size_t{packet[0]} << 8) | packet[1];
  if (head == 0 && packet.size() >= 2 + kMinChannelBody) {
    Token token{};
    std::memcpy(token.data(), packet.data() + 2, token.size());
    return token;
  }
  if (head == 1 && packet.size() >= 3 + kMinMessageBody && packet[2] == kCsid3a) {
    const ByteView key_prefix = packet.subspan(3 + 4, 16);
    const auto digest = sha256(key_prefix);
    Token token{};
    std::memcpy(token.data(), digest.data(), token.size());
    return token;
  }
  return std::nullopt;
}

RelayRoutes::PairKey RelayRoutes::key_of(const Hashname& a, const Hashname& b) {
  return a < b ? PairKey{a, b} : PairKey{b, a};
}

bool RelayRoutes::add_route(Instant now, const Token& token, const Hashname& from,
                            const Hashname& to) {
  const PairKey key = key_of(from, to);
  if (auto it = by_token_.find(token); it != by_token_.end()) {
    if (it->second.pair != key || it->second.to != to) return false;
  }
  auto [it, inserted] = pairs_.try_emplace(key);
  Pair& pair = it->second;
  if (inserted) {
    pair.first_asker = from;
    pair.bucket = static_cast<double>(limits_.rate) * kBurstSeconds;
    pair.bucket_at = now;
    pair.window_start = now;
  }
  if (now - pair.introductions_window >= seconds(1)) {
    pair.introductions_window = now;
    pair.introductions_in_window = 0;
  }
  if (pair.introductions_in_window >= kMaxIntroductionsPerSecond) return false;
  pair.introductions_in_window += 1;
  pair.introductions += 1;
  pair.last_used = now;
  if (by_token_.emplace(token, Route{key, to}).second) {
    pair.tokens.push_back(token);
    if (pair.tokens.size() > kMaxTokensPerPair) {
      by_token_.erase(pair.tokens.front());
      pair.tokens.erase(pair.tokens.begin());
    }
  }
  return true;
}

void RelayRoutes::refill(Pair& pair, Instant now) const {
  const double elapsed = std::chrono::duration<double>(now - pair.bucket_at).count();
  const double cap = std::max(static_cast<double>(limits_.rate) * kBurstSeconds, 1500.0);
  if (elapsed > 0) {
    pair.bucket = std::min(cap, pair.bucket + elapsed * static_cast<double>(limits_.rate));
    pair.bucket_at = now;
  }
}

std::pair<RelayRoutes::Verdict, Hashname> RelayRoutes::route(
    Instant now, const Token& token, std::size_t size,
    const std::function<bool(const Hashname& to)>& can_deliver) {
  auto it = by_token_.find(token);
  if (it == by_token_.end()) return {Verdict::kNotRouted, {}};
  auto pair_it = pairs_.find(it->second.pair);
  if (pair_it == pairs_.end()) return {Verdict::kNotRouted, {}};
  Pair& pair = pair_it->second;
  if (!limits_.relay) return {Verdict::kRelayOff, it->second.to};
  if (can_deliver && !can_deliver(it->second.to)) return {Verdict::kUndeliverable, it->second.to};
  refill(pair, now);
  if (pair.bucket < static_cast<double>(size)) {
    pair.dropped_rate_limited += 1;
    return {Verdict::kRateLimited, it->second.to};
  }
  pair.bucket -= static_cast<double>(size);
  pair.relayed_packets += 1;
  pair.relayed_bytes += size;
  pair.last_used = now;
  pair.last_relayed = now;
  if (now - pair.window_start >= seconds(1)) {
    pair.previous_window_bytes = now - pair.window_start >= seconds(2) ? 0 : pair.window_bytes;
    pair.window_bytes = 0;
    pair.window_start = now;
  }
  pair.window_bytes += size;
  return {Verdict::kForward, it->second.to};
}

void RelayRoutes::expire(Instant now) {
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    if (now - it->second.last_used >= limits_.idle) {
      for (const Token& token : it->second.tokens) by_token_.erase(token);
      it = pairs_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<Instant> RelayRoutes::next_expiry() const {
  std::optional<Instant> next;
  for (const auto& [key, pair] : pairs_) {
    const Instant at = pair.last_used + limits_.idle;
    if (!next || at < *next) next = at;
  }
  return next;
}

void RelayRoutes::forget_peer(const Hashname& peer) {
  forget_pairs_unless([&peer](const Hashname& end) { return end != peer; });
}

void RelayRoutes::forget_pairs_unless(const std::function<bool(const Hashname&)>& keep) {
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    if (!keep(it->first.first) || !keep(it->first.second)) {
      for (const Token& token : it->second.tokens) by_token_.erase(token);
      it = pairs_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<RelayPairStats> RelayRoutes::pairs(Instant now) const {
  std::vector<RelayPairStats> out;
  for (const auto& [key, pair] : pairs_) {
    RelayPairStats stats;
    stats.a = pair.first_asker;
    stats.b = key.first == pair.first_asker ? key.second : key.first;
    stats.introductions = pair.introductions;
    stats.relayed_packets = pair.relayed_packets;
    stats.relayed_bytes = pair.relayed_bytes;
    stats.dropped_rate_limited = pair.dropped_rate_limited;
    stats.idle = now - pair.last_used;
    const double window = std::chrono::duration<double>(now - pair.window_start).count();
    if (window < 2.0) {
      stats.rate = static_cast<double>(pair.window_bytes + pair.previous_window_bytes) /
                   std::max(1.0, 1.0 + window);
    }
    stats.relaying = pair.last_relayed && now - *pair.last_relayed < limits_.idle / 4;
    out.push_back(stats);
  }
  return out;
}

}  // namespace e3x
