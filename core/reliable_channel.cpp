// Reliable channels (telehash-v3/reliable.md; PROTOCOL.md 6, 9 and 13): seq numbering, acks
// with delta-encoded misses and the window, loss detection, the retransmission timeout, and
// the receive window's flow control and auto-tuning. These are members of Channel
// (channel.hpp); lifecycle and timers are in channel.cpp, the path's congestion window and
// pacing in path_control.cpp. The design is in docs/core-decisions.md ("Reliable channels at
// speed").
#include <algorithm>
#include <cmath>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "core/channel.hpp"
#include "core/json_fields.hpp"

namespace e3x {
namespace {

std::size_t digits(std::uint64_t value) {
  std::size_t n = 1;
  while (value >= 10) {
    value /= 10;
    ++n;
  }
  return n;
}

// An ad-hoc ack's "miss" list is cut to what fits a packet with this much to spare.
constexpr std::size_t kAdhocAckSpare = 64;
constexpr std::uint16_t kU16Max = 0xffff;
// How long the smallest edge probe sample stands before any newer one replaces it.
constexpr Duration kReceiveRttWindow = seconds(10);

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

// ---- the path -------------------------------------------------------------------------------

PathControl& Channel::path() {
  return *path_;
}

const PathControl& Channel::path() const {
  return *path_;
}

void Channel::set_path(PathControl* path) {
  if (!reliable_) return;
  if (path == nullptr) {
    own_path_ = std::make_unique<PathControl>(std::nullopt);
    path_ = own_path_.get();
  } else {
    path_ = path;
    own_path_.reset();
  }
}

// ---- sending ----------------------------------------------------------------------------

std::size_t Channel::seq_overhead(std::uint64_t seq) {
  return 7 + digits(seq);  // ,"seq":<seq>
}

std::size_t Channel::ack_reserve() const {
  // Content from the peer within the last second: its acks are owed and may ride on ours.
  const bool acks_owed = last_receipt_ && now_ - *last_receipt_ < kReliableWindowIdle;
  if (!acks_owed) return 0;
  // ,"ack":<10 digits>,"miss":[<the window>]: a window is at most kReliableMaxWindow beyond
  // the ack (an edge once advertised is never lowered, and it was at most that far beyond
  // the ack then).
  return 7 + 10 + 9 + digits(kReliableMaxWindow) + 1;
}

Channel::Sending* Channel::find_sending(std::uint64_t seq) {
  if (seq <= peer_ack_ || seq >= next_seq_) return nullptr;
  const std::uint64_t index = seq - peer_ack_ - 1;
  if (index >= sending_.size()) return nullptr;
  return &sending_[static_cast<std::size_t>(index)];
}

void Channel::queue(Sending packet) {
  if (packet.size == 0) {
    boost::json::object probe;
    probe["c"] = id_;
    for (const auto& entry : packet.head) probe[entry.key()] = entry.value();
    packet.size = static_cast<std::uint32_t>(inner_size(probe, packet.body.size()) +
                                             seq_overhead(packet.seq));
  }
  if (path_ == nullptr) set_path(nullptr);
  sending_.push_back(std::move(packet));
}

bool Channel::has_data_to_send() const {
  if (!reliable_ || state_ == ChannelState::kClosed) return false;
  return !retransmit_.empty() || (next_new_ < next_seq_ && next_new_ <= peer_edge_);
}

bool Channel::has_data_beyond_window() const {
  if (!reliable_ || state_ == ChannelState::kClosed) return false;
  return next_new_ < next_seq_ && next_new_ > peer_edge_;
}

std::size_t Channel::next_data_size() const {
  auto* self = const_cast<Channel*>(this);
  if (!retransmit_.empty()) {
    if (const Sending* packet = self->find_sending(*retransmit_.begin())) return packet->size;
  }
  if (const Sending* packet = self->find_sending(next_new_)) return packet->size;
  return kMaxChannelInner;
}

std::optional<ChannelOutgoing> Channel::poll_data(Instant now) {
  if (!reliable_ || state_ == ChannelState::kClosed) return std::nullopt;
  touch(now);
  while (!retransmit_.empty()) {
    const std::uint32_t seq = *retransmit_.begin();
    retransmit_.erase(retransmit_.begin());
    Sending* packet = find_sending(seq);
    if (packet != nullptr && packet->state == Sending::State::kLost) return transmit(*packet, now);
  }
  if (next_new_ < next_seq_ && next_new_ <= peer_edge_) {
    Sending* packet = find_sending(next_new_);
    ++next_new_;
    if (packet != nullptr) return transmit(*packet, now);
  }
  return std::nullopt;
}

ChannelOutgoing Channel::transmit(Sending& packet, Instant now) {
  boost::json::object json;
  json["c"] = id_;
  for (const auto& entry : packet.head) json[entry.key()] = entry.value();
  json["seq"] = packet.seq;
  const std::size_t room = kMaxChannelInner > packet.size ? kMaxChannelInner - packet.size : 0;
  const AckAdded added = add_ack(json, room);
  // No room for the ack at all: an ack that is owed goes on its own when its timing says.
  if (received_seq_ && added != AckAdded::kNoRoom) note_ack_sent(now);
  // A miss list too long to ride on this packet follows in an ad-hoc ack of its own.
  if (added == AckAdded::kCut) ack_now(now);
  if (state_ == ChannelState::kOpening && !initiator_) state_ = ChannelState::kOpen;

  PathControl& p = path();
  if (!has_unacked_sent()) last_ack_progress_ = now;  // the give-up clock starts now
  if (packet.state != Sending::State::kInFlight || packet.generation != p.generation()) {
    packet.state = Sending::State::kInFlight;
    packet.generation = p.generation();
    packet.snapshot = p.on_sent(now, packet.size, packet.transmissions > 0);
  }
  if (packet.transmissions > 0) ++stat_retransmissions_;
  packet.order = ++stat_transmissions_;
  if (packet.transmissions < kU16Max) ++packet.transmissions;
  packet.sent_at = now;
  packet.reports = 0;
  if (packet.seq > highest_sent_) highest_sent_ = packet.seq;
  if (!rto_at_) rto_at_ = now + backed_off_rto();
  return ChannelOutgoing{std::move(json), packet.body};
}

Duration Channel::backed_off_rto() const {
  const Duration base = path().rtt().rto();
  Duration backed = base;
  for (std::uint32_t i = 0; i < rto_backoff_ && backed < kMaxRto; ++i) backed *= 2;
  return std::max(base, std::min(backed, kMaxRto));
}

// Everything up to `ack` arrived: it leaves the flight (and the congestion window grows), and
// the newest of it gives an RTT sample unless anything acknowledged here was resent or
// reported missing (Karn's rule: the ack may then answer a resend, or a later packet that
// only now completed the sequence). Returns the latest transmission among them.
std::optional<std::uint64_t> Channel::settle_acked(std::uint32_t ack, Instant now) {
  PathControl& p = path();
  bool sample = true;
  std::optional<Instant> newest_sent;
  std::optional<std::uint64_t> latest;
  while (!sending_.empty() && sending_.front().seq <= ack) {
    const Sending& packet = sending_.front();
    if (packet.transmissions != 1 || packet.reported) sample = false;
    if (packet.seq == ack) newest_sent = packet.sent_at;
    if (packet.transmissions > 0 && (!latest || packet.order > *latest)) latest = packet.order;
    if (packet.state == Sending::State::kInFlight && packet.generation == p.generation()) {
      p.on_delivered(now, packet.sent_at, packet.size, &packet.snapshot);
    }
    sending_.pop_front();
  }
  retransmit_.erase(retransmit_.begin(), retransmit_.upper_bound(ack));
  if (sample && newest_sent) p.rtt().on_sample(now - *newest_sent);
  return latest;
}

// A miss list names every hole below its last entry (the receiver lists them lowest first and
// cuts the list only at the end), so every packet between the ack and the last hole that it
// does not name has arrived: it leaves the flight now, as a SACK block would take it, rather
// than one presumed packet per duplicate ack. Without this, packets above a hole stay
// counted in flight until the hole is repaired; when the window is small (BBR's ProbeRTT
// held it at four packets) they fill it, the repair itself cannot be sent, and the stream
// waits for a retransmission timeout. Each seq is read once (credited_through_) except the
// holes of the previous list, which are checked again because their resends may have
// filled them. Returns the latest transmission credited.
std::optional<std::uint64_t> Channel::credit_between_holes(
    std::uint32_t ack, const std::vector<std::uint32_t>& missing, Instant now) {
  std::optional<std::uint64_t> latest;
  // Only seqs we sent are read: a hostile peer may name holes far beyond them.
  const std::uint64_t last_hole = std::min<std::uint64_t>(missing.back(), highest_sent_ + 1);
  auto is_missing = [&missing](std::uint64_t seq) {
    return std::binary_search(missing.begin(), missing.end(), seq);
  };
  // The previous list's holes at or below what was read before: filled now?
  for (const std::uint32_t seq : suspects_) {
    if (seq <= ack || seq >= last_hole || seq > credited_through_ || is_missing(seq)) continue;
    if (Sending* packet = find_sending(seq)) credit_received(*packet, now, latest);
  }
  // Seqs not read before, up to the last hole.
  for (std::uint64_t seq = std::max<std::uint64_t>(credited_through_, ack) + 1; seq < last_hole;
       ++seq) {
    if (is_missing(seq)) continue;
    if (Sending* packet = find_sending(static_cast<std::uint32_t>(seq))) {
      credit_received(*packet, now, latest);
    }
  }
  credited_through_ = std::max(credited_through_, last_hole - 1);
  return latest;
}

void Channel::credit_received(Sending& packet, Instant now, std::optional<std::uint64_t>& latest) {
  if (packet.transmissions == 0) return;
  if (packet.state == Sending::State::kInFlight) {
    PathControl& p = path();
    if (packet.generation == p.generation()) {
      p.on_delivered(now, packet.sent_at, packet.size, &packet.snapshot);
    }
  } else if (packet.state == Sending::State::kLost) {
    retransmit_.erase(packet.seq);  // it arrived after all: no resend
  } else {
    return;
  }
  packet.state = Sending::State::kDelivered;
  packet.reports = 0;
  if (!latest || packet.order > *latest) latest = packet.order;
}

// A duplicate ack: the peer received one more packet above the last one it reports missing,
// and we cannot tell which. The lowest still in flight is presumed to be it, so the flight
// shrinks as packets leave the network and recovery keeps sending (NewReno's fast recovery
// does the same by inflating its window). A wrong guess is found out when that packet is
// reported missing, and the cumulative ack settles every packet below it anyway. Returns
// the presumed packet's transmission.
std::optional<std::uint64_t> Channel::presume_delivered(std::uint32_t above, Instant now) {
  PathControl& p = path();
  std::uint64_t seq = std::max<std::uint64_t>(presume_from_, std::uint64_t{above} + 1);
  for (; seq < next_new_; ++seq) {
    Sending* packet = find_sending(seq);
    if (packet == nullptr || packet->state != Sending::State::kInFlight) continue;
    if (packet->generation == p.generation()) {
      DeliverySnapshot presumed = packet->snapshot;
      presumed.rtt_ambiguous = true;  // some packet arrived, maybe not this one
      p.on_delivered(now, packet->sent_at, packet->size, &presumed);
    }
    packet->state = Sending::State::kDelivered;
    presume_from_ = seq + 1;
    return packet->order;
  }
  presume_from_ = std::min(seq, next_new_);  // a hole named beyond what we sent moves it no further
  return std::nullopt;
}

void Channel::on_ack(std::uint32_t ack, const boost::json::value* miss, bool adhoc, Instant now) {
  if (ack < peer_ack_) return;  // overtaken by a newer ack: nothing in it is news
  // The peer answered: the path is not silent. An ack on its own answers packets of ours
  // (the peer sends one when they arrive, or when its reader makes room); one riding on the
  // peer's content comes whether ours arrive or not, so only its progress tells.
  if (adhoc || ack > peer_ack_) silent_timeouts_ = 0;
  std::optional<DecodedMiss> decoded;
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
    if (well_formed) decoded = decode_miss(ack, deltas);
  }

  const bool progress = ack > peer_ack_;
  // The latest transmission this ack shows delivered (acknowledged now, or presumed from a
  // duplicate ack): a report of a packet transmitted before it is evidence of its loss.
  std::optional<std::uint64_t> delivered_sent;
  if (progress) {
    delivered_sent = settle_acked(ack, now);
    peer_ack_ = ack;
    last_ack_progress_ = now;
    rto_backoff_ = 0;
    rto_at_.reset();
    if (has_unacked_sent()) rto_at_ = now + backed_off_rto();
    presume_from_ = std::max<std::uint64_t>(presume_from_, std::uint64_t{ack} + 1);
    std::erase_if(suspects_, [ack](std::uint32_t seq) { return seq <= ack; });
  }

  // The window: every ack of ours carries it. We act on at most kReliableMaxWindow, so what
  // we keep unacknowledged stays bounded. A window that does not move the edge forward
  // (an older ack's, reordered) is not taken as a retraction.
  if (decoded) peer_window_ = std::min(decoded->window, kReliableMaxWindow);
  const std::uint64_t edge = std::uint64_t{peer_ack_} + peer_window_;
  peer_edge_ = decoded && progress ? edge : std::max(peer_edge_, edge);
  // The peer answers with its window closed on everything we sent: it is there, only full
  // (a consumer-paced reader that is not reading). That is not a reason to give up.
  if (!progress && has_unacked_sent() && highest_sent_ >= peer_edge_) last_ack_progress_ = now;

  if (decoded && !decoded->missing.empty()) {
    const bool new_last_hole = decoded->missing.back() > credited_through_ + 1;
    const auto credited = credit_between_holes(ack, decoded->missing, now);
    if (credited && (!delivered_sent || *credited > *delivered_sent)) delivered_sent = credited;
    // A packet above the last hole arrived too (the receiver lists only holes below what it
    // holds), unless the ack is explained by a resend that filled a hole the list no longer
    // names.
    if (!progress && (!credited || new_last_hole)) {
      if (auto sent = presume_delivered(decoded->missing.back(), now);
          sent && (!delivered_sent || *sent > *delivered_sent)) {
        delivered_sent = sent;
      }
    }
    // A report counts toward the thresholds only when this ack shows a packet sent after
    // the reported one's last transmission delivered (RACK's rule): reports that answer
    // packets sent before a resend say nothing about the resend.
    suspects_.clear();
    for (const std::uint32_t seq : decoded->missing) {
      Sending* packet = find_sending(seq);
      if (packet == nullptr || packet->transmissions == 0) continue;
      packet->reported = true;
      suspects_.push_back(seq);
      if (packet->state == Sending::State::kLost) continue;
      if (delivered_sent && *delivered_sent > packet->order && packet->reports < kU16Max) {
        ++packet->reports;
      }
    }
  }
  detect_losses(now);
}

// PROTOCOL.md 13: a packet reported missing is lost once kReliableReorderThreshold reports
// came after it, or 9/8 of the RTT after it was sent (a report shows a later packet arrived).
// A resend is declared lost again no sooner than one smoothed RTT after it left.
void Channel::detect_losses(Instant now) {
  loss_time_.reset();
  const RttEstimator& rtt = path().rtt();
  const Duration delay = rtt.loss_delay();
  const Duration resend_gap = rtt.has_sample() ? rtt.smoothed() : kInitialRtt;
  for (const std::uint32_t seq : suspects_) {
    Sending* packet = find_sending(seq);
    if (packet == nullptr || packet->reports == 0 || packet->state == Sending::State::kLost ||
        packet->state == Sending::State::kQueued) {
      continue;
    }
    const Instant guard =
        packet->transmissions > 1 ? packet->sent_at + resend_gap : packet->sent_at;
    const Instant by_time = std::max(packet->sent_at + delay, guard);
    if ((packet->reports >= kReliableReorderThreshold && now >= guard) || now >= by_time) {
      declare_lost(*packet, now);
    } else if (!loss_time_ || by_time < *loss_time_) {
      loss_time_ = by_time;
    }
  }
}

void Channel::declare_lost(Sending& packet, Instant now) {
  PathControl& p = path();
  if (packet.generation == p.generation()) {
    // A loss is a congestion signal even when the packet was presumed delivered.
    p.on_lost(now, packet.sent_at, packet.size, packet.state == Sending::State::kInFlight);
  }
  packet.state = Sending::State::kLost;
  packet.reports = 0;
  retransmit_.insert(packet.seq);
  ++stat_losses_;
}

// No ack progress for a retransmission timeout: probe with the oldest packet not acknowledged
// (it holds up in-order delivery, and before the peer answered at all it is the open that
// creates the channel there) and the newest sent (its ack carries the whole miss list); one
// packet goes twice. Two probes give a lossy path two chances per timeout. The timeout backs
// off exponentially while the ack does not move. A second timeout in a row with no answer
// in between (on_ack) is persistent congestion: the path was silent for a timeout and the
// twice as long one after it (RFC 9002 7.6: about three PTOs in which nothing sent was
// acknowledged). An ack that answered the probes, even one still reporting the oldest
// missing, shows a path that delivers: that packet was lost again, which is loss, not silence.
void Channel::on_retransmission_timeout(Instant now) {
  rto_at_.reset();
  if (!has_unacked_sent() || sending_.empty()) return;
  ++stat_timeouts_;
  if (rto_backoff_ < 16) ++rto_backoff_;
  if (silent_timeouts_ < 16) ++silent_timeouts_;
  if (silent_timeouts_ >= 2) path().on_persistent_congestion(now);
  const std::uint32_t oldest = sending_.front().seq;
  const auto newest = static_cast<std::uint32_t>(highest_sent_);
  for (const std::uint32_t seq : {oldest, newest}) {
    Sending* packet = find_sending(seq);
    if (packet == nullptr) continue;
    retransmit_.erase(seq);
    outgoing_.push_back(transmit(*packet, now));
  }
  rto_at_ = now + backed_off_rto();
}

// ---- receiving ----------------------------------------------------------------------------

std::uint64_t Channel::accept_limit() const {
  return std::max(adv_edge_, consumer_limit());
}

std::uint64_t Channel::advertised_edge() const {
  // While draining for an RTT sample the edge stands still (it is never lowered).
  const std::uint64_t limit = drain_until_ ? adv_edge_ : consumer_limit();
  const std::uint64_t edge = std::max({adv_edge_, limit, std::uint64_t{ack_} + 1});
  return std::min<std::uint64_t>(edge, kU32Max);
}

Channel::AckAdded Channel::add_ack(boost::json::object& json, std::size_t room) const {
  if (!received_seq_) return AckAdded::kComplete;
  const auto window = static_cast<std::uint32_t>(advertised_edge() - ack_);
  // ,"ack":<ack>,"miss":[<at most the window>]
  const std::size_t base = 7 + digits(ack_) + 9 + digits(window) + 1;
  if (base > room) return AckAdded::kNoRoom;
  room -= base;
  json["ack"] = ack_;
  // Only packets above a hole are held (or, consumer-paced, in order beyond the consumer's
  // limit), so the holes below the highest held are what is missing: as many as fit.
  std::vector<std::uint32_t> missing;
  bool complete = true;
  std::uint64_t previous = ack_;
  std::uint64_t expected = std::uint64_t{ack_} + 1;
  std::size_t used = 0;
  for (auto it = received_.begin(); it != received_.end() && complete; ++it) {
    for (; expected < it->first; ++expected) {
      const std::size_t cost = digits(expected - previous) + 1;
      if (used + cost > room) {
        complete = false;
        break;
      }
      used += cost;
      missing.push_back(static_cast<std::uint32_t>(expected));
      previous = expected;
    }
    expected = std::uint64_t{it->first} + 1;
  }
  boost::json::array miss;
  for (const std::uint32_t delta : encode_miss(ack_, std::move(missing), window)) {
    miss.push_back(delta);
  }
  json["miss"] = std::move(miss);
  return complete ? AckAdded::kComplete : AckAdded::kCut;
}

void Channel::note_ack_sent(Instant now) {
  receipts_since_ack_ = 0;
  ack_now_ = false;
  window_update_at_.reset();
  const std::uint64_t edge = advertised_edge();
  if (edge > adv_edge_) {
    // A packet beyond the old edge can only be sent once this ack (or a later one) reached
    // the peer: the time until the first one arrives is a round trip, or more when the peer
    // was not waiting for the window (the windowed minimum keeps the round trips).
    if (!edge_probe_) edge_probe_ = EdgeProbe{adv_edge_, now};
    adv_edge_ = edge;
  }
}

void Channel::emit_adhoc_ack(Instant now) {
  boost::json::object json;
  json["c"] = id_;
  add_ack(json, kMaxChannelInner - kAdhocAckSpare);
  note_ack_sent(now);
  push_outgoing(std::move(json), {});
}

void Channel::ack_now(Instant now) {
  if (ack_now_) return;
  ack_now_ = true;
  ack_now_since_ = now;
}

// The minimum RTT goes stale after kReceiveRttWindow, but every sample taken while the
// stream flows includes the queue the stream itself keeps at a bottleneck, so a fresh one
// needs the queue gone: the edge stops moving until everything allowed has arrived (the
// peer's flight drained: at most about a round trip without new data, every 10 s), then
// moves again, and that ack's probe measures the empty path (BBR's PROBE_RTT, done by the
// receiver). A peer that is not sending that much is not queueing either: the drain ends
// after two round trips anyway.
void Channel::update_drain(std::uint32_t seq, Instant now) {
  if (!edge_rtt_) return;
  if (!drain_until_) {
    if (now - edge_rtt_at_ <= kReceiveRttWindow) return;
    drain_until_ = now + 2 * *edge_rtt_;
    edge_rtt_at_ = now;
    edge_probe_.reset();  // a sample under way would include the queue
    return;
  }
  const std::uint64_t highest = received_.empty()
                                    ? std::max(ack_, seq)
                                    : std::max<std::uint64_t>(ack_, received_.rbegin()->first);
  if (highest >= adv_edge_ || now >= *drain_until_) {
    drain_until_.reset();
    take_next_sample_ = true;
    ack_now(now);  // the edge moves again: tell the peer at once, and time it
  }
}

// The round trip the window is tuned with: what the edge probes measured, else (a channel
// that has not received enough yet) the path's minimum from our own sending.
std::optional<Duration> Channel::receive_rtt() const {
  if (edge_rtt_) return edge_rtt_;
  if (path_ != nullptr && path_->rtt().has_sample()) return path_->rtt().min();
  return std::nullopt;
}

void Channel::on_seq(std::uint32_t seq, const boost::json::object& json, ByteView body,
                     Instant now) {
  received_seq_ = true;
  // After a pause (nothing held, nothing unread) the window falls back to where it started,
  // and its auto-tuning measures from the first packet after it: a burst after a pause
  // starts modest again (what the peer was already allowed stays allowed: the edge is never
  // lowered).
  if (last_receipt_ && received_.empty() && consumed_ == ack_) {
    Duration idle = kReliableWindowIdle;
    if (auto rtt = receive_rtt()) idle = std::max(idle, 4 * *rtt);
    if (now - *last_receipt_ >= idle) {
      window_ = kReliableWindow;
      start_epoch(now);
    }
  }
  last_receipt_ = now;

  if (seq <= ack_ || end_received_ || received_.contains(seq)) {
    if (!end_received_) ++stat_duplicates_;
    ack_now(now);  // old, duplicate, or after the end: the peer missed our ack
    return;
  }
  if (seq > accept_limit()) {
    ack_now(now);  // beyond what we allowed: dropped; tell the peer where we are
    return;
  }
  if (edge_probe_ && seq > edge_probe_->edge) {
    // A windowed minimum (as BBR keeps its min RTT): a smaller sample, or the first one
    // after draining, so a path that got longer is followed.
    const Duration sample = now - edge_probe_->at;
    if (!edge_rtt_ || sample <= *edge_rtt_ || take_next_sample_) {
      edge_rtt_ = sample;
      edge_rtt_at_ = now;
      take_next_sample_ = false;
    }
    edge_probe_.reset();
  }
  update_drain(seq, now);
  // Held until the gap before it fills (or the consumer makes room), so charged to the
  // budget. The next packet in order, when it can be delivered, costs nothing and is never
  // refused.
  std::size_t cost = 0;
  if (std::uint64_t{seq} != std::uint64_t{ack_} + 1 || seq > consumer_limit()) {
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
  deliver_in_order(now);
  if (!received_.empty() && std::uint64_t{received_.begin()->first} > std::uint64_t{ack_} + 1) {
    epoch_held_peak_ = std::max(epoch_held_peak_, received_.size());
  }
  if (end_received_) return;             // its ack is already due
  if (!received_.empty()) ack_now(now);  // a gap: miss reaches the peer at once
  if (receipts_since_ack_ >= kReliableAckEvery) ack_now(now);  // every second packet
}

void Channel::deliver_in_order(Instant now) {
  while (!received_.empty()) {
    auto it = received_.begin();
    if (std::uint64_t{it->first} != std::uint64_t{ack_} + 1 || it->first > consumer_limit()) {
      return;
    }
    auto node = received_.extract(it);
    ack_ = node.key();
    Buffered& packet = node.mapped();
    release_bytes(packet.cost);
    const bool end = packet.end;
    events_.push_back(channel_event::Data{std::move(packet.json), std::move(packet.body), end});
    if (!consumer_paced_) {
      consumed_ = ack_;
      on_consumed(now);
    }
    if (end) {
      on_end_received(now);
      return;
    }
  }
}

// Auto-tuning (PROTOCOL.md 13): each time a window's worth has been consumed, compare how
// long that took (T) with the path's minimum round trip. The window then aims at 1.5 times
// the bandwidth-delay product the consumption rate shows: W <- 1.5 * W * rtt / T, at most
// doubling, and doubling outright when T <= 1.1 rtt (the window, not the path, was the
// limit), never below kReliableWindow; rtt is at least kReliableWindowMinRtt. Not 1.2: a
// window 1.17 times the product consumed at the path's rate takes 1.17 rtt, and doubling it let a
// sender in Startup put 2.3 products in flight and overflow a queue of one product
// (ReceiveWindowDoesNotOvershootAPath...). Twice the product (what "double while consumed within 2
// RTT" would settle at, or more) lets a sender keep a whole product queued at a deep
// bottleneck; 1.5 keeps the path full (the ack clock needs some slack) with at most half a product
// queued. A slow reader (consumer-paced) or a slow sender gets a window to match.
//
// Repairs need room of their own: while the oldest hole waits for its resend (a round trip
// or more), nothing is consumed, yet the sender must go on sending to keep the path full, and
// what it sends is held above the hole. The window adds the most packets held above a gap
// during the epoch. Without that, a lossy path (a hole every round trip at 1% and a full
// 100 Mbit/s path) makes T about two round trips for a window-limited stream, the product
// the consumption rate shows is half the window, and the window shrinks toward
// kReliableWindow however fast the path is: consumption measures the window, not the path.
void Channel::on_consumed(Instant now) {
  if (consumed_ - epoch_from_ < window_) return;
  const Duration elapsed = now - epoch_at_;
  if (auto measured = receive_rtt(); measured && *measured > Duration::zero()) {
    const Duration rtt = std::max(*measured, kReliableWindowMinRtt);
    double factor = 2.0;
    if (elapsed * 10 > rtt * 11) {
      factor = std::min(2.0, 1.5 * std::chrono::duration<double>(rtt).count() /
                                 std::chrono::duration<double>(elapsed).count());
    }
    const double target = std::min(
        std::ceil(static_cast<double>(window_) * factor) + static_cast<double>(epoch_held_peak_),
        2.0 * static_cast<double>(window_));
    window_ = static_cast<std::uint32_t>(std::clamp(target, static_cast<double>(kReliableWindow),
                                                    static_cast<double>(kReliableMaxWindow)));
  }
  start_epoch(now);
}

void Channel::start_epoch(Instant now) {
  epoch_at_ = now;
  epoch_from_ = consumed_;
  epoch_held_peak_ = 0;
}

void Channel::set_consumer_paced(bool consumer_paced, Instant now) {
  if (!reliable_) return;
  touch(now);
  consumer_paced_ = consumer_paced;
  if (consumer_paced) {
    // Every Data event of the peer's counts from its first content packet on, also those
    // already delivered and waiting in the owner's event queue.
    consumed_ = std::min<std::uint64_t>(consumed_, stream_start_);
  } else {
    consumed_ = ack_;
    deliver_in_order(now);
  }
  start_epoch(now);
}

Result<Sent, ChannelConsumeError> Channel::consumed(std::size_t packets, Instant now) {
  if (!reliable_ || !consumer_paced_) return unexpected(ChannelConsumeError::kNotConsumerPaced);
  touch(now);
  if (packets > ack_ - consumed_) return unexpected(ChannelConsumeError::kTooMany);
  if (packets == 0) return Sent{};
  const bool was_closed = adv_edge_ <= std::uint64_t{ack_} + 1;
  consumed_ += packets;
  on_consumed(now);
  deliver_in_order(now);
  if (state_ == ChannelState::kClosed || end_received_) return Sent{};
  const std::uint64_t edge = advertised_edge();
  if (edge > adv_edge_) {
    // Tell the peer at once when its window was closed or opens by a quarter; smaller
    // openings ride on the next ack, sent within the ack delay at the latest.
    if (was_closed || edge - adv_edge_ >= std::max<std::uint64_t>(1, window_ / 4)) {
      ack_now(now);
    } else if (!window_update_at_) {
      window_update_at_ = now + kReliableAckDelay;
    }
  }
  return Sent{};
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

ReliableFlowStats Channel::flow() const {
  ReliableFlowStats s;
  s.peer_ack = peer_ack_;
  s.peer_edge = peer_edge_;
  s.highest_sent = highest_sent_;
  for (std::size_t i = 0; i < sending_.size(); ++i) {
    const Sending& packet = sending_[i];
    if (packet.state == Sending::State::kQueued) ++s.queued;
    if (packet.state == Sending::State::kInFlight && path_ != nullptr &&
        packet.generation == path_->generation()) {
      ++s.in_flight;
      s.in_flight_bytes += packet.size;
    }
  }
  s.lost_waiting = retransmit_.size();
  s.rto_backoff = rto_backoff_;
  s.rto_at = rto_at_;
  s.transmissions = stat_transmissions_;
  s.retransmissions = stat_retransmissions_;
  s.losses = stat_losses_;
  s.timeouts = stat_timeouts_;
  s.ack = ack_;
  s.consumed = consumed_;
  s.receive_window = window_;
  s.advertised_edge = adv_edge_;
  s.held = received_.size();
  s.duplicates = stat_duplicates_;
  s.receive_rtt = receive_rtt();
  s.consumer_paced = consumer_paced_;
  return s;
}

}  // namespace e3x
