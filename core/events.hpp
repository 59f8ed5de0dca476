// What an Endpoint reports through poll_event(), and what it sends through poll_transmit().
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/cs3a.hpp"
#include "core/hashname.hpp"

namespace e3x {

// Opaque to the core: the driver maps its addresses (udp4/udp6/tcp...) to these ids and back.
// 0 means "no path".
using PathId = std::uint64_t;
inline constexpr PathId kNoPath = 0;

struct Transmit {
  PathId path = kNoPath;
  Bytes packet;  // one LOB packet, not cloaked (cloaking happens at the transport edge)
};

enum class DownReason {
  kTimeout,  // a handshake went unconfirmed for 30 s
  kRemoved,  // remove_peer()
};
const char* to_string(DownReason reason);

namespace event {

// The exchange with `peer` became in sync: first time, or again after a session reset
// (new_session: the peer has a new ephemeral key; channels were errored).
struct ExchangeUp {
  Hashname peer;
  PathId path = kNoPath;
  Token remote_token{};
  std::uint32_t seq = 0;
  bool new_session = false;
};
// The exchange is gone; its channels were errored (ChannelErrored events precede this).
struct ExchangeDown {
  Hashname peer;
  DownReason reason = DownReason::kTimeout;
};
// An authenticated packet arrived from a new path, which is now the peer's current path.
struct PathChanged {
  Hashname peer;
  PathId path = kNoPath;
};
// The peer opened a channel; its open packet is included (it is not repeated as ChannelData).
struct ChannelOpened {
  Hashname peer;
  std::uint32_t channel = 0;
  std::string type;
  bool reliable = false;
  boost::json::object json;
  Bytes body;
  bool end = false;
};
struct ChannelData {
  Hashname peer;
  std::uint32_t channel = 0;
  boost::json::object json;
  Bytes body;
  bool end = false;
};
// Both sides ended the channel cleanly.
struct ChannelEnded {
  Hashname peer;
  std::uint32_t channel = 0;
};
struct ChannelErrored {
  Hashname peer;
  std::uint32_t channel = 0;
  std::string reason;  // "timeout", "reset", the peer's err text, ...
};
// No SEQ is left in 32 bits for anything we originate toward `peer` (PROTOCOL.md section 10
// rule 4): nothing more can be sent to it. Reported once per peer.
struct SeqExhausted {
  Hashname peer;
};
// An application message (PROTOCOL.md section 8) that authenticated.
struct MessageReceived {
  Hashname from;
  PathId path = kNoPath;
  std::uint32_t seq = 0;
  std::string type;
  std::string id;
  boost::json::object json;
  Bytes body;
};

}  // namespace event

using Event = std::variant<event::ExchangeUp, event::ExchangeDown, event::PathChanged,
                           event::ChannelOpened, event::ChannelData, event::ChannelEnded,
                           event::ChannelErrored, event::MessageReceived, event::SeqExhausted>;

}  // namespace e3x
