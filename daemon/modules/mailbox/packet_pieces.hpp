// A sealed message packet carried over a reliable channel ("deposit", "mail"; PROTOCOL.md 14)
// in one channel packet when it fits, else in consecutive ones.
//
// PROTOCOL.md 14 puts the whole OUTER packet in the BODY of one channel packet, but a channel
// packet's INNER is at most 1400 bytes (section 6) while a message may be as large as a UDP
// datagram (1472) or, over TCP, 64 KiB. A packet that does not fit is therefore split: every
// piece but the last carries "more":true, and the receiver puts the BODYs back together in
// seq order (a reliable channel delivers in order). A packet that fits travels exactly as
// section 14 shows. The receiver bounds what it assembles by kMaxPiecedPacket.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"

namespace e3x::daemon {

// The largest packet assembled from pieces: a TCP frame's 64 KiB and some.
inline constexpr std::size_t kMaxPiecedPacket = 65536 + 1024;

// What `"more":true` adds to a packet's head (`,"more":true`).
inline constexpr std::size_t kMoreKeyBytes = 12;

// BODY bytes an opening packet of `type` with `extra` keys can carry (reliable: seq 1).
std::size_t open_body_room(std::string_view type, const boost::json::object& extra);

// A held packet (or what follows a deposit's open) sent on a channel whose quota
// (Endpoint::channel_quota) is `quota` > kMoreKeyBytes: one channel packet when it fits, else
// pieces of quota - kMoreKeyBytes carrying "more":true and a last one of at most `quota`.
// pieces_for_quota counts what cut_to_quota cuts, so a sender can check its send capacity for
// exactly the packets it will send.
std::size_t pieces_for_quota(std::size_t bytes, std::size_t quota);
std::vector<ByteView> cut_to_quota(ByteView bytes, std::size_t quota);

// Puts pieces back together; a packet larger than kMaxPiecedPacket is refused (and what came of
// it forgotten) instead of growing without bound. The pieces of a refused packet that follow
// the refusal, up to and including its last (no "more"), are discarded: they are not the start
// of the next packet, which begins after them.
class PieceAssembler {
 public:
  enum class Step {
    kMore,       // held; more pieces of this packet follow
    kComplete,   // the packet is whole: take() it
    kTooLarge,   // the packet passed kMaxPiecedPacket: refused, what came of it forgotten
    kDiscarded,  // a later piece of a refused packet: dropped (counted once, at kTooLarge)
  };
  Step add(ByteView body, bool more);
  Bytes take();  // the assembled packet after kComplete; the assembler is empty again
  bool empty() const { return buffer_.empty(); }

 private:
  Bytes buffer_;
  bool discarding_ = false;  // between a kTooLarge and the last piece of that packet
};

// Whether a channel packet's head says more pieces follow.
bool has_more(const boost::json::object& head);

}  // namespace e3x::daemon
