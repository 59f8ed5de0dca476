// The SEQ decision table of PROTOCOL.md section 5, as pure functions.
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

enum class HandshakeAction {
  kAcceptAndReply,       // remote parity, s > recv_max: adopt KEY, reply with s, in sync at s
  kAcceptAndResendOurs,  // the same, but crossing our higher unconfirmed handshake: adopt KEY,
                         // recv_max = s, resend ours; in sync once the peer confirms it
  kResendReply,          // remote parity, s == recv_max: resend the stored reply (rate-limited)
  kConfirmed,            // own parity, a SEQ we sent, >= last sync: in sync at s
  kDropStale,            // remote parity, s < recv_max: stale or replayed
  kDropInvalid,          // own parity, anything else
};
const char* to_string(HandshakeAction action);

HandshakeAction classify_handshake(const HandshakeSeqState& state, std::uint32_t seq);

// The smallest SEQ with `own` parity that is > sent_max, > recv_max, > floor (the persisted
// high-water mark) and >= unix_now. nullopt if none fits in 32 bits.
std::optional<std::uint32_t> choose_new_seq(const HandshakeSeqState& state, std::uint32_t floor,
                                            std::int64_t unix_now);

}  // namespace e3x
