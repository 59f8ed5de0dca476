// The mailbox (PROTOCOL.md 14, docs/messages.md "Mailboxes"): with [mailbox] enabled, this
// daemon holds sealed message packets that one allowed peer deposits for another while that
// one is offline, and hands them over when the recipient's exchange comes up.
//
//   "deposit" (served)  {"type":"deposit","to":<recipient>,"expires":<unix s>} + BODY = the
//                       OUTER packet. Stored durably, then answered with "stored":true and
//                       end; a refusal (policy, quota, expired) is {"err":"refused"}.
//   "mail" (opened)     to a recipient whose exchange is in sync: one held packet per channel
//                       packet (the open included), oldest first; a packet is deleted only
//                       once the recipient's ack covers its seq.
//
// What it cannot do: read, alter or forge what it holds, or make the recipient accept a
// replay (the recipient checks AUTH, expiry and duplicates exactly as for the network). What
// it learns: who writes to whom, when, and how much. The command `mailbox` shows counts per
// recipient, never contents.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "daemon/host/host.hpp"
#include "daemon/host/module.hpp"
#include "daemon/modules/mailbox/mailbox_store.hpp"
#include "daemon/modules/mailbox/packet_pieces.hpp"

namespace e3x::daemon {

// Packets of one pickup in flight at once (sent, not yet acknowledged).
inline constexpr std::size_t kMailInFlight = 64;
// Deposits one sender may have arriving in pieces at once (each up to kMaxPiecedPacket).
inline constexpr std::size_t kAssemblingPerSender = 8;
// Expired mail is looked for this often (one indexed DELETE).
inline constexpr Duration kMailboxSweepInterval = seconds(5);
// A mail channel that failed (or that the recipient refused) is opened again after this.
inline constexpr Duration kPickupRetryAfterFailure = seconds(30);

struct MailboxStats {
  std::uint64_t deposits = 0;         // packets stored
  std::uint64_t duplicates = 0;       // deposited again while held (a lost "stored" answer)
  std::uint64_t refused_policy = 0;   // sender or recipient not allowed, or not a peer
  std::uint64_t refused_quota = 0;    // a quota (or the disk) refused it
  std::uint64_t refused_expired = 0;  // already expired when deposited
  std::uint64_t picked_up = 0;        // acknowledged by their recipient and deleted
  std::uint64_t expired = 0;          // removed at their expiry, never picked up
};

class MailboxModule final : public Module {
 public:
  explicit MailboxModule(Host& host);
  ~MailboxModule() override;

  std::optional<StartError> start() override;
  void tick(Instant now) override;
  void reloaded() override;
  void exchange_up(const event::ExchangeUp& up) override;
  void peer_removed(const Hashname& peer) override;
  void channel_opened(event::ChannelOpened& opened) override;
  void channel_data(event::ChannelData& data) override;
  void channel_closed(const ChannelKey& key, const std::string& reason) override;
  void pump() override;
  void add_status(boost::json::object& status) const override;

 private:
  // A deposit arriving in pieces (packet_pieces.hpp), accepted by policy at its open.
  struct Assembling {
    Hashname recipient;
    std::int64_t expires = 0;
    PieceAssembler pieces;
  };
  // A "mail" channel to one recipient: seq -> held packet id, for what is unacknowledged (a
  // packet sent in pieces is deleted at its last piece's seq; the others map to 0).
  struct Pickup {
    std::uint32_t channel = 0;
    std::map<std::uint32_t, std::int64_t> unacked;
    std::uint32_t next_seq = 1;
    std::int64_t last_id = 0;  // the newest packet sent on it
    std::size_t delivered = 0;
    bool ending = false;  // everything acknowledged and our end sent
  };

  bool enabled() const { return host_.config().mailbox.enable && store_ != nullptr; }
  std::string open_store();
  bool allowed(const Hashname& peer) const;
  MailboxLimits limits() const;
  void on_deposit(event::ChannelOpened& opened);
  void on_deposit_piece(const ChannelKey& key, const boost::json::object& head, ByteView body);
  void store_deposit(const ChannelKey& key, const Hashname& recipient, std::int64_t expires,
                     ByteView packet);
  // Sends one held packet (in pieces if needed) on the pickup's channel, or opens it with it.
  bool send_held(const Hashname& recipient, Pickup& pickup, std::int64_t id, Bytes packet);
  void refuse(const ChannelKey& key, const std::string& why, std::uint64_t& counter);
  void start_pickup(const Hashname& recipient);
  // Sends what fits on the pickup's channel; false when the channel could not be used.
  bool fill(const Hashname& recipient, Pickup& pickup);
  void collect_acks(const Hashname& recipient, Pickup& pickup);
  void sweep(std::int64_t now);
  Host::Reply mailbox_command(const control::Request& request);

  Host& host_;
  std::unique_ptr<MailboxStore> store_;
  std::map<Hashname, Pickup> pickups_;
  std::map<Hashname, Instant> pickup_retry_at_;  // after a failed or refused mail channel
  std::map<ChannelKey, Assembling> assembling_;
  MailboxStats stats_;
  Instant last_sweep_{};
};

}  // namespace e3x::daemon
