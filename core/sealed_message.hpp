// Application messages (PROTOCOL.md section 8) outside an Endpoint: sealed with a fresh
// ephemeral key and opened with our static key and the sender's, with no exchange and no
// network. This is what `e3xctl seal` / `e3xctl open` and `e3xctl inbox import` use to carry
// a message by any other means (a file on removable media, mail) and still authenticate it.
//
// The bytes are exactly an OUTER message packet (section 4), so a sealed file is also what
// the wire carries, and an Endpoint receiving it as a datagram would accept it too.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/cs3a.hpp"
#include "core/hashname.hpp"
#include "core/random.hpp"
#include "core/result.hpp"

namespace e3x {

struct ApplicationMessage {
  Hashname from;  // authenticated: AUTH verified with this hashname's key
  std::uint32_t seq = 0;
  std::string type;
  std::string id;
  boost::json::object head;  // the whole INNER head, type/from/id included
  Bytes body;
};

enum class OpenMessageError {
  kMalformed,       // not an OUTER message packet (too short, wrong CSID)
  kNotForUs,        // BOX does not open with our key: sealed for someone else, or altered
  kNotApplication,  // opens, but INNER is a handshake or lacks string type/from/id
  kUnknownSender,   // `from` names nobody whose key we know
  kBadAuth,         // AUTH does not verify with the sender's key: altered or forged
};
const char* to_string(OpenMessageError error);

// The sender's static 3a key for a hashname, or nullopt when we do not know it. It must be the
// key that hashname belongs to (a peer's configured key): AUTH is only as good as this lookup.
using SenderKeyLookup = std::function<std::optional<PublicKey>(const Hashname&)>;

// Opens and authenticates `outer` for `identity`. AUTH is checked (in constant time) before
// anything is returned; a failure says which step failed and nothing else.
Result<ApplicationMessage, OpenMessageError> open_application_message(
    const KeyPair& identity, ByteView outer, const SenderKeyLookup& sender_key);

// Seals {"type","from","id",...extra} + body for `recipient` under a fresh ephemeral key
// (drawn from `random` and zeroed when done). `seq` should follow the sender's SEQ rules when
// the sender also runs a daemon; a recipient does not order application messages by it.
// Keys named type/from/id in `extra` are replaced by the arguments.
Bytes seal_application_message(const KeyPair& identity, const PublicKey& recipient,
                               std::uint32_t seq, std::string_view type, std::string_view id,
                               const boost::json::object& extra, ByteView body, Random& random);

// The size of the OUTER packet that seal_application_message (or Endpoint::send_message)
// makes for an INNER head of `head_bytes` JSON bytes and a body of `body_bytes`.
constexpr std::size_t application_message_size(std::size_t head_bytes, std::size_t body_bytes) {
  // LOB length(2) + CSID(1) + SEQ(4) + KEY(32) + secretbox(INNER) tag(16) + AUTH(16),
  // INNER = length(2) + head + body.
  return 2 + 1 + 4 + 32 + 16 + 16 + 2 + head_bytes + body_bytes;
}

}  // namespace e3x
