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

std::size_t pieces_for_quota(std::size_t bytes, std::size_t quota) {
  if (bytes <= quota) return 1;
  const std::size_t room = quota - kMoreKeyBytes;
  return 1 + (bytes - quota + room - 1) / room;
}

std::vector<ByteView> cut_to_quota(ByteView bytes, std::size_t quota) {
  std::vector<ByteView> pieces;
  const std::size_t room = quota - kMoreKeyBytes;
  std::size_t at = 0;
  while (bytes.size() - at > quota) {
    pieces.push_back(bytes.subspan(at, room));
    at += room;
  }
  pieces.push_back(bytes.subspan(at));
  return pieces;
}

PieceAssembler::Step PieceAssembler::add(ByteView body, bool more) {
  if (discarding_) {
    discarding_ = more;
    return Step::kDiscarded;
  }
  if (buffer_.size() + body.size() > kMaxPiecedPacket) {
    buffer_.clear();
    buffer_.shrink_to_fit();
    discarding_ = more;
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
