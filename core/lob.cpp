#include "core/lob.hpp"

#include <stdexcept>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/json_fields.hpp"

namespace e3x {

namespace {

constexpr std::size_t kLengthBytes = 2;
constexpr std::size_t kMinJsonHead = 7;
constexpr std::size_t kMaxHead = 0xffff;

}  // namespace

const char* to_string(LobError error) {
  switch (error) {
    case LobError::kShort:
      return "short";
    case LobError::kLength:
      return "length";
    case LobError::kJson:
      return "json";
  }
  return "unknown";
}

Result<LobView, LobError> lob_decode(ByteView packet) {
  if (packet.size() < kLengthBytes) return unexpected(LobError::kShort);
  const std::size_t head_length = (std::size_t{packet[0]} << 8) | packet[1];
  const ByteView after_length = packet.subspan(kLengthBytes);
  if (head_length > after_length.size()) return unexpected(LobError::kLength);

  LobView view;
  view.head = after_length.first(head_length);
  view.body = after_length.subspan(head_length);
  if (head_length >= kMinJsonHead) {
    // Checking '{' first rejects bare values (arrays, strings, numbers) cheaply; the
    // is_object check below still guards against anything the parser accepts after it.
    if (view.head[0] != '{') return unexpected(LobError::kJson);
    const std::string_view text(reinterpret_cast<const char*>(view.head.data()), view.head.size());
    boost::system::error_code error;
    boost::json::value parsed = boost::json::parse(text, error);
    if (error || !parsed.is_object() || !json_all_finite(parsed)) {
      return unexpected(LobError::kJson);
    }
    view.json = std::move(parsed.as_object());
  }
  return view;
}

Bytes lob_encode(ByteView head, ByteView body) {
  if (head.size() > kMaxHead) throw std::length_error("LOB HEAD longer than 65535 bytes");
  Bytes packet;
  packet.reserve(kLengthBytes + head.size() + body.size());
  packet.push_back(static_cast<std::uint8_t>(head.size() >> 8));
  packet.push_back(static_cast<std::uint8_t>(head.size()));
  append(packet, head);
  append(packet, body);
  return packet;
}

Bytes lob_encode(const boost::json::object& json, ByteView body) {
  const std::string text = boost::json::serialize(json);
  return lob_encode(as_bytes(text), body);
}

}  // namespace e3x
