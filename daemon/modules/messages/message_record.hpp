// One stored message on disk (docs/messages.md, "Storage"): a JSON object of metadata and the
// payload bytes, framed and closed by a SHA-256 checksum so that a damaged file is detected
// instead of being delivered.
//
//   "E3XMSG1\n"                 8 bytes: magic and format version
//   u32 big-endian + bytes     the metadata, a JSON object (UTF-8)
//   u32 big-endian + bytes     the payload
//   32 bytes                   SHA-256 of everything above
//
// Files are only ever written whole through write_file_atomically, so a crash leaves either
// the old file, the new one, or a temporary that the store deletes at startup; the checksum
// covers what the file system itself might still get wrong.
#pragma once

#include <string>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace e3x::daemon {

struct MessageRecord {
  boost::json::object meta;
  Bytes body;
};

inline constexpr std::string_view kRecordMagic = "E3XMSG1\n";

Bytes encode_record(const MessageRecord& record);
// What is wrong with the file, in words, when it is not a whole record.
Result<MessageRecord, std::string> decode_record(ByteView file);

}  // namespace e3x::daemon
