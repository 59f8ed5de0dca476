// One channel of an exchange (telehash-v3/channels.md and reliable.md, PROTOCOL.md 6 and 9):
// unreliable or reliable, with its states, timers and, when reliable, sequencing, acks,
// misses, window and resends.
//
// A Channel knows nothing about keys or paths. The exchange that owns it:
//   - hands it every decrypted INNER addressed to its id (receive),
//   - drains poll_outgoing() and seals each packet (or queues it while not in sync),
//   - drains poll_event() into application events,
//   - arms next_timeout() and calls handle_timeout() when it is due,
//   - removes it once is_finished() is true.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/fifo.hpp"
#include "core/result.hpp"
#include "core/time.hpp"

namespace e3x {

inline constexpr Duration kChannelOpeningTimeout = seconds(10);
inline constexpr Duration kChannelEndedTimeout = seconds(10);
inline constexpr Duration kReliableResendInterval = seconds(2);  // the last unacked packet
inline constexpr Duration kReliableAckDelay = seconds(1);        // ad-hoc ack at the latest
inline constexpr Duration kReliableMissResendGap = seconds(1);   // one resend per seq per second
inline constexpr Duration kReliableAckTimeout = seconds(30);     // no ack progress: give up
inline constexpr std::uint32_t kReliableWindow = 100;            // packets in flight / buffered
inline constexpr std::size_t kReliableBacklog = 256;   // accepted but not yet in the window
inline constexpr std::size_t kMaxChannelInner = 1400;  // INNER bytes (PROTOCOL.md 6)

// Bytes of out-of-order reliable packets held, for one exchange's channels together and
// (through `shared_used`) for the whole endpoint, so neither one peer's channels nor many
// peers together can make us buffer without bound. A packet that does not fit is dropped as
// if lost: the sender resends it once the gap before it is filled.
struct ReorderBudget {
  std::size_t used = 0;
  std::size_t limit = 0;
  std::size_t* shared_used = nullptr;
  std::size_t shared_limit = 0;

  bool take(std::size_t bytes) {
    if (used + bytes > limit) return false;
    if (shared_used && *shared_used + bytes > shared_limit) return false;
    used += bytes;
    if (shared_used) *shared_used += bytes;
    return true;
  }
  void give(std::size_t bytes) {
    used -= bytes;
    if (shared_used) *shared_used -= bytes;
  }
};

enum class ChannelState { kOpening, kOpen, kEnded, kClosed };
const char* to_string(ChannelState state);

// An INNER packet to send: `json` already holds "c" and every control key.
struct ChannelOutgoing {
  boost::json::object json;
  Bytes body;
};

namespace channel_event {
// Content for the application, in order and exactly once on reliable channels. `json` is the
// packet's head as received (the application reads its own keys; c/seq/ack/miss are there too).
struct Data {
  boost::json::object json;
  Bytes body;
  bool end = false;
};
// Both sides sent "end" (and, when reliable, everything was acknowledged): a clean close.
struct Ended {};
// The channel closed on an error: received "err", a timeout ("timeout"), or a protocol
// violation by the peer ("invalid"). Nothing more is delivered.
struct Errored {
  std::string reason;
};
}  // namespace channel_event
using ChannelEvent =
    std::variant<channel_event::Data, channel_event::Ended, channel_event::Errored>;

enum class ChannelSendError {
  kClosed,       // errored, or finished
  kEndSent,      // we already sent "end": no more content
  kReservedKey,  // the extra JSON used c, type, seq, ack, miss, end or err
  kTooLarge,     // the INNER would exceed kMaxChannelInner
  kBacklogFull,  // reliable: window and backlog are full; retry after acks (send_capacity())
};
const char* to_string(ChannelSendError error);

struct Sent {};  // success marker for Result

class Channel {
 public:
  // Our side opens: queues the open packet {"c":id,"type":type,...extra} (+ "seq":1 when
  // reliable). The extra JSON must not use reserved keys (checked by the caller via
  // has_reserved_key; here it is assumed clean).
  static Channel open(std::uint32_t id, std::string type, bool reliable, boost::json::object extra,
                      Bytes body, Instant now);
  // The peer opened: `open_json` is the first packet (it has "type"; "seq":1 makes it
  // reliable). That first packet is NOT re-delivered as a Data event: the owner reports it
  // as "channel opened". A reliable open packet with a seq other than 1, or an unreliable one
  // with end and err, is still accepted as the spec allows; a malformed one (seq not a
  // positive integer) is refused by returning nullopt.
  static std::optional<Channel> accept(std::uint32_t id, const boost::json::object& open_json,
                                       ByteView body, Instant now);

  std::uint32_t id() const { return id_; }
  const std::string& type() const { return type_; }
  bool reliable() const { return reliable_; }
  ChannelState state() const { return state_; }

  // Sends content. `extra` keys are merged into the head after "c". On a reliable channel
  // the packet gets the next seq and the current ack/miss, and is kept until acknowledged;
  // beyond the peer's window it waits in a bounded backlog.
  Result<Sent, ChannelSendError> send(boost::json::object extra, Bytes body, bool end, Instant now);
  // How many more send() calls would be accepted now (reliable: window + backlog room;
  // unreliable: effectively unbounded, returns a large number; closed: 0).
  std::size_t send_capacity() const;
  // Bytes left for BODY in one packet with no extra JSON (PROTOCOL.md 6 quota).
  std::size_t quota() const;

  // Closes the channel at our request: queues {"c":id,"err":reason} once (best effort) and
  // emits no event (the caller asked for it). is_finished() once that packet is drained.
  void close_with_error(const std::string& reason);
  // The exchange is gone or was reset: the channel is dead without sending anything. Emits
  // Errored{reason} unless already closed.
  void abort(const std::string& reason);

  // A decrypted INNER whose "c" is this id. Handles err, end, seq, ack, miss.
  void receive(const boost::json::object& json, ByteView body, Instant now);

  std::optional<ChannelOutgoing> poll_outgoing();
  std::optional<ChannelEvent> poll_event();

  std::optional<Instant> next_timeout() const;
  void handle_timeout(Instant now);

  // True once the channel can be forgotten: closed, and nothing left to send or report.
  bool is_finished() const;
  // Ended or errored: only lingers so late packets are recognised (not counted as open).
  bool is_terminal() const { return terminal_; }

  static bool has_reserved_key(const boost::json::object& extra);

  // Out-of-order packets are charged to `budget` (which must outlive the channel) while
  // they wait for the gap before them. Without one, only the window bounds them.
  void set_reorder_budget(ReorderBudget* budget) { budget_ = budget; }
  std::size_t reorder_bytes() const { return held_bytes_; }

 private:
  // One of our reliable content packets, kept until acknowledged. `head` holds every key
  // but c/seq/ack/miss ("type" on the open packet, the extra keys, "end"); those are added
  // afresh at every transmission.
  struct Sending {
    std::uint32_t seq = 0;
    boost::json::object head;
    Bytes body;
    std::optional<Instant> last_resent;  // for the miss resend gap
  };
  // A peer packet received ahead of a gap.
  struct Buffered {
    boost::json::object json;
    Bytes body;
    bool end = false;
    std::size_t cost = 0;  // charged to the reorder budget while held
  };
  // What one held packet costs beyond its body (its head and the map node), roughly.
  static constexpr std::size_t kReorderOverhead = 128;

  Channel(std::uint32_t id, std::string type, bool reliable, Instant now);

  static std::size_t inner_size(const boost::json::object& json, std::size_t body);
  static bool is_content(const boost::json::object& json, ByteView body);

  // Queues a non-err packet; the accepter becomes OPEN with its first one.
  void push_outgoing(boost::json::object json, Bytes body);
  // Closes on our side's decision: emits Errored{reason} (unless a terminal event was already
  // emitted) and queues {"c":id,"err":reason}.
  void fail(const std::string& reason);
  void drop_buffers();
  // Both ends sent and (reliable) all of ours acknowledged: emit Ended and linger.
  void check_ended(Instant now);
  void on_end_received(Instant now);

  // Reliable sending (reliable_channel.cpp).
  boost::json::object reliable_json(const Sending& packet) const;
  void add_ack(boost::json::object& json) const;  // "ack" and, when due, "miss"
  void note_ack_sent();
  void transmit(Sending& packet);
  void track(Sending packet, Instant now);  // into unacked_, then transmit
  void flush_backlog(Instant now);
  void on_ack(std::uint32_t ack, const boost::json::value* miss, Instant now);

  // Reliable receiving (reliable_channel.cpp).
  void on_seq(std::uint32_t seq, const boost::json::object& json, ByteView body, Instant now);
  void release_bytes(std::size_t bytes);
  void release_received();  // forgets every held packet and gives its bytes back
  void ack_now(Instant now);
  bool miss_due() const;
  void emit_adhoc_ack();

  std::uint32_t id_;
  std::string type_;
  bool reliable_;
  bool initiator_ = false;
  ChannelState state_ = ChannelState::kOpening;
  Instant created_;
  Fifo<ChannelOutgoing> outgoing_;
  Fifo<ChannelEvent> events_;

  bool terminal_ = false;  // Ended or Errored was emitted (or we closed): no more events
  bool end_sent_ = false;
  Instant end_sent_at_{};      // unreliable: we time out kChannelEndedTimeout after our end
  bool end_received_ = false;  // reliable: delivered in order
  Instant end_received_at_{};
  std::optional<Instant> linger_until_;  // after Ended: answer resends/acks until then

  // Reliable, our direction.
  std::uint64_t next_seq_ = 1;
  std::uint32_t peer_ack_ = 0;
  std::uint32_t peer_window_ = kReliableWindow;
  std::map<std::uint32_t, Sending> unacked_;  // transmitted, not yet acknowledged
  Fifo<Sending> backlog_;                     // seq assigned, beyond the peer's window
  Instant last_ack_progress_{};
  Instant resend_base_{};

  // Reliable, the peer's direction.
  bool received_seq_ = false;
  std::uint32_t ack_ = 0;                       // highest seq delivered in order
  std::map<std::uint32_t, Buffered> received_;  // out of order, above ack_ + 1
  ReorderBudget* budget_ = nullptr;
  std::size_t held_bytes_ = 0;  // what received_ holds, charged to budget_
  std::uint32_t receipts_since_ack_ = 0;
  Instant first_unacked_receipt_{};
  bool ack_now_ = false;
  Instant ack_now_since_{};
};

// Delta encoding of "miss" (telehash-v3/reliable.md): sorted missing seqs as deltas from
// `ack`, then the last acceptable seq (ack + buffer) as a final delta.
std::vector<std::uint32_t> encode_miss(std::uint32_t ack, std::vector<std::uint32_t> missing,
                                       std::uint32_t buffer);
struct DecodedMiss {
  std::vector<std::uint32_t> missing;  // absolute seqs
  std::uint32_t window = 0;            // the final delta's target minus ack: the peer's window
};
// nullopt for an empty array, a zero or negative delta, or overflow past 2^32-1.
std::optional<DecodedMiss> decode_miss(std::uint32_t ack, const std::vector<std::uint32_t>& deltas);

}  // namespace e3x
