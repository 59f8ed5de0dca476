// Hex and base64 for JSON on the control socket, through libsodium's constant-time codecs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace e3x::daemon {

std::string to_hex(ByteView bytes);
std::string to_base64(ByteView bytes);
// nullopt when `text` is not standard (RFC 4648, padded) base64.
std::optional<Bytes> from_base64(std::string_view text);

}  // namespace e3x::daemon
