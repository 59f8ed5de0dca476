#include "daemon/modules/mailbox/packet_pieces.hpp"

#include <algorithm>

#include "core/channel.hpp"
#include "core/lob.hpp"

namespace e3x::daemon {

std::size_t open_body_room(std::string_view type, const boost::json::object& extra) {
  // As Exchange::open_channel checks it: c at its longest, type, seq 1, the extra keys.
  boost::json::object probe = extra;
  probe["c"] = 0xffffffffu;
  probe["type"] = type;
  probe["seq"] = 1;
  const std::size_t head = lob_encode(probe, {}).size();
  return head >= kMaxChannelInner ? 0 : kMaxChannelInner - head;
}

std::vector<ByteView> cut_into_pieces(ByteView packet, std::size_t first_room, std::size_t room) {
  std::vector<ByteView> pieces;
  std::size_t at = std::min(first_room, packet.size());
  pieces.push_back(packet.first(at));
  while (at < packet.size() && room > 0) {
    const std::size_t size = std::min(room, packet.size() - at);
    pieces.push_back(packet.subspan(at, size));
    at += size;
  }
  return pieces;
}

PieceAssembler::Step PieceAssembler::add(ByteView body, bool more) {
  if (buffer_.size() + body.size() > kMaxPiecedPacket) {
    buffer_.clear();
    buffer_.shrink_to_fit();
    return Step::kTooLarge;
  }
  buffer_.insert(buffer_.end(), body.begin(), body.end());
  return more ? Step::kMore : Step::kComplete;
}

Bytes PieceAssembler::take() {
  Bytes out = std::move(buffer_);
  buffer_.clear();
  return out;
}

bool has_more(const boost::json::object& head) {
  const boost::json::value* more = head.if_contains("more");
  return more && more->is_bool() && more->get_bool();
}

}  // namespace e3x::daemon
