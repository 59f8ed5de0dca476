// The E3X endpoint: our identity, the configured peers, one exchange per peer, and the
// routing of datagrams between them. A sans-I/O state machine (ARCHITECTURE.md):
//
//   inputs     handle_datagram(now, path, bytes), handle_timeout(now)
//   outputs    poll_transmit(), poll_event(), next_timeout()
//   commands   add_peer, remove_peer, connect, open_channel, send_channel, close_channel,
//              send_message, request_keepalive
//
// After any input or command the driver drains poll_transmit() to the network, drains
// poll_event(), then arms one timer at next_timeout(). Time is always an argument; the
// wall clock (for choosing SEQ values) is given through set_unix_time().
//
// Every malformed, unauthenticated, stale or unaccepted packet is dropped silently and
// counted in stats(); nothing is ever sent in reply to it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/channel.hpp"
#include "core/cs3a.hpp"
#include "core/endpoint_stats.hpp"
#include "core/events.hpp"
#include "core/hashname.hpp"
#include "core/lob.hpp"
#include "core/message_rules.hpp"
#include "core/random.hpp"
#include "core/result.hpp"
#include "core/seq_rules.hpp"
#include "core/time.hpp"

namespace e3x {

class Exchange;

inline constexpr Duration kDefaultKeepalive = seconds(25);  // UDP default (PROTOCOL.md 9)
inline constexpr std::size_t kDefaultPendingLimit = 256;
inline constexpr std::size_t kDefaultQueueLimit = 65536;  // transmits and events
// Out-of-order reliable packets held by all exchanges together (each is also bounded alone).
inline constexpr std::size_t kDefaultReorderLimit = 64 * 1024 * 1024;

// What the driver persists per peer (PROTOCOL.md 10.4) and gives back after a restart.
struct PeerSeqMarks {
  std::uint32_t used = 0;  // every SEQ we originated toward the peer is at or below this
  std::uint32_t seen = 0;  // the peer's highest handshake SEQ we accepted (replays are not new)
};

// Decides whether a hashname that is not a configured peer may handshake with us.
// Configured peers are always accepted. The default (empty function) accepts nobody else.
using AcceptPolicy = std::function<bool(const Hashname&)>;

struct PeerOptions {
  Duration keepalive = kDefaultKeepalive;  // zero turns keepalive off
};

enum class EndpointError {
  kUnknownPeer,
  kPeerIsSelf,      // the key is our own
  kNoKey,           // the peer is known by hashname only and has not handshaken yet
  kNoPath,          // no path to send on
  kNoExchange,      // nothing to act on: the peer has no exchange
  kUnknownChannel,  // no such open channel
  kChannelIdsExhausted,
  kSeqExhausted,  // no SEQ value is left in 32 bits
  kReservedKey,   // extra JSON used a key the protocol owns
  kTooLarge,      // does not fit one packet
  kChannelClosed,
  kEndSent,
  kBacklogFull,
  kNotReliable,       // consumer pacing asked of an unreliable channel
  kNotConsumerPaced,  // channel_consumed() on a channel without consumer pacing
  kConsumedTooMany,   // channel_consumed() for more packets than were delivered
};
const char* to_string(EndpointError error);

enum class ExchangeState { kNone, kConnecting, kUp };
const char* to_string(ExchangeState state);

// A snapshot for status displays.
struct PeerStatus {
  Hashname hashname;
  std::optional<PublicKey> key;
  Duration keepalive{};
  ExchangeState state = ExchangeState::kNone;
  PathId path = kNoPath;
  std::vector<PathId> paths;
  std::uint32_t seq_sent = 0;  // sent_max
  std::uint32_t seq_recv = 0;  // recv_max
  std::optional<Token> local_token;
  std::optional<Token> remote_token;
  // When an exchange with the peer was last in sync: the current one, or an earlier one.
  std::optional<Instant> last_handshake;
  // Round trip of our last handshake that was confirmed without being resent.
  std::optional<Duration> handshake_rtt;
  // Totals over every exchange with the peer since the endpoint started.
  std::uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
  std::size_t channels = 0;  // open (not ended, not errored)
  std::size_t pending = 0;
  std::uint32_t seq_used = 0;  // the highest SEQ we originated toward it (or its floor)
  std::uint32_t seq_seen = 0;  // its highest handshake SEQ we accepted, in any exchange
  bool seq_exhausted = false;  // no SEQ is left toward it (PROTOCOL.md 10.4)
};

class Endpoint {
 public:
  struct Config {
    KeyPair identity{};
    Random* random = nullptr;  // required; not owned; must outlive the endpoint
    // The persisted SEQ marks (PROTOCOL.md 10.4): every SEQ we originate toward a peer will
    // be greater than seq_floor and than seq_marks_of(peer).used, and its handshakes at or
    // below seq_marks_of(peer).seen are stale. Asked once, when the endpoint first learns of
    // the peer.
    std::uint32_t seq_floor = 0;
    std::function<std::optional<PeerSeqMarks>(const Hashname&)> seq_marks_of{};
    std::size_t pending_limit = kDefaultPendingLimit;
    std::size_t queue_limit = kDefaultQueueLimit;
    std::size_t reorder_limit = kDefaultReorderLimit;
    // Application messages whose "expires" is further ahead than this are dropped (10.7).
    std::int64_t max_message_ahead = kDefaultMaxMessageAhead;
    AcceptPolicy accept{};
    // Told of a handshake refused because no configured peer has its sender's hashname and
    // `accept` did not let it in: the path it came on and the hashname and 3a key it claims
    // (sealed for our key, but not verified: that would cost another X25519 for a packet
    // that is dropped anyway), so the driver can say who is knocking and how to let it in.
    // Empty: nobody is told.
    std::function<void(PathId, const Hashname&, const PublicKey&)> refused_sender{};
    // Peers let in by `accept` (not configured) at most at once; beyond it handshakes from
    // new hashnames are dropped as policy. They are forgotten when their exchange times out.
    std::size_t admitted_peer_limit = 65536;
    // Asked right before the X25519 that opens a message packet whose KEY the validation cache
    // does not know (an unknown sender, or a new exchange). false drops the packet silently,
    // counted in stats().dropped_rate_limited, so the driver can bound X25519 work under a
    // flood (the daemon: a token bucket per source address). Keepalives of known exchanges
    // never reach it. Empty: admit all.
    std::function<bool(PathId)> admit_expensive{};
    // Congestion control of reliable channels, per exchange (PROTOCOL.md 13); nullopt: none
    // (each reliable channel sends as fast as its peer's window allows; for tests).
    std::optional<CongestionAlgorithm> congestion = kDefaultCongestionAlgorithm;
  };

  explicit Endpoint(Config config);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // ---- getters ----
  const Hashname& hashname() const { return hashname_; }
  const PublicKey& public_key() const { return identity_.public_key; }
  const EndpointStats& stats() const { return stats_; }
  // The highest SEQ we originated so far toward any peer (or the floor).
  std::uint32_t highest_seq_used() const { return highest_seq_used_; }
  // Peers whose highest originated SEQ rose since the last call, with that SEQ: what the
  // driver must persist (per peer) before the packets now queued leave.
  std::vector<std::pair<Hashname, std::uint32_t>> take_seq_usage();
  // Bytes of out-of-order reliable packets held by every exchange together.
  std::size_t reorder_bytes() const { return reorder_bytes_; }
  std::vector<Hashname> peers() const;
  std::optional<PeerStatus> peer_status(const Hashname& peer) const;
  // A peer's SEQs as the persisted marks record them (PeerStatus::seq_used and seq_seen,
  // without building the rest of the status: the daemon asks for every peer per write).
  std::optional<PeerSeqMarks> seq_marks(const Hashname& peer) const;
  // The largest BODY for one packet of the channel (Channel::quota): ask before each packet,
  // it changes with what the peer sends.
  std::size_t channel_quota(const Hashname& peer, std::uint32_t channel) const;
  // How many more send_channel() calls the channel accepts now: on a reliable channel, the
  // room its peer's window leaves plus kReliableBacklog packets beyond it (packets accepted
  // wait in the channel until the path's congestion window and pacing let them go; they
  // never make this lie). 0 for an unknown or closed channel.
  std::size_t channel_send_capacity(const Hashname& peer, std::uint32_t channel) const;
  // The channel's state (OPENING until the peer answers it: for a reliable channel, acks its
  // open), or nullopt when there is no such channel.
  std::optional<ChannelState> channel_state(const Hashname& peer, std::uint32_t channel) const;
  // A reliable channel's flow (windows, flight, resends) and its path's congestion state
  // (window, RTT, pacing): for status displays and tests. nullopt when there is none.
  std::optional<ReliableFlowStats> channel_flow(const Hashname& peer, std::uint32_t channel) const;
  std::optional<PathFlowStats> path_flow(const Hashname& peer) const;
  // The path the exchange with `peer` sends on, and whether it is in sync; kNoPath and false
  // when there is no exchange. Cheap (no status built): the routing layer asks per datagram.
  PathId current_path(const Hashname& peer) const;
  bool exchange_up(const Hashname& peer) const;
  // When the handshake toward `peer` that is still unconfirmed was first sent; nullopt when
  // none is outstanding (routing offers it on the relay path too when it goes unanswered).
  std::optional<Instant> handshake_outstanding_since(const Hashname& peer) const;
  // Whether `token` is the remote token of one of our exchanges: a packet carrying it is ours
  // to open, never one for a router to forward (PROTOCOL.md 12).
  bool knows_remote_token(const Token& token) const { return by_remote_token_.count(token) != 0; }

  // Anchors Unix time to the monotonic timeline: unix(now) = unix_seconds + (now - at).
  // SEQ choice uses it; call it again whenever the wall clock may have moved.
  void set_unix_time(Instant at, std::int64_t unix_seconds);

  // ---- inputs ----
  // Returns true when the datagram authenticated as a peer's and was taken (not dropped as
  // malformed, unauthenticated, stale, replayed or refused): the driver may then trust the
  // path it came on a little more (keep a TCP connection, protect a learned address).
  bool handle_datagram(Instant now, PathId path, ByteView packet);
  // A handshake another peer carried to us (the BODY of a `connect`, PROTOCOL.md 12), taken
  // as if it had arrived on `path`, but only when it is a handshake from `sender`: anything
  // else, a handshake from another peer included, is dropped (counted as policy). Without
  // that, a peer listed as a router could hand us some other peer's handshake, its own
  // included, and move that exchange onto the path it introduced.
  bool handle_carried_handshake(Instant now, PathId path, ByteView packet, const Hashname& sender);
  void handle_timeout(Instant now);
  std::optional<Instant> next_timeout() const;

  // ---- outputs ----
  std::optional<Transmit> poll_transmit();
  std::optional<Event> poll_event();

  // ---- commands ----
  Result<Hashname, EndpointError> add_peer(const PublicKey& key, PeerOptions options = {});
  // A peer known only by hashname: it can handshake with us (we learn its key then), but we
  // cannot start a handshake to it before that.
  Result<Hashname, EndpointError> add_peer(const Hashname& hashname, PeerOptions options = {});
  Result<Sent, EndpointError> set_peer_options(const Hashname& peer, PeerOptions options);
  // Errors its channels, reports ExchangeDown{kRemoved} if it had an exchange, forgets it.
  bool remove_peer(Instant now, const Hashname& peer);

  // Starts (or refreshes) the exchange with `peer` by sending a handshake on `path`. While a
  // handshake is outstanding the same one is sent to the new path; once in sync on another
  // path, a new handshake probes this one.
  Result<Sent, EndpointError> connect(Instant now, const Hashname& peer, PathId path);
  // The transport asks for a keepalive: a new handshake with a higher SEQ on `path` (or the
  // current path when kNoPath).
  Result<Sent, EndpointError> request_keepalive(Instant now, const Hashname& peer,
                                                PathId path = kNoPath);

  // Hole punching (PROTOCOL.md 12): offers a fresh handshake to each of `paths` (addresses
  // the peer was seen at) while the exchange stays on its current path. The first call makes
  // one new handshake (sent to the current path too, which its resends follow, so an
  // unanswered punch never costs the exchange its life); calls while it is outstanding send
  // the same bytes again. Not limited to one probe a second: the driver's schedule is the
  // limit. kNoExchange unless the exchange is in sync on some path.
  Result<Sent, EndpointError> punch(Instant now, const Hashname& peer,
                                    const std::vector<PathId>& paths);

  // Opens a channel of `type`. Its packets wait until the exchange is in sync (unreliable
  // ones in the pending queue, reliable ones in the channel). `options` apply to reliable
  // channels: with consumer_paced, see channel_consumed().
  Result<std::uint32_t, EndpointError> open_channel(Instant now, const Hashname& peer,
                                                    std::string type, bool reliable,
                                                    boost::json::object extra = {}, Bytes body = {},
                                                    ChannelOptions options = {});
  // Options for a channel the peer opened (or one we opened). Consumer pacing must be set
  // while handling the channel's ChannelOpened event, before any of its ChannelData: from
  // then on every ChannelData of the channel (those already queued behind ChannelOpened
  // included; the open packet itself not) counts against the window we advertise until
  // channel_consumed() reports it. kNotReliable for consumer pacing on an unreliable channel.
  Result<Sent, EndpointError> set_channel_options(Instant now, const Hashname& peer,
                                                  std::uint32_t channel, ChannelOptions options);
  // Consumer pacing (PROTOCOL.md 11 and 13): the application has finished with `packets` more
  // ChannelData events of the channel (in order; one per event, an end packet included). The
  // window reopens by as much; when it opens by a quarter, or was closed, an ack tells the
  // peer at once (else within 25 ms), so a sender held back by a slow reader resumes. What
  // the caller must do: call it as it consumes (a reader that never does stops the peer's
  // sender after one window; nothing times out while the peer waits). kNotConsumerPaced
  // when the option is off (delivery is consumption then); kConsumedTooMany, changing
  // nothing, for more packets than were delivered and not yet consumed.
  Result<Sent, EndpointError> channel_consumed(Instant now, const Hashname& peer,
                                               std::uint32_t channel, std::size_t packets);
  Result<Sent, EndpointError> send_channel(Instant now, const Hashname& peer, std::uint32_t channel,
                                           boost::json::object extra, Bytes body, bool end = false);
  // Sends {"err":reason} and forgets the channel (no event).
  Result<Sent, EndpointError> close_channel(Instant now, const Hashname& peer,
                                            std::uint32_t channel, const std::string& reason);

  // Application message (PROTOCOL.md section 8): INNER head {"type","from","id",...extra},
  // BODY payload, sealed with the peer's exchange under a fresh own-parity SEQ, sent on
  // `path` (or the current path). Returns the OUTER bytes too. `extra` must hold "expires"
  // (Unix seconds) for a recipient to accept it (section 10 rule 7). An exchange created
  // here only to seal the message times out like an unanswered handshake unless one starts
  // (10.7: no exchange without a deadline).
  Result<Bytes, EndpointError> send_message(Instant now, const Hashname& peer, std::string type,
                                            std::string id, boost::json::object extra,
                                            ByteView body, PathId path = kNoPath);

 private:
  friend class Exchange;
  struct Peer;

  // X25519 through here, so stats_.x25519_operations counts every one.
  SharedKey x25519(const PublicKey& their_public, const SecretKey& our_secret);
  KeyPair new_ephemeral();

  // `only_from`: take only a handshake from that peer (handle_carried_handshake).
  bool handle_message_packet(Instant now, PathId path, ByteView packet,
                             const Hashname* only_from = nullptr);
  bool handle_channel_packet(Instant now, PathId path, ByteView packet);
  bool handle_handshake(Instant now, PathId path, Peer& peer, const MessageParts& parts,
                        const SharedKey& k_box);
  bool handle_application_message(Instant now, PathId path, const MessageParts& parts,
                                  const LobView& inner);

  Peer* find_peer(const Hashname& hashname);
  Peer& find_or_add_peer(const Hashname& hashname);
  void forget_peer(const Hashname& hashname);
  void mark_configured(Peer& peer);
  const Peer* find_peer(const Hashname& hashname) const;
  Exchange& ensure_exchange(Peer& peer, Instant now);
  Parity parity_toward(const Peer& peer) const;
  void destroy_exchange(Peer& peer, DownReason reason);
  void reschedule(Peer& peer);
  std::int64_t unix_now(Instant now) const;
  void push_transmit(Transmit transmit);
  void push_event(Event event);
  // A new SEQ we originate toward `peer` (PROTOCOL.md 5 and 10.4), recorded as used.
  std::optional<std::uint32_t> choose_seq(const Hashname& peer, const HandshakeSeqState& state,
                                          Instant now);

  KeyPair identity_;
  Hashname hashname_;
  Random& random_;
  std::size_t pending_limit_;
  std::size_t queue_limit_;
  AcceptPolicy accept_;
  std::function<void(PathId, const Hashname&, const PublicKey&)> refused_sender_;
  std::size_t admitted_peer_limit_;
  std::function<bool(PathId)> admit_expensive_;
  std::size_t admitted_peers_ = 0;
  EndpointStats stats_;
  std::uint32_t seq_floor_;
  std::function<std::optional<PeerSeqMarks>(const Hashname&)> seq_marks_of_;
  std::uint32_t highest_seq_used_;
  std::vector<Hashname> seq_usage_changed_;
  std::size_t reorder_bytes_ = 0;
  std::size_t reorder_limit_;
  std::optional<CongestionAlgorithm> congestion_;
  std::int64_t max_message_ahead_;
  Instant unix_anchor_at_{};
  std::int64_t unix_anchor_seconds_ = 0;

  std::unordered_map<Hashname, std::unique_ptr<Peer>> peers_;
  // SEQs (sent_max, recv_max) of peers that were removed or forgotten, so a peer that comes
  // back never sees an old SEQ again; at most kForgottenSeqsLimit, oldest dropped first.
  static constexpr std::size_t kForgottenSeqsLimit = 65536;
  std::unordered_map<Hashname, std::pair<std::uint32_t, std::uint32_t>> forgotten_seqs_;
  std::deque<Hashname> forgotten_order_;
  // Remote token -> peer whose exchange has that remote ephemeral (routing of channel packets
  // and the validation cache for keepalive handshakes).
  std::map<Token, Hashname> by_remote_token_;
  // One entry per exchange with a deadline: ordered so next_timeout() is the first.
  std::set<std::pair<Instant, Hashname>> timers_;

  std::deque<Transmit> transmits_;
  std::deque<Event> events_;
};

}  // namespace e3x
