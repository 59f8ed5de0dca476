// Peer-supplied text (message types and ids, channel types, service names, reported paths)
// is escaped wherever it is logged or printed (PROTOCOL.md section 10 rule 10): a peer must
// not be able to forge log lines, move a terminal's cursor or hide text from the operator.
#pragma once

#include <string>
#include <string_view>

namespace e3x::daemon {

// Control characters (below 0x20, and 0x7f) become \xNN, and a backslash becomes \\, so the
// result is one printable line and reads back unambiguously. Other bytes, UTF-8 included, are
// kept; bytes that are not valid UTF-8 are written as \xNN too. Longer than `limit` bytes of
// input, the rest is cut and "..." appended.
std::string escape_text(std::string_view text, std::size_t limit = 256);

}  // namespace e3x::daemon
