// Channels (telehash-v3/channels.md; PROTOCOL.md 6 and 9): lifecycle, states, unreliable
// delivery, polling and timers. The reliable machinery (seq/ack/miss) is in
// reliable_channel.cpp. See channel.hpp.
#include "core/channel.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/json_fields.hpp"

namespace e3x {
namespace {

std::size_t decimal_digits(std::uint32_t value) {
  std::size_t digits = 1;
  while (value >= 10) {
    value /= 10;
    ++digits;
  }
  return digits;
}

}  // namespace

// LENGTH(2) + serialized head + body: the INNER size a packet will have.
std::size_t Channel::inner_size(const boost::json::object& json, std::size_t body) {
  return 2 + boost::json::serialize(json).size() + body;
}

// A packet that carries something for the application: anything but c/ack/miss, or a body.
bool Channel::is_content(const boost::json::object& json, ByteView body) {
  if (!body.empty()) return true;
  for (const auto& entry : json) {
    const auto key = entry.key();
    if (key != "c" && key != "ack" && key != "miss") return true;
  }
  return false;
}

const char* to_string(ChannelState state) {
  switch (state) {
    case ChannelState::kOpening:
      return "OPENING";
    case ChannelState::kOpen:
      return "OPEN";
    case ChannelState::kEnded:
      return "ENDED";
    case ChannelState::kClosed:
      return "CLOSED";
  }
  return "?";
}

const char* to_string(ChannelConsumeError error) {
  switch (error) {
    case ChannelConsumeError::kNotConsumerPaced:
      return "channel is not consumer-paced";
    case ChannelConsumeError::kTooMany:
      return "more packets than were delivered";
  }
  return "?";
}

const char* to_string(ChannelSendError error) {
  switch (error) {
    case ChannelSendError::kClosed:
      return "channel closed";
    case ChannelSendError::kEndSent:
      return "end already sent";
    case ChannelSendError::kReservedKey:
      return "reserved key in extra JSON";
    case ChannelSendError::kTooLarge:
      return "packet too large";
    case ChannelSendError::kBacklogFull:
      return "send backlog full";
  }
  return "?";
}

bool Channel::has_reserved_key(const boost::json::object& extra) {
  for (const char* key : {"c", "type", "seq", "ack", "miss", "end", "err"}) {
    if (extra.contains(key)) return true;
  }
  return false;
}

Channel::Channel(std::uint32_t id, std::string type, bool reliable, Instant now)
    : id_(id),
      type_(std::move(type)),
      reliable_(reliable),
      created_(now),
      now_(now),
      last_ack_progress_(now),
      epoch_at_(now) {
  if (reliable_) set_path(nullptr);  // on its own until an owner shares its path
}

Channel Channel::open(std::uint32_t id, std::string type, bool reliable, boost::json::object extra,
                      Bytes body, Instant now, ChannelOptions options) {
  Channel channel(id, std::move(type), reliable, now);
  channel.initiator_ = true;
  boost::json::object head;
  head["type"] = channel.type_;
  for (const auto& entry : extra) head[entry.key()] = entry.value();
  if (reliable) {
    channel.consumer_paced_ = options.consumer_paced;
    Sending packet;
    packet.seq = static_cast<std::uint32_t>(channel.next_seq_++);
    packet.head = std::move(head);
    packet.body = std::move(body);
    channel.queue(std::move(packet));
  } else {
    boost::json::object json;
    json["c"] = id;
    for (const auto& entry : head) json[entry.key()] = entry.value();
    channel.push_outgoing(std::move(json), std::move(body));
  }
  return channel;
}

std::optional<Channel> Channel::accept(std::uint32_t id, const boost::json::object& open_json,
                                       ByteView body, Instant now) {
  (void)body;  // the owner reports the open packet itself
  const auto* type = open_json.if_contains("type");
  if (type == nullptr || !type->is_string()) return std::nullopt;
  const auto* seq_value = open_json.if_contains("seq");
  std::optional<std::uint32_t> seq;
  if (seq_value != nullptr) {
    seq = json_positive_u32(*seq_value);
    if (!seq) return std::nullopt;
  }
  Channel channel(id, std::string(type->get_string()), seq.has_value(), now);
  if (const auto* err = open_json.if_contains("err")) {
    channel.events_.push_back(channel_event::Errored{
        err->is_string() ? std::string(err->get_string()) : std::string("error")});
    channel.terminal_ = true;
    channel.state_ = ChannelState::kClosed;
    return channel;
  }
  if (seq) {
    // The open packet is delivered (by the owner) and counts as consumed: the peer's stream
    // continues after it, within the window it assumes until we say otherwise.
    channel.received_seq_ = true;
    channel.ack_ = *seq;
    channel.consumed_ = *seq;
    channel.stream_start_ = *seq;
    channel.adv_edge_ = std::uint64_t{*seq} + kReliableWindow;
    channel.epoch_from_ = *seq;
    channel.last_receipt_ = now;
    channel.receipts_since_ack_ = 1;
    channel.first_unacked_receipt_ = now;
  }
  if (json_is_true(open_json.if_contains("end"))) channel.on_end_received(now);
  return channel;
}

// ---- sending ----------------------------------------------------------------------------

void Channel::push_outgoing(boost::json::object json, Bytes body) {
  if (state_ == ChannelState::kOpening && !initiator_) state_ = ChannelState::kOpen;
  outgoing_.push_back(ChannelOutgoing{std::move(json), std::move(body)});
}

Result<Sent, ChannelSendError> Channel::send(boost::json::object extra, Bytes body, bool end,
                                             Instant now) {
  if (state_ == ChannelState::kClosed) return unexpected(ChannelSendError::kClosed);
  if (end_sent_) return unexpected(ChannelSendError::kEndSent);
  if (has_reserved_key(extra)) return unexpected(ChannelSendError::kReservedKey);
  if (end) extra["end"] = true;

  if (!reliable_) {
    boost::json::object json;
    json["c"] = id_;
    for (const auto& entry : extra) json[entry.key()] = entry.value();
    if (inner_size(json, body.size()) > kMaxChannelInner) {
      return unexpected(ChannelSendError::kTooLarge);
    }
    push_outgoing(std::move(json), std::move(body));
  } else {
    touch(now);
    if (next_seq_ > kU32Max) return unexpected(ChannelSendError::kClosed);  // seq exhausted
    if (send_capacity() == 0) return unexpected(ChannelSendError::kBacklogFull);
    Sending packet;
    packet.seq = static_cast<std::uint32_t>(next_seq_);
    packet.head = std::move(extra);
    packet.body = std::move(body);
    // c, the head, then seq; an ack rides along only where it fits (ack_reserve).
    boost::json::object probe;
    probe["c"] = id_;
    for (const auto& entry : packet.head) probe[entry.key()] = entry.value();
    packet.size = static_cast<std::uint32_t>(inner_size(probe, packet.body.size()) +
                                             seq_overhead(packet.seq));
    if (packet.size > kMaxChannelInner) return unexpected(ChannelSendError::kTooLarge);
    ++next_seq_;
    queue(std::move(packet));
  }
  if (end) {
    end_sent_ = true;
    end_sent_at_ = now;
    check_ended(now);
  }
  return Sent{};
}

std::size_t Channel::send_capacity() const {
  if (state_ == ChannelState::kClosed || end_sent_) return 0;
  if (!reliable_) return std::numeric_limits<std::size_t>::max();
  if (next_seq_ > kU32Max) return 0;
  // Everything up to the peer's window edge, and kReliableBacklog packets beyond it.
  const std::uint64_t limit = peer_edge_ + kReliableBacklog;
  const std::uint64_t assigned = next_seq_ - 1;
  const std::uint64_t room = limit > assigned ? limit - assigned : 0;
  return static_cast<std::size_t>(std::min(room, kU32Max + 1 - next_seq_));
}

std::size_t Channel::quota() const {
  // LENGTH(2) + {"c":<id>} ...
  std::size_t overhead = 2 + 6 + decimal_digits(id_);
  // ... ,"seq":<10 digits>, and room for an ack while the peer sends us content
  if (reliable_) overhead += seq_overhead(kU32Max) + ack_reserve();
  return kMaxChannelInner - overhead;
}

// ---- closing ------------------------------------------------------------------------------

void Channel::drop_buffers() {
  // What is still in flight leaves the path's accounting with the channel.
  if (path_ != nullptr) {
    for (std::size_t i = 0; i < sending_.size(); ++i) {
      const Sending& packet = sending_[i];
      if (packet.state == Sending::State::kInFlight && packet.generation == path_->generation()) {
        path_->forget(packet.size);
      }
    }
  }
  sending_.clear();
  retransmit_.clear();
  suspects_.clear();
  loss_time_.reset();
  rto_at_.reset();
  window_update_at_.reset();
  release_received();
  receipts_since_ack_ = 0;
  ack_now_ = false;
  linger_until_.reset();
}

void Channel::fail(const std::string& reason) {
  if (state_ == ChannelState::kClosed) return;
  if (!terminal_) events_.push_back(channel_event::Errored{reason});
  terminal_ = true;
  state_ = ChannelState::kClosed;
  drop_buffers();
  outgoing_.clear();
  boost::json::object json;
  json["c"] = id_;
  json["err"] = reason;
  outgoing_.push_back(ChannelOutgoing{std::move(json), {}});
}

void Channel::close_with_error(const std::string& reason) {
  if (state_ == ChannelState::kClosed) return;
  terminal_ = true;  // the caller asked: no event
  fail(reason);
}

void Channel::abort(const std::string& reason) {
  if (state_ == ChannelState::kClosed) return;
  if (!terminal_) events_.push_back(channel_event::Errored{reason});
  terminal_ = true;
  state_ = ChannelState::kClosed;
  drop_buffers();
  outgoing_.clear();
}

void Channel::on_end_received(Instant now) {
  end_received_ = true;
  end_received_at_ = now;
  if (state_ != ChannelState::kClosed) state_ = ChannelState::kEnded;
  if (reliable_) {
    release_received();  // nothing after the end is content
    ack_now(now);        // the end is final: no reason to delay its ack
  }
  check_ended(now);
}

void Channel::check_ended(Instant now) {
  if (terminal_ || !end_sent_ || !end_received_) return;
  if (reliable_ && !sending_.empty()) return;
  events_.push_back(channel_event::Ended{});
  terminal_ = true;
  // A reliable channel lingers to answer the peer's resends of its last packets and its end
  // (channels.md: state is kept "for any necessary reliability retransmits/acknowledgements").
  // An unreliable one has nothing to answer: it finishes at once, so a short request such as
  // the path probe every new exchange makes does not hold ~700 bytes per peer for 10 s (10,000
  // peers coming up at 1,500/s held all of them at once; bench/run-scale.sh). A straggler
  // reordered behind the end is dropped and counted, as after the linger.
  linger_until_ = reliable_ ? now + kChannelEndedTimeout : now;
}

// ---- receiving ----------------------------------------------------------------------------

void Channel::receive(const boost::json::object& json, ByteView body, Instant now) {
  if (state_ == ChannelState::kClosed) return;
  touch(now);

  if (const auto* err = json.if_contains("err")) {
    if (!terminal_) {
      events_.push_back(channel_event::Errored{err->is_string() ? std::string(err->get_string())
                                                                : std::string("error")});
    }
    terminal_ = true;
    state_ = ChannelState::kClosed;
    drop_buffers();
    outgoing_.clear();
    return;
  }

  const auto* seq_value = json.if_contains("seq");
  if (!reliable_) {
    if (seq_value != nullptr) return fail("invalid");
    if (state_ == ChannelState::kOpening && initiator_) state_ = ChannelState::kOpen;
    if (terminal_ || end_received_) return;  // no content after the peer's end
    const bool end = json_is_true(json.if_contains("end"));
    events_.push_back(channel_event::Data{json, Bytes(body.begin(), body.end()), end});
    if (end) on_end_received(now);
    return;
  }

  // Reliable: validate everything before acting on anything.
  std::optional<std::uint32_t> seq;
  if (seq_value != nullptr) {
    seq = json_positive_u32(*seq_value);
    if (!seq) return fail("invalid");
  } else if (is_content(json, body)) {
    return fail("invalid");
  }
  std::optional<std::uint32_t> ack;
  if (const auto* ack_value = json.if_contains("ack")) {
    ack = json_u32(*ack_value);
    if (!ack || *ack >= next_new_) return fail("invalid");  // acks a seq we never sent
  }

  if (state_ == ChannelState::kOpening && initiator_) state_ = ChannelState::kOpen;
  // The seq first, so that packets sent because of the ack carry the freshest ack.
  if (seq) on_seq(*seq, json, body, now);
  if (ack) on_ack(*ack, json.if_contains("miss"), !seq, now);
  check_ended(now);
}

// ---- polling and timers -------------------------------------------------------------------

std::optional<ChannelOutgoing> Channel::poll_outgoing() {
  if (outgoing_.empty() && reliable_ && state_ != ChannelState::kClosed) {
    // On its own (no owner's scheduler), content goes as soon as the peer's window allows;
    // it carries the ack, so an ad-hoc one is only needed when there is none.
    if (own_path_ != nullptr && path_ == own_path_.get()) {
      if (auto packet = poll_data(now_)) return packet;
    }
    if (ack_now_) emit_adhoc_ack(now_);
  }
  if (outgoing_.empty()) return std::nullopt;
  ChannelOutgoing packet = std::move(outgoing_.front());
  outgoing_.pop_front();
  return packet;
}

std::optional<ChannelEvent> Channel::poll_event() {
  if (events_.empty()) return std::nullopt;
  ChannelEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

std::optional<Instant> Channel::next_timeout() const {
  if (state_ == ChannelState::kClosed) return std::nullopt;
  std::optional<Instant> earliest;
  auto consider = [&earliest](Instant when) {
    if (!earliest || when < *earliest) earliest = when;
  };
  if (linger_until_) consider(*linger_until_);
  if (state_ == ChannelState::kOpening) consider(created_ + kChannelOpeningTimeout);
  if (end_received_ && !end_sent_) consider(end_received_at_ + kChannelEndedTimeout);
  // PROTOCOL.md section 10 rule 8: an unreliable channel we ended does not wait for ever on a
  // peer that never ends it. (A reliable one is a half-closed stream: the peer's direction
  // may go on; its unacknowledged data and the ack timeout bound it.)
  if (!reliable_ && end_sent_ && !end_received_ && !terminal_) {
    consider(end_sent_at_ + kChannelEndedTimeout);
  }
  if (reliable_) {
    if (rto_at_) consider(*rto_at_);
    if (loss_time_) consider(*loss_time_);
    if (ack_now_) {
      consider(ack_now_since_);
    } else if (receipts_since_ack_ > 0) {
      consider(first_unacked_receipt_ + kReliableAckDelay);
    }
    if (window_update_at_) consider(*window_update_at_);
  }
  return earliest;
}

void Channel::handle_timeout(Instant now) {
  if (state_ == ChannelState::kClosed) return;
  touch(now);
  if (linger_until_ && now >= *linger_until_) {
    // Clean finish: both ends done, the grace period for late resends is over.
    state_ = ChannelState::kClosed;
    drop_buffers();
    return;
  }
  if (state_ == ChannelState::kOpening && now >= created_ + kChannelOpeningTimeout) {
    return fail("timeout");
  }
  if (end_received_ && !end_sent_ && now >= end_received_at_ + kChannelEndedTimeout) {
    return fail("timeout");
  }
  if (!reliable_) {
    if (end_sent_ && !end_received_ && !terminal_ && now >= end_sent_at_ + kChannelEndedTimeout) {
      return fail("timeout");
    }
    return;
  }
  if (loss_time_ && now >= *loss_time_) detect_losses(now);
  if (rto_at_ && now >= *rto_at_) {
    // Where it would probe again it gives up instead, once kReliableGiveUpTimeouts probe
    // rounds went unanswered and kReliableAckTimeout passed (channel.hpp): loss alone does
    // not end a stream; the exchange's liveness (PROTOCOL.md 10 rule 6) ends one whose peer
    // is gone.
    if (has_unacked_sent() && rto_backoff_ >= kReliableGiveUpTimeouts &&
        now >= last_ack_progress_ + kReliableAckTimeout) {
      return fail("timeout");
    }
    on_retransmission_timeout(now);
  }
  if (ack_now_ || (receipts_since_ack_ > 0 && now >= first_unacked_receipt_ + kReliableAckDelay) ||
      (window_update_at_ && now >= *window_update_at_)) {
    emit_adhoc_ack(now);
  }
}

bool Channel::is_finished() const {
  return state_ == ChannelState::kClosed && outgoing_.empty() && events_.empty();
}

}  // namespace e3x
