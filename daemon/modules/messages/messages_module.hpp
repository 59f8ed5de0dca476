// Messages that are never lost (docs/messages.md): the outbox delivers what `send` accepted
// until a receipt naming its payload comes back, the inbox stores arrivals durably before a
// receipt is owed, receipts go only through in-sync exchanges (PROTOCOL.md 10.7), and the
// control commands send, outbox, outbox_cancel, inbox, inbox_read, inbox_ack, inbox_import.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "core/receipts.hpp"
#include "core/sealed_message.hpp"
#include "daemon/host/host.hpp"
#include "daemon/host/module.hpp"
#include "daemon/modules/mailbox/packet_pieces.hpp"
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
  // Mailboxes (PROTOCOL.md 14; messages_mailbox.cpp).
  std::uint64_t deposited = 0;           // messages a mailbox said it stored
  std::uint64_t deposit_refused = 0;     // deposits a mailbox refused (policy, quota)
  std::uint64_t receipts_deposited = 0;  // receipts for offline senders left at their mailbox
  std::uint64_t mail_received = 0;       // packets handed over by a mailbox (repeats included)
  std::uint64_t mail_dropped = 0;        // ... that failed to open, authenticate or were expired
};

// Deposit channels open at once (messages and receipts together), and how long to wait
// before offering a message to a mailbox again after a refusal or a failed channel.
inline constexpr std::size_t kDepositsInFlight = 32;
inline constexpr Duration kDepositRetryAfterRefusal = seconds(60);
inline constexpr Duration kDepositRetryAfterFailure = seconds(10);

class MessagesModule final : public Module {
 public:
  explicit MessagesModule(Host& host);

  std::optional<StartError> start() override;  // opens the outbox and the inbox
  void tick(Instant now) override;
  void exchange_up(const event::ExchangeUp& up) override;
  void message_received(event::MessageReceived& message) override;
  void channel_opened(event::ChannelOpened& opened) override;
  void channel_data(event::ChannelData& data) override;
  void channel_closed(const ChannelKey& key, const std::string& reason) override;
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
                                                  const std::string& via,
                                                  const std::optional<Hashname>& mailbox = {});

  // ---- mailboxes (messages_mailbox.cpp) ----
  // Configured peers named in `peer`'s mailbox list, in order.
  std::vector<Hashname> mailboxes_for(const Hashname& peer) const;
  // Whether `peer` is a mailbox of any peer of ours (only those may hand us mail).
  bool is_mailbox(const Hashname& peer) const;
  // Opens deposits for messages (and receipts) whose recipient stayed unreachable.
  void deposit_due(Instant now);
  void deposit_receipts_due(Instant now);
  bool start_deposit(const Hashname& mailbox, const Hashname& recipient, Bytes packet,
                     std::int64_t expires, const std::string& outbox_id,
                     const std::string& receipt_id);
  void on_deposit_answer(const ChannelKey& key, const event::ChannelData& data);
  void on_deposit_closed(const ChannelKey& key, const std::string& reason);
  // A packet a mailbox handed over: opened and checked exactly like one from the network.
  void on_mail(const Hashname& mailbox, ByteView packet);
  void on_mail_piece(const ChannelKey& key, const boost::json::object& head, ByteView body);
  // Remembers a receipt owed to a sender that has mailboxes, to leave there if it stays away.
  void note_receipt_for_deposit(const ApplicationMessage& message);
  // After a restart: receipts for mail still unacknowledged in the inbox are noted again (what
  // was owed lived in memory; a repeat at the sender is harmless, a missing one leaves its
  // outbox entry waiting until the two meet).
  void renote_mail_receipts();
  boost::json::value deposited_json(const OutboxEntry& entry) const;

  // ---- delivery ----
  void pump_outbox();
  static std::string waiting_reason(const PeerStatus& status, const PeerRuntime* runtime);
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

  // A deposit channel we opened: for an outbox message, or for a receipt (receipt_id).
  struct DepositInFlight {
    Hashname recipient;
    std::string outbox_id;
    std::string receipt_id;
    bool stored = false;
  };
  std::map<ChannelKey, DepositInFlight> deposits_;
  // When a message (by outbox id) or receipt ((sender, id)) may be offered again.
  std::map<std::string, Instant> deposit_retry_at_;
  struct ReceiptToDeposit {
    std::string sha256;
    std::int64_t expires = 0;
    std::int64_t since = 0;  // Unix seconds it became owed
    bool in_flight = false;
    std::optional<Instant> retry_at;
  };
  std::map<std::pair<Hashname, std::string>, ReceiptToDeposit> receipt_deposits_;
  bool mail_receipts_renoted_ = false;  // once, on the first tick (peers are known then)
  // "mail" channels mailboxes opened to us, each with the packet being assembled.
  std::map<ChannelKey, PieceAssembler> mail_channels_;
  // Why a message is not deposited (a refusal, a failed channel), by outbox id: shown as its
  // last error until a deposit succeeds (pump_outbox rewrites last_error while the peer is
  // away, and this must not be lost behind "waiting").
  std::map<std::string, std::string> deposit_errors_;
  Instant last_store_sweep_{};
};

}  // namespace e3x::daemon
