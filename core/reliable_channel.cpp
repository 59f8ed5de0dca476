// Reliable channels (telehash-v3/reliable.md; PROTOCOL.md 6 and 9): seq numbering, acks,
// delta-encoded misses, the peer's window, the backlog and resends. These are members of
// Channel (channel.hpp); lifecycle and timers are in channel.cpp.
#include <algorithm>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "core/channel.hpp"
#include "core/json_fields.hpp"

namespace e3x {
namespace {

// An ad-hoc ack goes out at once after this many new packets since our last ack.
constexpr std::uint32_t kAckBurst = 32;

}  // namespace

std::vector<std::uint32_t> encode_miss(std::uint32_t ack, std::vector<std::uint32_t> missing,
                                       std::uint32_t buffer) {
  std::sort(missing.begin(), missing.end());
  missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
  const std::uint64_t target = std::min<std::uint64_t>(std::uint64_t{ack} + buffer, kU32Max);
  std::vector<std::uint32_t> deltas;
  std::uint64_t previous = ack;
  for (const std::uint32_t seq : missing) {
    if (seq <= ack || seq >= target) continue;  // not a miss the peer could act on
    deltas.push_back(static_cast<std::uint32_t>(seq - previous));
    previous = seq;
  }
  deltas.push_back(static_cast<std::uint32_t>(target - previous));
  return deltas;
}

std::optional<DecodedMiss> decode_miss(std::uint32_t ack,
                                       const std::vector<std::uint32_t>& deltas) {
  if (deltas.empty()) return std::nullopt;
  DecodedMiss decoded;
  std::uint64_t current = ack;
  for (std::size_t i = 0; i < deltas.size(); ++i) {
    if (deltas[i] == 0) return std::nullopt;
    current += deltas[i];
    if (current > kU32Max) return std::nullopt;
    if (i + 1 < deltas.size()) decoded.missing.push_back(static_cast<std::uint32_t>(current));
  }
  decoded.window = static_cast<std::uint32_t>(current - ack);
  return decoded;
}

boost::json::object Channel::reliable_json(const Sending& packet) const {
  boost::json::object json;
  json["c"] = id_;
  for (const auto& entry : packet.head) json[entry.key()] = entry.value();
  json["seq"] = packet.seq;
  add_ack(json);
  return json;
}

bool Channel::miss_due() const {
  // Only out-of-order packets are buffered (in-order ones are delivered at once), so anything
  // buffered sits above a hole. That also covers "over 50% full", which implies non-empty.
  return !received_.empty();
}

void Channel::add_ack(boost::json::object& json) const {
  if (!received_seq_) return;
  json["ack"] = ack_;
  if (!miss_due()) return;
  std::vector<std::uint32_t> missing;
  const std::uint32_t highest = received_.rbegin()->first;
  for (std::uint64_t seq = std::uint64_t{ack_} + 1; seq < highest; ++seq) {
    if (!received_.contains(static_cast<std::uint32_t>(seq))) {
      missing.push_back(static_cast<std::uint32_t>(seq));
    }
  }
  boost::json::array miss;
  for (const std::uint32_t delta : encode_miss(ack_, std::move(missing), kReliableWindow)) {
    miss.push_back(delta);
  }
  json["miss"] = std::move(miss);
}

void Channel::note_ack_sent() {
  receipts_since_ack_ = 0;
  ack_now_ = false;
}

void Channel::transmit(Sending& packet) {
  auto json = reliable_json(packet);
  note_ack_sent();
  push_outgoing(std::move(json), packet.body);
}

void Channel::track(Sending packet, Instant now) {
  if (unacked_.empty()) {
    last_ack_progress_ = now;
    resend_base_ = now;
  }
  auto [it, inserted] = unacked_.emplace(packet.seq, std::move(packet));
  (void)inserted;
  transmit(it->second);
}

void Channel::flush_backlog(Instant now) {
  while (!backlog_.empty() && backlog_.front().seq <= std::uint64_t{peer_ack_} + peer_window_) {
    Sending packet = std::move(backlog_.front());
    backlog_.pop_front();
    track(std::move(packet), now);
  }
}

void Channel::emit_adhoc_ack() {
  boost::json::object json;
  json["c"] = id_;
  add_ack(json);
  note_ack_sent();
  push_outgoing(std::move(json), {});
}

void Channel::ack_now(Instant now) {
  if (ack_now_) return;
  ack_now_ = true;
  ack_now_since_ = now;
}

void Channel::on_seq(std::uint32_t seq, const boost::json::object& json, ByteView body,
                     Instant now) {
  received_seq_ = true;
  if (seq <= ack_ || end_received_ || received_.contains(seq)) {
    ack_now(now);  // old, duplicate, or after the end: the peer missed our ack
    return;
  }
  if (std::uint64_t{seq} > std::uint64_t{ack_} + kReliableWindow) {
    ack_now(now);  // beyond our buffer: dropped; tell the peer where we are
    return;
  }
  // Held until the gap before it fills, so charged to the budget. The next packet in order is
  // delivered at once: it costs nothing and is never refused.
  std::size_t cost = 0;
  if (std::uint64_t{seq} != std::uint64_t{ack_} + 1) {
    cost = body.size() + kReorderOverhead;
    if (budget_ && !budget_->take(cost)) {
      ack_now(now);  // as if lost: the peer resends it after the gap is repaired
      return;
    }
    held_bytes_ += cost;
  }
  received_.emplace(seq, Buffered{json, Bytes(body.begin(), body.end()),
                                  json_is_true(json.if_contains("end")), cost});
  if (receipts_since_ack_ == 0) first_unacked_receipt_ = now;
  ++receipts_since_ack_;
  while (!received_.empty() && std::uint64_t{received_.begin()->first} == std::uint64_t{ack_} + 1) {
    auto node = received_.extract(received_.begin());
    ack_ = node.key();
    Buffered& packet = node.mapped();
    release_bytes(packet.cost);
    const bool end = packet.end;
    events_.push_back(channel_event::Data{std::move(packet.json), std::move(packet.body), end});
    if (end) {
      on_end_received(now);
      return;
    }
  }
  if (!received_.empty()) ack_now(now);  // a gap
  if (receipts_since_ack_ >= kAckBurst) ack_now(now);
}

void Channel::release_bytes(std::size_t bytes) {
  if (bytes == 0) return;
  held_bytes_ -= bytes;
  if (budget_) budget_->give(bytes);
}

void Channel::release_received() {
  received_.clear();
  if (held_bytes_ > 0) release_bytes(held_bytes_);
}

void Channel::on_ack(std::uint32_t ack, const boost::json::value* miss, Instant now) {
  if (ack > peer_ack_) {
    peer_ack_ = ack;
    unacked_.erase(unacked_.begin(), unacked_.upper_bound(ack));
    last_ack_progress_ = now;
    resend_base_ = now;
  }
  if (miss != nullptr && miss->is_array()) {
    // "miss" is advisory: a malformed one is ignored rather than fatal.
    std::vector<std::uint32_t> deltas;
    bool well_formed = true;
    for (const auto& delta : miss->get_array()) {
      auto value = json_positive_u32(delta);
      if (!value) {
        well_formed = false;
        break;
      }
      deltas.push_back(*value);
    }
    std::optional<DecodedMiss> decoded;
    if (well_formed) decoded = decode_miss(ack, deltas);
    if (decoded) {
      // Only the newest ack tells the current window; it is capped so that what we keep
      // unacknowledged stays bounded.
      if (ack == peer_ack_) peer_window_ = std::min(decoded->window, kReliableWindow);
      for (const std::uint32_t seq : decoded->missing) {
        auto it = unacked_.find(seq);
        if (it == unacked_.end()) continue;
        Sending& packet = it->second;
        if (packet.last_resent && now - *packet.last_resent < kReliableMissResendGap) continue;
        packet.last_resent = now;
        transmit(packet);
      }
    }
  }
  flush_backlog(now);
}

}  // namespace e3x
