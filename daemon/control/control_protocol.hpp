// The control socket's wire format (docs/control-protocol.md): one JSON object per line each
// way. Requests are {"cmd":"<name>", ...arguments}; replies are {"ok":true,"result":...} or
// {"ok":false,"error":{"code":..,"message":..}}; a watching connection also receives event
// objects {"event":"<name>",...}. Everything here is pure: strings in, strings out, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/result.hpp"

namespace e3x::control {

// A request line (without its newline) longer than this is refused with kLineTooLong. It
// holds the largest message `send` accepts ([messages] max_payload at most 65000 bytes, about
// 87 KB in base64) with room to spare.
inline constexpr std::size_t kMaxLineBytes = 128 * 1024;

// Error codes (docs/control-protocol.md). Clients treat a code they do not know as kInternal.
namespace code {
inline constexpr const char* kBadJson = "bad_json";                // the line is not JSON
inline constexpr const char* kBadRequest = "bad_request";          // not an object / no "cmd"
inline constexpr const char* kLineTooLong = "line_too_long";       // over kMaxLineBytes
inline constexpr const char* kUnknownCommand = "unknown_command";  // "cmd" names no command
inline constexpr const char* kBadArgument = "bad_argument";        // missing/invalid argument
inline constexpr const char* kUnknownPeer = "unknown_peer";        // no peer by that name
inline constexpr const char* kNotUp = "not_up";                    // the peer is not connected
inline constexpr const char* kBusy = "busy";                       // too many control sessions
inline constexpr const char* kInternal = "internal";               // the daemon failed
}  // namespace code

struct Request {
  std::string cmd;           // the "cmd" member
  boost::json::object args;  // the whole request object ("cmd" included)
};

struct ControlError {
  std::string code;     // one of code::k*
  std::string message;  // a sentence for humans
};

// Parses one request line. A trailing '\r' (and '\n') is ignored. Errors: kLineTooLong (over
// kMaxLineBytes), kBadJson (empty, not JSON, invalid UTF-8, nested deeper than 32),
// kBadRequest (not an object, or "cmd" missing, not a string, or empty). Never throws.
Result<Request, ControlError> parse_request(std::string_view line);

// {"ok":true,"result":<result>}\n
std::string ok_line(const boost::json::value& result);
// {"ok":false,"error":{"code":<code>,"message":<message>}}\n
std::string error_line(const ControlError& error);
// <event>\n (the object as it is; by convention it has "event" and "time" members)
std::string event_line(const boost::json::object& event);

}  // namespace e3x::control
