#include "daemon/modules/messages/message_record.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/sha256.hpp"

namespace e3x::daemon {

namespace {

constexpr std::size_t kChecksumBytes = 32;

void put_u32(Bytes& out, std::size_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>((value >> shift) & 0xff));
  }
}

// Reads a u32 length and that many bytes from `in` at `at`; nullopt when they are not there.
std::optional<ByteView> take_sized(ByteView in, std::size_t& at) {
  if (in.size() - at < 4) return std::nullopt;
  std::size_t length = 0;
  for (int i = 0; i < 4; ++i) length = (length << 8) | in[at + i];
  at += 4;
  if (in.size() - at < length) return std::nullopt;
  const ByteView out = in.subspan(at, length);
  at += length;
  return out;
}

}  // namespace

Bytes encode_record(const MessageRecord& record) {
  const std::string meta = boost::json::serialize(record.meta);
  Bytes out(kRecordMagic.begin(), kRecordMagic.end());
  out.reserve(kRecordMagic.size() + 8 + meta.size() + record.body.size() + kChecksumBytes);
  put_u32(out, meta.size());
  out.insert(out.end(), meta.begin(), meta.end());
  put_u32(out, record.body.size());
  out.insert(out.end(), record.body.begin(), record.body.end());
  const Digest checksum = sha256(out);
  out.insert(out.end(), checksum.begin(), checksum.end());
  return out;
}

Result<MessageRecord, std::string> decode_record(ByteView file) {
  if (file.size() < kRecordMagic.size() + 8 + kChecksumBytes) {
    return unexpected(std::string("truncated: ") + std::to_string(file.size()) + " bytes");
  }
  if (!std::equal(kRecordMagic.begin(), kRecordMagic.end(), file.begin())) {
    return unexpected(std::string("not a message record (bad magic)"));
  }
  const ByteView content = file.first(file.size() - kChecksumBytes);
  const Digest expected = sha256(content);
  if (!std::equal(expected.begin(), expected.end(), file.end() - kChecksumBytes)) {
    return unexpected(std::string("checksum mismatch"));
  }
  std::size_t at = kRecordMagic.size();
  const auto meta = take_sized(content, at);
  const auto body = meta ? take_sized(content, at) : std::nullopt;
  if (!meta || !body || at != content.size()) {
    return unexpected(std::string("bad framing"));
  }
  boost::system::error_code error;
  boost::json::value parsed = boost::json::parse(
      std::string_view(reinterpret_cast<const char*>(meta->data()), meta->size()), error);
  if (error || !parsed.is_object()) {
    return unexpected(std::string("metadata is not a JSON object"));
  }
  return MessageRecord{std::move(parsed.get_object()), Bytes(body->begin(), body->end())};
}

}  // namespace e3x::daemon
