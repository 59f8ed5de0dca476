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
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/fifo.hpp"
#include "core/path_control.hpp"
#include "core/result.hpp"
#include "core/time.hpp"

namespace e3x {

inline constexpr Duration kChannelOpeningTimeout = seconds(10);
inline constexpr Duration kChannelEndedTimeout = seconds(10);
// Reliable channels at speed (PROTOCOL.md section 13). Resends are driven by loss detection
// and the retransmission timeout (RTT-based, rtt_estimator.hpp); the constants here are the
// channel's own.
inline constexpr Duration kReliableAckDelay = milliseconds(25);  // ack a seq within this
inline constexpr std::uint32_t kReliableAckEvery = 2;            // ...or at once every 2nd packet
// Giving up on a peer that is there but no longer acknowledges (it forgot the channel: its err
// or its last acks were lost): at a retransmission timeout, once kReliableGiveUpTimeouts
// timeouts in a row went unanswered and kReliableAckTimeout passed without ack progress.
// Both, so loss alone does not end a stream: each timeout probes twice, and ten probe rounds
// all lost at 10% loss per send is a 1e-10 chance; with the backoff (kMaxRto) ten take about
// 50 s, so a peer that is gone takes its channels down with the exchange (PROTOCOL.md 10 rule
// 6: 10 s of silence, then 30 s for a handshake) before this bound is reached.
inline constexpr Duration kReliableAckTimeout = seconds(30);
inline constexpr std::uint32_t kReliableGiveUpTimeouts = 10;
// A packet is lost once this many later packets were reported received (by miss reports).
inline constexpr std::uint32_t kReliableReorderThreshold = 3;
// The receive window (packets beyond the ack) a channel starts with, and the window a peer is
// assumed to allow until it says otherwise with a "miss".
inline constexpr std::uint32_t kReliableWindow = 100;
// Auto-tuning grows it up to this: 12,000 packets of 1400 bytes are 16.8 MB, at least 16 MiB.
// It is also the most of a peer's advertised window we act on.
inline constexpr std::uint32_t kReliableMaxWindow = 12000;
// Auto-tuning measures consumption against a round trip of at least this. On a LAN the
// path's minimum (0.1-0.7 ms between namespaces) leaves out what an ack's trip costs on busy
// hosts: each side handles a run of datagrams per turn of its event loop and waits its turn
// for a CPU, milliseconds on a machine shared with the applications at both ends. A window
// of 1.5 products of the minimum held a stream through a forward on a veth at about 1 Gbit/s,
// waiting on our window half the time; BBR keeps three pacing quanta (about 3 ms of sending)
// in its window for the same reason (core/congestion_bbr.cpp). Paths longer than this are
// tuned by their own round trip, unchanged.
inline constexpr Duration kReliableWindowMinRtt = milliseconds(2);
// With nothing received for this long (or 4 RTT, if longer) the window falls back to
// kReliableWindow: what an idle channel may be sent at once stays modest.
inline constexpr Duration kReliableWindowIdle = seconds(1);
inline constexpr std::size_t kReliableBacklog = 256;   // accepted beyond the peer's window
inline constexpr std::size_t kMaxChannelInner = 1400;  // INNER bytes (PROTOCOL.md 6)

struct ChannelOptions {
  // Reliable channels only. Packets delivered to the application keep counting against the
  // window we advertise until the application reports them consumed (Channel::consumed,
  // Endpoint::channel_consumed): a slow reader slows the sender. Without it, delivery is
  // consumption.
  bool consumer_paced = false;
};

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

enum class ChannelConsumeError {
  kNotConsumerPaced,  // the channel is unreliable, or delivery already counts as consumption
  kTooMany,           // more packets than were delivered and not yet consumed (nothing changed)
};
const char* to_string(ChannelConsumeError error);

struct Sent {};  // success marker for Result

// A reliable channel's flow, for tests and status displays.
struct ReliableFlowStats {
  // Our direction.
  std::uint32_t peer_ack = 0;       // the peer's highest ack
  std::uint64_t peer_edge = 0;      // the highest seq its window lets us send
  std::uint64_t highest_sent = 0;   // the highest seq transmitted so far
  std::size_t queued = 0;           // seq assigned, never transmitted (window, congestion, pacing)
  std::size_t in_flight = 0;        // packets counted in the path's bytes in flight
  std::size_t in_flight_bytes = 0;  // ... and their bytes
  std::size_t lost_waiting = 0;     // declared lost, not yet sent again
  std::uint32_t rto_backoff = 0;    // timeouts in a row without ack progress
  std::optional<Instant> rto_at;
  std::uint64_t transmissions = 0;    // data packets sent, resends included
  std::uint64_t retransmissions = 0;  // resends (loss detection and timeouts)
  std::uint64_t losses = 0;           // packets declared lost
  std::uint64_t timeouts = 0;         // retransmission timeouts fired
  // The peer's direction.
  std::uint32_t ack = 0;                // the highest seq delivered in order
  std::uint64_t consumed = 0;           // ... and consumed (== ack unless consumer-paced)
  std::uint32_t receive_window = 0;     // packets beyond `consumed` we let the peer send
  std::uint64_t advertised_edge = 0;    // the highest seq we ever let it send (never lowered)
  std::size_t held = 0;                 // packets held above a gap (or beyond the consumer)
  std::uint64_t duplicates = 0;         // packets that came again (the peer resent too soon)
  std::optional<Duration> receive_rtt;  // the RTT the window's auto-tuning works with
  bool consumer_paced = false;
};

class Channel {
 public:
  // Our side opens: queues the open packet {"c":id,"type":type,...extra} (+ "seq":1 when
  // reliable). The extra JSON must not use reserved keys (checked by the caller via
  // has_reserved_key; here it is assumed clean).
  static Channel open(std::uint32_t id, std::string type, bool reliable, boost::json::object extra,
                      Bytes body, Instant now, ChannelOptions options = {});
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
  // the packet gets the next seq and is kept until acknowledged; it leaves (with the current
  // ack/miss) when the peer's window, the path's congestion window and pacing let it.
  Result<Sent, ChannelSendError> send(boost::json::object extra, Bytes body, bool end, Instant now);
  // How many more send() calls would be accepted now (reliable: the room the peer's window
  // leaves plus kReliableBacklog beyond it; unreliable: effectively unbounded, returns a large
  // number; closed: 0).
  std::size_t send_capacity() const;
  // Bytes left for BODY in one packet with no extra JSON (PROTOCOL.md 6 quota). On a reliable
  // channel it leaves room for an ack to ride along while the peer is sending content, and
  // so may change as the peer starts or stops; a body sized by an earlier quota is still
  // accepted (its ack goes on its own if it no longer fits).
  std::size_t quota() const;

  // Consumer-paced receiving (ChannelOptions::consumer_paced). Set it on an accepted channel
  // before any of its Data events is handed to the application (the open packet counts as
  // consumed). From then on every Data event of the peer's counts against our window until
  // consumed() is called for it; the window (and an ack telling the peer) opens as it is.
  void set_consumer_paced(bool consumer_paced, Instant now);
  bool consumer_paced() const { return consumer_paced_; }
  Result<Sent, ChannelConsumeError> consumed(std::size_t packets, Instant now);

  // Closes the channel at our request: queues {"c":id,"err":reason} once (best effort) and
  // emits no event (the caller asked for it). is_finished() once that packet is drained.
  void close_with_error(const std::string& reason);
  // The exchange is gone or was reset: the channel is dead without sending anything. Emits
  // Errored{reason} unless already closed.
  void abort(const std::string& reason);

  // A decrypted INNER whose "c" is this id. Handles err, end, seq, ack, miss.
  void receive(const boost::json::object& json, ByteView body, Instant now);

  // Control packets: unreliable content, acks, err. On a channel without a shared path
  // (set_path), reliable content too, as far as the peer's window allows; with one, the
  // owner's scheduler takes content through poll_data().
  std::optional<ChannelOutgoing> poll_outgoing();
  std::optional<ChannelEvent> poll_event();

  // ---- the owner's scheduler (reliable channels on a shared path) ----
  // Sends its reliable content through `path`, which must outlive it and from then on
  // decides with the owner when content may leave. Call before the first poll.
  void set_path(PathControl* path);
  // Content is waiting that the peer's window allows: a resend or a new packet.
  bool has_data_to_send() const;
  // Content is queued that the peer's window does not take yet (flow control is the limit).
  bool has_data_beyond_window() const;
  // The bytes the next content packet counts against the congestion window.
  std::size_t next_data_size() const;
  // The next content packet (resends first), now counted in flight on the path.
  std::optional<ChannelOutgoing> poll_data(Instant now);

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

  ReliableFlowStats flow() const;
  std::uint32_t receive_window() const { return window_; }
  // The RTT estimate of the path it sends on (its own, or the owner's shared one).
  const RttEstimator& rtt() const { return path_->rtt(); }

 private:
  // One of our reliable content packets, kept until acknowledged. `head` holds every key
  // but c/seq/ack/miss ("type" on the open packet, the extra keys, "end"); those are added
  // afresh at every transmission.
  struct Sending {
    enum class State : std::uint8_t {
      kQueued,     // never sent
      kInFlight,   // sent, counted in the path's bytes in flight
      kDelivered,  // received, by a miss list, or presumed from a duplicate ack; not in flight
      kLost,       // declared lost, waiting in retransmit_
    };
    std::uint32_t seq = 0;
    boost::json::object head;
    Bytes body;
    std::uint32_t size = 0;  // INNER bytes, counted against the congestion window
    State state = State::kQueued;
    std::uint16_t transmissions = 0;
    // Miss reports of this packet since its last transmission that came with evidence of a
    // packet transmitted after it delivered (the reordering threshold).
    std::uint16_t reports = 0;
    bool reported = false;         // ever reported missing: its ack gives no RTT sample (Karn)
    std::uint32_t generation = 0;  // the path generation it is counted in
    Instant sent_at{};             // its last transmission
    std::uint64_t order = 0;       // ... and its number among all of the channel's transmissions
    DeliverySnapshot snapshot;     // the path's delivery state when it entered the flight
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

  void touch(Instant now) {
    if (now > now_) now_ = now;
  }
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
  PathControl& path();
  const PathControl& path() const;
  Sending* find_sending(std::uint64_t seq);
  // The bytes of a content packet's ,"seq":<seq>.
  static std::size_t seq_overhead(std::uint64_t seq);
  // What the quota keeps free for an ack and window (,"ack":..,"miss":[..]) to ride on our
  // content: their longest while the peer is sending us content (acks are owed), else none.
  // A content packet carries them only when they fit; when not, they go on their own
  // (ad hoc), as PROTOCOL.md 13's timing says, so a one-way stream's packets are not made
  // smaller for acks they would never carry.
  std::size_t ack_reserve() const;
  boost::json::object reliable_json(const Sending& packet);
  ChannelOutgoing transmit(Sending& packet, Instant now);
  void queue(Sending packet);
  // `adhoc`: an ack on its own, not riding on the peer's content.
  void on_ack(std::uint32_t ack, const boost::json::value* miss, bool adhoc, Instant now);
  std::optional<std::uint64_t> settle_acked(std::uint32_t ack, Instant now);
  std::optional<std::uint64_t> credit_between_holes(std::uint32_t ack,
                                                    const std::vector<std::uint32_t>& missing,
                                                    Instant now);
  void credit_received(Sending& packet, Instant now, std::optional<std::uint64_t>& latest);
  std::optional<std::uint64_t> presume_delivered(std::uint32_t above, Instant now);
  void detect_losses(Instant now);
  void declare_lost(Sending& packet, Instant now);
  void on_retransmission_timeout(Instant now);
  Duration backed_off_rto() const;
  bool has_unacked_sent() const { return highest_sent_ > peer_ack_; }

  // Reliable receiving (reliable_channel.cpp).
  std::uint64_t consumer_limit() const { return consumed_ + window_; }
  std::uint64_t accept_limit() const;
  std::uint64_t advertised_edge() const;
  // "ack" and "miss": the missing seqs below the highest held and our window, in at most
  // `room` bytes of JSON: nothing when even the ack and window do not fit (kNoRoom), a
  // missing list cut to fit (kCut), or all of it.
  enum class AckAdded { kComplete, kCut, kNoRoom };
  AckAdded add_ack(boost::json::object& json, std::size_t room) const;
  void note_ack_sent(Instant now);
  void on_seq(std::uint32_t seq, const boost::json::object& json, ByteView body, Instant now);
  void deliver_in_order(Instant now);
  void on_consumed(Instant now);
  void start_epoch(Instant now);  // auto-tuning measures from here
  void release_bytes(std::size_t bytes);
  void release_received();  // forgets every held packet and gives its bytes back
  void ack_now(Instant now);
  void emit_adhoc_ack(Instant now);
  std::optional<Duration> receive_rtt() const;
  void update_drain(std::uint32_t seq, Instant now);

  std::uint32_t id_;
  std::string type_;
  bool reliable_;
  bool initiator_ = false;
  ChannelState state_ = ChannelState::kOpening;
  Instant created_;
  Instant now_{};  // the latest time any input carried
  Fifo<ChannelOutgoing> outgoing_;
  Fifo<ChannelEvent> events_;

  bool terminal_ = false;  // Ended or Errored was emitted (or we closed): no more events
  bool end_sent_ = false;
  Instant end_sent_at_{};      // unreliable: we time out kChannelEndedTimeout after our end
  bool end_received_ = false;  // reliable: delivered in order
  Instant end_received_at_{};
  std::optional<Instant> linger_until_;  // after Ended: answer resends/acks until then

  // Reliable, our direction.
  PathControl* path_ = nullptr;            // the exchange's, or own_path_
  std::unique_ptr<PathControl> own_path_;  // unlimited, when no owner set one
  std::uint64_t next_seq_ = 1;             // the next seq send() assigns
  std::uint64_t next_new_ = 1;             // the lowest seq never transmitted
  std::uint64_t highest_sent_ = 0;         // the highest seq transmitted
  std::uint32_t peer_ack_ = 0;
  std::uint32_t peer_window_ = kReliableWindow;
  std::uint64_t peer_edge_ = kReliableWindow;  // the highest seq the peer's window allows
  Fifo<Sending> sending_;                      // peer_ack_+1 .. next_seq_-1, in order
  std::set<std::uint32_t> retransmit_;         // declared lost, to be sent again (lowest first)
  std::vector<std::uint32_t> suspects_;        // reported missing by the latest miss
  std::uint64_t presume_from_ = 1;             // duplicate acks presume delivery from here on
  std::uint64_t credited_through_ = 0;         // miss lists were read up to here (see credit_...)
  std::optional<Instant> loss_time_;           // the time threshold of the earliest suspect
  std::optional<Instant> rto_at_;
  std::uint32_t rto_backoff_ = 0;
  // Timeouts since the peer last answered (ack progress, or an ack on its own): two in a row
  // are persistent congestion. rto_backoff_ counts from the last ack progress, which one
  // head-of-line packet lost again and again holds back while the path delivers the rest.
  std::uint32_t silent_timeouts_ = 0;
  Instant last_ack_progress_{};
  std::uint64_t stat_transmissions_ = 0, stat_retransmissions_ = 0, stat_losses_ = 0,
                stat_timeouts_ = 0, stat_duplicates_ = 0;

  // Reliable, the peer's direction.
  bool received_seq_ = false;
  std::uint32_t ack_ = 0;           // highest seq delivered in order
  std::uint64_t consumed_ = 0;      // ... and consumed by the application
  std::uint64_t stream_start_ = 0;  // the peer's content comes after this seq
  bool consumer_paced_ = false;
  std::uint32_t window_ = kReliableWindow;      // packets beyond consumed_ the peer may send
  std::uint64_t adv_edge_ = kReliableWindow;    // the highest seq we ever allowed
  std::map<std::uint32_t, Buffered> received_;  // above a gap (or beyond the consumer's limit)
  ReorderBudget* budget_ = nullptr;
  std::size_t held_bytes_ = 0;  // what received_ holds, charged to budget_
  std::uint32_t receipts_since_ack_ = 0;
  Instant first_unacked_receipt_{};
  bool ack_now_ = false;
  Instant ack_now_since_{};
  std::optional<Instant> window_update_at_;  // a small window opening, told within the delay
  std::optional<Instant> last_receipt_;
  Instant epoch_at_{};            // auto-tuning: when the current window started being consumed
  std::uint64_t epoch_from_ = 0;  // ... from which consumed position
  // ... and the most packets held above a gap at once meanwhile: what arrived while the
  // oldest hole waited for its resend, the part of the window repairs take.
  std::size_t epoch_held_peak_ = 0;
  struct EdgeProbe {
    std::uint64_t edge = 0;  // a packet beyond it can only come after our ack reached the peer
    Instant at{};
  };
  std::optional<EdgeProbe> edge_probe_;
  std::optional<Duration> edge_rtt_;  // the smallest round trip edge probes measured lately
  Instant edge_rtt_at_{};
  // Draining for a fresh RTT sample: the edge stands still until the peer's flight has
  // arrived (or this deadline), then the next edge probe measures an empty pipe.
  std::optional<Instant> drain_until_;
  bool take_next_sample_ = false;
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
