// LOB packet codec (PROTOCOL.md section 1): LENGTH(2, BE) || HEAD || BODY.
#pragma once

#include <optional>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace e3x {

enum class LobError {
  kShort,   // fewer than 2 bytes
  kLength,  // LENGTH greater than the bytes that follow it
  kJson,    // LENGTH >= 7 and HEAD is not a JSON object
};
const char* to_string(LobError error);

// A decoded packet. `head` and `body` point into the buffer given to lob_decode, so the
// buffer must outlive the view.
struct LobView {
  ByteView head;                            // empty when LENGTH is 0
  std::optional<boost::json::object> json;  // set when LENGTH >= 7
  ByteView body;
};

// Never reads past `packet`. HEAD of 1..6 bytes is binary; 7 or more must be a UTF-8 JSON
// object starting with '{'.
Result<LobView, LobError> lob_decode(ByteView packet);

// HEAD must be at most 65535 bytes (throws std::length_error otherwise).
Bytes lob_encode(ByteView head, ByteView body);
// JSON is written without insignificant whitespace, keys in the object's order.
Bytes lob_encode(const boost::json::object& json, ByteView body);

}  // namespace e3x
