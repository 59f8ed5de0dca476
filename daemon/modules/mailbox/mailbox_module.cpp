#include "daemon/modules/mailbox/mailbox_module.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "daemon/support/text_escape.hpp"

namespace e3x::daemon {

namespace json = boost::json;

namespace {

std::optional<std::int64_t> integer_field(const json::object& head, const char* key) {
  const json::value* value = head.if_contains(key);
  if (!value) return std::nullopt;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(value->get_uint64());
  }
  return std::nullopt;
}

}  // namespace

MailboxModule::MailboxModule(Host& host) : host_(host) {
  host_.serve_channel("deposit", *this);
  host_.serve_command("mailbox", [this](const control::Request& request, Host::Respond respond) {
    respond(mailbox_command(request));
  });
}

MailboxModule::~MailboxModule() = default;

std::string MailboxModule::open_store() {
  auto store = std::make_unique<MailboxStore>(host_.config().state_dir / "mailbox.db");
  if (std::string error = store->open(); !error.empty()) return error;
  store_ = std::move(store);
  if (store_->count() > 0) {
    spdlog::info("mailbox: holding {} message(s), {} bytes, for {} recipient(s)", store_->count(),
                 store_->bytes(), store_->summary().size());
  }
  return {};
}

std::optional<StartError> MailboxModule::start() {
  // A mailbox that was switched off still hands over what it holds.
  if (host_.config().mailbox.enable ||
      std::filesystem::exists(host_.config().state_dir / "mailbox.db")) {
    if (std::string error = open_store(); !error.empty()) {
      return StartError{kExitCantCreat, "mailbox: " + error};
    }
  }
  return std::nullopt;
}

void MailboxModule::reloaded() {
  if (host_.config().mailbox.enable && !store_) {
    if (std::string error = open_store(); !error.empty()) {
      spdlog::error("mailbox: cannot open its store, so nothing is accepted: {}", error);
    }
  }
}

bool MailboxModule::allowed(const Hashname& peer) const {
  const config::MailboxConfig& mailbox = host_.config().mailbox;
  if (mailbox.allow_all_peers && host_.find_runtime(peer)) return true;
  return std::any_of(mailbox.allow.begin(), mailbox.allow.end(), [&](const std::string& entry) {
    const auto hashname = host_.lookup_peer(entry);
    return hashname && *hashname == peer;
  });
}

MailboxLimits MailboxModule::limits() const {
  const config::MailboxConfig& mailbox = host_.config().mailbox;
  return MailboxLimits{mailbox.quota_per_recipient, mailbox.quota_per_sender,
                       static_cast<std::int64_t>(mailbox.max_age_s)};
}

// ---------------------------------------------------------------------------------------
// Deposits

void MailboxModule::channel_opened(event::ChannelOpened& opened) {
  if (opened.type == "deposit") on_deposit(opened);
}

void MailboxModule::refuse(const ChannelKey& key, const std::string& why, std::uint64_t& counter) {
  if (counter++ % 100 == 0) {
    spdlog::info("mailbox: refused a deposit from {}: {}", host_.peer_label(key.first), why);
  }
  host_.close_channel(key, "refused");
}

void MailboxModule::on_deposit(event::ChannelOpened& opened) {
  const ChannelKey key{opened.peer, opened.channel};
  const json::value* to = opened.json.if_contains("to");
  const auto recipient =
      to && to->is_string() ? Hashname::parse(std::string_view(to->get_string())) : std::nullopt;
  // Policy first: a sender we do not serve learns only "refused" (PROTOCOL.md 14).
  if (!host_.config().mailbox.enable || !store_) {
    refuse(key, "[mailbox] is not enabled", stats_.refused_policy);
    return;
  }
  if (!opened.reliable || !recipient) {
    refuse(key, "not a reliable deposit naming its recipient", stats_.refused_policy);
    return;
  }
  if (!allowed(opened.peer) || !allowed(*recipient) || *recipient == opened.peer) {
    refuse(key, "sender or recipient (" + host_.peer_label(*recipient) + ") not in [mailbox] allow",
           stats_.refused_policy);
    host_.broadcast(json::object{{"event", "deposit_refused"},
                                 {"recipient", host_.peer_label(*recipient)},
                                 {"reason", "policy"}},
                    opened.peer);
    return;
  }
  // The packet is sealed: its expiry is the sender's word (capped by max_age in the store).
  const std::int64_t expires = integer_field(opened.json, "expires")
                                   .value_or(unix_seconds() + host_.config().mailbox.max_age_s);
  if (has_more(opened.json)) {
    const auto from_sender =
        std::count_if(assembling_.begin(), assembling_.end(),
                      [&](const auto& entry) { return entry.first.first == opened.peer; });
    if (static_cast<std::size_t>(from_sender) >= kAssemblingPerSender) {
      refuse(key, "too many deposits arriving at once", stats_.refused_quota);
      return;
    }
    assembling_[key] = Assembling{*recipient, expires, {}};
    on_deposit_piece(key, opened.json, opened.body);
    return;
  }
  store_deposit(key, *recipient, expires, opened.body);
}

void MailboxModule::channel_data(event::ChannelData& data) {
  on_deposit_piece({data.peer, data.channel}, data.json, data.body);
}

void MailboxModule::on_deposit_piece(const ChannelKey& key, const json::object& head,
                                     ByteView body) {
  auto it = assembling_.find(key);
  if (it == assembling_.end()) return;
  switch (it->second.pieces.add(body, has_more(head))) {
    case PieceAssembler::Step::kMore:
    case PieceAssembler::Step::kDiscarded:  // not reached: a refused deposit's channel is closed
      return;
    case PieceAssembler::Step::kTooLarge:
      assembling_.erase(it);
      refuse(key, "a deposit larger than " + std::to_string(kMaxPiecedPacket) + " bytes",
             stats_.refused_quota);
      return;
    case PieceAssembler::Step::kComplete: {
      const Hashname recipient = it->second.recipient;
      const std::int64_t expires = it->second.expires;
      const Bytes packet = it->second.pieces.take();
      assembling_.erase(it);
      store_deposit(key, recipient, expires, packet);
      return;
    }
  }
}

void MailboxModule::store_deposit(const ChannelKey& key, const Hashname& recipient,
                                  std::int64_t expires, ByteView packet) {
  const Hashname& sender = key.first;
  auto stored = store_->deposit(sender, recipient, packet, expires, unix_seconds(), limits());
  if (!stored) {
    const bool expired = stored.error().kind == MailboxRefusal::Kind::kExpired;
    refuse(key, stored.error().message, expired ? stats_.refused_expired : stats_.refused_quota);
    host_.broadcast(json::object{{"event", "deposit_refused"},
                                 {"recipient", host_.peer_label(recipient)},
                                 {"reason", expired ? "expired" : "quota"}},
                    sender);
    return;
  }
  if (stored->already_held) {
    stats_.duplicates += 1;
  } else {
    stats_.deposits += 1;
    spdlog::debug("mailbox: {} deposited {} bytes for {}", host_.peer_label(sender), packet.size(),
                  host_.peer_label(recipient));
    host_.broadcast(json::object{{"event", "deposit"},
                                 {"recipient", host_.peer_label(recipient)},
                                 {"bytes", packet.size()}},
                    sender);
  }
  // Durable (committed) before this answer leaves.
  auto answered = host_.endpoint().send_channel(host_.now(), sender, key.second,
                                                json::object{{"stored", true}}, {}, true);
  if (!answered) {
    spdlog::debug("mailbox: cannot answer a deposit from {}: {}", host_.peer_label(sender),
                  to_string(answered.error()));
  }
  if (host_.endpoint().exchange_up(recipient)) start_pickup(recipient);
}

// ---------------------------------------------------------------------------------------
// Pickups

void MailboxModule::exchange_up(const event::ExchangeUp& up) {
  pickup_retry_at_.erase(up.peer);
  if (store_) start_pickup(up.peer);
}

void MailboxModule::peer_removed(const Hashname& peer) {
  pickups_.erase(peer);
  pickup_retry_at_.erase(peer);
}

void MailboxModule::start_pickup(const Hashname& recipient) {
  if (!store_) return;
  if (auto existing = pickups_.find(recipient); existing != pickups_.end()) {
    if (!existing->second.ending) fill(recipient, existing->second);
    return;  // an ending channel is followed by a new one once it closes
  }
  const auto first = store_->deliverable_for(recipient, unix_seconds(), 1);
  if (first.empty()) return;
  auto packet = store_->packet(first.front().id);
  if (!packet) {
    spdlog::error("mailbox: {}", packet.error());
    return;  // removed and counted as corrupt; the next tick tries the rest
  }
  Pickup pickup;
  pickup.last_id = first.front().id;
  // The open packet carries the oldest held packet, like a deposit carries its own.
  if (!send_held(recipient, pickup, first.front().id, std::move(*packet))) return;
  fill(recipient, pickups_[recipient] = std::move(pickup));
}

bool MailboxModule::send_held(const Hashname& recipient, Pickup& pickup, std::int64_t id,
                              Bytes packet) {
  Endpoint& endpoint = host_.endpoint();
  std::size_t offset = 0;
  if (pickup.channel == 0) {
    json::object extra;
    if (packet.size() > open_body_room("mail", extra)) extra["more"] = true;
    offset = std::min(packet.size(), open_body_room("mail", extra));
    auto channel = host_.open_channel(*this, recipient, "mail", true, extra,
                                      Bytes(packet.begin(), packet.begin() + offset));
    if (!channel) {
      spdlog::debug("mailbox: cannot open mail to {}: {}", host_.peer_label(recipient),
                    to_string(channel.error()));
      return false;
    }
    pickup.channel = *channel;
    pickup.next_seq = 2;
    if (offset == packet.size()) {
      pickup.unacked[1] = id;
      return true;
    }
    pickup.unacked[1] = 0;
  }
  const std::size_t quota = endpoint.channel_quota(recipient, pickup.channel);
  if (quota <= kMoreKeyBytes) return false;  // the channel is gone
  const auto pieces = cut_to_quota(ByteView(packet).subspan(offset), quota);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const bool last = i + 1 == pieces.size();
    auto sent = endpoint.send_channel(host_.now(), recipient, pickup.channel,
                                      last ? json::object{} : json::object{{"more", true}},
                                      Bytes(pieces[i].begin(), pieces[i].end()));
    // fill() checked the capacity for exactly these pieces (pieces_for_quota), and an open
    // channel has room for what follows its open: a failure means the channel is gone.
    if (!sent) return false;
    pickup.unacked[pickup.next_seq++] = last ? id : 0;
  }
  return true;
}

bool MailboxModule::fill(const Hashname& recipient, Pickup& pickup) {
  Endpoint& endpoint = host_.endpoint();
  while (pickup.unacked.size() < kMailInFlight) {
    const auto next = store_->deliverable_for(recipient, unix_seconds(), 1, pickup.last_id);
    if (next.empty()) break;
    const std::size_t quota = endpoint.channel_quota(recipient, pickup.channel);
    if (quota <= kMoreKeyBytes) return false;  // the channel is gone
    const std::size_t pieces = pieces_for_quota(next.front().bytes, quota);
    if (endpoint.channel_send_capacity(recipient, pickup.channel) < pieces) break;
    pickup.last_id = next.front().id;
    auto packet = store_->packet(next.front().id);
    if (!packet) {
      spdlog::error("mailbox: {}", packet.error());
      continue;
    }
    if (!send_held(recipient, pickup, next.front().id, std::move(*packet))) return false;
  }
  return true;
}

void MailboxModule::collect_acks(const Hashname& recipient, Pickup& pickup) {
  const auto flow = host_.endpoint().channel_flow(recipient, pickup.channel);
  if (!flow) return;
  std::size_t acked = 0;
  while (!pickup.unacked.empty() && pickup.unacked.begin()->first <= flow->peer_ack) {
    // The recipient handled it (its ack leaves after that): ours to forget.
    if (const std::int64_t id = pickup.unacked.begin()->second; id != 0) {
      if (std::string error = store_->remove(id); !error.empty()) {
        spdlog::warn("mailbox: {}", error);
      }
      ++acked;
    }
    pickup.unacked.erase(pickup.unacked.begin());
  }
  if (acked == 0) return;
  stats_.picked_up += acked;
  pickup.delivered += acked;
}

void MailboxModule::pump() {
  if (!store_) return;
  for (auto& [recipient, pickup] : pickups_) {
    if (pickup.ending) continue;
    collect_acks(recipient, pickup);
    if (!fill(recipient, pickup)) continue;
    if (pickup.unacked.empty() &&
        store_->deliverable_for(recipient, unix_seconds(), 1, pickup.last_id).empty()) {
      // All handed over: end the channel; mail deposited later opens a new one.
      pickup.ending = true;
      host_.endpoint().send_channel(host_.now(), recipient, pickup.channel, {}, {}, true);
      spdlog::info("mailbox: {} picked up {} message(s)", host_.peer_label(recipient),
                   pickup.delivered);
      host_.broadcast(json::object{{"event", "pickup"}, {"count", pickup.delivered}}, recipient);
    }
  }
}

void MailboxModule::channel_closed(const ChannelKey& key, const std::string& reason) {
  assembling_.erase(key);
  const auto it = pickups_.find(key.first);
  if (it == pickups_.end() || it->second.channel != key.second) return;
  const bool finished = it->second.ending;
  if (!finished) {
    spdlog::info("mailbox: handing mail to {} stopped ({}) after {} message(s); the rest waits",
                 host_.peer_label(key.first), escape_text(reason), it->second.delivered);
  }
  pickups_.erase(it);
  if (finished) {
    // Mail deposited while the channel was ending goes on a new one at once.
    start_pickup(key.first);
  } else {
    // A failed or refused channel is tried again later, not in a loop.
    pickup_retry_at_[key.first] = host_.now() + kPickupRetryAfterFailure;
  }
}

void MailboxModule::tick(Instant now) {
  if (!store_) return;
  if (now - last_sweep_ >= kMailboxSweepInterval) {
    last_sweep_ = now;
    sweep(unix_seconds());
  }
  // Pickups whose channel failed: again once their wait is over (a new session starts one
  // at once through exchange_up).
  for (auto it = pickup_retry_at_.begin(); it != pickup_retry_at_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    const Hashname recipient = it->first;
    it = pickup_retry_at_.erase(it);
    if (host_.endpoint().exchange_up(recipient)) start_pickup(recipient);
  }
}

void MailboxModule::sweep(std::int64_t now) {
  const auto expired = store_->expire(now);
  if (expired.empty()) return;
  stats_.expired += expired.size();
  std::map<Hashname, std::size_t> per_recipient;
  for (const HeldMail& mail : expired) per_recipient[mail.recipient] += 1;
  for (const auto& [recipient, count] : per_recipient) {
    spdlog::info("mailbox: {} message(s) for {} expired before pickup and were removed", count,
                 host_.peer_label(recipient));
    host_.broadcast(json::object{
        {"event", "mail_expired"}, {"recipient", host_.peer_label(recipient)}, {"count", count}});
  }
}

// ---------------------------------------------------------------------------------------
// Status

Host::Reply MailboxModule::mailbox_command(const control::Request&) {
  const config::MailboxConfig& mailbox = host_.config().mailbox;
  const std::uint64_t read_errors_before = store_ ? store_->read_errors() : 0;
  json::array recipients;
  if (store_) {
    for (const RecipientSummary& held : store_->summary()) {
      recipients.emplace_back(json::object{{"peer", host_.peer_label(held.recipient)},
                                           {"hashname", held.recipient.to_string()},
                                           {"messages", held.messages},
                                           {"bytes", held.bytes},
                                           {"oldest", held.oldest},
                                           {"senders", held.senders}});
    }
  }
  const std::size_t held = store_ ? store_->count() : 0;
  const std::uint64_t bytes = store_ ? store_->bytes() : 0;
  json::object reply{{"enabled", mailbox.enable},
                     {"quota_per_recipient", mailbox.quota_per_recipient},
                     {"quota_per_sender", mailbox.quota_per_sender},
                     {"max_age", mailbox.max_age_s},
                     {"held", held},
                     {"bytes", bytes},
                     {"recipients", std::move(recipients)}};
  // A read that failed while answering: the figures above read as nothing held where the
  // database did not answer, so the reply says so rather than look like an empty mailbox.
  if (store_ && store_->read_errors() > read_errors_before) {
    reply["read_error"] = store_->last_read_error();
  }
  reply["stats"] = json::object{{"deposits", stats_.deposits},
                                {"duplicates", stats_.duplicates},
                                {"refused_policy", stats_.refused_policy},
                                {"refused_quota", stats_.refused_quota},
                                {"refused_expired", stats_.refused_expired},
                                {"picked_up", stats_.picked_up},
                                {"expired", stats_.expired},
                                {"corrupt", store_ ? store_->corrupt() : 0},
                                {"read_errors", store_ ? store_->read_errors() : 0}};
  return json::value(std::move(reply));
}

void MailboxModule::add_status(json::object& status) const {
  if (!store_) return;
  status["mailbox"] = json::object{{"enabled", host_.config().mailbox.enable},
                                   {"held", store_->count()},
                                   {"bytes", store_->bytes()},
                                   {"deposits", stats_.deposits},
                                   {"picked_up", stats_.picked_up},
                                   {"expired", stats_.expired}};
}

}  // namespace e3x::daemon
