// The messages module (messages_module.hpp): delivery from the outbox, arrivals into the
// inbox, receipts, and the control commands that send, list, read, acknowledge, cancel and
// import.
#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/json/serialize.hpp>

#include "core/lob.hpp"
#include "core/message_rules.hpp"
#include "core/sha256.hpp"
#include "daemon/modules/messages/message_id_prefix.hpp"
#include "daemon/modules/messages/messages_module.hpp"
#include "daemon/support/encoding.hpp"
#include "daemon/support/text_escape.hpp"

namespace e3x::daemon {

namespace json = boost::json;

namespace {

const json::string* string_arg(const control::Request& request, const char* key) {
  const json::value* value = request.args.if_contains(key);
  return value && value->is_string() ? &value->get_string() : nullptr;
}

// The head the outbox puts on a message: the core adds type, from and id in front.
json::object delivery_extra(std::int64_t expires) {
  return json::object{{"expires", expires}};
}

// Adds up to 20% to a retry delay, so many messages that failed together spread out.
Duration with_jitter(Duration delay, Random& random) {
  std::uint8_t byte = 0;
  random.fill(std::span<std::uint8_t>(&byte, 1));
  return delay + delay * byte / (255 * 5);
}

}  // namespace

MessagesModule::MessagesModule(Host& host) : host_(host) {
  host_.serve_messages(*this);
  host_.serve_channel("mail", *this);  // from our mailboxes (messages_mailbox.cpp)
  const auto serve = [this](const char* name,
                            Reply (MessagesModule::*command)(const control::Request&)) {
    host_.serve_command(name,
                        [this, command](const control::Request& request, Host::Respond respond) {
                          respond((this->*command)(request));
                        });
  };
  serve("send", &MessagesModule::send_command);
  serve("outbox", &MessagesModule::outbox_command);
  serve("outbox_cancel", &MessagesModule::outbox_cancel_command);
  serve("inbox", &MessagesModule::inbox_command);
  serve("inbox_import", &MessagesModule::inbox_import_command);
  serve("inbox_read", &MessagesModule::inbox_read_command);
  serve("inbox_ack", &MessagesModule::inbox_ack_command);
}

void MessagesModule::tick(Instant now) {
  pump_outbox();
  flush_receipts();
  deposit_due(now);
  deposit_receipts_due(now);
  if (now - last_store_sweep_ >= kStoreSweepInterval) {
    last_store_sweep_ = now;
    inbox_->forget_tombstones(unix_seconds());
    outbox_->forget_delivered(unix_seconds());
    try {
      message_db_->forget_unused_peers();
    } catch (const sqlite::SqliteError& error) {
      spdlog::warn("messages: forgetting peers with nothing stored: {}", error.what());
    }
  }
}

void MessagesModule::exchange_up(const event::ExchangeUp& up) {
  // Whatever waits in the outbox for this peer goes now, not when its backoff runs out.
  restart_deliveries(up.peer);
}

void MessagesModule::add_status(json::object& status) const {
  status["messages"] = messages_json();
}

std::optional<StartError> MessagesModule::start() {
  message_db_ = std::make_unique<MessageDb>(host_.config().state_dir);
  if (auto error = message_db_->open(); !error.empty()) {
    return StartError{kExitCantCreat, "messages: " + error};
  }
  outbox_ = std::make_unique<Outbox>(*message_db_);
  inbox_ = std::make_unique<Inbox>(*message_db_);
  if (auto error = outbox_->open(); !error.empty()) {
    return StartError{kExitCantCreat, "outbox: " + error};
  }
  if (auto error = inbox_->open(); !error.empty()) {
    return StartError{kExitCantCreat, "inbox: " + error};
  }
  spdlog::info("outbox: {} message(s) to deliver; inbox: {} message(s) not yet acknowledged",
               outbox_->size(), inbox_->size());
  if (outbox_->delivered_count() + inbox_->tombstones() > 0) {
    spdlog::debug("outbox: {} delivered id(s) kept until they expire; inbox: {} tombstone(s)",
                  outbox_->delivered_count(), inbox_->tombstones());
  }
  if (outbox_->corrupt_files() + inbox_->corrupt_files() > 0) {
    spdlog::error("{} damaged message file(s) were set aside in corrupt/ directories",
                  outbox_->corrupt_files() + inbox_->corrupt_files());
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Arrivals

void MessagesModule::message_received(event::MessageReceived& message) {
  if (message.type == kReceiptType) {
    on_receipt(message);
  } else {
    on_inbox_message(message);
  }
}

// PROTOCOL.md 10.7: a receipt counts only from the recipient, for a message we still hold,
// naming the hash of exactly what we sent.
void MessagesModule::on_receipt(const event::MessageReceived& receipt) {
  OutboxEntry* entry = outbox_->find(receipt.id);
  const json::value* sha = receipt.json.if_contains("sha256");
  if (!entry || entry->peer != receipt.from || entry->delivered) {
    message_stats_.unmatched_receipts += 1;
    spdlog::debug("peer {}: receipt for '{}', which the outbox does not hold for it",
                  host_.peer_label(receipt.from), escape_text(receipt.id));
    return;
  }
  if (!sha || !sha->is_string() || sha->get_string() != entry->body_sha256) {
    message_stats_.mismatched_receipts += 1;
    spdlog::warn(
        "peer {}: receipt for message {} names another payload; the message stays in "
        "the outbox",
        host_.peer_label(receipt.from), entry->id);
    return;
  }
  const std::uint32_t attempts = entry->attempts;
  const std::string id = entry->id;
  if (std::string error = outbox_->mark_delivered(id, unix_seconds()); !error.empty()) {
    // Delivered either way; a file left behind is sent again after a restart and
    // acknowledged again without being stored twice.
    spdlog::warn("outbox: {}", error);
  }
  message_stats_.delivered += 1;
  deposit_errors_.erase(id);
  deposit_retry_at_.erase(id);
  spdlog::info("peer {}: message {} delivered (after {} attempt(s))",
               host_.peer_label(receipt.from), id, attempts);
  host_.broadcast(json::object{{"event", "delivered"}, {"id", id}, {"attempts", attempts}},
                  receipt.from);
  pump_outbox();  // a window slot is free
}

void MessagesModule::on_inbox_message(event::MessageReceived& message) {
  ApplicationMessage arrival{
      message.from,           message.seq, message.type, message.id, std::move(message.json),
      std::move(message.body)};
  if (!store_arrival(arrival, "network")) return;  // no receipt: the sender will retry
  // Stored (now or before): a receipt is owed. It goes only through the sender's exchange
  // when it is in sync, on its current path, never back to where this packet came from,
  // which a replayer chooses (PROTOCOL.md 10.7).
  owe_receipt(arrival);
  note_receipt_for_deposit(arrival);
}

void MessagesModule::owe_receipt(const ApplicationMessage& message) {
  const auto expires = message_expires(message.head);
  if (!expires) return;
  receipts_.owe(message.from, message.id, payload_sha256(message.body), *expires);
  flush_receipts();
}

void MessagesModule::flush_receipts() {
  if (host_.stopping() || receipts_.owed() == 0) return;
  receipts_.flush(host_.now(), host_.endpoint());
}

Result<Inbox::Stored, StoreError> MessagesModule::store_arrival(
    const ApplicationMessage& message, const std::string& via,
    const std::optional<Hashname>& mailbox) {
  const std::int64_t at = unix_seconds();
  // Rule 7: only a message with a valid expiry is stored (the core already dropped those from
  // the network; sealed files come here directly). Its tombstone lives exactly that long:
  // after it, a replay is refused as expired.
  const ExpiryVerdict verdict =
      check_expiry(message.head, at, host_.config().messages.max_expiry_s);
  if (verdict != ExpiryVerdict::kValid) {
    message_stats_.refused_expiry += 1;
    return unexpected(StoreError{StoreError::Kind::kExpired,
                                 std::string("the message has ") + to_string(verdict)});
  }
  const Inbox::Arrival arrival{message.from,
                               message.id,
                               message.type,
                               message.head,
                               via,
                               at,
                               *message_expires(message.head),
                               mailbox ? mailbox->to_string() : std::string()};
  const InboxQuota quota{host_.config().messages.store_quota, host_.config().messages.peer_quota};
  auto stored = inbox_->store(arrival, message.body, quota);
  if (!stored) {
    // Nothing is acknowledged, so nothing is lost: the sender keeps the message and retries.
    if (message_stats_.refused++ % 100 == 0) {
      spdlog::error("inbox: cannot store message {} from {} ({}): {}", escape_text(message.id),
                    host_.peer_label(message.from), error_code(stored.error().kind),
                    stored.error().message);
    }
    return stored;
  }
  if (*stored == Inbox::Stored::kDuplicate) {
    message_stats_.duplicates += 1;
    spdlog::debug("peer {}: message {} again; already stored, acknowledged again",
                  host_.peer_label(message.from), escape_text(message.id));
    return stored;
  }
  message_stats_.received += 1;
  const std::string how = mailbox ? "via mailbox " + host_.peer_label(*mailbox) : via;
  spdlog::info("peer {}: message {} ({} '{}', {} bytes) stored in the inbox",
               host_.peer_label(message.from), escape_text(message.id), how,
               escape_text(message.type), message.body.size());
  json::object event{{"event", "message"},
                     {"type", message.type},
                     {"id", message.id},
                     {"via", via},
                     {"bytes", message.body.size()},
                     {"body_base64", to_base64(message.body)}};
  if (mailbox) event["mailbox"] = host_.peer_label(*mailbox);
  host_.broadcast(std::move(event), message.from);
  return stored;
}

// ---------------------------------------------------------------------------------------
// Delivery

std::size_t MessagesModule::message_wire_size(const std::string& type, const std::string& id,
                                              std::int64_t expires, std::size_t body_bytes) const {
  json::object head{{"type", type}, {"from", host_.endpoint().hashname().to_string()}, {"id", id}};
  for (auto& [key, value] : delivery_extra(expires)) head[key] = value;
  const std::size_t head_bytes = json::serialize(head).size();
  return application_message_size(head_bytes, body_bytes) + kCloakOverhead;
}

std::size_t MessagesModule::path_packet_limit(PathId path) const {
  const net::PathAddress* address = host_.network().address_of(path);
  if (!address) return kUdp6DatagramLimit;
  if (address->kind == net::PathKind::kTcp) return kTcpPacketLimit;
  return address->ip.is_v4() ? kUdp4DatagramLimit : kUdp6DatagramLimit;
}

// Refuses up front what no path to the peer could carry: over UDP a message must fit one
// datagram; larger ones need a TCP path (a tcp:// endpoint, or the peer connected over TCP).
std::string MessagesModule::check_deliverable(const Hashname& peer, std::size_t wire_size,
                                              std::size_t body_bytes) const {
  std::size_t best = 0;
  const auto status = host_.endpoint().peer_status(peer);
  if (status) {
    for (const PathId path : status->paths) best = std::max(best, path_packet_limit(path));
  }
  bool udp_only = true;
  if (const PeerRuntime* runtime = host_.find_runtime(peer)) {
    for (const auto& endpoint : runtime->config.endpoints) {
      if (endpoint.transport == config::TransportKind::kTcp) {
        best = std::max(best, kTcpPacketLimit);
        udp_only = false;
      } else {
        boost::system::error_code ec;
        const auto ip = boost::asio::ip::make_address(endpoint.host, ec);
        best = std::max(best, !ec && ip.is_v4() ? kUdp4DatagramLimit : kUdp6DatagramLimit);
      }
    }
  }
  if (best == 0) best = kUdp6DatagramLimit;  // nothing known yet: assume the smallest
  if (wire_size <= best) return {};
  const std::size_t overhead = wire_size - body_bytes;
  const std::size_t fits = best > overhead ? best - overhead : 0;
  return "the message needs " + std::to_string(wire_size) +
         " bytes on the wire, more than one UDP datagram (" + std::to_string(best) +
         " bytes), and peer '" + host_.peer_label(peer) + "' has no TCP path" +
         (udp_only ? " (give it a tcp:// endpoint)" : "") + "; over UDP at most " +
         std::to_string(fits) + " payload bytes fit";
}

PathId MessagesModule::delivery_path(const Hashname& peer, std::size_t wire_size,
                                     std::string& why) {
  const auto status = host_.endpoint().peer_status(peer);
  if (!status) {
    why = "the peer is no longer configured";
    return kNoPath;
  }
  if (status->path != kNoPath && wire_size <= path_packet_limit(status->path)) return status->path;
  for (const PathId path : status->paths) {
    if (wire_size <= path_packet_limit(path)) return path;
  }
  if (const PeerRuntime* runtime = host_.find_runtime(peer)) {
    for (const PathId path : runtime->endpoint_paths) {
      // Sending on a configured TCP endpoint's path dials it.
      if (wire_size <= path_packet_limit(path)) return path;
    }
  }
  why = "too large for one datagram of the current path (" +
        std::to_string(path_packet_limit(status->path)) + " bytes) and no TCP path";
  return kNoPath;
}

void MessagesModule::retry_later(OutboxEntry& entry, Instant at, std::string error) {
  entry.backoff =
      entry.backoff == Duration{} ? kRetryFirst : std::min(entry.backoff * 2, kRetryMax);
  entry.next_attempt = at + with_jitter(entry.backoff, host_.random());
  entry.last_error = std::move(error);
}

void MessagesModule::attempt_delivery(OutboxEntry& entry, Instant at) {
  entry.attempts += 1;
  entry.last_attempt = unix_seconds();
  auto body = outbox_->body(entry);
  if (!body) {
    spdlog::error("outbox: message {}: {}", entry.id, body.error());
    retry_later(entry, at, "cannot read the stored message: " + body.error());
    return;
  }
  const std::size_t wire_size =
      message_wire_size(entry.type, entry.id, entry.expires, body->size());
  std::string why;
  const PathId path = delivery_path(entry.peer, wire_size, why);
  if (path == kNoPath) {
    retry_later(entry, at, why);
    return;
  }
  auto sent = host_.endpoint().send_message(at, entry.peer, entry.type, entry.id,
                                            delivery_extra(entry.expires), *body, path);
  if (!sent) {
    retry_later(entry, at, std::string("cannot send: ") + to_string(sent.error()));
    return;
  }
  // Sent (for TCP: queued, dialling first if needed); the receipt will mark it delivered. If
  // none comes, it goes again after the backoff. What the last dial of this path hit, if it
  // failed, is the truest error to show meanwhile.
  std::string path_error = host_.network().path_error(path);
  retry_later(entry, at,
              path_error.empty() ? std::string() : host_.endpoint_url(path) + ": " + path_error);
}

void MessagesModule::report_expiry(OutboxEntry& entry) {
  entry.expiry_reported = true;
  message_stats_.expired += 1;
  entry.last_error =
      "expired undelivered" +
      (entry.last_error.empty() ? std::string() : " (last error: " + entry.last_error + ")");
  spdlog::warn(
      "outbox: message {} to {} expired undelivered after {} attempt(s); it stays in "
      "the outbox until cancelled",
      entry.id, host_.peer_label(entry.peer), entry.attempts);
  host_.broadcast(
      json::object{{"event", "expired"}, {"id", entry.id}, {"attempts", entry.attempts}},
      entry.peer);
}

void MessagesModule::restart_deliveries(const Hashname& peer) {
  for (OutboxEntry* entry : outbox_->in_order()) {
    if (entry->peer != peer) continue;
    entry->next_attempt.reset();
    entry->backoff = Duration{};
  }
  pump_outbox();
  flush_receipts();  // receipts owed to it waited for its exchange
}

// Why a message waits for a peer that is not up. A peer that went down is dialled again at
// once, so "connecting" alone would hide that it was lost and why; the reason stays until
// the exchange is up again.
std::string MessagesModule::waiting_reason(const PeerStatus& status, const PeerRuntime* runtime) {
  const bool went_down = status.last_handshake && runtime && !runtime->down_reason.empty();
  if (status.state == ExchangeState::kConnecting) {
    return went_down ? "waiting: the peer is down (" + runtime->down_reason + "), connecting again"
                     : std::string("waiting: the peer is not up (connecting)");
  }
  std::string reason = "waiting: the peer is down";
  if (runtime && !runtime->down_reason.empty()) reason += " (" + runtime->down_reason + ")";
  return reason;
}

// Sends every message that is due to a peer whose exchange is up, at most kDeliveryWindow
// unacknowledged ones per peer, oldest first.
void MessagesModule::pump_outbox() {
  if (!outbox_ || outbox_->size() == 0 || host_.stopping()) return;
  const Instant at = host_.now();
  const std::int64_t unix_now = unix_seconds();
  struct Window {
    std::size_t messages = 0;
    std::size_t bytes = 0;
  };
  std::unordered_map<Hashname, Window> windows;
  std::unordered_map<Hashname, bool> up;
  const auto is_up = [&](const Hashname& peer) {
    auto [it, added] = up.try_emplace(peer, false);
    if (added) {
      const auto status = host_.endpoint().peer_status(peer);
      it->second = status && status->state == ExchangeState::kUp;
    }
    return it->second;
  };
  for (OutboxEntry* entry : outbox_->in_order()) {
    if (entry->expired(unix_now)) {
      if (!entry->expiry_reported) report_expiry(*entry);
      continue;
    }
    if (!is_up(entry->peer)) {
      // Say why it waits: the peer's state and, when down, the reason (never a stale "null").
      const auto status = host_.endpoint().peer_status(entry->peer);
      if (!status) {
        entry->last_error = "not a configured peer";
      } else if (entry->attempts > 0 || !entry->last_error.empty()) {
        entry->last_error = waiting_reason(*status, host_.find_runtime(entry->peer));
      }
      continue;
    }
    Window& window = windows[entry->peer];
    const bool started = entry->attempts > 0;
    // A message not yet sent joins the window only when there is room; the window always
    // admits one message, however large, so nothing waits forever.
    if (!started && window.messages > 0 &&
        (window.messages >= kDeliveryWindow ||
         window.bytes + entry->bytes > kDeliveryWindowBytes)) {
      continue;
    }
    window.messages += 1;
    window.bytes += entry->bytes;
    if (entry->next_attempt && *entry->next_attempt > at) continue;
    attempt_delivery(*entry, at);
  }
}

// ---------------------------------------------------------------------------------------
// Control commands

Host::Reply MessagesModule::send_command(const control::Request& request) {
  const json::string* name = string_arg(request, "peer");
  if (!name)
    return control::error_reply("bad_argument", "\"peer\" must be a peer name or hashname");
  const std::string peer_name(*name);
  const auto hashname = host_.lookup_peer(peer_name);
  if (!hashname) return control::error_reply("unknown_peer", "no peer named '" + peer_name + "'");
  const auto status = host_.endpoint().peer_status(*hashname);
  if (!status || !status->key) {
    return control::error_reply(
        "no_key", "peer '" + peer_name +
                      "' is configured by hashname and its key is not known yet; it must "
                      "connect once before messages can be sealed for it");
  }
  std::string type = "msg";
  if (request.args.contains("type")) {
    const json::string* t = string_arg(request, "type");
    if (!t || t->empty() || *t == "receipt") {
      return control::error_reply("bad_argument",
                                  "\"type\" must be a non-empty string other than \"receipt\"");
    }
    type = std::string(*t);
  }
  Bytes body;
  const json::value* text = request.args.if_contains("text");
  const json::value* base64 = request.args.if_contains("base64");
  if ((text != nullptr) == (base64 != nullptr)) {
    return control::error_reply("bad_argument", "give exactly one of \"text\" and \"base64\"");
  }
  if (text) {
    if (!text->is_string())
      return control::error_reply("bad_argument", "\"text\" must be a string");
    body.assign(text->get_string().begin(), text->get_string().end());
  } else {
    if (!base64->is_string())
      return control::error_reply("bad_argument", "\"base64\" must be a string");
    auto decoded = from_base64(base64->get_string());
    if (!decoded) return control::error_reply("bad_argument", "\"base64\" is not valid base64");
    body = std::move(*decoded);
  }
  if (body.size() > host_.config().messages.max_payload) {
    return control::error_reply(
        "too_large", "the message is " + std::to_string(body.size()) + " bytes; the limit is " +
                         std::to_string(host_.config().messages.max_payload) +
                         " bytes ([messages] max_payload)");
  }
  std::string id;
  if (request.args.contains("id")) {
    const json::string* given = string_arg(request, "id");
    if (!given || !Outbox::valid_id(*given)) {
      return control::error_reply(
          "bad_argument", "\"id\" must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with '.'");
    }
    id = std::string(*given);
  } else {
    do {
      ByteArray<8> id_bytes;
      host_.random().fill(id_bytes);
      id = to_hex(id_bytes);
    } while (outbox_->find(id));  // never an id still remembered (PROTOCOL.md 10.7)
  }
  const std::int64_t created = unix_seconds();
  const std::int64_t expires = created + host_.config().messages.expiry_s;
  const std::size_t wire_size = message_wire_size(type, id, expires, body.size());
  if (std::string why = check_deliverable(*hashname, wire_size, body.size()); !why.empty()) {
    return control::error_reply("too_large_for_path", why);
  }
  const auto accepted = [&](const OutboxEntry& entry, bool duplicate) {
    json::object result{{"id", entry.id},
                        {"peer", host_.peer_label(entry.peer)},
                        {"bytes", entry.bytes},
                        {"expires", entry.expires},
                        {"duplicate", duplicate}};
    if (entry.delivered) result["delivered"] = *entry.delivered;
    return json::value(std::move(result));
  };
  // A repeated `send --id` (a client retrying after losing our answer) is the same message,
  // delivered or not. Another message never gets an id used before within its expiry: the
  // recipient would take it for a repeat of the first (PROTOCOL.md 10.7).
  if (const OutboxEntry* existing = outbox_->find(id)) {
    if (existing->peer == *hashname && existing->type == type &&
        existing->body_sha256 == payload_sha256(body)) {
      return accepted(*existing, true);
    }
    return control::error_reply(
        "id_in_use", "id '" + id + "' was already used for another message" +
                         (existing->delivered ? " (delivered; the id is free again once it "
                                                "expires at " +
                                                    std::to_string(existing->expires) + ")"
                                              : " still in the outbox"));
  }
  OutboxEntry entry;
  entry.id = id;
  entry.peer = *hashname;
  entry.type = type;
  entry.created = created;
  entry.expires = expires;
  auto added = outbox_->add(std::move(entry), body, host_.config().messages.store_quota);
  if (!added) {
    spdlog::warn("send to {} refused: {}", peer_name, added.error().message);
    return control::error_reply(error_code(added.error().kind), added.error().message);
  }
  spdlog::info("outbox: accepted message {} for {} ({} bytes)", id, host_.peer_label(*hashname),
               body.size());
  json::value result = accepted(**added, false);
  pump_outbox();
  return result;
}

Host::Reply MessagesModule::outbox_command(const control::Request& request) {
  const std::int64_t unix_now = unix_seconds();
  const json::value* all = request.args.if_contains("all");
  json::array messages;
  const auto last_error = [&](const OutboxEntry& entry) -> json::value {
    if (auto deposit = deposit_errors_.find(entry.id);
        deposit != deposit_errors_.end() && !entry.deposited && entry.pending()) {
      return json::value(deposit->second +
                         (entry.last_error.empty() ? std::string() : "; " + entry.last_error));
    }
    return entry.last_error.empty() ? json::value() : json::value(entry.last_error);
  };
  const auto row = [&](const OutboxEntry& entry, const char* state) {
    return json::object{
        {"id", entry.id},
        {"peer", host_.peer_label(entry.peer)},
        {"hashname", entry.peer.to_string()},
        {"type", entry.type},
        {"bytes", entry.bytes},
        {"created", entry.created},
        {"expires", entry.expires},
        {"state", state},
        {"attempts", entry.attempts},
        {"last_attempt", entry.last_attempt ? json::value(*entry.last_attempt) : json::value()},
        {"last_error", last_error(entry)},
        {"delivered", entry.delivered ? json::value(*entry.delivered) : json::value()},
        {"deposited", deposited_json(entry)},
    };
  };
  for (OutboxEntry* entry : outbox_->in_order()) {
    // Report an expiry now rather than at the next housekeeping tick, so the list and the
    // log never disagree.
    if (entry->expired(unix_now) && !entry->expiry_reported) report_expiry(*entry);
    messages.emplace_back(row(*entry, entry->expired(unix_now) ? "expired"
                                      : entry->deposited       ? "deposited"
                                                               : "pending"));
  }
  if (all && all->is_bool() && all->get_bool()) {
    for (const OutboxEntry& entry : outbox_->delivered()) {
      messages.emplace_back(row(entry, "delivered"));
    }
  }
  return json::value(std::move(messages));
}

Host::Reply MessagesModule::outbox_cancel_command(const control::Request& request) {
  const json::string* id = string_arg(request, "id");
  if (!id) return control::error_reply("bad_argument", "\"id\" must be a message id");
  OutboxEntry* entry = outbox_->find(std::string(*id));
  // A delivered message's id is itself, not a prefix of an undelivered one's.
  if (!entry) {
    std::vector<std::string> ids;
    for (const OutboxEntry* pending : outbox_->in_order()) ids.push_back(pending->id);
    const IdResolution resolved = resolve_message_id(std::string_view(*id), ids);
    if (resolved.kind == IdResolution::Kind::kAmbiguous) {
      return control::error_reply("ambiguous",
                                  ambiguous_message(std::string_view(*id), resolved.candidates));
    }
    entry = resolved.kind == IdResolution::Kind::kFound ? outbox_->find(resolved.id) : nullptr;
  }
  if (!entry || entry->delivered)
    return control::error_reply("unknown_message", "the outbox holds no undelivered message '" +
                                                       escape_text(std::string_view(*id)) + "'");
  const std::string whole_id = entry->id;
  const std::uint32_t attempts = entry->attempts;
  const Hashname peer = entry->peer;
  if (std::string error = outbox_->remove(whole_id); !error.empty()) {
    return control::error_reply("store_error", error);
  }
  spdlog::info("outbox: message {} to {} cancelled after {} attempt(s)", whole_id,
               host_.peer_label(peer), attempts);
  // It may have arrived already: only a receipt would have told us, and none came.
  return json::value(
      json::object{{"id", whole_id}, {"attempts", attempts}, {"may_have_arrived", attempts > 0}});
}

Host::Reply MessagesModule::inbox_command(const control::Request&) {
  json::array messages;
  for (const InboxEntry* entry : inbox_->pending()) {
    json::object row{{"id", entry->id},
                     {"peer", host_.peer_label(entry->from)},
                     {"hashname", entry->from.to_string()},
                     {"type", entry->type},
                     {"bytes", entry->bytes},
                     {"received", entry->received},
                     {"via", entry->via}};
    if (const auto mailbox = Hashname::parse(entry->mailbox)) {
      row["mailbox"] = host_.peer_label(*mailbox);
    }
    messages.emplace_back(std::move(row));
  }
  return json::value(std::move(messages));
}

// The "peer" argument of inbox_read and inbox_ack: a peer name or any hashname; nullopt when
// absent.
Result<std::optional<Hashname>, control::ControlError> MessagesModule::sender_arg(
    const control::Request& request) const {
  if (!request.args.contains("peer")) return std::optional<Hashname>();
  const json::string* peer = string_arg(request, "peer");
  if (!peer) {
    return unexpected(
        control::ControlError{"bad_argument", "\"peer\" must be a peer name or hashname"});
  }
  std::optional<Hashname> from = host_.lookup_peer(std::string(*peer));
  if (!from) from = Hashname::parse(std::string_view(*peer));
  if (!from) {
    return unexpected(
        control::ControlError{"unknown_peer", "no peer named '" + std::string(*peer) + "'"});
  }
  return from;
}

// The one unacknowledged message `given` names: its id, its key, or a unique prefix of its id
// (from `from` only, when given).
Result<const InboxEntry*, control::ControlError> MessagesModule::pick_inbox(
    const std::string& given, const std::optional<Hashname>& from) const {
  auto matches = inbox_->find(given, from);
  if (matches.empty()) {
    std::vector<std::string> ids;
    for (const InboxEntry* entry : inbox_->pending()) {
      if (!from || entry->from == *from) ids.push_back(entry->id);
    }
    const IdResolution resolved = resolve_message_id(given, ids);
    if (resolved.kind == IdResolution::Kind::kAmbiguous) {
      return unexpected(
          control::ControlError{"ambiguous", ambiguous_message(given, resolved.candidates)});
    }
    if (resolved.kind == IdResolution::Kind::kFound) matches = inbox_->find(resolved.id, from);
  }
  if (matches.empty()) {
    return unexpected(control::ControlError{
        "unknown_message", "the inbox holds no unacknowledged message '" + escape_text(given) +
                               "'" + (from ? " from that peer" : "")});
  }
  if (matches.size() > 1) {
    return unexpected(control::ControlError{
        "ambiguous", std::to_string(matches.size()) + " messages have id '" +
                         escape_text(matches[0]->id) + "'; name the sender with \"peer\""});
  }
  return matches[0];
}

json::object MessagesModule::inbox_row(const InboxEntry& entry) const {
  return json::object{{"id", entry.id},
                      {"peer", host_.peer_label(entry.from)},
                      {"hashname", entry.from.to_string()},
                      {"type", entry.type},
                      {"bytes", entry.bytes},
                      {"received", entry.received}};
}

// inbox_read: {"id", optional "peer"} picks one unacknowledged message.
Host::Reply MessagesModule::inbox_read_command(const control::Request& request) {
  const json::string* id = string_arg(request, "id");
  if (!id) return control::error_reply("bad_argument", "\"id\" must be a message id");
  auto from = sender_arg(request);
  if (!from) return unexpected(from.error());
  auto picked = pick_inbox(std::string(*id), *from);
  if (!picked) return unexpected(picked.error());
  json::object result = inbox_row(**picked);
  auto body = inbox_->body(**picked);
  if (!body) return control::error_reply("store_error", body.error());
  result["body_base64"] = to_base64(*body);
  return json::value(std::move(result));
}

// inbox_ack: one message ("id"), several ("ids"), or every unacknowledged one ("all": true),
// each optionally from one sender ("peer"). Every id is resolved before any message is
// acknowledged, so a mistyped one acknowledges nothing.
Host::Reply MessagesModule::inbox_ack_command(const control::Request& request) {
  const json::value* ids = request.args.if_contains("ids");
  const json::value* all = request.args.if_contains("all");
  const bool ack_all = all && all->is_bool() && all->get_bool();
  const int forms = int(request.args.contains("id")) + int(ids != nullptr) + int(ack_all);
  if (forms != 1) {
    return control::error_reply("bad_argument",
                                "give exactly one of \"id\", \"ids\" and \"all\": true");
  }
  auto from = sender_arg(request);
  if (!from) return unexpected(from.error());
  std::vector<const InboxEntry*> chosen;
  if (ack_all) {
    for (const InboxEntry* entry : inbox_->pending()) {
      if (!*from || entry->from == **from) chosen.push_back(entry);
    }
  } else {
    std::vector<std::string> given;
    if (ids) {
      if (!ids->is_array() || ids->get_array().empty()) {
        return control::error_reply("bad_argument", "\"ids\" must be a non-empty array of ids");
      }
      for (const json::value& one : ids->get_array()) {
        if (!one.is_string())
          return control::error_reply("bad_argument", "\"ids\" holds a non-string");
        given.emplace_back(one.get_string());
      }
    } else {
      const json::string* id = string_arg(request, "id");
      if (!id) return control::error_reply("bad_argument", "\"id\" must be a message id");
      given.emplace_back(*id);
    }
    for (const std::string& one : given) {
      auto picked = pick_inbox(one, *from);
      if (!picked) return unexpected(picked.error());
      // The same message named twice (by id and by prefix) is acknowledged once.
      if (std::find(chosen.begin(), chosen.end(), *picked) == chosen.end()) {
        chosen.push_back(*picked);
      }
    }
  }
  // Acknowledging replaces entries: take what is needed from them first.
  std::vector<std::pair<std::string, json::object>> keyed;
  for (const InboxEntry* entry : chosen) keyed.emplace_back(entry->key, inbox_row(*entry));
  json::array acked;
  for (auto& [key, row] : keyed) {
    auto done = inbox_->ack(key, unix_seconds());
    if (!done) {
      // Those before it stay acknowledged: say which, so nothing is acknowledged unknowingly.
      return control::error_reply(
          error_code(done.error().kind),
          done.error().message + (acked.empty() ? std::string()
                                                : " (" + std::to_string(acked.size()) +
                                                      " message(s) before it were acknowledged)"));
    }
    spdlog::info(
        "inbox: message {} from {} acknowledged and deleted", escape_text(row.at("id").as_string()),
        row.at("peer").is_string() ? std::string(row.at("peer").get_string()) : std::string());
    acked.emplace_back(std::move(row));
  }
  if (!ack_all && !ids) return acked.front();
  return json::value(json::object{{"acked", std::move(acked)}});
}

Host::Reply MessagesModule::inbox_import_command(const control::Request& request) {
  const json::string* base64 = string_arg(request, "base64");
  if (!base64)
    return control::error_reply("bad_argument",
                                "\"base64\" must hold the sealed file, base64-encoded");
  auto sealed = from_base64(*base64);
  if (!sealed) return control::error_reply("bad_argument", "\"base64\" is not valid base64");
  auto opened = open_application_message(
      host_.identity(), *sealed, [this](const Hashname& sender) -> std::optional<PublicKey> {
        const auto status = host_.endpoint().peer_status(sender);
        if (!status) return std::nullopt;
        return status->key;
      });
  if (!opened) {
    const char* code =
        opened.error() == OpenMessageError::kUnknownSender ? "unknown_peer" : "bad_sealed_file";
    return control::error_reply(code, std::string("cannot import: ") + to_string(opened.error()));
  }
  if (opened->type == kReceiptType) {
    return control::error_reply("bad_sealed_file", "cannot import: it is a receipt, not a message");
  }
  auto stored = store_arrival(*opened, "import");
  if (!stored) return control::error_reply(error_code(stored.error().kind), stored.error().message);
  const bool duplicate = *stored == Inbox::Stored::kDuplicate;
  // The sender may still hold it in its outbox: it hears of it as of any arrival.
  owe_receipt(*opened);
  return json::value(json::object{{"id", opened->id},
                                  {"peer", host_.peer_label(opened->from)},
                                  {"hashname", opened->from.to_string()},
                                  {"bytes", opened->body.size()},
                                  {"duplicate", duplicate}});
}

json::object MessagesModule::messages_json() const {
  std::size_t expired = 0;
  const std::int64_t unix_now = unix_seconds();
  for (const OutboxEntry* entry : std::as_const(*outbox_).in_order()) {
    if (entry->expired(unix_now)) ++expired;
  }
  return json::object{{"outbox", outbox_->size() - expired},
                      {"outbox_expired", expired},
                      {"outbox_delivered_kept", outbox_->delivered_count()},
                      {"outbox_bytes", outbox_->bytes()},
                      {"inbox", inbox_->size()},
                      {"inbox_bytes", inbox_->bytes()},
                      {"inbox_tombstones", inbox_->tombstones()},
                      {"store_quota", host_.config().messages.store_quota},
                      {"peer_quota", host_.config().messages.peer_quota},
                      {"received", message_stats_.received},
                      {"duplicates", message_stats_.duplicates},
                      {"refused", message_stats_.refused},
                      {"refused_expiry", message_stats_.refused_expiry},
                      {"delivered", message_stats_.delivered},
                      {"mismatched_receipts", message_stats_.mismatched_receipts},
                      {"receipts_sent", receipts_.sent()},
                      {"deposited", message_stats_.deposited},
                      {"deposit_refused", message_stats_.deposit_refused},
                      {"receipts_deposited", message_stats_.receipts_deposited},
                      {"receipts_to_deposit", receipt_deposits_.size()},
                      {"mail_received", message_stats_.mail_received},
                      {"mail_dropped", message_stats_.mail_dropped},
                      {"receipts_owed", receipts_.owed()},
                      {"corrupt_files", outbox_->corrupt_files() + inbox_->corrupt_files()}};
}

}  // namespace e3x::daemon
