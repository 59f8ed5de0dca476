#include "core/exchange.hpp"

#include <algorithm>

#include "core/endpoint.hpp"
#include "core/json_fields.hpp"
#include "core/lob.hpp"

namespace e3x {

namespace {

// Incoming channel ids may arrive out of order; ids this far below the highest seen are
// still accepted if they were never seen.
constexpr std::uint32_t kIncomingIdSlack = 64;
constexpr std::size_t kMaxRememberedHandshakes = 16;

std::uint32_t first_channel_id(Parity parity) {
  return parity == Parity::kOdd ? 1 : 2;
}

std::optional<std::uint32_t> channel_id_of(const boost::json::object& json) {
  const auto* c = json.if_contains("c");
  return c ? json_positive_u32(*c) : std::nullopt;
}

}  // namespace

Exchange::Exchange(Endpoint& endpoint, const Hashname& peer, const PublicKey& peer_static,
                   const SharedKey& s_static, Parity own_parity, Duration keepalive,
                   const HandshakeSeqState& remembered, Instant now)
    : endpoint_(endpoint),
      peer_(peer),
      s_static_(s_static),
      keepalive_(keepalive),
      ephemeral_(endpoint.new_ephemeral()),
      local_token_(token_of(ephemeral_.public_key)),
      k_box_out_(endpoint.x25519(peer_static, ephemeral_.secret_key)),
      next_channel_id_(first_channel_id(own_parity)) {
  seq_.own = own_parity;
  seq_.sent_max = remembered.sent_max;
  seq_.recv_max = remembered.recv_max;
  unstarted_deadline_ = now + kHandshakeTimeout;
  reorder_budget_.limit = kMaxReorderBytesPerExchange;
  reorder_budget_.shared_used = &endpoint_.reorder_bytes_;
  reorder_budget_.shared_limit = endpoint_.reorder_limit_;
}

const SharedKey* Exchange::cached_k_box_in(const PublicKey& key) const {
  return remote_ephemeral_ && *remote_ephemeral_ == key ? &k_box_in_ : nullptr;
}

const Channel* Exchange::channel(std::uint32_t id) const {
  auto it = channels_.find(id);
  return it == channels_.end() ? nullptr : &it->second;
}

// ---------------------------------------------------------------------------------------
// Sending

void Exchange::send_to(Instant now, PathId path, Bytes packet, SendKind kind) {
  if (path == kNoPath) return;
  traffic_.tx_packets += 1;
  traffic_.tx_bytes += packet.size();
  if (path == path_) {
    last_sent_ = now;
    last_send_was_reply_ = kind == SendKind::kReply;
  }
  // Rule 6: data the peer should answer starts the silence timer (a handshake we originate
  // has its own resend and timeout; a reply expects nothing back).
  if (kind == SendKind::kData && !awaiting_answer_since_) awaiting_answer_since_ = now;
  endpoint_.push_transmit(Transmit{path, std::move(packet)});
}

Bytes Exchange::seal_handshake(std::uint32_t seq) {
  // INNER: no HEAD (we have one key), BODY our 3a static public key. Only SEQs we originate
  // count toward the persisted mark (rule 4): a reply echoes the peer's SEQ, which says
  // nothing about what we may choose next, so a peer cannot move our mark through it.
  const Bytes inner = lob_encode(ByteView{}, endpoint_.public_key());
  return seal_message(seq, ephemeral_.public_key, k_box_out_, s_static_, inner);
}

Result<Sent, EndpointError> Exchange::start_handshake(Instant now, PathId path) {
  return begin_handshake(now, path, kNoPath);
}

Result<Sent, EndpointError> Exchange::begin_handshake(Instant now, PathId path, PathId also_to) {
  if (path == kNoPath) path = path_;
  if (path == kNoPath) return unexpected(EndpointError::kNoPath);
  const auto seq = endpoint_.choose_seq(peer_, seq_, now);
  if (!seq) return unexpected(EndpointError::kSeqExhausted);
  if (path_ == kNoPath) path_ = path;
  if (std::find(paths_.begin(), paths_.end(), path) == paths_.end()) paths_.push_back(path);

  seq_.sent_max = *seq;
  seq_.outstanding = *seq;
  seq_.sent_handshakes.push_back(*seq);
  if (seq_.sent_handshakes.size() > kMaxRememberedHandshakes) {
    seq_.sent_handshakes.erase(seq_.sent_handshakes.begin());
  }
  outstanding_ = OutstandingHandshake{*seq, seal_handshake(*seq), path, now, 0};
  unstarted_deadline_.reset();
  endpoint_.stats_.handshakes_sent += 1;
  send_to(now, path, outstanding_->outer, SendKind::kHandshake);
  if (also_to != kNoPath && also_to != path) {
    endpoint_.stats_.handshakes_sent += 1;
    send_to(now, also_to, outstanding_->outer, SendKind::kHandshake);
  }
  return Sent{};
}

Result<Sent, EndpointError> Exchange::connect(Instant now, PathId path) {
  if (path == kNoPath) return unexpected(EndpointError::kNoPath);
  if (std::find(paths_.begin(), paths_.end(), path) == paths_.end()) paths_.push_back(path);
  if (outstanding_) {
    // A handshake is already on its way: offer the same bytes on this path too.
    if (path_ == kNoPath || !in_sync_) path_ = path;
    endpoint_.stats_.handshakes_sent += 1;
    send_to(now, path, outstanding_->outer, SendKind::kHandshake);
    return Sent{};
  }
  if (in_sync_ && path == path_) return Sent{};  // already up on this path
  if (!in_sync_) path_ = path;
  return start_handshake(now, path);
}

Result<Sent, EndpointError> Exchange::punch(Instant now, const std::vector<PathId>& paths) {
  if (!in_sync_ || path_ == kNoPath) return unexpected(EndpointError::kNoExchange);
  std::size_t first = 0;
  if (!outstanding_) {
    // Rule 5 as probe_path() applies it: resends follow the current path, and the path moves
    // only when the peer confirms from one of `paths` (or sends its own fresh handshake).
    while (first < paths.size() && (paths[first] == kNoPath || paths[first] == path_)) ++first;
    if (first == paths.size()) return Sent{};
    auto begun = begin_handshake(now, path_, paths[first]);
    if (!begun) return begun;
    ++first;
  }
  for (std::size_t i = first; i < paths.size(); ++i) {
    if (paths[i] == kNoPath || paths[i] == path_) continue;
    endpoint_.stats_.handshakes_sent += 1;
    send_to(now, paths[i], outstanding_->outer, SendKind::kHandshake);
  }
  return Sent{};
}

Result<Bytes, EndpointError> Exchange::seal_application_message(Instant now, ByteView inner) {
  const auto seq = endpoint_.choose_seq(peer_, seq_, now);
  if (!seq) return unexpected(EndpointError::kSeqExhausted);
  seq_.sent_max = *seq;
  return seal_message(*seq, ephemeral_.public_key, k_box_out_, s_static_, inner);
}

// ---------------------------------------------------------------------------------------
// Handshakes (the table of PROTOCOL.md section 5; classification in seq_rules.cpp)

void Exchange::adopt_remote_ephemeral(const PublicKey& key, const SharedKey& k_box_in) {
  const bool had_remote = remote_ephemeral_.has_value();
  const Token token = token_of(key);
  if (had_remote && *remote_ephemeral_ == key) return;
  if (had_remote) reset_session();
  if (remote_token_) {
    endpoint_.by_remote_token_.erase(*remote_token_);
    // Rule 3: never back to this KEY, or a replay of it could restore the old channel keys
    // with an empty replay window.
    if (retired_tokens_.size() >= kRetiredTokensPerExchange) {
      retired_tokens_.erase(retired_tokens_.begin());
    }
    retired_tokens_.push_back(*remote_token_);
  }
  remote_seq_seen_ = 0;  // SEQs seen under the old KEY say nothing about the new one
  remote_ephemeral_ = key;
  remote_token_ = token;
  k_box_in_ = k_box_in;
  endpoint_.by_remote_token_[token] = peer_;
  const SharedKey s_eph = endpoint_.x25519(key, ephemeral_.secret_key);
  channel_keys_ = derive_channel_keys(s_eph, ephemeral_.public_key, key);
}

// The peer has a new ephemeral key: a new session. Channels of the old one are errored and
// channel ids start over on both sides.
std::size_t Exchange::active_channel_count() const {
  return static_cast<std::size_t>(
      std::count_if(channels_.begin(), channels_.end(),
                    [](const auto& entry) { return !entry.second.is_terminal(); }));
}

void Exchange::reset_session() {
  abort_channels("reset");
  next_channel_id_ = first_channel_id(seq_.own);
  highest_incoming_id_ = 0;
  recent_incoming_ids_.clear();
  replay_.clear();
  in_sync_ = false;
  reply_seq_.reset();
  // Reported with the next ExchangeUp, which may come later (after a crossing handshake).
  session_reset_pending_ = true;
}

// Only a fresh handshake (a new remote SEQ, or the peer's confirmation of our newest SEQ)
// moves the path (rule 5): nobody can replay one, so nobody can steer our packets.
void Exchange::move_path(Instant now, PathId from) {
  if (from == kNoPath || from == path_) return;
  if (std::find(paths_.begin(), paths_.end(), from) == paths_.end()) paths_.push_back(from);
  const bool roamed = path_ != kNoPath;
  path_ = from;
  // The keepalive interval of the new path starts now: the peer has just proven it.
  last_sent_ = now;
  if (roamed) endpoint_.push_event(event::PathChanged{peer_, from});
  // A new path: what was learned about the old one (window, RTT) says nothing about it.
  if (roamed && path_control_) path_control_->reset();
}

void Exchange::became_in_sync(Instant now, std::uint32_t seq, PathId from) {
  const bool was_in_sync = in_sync_;
  seq_.last_sync = seq;
  auto& sent = seq_.sent_handshakes;
  sent.erase(std::remove_if(sent.begin(), sent.end(), [seq](std::uint32_t s) { return s < seq; }),
             sent.end());
  if (outstanding_ && outstanding_->seq <= seq) {
    if (outstanding_->seq == seq && outstanding_->resends_done == 0) {
      handshake_rtt_ = now - outstanding_->first_sent;
      if (path_control_) path_control_->rtt().on_sample(*handshake_rtt_);
    }
    outstanding_.reset();
    seq_.outstanding.reset();
  }
  in_sync_ = true;
  last_sync_time_ = now;
  unstarted_deadline_.reset();
  const bool new_session = session_reset_pending_;
  session_reset_pending_ = false;
  if (!was_in_sync || new_session) {
    endpoint_.push_event(event::ExchangeUp{peer_, from, *remote_token_, seq, new_session});
  }
  flush_pending(now);
}

bool Exchange::on_handshake(Instant now, PathId from, std::uint32_t seq, const PublicKey& key,
                            const SharedKey& k_box_in, std::size_t wire_size) {
  traffic_.rx_packets += 1;
  traffic_.rx_bytes += wire_size;
  if (!retired_tokens_.empty() && std::find(retired_tokens_.begin(), retired_tokens_.end(),
                                            token_of(key)) != retired_tokens_.end()) {
    endpoint_.stats_.dropped_stale += 1;  // rule 3: a KEY we moved away from
    return false;
  }
  const HandshakeAction action = classify_handshake(seq_, seq, endpoint_.unix_now(now));
  switch (action) {
    case HandshakeAction::kAcceptAndReply:
    case HandshakeAction::kAcceptAndResendOurs: {
      adopt_remote_ephemeral(key, k_box_in);  // a new KEY resets the session
      seq_.recv_max = seq;
      remote_seq_seen_ = std::max(remote_seq_seen_, seq);
      note_alive();
      move_path(now, from);
      if (action == HandshakeAction::kAcceptAndResendOurs) {
        // Crossing: our higher handshake wins; in sync once the peer confirms it.
        endpoint_.stats_.handshakes_sent += 1;
        last_reply_resend_ = now;
        send_to(now, from, outstanding_->outer, SendKind::kHandshake);
        return true;
      }
      reply_seq_ = seq;
      last_reply_resend_ = now;
      endpoint_.stats_.handshakes_sent += 1;
      send_to(now, from, seal_handshake(seq), SendKind::kReply);
      became_in_sync(now, seq, from);
      return true;
    }
    case HandshakeAction::kResendReply:
      if (!is_current_key(key)) {
        on_stale_unknown_key(now);
        break;
      }
      if (from != path_) {
        // Our reply was lost, and the peer asks from another address. Not fresh, so the path
        // stays; a new handshake to that address lets the peer prove it (rule 5).
        probe_path(now, from);
        return true;
      }
      resend_reply_or_ours(now, from);
      return true;
    case HandshakeAction::kConfirmed: {
      const bool fresh = !in_sync_ || seq > seq_.last_sync;
      if (!fresh) break;  // the confirmation we are in sync at, again: nothing new
      // A new KEY here is a restarted peer answering our handshake: a fresh confirmation of a
      // SEQ we just chose, which nobody could have recorded before.
      adopt_remote_ephemeral(key, k_box_in);
      note_alive();
      move_path(now, from);
      became_in_sync(now, seq, from);
      return true;
    }
    case HandshakeAction::kDropStale:
      // Rule 2: a stale handshake with another KEY is a replay, or a restarted peer whose
      // SEQs are behind ours. It changes nothing; our own handshake on the current path
      // lets a restarted peer back in with one round trip.
      if (!is_current_key(key)) on_stale_unknown_key(now);
      break;
    case HandshakeAction::kDropInvalid:
      break;
    case HandshakeAction::kDropTooFar:
      endpoint_.stats_.dropped_seq_too_far += 1;
      return false;
  }
  endpoint_.stats_.dropped_stale += 1;
  return false;
}

void Exchange::on_stale_unknown_key(Instant now) {
  if (path_ == kNoPath) return;
  if (last_probe_ && now - *last_probe_ < kProbeGap) return;
  last_probe_ = now;
  if (outstanding_) {
    endpoint_.stats_.handshakes_sent += 1;
    send_to(now, path_, outstanding_->outer, SendKind::kHandshake);
    return;
  }
  (void)begin_handshake(now, path_, kNoPath);  // its SEQ is above every SEQ seen, so above s
}

void Exchange::probe_path(Instant now, PathId to) {
  if (to == kNoPath || to == path_) return;
  if (last_probe_ && now - *last_probe_ < kProbeGap) return;
  last_probe_ = now;
  if (outstanding_) {
    endpoint_.stats_.handshakes_sent += 1;
    send_to(now, to, outstanding_->outer, SendKind::kHandshake);
    return;
  }
  // A new handshake to both: resends go to the current path, so a probe nobody answers
  // (a replay from elsewhere) costs the exchange nothing; the peer confirms from wherever
  // it is, and a confirmation from `to` moves the path there.
  (void)begin_handshake(now, path_ == kNoPath ? to : path_, to);
}

void Exchange::resend_reply_or_ours(Instant now, PathId to) {
  if (last_reply_resend_ && now - *last_reply_resend_ < kReplyResendGap) return;
  const Bytes* packet = nullptr;
  Bytes reply;
  if (reply_seq_ && *reply_seq_ == seq_.recv_max) {
    // Sealing is deterministic (the nonce is the SEQ; keys and INNER are the exchange's), so
    // sealing the reply again gives the same bytes as the first time: "verbatim" without
    // keeping ~130 bytes per exchange for a resend that rarely comes.
    reply = seal_handshake(*reply_seq_);
    packet = &reply;
  } else if (outstanding_) {
    packet = &outstanding_->outer;  // crossing: we answered with ours, so repeat ours
  }
  if (!packet) return;
  last_reply_resend_ = now;
  endpoint_.stats_.handshakes_sent += 1;
  send_to(now, to, *packet, packet == &reply ? SendKind::kReply : SendKind::kHandshake);
}

// ---------------------------------------------------------------------------------------
// Channel packets

void Exchange::flush_pending(Instant now) {
  if (!in_sync_ || !channel_keys_) return;
  std::vector<PendingPacket> queued;
  queued.swap(pending_);
  for (auto& packet : queued) send_channel_inner(now, packet.channel, std::move(packet.inner));
  pump(now);
}

PathControl& Exchange::ensure_path_control() {
  if (!path_control_) {
    path_control_ = std::make_unique<PathControl>(endpoint_.congestion_);
    if (handshake_rtt_) path_control_->rtt().on_sample(*handshake_rtt_);
  }
  return *path_control_;
}

Channel* Exchange::next_sender() {
  if (channels_.empty()) return nullptr;
  // Round robin from the channel after the one that sent last, so channels on one path
  // share it packet by packet.
  auto start = channels_.upper_bound(last_sender_);
  for (auto it = start; it != channels_.end(); ++it) {
    if (it->second.has_data_to_send()) return &it->second;
  }
  for (auto it = channels_.begin(); it != start; ++it) {
    if (it->second.has_data_to_send()) return &it->second;
  }
  return nullptr;
}

void Exchange::pump(Instant now) {
  pacing_at_.reset();
  if (!path_control_ || !in_sync_ || !channel_keys_ || path_ == kNoPath) return;
  PathControl& path = *path_control_;
  for (;;) {
    Channel* channel = next_sender();
    if (channel == nullptr) {
      const bool flow_limited = std::any_of(channels_.begin(), channels_.end(), [](const auto& c) {
        return c.second.has_data_beyond_window();
      });
      if (flow_limited) {
        path.note_flow_limited(now);
      } else {
        path.note_sender_idle(now);
      }
      return;
    }
    const std::size_t size = channel->next_data_size();
    if (!path.window_allows(size)) {
      path.note_window_blocked(now);
      return;
    }
    if (const Instant at = path.release_time(now, size); at > now) {
      pacing_at_ = at;
      path.note_paced(now);
      return;
    }
    auto packet = channel->poll_data(now);
    last_sender_ = channel->id();
    if (!packet) continue;
    send_channel_inner(now, channel->id(), lob_encode(packet->json, packet->body));
  }
}

void Exchange::send_channel_inner(Instant now, std::uint32_t id, Bytes inner) {
  if (!in_sync_ || !channel_keys_ || path_ == kNoPath) {
    if (pending_.size() >= endpoint_.pending_limit_) {
      endpoint_.stats_.dropped_pending += 1;
      return;
    }
    pending_.push_back(PendingPacket{id, std::move(inner)});
    return;
  }
  ChannelNonce nonce;
  endpoint_.random_.fill(nonce);
  endpoint_.stats_.channel_packets_sent += 1;
  send_to(now, path_, seal_channel(local_token_, nonce, channel_keys_->out, inner),
          SendKind::kData);
}

void Exchange::drain_channel(Instant now, Channel& channel) {
  const std::uint32_t id = channel.id();
  pump(now);  // content first: it carries the acks that would otherwise go on their own
  while (auto outgoing = channel.poll_outgoing()) {
    send_channel_inner(now, id, lob_encode(outgoing->json, outgoing->body));
  }
  while (auto produced = channel.poll_event()) {
    if (auto* data = std::get_if<channel_event::Data>(&*produced)) {
      endpoint_.push_event(
          event::ChannelData{peer_, id, std::move(data->json), std::move(data->body), data->end});
    } else if (std::holds_alternative<channel_event::Ended>(*produced)) {
      endpoint_.push_event(event::ChannelEnded{peer_, id});
    } else if (auto* errored = std::get_if<channel_event::Errored>(&*produced)) {
      endpoint_.push_event(event::ChannelErrored{peer_, id, errored->reason});
    }
  }
  if (channel.is_finished()) channels_.erase(id);
}

void Exchange::drain_all_channels(Instant now) {
  std::vector<std::uint32_t> ids;
  ids.reserve(channels_.size());
  for (const auto& [id, channel] : channels_) ids.push_back(id);
  for (std::uint32_t id : ids) {
    auto it = channels_.find(id);
    if (it != channels_.end()) drain_channel(now, it->second);
  }
}

bool Exchange::on_channel_packet(Instant now, PathId from, const ChannelParts& parts,
                                 std::size_t wire_size) {
  if (!channel_keys_) {
    endpoint_.stats_.dropped_unknown_token += 1;
    return false;
  }
  // Cheap check before the expensive one: a nonce we already accepted is a replay.
  if (replay_.seen(parts.nonce)) {
    endpoint_.stats_.dropped_replay += 1;
    return false;
  }
  auto inner = e3x::open_channel(parts, channel_keys_->in);
  if (!inner) {
    endpoint_.stats_.dropped_unauthenticated += 1;
    return false;
  }
  replay_.remember(parts.nonce);
  endpoint_.stats_.channel_packets_received += 1;
  traffic_.rx_packets += 1;
  traffic_.rx_bytes += wire_size;
  note_alive();
  // Rule 5: delivered, but a channel packet never moves the path (it could be a replay from
  // elsewhere); the peer proves a new address by confirming a handshake from there.
  if (from != path_) probe_path(now, from);

  auto decoded = lob_decode(*inner);
  if (!decoded || !decoded->json) {
    endpoint_.stats_.dropped_channel += 1;
    return true;
  }
  dispatch_inner(now, *decoded->json, decoded->body);
  return true;
}

bool Exchange::acceptable_incoming_id(std::uint32_t id) const {
  if (has_parity(id, seq_.own)) return false;  // ids of our parity are ours to open
  if (recent_incoming_ids_.contains(id)) return false;
  return highest_incoming_id_ < kIncomingIdSlack || id > highest_incoming_id_ - kIncomingIdSlack;
}

void Exchange::dispatch_inner(Instant now, const boost::json::object& json, ByteView body) {
  const auto id = channel_id_of(json);
  if (!id) {
    endpoint_.stats_.dropped_channel += 1;
    return;
  }
  if (auto it = channels_.find(*id); it != channels_.end()) {
    it->second.receive(json, body, now);
    drain_channel(now, it->second);
    return;
  }
  const auto* type = json.if_contains("type");
  if (!type || !type->is_string() || json.contains("err") || !acceptable_incoming_id(*id) ||
      channels_.size() >= kMaxChannelsPerExchange) {
    endpoint_.stats_.dropped_channel += 1;  // stragglers of closed channels land here
    return;
  }
  auto accepted = Channel::accept(*id, json, body, now);
  if (!accepted) {
    endpoint_.stats_.dropped_channel += 1;
    return;
  }
  highest_incoming_id_ = std::max(highest_incoming_id_, *id);
  recent_incoming_ids_.insert(*id);
  while (!recent_incoming_ids_.empty() && highest_incoming_id_ >= kIncomingIdSlack &&
         *recent_incoming_ids_.begin() <= highest_incoming_id_ - kIncomingIdSlack) {
    recent_incoming_ids_.erase(recent_incoming_ids_.begin());
  }
  const bool end = json_is_true(json.if_contains("end"));
  auto [it, inserted] = channels_.emplace(*id, std::move(*accepted));
  it->second.set_reorder_budget(&reorder_budget_);
  if (it->second.reliable()) it->second.set_path(&ensure_path_control());
  endpoint_.push_event(event::ChannelOpened{peer_, *id, std::string(type->as_string()),
                                            it->second.reliable(), json,
                                            Bytes(body.begin(), body.end()), end});
  drain_channel(now, it->second);
}

Result<Sent, EndpointError> Exchange::map_send_error(ChannelSendError error) const {
  switch (error) {
    case ChannelSendError::kClosed:
      return unexpected(EndpointError::kChannelClosed);
    case ChannelSendError::kEndSent:
      return unexpected(EndpointError::kEndSent);
    case ChannelSendError::kReservedKey:
      return unexpected(EndpointError::kReservedKey);
    case ChannelSendError::kTooLarge:
      return unexpected(EndpointError::kTooLarge);
    case ChannelSendError::kBacklogFull:
      return unexpected(EndpointError::kBacklogFull);
  }
  return unexpected(EndpointError::kChannelClosed);
}

Result<std::uint32_t, EndpointError> Exchange::open_channel(Instant now, std::string type,
                                                            bool reliable,
                                                            boost::json::object extra, Bytes body,
                                                            ChannelOptions options) {
  if (Channel::has_reserved_key(extra)) return unexpected(EndpointError::kReservedKey);
  // The open packet must fit: LOB prefix, head with c/type/seq and the extra keys, body.
  boost::json::object probe = extra;
  probe["c"] = 0xffffffffu;
  probe["type"] = type;
  if (reliable) probe["seq"] = 1;
  if (lob_encode(probe, body).size() > kMaxChannelInner)
    return unexpected(EndpointError::kTooLarge);
  if (next_channel_id_ == 0 || next_channel_id_ > 0xfffffffeu) {
    return unexpected(EndpointError::kChannelIdsExhausted);
  }
  const std::uint32_t id = next_channel_id_;
  next_channel_id_ += 2;
  auto [it, inserted] =
      channels_.emplace(id, Channel::open(id, std::move(type), reliable, std::move(extra),
                                          std::move(body), now, options));
  it->second.set_reorder_budget(&reorder_budget_);
  if (reliable) it->second.set_path(&ensure_path_control());
  drain_channel(now, it->second);
  return id;
}

Result<Sent, EndpointError> Exchange::set_channel_options(Instant now, std::uint32_t id,
                                                          ChannelOptions options) {
  auto it = channels_.find(id);
  if (it == channels_.end()) return unexpected(EndpointError::kUnknownChannel);
  if (!it->second.reliable()) {
    if (options.consumer_paced) return unexpected(EndpointError::kNotReliable);
    return Sent{};
  }
  it->second.set_consumer_paced(options.consumer_paced, now);
  drain_channel(now, it->second);
  return Sent{};
}

Result<Sent, EndpointError> Exchange::channel_consumed(Instant now, std::uint32_t id,
                                                       std::size_t packets) {
  auto it = channels_.find(id);
  if (it == channels_.end()) return unexpected(EndpointError::kUnknownChannel);
  auto consumed = it->second.consumed(packets, now);
  drain_channel(now, it->second);
  if (!consumed) {
    return unexpected(consumed.error() == ChannelConsumeError::kTooMany
                          ? EndpointError::kConsumedTooMany
                          : EndpointError::kNotConsumerPaced);
  }
  return Sent{};
}

Result<Sent, EndpointError> Exchange::send_channel(Instant now, std::uint32_t id,
                                                   boost::json::object extra, Bytes body,
                                                   bool end) {
  auto it = channels_.find(id);
  if (it == channels_.end()) return unexpected(EndpointError::kUnknownChannel);
  auto sent = it->second.send(std::move(extra), std::move(body), end, now);
  drain_channel(now, it->second);
  if (!sent) return map_send_error(sent.error());
  return Sent{};
}

Result<Sent, EndpointError> Exchange::close_channel(Instant now, std::uint32_t id,
                                                    const std::string& reason) {
  auto it = channels_.find(id);
  if (it == channels_.end()) return unexpected(EndpointError::kUnknownChannel);
  it->second.close_with_error(reason);
  drain_channel(now, it->second);
  return Sent{};
}

void Exchange::abort_channels(const std::string& reason) {
  for (auto& [id, channel] : channels_) {
    channel.abort(reason);
    while (auto produced = channel.poll_event()) {
      if (auto* errored = std::get_if<channel_event::Errored>(&*produced)) {
        endpoint_.push_event(event::ChannelErrored{peer_, id, errored->reason});
      }
    }
  }
  channels_.clear();
  pending_.clear();
  pacing_at_.reset();
}

void Exchange::on_message_received(Instant now, std::uint32_t seq, const PublicKey& key,
                                   std::size_t wire_size) {
  (void)now;
  traffic_.rx_packets += 1;
  traffic_.rx_bytes += wire_size;
  // A message is authenticated but may be a replay: only one above every SEQ seen from the
  // current KEY (and within rule 4's bound) proves the peer is there now.
  if (!is_current_key(key) || !has_parity(seq, other(seq_.own))) return;
  if (seq <= remote_seq_seen_ || seq <= seq_.recv_max ||
      !remote_seq_in_bounds(seq_, seq, endpoint_.unix_now(now))) {
    return;
  }
  remote_seq_seen_ = seq;
  note_alive();
}

// ---------------------------------------------------------------------------------------
// Timers

// Keepalive (PROTOCOL.md 5): a new handshake once nothing was sent on the current path for
// the keepalive interval, while in sync and with no handshake already outstanding.
std::optional<Instant> Exchange::keepalive_due() const {
  if (!in_sync_ || outstanding_ || keepalive_ <= Duration::zero() || path_ == kNoPath) {
    return std::nullopt;
  }
  const Instant quiet_since = last_sent_ ? *last_sent_ : last_sync_time_.value_or(Instant{});
  // Two peers with the same interval would otherwise both fire as the peer's handshake is on
  // its way (the answering side's last send trails the asking side's by one trip), and every
  // keepalive would cross. The side that last only answered waits a little longer, so the side
  // that asked asks again and one handshake plus its reply keep both alive.
  const Duration answerer_grace = last_send_was_reply_
                                      ? std::min<Duration>(keepalive_ / 10, kKeepaliveAnswererGrace)
                                      : Duration::zero();
  return quiet_since + keepalive_ + answerer_grace;
}

// Rule 6: we sent something and the peer has proven nothing for kSilenceAfterSending.
std::optional<Instant> Exchange::silence_due() const {
  if (!in_sync_ || outstanding_ || !awaiting_answer_since_ || path_ == kNoPath) {
    return std::nullopt;
  }
  return *awaiting_answer_since_ + kSilenceAfterSending;
}

std::optional<Instant> Exchange::next_deadline() const {
  std::optional<Instant> next;
  auto consider = [&next](Instant at) {
    if (!next || at < *next) next = at;
  };
  if (outstanding_) {
    if (outstanding_->resends_done < std::size(kHandshakeResendOffsets)) {
      consider(outstanding_->first_sent + kHandshakeResendOffsets[outstanding_->resends_done]);
    }
    consider(outstanding_->first_sent + kHandshakeTimeout);
  } else {
    if (auto due = keepalive_due()) consider(*due);
    if (auto due = silence_due()) consider(*due);
    if (unstarted_deadline_ && !in_sync_) consider(*unstarted_deadline_);
  }
  for (const auto& [id, channel] : channels_) {
    if (auto at = channel.next_timeout()) consider(*at);
  }
  if (pacing_at_) consider(*pacing_at_);
  return next;
}

Exchange::TimeoutResult Exchange::on_timeout(Instant now) {
  if (!outstanding_ && !in_sync_ && unstarted_deadline_ && now >= *unstarted_deadline_) {
    return TimeoutResult::kTimedOut;  // never in sync, and no handshake was ever started
  }
  if (outstanding_) {
    if (now >= outstanding_->first_sent + kHandshakeTimeout) return TimeoutResult::kTimedOut;
    bool resend_due = false;
    while (outstanding_->resends_done < std::size(kHandshakeResendOffsets) &&
           now >= outstanding_->first_sent + kHandshakeResendOffsets[outstanding_->resends_done]) {
      ++outstanding_->resends_done;  // a late wake-up sends once, not once per missed slot
      resend_due = true;
    }
    if (resend_due) {
      endpoint_.stats_.handshakes_sent += 1;
      send_to(now, outstanding_->path, outstanding_->outer, SendKind::kHandshake);
    }
  } else if (auto due = keepalive_due(); due && now >= *due) {
    (void)start_handshake(now, path_);  // nothing sent for the keepalive interval
  } else if (auto silent = silence_due(); silent && now >= *silent) {
    (void)start_handshake(now, path_);  // rule 6: sent, and nothing back for 10 s
  }
  for (auto& [id, channel] : channels_) {
    if (auto at = channel.next_timeout(); at && *at <= now) channel.handle_timeout(now);
  }
  pump(now);  // pacing may have been waiting for now
  drain_all_channels(now);
  return TimeoutResult::kAlive;
}

}  // namespace e3x
