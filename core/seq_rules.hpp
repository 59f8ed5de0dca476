// The SEQ decision table of PROTOCOL.md section 5 with the revision 2 rules of section 10
// (rule 1: stale means at or below the last sync; rule 4: a remote SEQ far ahead of
// everything is invalid), as pure functions.
//
// An exchange keeps a HandshakeSeqState; every authenticated incoming handshake is first
// classified here, and the exchange then carries out the action (see exchange.cpp).
#pragma once

#include <cstdint>
#include <optional>

#include <boost/container/small_vector.hpp>
#include <vector>

namespace e3x {

// Which SEQ values a side originates: HIGH odd, LOW even (PROTOCOL.md section 2).
enum class Parity { kOdd, kEven };
inline bool has_parity(std::uint32_t seq, Parity parity) {
  return (seq & 1u) == (parity == Parity::kOdd ? 1u : 0u);
}
inline Parity other(Parity parity) {
  return parity == Parity::kOdd ? Parity::kEven : Parity::kOdd;
}

struct HandshakeSeqState {
  Parity own = Parity::kOdd;
  std::uint32_t sent_max = 0;   // highest own-parity SEQ sealed (handshakes and messages)
  std::uint32_t recv_max = 0;   // highest remote-parity handshake SEQ accepted
  std::uint32_t last_sync = 0;  // the SEQ the exchange was last in sync at (0: never)
  std::optional<std::uint32_t> outstanding;  // our newest handshake, while unconfirmed
  // Own-parity handshake SEQs sent since the last sync: the ones a peer may confirm.
  // Inline room for a few: usually one or two are outstanding, and a heap block per exchange
  // would cost more than the SEQs.
  boost::container::small_vector<std::uint32_t, 4> sent_handshakes;
};

// PROTOCOL.md section 10 rule 4: a remote SEQ more than this above
// max(our Unix time, recv_max, sent_max) is invalid, so one handshake can move what we choose
// toward a peer by at most a day.
inline constexpr std::int64_t kMaxRemoteSeqAhead = 86400;

enum class HandshakeAction {
  kAcceptAndReply,       // remote parity, s > recv_max and s > last_sync: adopt KEY, reply
                         // with s, in sync at s
  kAcceptAndResendOurs,  // the same, but crossing our higher unconfirmed handshake: adopt KEY,
                         // recv_max = s, resend ours; in sync once the peer confirms it
  kResendReply,          // remote parity, s == recv_max: resend the stored reply (rate-limited)
  kConfirmed,            // own parity, a SEQ we sent, >= last sync: in sync at s
  kDropStale,            // remote parity, s < recv_max or s <= last_sync: stale or replayed
  kDropInvalid,          // own parity, anything else
  kDropTooFar,           // remote parity, more than kMaxRemoteSeqAhead above everything
};
const char* to_string(HandshakeAction action);

// `unix_now` is our wall clock in seconds (for the rule 4 bound).
HandshakeAction classify_handshake(const HandshakeSeqState& state, std::uint32_t seq,
                                   std::int64_t unix_now);

// Rule 4 alone: is a remote-parity SEQ (of a handshake or an application message) within
// kMaxRemoteSeqAhead of max(unix_now, recv_max, sent_max)?
bool remote_seq_in_bounds(const HandshakeSeqState& state, std::uint32_t seq, std::int64_t unix_now);

// The smallest SEQ with `own` parity that is > sent_max, > recv_max, > floor (the persisted
// high-water mark) and >= unix_now. nullopt if none fits in 32 bits.
std::optional<std::uint32_t> choose_new_seq(const HandshakeSeqState& state, std::uint32_t floor,
                                            std::int64_t unix_now);

}  // namespace e3x
