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
  const std::int64_t now = unix_seconds();
  // The packet is sealed: its expiry is the sender's word (capped by max_age in the store).
  const std::int64_t expires =
      integer_field(opened.json, "expires").value_or(now + host_.config().mailbox.max_age_s);
  auto stored = store_->deposit(opened.peer, *recipient, opened.body, expires, now, limits());
  if (!stored) {
    const bool expired = stored.error().kind == MailboxRefusal::Kind::kExpired;
    refuse(key, stored.error().message, expired ? stats_.refused_expired : stats_.refused_quota);
    host_.broadcast(json::object{{"event", "deposit_refused"},
                                 {"recipient", host_.peer_label(*recipient)},
                                 {"reason", expired ? "expired" : "quota"}},
                    opened.peer);
    return;
  }
  if (stored->already_held) {
    stats_.duplicates += 1;
  } else {
    stats_.deposits += 1;
    spdlog::debug("mailbox: {} deposited {} bytes for {}", host_.peer_label(opened.peer),
                  opened.body.size(), host_.peer_label(*recipient));
    host_.broadcast(json::object{{"event", "deposit"},
                                 {"recipient", host_.peer_label(*recipient)},
                                 {"bytes", opened.body.size()}},
                    opened.peer);
  }
  // Durable (committed) before this answer leaves.
  auto answered = host_.endpoint().send_channel(host_.now(), opened.peer, opened.channel,
                                                json::object{{"stored", true}}, {}, true);
  if (!answered) {
    spdlog::debug("mailbox: cannot answer a deposit from {}: {}", host_.peer_label(opened.peer),
                  to_string(answered.error()));
  }
  if (host_.endpoint().exchange_up(*recipient)) start_pickup(*recipient);
}

// ---------------------------------------------------------------------------------------
// Pickups

void MailboxModule::exchange_up(const event::ExchangeUp& up) {
  if (store_) start_pickup(up.peer);
}

void MailboxModule::peer_removed(const Hashname& peer) {
  pickups_.erase(peer);
}

void MailboxModule::start_pickup(const Hashname& recipient) {
  if (!store_) return;
  if (auto existing = pickups_.find(recipient); existing != pickups_.end()) {
    if (!existing->second.ending) fill(recipient, existing->second);
    return;  // an ending channel is followed by a new one once it closes
  }
  const auto first = store_->held_for(recipient, 1);
  if (first.empty()) return;
  auto packet = store_->packet(first.front().id);
  if (!packet) {
    spdlog::error("mailbox: {}", packet.error());
    return;  // removed and counted as corrupt; the next tick tries the rest
  }
  // The open packet carries the oldest held packet (seq 1), like a deposit carries its own.
  auto channel = host_.open_channel(*this, recipient, "mail", true, {}, std::move(*packet));
  if (!channel) {
    spdlog::debug("mailbox: cannot open mail to {}: {}", host_.peer_label(recipient),
                  to_string(channel.error()));
    return;
  }
  Pickup& pickup = pickups_[recipient];
  pickup.channel = *channel;
  pickup.unacked[1] = first.front().id;
  pickup.next_seq = 2;
  pickup.last_id = first.front().id;
  fill(recipient, pickup);
}

bool MailboxModule::fill(const Hashname& recipient, Pickup& pickup) {
  Endpoint& endpoint = host_.endpoint();
  while (pickup.unacked.size() < kMailInFlight &&
         endpoint.channel_send_capacity(recipient, pickup.channel) > 0) {
    const auto next = store_->held_for(recipient, 1, pickup.last_id);
    if (next.empty()) break;
    pickup.last_id = next.front().id;
    auto packet = store_->packet(next.front().id);
    if (!packet) {
      spdlog::error("mailbox: {}", packet.error());
      continue;
    }
    if (packet->size() > endpoint.channel_quota(recipient, pickup.channel)) {
      // Deposited over a TCP path and too large for this one: it waits for a larger path
      // (or its expiry).
      continue;
    }
    auto sent =
        endpoint.send_channel(host_.now(), recipient, pickup.channel, {}, std::move(*packet));
    if (!sent) return false;
    pickup.unacked[pickup.next_seq++] = next.front().id;
  }
  return true;
}

void MailboxModule::collect_acks(const Hashname& recipient, Pickup& pickup) {
  const auto flow = host_.endpoint().channel_flow(recipient, pickup.channel);
  if (!flow) return;
  std::size_t acked = 0;
  while (!pickup.unacked.empty() && pickup.unacked.begin()->first <= flow->peer_ack) {
    // The recipient stored it (it acknowledges only after handling it): ours to forget.
    if (std::string error = store_->remove(pickup.unacked.begin()->second); !error.empty()) {
      spdlog::warn("mailbox: {}", error);
    }
    pickup.unacked.erase(pickup.unacked.begin());
    ++acked;
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
    if (pickup.unacked.empty() && store_->held_for(recipient, 1, pickup.last_id).empty()) {
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
  const auto it = pickups_.find(key.first);
  if (it == pickups_.end() || it->second.channel != key.second) return;
  if (!it->second.ending) {
    spdlog::info("mailbox: handing mail to {} stopped ({}) after {} message(s); the rest waits",
                 host_.peer_label(key.first), escape_text(reason), it->second.delivered);
  }
  pickups_.erase(it);
}

void MailboxModule::tick(Instant now) {
  if (!store_) return;
  if (now - last_sweep_ >= kMailboxSweepInterval) {
    last_sweep_ = now;
    sweep(unix_seconds());
  }
  // Mail deposited while a recipient was up but its channel was ending, or left after a
  // channel failed: start again.
  for (const RecipientSummary& held : store_->summary()) {
    if (!pickups_.contains(held.recipient) && host_.endpoint().exchange_up(held.recipient)) {
      start_pickup(held.recipient);
    }
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
  return json::value(
      json::object{{"enabled", mailbox.enable},
                   {"quota_per_recipient", mailbox.quota_per_recipient},
                   {"quota_per_sender", mailbox.quota_per_sender},
                   {"max_age", mailbox.max_age_s},
                   {"held", store_ ? store_->count() : 0},
                   {"bytes", store_ ? store_->bytes() : 0},
                   {"recipients", std::move(recipients)},
                   {"stats", json::object{{"deposits", stats_.deposits},
                                          {"duplicates", stats_.duplicates},
                                          {"refused_policy", stats_.refused_policy},
                                          {"refused_quota", stats_.refused_quota},
                                          {"refused_expired", stats_.refused_expired},
                                          {"picked_up", stats_.picked_up},
                                          {"expired", stats_.expired},
                                          {"corrupt", store_ ? store_->corrupt() : 0}}}});
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
