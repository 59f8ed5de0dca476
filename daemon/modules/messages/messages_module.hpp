// Messages that are never lost (docs/messages.md): the outbox delivers what `send` accepted
// until a receipt naming its payload comes back, the inbox stores arrivals durably before a
// receipt is owed, receipts go only through in-sync exchanges (PROTOCOL.md 10.7), and the
// control commands send, outbox, outbox_cancel, inbox, inbox_read, inbox_ack, inbox_import.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "core/receipts.hpp"
#include "core/sealed_message.hpp"
#include "daemon/host/host.hpp"
#include "daemon/host/module.hpp"
#include "daemon/modules/messages/inbox.hpp"
#include "daemon/modules/messages/outbox.hpp"

namespace e3x::daemon {

// Outbox delivery (docs/messages.md): per peer at most kDeliveryWindow messages and
// kDeliveryWindowBytes of payload await a receipt at once; a message unanswered is sent again
// after 1 s, then 2, 4, 4, 4, ... s while the peer stays up, and at once when its exchange
// comes up again. The short cap keeps a lossy path's tail short (the peer is known to be up);
// the byte window keeps those resends from flooding a slow one.
inline constexpr std::size_t kDeliveryWindow = 32;
inline constexpr std::size_t kDeliveryWindowBytes = 256 * 1024;
inline constexpr Duration kRetryFirst = seconds(1);
inline constexpr Duration kRetryMax = seconds(4);
// The largest UDP datagram a message may use: what fits a 1500-byte MTU without IP
// fragmentation (20/40-byte IP header, 8-byte UDP header). Larger messages need TCP.
inline constexpr std::size_t kUdp4DatagramLimit = 1472;
inline constexpr std::size_t kUdp6DatagramLimit = 1452;
inline constexpr std::size_t kTcpPacketLimit = 65535;  // one chunked frame (PROTOCOL.md 7)
inline constexpr std::size_t kCloakOverhead = 8;
// Acknowledged messages' tombstones and delivered records are swept this often.
inline constexpr Duration kStoreSweepInterval = seconds(60);

struct MessageStats {
  std::uint64_t received = 0;             // new messages stored in the inbox
  std::uint64_t duplicates = 0;           // repeats acknowledged again, not stored
  std::uint64_t refused = 0;              // not stored (quota, disk): no receipt, sender retries
  std::uint64_t refused_expiry = 0;       // imported with no valid expiry (PROTOCOL.md 10.7)
  std::uint64_t delivered = 0;            // receipts that emptied an outbox entry
  std::uint64_t unmatched_receipts = 0;   // receipts for nothing in the outbox (already done)
  std::uint64_t mismatched_receipts = 0;  // receipts naming another payload than ours
  std::uint64_t expired = 0;
};

class MessagesModule final : public Module {
 public:
  explicit MessagesModule(Host& host);

  std::optional<StartError> start() override;  // opens the outbox and the inbox
  void tick(Instant now) override;
  void exchange_up(const event::ExchangeUp& up) override;
  void message_received(event::MessageReceived& message) override;
  void add_status(boost::json::object& status) const override;

 private:
  using Reply = Host::Reply;

  // ---- arrivals and receipts ----
  void on_receipt(const event::MessageReceived& receipt);
  void on_inbox_message(event::MessageReceived& message);
  void owe_receipt(const ApplicationMessage& message);
  void flush_receipts();
  // Durably stores an arrival (or recognises a repeat). On an error no receipt is owed: the
  // sender keeps the message and retries.
  Result<Inbox::Stored, StoreError> store_arrival(const ApplicationMessage& message,
                                                  const std::string& via);

  // ---- delivery ----
  void pump_outbox();
  void attempt_delivery(OutboxEntry& entry, Instant at);
  void retry_later(OutboxEntry& entry, Instant at, std::string error);
  void report_expiry(OutboxEntry& entry);
  void restart_deliveries(const Hashname& peer);
  std::size_t message_wire_size(const std::string& type, const std::string& id,
                                std::int64_t expires, std::size_t body_bytes) const;
  std::size_t path_packet_limit(PathId path) const;
  std::string check_deliverable(const Hashname& peer, std::size_t wire_size,
                                std::size_t body_bytes) const;
  PathId delivery_path(const Hashname& peer, std::size_t wire_size, std::string& why);

  // ---- control commands ----
  Reply send_command(const control::Request& request);
  Reply outbox_command(const control::Request& request);
  Reply outbox_cancel_command(const control::Request& request);
  Reply inbox_command(const control::Request& request);
  Reply inbox_read_command(const control::Request& request);
  Reply inbox_ack_command(const control::Request& request);
  Result<std::optional<Hashname>, control::ControlError> sender_arg(
      const control::Request& request) const;
  Result<const InboxEntry*, control::ControlError> pick_inbox(
      const std::string& given, const std::optional<Hashname>& from) const;
  boost::json::object inbox_row(const InboxEntry& entry) const;
  Reply inbox_import_command(const control::Request& request);
  boost::json::object messages_json() const;

  Host& host_;
  std::unique_ptr<MessageDb> message_db_;  // before the boxes: they use it
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<Inbox> inbox_;
  MessageStats message_stats_;
  ReceiptScheduler receipts_;
  Instant last_store_sweep_{};
};

}  // namespace e3x::daemon
