// The messages module's side of mailboxes (PROTOCOL.md 14, docs/messages.md "Mailboxes"):
// depositing what a recipient did not take directly, receipts for senders who went away, and
// the mail a mailbox hands over. The mailbox itself is daemon/modules/mailbox/.
//
// A deposited message stays in the outbox until the recipient's receipt arrives, directly or
// through a mailbox: the mailbox can delay or drop it, never lose it for us. While it is
// deposited, direct delivery waits for the recipient's exchange to come up (pump_outbox only
// sends to peers that are up), so a sleeping peer is not dialled for it.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/message_rules.hpp"
#include "daemon/modules/mailbox/packet_pieces.hpp"
#include "daemon/modules/messages/messages_module.hpp"
#include "daemon/support/text_escape.hpp"

namespace e3x::daemon {

namespace json = boost::json;

std::vector<Hashname> MessagesModule::mailboxes_for(const Hashname& peer) const {
  std::vector<Hashname> mailboxes;
  if (const PeerRuntime* runtime = host_.find_runtime(peer)) {
    for (const std::string& name : runtime->config.mailbox) {
      if (auto mailbox = host_.lookup_peer(name)) mailboxes.push_back(*mailbox);
    }
  }
  return mailboxes;
}

bool MessagesModule::is_mailbox(const Hashname& peer) const {
  for (const config::PeerConfig& configured : host_.config().peers) {
    for (const std::string& name : configured.mailbox) {
      if (auto mailbox = host_.lookup_peer(name); mailbox && *mailbox == peer) return true;
    }
  }
  return false;
}

json::value MessagesModule::deposited_json(const OutboxEntry& entry) const {
  if (!entry.deposited) return nullptr;
  const auto mailbox = Hashname::parse(entry.deposited_with);
  return json::object{{"at", *entry.deposited},
                      {"mailbox", mailbox ? host_.peer_label(*mailbox) : entry.deposited_with},
                      {"hashname", entry.deposited_with}};
}

// ---------------------------------------------------------------------------------------
// Depositing

bool MessagesModule::start_deposit(const Hashname& mailbox, const Hashname& recipient, Bytes packet,
                                   std::int64_t expires, const std::string& outbox_id,
                                   const std::string& receipt_id) {
  // The mailbox cannot read the sealed expiry, so the deposit states it (it keeps the packet
  // no longer than that, nor than its own max_age).
  json::object extra{{"to", recipient.to_string()}, {"expires", expires}};
  // One channel packet when it fits (PROTOCOL.md 14 as written), else pieces (packet_pieces.hpp).
  const bool pieced = packet.size() > open_body_room("deposit", extra);
  if (pieced) extra["more"] = true;
  const std::size_t first = std::min(packet.size(), open_body_room("deposit", extra));
  auto channel = host_.open_channel(*this, mailbox, "deposit", true, extra,
                                    Bytes(packet.begin(), packet.begin() + first));
  if (!channel) {
    spdlog::debug("cannot deposit at {}: {}", host_.peer_label(mailbox),
                  to_string(channel.error()));
    return false;
  }
  const ChannelKey key{mailbox, *channel};
  if (pieced) {
    const std::size_t quota = host_.endpoint().channel_quota(mailbox, *channel);
    // A channel just opened has its full quota; anything else is a channel already gone.
    const auto pieces = quota > kMoreKeyBytes ? cut_to_quota(ByteView(packet).subspan(first), quota)
                                              : std::vector<ByteView>{};
    if (pieces.empty()) {
      host_.close_channel(key, "incomplete");
      return false;
    }
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      const bool last = i + 1 == pieces.size();
      auto sent = host_.endpoint().send_channel(
          host_.now(), mailbox, *channel, last ? json::object{} : json::object{{"more", true}},
          Bytes(pieces[i].begin(), pieces[i].end()));
      if (!sent) {
        spdlog::debug("cannot deposit at {}: {}", host_.peer_label(mailbox),
                      to_string(sent.error()));
        host_.close_channel(key, "incomplete");
        return false;
      }
    }
  }
  deposits_[key] = DepositInFlight{recipient, outbox_id, receipt_id, false};
  return true;
}

void MessagesModule::deposit_due(Instant now) {
  if (!outbox_ || host_.stopping()) return;
  const std::int64_t unix_now = unix_seconds();
  const std::uint32_t after = host_.config().messages.deposit_after_s;
  std::set<std::string> in_flight;
  for (const auto& [key, deposit] : deposits_) in_flight.insert(deposit.outbox_id);
  for (OutboxEntry* entry : outbox_->in_order()) {
    if (deposits_.size() >= kDepositsInFlight) return;
    if (entry->deposited || entry->expired(unix_now) || in_flight.contains(entry->id)) continue;
    const auto mailboxes = mailboxes_for(entry->peer);
    if (mailboxes.empty()) continue;
    // PROTOCOL.md 14: after deposit_after seconds without delivery, and at once while the
    // recipient has no exchange up.
    const bool recipient_up = host_.endpoint().exchange_up(entry->peer);
    if (recipient_up && unix_now - entry->created < static_cast<std::int64_t>(after)) continue;
    if (auto retry = deposit_retry_at_.find(entry->id);
        retry != deposit_retry_at_.end() && retry->second > now) {
      continue;
    }
    const auto status = host_.endpoint().peer_status(entry->peer);
    if (!status || !status->key) continue;  // known by hashname only: nothing to seal to yet
    auto body = outbox_->body(*entry);
    if (!body) continue;
    const Bytes packet = seal_application_message(
        host_.identity(), *status->key, static_cast<std::uint32_t>(unix_now), entry->type,
        entry->id, json::object{{"expires", entry->expires}}, *body, host_.random());
    bool opened = false;
    for (const Hashname& mailbox : mailboxes) {
      if (!host_.endpoint().exchange_up(mailbox)) continue;
      opened = start_deposit(mailbox, entry->peer, packet, entry->expires, entry->id, {}) || opened;
    }
    if (!opened) {
      deposit_retry_at_[entry->id] = now + kDepositRetryAfterFailure;
    } else {
      in_flight.insert(entry->id);
    }
  }
}

void MessagesModule::note_receipt_for_deposit(const ApplicationMessage& message) {
  if (mailboxes_for(message.from).empty()) return;
  const auto expires = message_expires(message.head);
  if (!expires) return;
  receipt_deposits_.try_emplace({message.from, message.id},
                                ReceiptToDeposit{payload_sha256(message.body), *expires,
                                                 unix_seconds(), false, std::nullopt});
}

void MessagesModule::renote_mail_receipts() {
  mail_receipts_renoted_ = true;
  const std::int64_t unix_now = unix_seconds();
  for (const InboxEntry* entry : inbox_->pending()) {
    if (entry->via != "mailbox" || entry->keep_until <= unix_now) continue;
    if (mailboxes_for(entry->from).empty()) continue;
    receipt_deposits_.try_emplace(
        {entry->from, entry->id},
        ReceiptToDeposit{entry->sha256, entry->keep_until, unix_now, false, std::nullopt});
  }
}

void MessagesModule::deposit_receipts_due(Instant now) {
  if (!mail_receipts_renoted_) renote_mail_receipts();
  const std::int64_t unix_now = unix_seconds();
  const std::uint32_t after = host_.config().messages.deposit_after_s;
  for (auto it = receipt_deposits_.begin(); it != receipt_deposits_.end();) {
    const auto& [from, id] = it->first;
    ReceiptToDeposit& receipt = it->second;
    // Up: the receipt scheduler sends it through the exchange. Expired: nobody needs it.
    if ((host_.endpoint().exchange_up(from) && !receipt.in_flight) || receipt.expires <= unix_now) {
      it = receipt_deposits_.erase(it);
      continue;
    }
    const bool due = unix_now - receipt.since >= static_cast<std::int64_t>(after) ||
                     !host_.endpoint().exchange_up(from);
    if (receipt.in_flight || !due || (receipt.retry_at && *receipt.retry_at > now) ||
        deposits_.size() >= kDepositsInFlight) {
      ++it;
      continue;
    }
    const auto status = host_.endpoint().peer_status(from);
    if (!status || !status->key) {
      it = receipt_deposits_.erase(it);
      continue;
    }
    const Bytes packet = seal_application_message(
        host_.identity(), *status->key, static_cast<std::uint32_t>(unix_now), kReceiptType, id,
        json::object{{"expires", receipt.expires}, {"sha256", receipt.sha256}}, {}, host_.random());
    for (const Hashname& mailbox : mailboxes_for(from)) {
      if (!host_.endpoint().exchange_up(mailbox)) continue;
      receipt.in_flight =
          start_deposit(mailbox, from, packet, receipt.expires, {}, id) || receipt.in_flight;
    }
    if (!receipt.in_flight) receipt.retry_at = now + kDepositRetryAfterFailure;
    ++it;
  }
}

void MessagesModule::on_deposit_answer(const ChannelKey& key, const event::ChannelData& data) {
  auto it = deposits_.find(key);
  if (it == deposits_.end()) return;
  DepositInFlight& deposit = it->second;
  const json::value* stored = data.json.if_contains("stored");
  if (!deposit.stored && stored && stored->is_bool() && stored->get_bool()) {
    deposit.stored = true;
    const std::string mailbox = host_.peer_label(key.first);
    if (!deposit.receipt_id.empty()) {
      message_stats_.receipts_deposited += 1;
      spdlog::debug("receipt for {} from {} left at mailbox {}", escape_text(deposit.receipt_id),
                    host_.peer_label(deposit.recipient), mailbox);
      receipt_deposits_.erase({deposit.recipient, deposit.receipt_id});
    } else if (OutboxEntry* entry = outbox_->find(deposit.outbox_id);
               entry && entry->pending() && !entry->deposited) {
      if (std::string error =
              outbox_->mark_deposited(entry->id, key.first.to_string(), unix_seconds());
          !error.empty()) {
        spdlog::warn("outbox: {}", error);
      }
      message_stats_.deposited += 1;
      deposit_errors_.erase(entry->id);
      spdlog::info("outbox: message {} for {} deposited at {}", entry->id,
                   host_.peer_label(entry->peer), mailbox);
      host_.broadcast(json::object{{"event", "deposited"}, {"id", entry->id}, {"mailbox", mailbox}},
                      entry->peer);
    }
  }
  // The mailbox ends the channel with its answer; we end our side.
  if (data.end) host_.endpoint().send_channel(host_.now(), key.first, key.second, {}, {}, true);
}

void MessagesModule::on_deposit_closed(const ChannelKey& key, const std::string& reason) {
  auto it = deposits_.find(key);
  if (it == deposits_.end()) return;
  const DepositInFlight deposit = it->second;
  deposits_.erase(it);
  if (deposit.stored) return;
  const bool refused = reason == "refused";
  const Instant retry =
      host_.now() + (refused ? kDepositRetryAfterRefusal : kDepositRetryAfterFailure);
  const std::string mailbox = host_.peer_label(key.first);
  if (!deposit.receipt_id.empty()) {
    if (auto receipt = receipt_deposits_.find({deposit.recipient, deposit.receipt_id});
        receipt != receipt_deposits_.end()) {
      receipt->second.in_flight = false;
      receipt->second.retry_at = retry;
    }
    return;
  }
  deposit_retry_at_[deposit.outbox_id] = retry;
  if (refused) message_stats_.deposit_refused += 1;
  if (OutboxEntry* entry = outbox_->find(deposit.outbox_id); entry && entry->pending()) {
    // The message stays ours either way; say why it is not deposited.
    deposit_errors_[entry->id] =
        refused ? "mailbox " + mailbox + " refused the deposit"
                : "deposit at " + mailbox + " failed (" + escape_text(reason) + ")";
    if (refused) {
      spdlog::warn("outbox: mailbox {} refused message {} for {}; it stays in the outbox", mailbox,
                   entry->id, host_.peer_label(entry->peer));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Mail handed over by a mailbox

void MessagesModule::on_mail(const Hashname& mailbox, ByteView packet) {
  message_stats_.mail_received += 1;
  auto opened = open_application_message(
      host_.identity(), packet, [this](const Hashname& sender) -> std::optional<PublicKey> {
        const auto status = host_.endpoint().peer_status(sender);
        if (!status) return std::nullopt;
        return status->key;
      });
  if (!opened) {
    // Altered, forged, or from nobody we know: dropped and counted, as from the network. The
    // sender still holds the message and delivers it when it reaches us.
    message_stats_.mail_dropped += 1;
    spdlog::debug("mail from mailbox {} dropped: {}", host_.peer_label(mailbox),
                  to_string(opened.error()));
    return;
  }
  if (check_expiry(opened->head, unix_seconds(), host_.config().messages.max_expiry_s) !=
      ExpiryVerdict::kValid) {
    message_stats_.mail_dropped += 1;
    return;
  }
  if (opened->type == kReceiptType) {
    event::MessageReceived receipt{
        opened->from, kNoPath, opened->seq, opened->type, opened->id, std::move(opened->head), {}};
    on_receipt(receipt);
    return;
  }
  if (!store_arrival(*opened, "mailbox", mailbox)) return;
  owe_receipt(*opened);
  note_receipt_for_deposit(*opened);
}

// A piece of mail: assembled (packet_pieces.hpp) and handled once whole.
void MessagesModule::on_mail_piece(const ChannelKey& key, const boost::json::object& head,
                                   ByteView body) {
  auto channel = mail_channels_.find(key);
  if (channel == mail_channels_.end()) return;
  switch (channel->second.add(body, has_more(head))) {
    case PieceAssembler::Step::kMore:
    case PieceAssembler::Step::kDiscarded:  // the rest of a packet dropped (and counted) below
      return;
    case PieceAssembler::Step::kTooLarge:
      message_stats_.mail_dropped += 1;
      spdlog::warn("mail from mailbox {}: a packet larger than {} bytes; dropped",
                   host_.peer_label(key.first), kMaxPiecedPacket);
      return;
    case PieceAssembler::Step::kComplete: {
      const Bytes packet = channel->second.take();
      if (!packet.empty()) on_mail(key.first, packet);
      return;
    }
  }
}

void MessagesModule::channel_opened(event::ChannelOpened& opened) {
  if (opened.type != "mail") return;
  const ChannelKey key{opened.peer, opened.channel};
  if (!opened.reliable || !is_mailbox(opened.peer)) {
    // Only peers we named as mailboxes may hand us mail.
    host_.close_channel(key, "refused");
    return;
  }
  mail_channels_.try_emplace(key);
  on_mail_piece(key, opened.json, opened.body);
  if (opened.end) host_.endpoint().send_channel(host_.now(), key.first, key.second, {}, {}, true);
}

void MessagesModule::channel_data(event::ChannelData& data) {
  const ChannelKey key{data.peer, data.channel};
  if (deposits_.contains(key)) {
    on_deposit_answer(key, data);
    return;
  }
  if (!mail_channels_.contains(key)) return;
  on_mail_piece(key, data.json, data.body);
  if (data.end) host_.endpoint().send_channel(host_.now(), key.first, key.second, {}, {}, true);
}

void MessagesModule::channel_closed(const ChannelKey& key, const std::string& reason) {
  if (mail_channels_.erase(key) > 0) return;
  on_deposit_closed(key, reason);
}

}  // namespace e3x::daemon
