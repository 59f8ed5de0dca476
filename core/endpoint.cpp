#include "core/endpoint.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/exchange.hpp"
#include "core/lob.hpp"

namespace e3x {

struct Endpoint::Peer {
  Hashname hashname;
  std::optional<PublicKey> key;
  std::optional<SharedKey> s_static;  // crypto_box_beforenm(peer static, our static): cached
  PeerOptions options;
  std::unique_ptr<Exchange> exchange;
  std::optional<Instant> timer_at;    // its entry in Endpoint::timers_
  HandshakeSeqState remembered_seqs;  // from its last exchange (sent_max, recv_max)
  // The highest SEQ we originated toward this peer, in any exchange, or its persisted floor:
  // every new SEQ toward it is above this (PROTOCOL.md 10.4: one mark per peer, so what one
  // peer does never moves the SEQs we use toward another).
  std::uint32_t seq_used = 0;
  bool seq_usage_listed = false;  // in seq_usage_changed_, not yet taken by the driver
  bool seq_exhausted = false;
  // Not configured, let in by the accept policy: forgotten when its exchange times out.
  bool admitted_by_policy = false;
  // What ended exchanges leave behind, so status keeps telling the truth after a peer went
  // down: when it was last in sync, and the traffic so far.
  std::optional<Instant> last_sync;
  Exchange::Traffic past_traffic;
};

const char* to_string(DownReason reason) {
  switch (reason) {
    case DownReason::kTimeout:
      return "timeout";
    case DownReason::kRemoved:
      return "removed";
  }
  return "?";
}

const char* to_string(ExchangeState state) {
  switch (state) {
    case ExchangeState::kNone:
      return "down";
    case ExchangeState::kConnecting:
      return "connecting";
    case ExchangeState::kUp:
      return "up";
  }
  return "?";
}

const char* to_string(EndpointError error) {
  switch (error) {
    case EndpointError::kUnknownPeer:
      return "unknown peer";
    case EndpointError::kPeerIsSelf:
      return "the peer's key is our own";
    case EndpointError::kNoKey:
      return "the peer's key is not known yet";
    case EndpointError::kNoPath:
      return "no path to the peer";
    case EndpointError::kNoExchange:
      return "no exchange with the peer";
    case EndpointError::kUnknownChannel:
      return "unknown channel";
    case EndpointError::kChannelIdsExhausted:
      return "channel ids exhausted";
    case EndpointError::kSeqExhausted:
      return "SEQ values exhausted";
    case EndpointError::kReservedKey:
      return "a reserved JSON key was used";
    case EndpointError::kTooLarge:
      return "too large for one packet";
    case EndpointError::kChannelClosed:
      return "channel closed";
    case EndpointError::kEndSent:
      return "end already sent on this channel";
    case EndpointError::kBacklogFull:
      return "channel backlog full";
    case EndpointError::kNotReliable:
      return "channel is not reliable";
    case EndpointError::kNotConsumerPaced:
      return "channel is not consumer-paced";
    case EndpointError::kConsumedTooMany:
      return "more packets consumed than delivered";
  }
  return "?";
}

Endpoint::Endpoint(Config config)
    : identity_(std::move(config.identity)),
      hashname_(hashname_of(identity_.public_key)),
      random_(*config.random),
      pending_limit_(config.pending_limit),
      queue_limit_(config.queue_limit),
      accept_(std::move(config.accept)),
      refused_sender_(std::move(config.refused_sender)),
      admitted_peer_limit_(config.admitted_peer_limit),
      admit_expensive_(std::move(config.admit_expensive)),
      seq_floor_(config.seq_floor),
      seq_marks_of_(std::move(config.seq_marks_of)),
      highest_seq_used_(config.seq_floor),
      reorder_limit_(config.reorder_limit),
      congestion_(config.congestion),
      max_message_ahead_(config.max_message_ahead) {}

Endpoint::~Endpoint() = default;

// ---------------------------------------------------------------------------------------
// Small helpers

SharedKey Endpoint::x25519(const PublicKey& their_public, const SecretKey& our_secret) {
  stats_.x25519_operations += 1;
  return x25519_shared(their_public, our_secret);
}

KeyPair Endpoint::new_ephemeral() {
  stats_.x25519_operations += 1;
  return generate_keypair(random_);
}

std::int64_t Endpoint::unix_now(Instant now) const {
  return unix_anchor_seconds_ + std::chrono::floor<seconds>(now - unix_anchor_at_).count();
}

void Endpoint::set_unix_time(Instant at, std::int64_t unix_seconds) {
  unix_anchor_at_ = at;
  unix_anchor_seconds_ = unix_seconds;
}

std::optional<std::uint32_t> Endpoint::choose_seq(const Hashname& hashname,
                                                  const HandshakeSeqState& state, Instant now) {
  Peer* peer = find_peer(hashname);
  if (!peer) return std::nullopt;
  const auto seq = choose_new_seq(state, peer->seq_used, unix_now(now));
  if (!seq) {
    if (!peer->seq_exhausted) {
      peer->seq_exhausted = true;
      push_event(event::SeqExhausted{hashname});
    }
    return std::nullopt;
  }
  peer->seq_used = *seq;
  highest_seq_used_ = std::max(highest_seq_used_, *seq);
  if (!peer->seq_usage_listed) {
    peer->seq_usage_listed = true;
    seq_usage_changed_.push_back(hashname);
  }
  return seq;
}

std::vector<std::pair<Hashname, std::uint32_t>> Endpoint::take_seq_usage() {
  std::vector<std::pair<Hashname, std::uint32_t>> out;
  out.reserve(seq_usage_changed_.size());
  for (const Hashname& hashname : seq_usage_changed_) {
    if (Peer* peer = find_peer(hashname)) {
      peer->seq_usage_listed = false;
      out.emplace_back(hashname, peer->seq_used);
    } else if (auto seen = forgotten_seqs_.find(hashname); seen != forgotten_seqs_.end()) {
      out.emplace_back(hashname, seen->second.first);  // removed since: still owed to disk
    }
  }
  seq_usage_changed_.clear();
  return out;
}

void Endpoint::push_transmit(Transmit transmit) {
  if (transmits_.size() >= queue_limit_) {
    stats_.dropped_transmits += 1;
    return;
  }
  transmits_.push_back(std::move(transmit));
}

void Endpoint::push_event(Event event) {
  if (events_.size() >= queue_limit_) {
    stats_.dropped_events += 1;
    return;
  }
  events_.push_back(std::move(event));
}

std::optional<Transmit> Endpoint::poll_transmit() {
  if (transmits_.empty()) return std::nullopt;
  Transmit out = std::move(transmits_.front());
  transmits_.pop_front();
  return out;
}

std::optional<Event> Endpoint::poll_event() {
  if (events_.empty()) return std::nullopt;
  Event out = std::move(events_.front());
  events_.pop_front();
  return out;
}

Endpoint::Peer* Endpoint::find_peer(const Hashname& hashname) {
  auto it = peers_.find(hashname);
  return it == peers_.end() ? nullptr : it->second.get();
}

const Endpoint::Peer* Endpoint::find_peer(const Hashname& hashname) const {
  auto it = peers_.find(hashname);
  return it == peers_.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------------------------------
// Peers

Endpoint::Peer& Endpoint::find_or_add_peer(const Hashname& hashname) {
  auto& slot = peers_[hashname];
  if (!slot) {
    slot = std::make_unique<Peer>();
    slot->hashname = hashname;
    slot->seq_used = seq_floor_;
    if (seq_marks_of_) {
      if (auto marks = seq_marks_of_(hashname)) {
        slot->seq_used = std::max(slot->seq_used, marks->used);
        slot->remembered_seqs.recv_max = marks->seen;
      }
    }
    if (auto seen = forgotten_seqs_.find(hashname); seen != forgotten_seqs_.end()) {
      slot->remembered_seqs.sent_max = seen->second.first;
      slot->remembered_seqs.recv_max = seen->second.second;
      slot->seq_used = std::max(slot->seq_used, seen->second.first);
      forgotten_seqs_.erase(seen);
    }
  }
  return *slot;
}

std::vector<Hashname> Endpoint::peers() const {
  std::vector<Hashname> out;
  out.reserve(peers_.size());
  for (const auto& [hashname, peer] : peers_) out.push_back(hashname);
  std::sort(out.begin(), out.end());
  return out;
}

Result<Hashname, EndpointError> Endpoint::add_peer(const PublicKey& key, PeerOptions options) {
  if (order_of(identity_.public_key, key) == Order::kSame) {
    return unexpected(EndpointError::kPeerIsSelf);
  }
  const Hashname hashname = hashname_of(key);
  Peer* peer = &find_or_add_peer(hashname);
  mark_configured(*peer);
  peer->key = key;
  peer->options = options;
  if (peer->exchange) peer->exchange->set_keepalive(options.keepalive);
  return hashname;
}

Result<Hashname, EndpointError> Endpoint::add_peer(const Hashname& hashname, PeerOptions options) {
  if (hashname == hashname_) return unexpected(EndpointError::kPeerIsSelf);
  Peer* peer = &find_or_add_peer(hashname);
  mark_configured(*peer);
  peer->options = options;
  if (peer->exchange) peer->exchange->set_keepalive(options.keepalive);
  return hashname;
}

Result<Sent, EndpointError> Endpoint::set_peer_options(const Hashname& hashname,
                                                       PeerOptions options) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  peer->options = options;
  if (peer->exchange) {
    peer->exchange->set_keepalive(options.keepalive);
    reschedule(*peer);
  }
  return Sent{};
}

bool Endpoint::remove_peer(Instant /*now*/, const Hashname& hashname) {
  Peer* peer = find_peer(hashname);
  if (!peer) return false;
  if (peer->exchange) destroy_exchange(*peer, DownReason::kRemoved);
  forget_peer(hashname);
  return true;
}

// A peer the accept policy let in becomes configured: it is kept for good.
void Endpoint::mark_configured(Peer& peer) {
  if (!peer.admitted_by_policy) return;
  peer.admitted_by_policy = false;
  --admitted_peers_;
}

void Endpoint::forget_peer(const Hashname& hashname) {
  auto it = peers_.find(hashname);
  if (it == peers_.end()) return;
  if (it->second->admitted_by_policy) --admitted_peers_;
  // Keep its SEQs: if it comes back (re-added by a reload, or admitted again), its next
  // exchange must not reuse a SEQ the peer has already seen from us, even within the same
  // second. Bounded: the oldest entries go first.
  const HandshakeSeqState& seqs = it->second->remembered_seqs;
  const std::uint32_t used = std::max(seqs.sent_max, it->second->seq_used);
  if (used != 0 || seqs.recv_max != 0) {
    // The order list bounds both: an entry restored and forgotten again appears twice in
    // it, and the older copy may evict the newer early, which only costs that memory.
    if (forgotten_order_.size() >= kForgottenSeqsLimit) {
      forgotten_seqs_.erase(forgotten_order_.front());
      forgotten_order_.pop_front();
    }
    forgotten_seqs_.insert_or_assign(hashname, std::pair{used, seqs.recv_max});
    forgotten_order_.push_back(hashname);
  }
  peers_.erase(it);
}

Parity Endpoint::parity_toward(const Peer& peer) const {
  return order_of(identity_.public_key, *peer.key) == Order::kHigh ? Parity::kOdd : Parity::kEven;
}

Exchange& Endpoint::ensure_exchange(Peer& peer, Instant now) {
  if (!peer.exchange) {
    if (!peer.s_static) peer.s_static = x25519(*peer.key, identity_.secret_key);
    peer.exchange = std::make_unique<Exchange>(*this, peer.hashname, *peer.key, *peer.s_static,
                                               parity_toward(peer), peer.options.keepalive,
                                               peer.remembered_seqs, now);
  }
  return *peer.exchange;
}

void Endpoint::destroy_exchange(Peer& peer, DownReason reason) {
  Exchange& exchange = *peer.exchange;
  exchange.abort_channels(reason == DownReason::kTimeout ? "timeout" : "removed");
  if (exchange.remote_token()) by_remote_token_.erase(*exchange.remote_token());
  if (exchange.last_sync_time()) peer.last_sync = exchange.last_sync_time();
  peer.past_traffic.rx_packets += exchange.traffic().rx_packets;
  peer.past_traffic.tx_packets += exchange.traffic().tx_packets;
  peer.past_traffic.rx_bytes += exchange.traffic().rx_bytes;
  peer.past_traffic.tx_bytes += exchange.traffic().tx_bytes;
  peer.remembered_seqs.sent_max = exchange.seq_state().sent_max;
  peer.remembered_seqs.recv_max = exchange.seq_state().recv_max;
  if (peer.timer_at) timers_.erase({*peer.timer_at, peer.hashname});
  peer.timer_at.reset();
  peer.exchange.reset();
  push_event(event::ExchangeDown{peer.hashname, reason});
}

void Endpoint::reschedule(Peer& peer) {
  std::optional<Instant> next;
  if (peer.exchange) next = peer.exchange->next_deadline();
  if (next == peer.timer_at) return;
  if (peer.timer_at) timers_.erase({*peer.timer_at, peer.hashname});
  peer.timer_at = next;
  if (next) timers_.insert({*next, peer.hashname});
}

std::optional<PeerStatus> Endpoint::peer_status(const Hashname& hashname) const {
  const Peer* peer = find_peer(hashname);
  if (!peer) return std::nullopt;
  PeerStatus status;
  status.hashname = peer->hashname;
  status.key = peer->key;
  status.keepalive = peer->options.keepalive;
  status.seq_used = peer->seq_used;
  status.seq_seen = peer->remembered_seqs.recv_max;
  status.seq_exhausted = peer->seq_exhausted;
  status.last_handshake = peer->last_sync;
  status.rx_packets = peer->past_traffic.rx_packets;
  status.tx_packets = peer->past_traffic.tx_packets;
  status.rx_bytes = peer->past_traffic.rx_bytes;
  status.tx_bytes = peer->past_traffic.tx_bytes;
  if (const Exchange* exchange = peer->exchange.get()) {
    status.state = exchange->in_sync() ? ExchangeState::kUp : ExchangeState::kConnecting;
    status.path = exchange->path();
    status.paths = exchange->paths();
    status.seq_sent = exchange->seq_state().sent_max;
    status.seq_recv = exchange->seq_state().recv_max;
    status.seq_seen = std::max(status.seq_seen, status.seq_recv);
    status.local_token = exchange->local_token();
    status.remote_token = exchange->remote_token();
    if (exchange->last_sync_time()) status.last_handshake = exchange->last_sync_time();
    status.handshake_rtt = exchange->handshake_rtt();
    status.rx_packets += exchange->traffic().rx_packets;
    status.tx_packets += exchange->traffic().tx_packets;
    status.rx_bytes += exchange->traffic().rx_bytes;
    status.tx_bytes += exchange->traffic().tx_bytes;
    status.channels = exchange->active_channel_count();
    status.pending = exchange->pending_count();
  }
  return status;
}

std::optional<PeerSeqMarks> Endpoint::seq_marks(const Hashname& hashname) const {
  const Peer* peer = find_peer(hashname);
  if (!peer) return std::nullopt;
  PeerSeqMarks marks{peer->seq_used, peer->remembered_seqs.recv_max};
  if (const Exchange* exchange = peer->exchange.get()) {
    marks.seen = std::max(marks.seen, exchange->seq_state().recv_max);
  }
  return marks;
}

std::size_t Endpoint::channel_quota(const Hashname& hashname, std::uint32_t id) const {
  const Peer* peer = find_peer(hashname);
  if (!peer || !peer->exchange) return 0;
  const Channel* channel = peer->exchange->channel(id);
  return channel ? channel->quota() : 0;
}

std::size_t Endpoint::channel_send_capacity(const Hashname& hashname, std::uint32_t id) const {
  const Peer* peer = find_peer(hashname);
  if (!peer || !peer->exchange) return 0;
  const Channel* channel = peer->exchange->channel(id);
  return channel ? channel->send_capacity() : 0;
}

std::optional<ChannelState> Endpoint::channel_state(const Hashname& hashname,
                                                    std::uint32_t id) const {
  const Peer* peer = find_peer(hashname);
  if (!peer || !peer->exchange) return std::nullopt;
  const Channel* channel = peer->exchange->channel(id);
  if (!channel) return std::nullopt;
  return channel->state();
}

std::optional<ReliableFlowStats> Endpoint::channel_flow(const Hashname& hashname,
                                                        std::uint32_t id) const {
  const Peer* peer = find_peer(hashname);
  if (!peer || !peer->exchange) return std::nullopt;
  const Channel* channel = peer->exchange->channel(id);
  if (!channel || !channel->reliable()) return std::nullopt;
  return channel->flow();
}

std::optional<PathFlowStats> Endpoint::path_flow(const Hashname& hashname) const {
  const Peer* peer = find_peer(hashname);
  if (!peer || !peer->exchange || !peer->exchange->path_control()) return std::nullopt;
  return peer->exchange->path_control()->stats();
}

PathId Endpoint::current_path(const Hashname& hashname) const {
  const Peer* peer = find_peer(hashname);
  return peer && peer->exchange ? peer->exchange->path() : kNoPath;
}

std::optional<Instant> Endpoint::handshake_outstanding_since(const Hashname& hashname) const {
  const Peer* peer = find_peer(hashname);
  if (!peer || !peer->exchange) return std::nullopt;
  return peer->exchange->handshake_outstanding_since();
}

bool Endpoint::exchange_up(const Hashname& hashname) const {
  const Peer* peer = find_peer(hashname);
  return peer && peer->exchange && peer->exchange->in_sync();
}

// ---------------------------------------------------------------------------------------
// Commands that act on an exchange

Result<Sent, EndpointError> Endpoint::punch(Instant now, const Hashname& hashname,
                                            const std::vector<PathId>& paths) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->exchange) return unexpected(EndpointError::kNoExchange);
  auto result = peer->exchange->punch(now, paths);
  reschedule(*peer);
  return result;
}

Result<Sent, EndpointError> Endpoint::connect(Instant now, const Hashname& hashname, PathId path) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->key) return unexpected(EndpointError::kNoKey);
  auto result = ensure_exchange(*peer, now).connect(now, path);
  reschedule(*peer);
  return result;
}

Result<Sent, EndpointError> Endpoint::request_keepalive(Instant now, const Hashname& hashname,
                                                        PathId path) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->exchange) return unexpected(EndpointError::kNoExchange);
  auto result = peer->exchange->handshake_outstanding()
                    ? peer->exchange->connect(now, path == kNoPath ? peer->exchange->path() : path)
                    : peer->exchange->start_handshake(now, path);
  reschedule(*peer);
  return result;
}

Result<std::uint32_t, EndpointError> Endpoint::open_channel(Instant now, const Hashname& hashname,
                                                            std::string type, bool reliable,
                                                            boost::json::object extra, Bytes body,
                                                            ChannelOptions options) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->exchange) {
    if (!peer->key) return unexpected(EndpointError::kNoKey);
    ensure_exchange(*peer, now);  // packets wait in the pending queue until a handshake completes
  }
  auto result = peer->exchange->open_channel(now, std::move(type), reliable, std::move(extra),
                                             std::move(body), options);
  reschedule(*peer);
  return result;
}

Result<Sent, EndpointError> Endpoint::set_channel_options(Instant now, const Hashname& hashname,
                                                          std::uint32_t channel,
                                                          ChannelOptions options) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->exchange) return unexpected(EndpointError::kUnknownChannel);
  auto result = peer->exchange->set_channel_options(now, channel, options);
  reschedule(*peer);
  return result;
}

Result<Sent, EndpointError> Endpoint::channel_consumed(Instant now, const Hashname& hashname,
                                                       std::uint32_t channel, std::size_t packets) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->exchange) return unexpected(EndpointError::kUnknownChannel);
  auto result = peer->exchange->channel_consumed(now, channel, packets);
  reschedule(*peer);
  return result;
}

Result<Sent, EndpointError> Endpoint::send_channel(Instant now, const Hashname& hashname,
                                                   std::uint32_t channel, boost::json::object extra,
                                                   Bytes body, bool end) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->exchange) return unexpected(EndpointError::kUnknownChannel);
  auto result = peer->exchange->send_channel(now, channel, std::move(extra), std::move(body), end);
  reschedule(*peer);
  return result;
}

Result<Sent, EndpointError> Endpoint::close_channel(Instant now, const Hashname& hashname,
                                                    std::uint32_t channel,
                                                    const std::string& reason) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->exchange) return unexpected(EndpointError::kUnknownChannel);
  auto result = peer->exchange->close_channel(now, channel, reason);
  reschedule(*peer);
  return result;
}

Result<Bytes, EndpointError> Endpoint::send_message(Instant now, const Hashname& hashname,
                                                    std::string type, std::string id,
                                                    boost::json::object extra, ByteView body,
                                                    PathId path) {
  Peer* peer = find_peer(hashname);
  if (!peer) return unexpected(EndpointError::kUnknownPeer);
  if (!peer->key) return unexpected(EndpointError::kNoKey);
  for (const char* reserved : {"type", "from", "id"}) {
    if (extra.contains(reserved)) return unexpected(EndpointError::kReservedKey);
  }
  // An exchange created here only to seal the message has a deadline: unless a handshake
  // starts, it times out like an unanswered one (PROTOCOL.md 10.7).
  Exchange& exchange = ensure_exchange(*peer, now);
  if (path == kNoPath) path = exchange.path();
  if (path == kNoPath) return unexpected(EndpointError::kNoPath);

  // Head order is type, from, id (as in the shared vectors), then the caller's keys.
  boost::json::object head;
  head["type"] = type;
  head["from"] = hashname_.to_string();
  head["id"] = id;
  for (auto& [key, value] : extra) head[key] = std::move(value);
  auto sealed = exchange.seal_application_message(now, lob_encode(head, body));
  if (!sealed) return sealed;
  stats_.messages_sent += 1;
  exchange.send_to(now, path, *sealed);
  reschedule(*peer);
  return sealed;
}

// ---------------------------------------------------------------------------------------
// Inputs

bool Endpoint::handle_datagram(Instant now, PathId path, ByteView packet) {
  stats_.datagrams_received += 1;
  // Cheap checks first: the LENGTH prefix alone says message (1), channel (0) or neither.
  if (packet.size() < 2) {
    stats_.dropped_malformed += 1;
    return false;
  }
  const std::uint16_t head_length = static_cast<std::uint16_t>((packet[0] << 8) | packet[1]);
  if (head_length == 1) return handle_message_packet(now, path, packet);
  if (head_length == 0) return handle_channel_packet(now, path, packet);
  stats_.dropped_malformed += 1;
  return false;
}

bool Endpoint::handle_carried_handshake(Instant now, PathId path, ByteView packet,
                                        const Hashname& sender) {
  stats_.datagrams_received += 1;
  if (packet.size() < 2 || packet[0] != 0 || packet[1] != 1) {
    stats_.dropped_malformed += 1;
    return false;
  }
  return handle_message_packet(now, path, packet, &sender);
}

bool Endpoint::handle_message_packet(Instant now, PathId path, ByteView packet,
                                     const Hashname* only_from) {
  const auto parts = parse_message(packet);
  if (!parts) {
    stats_.dropped_malformed += 1;
    return false;
  }
  // Validation cache: a KEY we already know (by its token) needs no X25519 to open.
  std::optional<SharedKey> computed;
  const SharedKey* k_box = nullptr;
  if (auto it = by_remote_token_.find(token_of(parts->key)); it != by_remote_token_.end()) {
    if (Peer* peer = find_peer(it->second); peer && peer->exchange) {
      k_box = peer->exchange->cached_k_box_in(parts->key);
    }
  }
  if (!k_box) {
    // Cheap checks are done; the rest costs X25519, so the driver's policy bounds it.
    if (admit_expensive_ && !admit_expensive_(path)) {
      stats_.dropped_rate_limited += 1;
      return false;
    }
    computed = x25519(parts->key, identity_.secret_key);
    k_box = &*computed;
  }
  const auto inner_bytes = open_message_box(*parts, *k_box);
  if (!inner_bytes) {
    stats_.dropped_unauthenticated += 1;
    return false;
  }
  const auto inner = lob_decode(*inner_bytes);
  if (!inner) {
    stats_.dropped_malformed += 1;
    return false;
  }
  if (inner->json && inner->json->contains("type")) {
    if (only_from) {  // a carried packet must be a handshake
      stats_.dropped_policy += 1;
      return false;
    }
    return handle_application_message(now, path, *parts, *inner);
  }

  // A handshake: BODY is the sender's 3a key, HEAD empty or its compact keys.
  if (inner->body.size() != 32 || (!inner->head.empty() && !inner->json)) {
    stats_.dropped_malformed += 1;
    return false;
  }
  CompactKeys compact;
  if (inner->json) {
    auto parsed = parse_compact_keys(*inner->json);
    if (!parsed) {
      stats_.dropped_malformed += 1;
      return false;
    }
    compact = std::move(*parsed);
  }
  PublicKey sender_key;
  std::copy(inner->body.begin(), inner->body.end(), sender_key.begin());
  if (order_of(identity_.public_key, sender_key) == Order::kSame) {
    stats_.dropped_policy += 1;
    return false;
  }
  const Hashname sender = hashname_of(sender_key, compact);
  if (only_from && sender != *only_from) {
    stats_.dropped_policy += 1;
    return false;
  }
  Peer* peer = find_peer(sender);
  if (!peer) {
    if (!accept_ || admitted_peers_ >= admitted_peer_limit_ || !accept_(sender)) {
      stats_.dropped_policy += 1;
      if (refused_sender_) refused_sender_(path, sender, sender_key);
      return false;
    }
    // Admitted by policy but not configured: it has to authenticate before any state is
    // kept for it.
    SharedKey s_static = x25519(sender_key, identity_.secret_key);
    if (!verify_message_auth(*parts, s_static)) {
      stats_.dropped_unauthenticated += 1;
      return false;
    }
    peer = &find_or_add_peer(sender);
    peer->admitted_by_policy = true;
    ++admitted_peers_;
    peer->key = sender_key;
    peer->s_static = std::move(s_static);
  } else if (peer->key && *peer->key != sender_key) {
    // Same hashname with another key is impossible unless compact keys differ; refuse.
    stats_.dropped_unauthenticated += 1;
    return false;
  } else {
    if (!peer->key) peer->key = sender_key;  // configured by hashname: learn its key now
    if (!peer->s_static) peer->s_static = x25519(sender_key, identity_.secret_key);
    if (!verify_message_auth(*parts, *peer->s_static)) {
      stats_.dropped_unauthenticated += 1;
      return false;
    }
  }
  stats_.handshakes_received += 1;
  return handle_handshake(now, path, *peer, *parts, *k_box);
}

bool Endpoint::handle_handshake(Instant now, PathId path, Peer& peer, const MessageParts& parts,
                                const SharedKey& k_box) {
  if (!peer.exchange) {
    // Only a handshake an exchange would accept creates one: a stale or invalid one must not
    // leave behind an exchange with no handshake in flight (nor cost an ephemeral key).
    HandshakeSeqState state = peer.remembered_seqs;
    state.own = parity_toward(peer);
    const HandshakeAction action = classify_handshake(state, parts.seq, unix_now(now));
    if (action == HandshakeAction::kDropTooFar) {
      stats_.dropped_seq_too_far += 1;
      return false;
    }
    if (action != HandshakeAction::kAcceptAndReply) {
      stats_.dropped_stale += 1;
      return false;
    }
  }
  Exchange& exchange = ensure_exchange(peer, now);
  const bool taken = exchange.on_handshake(now, path, parts.seq, parts.key, k_box,
                                           2 + 1 + parts.seq_key_box.size() + parts.auth.size());
  reschedule(peer);
  return taken;
}

bool Endpoint::handle_application_message(Instant now, PathId path, const MessageParts& parts,
                                          const LobView& inner) {
  const auto& json = *inner.json;
  const auto* type = json.if_contains("type");
  const auto* from = json.if_contains("from");
  const auto* id = json.if_contains("id");
  if (!type || !type->is_string() || !from || !from->is_string() || !id || !id->is_string()) {
    stats_.dropped_malformed += 1;
    return false;
  }
  const auto sender = Hashname::parse(std::string_view(from->as_string()));
  Peer* peer = sender ? find_peer(*sender) : nullptr;
  if (!peer || !peer->key) {
    stats_.dropped_policy += 1;
    return false;
  }
  if (!peer->s_static) peer->s_static = x25519(*peer->key, identity_.secret_key);
  if (!verify_message_auth(parts, *peer->s_static)) {
    stats_.dropped_unauthenticated += 1;
    return false;
  }
  // Rule 7: no valid "expires", no receipt and no delivery; a replay of an old message is
  // refused here once it has expired (the inbox remembers it until then).
  if (check_expiry(json, unix_now(now), max_message_ahead_) != ExpiryVerdict::kValid) {
    stats_.dropped_expired += 1;
    return false;
  }
  stats_.messages_received += 1;
  if (peer->exchange) {
    peer->exchange->on_message_received(now, parts.seq, parts.key,
                                        2 + 1 + parts.seq_key_box.size() + parts.auth.size());
    reschedule(*peer);
  }
  push_event(event::MessageReceived{*sender, path, parts.seq, std::string(type->as_string()),
                                    std::string(id->as_string()), json,
                                    Bytes(inner.body.begin(), inner.body.end())});
  return true;
}

bool Endpoint::handle_channel_packet(Instant now, PathId path, ByteView packet) {
  const auto parts = parse_channel(packet);
  if (!parts) {
    stats_.dropped_malformed += 1;
    return false;
  }
  auto it = by_remote_token_.find(parts->token);
  Peer* peer = it == by_remote_token_.end() ? nullptr : find_peer(it->second);
  if (!peer || !peer->exchange) {
    stats_.dropped_unknown_token += 1;
    return false;
  }
  const bool taken = peer->exchange->on_channel_packet(now, path, *parts, packet.size());
  reschedule(*peer);
  return taken;
}

std::optional<Instant> Endpoint::next_timeout() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

void Endpoint::handle_timeout(Instant now) {
  std::vector<Hashname> due;
  for (auto it = timers_.begin(); it != timers_.end() && it->first <= now; ++it) {
    due.push_back(it->second);
  }
  for (const Hashname& hashname : due) {
    Peer* peer = find_peer(hashname);
    if (!peer || !peer->exchange) continue;
    if (peer->exchange->on_timeout(now) == Exchange::TimeoutResult::kTimedOut) {
      destroy_exchange(*peer, DownReason::kTimeout);
      if (peer->admitted_by_policy) forget_peer(hashname);
    } else {
      reschedule(*peer);
    }
  }
}

}  // namespace e3x
