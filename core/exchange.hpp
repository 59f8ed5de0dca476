// The state between our endpoint and one peer (PROTOCOL.md sections 3, 5 and 6): our
// ephemeral key and token, the peer's ephemeral, the SEQ state and the handshake timers, the
// channel keys, the channels, the pending queue of channel packets, and replay rejection.
//
// Internal to the core: only Endpoint creates and drives exchanges. Every packet reaching an
// Exchange has already been authenticated by the Endpoint.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <boost/json/object.hpp>

#include "core/channel.hpp"
#include "core/cs3a.hpp"
#include "core/events.hpp"
#include "core/hashname.hpp"
#include "core/replay_window.hpp"
#include "core/result.hpp"
#include "core/seq_rules.hpp"
#include "core/time.hpp"

namespace e3x {

class Endpoint;
enum class EndpointError;

// Handshake resends after the first send, then the timeout (PROTOCOL.md section 5 and 9).
inline constexpr Duration kHandshakeResendOffsets[] = {seconds(1), seconds(3), seconds(7),
                                                       seconds(15)};
inline constexpr Duration kHandshakeTimeout = seconds(30);
// Open channels per exchange, both directions together: a peer that opens more gets its
// new channels dropped (counted), so one authenticated peer cannot grow our memory unbounded.
inline constexpr std::size_t kMaxChannelsPerExchange = 1024;
// How much longer than its keepalive interval a side waits when its last send only answered
// the peer's handshake (at most a tenth of the interval): see Exchange::keepalive_due.
inline constexpr Duration kKeepaliveAnswererGrace = seconds(1);
// A stored reply to a resent handshake goes out at most this often.
inline constexpr Duration kReplyResendGap = seconds(1);
// PROTOCOL.md section 10 rules 2 and 5: a handshake sent because of a stale handshake with an
// unknown KEY, or to an address a channel packet came from, at most this often per exchange.
inline constexpr Duration kProbeGap = seconds(1);
// Rule 6: after sending, this long with nothing authenticated from the peer starts a
// handshake (which then times out after kHandshakeTimeout if the peer is gone).
inline constexpr Duration kSilenceAfterSending = seconds(10);
// Remote KEYs (tokens) an exchange remembers having moved away from, never to adopt again
// (PROTOCOL.md 10.3).
inline constexpr std::size_t kRetiredTokensPerExchange = 8;
// Out-of-order reliable packets one exchange may hold for all its channels together: one
// channel's whole window at its largest (kReliableMaxWindow packets of 1400 bytes, plus what
// holding each costs: about 18.3 MB) with room to spare. The endpoint's total still bounds
// what many exchanges hold together (kDefaultReorderLimit).
inline constexpr std::size_t kMaxReorderBytesPerExchange = 24 * 1024 * 1024;

class Exchange {
 public:
  // `remembered` carries sent_max/recv_max over from the peer's previous exchange, so a new
  // exchange neither reuses a SEQ nor answers a replay of an old handshake. An exchange that
  // is not in sync and has no handshake in flight times out kHandshakeTimeout after `now`
  // (one created only to seal a message never lingers without a deadline).
  Exchange(Endpoint& endpoint, const Hashname& peer, const PublicKey& peer_static,
           const SharedKey& s_static, Parity own_parity, Duration keepalive,
           const HandshakeSeqState& remembered, Instant now);

  // ---- what the endpoint asks ----
  const Token& local_token() const { return local_token_; }
  const std::optional<PublicKey>& remote_ephemeral() const { return remote_ephemeral_; }
  const std::optional<Token>& remote_token() const { return remote_token_; }
  // K_box for messages sealed with the peer's current ephemeral: the validation cache.
  const SharedKey* cached_k_box_in(const PublicKey& key) const;
  bool in_sync() const { return in_sync_; }
  bool handshake_outstanding() const { return outstanding_.has_value(); }
  std::optional<Instant> handshake_outstanding_since() const {
    return outstanding_ ? std::optional<Instant>(outstanding_->first_sent) : std::nullopt;
  }
  const HandshakeSeqState& seq_state() const { return seq_; }
  PathId path() const { return path_; }
  std::vector<PathId> paths() const { return {paths_.begin(), paths_.end()}; }
  std::optional<Instant> last_sync_time() const { return last_sync_time_; }
  std::size_t channel_count() const { return channels_.size(); }  // lingering ones included
  std::size_t active_channel_count() const;
  std::size_t pending_count() const { return pending_.size(); }
  const Channel* channel(std::uint32_t id) const;
  // The congestion and pacing state of the current path; null before any reliable channel.
  const PathControl* path_control() const { return path_control_.get(); }
  struct Traffic {
    std::uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
  };
  const Traffic& traffic() const { return traffic_; }
  void set_keepalive(Duration keepalive) { keepalive_ = keepalive; }

  // ---- inputs (already authenticated) ----
  // A handshake from the peer: KEY is its ephemeral; k_box_in the key that opened it.
  // Returns false when it was dropped (stale, invalid, too far ahead).
  bool on_handshake(Instant now, PathId from, std::uint32_t seq, const PublicKey& key,
                    const SharedKey& k_box_in, std::size_t wire_size);
  // A channel packet routed here by token. Decrypts, rejects replays, dispatches. Returns
  // false when it was dropped (replayed, or it did not decrypt).
  bool on_channel_packet(Instant now, PathId from, const ChannelParts& parts,
                         std::size_t wire_size);
  // An authenticated application message from the peer, sealed with `key` under `seq`. A
  // message newer than anything seen from the current KEY proves the peer alive (rule 6).
  void on_message_received(Instant now, std::uint32_t seq, const PublicKey& key,
                           std::size_t wire_size);

  // ---- commands ----
  Result<Sent, EndpointError> start_handshake(Instant now, PathId path);
  // Endpoint::punch.
  Result<Sent, EndpointError> punch(Instant now, const std::vector<PathId>& paths);
  // connect(): send the outstanding handshake to `path`, or start a new one.
  Result<Sent, EndpointError> connect(Instant now, PathId path);
  Result<std::uint32_t, EndpointError> open_channel(Instant now, std::string type, bool reliable,
                                                    boost::json::object extra, Bytes body,
                                                    ChannelOptions options = {});
  Result<Sent, EndpointError> set_channel_options(Instant now, std::uint32_t id,
                                                  ChannelOptions options);
  Result<Sent, EndpointError> channel_consumed(Instant now, std::uint32_t id, std::size_t packets);
  Result<Sent, EndpointError> send_channel(Instant now, std::uint32_t id, boost::json::object extra,
                                           Bytes body, bool end);
  Result<Sent, EndpointError> close_channel(Instant now, std::uint32_t id,
                                            const std::string& reason);
  Result<Bytes, EndpointError> seal_application_message(Instant now, ByteView inner);
  // Sends an application message (or anything else that expects the peer to answer in
  // time): counts toward rule 6's silence timer.
  void send_to(Instant now, PathId path, Bytes packet) {
    send_to(now, path, std::move(packet), SendKind::kData);
  }

  // ---- timers ----
  std::optional<Instant> next_deadline() const;
  std::optional<Instant> keepalive_due() const;
  enum class TimeoutResult { kAlive, kTimedOut };
  TimeoutResult on_timeout(Instant now);

  std::optional<Duration> handshake_rtt() const { return handshake_rtt_; }

  // Errors every channel with `reason` (events emitted), drops pending packets.
  void abort_channels(const std::string& reason);

 private:
  struct OutstandingHandshake {
    std::uint32_t seq = 0;
    Bytes outer;
    PathId path = kNoPath;
    Instant first_sent{};
    std::size_t resends_done = 0;
  };
  struct PendingPacket {
    std::uint32_t channel = 0;
    Bytes inner;
  };

  Bytes seal_handshake(std::uint32_t seq);
  void adopt_remote_ephemeral(const PublicKey& key, const SharedKey& k_box_in);
  void reset_session();
  void became_in_sync(Instant now, std::uint32_t seq, PathId from);
  void move_path(Instant now, PathId from);
  void flush_pending(Instant now);
  void resend_reply_or_ours(Instant now, PathId to);
  // Moves what a channel produced (packets, events) out, and forgets it when finished.
  void drain_channel(Instant now, Channel& channel);
  void drain_all_channels(Instant now);
  void send_channel_inner(Instant now, std::uint32_t id, Bytes inner);
  // The path's congestion control, made on the first reliable channel.
  PathControl& ensure_path_control();
  // The scheduler: lets reliable channels send, one packet each in turn, while the path's
  // congestion window and pacing allow; when pacing holds the next one, pacing_at_ says when.
  void pump(Instant now);
  Channel* next_sender();
  void dispatch_inner(Instant now, const boost::json::object& json, ByteView body);
  bool acceptable_incoming_id(std::uint32_t id) const;
  Result<Sent, EndpointError> map_send_error(ChannelSendError error) const;
  // What a packet we send is, for the liveness timers: data expects the peer to answer
  // (rule 6); a handshake we originate is tracked as outstanding; a reply answers the peer's.
  enum class SendKind { kData, kHandshake, kReply };
  void send_to(Instant now, PathId path, Bytes packet, SendKind kind);
  // Starts a new handshake (a new SEQ) whose resends go to `path`; also sent to `also_to`.
  Result<Sent, EndpointError> begin_handshake(Instant now, PathId path, PathId also_to);
  // Rule 2: a stale, authenticated handshake with a KEY that is not the current one.
  void on_stale_unknown_key(Instant now);
  // Rule 5: a fresh handshake from `to` moves the path there; anything else only asks.
  void probe_path(Instant now, PathId to);
  // Something authenticated, fresh and not replayed came from the peer: it is alive.
  void note_alive() { awaiting_answer_since_.reset(); }
  std::optional<Instant> silence_due() const;
  bool is_current_key(const PublicKey& key) const {
    return remote_ephemeral_ && *remote_ephemeral_ == key;
  }

  Endpoint& endpoint_;
  Hashname peer_;
  SharedKey s_static_;
  Duration keepalive_;

  KeyPair ephemeral_;
  Token local_token_{};
  SharedKey k_box_out_;  // crypto_box_beforenm(peer static, our ephemeral secret)

  std::optional<PublicKey> remote_ephemeral_;
  std::optional<Token> remote_token_;
  SharedKey k_box_in_;  // crypto_box_beforenm(remote ephemeral, our static secret)
  std::optional<ChannelKeys> channel_keys_;
  // Rule 3: tokens of remote KEYs this exchange moved away from, newest last. Empty (no
  // allocation) unless the peer changed its KEY during the exchange.
  std::vector<Token> retired_tokens_;

  HandshakeSeqState seq_;
  bool in_sync_ = false;
  bool session_reset_pending_ = false;
  std::optional<Instant> last_sync_time_;
  // Round trip of the last handshake confirmed without a resend (Karn's rule: a resent
  // handshake's confirmation cannot be matched to one send).
  std::optional<Duration> handshake_rtt_;
  std::optional<OutstandingHandshake> outstanding_;
  std::optional<std::uint32_t> reply_seq_;  // the SEQ of our last reply (resent on request)
  std::optional<Instant> last_reply_resend_;
  std::optional<Instant> last_probe_;  // rules 2 and 5, at most one per kProbeGap
  // Rule 6: when we first sent something the peer should answer since it last proved alive.
  std::optional<Instant> awaiting_answer_since_;
  // Set while the exchange has never been in sync and has no handshake in flight: it times
  // out then, as an unconfirmed handshake would.
  std::optional<Instant> unstarted_deadline_;
  // The highest remote-parity SEQ seen under the current KEY (handshakes and messages), so a
  // replayed message never counts as a sign of life.
  std::uint32_t remote_seq_seen_ = 0;

  PathId path_ = kNoPath;
  // Inline room for two paths (one per transport is usual) saves a heap block per exchange.
  boost::container::small_vector<PathId, 2> paths_;
  std::optional<Instant> last_sent_;  // on the current path, for keepalive
  bool last_send_was_reply_ = false;  // ... and it was only an answer to the peer's handshake

  std::map<std::uint32_t, Channel> channels_;
  std::unique_ptr<PathControl> path_control_;
  std::optional<Instant> pacing_at_;  // the paced scheduler's next release
  std::uint32_t last_sender_ = 0;     // round robin: the channel that sent last
  std::uint32_t next_channel_id_;
  std::uint32_t highest_incoming_id_ = 0;
  std::set<std::uint32_t> recent_incoming_ids_;
  // A vector, not a deque: it is only ever appended to and taken whole, and an empty vector
  // allocates nothing (an empty libstdc++ deque takes ~700 bytes per exchange).
  std::vector<PendingPacket> pending_;
  ReplayWindow replay_;
  ReorderBudget reorder_budget_;
  Traffic traffic_;
};

}  // namespace e3x
