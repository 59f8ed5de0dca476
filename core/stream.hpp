// Streams and services (PROTOCOL.md section 11, telehash-v3 stream.md): what travels on the
// wire, as pure functions. A stream is a reliable channel of type "stream" whose open packet's
// BODY is an attached packet (section 1) with the options JSON {"service":"<name>"} as HEAD;
// every later packet's BODY is stream bytes; "end" half-closes; "err" aborts both directions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace e3x {

inline constexpr const char* kStreamChannelType = "stream";
inline constexpr std::size_t kMaxServiceNameLength = 64;

// The one answer to a stream for an unknown service and for a service the sender may not use,
// so a peer cannot probe which services exist.
inline constexpr const char* kStreamUnavailable = "unavailable";
// The service could not be reached on its own machine (refused, or nothing listens there).
inline constexpr const char* kStreamRefused = "refused";
// A local connection was reset, or the stream was aborted.
inline constexpr const char* kStreamReset = "reset";
// The receiver holds as many streams of the sender as it allows.
inline constexpr const char* kStreamBusy = "busy";

// 1 to 64 characters of [a-z0-9._-].
bool is_service_name(std::string_view name);

// The open packet's BODY for `service`.
Bytes stream_open_body(std::string_view service);
// The service an open packet's BODY names; nullopt when it is not an attached packet with a
// JSON head holding a valid "service" string.
std::optional<std::string> parse_stream_open(ByteView body);

}  // namespace e3x
