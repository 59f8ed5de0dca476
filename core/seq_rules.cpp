#include "core/seq_rules.hpp"

#include <algorithm>

namespace e3x {

const char* to_string(HandshakeAction action) {
  switch (action) {
    case HandshakeAction::kAcceptAndReply:
      return "accept-and-reply";
    case HandshakeAction::kAcceptAndResendOurs:
      return "accept-and-resend-ours";
    case HandshakeAction::kResendReply:
      return "resend-reply";
    case HandshakeAction::kConfirmed:
      return "confirmed";
    case HandshakeAction::kDropStale:
      return "drop-stale";
    case HandshakeAction::kDropInvalid:
      return "drop-invalid";
    case HandshakeAction::kDropTooFar:
      return "drop-too-far";
  }
  return "?";
}

bool remote_seq_in_bounds(const HandshakeSeqState& state, std::uint32_t seq,
                          std::int64_t unix_now) {
  const std::int64_t reference = std::max<std::int64_t>(
      {unix_now, std::int64_t{state.recv_max}, std::int64_t{state.sent_max}});
  return std::int64_t{seq} <= reference + kMaxRemoteSeqAhead;
}

HandshakeAction classify_handshake(const HandshakeSeqState& state, std::uint32_t seq,
                                   std::int64_t unix_now) {
  if (has_parity(seq, other(state.own))) {
    if (!remote_seq_in_bounds(state, seq, unix_now)) return HandshakeAction::kDropTooFar;
    // Rule 1: a live peer's new SEQ is above every SEQ it has received, including the one
    // it confirmed last, so nothing at or below last_sync can be new.
    if (seq > state.recv_max && seq > state.last_sync) {
      const bool crossing = state.outstanding && *state.outstanding > seq;
      return crossing ? HandshakeAction::kAcceptAndResendOurs : HandshakeAction::kAcceptAndReply;
    }
    if (seq == state.recv_max && seq != 0) return HandshakeAction::kResendReply;
    return HandshakeAction::kDropStale;
  }
  const bool we_sent_it = std::find(state.sent_handshakes.begin(), state.sent_handshakes.end(),
                                    seq) != state.sent_handshakes.end();
  if (we_sent_it && seq >= state.last_sync) return HandshakeAction::kConfirmed;
  return HandshakeAction::kDropInvalid;
}

std::optional<std::uint32_t> choose_new_seq(const HandshakeSeqState& state, std::uint32_t floor,
                                            std::int64_t unix_now) {
  // Work in 64 bits so "greater than 0xffffffff" is representable, then check the range.
  std::int64_t candidate =
      std::max<std::int64_t>({std::int64_t{state.sent_max} + 1, std::int64_t{state.recv_max} + 1,
                              std::int64_t{floor} + 1, unix_now, 1});
  if (!has_parity(static_cast<std::uint32_t>(candidate & 1), state.own)) ++candidate;
  if (candidate > std::int64_t{0xffffffff}) return std::nullopt;
  return static_cast<std::uint32_t>(candidate);
}

}  // namespace e3x
